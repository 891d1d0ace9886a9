/* dkvm create: argv and output only; the work is dk_vm_create(). */
#include "cli/cli.h"
#include "vm/vm.h"
#include "opencore/opencore.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/strv.h"

#include <string.h>

enum { O_KEXT = 256, O_ACPI, O_KEXT_VERSION, O_OFFLINE, O_MEMORY_MAP };

static const struct dk_opt create_opts[] = {
	{"arch", 'A', "ARCH", "x86_64 (default: OpenCore on q35) or ppc (the guide's DarwinPPC:\n"
	 "Mac OS X 10.0-10.5 on qemu-system-ppc, mac99, OpenBIOS; needs --macos)", "x86_64 ppc", 0},
	{"iso", 'i', "FILE", "--arch ppc: install media (ISO, .toast, .cdr) as an IDE CD-ROM", DK_C_FILE, 0},
	{"model", 'm', "M", "Mac model: MacPro7,1 (default for Catalina+), iMacPro1,1,\n"
	 "MacPro5,1 (default before Catalina), MacPro4,1, MacPro3,1, MacPro2,1", DK_C_MODEL, DK_OPT_X86},
	{"macos", 'r', "R", "release (sonoma, 14, \"Big Sur\"...); default: the model's default;\n"
	 "--arch ppc: 10.0, 10.1, 10.2, 10.3, 10.4, 10.5 (or cheetah ... leopard)", DK_C_MACOS, 0},
	{"cpus", 'c', "N", "vCPUs (a power-of-two core count; default: the guide's sizing)", NULL, DK_OPT_X86},
	{"memory", 'M', "SIZE", "guest RAM (default: a quarter of host RAM, 4 GiB..32 GiB)", NULL, 0},
	{"disk", 'd', "SIZE", "main disk size (default 128G)", NULL, 0},
	{"cpu", 'C', "host|model", "host-passthrough (Intel hosts with KVM) or the model's CPU (default)", "host model", DK_OPT_X86},
	{"pin", 'p', NULL, "pin each guest core's threads to one host core's SMT siblings,\n"
	 "the host's first core kept for the host and QEMU (guide write-up)", NULL, DK_OPT_X86},
	{"gpu", 'g', "BDF", "pass the GPU at host PCI address BDF through (vfio-pci), with every\n"
	 "function of the card (HDMI audio...) in one guest slot; no emulated\n"
	 "display. Refused for the boot VGA device, a GPU in a non-viable IOMMU\n"
	 "group and a GPU the release cannot drive (the guide's chart)", DK_C_BDF, DK_OPT_X86},
	{"gpu-rom", 'V', "FILE", "with --gpu: the ROM (VBIOS) file the guest sees instead of the card's", DK_C_FILE, DK_OPT_X86},
	{"usb-controller", 'U', "BDF", "pass a host USB (xHCI) controller through (repeatable, up to 4)", DK_C_BDF, DK_OPT_X86},
	{"audio", 'H', "BDF", "pass the motherboard's HD audio controller through", DK_C_BDF, DK_OPT_X86},
	{"iothreads", 'j', NULL, "virtio disks on a dedicated IO thread (guide write-up)", NULL, DK_OPT_X86},
	{"hugepages", 'Z', NULL, "guest RAM on the host's hugepages (reserve them: vm.nr_hugepages)", NULL, DK_OPT_X86},
	{"fake-cores", 'F', NULL, "--cpus N that is not a power-of-two core count: the guide's fake\n"
	 "core count (8 or 16 cores x 2 threads, N of them enabled) instead of refusing", NULL, DK_OPT_X86},
	{"no-tune", 'T', NULL, "none of the default levers (by default pinning and the IO thread are on\n"
	 "wherever the host has room for them, hugepages when enough are reserved\n"
	 "and free; --explain says why each is on or off)", NULL, 0},
	{"opencore", 'o', "ZIP|DIR", "OpenCorePkg release to build from (default: download the latest)", DK_C_FILE, DK_OPT_X86},
	{"opencore-image", 'I', "IMG", "use a ready OpenCore disk image as is (no config/image build)", DK_C_FILE, DK_OPT_X86},
	{"driver", 'W', "FILE", "an extra UEFI driver (*.efi) for EFI/OC/Drivers, enabled in UEFI/Drivers\n"
	 "(repeatable); an HFS+ driver replaces the release family's (HfsPlus.efi\n"
	 "for OpenHfsPlus.efi; Mojave and older accept only HfsPlusLegacy.efi,\n"
	 "else fetched from OcBinaryData at a pinned commit)", DK_C_FILE, DK_OPT_X86},
	{"kexts", 'k', "DIR", "kexts (*.kext) to add to the EFI; one named like a kext of the\n"
	 "guide's set replaces it", DK_C_DIR, DK_OPT_X86},
	{"kext", O_KEXT, "ZIP|DIR", "a .kext folder or a kext release zip (its .kext bundles) to\n"
	 "add, replacing the fetched kext of the same name (repeatable)", DK_C_FILE, DK_OPT_X86},
	{"acpi", O_ACPI, "FILE", "an SSDT (.aml) to add to EFI/OC/ACPI and ACPI/Add, replacing the\n"
	 "release's of the same name (repeatable)", DK_C_FILE, DK_OPT_X86},
	{"memory-map", O_MEMORY_MAP, "SRC", "the guide's custom memory map (PlatformInfo/Memory, CustomMemory):\n"
	 "auto (the host's DMI type 17 when readable, else the guide's layout),\n"
	 "dmi or guide (as dkvm tune NAME memory-map)", "auto dmi guide", DK_OPT_X86},
	{"kext-version", O_KEXT_VERSION, "NAME=VER", "pin a fetched kext's release (Lilu=1.6.9; repeatable)", NULL, DK_OPT_X86},
	{"offline", O_OFFLINE, NULL, "take OpenCorePkg and the kexts from the cache only (dkvm opencore\n"
	 "fetch fills it); say what is missing", NULL, DK_OPT_X86},
	{"boot-args", 'B', "ARGS", "\"A B\" adds boot-args to config.plist (+X adds a token starting\n"
	 "with '-'), -X removes the token X (repeatable, in order; kept in the\n"
	 "manifest)", NULL, DK_OPT_X86},
	{"picker", 'K', "gui|text", "boot picker: gui = OpenCanopy (PickerMode External, the guide's\n"
	 "settings, Resources from OcBinaryData); text = builtin (default)", "gui text", DK_OPT_X86},
	{"recovery", 'R', "DIR", "recoveryOS (com.apple.recovery.boot) to put on the image", DK_C_DIR, DK_OPT_X86},
	{"no-recovery", 'N', NULL, "no recoveryOS (default: download it from Apple)", NULL, DK_OPT_X86},
	{"connect", 'u', "URI", "define the domain in libvirt (qemu:///system, qemu:///session,\n"
	 "qemu+ssh://host/system); default: bundle only, QEMU runs directly", NULL, 0},
	{"pool", 'P', "POOL", "with --connect: every file the domain uses is a volume of this\n"
	 "libvirt storage pool, uploaded through libvirt (remote URIs too):\n"
	 "NAME.qcow2, NAME-OpenCore.img, NAME-VARS.fd; the firmware code\n"
	 "(OVMF_CODE) stays a path on the libvirt host", NULL, DK_OPT_X86},
	{"no-libvirt", 'L', NULL, "bundle only (the default)", NULL, 0},
	{"no-grant", 'G', NULL, "with a libvirt on this machine whose QEMU runs as another user\n"
	 "(libvirt-qemu): do not give that user search permission (ACL) on\n"
	 "the directories above the bundle; refuse with the setfacl command\n"
	 "instead (default: grant exactly what is missing, say so, and take it\n"
	 "back on destroy)", NULL, 0},
	{"dir", 'D', "DIR", "parent directory of bundles (default $XDG_DATA_HOME/dkvm)", DK_C_DIR, 0},
	{"accel", 'a', "A", "plan for kvm, tcg or auto (default: KVM when it can give the guest\n"
	 "the CPU features the release needs, else TCG)", "kvm tcg auto", 0},
	{"dry-run", 'n', NULL, "print the plan, change nothing", NULL, 0},
	{"explain", 'e', NULL, "print every decision with its reason", NULL, 0},
	{"force", 'f', NULL, "replace an existing VM of that name (and its disk); pass through\n"
	 "devices the checks refuse (boot VGA, IOMMU group, GPU chart, unknown BDF);\n"
	 "keep a VirtualSMC kext (refused: QEMU's applesmc is the SMC)", NULL, 0},
	{"json", 0, NULL, "print {\"name\",\"dir\",\"dry_run\",\"defined\",\"plan\",\"efi\"} (see dkvm-vm(1))", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_create = {
	.head = "usage: dkvm create NAME [options]\n"
		"\n"
		"Create the macOS VM NAME, planned for this host: check the host, plan the machine\n"
		"(CPU identity with the features this host lacks masked, topology, memory, devices),\n"
		"generate a unique SMBIOS, fetch the guide's kexts for the model and release (Lilu,\n"
		"VMHide from Sonoma, AppleMCEReporterDisabler from Monterey, RestrictEvents on\n"
		"MacPro7,1; each release verified and cached) and take its SSDTs from the OpenCorePkg\n"
		"release, build config.plist from the release's Sample.plist and the OpenCore disk\n"
		"image (with recoveryOS), create the disk, and write the bundle\n"
		"$XDG_DATA_HOME/dkvm/NAME/ (manifest.json, OpenCore.img, config.plist, disk.qcow2,\n"
		"OVMF_VARS.fd, domain.xml, qemu.argv, start.sh). With --connect the domain is also defined in libvirt.\n"
		"A failure half way leaves nothing behind.\n",
	.opts = create_opts,
	.tail = "Examples:\n"
		"  dkvm create mymac --opencore OpenCore-1.0.6-RELEASE.zip --no-recovery\n"
		"  dkvm create old --model MacPro5,1 --macos mojave --dry-run --explain\n"
		"  dkvm create mp5 --model MacPro5,1 --macos mojave --driver HfsPlusLegacy.efi\n"
		"  dkvm create lv --connect qemu:///system --opencore ~/OpenCorePkg\n"
		"  dkvm create tiger --arch ppc --macos 10.4 --iso \"Mac OS X 10.4.8.iso\"\n"
		"  dkvm create gfx --gpu 0b:00.0 --usb-controller 0d:00.3 --connect qemu:///system\n"
		"\n"
		"Exit status: 0 created (or planned), 1 failure (nothing left behind), 2 usage error.\n",
	.operands = NULL,
};

static void print_ppc_plan_text(const struct dk_ppc_plan *p)
{
	printf("VM %s: PowerMac3,1 (mac99) running Mac OS X %s (%s)\n", p->name, p->version, p->macos);
	printf("  machine   %s, -cpu %s, 1 vCPU\n", p->machine, p->cpu);
	printf("  memory    %llu MiB\n", (unsigned long long)p->memory_mib);
	printf("  disk      %llu GiB qcow2 on ide\n", (unsigned long long)(p->disk_bytes >> 30));
	printf("  cdrom     %s\n", p->iso[0] ? p->iso : "none");
	printf("  network   %s, MAC %s\n", p->nic, p->mac);
	printf("  display   VGA %s\n", p->resolution);
	printf("  firmware  OpenBIOS\n");
	printf("  accel     tcg\n");
}

static void print_plan_text(const struct dk_plan *p)
{
	printf("VM %s: %s running macOS %s (%s)\n", p->name, p->model, p->macos, p->macos_version);
	printf("  CPU       -cpu %s\n", p->cpu_arg);
	printf("  topology  1 socket, %d cores x %d threads = %d vCPUs\n", p->cores, p->threads, p->vcpus);
	printf("  memory    %llu MiB\n", (unsigned long long)p->memory_mib);
	printf("  disk      %llu GiB qcow2 on %s; OpenCore image on virtio (boot 1)\n",
	       (unsigned long long)(p->disk_bytes >> 30), dk_disk_bus_name(p->disk_bus));
	printf("  network   %s, MAC %s\n", p->nic_model, p->mac);
	printf("  display   %s\n", p->video);
	for (int i = 0; i < p->n_hostdev; i++)
		printf("  pci       %s %s -> guest port %d function %d%s\n", p->hostdev[i].role, p->hostdev[i].host,
		       p->hostdev[i].port, p->hostdev[i].func, p->hostdev[i].multifunction ? " (multifunction)" : "");
	if (p->gpu.host[0])
		printf("  gpu       %s %s, macOS %s; kext %s%s%s%s%s\n", p->gpu.vendor_device,
		       p->gpu.family[0] ? p->gpu.family : "(not in the chart)", p->gpu.macos_range, p->gpu.kext,
		       p->gpu.boot_args[0] ? ", boot-args " : "", p->gpu.boot_args,
		       p->gpu.device_id[0] ? ", device-id " : "", p->gpu.device_id);
	printf("  firmware  %s\n", p->ovmf_code);
	printf("  accel     %s\n", dk_accel_name(p->accel));
}

/* A size option: a bare number is in units of 1 << unit_shift bytes. 0 is not a
 * size (the default is chosen by leaving the option out). */
static int parse_size_opt(const char *opt, const char *arg, int unit_shift, uint64_t *out)
{
	uint64_t v;
	if (dk_parse_size(arg, &v) < 0) {
		dk_usage_error("create", "%s '%s': %s", opt, arg, dk_errmsg());
		return -1;
	}
	if (strspn(arg, "0123456789") == strlen(arg)) {
		if (v > UINT64_MAX >> unit_shift) {
			dk_usage_error("create", "%s '%s': too large", opt, arg);
			return -1;
		}
		v <<= unit_shift;
	}
	if (v == 0) {
		dk_usage_error("create", "%s '%s': must be more than 0", opt, arg);
		return -1;
	}
	*out = v;
	return 0;
}

static int create_main(int argc, char **argv, struct dk_strv *drivers_out);
static void print_efi_text(json_object *efi)
{
	json_object *k = NULL, *a = NULL;
	json_object_object_get_ex(efi, "kexts", &k);
	json_object_object_get_ex(efi, "acpi", &a);
	printf("  kexts    ");
	for (size_t i = 0; k && i < json_object_array_length(k); i++)
		printf("%s%s", i ? ", " : " ", dk_json_get_str(json_object_array_get_idx(k, i), "name"));
	printf("\n  ACPI     ");
	for (size_t i = 0; a && i < json_object_array_length(a); i++)
		printf("%s%s", i ? ", " : " ", dk_json_get_str(json_object_array_get_idx(a, i), "name"));
	printf("\n");
}

static void explain_efi(json_object *efi)
{
	static const char *const keys[] = {"kexts", "acpi", "picker"};
	for (size_t s = 0; s < 3; s++) {
		json_object *l = NULL;
		json_object_object_get_ex(efi, keys[s], &l);
		for (size_t i = 0; l && i < json_object_array_length(l); i++) {
			json_object *e = json_object_array_get_idx(l, i);
			printf("  EFI %s: %s\n", dk_esc(dk_json_get_str(e, "name")), dk_esc(dk_json_get_str(e, "reason")));
		}
	}
}

#define MAX_LIST 32

int dk_cmd_create(int argc, char **argv)
{
	struct dk_strv drivers = {0};
	int rc = create_main(argc, argv, &drivers);
	dk_strv_clear(&drivers);
	return rc;
}

static int create_main(int argc, char **argv, struct dk_strv *drivers_out)
{
	struct dk_create_opts o = {0};
	struct dk_strv *drivers = drivers_out;
	const char *kext_list[MAX_LIST + 1] = {0}, *acpi[MAX_LIST + 1] = {0}, *pins[MAX_LIST + 1] = {0};
	const char *bootargs[MAX_LIST + 1] = {0};
	int nk = 0, na = 0, np = 0, nb = 0;
	bool no_libvirt = false, no_tune = false;
	const char *x86_only = NULL; /* the first x86-only option given */
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_create, argc, argv)) != -1) {
		uint64_t v;
		const struct dk_opt *d = dk_opt_find(&dk_spec_create, c);
		if (!x86_only && d && (d->flags & DK_OPT_X86))
			x86_only = d->name;
		switch (c) {
		case 'A':
			if (!strcmp(optarg, "ppc"))
				o.ppc = true;
			else if (strcmp(optarg, "x86_64") != 0)
				return dk_usage_error("create", "--arch '%s': x86_64 or ppc", optarg);
			else
				o.ppc = false;
			break;
		case 'i': o.iso = optarg; break;
		case 'm': o.plan.model = optarg; break;
		case 'r': o.plan.macos = optarg; break;
		case 'c':
			if (dk_parse_u64(optarg, &v) < 0 || v == 0 || v > 1024)
				return dk_usage_error("create", "--cpus '%s': not a CPU count", optarg);
			o.plan.cpus = (int)v;
			break;
		case 'M':
			/* a bare number is MiB, as QEMU's -m */
			if (parse_size_opt("--memory", optarg, 20, &o.plan.memory_bytes) < 0)
				return DK_EXIT_USAGE;
			break;
		case 'd':
			/* a bare number is GiB */
			if (parse_size_opt("--disk", optarg, 30, &o.plan.disk_bytes) < 0)
				return DK_EXIT_USAGE;
			break;
		case 'C':
			if (!strcmp(optarg, "host"))
				o.plan.cpu_host = true;
			else if (strcmp(optarg, "model") != 0)
				return dk_usage_error("create", "--cpu '%s': host or model", optarg);
			break;
		case 'g': o.plan.gpu = optarg; break;
		case 'V': o.plan.gpu_rom = optarg; break;
		case 'U':
			if (o.plan.n_usb >= DK_PLAN_MAX_USB)
				return dk_usage_error("create", "--usb-controller: at most %d", DK_PLAN_MAX_USB);
			o.plan.usb[o.plan.n_usb++] = optarg;
			break;
		case 'H': o.plan.audio = optarg; break;
		case 'o': o.opencore = optarg; break;
		case 'I': o.opencore_image = optarg; break;
		case 'k': o.kexts = optarg; break;
		case 'W': dk_strv_push(drivers, optarg); break;
		case O_KEXT:
			if (nk >= MAX_LIST)
				return dk_usage_error("create", "too many --kext options");
			kext_list[nk++] = optarg;
			break;
		case O_ACPI:
			if (na >= MAX_LIST)
				return dk_usage_error("create", "too many --acpi options");
			acpi[na++] = optarg;
			break;
		case O_KEXT_VERSION:
			if (np >= MAX_LIST)
				return dk_usage_error("create", "too many --kext-version options");
			pins[np++] = optarg;
			break;
		case 'B':
			if (nb >= MAX_LIST)
				return dk_usage_error("create", "too many --boot-args options");
			bootargs[nb++] = optarg;
			break;
		case 'K':
			if (strcmp(optarg, "gui") && strcmp(optarg, "text"))
				return dk_usage_error("create", "--picker '%s': gui or text", optarg);
			o.picker = optarg;
			break;
		case O_OFFLINE: o.offline = true; break;
		case O_MEMORY_MAP:
			if (strcmp(optarg, "auto") && strcmp(optarg, "dmi") && strcmp(optarg, "guide"))
				return dk_usage_error("create", "--memory-map '%s': auto, dmi or guide", optarg);
			o.memory_map = optarg;
			break;
		case 'R': o.recovery = optarg; break;
		case 'N': o.no_recovery = true; break;
		case 'u': o.uri = optarg; break;
		case 'P': o.pool = optarg; break;
		case 'p': o.plan.pin = true; break;
		case 'j': o.plan.iothreads = true; break;
		case 'Z': o.plan.hugepages = true; break;
		case 'F': o.plan.fake_cores = true; break;
		case 'T': no_tune = true; break;
		case 'G': o.no_grant = true; break;
		case 'L': no_libvirt = true; break;
		case 'D': o.parent = optarg; break;
		case 'n': o.dry_run = true; break;
		case 'e': o.explain = true; break;
		case 'f': o.force = true; break;
		case 'a':
			if (!strcmp(optarg, "kvm"))
				o.accel = DK_ACCEL_FORCE_KVM;
			else if (!strcmp(optarg, "tcg"))
				o.accel = DK_ACCEL_FORCE_TCG;
			else if (strcmp(optarg, "auto") != 0)
				return dk_usage_error("create", "--accel '%s': kvm, tcg or auto", optarg);
			break;
		case 'h': return dk_print_spec_help(&dk_spec_create);
		default: return dk_getopt_error("create", c, argv);
		}
	}
	if (optind >= argc)
		return dk_usage_error("create", "missing VM name");
	if (optind + 1 < argc)
		return dk_usage_error("create", "unexpected argument '%s'", argv[optind + 1]);
	o.name = argv[optind];
	o.plan.auto_levers = !no_tune;
	if (o.ppc && x86_only)
		return dk_usage_error("create", "--%s: x86 only (not with --arch ppc)", x86_only);
	if (o.ppc && o.accel == DK_ACCEL_FORCE_KVM)
		return dk_usage_error("create", "--accel kvm: a PowerPC guest runs under TCG (KVM runs it only on a PowerPC host)");
	if (o.ppc && !o.plan.macos)
		return dk_usage_error("create", "--arch ppc needs --macos 10.0, 10.1, 10.2, 10.3, 10.4 or 10.5");
	if (o.iso && !o.ppc)
		return dk_usage_error("create", "--iso: only with --arch ppc");
	o.drivers = (const char *const *)drivers->v;
	o.kext_list = nk ? kext_list : NULL;
	o.acpi = na ? acpi : NULL;
	o.kext_pins = np ? pins : NULL;
	if (dk_oc_pins_check(o.kext_pins) < 0)
		return dk_usage_error("create", "%s", dk_errmsg());
	o.boot_args = nb ? bootargs : NULL;
	if (dk_oc_boot_args_check(o.boot_args) < 0)
		return dk_usage_error("create", "%s", dk_errmsg());
	if (o.opencore_image && (nb || o.picker))
		return dk_usage_error("create", "--opencore-image is used as is: --boot-args and --picker do not apply");
	if (o.opencore_image && (nk || na || np || o.kexts))
		return dk_usage_error("create", "--opencore-image is used as is: --kexts, --kext, --acpi and --kext-version do not apply");
	if (no_libvirt && o.uri)
		return dk_usage_error("create", "--connect and --no-libvirt exclude each other");
	if (o.pool && !o.uri)
		return dk_usage_error("create", "--pool needs --connect URI");
	if (o.recovery && o.no_recovery)
		return dk_usage_error("create", "--recovery and --no-recovery exclude each other");
	if (o.plan.gpu_rom && !o.plan.gpu)
		return dk_usage_error("create", "--gpu-rom needs --gpu");
	if (o.opencore && o.opencore_image)
		return dk_usage_error("create", "--opencore and --opencore-image exclude each other");

	struct dk_create_result r;
	int rc = dk_vm_create(&o, &r);
	for (char **w = r.warnings; w && *w; w++)
		dk_warn("%s", *w);
	if (rc < 0) {
		rc = dk_cli_fail();
		dk_create_result_free(&r);
		return rc;
	}
	if (dk_json_output) {
		dk_json_print(dk_create_to_json(&o, &r));
	} else if (o.explain || dk_verbosity > DK_QUIET) {
		/* -q: nothing on success (--explain asks for the decisions) */
		if (r.ppc)
			print_ppc_plan_text(&r.ppc_plan);
		else
			print_plan_text(&r.plan);
		if (r.efi)
			print_efi_text(r.efi);
		if (o.explain) {
			printf("\nDecisions:\n");
			char *ex = dk_plan_explain(&r.plan);
			fputs(ex, stdout);
			free(ex);
			if (r.efi)
				explain_efi(r.efi);
		}
		if (o.dry_run) {
			printf("\n(dry run: nothing was created)\n");
		} else {
			printf("\nCreated %s\n", r.dir);
			/* a command to paste: the name and folder quoted for the shell */
			struct dk_buf cmd = {0};
			dk_buf_puts(&cmd, "dkvm start ");
			dk_shell_quote(&cmd, o.name);
			if (o.parent) {
				dk_buf_puts(&cmd, " --dir ");
				dk_shell_quote(&cmd, o.parent);
			}
			if (r.defined)
				printf("Defined in libvirt %s; start it: %s\n", o.uri, cmd.data);
			else
				printf("Start it: %s\n", cmd.data);
			dk_buf_free(&cmd);
		}
	}
	dk_create_result_free(&r);
	return DK_EXIT_OK;
}
