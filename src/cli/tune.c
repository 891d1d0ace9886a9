/* dkvm tune: argv and output only; the work is dk_vm_tune() (vm/tune.h). */
#include "cli/cli.h"
#include "vm/tune.h"
#include "vm/vm.h"
#include "tune/pin.h"
#include "host/host.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"

#include <stdlib.h>
#include <string.h>

static const struct dk_opt tune_opts[] = {
	{"off", 'o', NULL, "turn the write-up's lever off again", NULL, 0},
	{"cpus", 'c', "N", "fake-cores: the vCPUs to enable; pin --plan: see --vcpus", NULL, 0},
	{"vcpus", 'V', "N", "pin --plan: the guest's vCPUs", NULL, 0},
	{"plan", 'p', NULL, "pin --plan: plan the pins for this host without a VM", NULL, 0},
	{"dry-run", 'n', NULL, "show the diff of domain.xml and qemu.argv (config.plist, the override file), change nothing", NULL, 0},
	{"force", 'f', NULL, "overwrite hand edits of domain.xml/qemu.argv, or change a running VM", NULL, 0},
	{"dir", 'D', "DIR", "parent directory of bundles (default $XDG_DATA_HOME/dkvm)", DK_C_DIR, 0},
	{"apply", 'a', NULL, "hugepages --reserve, pin --isolate, bridge, cpu-governor: write the system files (else their diff only)", NULL, 0},
	{"isolate", 'I', NULL, "pin: isolate the pinned host CPUs (isolcpus, nohz_full, rcu_nocbs on the kernel command line)", NULL, 0},
	{"reserve", 'r', NULL, "hugepages: the host's reservation too (sysctl.d, or kernel command line with --size 1G)", NULL, 0},
	{"size", 'S', "2M|1G", "hugepages: the page size (default 2M)", "2M 1G", 0},
	{"bootloader", 'B', "NAME", "hugepages --size 1G, pin --isolate: auto (default), grub, systemd-boot or kernelstub", "auto grub systemd-boot kernelstub", 0},
	{"device", 'd', "PATH", "evdev: an input device (repeatable; default: the by-id keyboard and mouse)", DK_C_FILE, 0},
	{"toggle", 't', "KEYS", "evdev: the grab toggle (default ctrl-ctrl)", "ctrl-ctrl alt-alt shift-shift meta-meta scrolllock ctrl-scrolllock", 0},
	{"uplink", 'u', "IFACE", "bridge: the Ethernet interface to bridge (default: the default route's)", NULL, 0},
	{"nm", 'N', NULL, "bridge: NetworkManager keyfiles instead of systemd-networkd files", NULL, 0},
	{"from", 'F', "SRC", "memory-map: auto (default: the host's DMI, else the guide's layout), dmi or guide", "auto dmi guide", 0},
	{"edid", 'E', "FILE", "display-override: the display's EDID (128-byte blocks)", DK_C_FILE, 0},
	{"connector", 'C', "NAME", "display-override: the EDID of DRM connector NAME (/sys/class/drm/NAME/edid)", NULL, 0},
	{"root", 0, "DIR", "the tree system files are written under (default /; global option)", DK_C_DIR, DK_OPT_GLOBAL},
	{"json", 0, NULL, "pin --plan: print the plan as JSON", NULL, DK_OPT_GLOBAL},
	{"sysroot", 0, "DIR", "pin --plan: read the host under DIR (global option)", DK_C_DIR, DK_OPT_GLOBAL},
	{0},
};

const struct dk_cmd_spec dk_spec_tune = {
	.head = "usage: dkvm tune NAME WRITE-UP [--off] [--cpus N] [--dry-run] [--force] [--apply] [--dir DIR]\n"
		"       dkvm tune NAME undo [--dry-run] [--force] [--dir DIR]\n"
		"       dkvm tune pin --plan --vcpus N [--sysroot DIR] [--json]\n"
		"\n"
		"Apply one of the guide's write-ups to an existing VM: the plan in its manifest is\n"
		"edited, domain.xml and qemu.argv are rendered again from it (and the libvirt domain\n"
		"is redefined from the new XML when the VM is defined in libvirt). The previous\n"
		"version is kept in <bundle>/.tune/<n>/ and 'undo' restores it byte for byte.\n"
		"A domain.xml or qemu.argv edited by hand since dkvm wrote it is never overwritten\n"
		"(unless --force); a running VM is changed only by write-ups that take effect at its\n"
		"next start (pin). Applying a write-up that is already in place changes nothing.\n"
		"\n"
		"Write-ups:\n"
		"  pin          vCPUs on host cores: SMT siblings stay one guest core, host CPU 0's core\n"
		"               is left to the host (and the emulator), one NUMA node and one L3 domain\n"
		"               when one has room (guest RAM then bound to that node), P-cores only on\n"
		"               hybrid Intel; the IO thread on a leftover core; --isolate: the pinned\n"
		"               CPUs off the host's scheduler, tick and RCU callbacks (isolcpus=,\n"
		"               nohz_full=, rcu_nocbs= on the kernel command line, as hugepages --size 1G)\n"
		"  iothreads    virtio disks on a dedicated IO thread (<iothreads>, -object iothread)\n"
		"  hugepages    guest RAM on hugepages; --reserve: the host reservation too, in\n"
		"               /etc/sysctl.d/60-dkvm-hugepages.conf (2 MiB pages: vm.nr_hugepages), or\n"
		"               with --size 1G on the kernel command line (default_hugepagesz=1G hugepages=N)\n"
		"  fake-cores   --cpus N: N vCPUs enabled out of 8 (16) cores x 2 threads, for counts\n"
		"               macOS rejects (the guide's fake core count)\n"
		"  gpu|usb-controller|audio BDF   pass a host PCI device through\n"
		"  evdev        the host keyboard and mouse (/dev/input/by-id/*-event-kbd, *-event-mouse,\n"
		"               or --device PATH) read by QEMU and grabbed by the guest; both Ctrl keys\n"
		"               (--toggle) switch between host and guest\n"
		"  bridge       the NIC on host bridge br0 (-netdev bridge, <interface type='bridge'>);\n"
		"               system files: systemd-networkd .netdev/.network for br0 and the uplink\n"
		"               (--uplink, default the default route's interface), or NetworkManager\n"
		"               keyfiles (--nm), and 'allow br0' in /etc/qemu/bridge.conf\n"
		"  cpu-governor the performance governor while the VM runs: a script, a systemd unit\n"
		"               dkvm start/stop run, and a libvirt hook for libvirt VMs\n"
		"  memory-map   OpenCore PlatformInfo/Memory + CustomMemory (no \"memory misconfigured\"):\n"
		"               12 slots, DIMM_A1..D1 of guest RAM/4 each, speed, type, maker and part from\n"
		"               the host's DMI type 17 (--from dmi; reading it needs root), or the guide's\n"
		"               DDR4-3600 layout (--from guide; auto: DMI when readable)\n"
		"  restrict-events  RestrictEvents in the EFI, boot-args revpatch=memtab,pci,cpuname revcpu=1\n"
		"               and NVRAM revcpuname = the host CPU's name (--off removes them; MacPro7,1\n"
		"               keeps the kext, the guide's default)\n"
		"  display-override --edid FILE | --connector NAME: the macOS display override for that\n"
		"               display (DisplayIsTV false, HiDPI scale-resolutions, target-default-ppmm),\n"
		"               written to <bundle>/display-overrides/DisplayVendorID-x/DisplayProductID-y;\n"
		"               copy it into the guest's /Library/Displays/Contents/Resources/Overrides/\n"
		"\n"
		"memory-map, restrict-events, gpu, usb-controller and audio rebuild the OpenCore image\n"
		"(as dkvm update, with the bundle's own OpenCore and kext versions; the config is\n"
		"validated first): a GPU's kext and boot-args per the guide's chart, AppleALC, the\n"
		"devices' DeviceProperties. The version kept for undo holds the previous OpenCore.img\n"
		"and config.plist. An image given with --opencore-image is not rebuilt.\n"
		"\n"
		"System files (hugepages --reserve, pin --isolate, bridge, cpu-governor) follow 'dkvm vfio persist':\n"
		"without --apply their diff is shown and nothing is written; --apply writes them under\n"
		"--root (default /) with backups <file>.dkvm-bak.<time>, recorded in\n"
		"/var/lib/dkvm/tune-<write-up>.json; WRITE-UP --off --apply restores them byte for byte.\n",
	.opts = tune_opts,
	.tail = "Examples:\n"
		"  dkvm tune mymac pin --dry-run\n"
		"  dkvm tune mymac fake-cores --cpus 14\n"
		"  dkvm tune mymac undo\n"
		"  sudo dkvm tune mymac hugepages --reserve --apply\n"
		"  sudo dkvm tune mymac pin --isolate --apply\n"
		"  dkvm tune mymac evdev --toggle scrolllock\n"
		"  sudo dkvm tune mymac bridge --uplink enp5s0 --apply\n"
		"  dkvm tune pin --plan --vcpus 8 --json\n"
		"  sudo dkvm tune mymac memory-map --dry-run\n"
		"  dkvm tune mymac restrict-events\n"
		"  dkvm tune mymac display-override --connector card0-DP-1\n"
		"\n"
		"Exit status: 0 applied (or nothing to change), 1 failure (hand edits, running VM, a\n"
		"write-up the VM cannot take), 2 usage error.\n",
	.operands = DK_C_VM,
};

static int pin_plan(int vcpus)
{
	struct dk_host h;
	if (dk_host_probe(&h) < 0)
		return dk_cli_fail();
	int logical = h.cpu.logical;
	if (vcpus > logical) {
		dk_host_free(&h);
		dk_fail("--vcpus %d: the host has only %d logical CPUs", vcpus, logical);
		return dk_cli_fail();
	}
	int threads = h.cpu.smt && h.cpu.threads_per_core >= 2 && vcpus % 2 == 0 ? 2 : 1;
	int cores = vcpus / threads;
	struct dk_pinning pn;
	dk_pin_plan(&h, cores, threads, &pn);
	dk_host_free(&h);
	if (pn.n <= 0) {
		dk_fail("cannot pin %d vCPUs: %s", vcpus, pn.reason);
		return dk_cli_fail();
	}
	if (dk_json_output) {
		dk_json_print_plain(dk_pinning_to_json(&pn, cores, threads));
		return DK_EXIT_OK;
	}
	printf("topology: 1 socket, %d cores, %d threads\n", cores, threads);
	for (int i = 0; i < pn.n; i++)
		printf("vcpu %d -> host CPU %d\n", i, pn.cpu[i]);
	printf("emulator -> %s\niothread -> %s\n%s\n", pn.emulator, pn.iothread, pn.reason);
	return DK_EXIT_OK;
}

int dk_cmd_tune(int argc, char **argv)
{
	struct dk_tune_opts o = {0};
	bool plan = false;
	int vcpus = 0;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_tune, argc, argv)) != -1) {
		switch (c) {
		case 'o': o.args.off = true; break;
		case 'c':
		case 'V': {
			char *e;
			long v = strtol(optarg, &e, 10);
			if (*e || e == optarg || v < 1 || v > 256)
				return dk_usage_error("tune", "--%s '%s': a number 1..256", c == 'c' ? "cpus" : "vcpus", optarg);
			if (c == 'c')
				o.args.cpus = (int)v;
			else
				vcpus = (int)v;
			break;
		}
		case 'p': plan = true; break;
		case 'n': o.dry_run = true; break;
		case 'f': o.force = true; break;
		case 'D': o.parent = optarg; break;
		case 'a': o.apply = true; break;
		case 'r': o.args.reserve = true; break;
		case 'I': o.args.isolate = true; break;
		case 'S':
			if (strcmp(optarg, "2M") && strcmp(optarg, "1G"))
				return dk_usage_error("tune", "--size '%s': 2M or 1G", optarg);
			o.args.gig = !strcmp(optarg, "1G");
			break;
		case 'B':
			if (strcmp(optarg, "auto") && strcmp(optarg, "grub") && strcmp(optarg, "systemd-boot") &&
			    strcmp(optarg, "kernelstub"))
				return dk_usage_error("tune", "--bootloader '%s': auto, grub, systemd-boot or kernelstub", optarg);
			o.args.bootloader = optarg;
			break;
		case 'd':
			if (o.args.n_devices >= DK_PLAN_MAX_EVDEV)
				return dk_usage_error("tune", "--device: at most %d", DK_PLAN_MAX_EVDEV);
			o.args.devices[o.args.n_devices++] = optarg;
			break;
		case 't': o.args.toggle = optarg; break;
		case 'u': o.args.uplink = optarg; break;
		case 'N': o.args.nm = true; break;
		case 'F':
			if (strcmp(optarg, "auto") && strcmp(optarg, "dmi") && strcmp(optarg, "guide"))
				return dk_usage_error("tune", "--from '%s': auto, dmi or guide", optarg);
			o.args.from = optarg;
			break;
		case 'E': o.args.edid = optarg; break;
		case 'C': o.args.connector = optarg; break;
		case 'h': return dk_print_spec_help(&dk_spec_tune);
		default: return dk_getopt_error("tune", c, argv);
		}
	}
	if (plan) {
		if (optind >= argc || strcmp(argv[optind], "pin") != 0 || optind + 1 < argc)
			return dk_usage_error("tune", "--plan: dkvm tune pin --plan --vcpus N");
		if (!vcpus && !o.args.cpus)
			return dk_usage_error("tune", "pin --plan: --vcpus N is required");
		return pin_plan(vcpus ? vcpus : o.args.cpus);
	}
	if (argc - optind < 2)
		return dk_usage_error("tune", "usage: dkvm tune NAME WRITE-UP (pin, iothreads, hugepages, fake-cores, gpu, usb-controller, audio, evdev, bridge, cpu-governor, memory-map, restrict-events, display-override, undo)");
	o.name = argv[optind];
	o.writeup = argv[optind + 1];
	o.args.pos = argv + optind + 2; /* the write-up's operands (argv is NULL-terminated) */
	if (strcmp(o.writeup, "undo") != 0 && !dk_writeup_find(o.writeup))
		return dk_usage_error("tune", "write-up '%s': unknown (pin, iothreads, hugepages, fake-cores, gpu, usb-controller, audio, evdev, bridge, cpu-governor, memory-map, restrict-events, display-override, undo)", o.writeup);
	if (o.args.isolate && strcmp(o.writeup, "pin") != 0)
		return dk_usage_error("tune", "--isolate: only for pin");
	/* only the passthrough write-ups take an operand (the PCI address) */
	bool takes_bdf = !strcmp(o.writeup, "gpu") || !strcmp(o.writeup, "usb-controller") || !strcmp(o.writeup, "audio");
	if (takes_bdf && !argv[optind + 2])
		return dk_usage_error("tune", "%s: give the PCI address (dkvm host iommu lists them)", o.writeup);
	if (argv[optind + 2] && (!takes_bdf || argv[optind + 3]))
		return dk_usage_error("tune", "unexpected argument '%s'", argv[optind + (takes_bdf ? 3 : 2)]);
	struct dk_tune_result r;
	if (dk_vm_tune(&o, &r) < 0) {
		dk_tune_result_free(&r);
		return dk_cli_fail();
	}
	if (r.diff[0])
		fputs(r.diff, stdout);
	if (!r.changed && !r.host_changed)
		fprintf(stderr, "dkvm: %s: no change (%s is already so)\n", o.name, o.writeup);
	else if (!r.changed)
		fprintf(stderr, "dkvm: %s: the VM already is so\n", o.name);
	else if (o.dry_run)
		fprintf(stderr, "dkvm: %s: dry run, nothing changed\n", o.name);
	else if (!strcmp(o.writeup, "undo"))
		fprintf(stderr, "dkvm: %s: restored version %d%s\n", o.name, r.version, r.redefined ? " (libvirt domain redefined)" : "");
	else
		fprintf(stderr, "dkvm: %s: %s applied (previous version kept as .tune/%d; 'dkvm tune %s undo' restores it)%s\n",
			o.name, o.writeup, r.version, o.name, r.redefined ? "; libvirt domain redefined" : "");
	if (r.changed && r.running)
		fprintf(stderr, "dkvm: %s: the VM is running: the change takes effect at its next start\n", o.name);
	if (r.host_changed && r.host_applied) {
		fprintf(stderr, "dkvm: %s: system files written under %s%s\n", o.name, dk_root(),
			o.args.off ? " (restored from their backups)" : "");
		for (char **cmd = r.commands; cmd && *cmd; cmd++)
			fprintf(stderr, "dkvm: then run: %s\n", *cmd);
	} else if (r.host_changed) {
		fprintf(stderr, "dkvm: %s: system files: dry run: nothing written (--apply writes them under %s)\n", o.name,
			dk_root());
	}
	if (r.note[0])
		fprintf(stderr, "dkvm: %s: %s\n", o.name, r.note);
	dk_tune_result_free(&r);
	return DK_EXIT_OK;
}
