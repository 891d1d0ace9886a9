/* dkvm create: argv and output only; the work is dk_vm_create(). */
#include "cli/cli.h"
#include "vm/vm.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"

#include <string.h>

static const struct dk_opt create_opts[] = {
	{"model", 'm', "M", "Mac model: MacPro7,1 (default for Catalina+), iMacPro1,1,\n"
	 "MacPro5,1 (default before Catalina), MacPro4,1, MacPro3,1, MacPro2,1", DK_C_MODEL, 0},
	{"macos", 'r', "R", "release (sonoma, 14, \"Big Sur\"...); default: the model's default", DK_C_MACOS, 0},
	{"cpus", 'c', "N", "vCPUs (a power-of-two core count; default: the guide's sizing)", NULL, 0},
	{"memory", 'M', "SIZE", "guest RAM (default: a quarter of host RAM, 4 GiB..32 GiB)", NULL, 0},
	{"disk", 'd', "SIZE", "main disk size (default 128G)", NULL, 0},
	{"cpu", 'C', "host|model", "host-passthrough (Intel hosts with KVM) or the model's CPU (default)", "host model", 0},
	{"pin", 'p', NULL, "pin each guest core's threads to one host core's SMT siblings,\n"
	 "the host's first core kept for the host and QEMU (guide write-up)", NULL, 0},
	{"opencore", 'o', "ZIP|DIR", "OpenCorePkg release to build from (default: download the latest)", DK_C_FILE, 0},
	{"opencore-image", 'I', "IMG", "use a ready OpenCore disk image as is (no config/image build)", DK_C_FILE, 0},
	{"kexts", 'k', "DIR", "kexts (*.kext) to add to the EFI", DK_C_DIR, 0},
	{"recovery", 'R', "DIR", "recoveryOS (com.apple.recovery.boot) to put on the image", DK_C_DIR, 0},
	{"no-recovery", 'N', NULL, "no recoveryOS (default: download it from Apple)", NULL, 0},
	{"connect", 'u', "URI", "define the domain in libvirt (qemu:///system, qemu:///session,\n"
	 "qemu+ssh://host/system); default: bundle only, QEMU runs directly", NULL, 0},
	{"pool", 'P', "POOL", "with --connect: every file the domain uses is a volume of this\n"
	 "libvirt storage pool, uploaded through libvirt (remote URIs too):\n"
	 "NAME.qcow2, NAME-OpenCore.img, NAME-VARS.fd; the firmware code\n"
	 "(OVMF_CODE) stays a path on the libvirt host", NULL, 0},
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
	{"force", 'f', NULL, "replace an existing VM of that name (and its disk)", NULL, 0},
	{"json", 0, NULL, "print {\"name\",\"dir\",\"dry_run\",\"defined\",\"plan\"} (see dkvm-vm(1))", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_create = {
	.head = "usage: dkvm create NAME [options]\n"
		"\n"
		"Create the macOS VM NAME, planned for this host: check the host, plan the machine\n"
		"(CPU identity with the features this host lacks masked, topology, memory, devices),\n"
		"generate a unique SMBIOS, build config.plist from the OpenCore release's Sample.plist\n"
		"and the OpenCore disk image (with recoveryOS), create the disk, and write the bundle\n"
		"$XDG_DATA_HOME/dkvm/NAME/ (manifest.json, OpenCore.img, config.plist, disk.qcow2,\n"
		"OVMF_VARS.fd, domain.xml, qemu.argv, start.sh). With --connect the domain is also defined in libvirt.\n"
		"A failure half way leaves nothing behind.\n",
	.opts = create_opts,
	.tail = "Examples:\n"
		"  dkvm create mymac --opencore OpenCore-1.0.6-RELEASE.zip --no-recovery\n"
		"  dkvm create old --model MacPro5,1 --macos mojave --dry-run --explain\n"
		"  dkvm create lv --connect qemu:///system --opencore ~/OpenCorePkg\n"
		"\n"
		"Exit status: 0 created (or planned), 1 failure (nothing left behind), 2 usage error.\n",
	.operands = NULL,
};

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

int dk_cmd_create(int argc, char **argv)
{
	struct dk_create_opts o = {0};
	bool no_libvirt = false;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_create, argc, argv)) != -1) {
		uint64_t v;
		switch (c) {
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
		case 'o': o.opencore = optarg; break;
		case 'I': o.opencore_image = optarg; break;
		case 'k': o.kexts = optarg; break;
		case 'R': o.recovery = optarg; break;
		case 'N': o.no_recovery = true; break;
		case 'u': o.uri = optarg; break;
		case 'P': o.pool = optarg; break;
		case 'p': o.plan.pin = true; break;
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
	if (no_libvirt && o.uri)
		return dk_usage_error("create", "--connect and --no-libvirt exclude each other");
	if (o.pool && !o.uri)
		return dk_usage_error("create", "--pool needs --connect URI");
	if (o.recovery && o.no_recovery)
		return dk_usage_error("create", "--recovery and --no-recovery exclude each other");
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
		json_object *j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(o.name));
		json_object_object_add(j, "dir", r.dir ? json_object_new_string(r.dir) : NULL);
		json_object_object_add(j, "dry_run", json_object_new_boolean(o.dry_run));
		json_object_object_add(j, "defined", json_object_new_boolean(r.defined));
		json_object_object_add(j, "libvirt_uri", o.uri ? json_object_new_string(o.uri) : NULL);
		json_object_object_add(j, "plan", dk_plan_to_json(&r.plan));
		dk_json_print(j);
	} else if (o.explain || dk_verbosity > DK_QUIET) {
		/* -q: nothing on success (--explain asks for the decisions) */
		print_plan_text(&r.plan);
		if (o.explain) {
			printf("\nDecisions:\n");
			dk_plan_explain(&r.plan, stdout);
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
