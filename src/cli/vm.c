/* dkvm start|stop|list|show|destroy: argv and output only. */
#include "cli/cli.h"
#include "vm/vm.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/cleanup.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct dk_opt start_opts[] = {
	{"display", 'd', "D", "gtk (default with $DISPLAY/$WAYLAND_DISPLAY), spice (unix socket in the\n"
	 "bundle), vnc (127.0.0.1, first free port from 5900; default otherwise), none", "gtk spice vnc none", 0},
	{"accel", 'a', "A", "kvm, tcg or auto (default: KVM when usable, else TCG)", "kvm tcg auto", 0},
	{"no-grant", 'G', NULL, "change no permissions above the bundle (libvirt); refuse instead", NULL, 0},
	{"dir", 'D', "DIR", "parent directory of bundles (default $XDG_DATA_HOME/dkvm)", DK_C_DIR, 0},
	{"json", 0, NULL, "print {\"name\",\"pid\",\"accel\",\"fell_back\",\"display\"}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, NULL, NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_start = {
	.head = "usage: dkvm start NAME [--display gtk|spice|vnc|none] [--accel kvm|tcg|auto] [--no-grant] [--dir DIR]\n"
		"\n"
		"Start the VM. A bundle without libvirt runs QEMU directly, detached, with a QMP socket\n"
		"(qmp.sock), a pidfile (qemu.pid), qemu.log and the serial console (serial.log) in the\n"
		"bundle. A VM defined in libvirt is started through libvirt. When KVM cannot run the\n"
		"firmware (\"KVM internal error\", typical of nested virtualization) dkvm falls back to\n"
		"TCG with a warning (libvirt: the domain is redefined with type 'qemu'); so it does when\n"
		"libvirt's QEMU user (libvirt-qemu on Debian) cannot open /dev/kvm (see dkvm host check).\n"
		"Before a libvirt on this machine starts the domain, dkvm makes sure that user can reach\n"
		"the VM's files, granting search permission by ACL where it is missing (--no-grant: refuse\n"
		"with the setfacl command instead).\n",
	.opts = start_opts,
	.tail = "Examples:\n"
		"  dkvm start mymac\n"
		"  dkvm start mymac --display none --accel tcg\n"
		"\n"
		"Exit status: 0 started, 1 failure, 2 usage error.\n",
	.operands = DK_C_VM,
};

static const struct dk_opt stop_opts[] = {
	{"timeout", 't', "S", "seconds to wait for the guest to power off (default 60)", NULL, 0},
	{"force", 'f', NULL, "do not ask the guest: stop QEMU at once", NULL, 0},
	{"dir", 'D', "DIR", "parent directory of bundles", DK_C_DIR, 0},
	{"json", 0, NULL, "print {\"name\",\"forced\"}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, NULL, NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_stop = {
	.head = "usage: dkvm stop NAME [--timeout S] [--force] [--dir DIR]\n"
		"\n"
		"Stop the VM: ACPI power button (QMP system_powerdown, or libvirt shutdown), wait up to\n"
		"S seconds (default 60), then quit/kill QEMU (libvirt: destroy). A stopped VM is left as is.\n",
	.opts = stop_opts,
	.tail = "Exit status: 0 stopped, 1 failure, 2 usage error.\n",
	.operands = DK_C_VM,
};

static const struct dk_opt list_opts[] = {
	{"dir", 'D', "DIR", "parent directory of bundles (default $XDG_DATA_HOME/dkvm)", DK_C_DIR, 0},
	{"json", 0, NULL, "an array of {\"name\",\"model\",\"macos\",\"vcpus\",\"memory_mib\",\"state\",\n"
	 "\"libvirt_uri\",\"dir\"}", NULL, DK_OPT_GLOBAL},
	{0},
};

const struct dk_cmd_spec dk_spec_list = {
	.head = "usage: dkvm list [--dir DIR] [--json]\n"
		"\n"
		"List the VM bundles with their model, release, size and state.\n",
	.opts = list_opts,
	.tail = "Exit status: 0 success, 1 failure, 2 usage error.\n",
};

static const struct dk_opt show_opts[] = {
	{"dir", 'D', "DIR", "parent directory of bundles (default $XDG_DATA_HOME/dkvm)", DK_C_DIR, 0},
	{"json", 0, NULL, "{\"name\",\"dir\",\"state\",\"pid\",\"libvirt_uri\",\"files\":{...},\"manifest\":{...}}", NULL,
	 DK_OPT_GLOBAL},
	{0},
};

const struct dk_cmd_spec dk_spec_show = {
	.head = "usage: dkvm show NAME [--dir DIR] [--json]\n"
		"\n"
		"Show a VM: state, files, plan (every decision and its reason), SMBIOS, versions.\n",
	.opts = show_opts,
	.tail = "Exit status: 0 success, 1 failure (no such VM), 2 usage error.\n",
	.operands = DK_C_VM,
};

static const struct dk_opt destroy_opts[] = {
	{"yes", 'y', NULL, "do not ask", NULL, DK_OPT_SHORT},
	{"delete-disks", 'x', NULL, "delete disk.qcow2 (or the disk volume) too, and the bundle directory", NULL, 0},
	{"dir", 'D', "DIR", "parent directory of bundles", DK_C_DIR, 0},
	{"help", 'h', NULL, NULL, NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_destroy = {
	.head = "usage: dkvm destroy NAME [--yes] [--delete-disks] [--dir DIR]\n"
		"\n"
		"Remove a VM: stop it, undefine its libvirt domain (when defined), and delete its bundle.\n"
		"The main disk (disk.qcow2, or the pool volume NAME.qcow2) is kept unless --delete-disks;\n"
		"the VM's other pool volumes (create --pool) go with it. Asks for confirmation on a\n"
		"terminal; without a terminal, --yes is required.\n",
	.opts = destroy_opts,
	.tail = "Exit status: 0 removed, 1 failure or declined, 2 usage error.\n",
	.operands = DK_C_VM,
};

/* Common: NAME + --dir. Returns optind of NAME or -1 after printing usage. */
static int open_named(const char *cmd, int argc, char **argv, int idx, const char *dir, struct dk_bundle *b)
{
	if (idx >= argc) {
		dk_usage_error(cmd, "missing VM name");
		return DK_EXIT_USAGE;
	}
	if (idx + 1 < argc) {
		dk_usage_error(cmd, "unexpected argument '%s'", argv[idx + 1]);
		return DK_EXIT_USAGE;
	}
	char *parent = dk_bundle_parent(dir);
	int r = dk_bundle_open(parent, argv[idx], b);
	free(parent);
	return r < 0 ? dk_cli_fail() : 0;
}

/* Commands whose only option is --dir: -1 to go on (argv[optind] is the first operand),
 * else the exit code (help printed or usage error). */
static int parse_dir_only(const char *cmd, const struct dk_cmd_spec *spec, int argc, char **argv, const char **dir)
{
	optind = 0;
	int c;
	while ((c = dk_opt_next(spec, argc, argv)) != -1) {
		switch (c) {
		case 'D': *dir = optarg; break;
		case 'h': return dk_print_spec_help(spec);
		default: return dk_getopt_error(cmd, c, argv);
		}
	}
	return -1;
}

int dk_cmd_start(int argc, char **argv)
{
	struct dk_start_opts so = {0};
	const char *dir = NULL;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_start, argc, argv)) != -1) {
		switch (c) {
		case 'd':
			if (dk_display_parse(optarg, &so.display) < 0)
				return dk_usage_error("start", "%s", dk_errmsg());
			so.display_set = true;
			break;
		case 'a':
			if (!strcmp(optarg, "kvm"))
				so.accel = DK_ACCEL_FORCE_KVM;
			else if (!strcmp(optarg, "tcg"))
				so.accel = DK_ACCEL_FORCE_TCG;
			else if (!strcmp(optarg, "auto"))
				so.accel = DK_ACCEL_AUTO;
			else
				return dk_usage_error("start", "--accel '%s': kvm, tcg or auto", optarg);
			break;
		case 'D': dir = optarg; break;
		case 'G': so.no_grant = true; break;
		case 'h': return dk_print_spec_help(&dk_spec_start);
		default: return dk_getopt_error("start", c, argv);
		}
	}
	if (!so.display_set) {
		const char *x = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
		so.display = (x && *x) || (w && *w) ? DK_DISPLAY_GTK : DK_DISPLAY_VNC;
	}
	struct dk_bundle b;
	int rc = open_named("start", argc, argv, optind, dir, &b);
	if (rc)
		return rc;
	struct dk_start_result r;
	if (dk_vm_start(&b, &so, &r) < 0) {
		dk_bundle_close(&b);
		return dk_cli_fail();
	}
	if (dk_json_output) {
		dk_json_print(dk_vm_start_to_json(&b, &r));
	} else {
		if (r.pid)
			printf("%s: started (pid %d, %s)\n", b.name, r.pid, dk_accel_name(r.accel));
		else
			printf("%s: started in libvirt %s (%s)\n", b.name, b.uri, dk_accel_name(r.accel));
		printf("  display: %s\n", r.display);
	}
	dk_bundle_close(&b);
	return DK_EXIT_OK;
}

int dk_cmd_stop(int argc, char **argv)
{
	int timeout = 60;
	bool force = false;
	const char *dir = NULL;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_stop, argc, argv)) != -1) {
		uint64_t v;
		switch (c) {
		case 't':
			if (dk_parse_u64(optarg, &v) < 0 || v > 86400)
				return dk_usage_error("stop", "--timeout '%s': seconds", optarg);
			timeout = (int)v;
			break;
		case 'f': force = true; break;
		case 'D': dir = optarg; break;
		case 'h': return dk_print_spec_help(&dk_spec_stop);
		default: return dk_getopt_error("stop", c, argv);
		}
	}
	struct dk_bundle b;
	int rc = open_named("stop", argc, argv, optind, dir, &b);
	if (rc)
		return rc;
	bool forced = false;
	struct dk_vm_state s;
	dk_vm_state(&b, &s);
	bool was = strcmp(s.state, "stopped") != 0 && strcmp(s.state, "undefined") != 0;
	if (dk_vm_stop(&b, timeout, force, &forced) < 0) {
		dk_bundle_close(&b);
		return dk_cli_fail();
	}
	if (dk_json_output) {
		dk_json_print(dk_vm_stop_to_json(&b, was, forced));
	} else if (!was) {
		printf("%s: not running\n", b.name);
	} else {
		printf("%s: stopped%s\n", b.name, forced ? " (forced)" : "");
	}
	dk_bundle_close(&b);
	return DK_EXIT_OK;
}

int dk_cmd_list(int argc, char **argv)
{
	const char *dir = NULL;
	int rc = parse_dir_only("list", &dk_spec_list, argc, argv, &dir);
	if (rc >= 0)
		return rc;
	if (optind < argc)
		return dk_usage_error("list", "unexpected argument '%s'", argv[optind]);
	char *parent = dk_bundle_parent(dir);
	json_object *arr = NULL;
	int r = dk_vm_list(parent, &arr);
	free(parent);
	if (r < 0) {
		json_object_put(arr);
		return dk_cli_fail();
	}
	if (dk_json_output) {
		dk_json_print(arr);
		return DK_EXIT_OK;
	}
	size_t n = json_object_array_length(arr);
	if (n)
		printf("%-20s %-11s %-12s %5s %8s  %s\n", "NAME", "MODEL", "MACOS", "VCPUS", "MEMORY", "STATE");
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *v;
/* from each bundle's manifest */
#define S(k) dk_esc(json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "-")
		printf("%-20s %-11s %-12s %5s %6sMi  %s\n", S("name"), S("model"), S("macos"), S("vcpus"),
		       S("memory_mib"), S("state"));
#undef S
	}
	json_object_put(arr);
	return DK_EXIT_OK;
}

/* The manifest's "efi": kexts, SSDTs, drivers with versions and sources. */
static void print_efi(json_object *man)
{
	json_object *efi, *v;
	if (!json_object_object_get_ex(man, "efi", &efi) || !json_object_is_type(efi, json_type_object))
		return;
	if (json_object_object_get_ex(efi, "opencore", &v) && v)
		printf("\nEFI (OpenCore %s):\n", dk_esc(json_object_get_string(v)));
	else
		printf("\nEFI:\n");
	static const char *const kinds[][2] = {{"kexts", "kext"}, {"acpi", "ACPI"}, {"drivers", "driver"}, {"tools", "tool"}};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		json_object *arr;
		if (!json_object_object_get_ex(efi, kinds[k][0], &arr) || !json_object_is_type(arr, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *e = json_object_array_get_idx(arr, i), *n, *ver, *src;
			printf("  %-7s %-28s %-14s %s\n", kinds[k][1],
			       dk_esc(json_object_object_get_ex(e, "name", &n) && n ? json_object_get_string(n) : "?"),
			       dk_esc(json_object_object_get_ex(e, "version", &ver) && ver ? json_object_get_string(ver) : "-"),
			       dk_esc(json_object_object_get_ex(e, "source", &src) && src ? json_object_get_string(src) : "-"));
		}
	}
}

int dk_cmd_show(int argc, char **argv)
{
	const char *dir = NULL;
	int rc = parse_dir_only("show", &dk_spec_show, argc, argv, &dir);
	if (rc >= 0)
		return rc;
	struct dk_bundle b;
	rc = open_named("show", argc, argv, optind, dir, &b);
	if (rc)
		return rc;
	json_object *j = dk_vm_show_json(&b);
	if (dk_json_output) {
		dk_json_print(j);
	} else {
		json_object *v;
		/* the manifest is a file: its strings are shown escaped */
		printf("%s  (%s)\n", dk_esc(b.name),
		       dk_esc(json_object_object_get_ex(j, "state", &v) ? json_object_get_string(v) : "?"));
		printf("  dir       %s\n", dk_esc(b.dir));
		printf("  libvirt   %s\n", b.uri ? dk_esc(b.uri) : "not defined (QEMU runs directly)");
		json_object *sm;
		if (json_object_object_get_ex(b.manifest, "smbios", &sm)) {
			json_object *ser;
			printf("  SMBIOS    %s\n",
			       dk_esc(json_object_object_get_ex(sm, "SystemSerialNumber", &ser) ? json_object_get_string(ser) : "?"));
		}
		printf("  model     %s, macOS %s (%s)\n", dk_esc(b.plan.model), dk_esc(b.plan.macos),
		       dk_esc(b.plan.macos_version));
		printf("  CPU       -cpu %s\n", dk_esc(b.plan.cpu_arg));
		printf("  topology  %d cores x %d threads = %d vCPUs\n", b.plan.cores, b.plan.threads, b.plan.vcpus);
		printf("  memory    %llu MiB\n", (unsigned long long)b.plan.memory_mib);
		printf("  disk      %s (%s)\n", dk_esc(b.disk), dk_disk_bus_name(b.plan.disk_bus));
		if (b.volumes) {
			_cleanup_free_ char *vl = dk_strv_join(b.volumes, ", ");
			printf("  volumes   pool %s: ", dk_esc(b.pool));
			printf("%s\n", dk_esc(vl));
		}
		printf("  network   %s %s\n", dk_esc(b.plan.nic_model), dk_esc(b.plan.mac));
		print_efi(b.manifest);
		printf("\nDecisions:\n");
		_cleanup_free_ char *ex = dk_plan_explain(&b.plan);
		fputs(ex, stdout);
		json_object_put(j);
	}
	dk_bundle_close(&b);
	return DK_EXIT_OK;
}

int dk_cmd_destroy(int argc, char **argv)
{
	bool yes = false, del = false;
	const char *dir = NULL;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_destroy, argc, argv)) != -1) {
		switch (c) {
		case 'y': yes = true; break;
		case 'x': del = true; break;
		case 'D': dir = optarg; break;
		case 'h': return dk_print_spec_help(&dk_spec_destroy);
		default: return dk_getopt_error("destroy", c, argv);
		}
	}
	struct dk_bundle b;
	int rc = open_named("destroy", argc, argv, optind, dir, &b);
	if (rc)
		return rc;
	if (!yes) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr, "dkvm: destroy %s: refusing without --yes (no terminal to ask)\n", b.name);
			dk_bundle_close(&b);
			return DK_EXIT_FAIL;
		}
		fprintf(stderr, "Destroy VM %s (%s)%s%s? [y/N] ", b.name, b.dir, b.uri ? ", undefine it in " : "",
			b.uri ? b.uri : "");
		if (del)
			fprintf(stderr, "(the disk is deleted too) ");
		char line[16] = "";
		if (!fgets(line, sizeof line, stdin) || (line[0] != 'y' && line[0] != 'Y')) {
			fprintf(stderr, "dkvm: destroy %s: declined\n", b.name);
			dk_bundle_close(&b);
			return DK_EXIT_FAIL;
		}
	}
	if (dk_vm_destroy(&b, del) < 0) {
		dk_bundle_close(&b);
		return dk_cli_fail();
	}
	if (dk_json_output) {
		dk_json_print(dk_vm_destroy_to_json(&b, del));
	} else {
		printf("%s: destroyed%s%s\n", b.name, del ? "" : "; disk kept at ", del ? "" : b.disk);
	}
	dk_bundle_close(&b);
	return DK_EXIT_OK;
}
