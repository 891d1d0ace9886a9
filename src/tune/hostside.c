/* The host side of dkvm tune's write-ups (tune/hostside.h). */
#include "tune/hostside.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"
#include "util/run.h"
#include "util/strv.h"
#include "vm/plan.h"
#include "tune/pin.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NETWORKD_DIR "/etc/systemd/network/"
#define NM_DIR "/etc/NetworkManager/system-connections/"

static bool has_prefix_name(const char *p, const char *dir, const char *prefix, const char *suffix)
{
	size_t dl = strlen(dir), pl = strlen(prefix);
	if (strncmp(p, dir, dl) || strncmp(p + dl, prefix, pl))
		return false;
	const char *name = p + dl;
	return dk_name_is_safe(name) && !strchr(name, '/') && dk_endswith(name, suffix) && strlen(name) > pl + strlen(suffix);
}

/* ---- hugepages ---- */

static bool hugepages_allowed(const char *p)
{
	return !strcmp(p, DK_HUGEPAGES_SYSCTL) || dk_vfio_bootloader_file(p);
}
const struct dk_sysfile_set dk_tune_set_hugepages = {"/var/lib/dkvm/tune-hugepages.json", "tune hugepages",
						     "tune hugepages", hugepages_allowed};

uint64_t dk_hugepages_needed(uint64_t mib, bool gig)
{
	return gig ? (mib + 1023) / 1024 : (mib + 1) / 2;
}

static int read_root(const char *abs, char **out)
{
	return dk_read_system_text(abs, out, NULL) < 0 ? -1 : 0;
}

/* Plan one whole file dkvm owns (its content is ours). */
static int plan_owned(struct dk_vfio_plan *p, const char *abs, char *text, unsigned mode)
{
	char *old;
	if (read_root(abs, &old) < 0) {
		free(text);
		return -1;
	}
	int n = p->n;
	dk_sysfile_plan_add(p, abs, old, text);
	if (p->n > n)
		p->files[p->n - 1].mode = mode;
	return 0;
}

/* Kernel parameters (params, taken) through the boot loader's file, and the
 * commands to run after writing it: the loader's regeneration, then reboot. */
static int cmdline_files(const struct dk_host *h, const char *bootloader, struct dk_strv *params, const char *reboot,
			 struct dk_vfio_plan *out, struct dk_strv *cmds)
{
	out->params = dk_strv_take(params);
	if (dk_vfio_plan_bootloader(h, bootloader, out) < 0)
		return -1;
	const char *regen = dk_vfio_bootloader_regen(h, out->bootloader);
	if (out->n && regen)
		dk_strv_push(cmds, regen);
	if (out->n)
		dk_strv_push(cmds, reboot);
	return 0;
}

int dk_hugepages_files(const struct dk_host *h, const char *vm, uint64_t mib, bool gig, const char *bootloader,
		       struct dk_vfio_plan *out)
{
	memset(out, 0, sizeof *out);
	uint64_t n = dk_hugepages_needed(mib, gig);
	struct dk_strv cmds = {0};
	if (gig) {
		char buf[64];
		struct dk_strv params = {0};
		dk_strv_push(&params, "default_hugepagesz=1G");
		dk_strv_push(&params, "hugepagesz=1G");
		snprintf(buf, sizeof buf, "hugepages=%llu", (unsigned long long)n);
		dk_strv_push(&params, buf);
		if (cmdline_files(h, bootloader, &params, "reboot (1 GiB pages are reserved at boot)", out, &cmds) < 0)
			return -1;
	} else {
		char *text = dk_asprintf("# dkvm tune %s hugepages --reserve: 2 MiB hugepages for its %llu MiB of RAM\n"
					 "vm.nr_hugepages = %llu\n",
					 vm, (unsigned long long)mib, (unsigned long long)n);
		if (plan_owned(out, DK_HUGEPAGES_SYSCTL, text, 0) < 0)
			return -1;
		if (out->n)
			dk_strv_push(&cmds, "sysctl -p " DK_HUGEPAGES_SYSCTL);
	}
	out->commands = dk_strv_take(&cmds);
	return 0;
}

/* ---- pin --isolate ---- */

const struct dk_sysfile_set dk_tune_set_isolate = {"/var/lib/dkvm/tune-pin.json", "tune pin --isolate", "tune pin",
						   dk_vfio_bootloader_file};

int dk_isolate_files(const struct dk_host *h, const int *cpus, int n, const char *bootloader, struct dk_vfio_plan *out)
{
	memset(out, 0, sizeof *out);
	if (n <= 0)
		return dk_fail("pin --isolate: no vCPU is pinned, so there are no host CPUs to isolate");
	char set[512];
	dk_cpuset_format(cpus, n, set, sizeof set);
	struct dk_strv params = {0}, cmds = {0};
	static const char *const keys[] = {"isolcpus", "nohz_full", "rcu_nocbs"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		dk_strv_push_take(&params, dk_asprintf("%s=%s", keys[i], set));
	if (cmdline_files(h, bootloader, &params, "reboot (CPU isolation takes effect at boot)", out, &cmds) < 0)
		return -1;
	out->commands = dk_strv_take(&cmds);
	return 0;
}

/* ---- bridge ---- */

static bool bridge_allowed(const char *p)
{
	return !strcmp(p, DK_BRIDGE_CONF) || has_prefix_name(p, NETWORKD_DIR, "10-dkvm-", ".netdev") ||
	       has_prefix_name(p, NETWORKD_DIR, "10-dkvm-", ".network") ||
	       has_prefix_name(p, NM_DIR, "dkvm-", ".nmconnection");
}
const struct dk_sysfile_set dk_tune_set_bridge = {"/var/lib/dkvm/tune-bridge.json", "tune bridge", "tune bridge",
						  bridge_allowed};

int dk_default_uplink(char out[16])
{
	out[0] = 0;
	_cleanup_free_ char *p = dk_host_path("/proc/net/route");
	char *text;
	size_t len;
	if (dk_read_file(p, &text, &len, 1u << 20) < 0)
		return dk_fail_prefix("the default route");
	long best = -1;
	char *save = NULL;
	int line = 0;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
		char ifc[32], dst[16], gw[16], mask[16];
		unsigned flags;
		long refcnt, use, metric;
		if (line == 0 || sscanf(l, "%31s %15s %15s %x %ld %ld %ld %15s", ifc, dst, gw, &flags, &refcnt, &use, &metric,
					mask) != 8)
			continue;
		if (strcmp(dst, "00000000") || strcmp(mask, "00000000") || !(flags & 1) || !dk_ifname_ok(ifc))
			continue;
		if (best < 0 || metric < best) {
			best = metric;
			memcpy(out, ifc, strlen(ifc) + 1); /* dk_ifname_ok: at most 15 */
		}
	}
	free(text);
	if (!out[0])
		return dk_fail("%s: no default route: say which interface to bridge with --uplink IFACE", p);
	return 0;
}

char *dk_bridge_conf_edit(const char *text, const char *br)
{
	_cleanup_free_ char *want = dk_asprintf("allow %s", br);
	const char *t = text ? text : "";
	for (const char *l = t; *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);
		while (n && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r'))
			n--;
		if (n == strlen(want) && !strncmp(l, want, n))
			return dk_strdup(t);
		l = e ? e + 1 : l + strlen(l);
	}
	size_t tl = strlen(t);
	return dk_asprintf("%s%s%s\n", t, tl && t[tl - 1] != '\n' ? "\n" : "", want);
}

int dk_bridge_files(const char *br, const char *uplink, bool nm, struct dk_vfio_plan *out)
{
	memset(out, 0, sizeof *out);
	if (!dk_ifname_ok(br) || !dk_ifname_ok(uplink))
		return dk_fail("bridge: '%s': not an interface name", dk_ifname_ok(br) ? uplink : br);
	if (!strcmp(br, uplink))
		return dk_fail("bridge: the uplink is %s itself (the bridge exists already?): give the Ethernet interface with --uplink",
			       br);
	char wl[64];
	snprintf(wl, sizeof wl, "/sys/class/net/%s/wireless", uplink);
	_cleanup_free_ char *wlp = dk_host_path(wl);
	if (dk_path_exists(wlp))
		return dk_fail("bridge: %s is a Wi-Fi interface: Wi-Fi cannot be bridged (the guide: Ethernet only)", uplink);
	struct dk_strv cmds = {0};
	int rc;
	if (nm) {
		_cleanup_free_ char *a = dk_asprintf(NM_DIR "dkvm-%s.nmconnection", br);
		_cleanup_free_ char *b = dk_asprintf(NM_DIR "dkvm-%s-%s.nmconnection", br, uplink);
		rc = plan_owned(out, a,
				dk_asprintf("# dkvm tune bridge: the host bridge the VMs' NICs join\n"
					    "[connection]\nid=dkvm-%s\ntype=bridge\ninterface-name=%s\nautoconnect-priority=10\n\n"
					    "[bridge]\nstp=false\n\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n",
					    br, br),
				0600);
		if (rc == 0)
			rc = plan_owned(out, b,
					dk_asprintf("# dkvm tune bridge: %s is a port of %s (its address moves to the bridge)\n"
						    "[connection]\nid=dkvm-%s-%s\ntype=ethernet\ninterface-name=%s\n"
						    "master=%s\nslave-type=bridge\nautoconnect-priority=10\n",
						    uplink, br, br, uplink, uplink, br),
					0600);
		if (rc == 0 && out->n) {
			dk_strv_push(&cmds, "nmcli connection reload");
			char *c = dk_asprintf("nmcli connection up dkvm-%s-%s", br, uplink);
			dk_strv_push(&cmds, c);
			free(c);
		}
	} else {
		_cleanup_free_ char *a = dk_asprintf(NETWORKD_DIR "10-dkvm-%s.netdev", br);
		_cleanup_free_ char *b = dk_asprintf(NETWORKD_DIR "10-dkvm-%s.network", br);
		_cleanup_free_ char *c = dk_asprintf(NETWORKD_DIR "10-dkvm-%s.network", uplink);
		rc = plan_owned(out, a,
				dk_asprintf("# dkvm tune bridge: the host bridge the VMs' NICs join\n[NetDev]\nName=%s\nKind=bridge\n",
					    br),
				0);
		if (rc == 0)
			rc = plan_owned(out, b,
					dk_asprintf("# dkvm tune bridge: the bridge takes the host's address\n[Match]\nName=%s\n\n"
						    "[Network]\nDHCP=ipv4\n",
						    br),
					0);
		if (rc == 0)
			rc = plan_owned(out, c,
					dk_asprintf("# dkvm tune bridge: %s is a port of %s\n[Match]\nName=%s\n\n[Network]\nBridge=%s\n",
						    uplink, br, uplink, br),
					0);
		if (rc == 0 && out->n) {
			dk_strv_push(&cmds, "systemctl disable --now NetworkManager (when it manages the uplink; the guide)");
			dk_strv_push(&cmds, "systemctl enable --now systemd-networkd");
			dk_strv_push(&cmds, "networkctl reload");
		}
	}
	if (rc == 0) {
		char *old;
		if (read_root(DK_BRIDGE_CONF, &old) < 0)
			rc = -1;
		else
			dk_sysfile_plan_add(out, DK_BRIDGE_CONF, old, dk_bridge_conf_edit(old, br));
	}
	out->commands = dk_strv_take(&cmds);
	return rc;
}

/* ---- cpu governor ---- */

static bool governor_allowed(const char *p)
{
	return !strcmp(p, DK_GOVERNOR_SCRIPT) || !strcmp(p, DK_GOVERNOR_UNIT) ||
	       has_prefix_name(p, DK_GOVERNOR_HOOK_DIR, "dkvm-cpu-governor-", "");
}
const struct dk_sysfile_set dk_tune_set_governor = {"/var/lib/dkvm/tune-cpu-governor.json", "tune cpu-governor",
						    "tune cpu-governor", governor_allowed};

char *dk_governor_script(void)
{
	return dk_strdup(
		"#!/bin/sh\n"
		"# dkvm tune NAME cpu-governor: the performance CPU governor while a VM runs.\n"
		"#   dkvm-cpu-governor start   the first start saves every CPU's governor, then sets performance\n"
		"#   dkvm-cpu-governor stop    the last stop restores the saved governors\n"
		"# DKVM_SYSFS and DKVM_GOVERNOR_STATE move /sys and the state directory (tests).\n"
		"set -eu\n"
		"cpus=${DKVM_SYSFS:-/sys}/devices/system/cpu\n"
		"state=${DKVM_GOVERNOR_STATE:-/run/dkvm-cpu-governor}\n"
		"count=$(cat \"$state/count\" 2>/dev/null || echo 0)\n"
		"case $count in '' | *[!0-9]*) count=0 ;; esac\n"
		"case ${1:-} in\n"
		"start)\n"
		"\tmkdir -p \"$state\"\n"
		"\tif [ \"$count\" -eq 0 ]; then\n"
		"\t\t: >\"$state/saved.new\"\n"
		"\t\tfor g in \"$cpus\"/cpu[0-9]*/cpufreq/scaling_governor; do\n"
		"\t\t\tif [ -f \"$g\" ]; then\n"
		"\t\t\t\tprintf '%s %s\\n' \"${g#\"$cpus\"/}\" \"$(cat \"$g\")\" >>\"$state/saved.new\"\n"
		"\t\t\tfi\n"
		"\t\tdone\n"
		"\t\tmv \"$state/saved.new\" \"$state/saved\"\n"
		"\tfi\n"
		"\techo $((count + 1)) >\"$state/count\"\n"
		"\tfor g in \"$cpus\"/cpu[0-9]*/cpufreq/scaling_governor; do\n"
		"\t\tif [ -f \"$g\" ]; then\n"
		"\t\t\techo performance >\"$g\"\n"
		"\t\tfi\n"
		"\tdone\n"
		"\t;;\n"
		"stop)\n"
		"\tif [ \"$count\" -gt 1 ]; then\n"
		"\t\techo $((count - 1)) >\"$state/count\"\n"
		"\t\texit 0\n"
		"\tfi\n"
		"\tif [ -f \"$state/saved\" ]; then\n"
		"\t\twhile read -r cpu gov; do\n"
		"\t\t\tcase $cpu in *..* | *[!a-z0-9_/]*) continue ;; cpu[0-9]*/cpufreq/scaling_governor) ;; *) continue ;; esac\n"
		"\t\t\tcase $gov in '' | *[!a-z0-9_-]*) continue ;; esac\n"
		"\t\t\tif [ -f \"$cpus/$cpu\" ]; then\n"
		"\t\t\t\techo \"$gov\" >\"$cpus/$cpu\"\n"
		"\t\t\tfi\n"
		"\t\tdone <\"$state/saved\"\n"
		"\tfi\n"
		"\trm -f \"$state/saved\" \"$state/count\"\n"
		"\t;;\n"
		"*)\n"
		"\techo \"usage: $0 start|stop\" >&2\n"
		"\texit 2\n"
		"\t;;\n"
		"esac\n");
}

/* A VM name as a systemd instance name and a shell word without quoting. */
static bool plain_name(const char *vm)
{
	size_t n = strlen(vm);
	return n && n <= 200 && vm[0] != '.' && vm[0] != '-' &&
	       strspn(vm, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._") == n;
}

int dk_governor_files(const char *vm, bool libvirt, struct dk_vfio_plan *out)
{
	memset(out, 0, sizeof *out);
	if (!plain_name(vm))
		return dk_fail("cpu-governor: VM name '%s': the hook and unit need [A-Za-z0-9._] only", vm);
	if (plan_owned(out, DK_GOVERNOR_SCRIPT, dk_governor_script(), 0755) < 0)
		return -1;
	if (plan_owned(out, DK_GOVERNOR_UNIT,
		       dk_strdup("# dkvm tune NAME cpu-governor: dkvm start NAME starts dkvm-cpu-governor@NAME, dkvm stop stops it\n"
				 "[Unit]\nDescription=dkvm: performance CPU governor while VM %i runs\n\n"
				 "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
				 "ExecStart=" DK_GOVERNOR_SCRIPT " start\nExecStop=" DK_GOVERNOR_SCRIPT " stop\n"),
		       0644) < 0)
		return -1;
	struct dk_strv cmds = {0};
	if (libvirt) {
		_cleanup_free_ char *hook = dk_asprintf(DK_GOVERNOR_HOOK_DIR "dkvm-cpu-governor-%s", vm);
		char *text = dk_asprintf("#!/bin/sh\n"
					 "# dkvm tune %s cpu-governor: libvirt runs every qemu.d hook for every domain\n"
					 "[ \"$1\" = %s ] || exit 0\n"
					 "case $2 in\n"
					 "prepare) exec " DK_GOVERNOR_SCRIPT " start ;;\n"
					 "release) exec " DK_GOVERNOR_SCRIPT " stop ;;\n"
					 "esac\n"
					 "exit 0\n",
					 vm, vm);
		int before = out->n;
		if (plan_owned(out, hook, text, 0755) < 0)
			return -1;
		if (out->n > before)
			dk_strv_push(&cmds, "systemctl restart libvirtd (it reads qemu.d hooks at start)");
	}
	if (out->n)
		dk_strv_push(&cmds, "systemctl daemon-reload");
	out->commands = dk_strv_take(&cmds);
	return 0;
}

int dk_governor_run(const char *vm, bool start)
{
	if (!plain_name(vm))
		return dk_fail("cpu-governor: VM name '%s' is not a unit instance name", vm);
	_cleanup_free_ char *unit = dk_asprintf("dkvm-cpu-governor@%s.service", vm);
	char *argv[] = {"systemctl", "--no-ask-password", start ? "start" : "stop", unit, NULL};
	struct dk_run_opts o = {.timeout_ms = 30000, .err_max = 4096, .search_path = true};
	struct dk_cmd_result r;
	if (dk_run_argv(argv, &o, &r) < 0) {
		dk_cmd_result_free(&r);
		return -1;
	}
	int rc = 0;
	if (r.status != 0) {
		char *nl = r.err ? strchr(r.err, '\n') : NULL;
		if (nl)
			*nl = 0;
		rc = dk_fail("systemctl %s %s: %s", start ? "start" : "stop", unit,
			     r.err && r.err[0] ? r.err : r.exec_errno ? "cannot run systemctl" : "failed");
	}
	dk_cmd_result_free(&r);
	return rc;
}

/* ---- evdev ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void dk_evdev_find(char kbd[160], char mouse[160])
{
	kbd[0] = mouse[0] = 0;
	_cleanup_free_ char *dir = dk_host_path("/dev/input/by-id");
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dk_strv names = {0};
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			dk_strv_push(&names, e->d_name);
	closedir(d);
	qsort(names.v, names.n, sizeof names.v[0], cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		char path[200];
		snprintf(path, sizeof path, "/dev/input/by-id/%s", names.v[i]);
		if (!dk_evdev_path_ok(path))
			continue;
		char *dst = !kbd[0] && dk_endswith(path, "-event-kbd")	   ? kbd
			    : !mouse[0] && dk_endswith(path, "-event-mouse") ? mouse
									      : NULL;
		if (dst)
			memcpy(dst, path, strlen(path) + 1); /* dk_evdev_path_ok: under 160 */
	}
	dk_strv_clear(&names);
}
