/* dkvm tune: write-ups as plan edits, re-rendered, kept and undone (vm/tune.h). */
#include "vm/tune.h"
#include "util/diff.h"
#include "vm/vm.h"
#include "vm/facts.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"
#include "util/strv.h"
#include "tune/hostside.h"
#include "tune/ocedit.h"
#include "smbios/memmap.h"

#include <dirent.h>
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the write-ups ---- */

static int apply_pin(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	if (p->accel != DK_ACCEL_KVM && !a->off)
		return dk_fail("%s: pinning needs KVM (a TCG guest's threads are not vCPUs)", p->name);
	if (dk_plan_set_pin(p, c->host, !a->off) < 0)
		return -1;
	if (!a->off && !p->n_pin) {
		for (int i = 0; i < p->n_why; i++)
			if (!strcmp(p->why[i].key, "pinning"))
				return dk_fail("%s: cannot pin: %s", p->name, p->why[i].reason);
		return dk_fail("%s: cannot pin", p->name);
	}
	return 0;
}

/* pin --isolate: the pinned host CPUs off the host's scheduler, timer tick
 * and RCU callbacks (kernel command line); nothing without --isolate. */
static int host_pin(const struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a,
		    struct dk_vfio_plan *out)
{
	memset(out, 0, sizeof *out);
	if (!a->isolate)
		return 0;
	return dk_isolate_files(c->host, p->pin, p->n_pin, a->bootloader, out);
}

static int apply_iothreads(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	return dk_plan_set_iothreads(p, c->host, !a->off);
}

static int apply_hugepages(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	dk_plan_set_hugepages(p, !a->off);
	p->hugepage_mib = !a->off && a->gig ? 1024 : 0;
	if (p->hugepage_mib) {
		char v[64];
		snprintf(v, sizeof v, "%llu x 1 GiB pages", (unsigned long long)dk_hugepages_needed(p->memory_mib, true));
		dk_plan_note(p, "hugepages", v, "guest RAM on 1 GiB hugepages, reserved at boot on the kernel command line");
	}
	return 0;
}

static int host_hugepages(const struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a,
			  struct dk_vfio_plan *out)
{
	memset(out, 0, sizeof *out);
	if (!a->reserve)
		return 0;
	return dk_hugepages_files(c->host, p->name, p->memory_mib, a->gig, a->bootloader, out);
}

static int apply_evdev(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	p->n_evdev = 0;
	p->grab_toggle[0] = 0;
	if (a->off)
		return 0;
	const char *tg = a->toggle ? a->toggle : "ctrl-ctrl";
	if (!dk_grab_toggle_ok(tg))
		return dk_fail("evdev --toggle '%s': one of ctrl-ctrl, alt-alt, shift-shift, meta-meta, scrolllock, ctrl-scrolllock",
			       tg);
	char kbd[160], mouse[160];
	const char *dev[DK_PLAN_MAX_EVDEV];
	int n = 0;
	if (a->n_devices) {
		for (int i = 0; i < a->n_devices; i++)
			dev[n++] = a->devices[i];
	} else {
		dk_evdev_find(kbd, mouse);
		if (kbd[0])
			dev[n++] = kbd;
		if (mouse[0])
			dev[n++] = mouse;
		if (!n) {
			_cleanup_free_ char *dir = dk_host_path("/dev/input/by-id");
			return dk_fail("evdev: no keyboard or mouse in %s (names ending -event-kbd, -event-mouse): give --device PATH",
				       dir);
		}
	}
	for (int i = 0; i < n; i++) {
		if (!dk_evdev_path_ok(dev[i]))
			return dk_fail("evdev --device '%s': not a /dev/input/ path (letters, digits, ._:@+-/ only)", dev[i]);
		_cleanup_free_ char *hp = dk_host_path(dev[i]);
		if (!dk_path_exists(hp))
			return dk_fail("evdev: %s: no such device", hp);
		/* libvirt adds an evdev source to the domain's device cgroup and
		 * labels it at start; dkvm start runs QEMU as the user, who needs
		 * the device itself (root:input 0660 on Debian). */
		if (!c->libvirt && access(hp, R_OK | W_OK) < 0)
			dk_warn("evdev: %s: not readable by you, so dkvm start cannot open it: join group input "
				"(sudo usermod -aG input $USER, then log in again) or run the VM through libvirt",
				dev[i]);
		snprintf(p->evdev[p->n_evdev++], sizeof p->evdev[0], "%s", dev[i]);
	}
	snprintf(p->grab_toggle, sizeof p->grab_toggle, "%s", tg);
	char v[256];
	snprintf(v, sizeof v, "%d device%s, grab toggle %s", n, n == 1 ? "" : "s", tg);
	dk_plan_note(p, "evdev", v,
		     "host keyboard/mouse read by QEMU (input-linux): the first grabs all of them; the toggle switches host and guest (guide 8.6)");
	return 0;
}

static int apply_bridge(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	snprintf(p->bridge, sizeof p->bridge, "%s", a->off ? "" : "br0");
	if (!a->off)
		dk_plan_note(p, "network", "bridge br0",
			     "the NIC on the host bridge br0: the guest gets an address on the LAN (guide 8.12)");
	return 0;
}

static int host_bridge(const struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a,
		       struct dk_vfio_plan *out)
{
	memset(out, 0, sizeof *out);
	char up[16];
	if (a->uplink) {
		if (!dk_ifname_ok(a->uplink))
			return dk_fail("bridge --uplink '%s': not an interface name", a->uplink);
		snprintf(up, sizeof up, "%s", a->uplink);
	} else if (dk_default_uplink(up) < 0) {
		return -1;
	}
	return dk_bridge_files("br0", up, a->nm, out);
}

static int apply_governor(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	p->cpu_governor = !a->off;
	if (!a->off)
		dk_plan_note(p, "cpu_governor", "performance while running",
			     "the host's CPUs on the performance governor while the VM runs, the previous one restored after (guide 8.13)");
	return 0;
}

static int host_governor(const struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a,
			 struct dk_vfio_plan *out)
{
	return dk_governor_files(p->name, c->libvirt, out);
}

static int apply_fake_cores(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	bool pinned = p->n_pin > 0;
	if (a->off) {
		if (!p->vcpus_current)
			return 0;
		/* back to the largest plain topology within the enabled vCPUs */
		int cores = 1;
		while (cores * 2 * p->threads <= p->vcpus_current)
			cores *= 2;
		p->cores = cores;
		p->vcpus = cores * p->threads;
		p->vcpus_current = 0;
		dk_plan_note(p, "topology", "plain", "fake core count off: the largest power-of-two core count within the enabled vCPUs");
	} else {
		if (a->cpus <= 0)
			return dk_fail("fake-cores: --cpus N (the vCPUs to enable) is required");
		if (dk_plan_set_fake_cores(p, c->host, a->cpus) < 0)
			return -1;
	}
	return pinned ? dk_plan_set_pin(p, c->host, true) : 0;
}

/* gpu|usb-controller|audio BDF: the device passed through as create does it. */
static int apply_device(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a, const char *what)
{
	if (a->off)
		return dk_fail("%s --off: take devices out with dkvm tune %s undo", what, p->name);
	if (!a->pos || !a->pos[0] || a->pos[1])
		return dk_fail("%s: give one PCI address (dkvm host iommu lists them)", what);
	struct dk_plan_opts o = {.force_devices = c->force};
	if (!strcmp(what, "gpu"))
		o.gpu = a->pos[0];
	else if (!strcmp(what, "audio"))
		o.audio = a->pos[0];
	else {
		o.usb[0] = a->pos[0];
		o.n_usb = 1;
	}
	return dk_plan_add_passthrough(c->facts, &o, p);
}
static int apply_gpu(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	return apply_device(p, c, a, "gpu");
}
static int apply_usb(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	return apply_device(p, c, a, "usb-controller");
}
static int apply_audio(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	return apply_device(p, c, a, "audio");
}

/* ---- the OpenCore-side write-ups ---- */

struct dk_cfgedit {
	const struct dk_tune_args *args;
	plist_t memory;               /* memory-map: PlatformInfo/Memory */
	char cpuname[64];             /* restrict-events: revcpuname ("" none) */
	int (*edit)(plist_t config, const struct dk_cfgedit *ce);
};

static int prep_memory_map(const struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a,
			   struct dk_cfgedit *ce, struct dk_tune_result *r)
{
	if (a->off)
		return 0;
	return dk_memory_map_from(a->from, p->memory_mib, &ce->memory, r->note, sizeof r->note);
}

static int edit_memory_map(plist_t config, const struct dk_cfgedit *ce)
{
	return dk_oc_set_memory(config, ce->args->off ? NULL : plist_copy(ce->memory));
}

static int apply_restrict_events(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a)
{
	p->restrict_events = !a->off;
	return 0;
}

static int prep_restrict_events(const struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a,
				struct dk_cfgedit *ce, struct dk_tune_result *r)
{
	if (!a->off)
		dk_cpu_brand_clean(c->host->cpu.model_name, ce->cpuname, sizeof ce->cpuname);
	return 0;
}

static int edit_restrict_events(plist_t config, const struct dk_cfgedit *ce)
{
	return dk_oc_set_restrict_events(config, !ce->args->off, ce->cpuname);
}

const struct dk_writeup dk_writeups[] = {
	{"pin", "[--isolate [--bootloader NAME]] [--off]", "pin vCPUs to host cores (SMT siblings paired, CPU 0's core left to the host, one NUMA node and L3 domain, guest RAM on that node), emulator and IO thread on leftover cores; --isolate: isolcpus/nohz_full/rcu_nocbs for them",
	 true, apply_pin, host_pin, &dk_tune_set_isolate},
	{"iothreads", "[--off]", "virtio disks on a dedicated IO thread", false, apply_iothreads},
	{"hugepages", "[--reserve [--size 1G]] [--off]", "guest RAM on the host's hugepages; --reserve: the host's reservation (sysctl, or the kernel command line for 1 GiB pages)",
	 false, apply_hugepages, host_hugepages, &dk_tune_set_hugepages},
	{"fake-cores", "--cpus N | --off", "enable N vCPUs of a power-of-two topology (8 or 16 cores x 2 threads), the guide's fake core count",
	 false, apply_fake_cores},
	{"gpu", "BDF", "pass a GPU through (every function of the card, one guest slot; the guide's chart and IOMMU checks as at create)",
	 false, apply_gpu},
	{"usb-controller", "BDF", "pass a host USB (xHCI) controller through", false, apply_usb},
	{"audio", "BDF", "pass the motherboard's HD audio controller through", false, apply_audio},
	{"evdev", "[--device PATH]... [--toggle KEYS] [--off]", "host keyboard and mouse from /dev/input/by-id, grabbed by the guest (grab toggle)",
	 false, apply_evdev},
	{"bridge", "[--uplink IFACE] [--nm] [--off]", "the NIC on host bridge br0 (systemd-networkd or NetworkManager files, the bridge helper's ACL)",
	 false, apply_bridge, host_bridge, &dk_tune_set_bridge},
	{"cpu-governor", "[--off]", "the performance CPU governor while the VM runs (libvirt hook or systemd unit)", true,
	 apply_governor, host_governor, &dk_tune_set_governor},
	{"memory-map", "[--from auto|dmi|guide] [--off]", "OpenCore PlatformInfo/Memory (CustomMemory) from the host's DMI type 17, scaled to the guest (guide 8.1)",
	 false, NULL, NULL, NULL, prep_memory_map, edit_memory_map},
	{"restrict-events", "[--off]", "RestrictEvents in the EFI with revpatch=memtab,pci,cpuname and the host CPU's name (guide 8.8)",
	 false, apply_restrict_events, NULL, NULL, prep_restrict_events, edit_restrict_events},
	{"display-override", "--edid FILE | --connector NAME [--off]", "a macOS display override (no TV mode, HiDPI modes) from an EDID, written in the bundle to copy into the guest (guide 8.11)",
	 true, NULL, NULL, NULL, NULL, NULL, true},
};
const int dk_writeup_count = (int)(sizeof dk_writeups / sizeof dk_writeups[0]);

const struct dk_writeup *dk_writeup_find(const char *name)
{
	for (int i = 0; name && i < dk_writeup_count; i++)
		if (!strcmp(dk_writeups[i].name, name))
			return &dk_writeups[i];
	return NULL;
}

/* ---- rendering ---- */

char *dk_vm_argv_file(const struct dk_plan *p, const struct dk_vm_files *f)
{
	struct dk_qemu_opts qo = {.display = DK_DISPLAY_GTK, .direct_io = true, .serial_file = false};
	struct dk_argv a;
	if (dk_qemu_argv(p, f, &qo, &a) < 0)
		return NULL;
	char *sh = dk_argv_to_shell(&a);
	dk_argv_free(&a);
	char *full = dk_asprintf("#!/bin/sh\n# QEMU command line of VM %s (dkvm %s)\nexec %s", p->name, DKVM_VERSION, sh);
	free(sh);
	return full;
}

/* ---- unified diff ---- */

void dk_unified_diff(const char *name, const char *ta, const char *tb, char **out)
{
	_cleanup_free_ char *la = dk_asprintf("a/%s", name), *lb = dk_asprintf("b/%s", name);
	_cleanup_free_ char *d = dk_udiff(ta ? ta : "", tb ? tb : "", la, lb);
	if (!d || !*d)
		return;
	char *joined = dk_strjoin(*out ? *out : "", d);
	free(*out);
	*out = joined;
}

/* ---- the bundle's files ---- */

struct version {
	char *manifest, *xml, *argv; /* file contents (argv may be NULL: absent) */
	size_t manifest_len, xml_len, argv_len;
};

static void version_free(struct version *v)
{
	free(v->manifest);
	free(v->xml);
	free(v->argv);
	memset(v, 0, sizeof *v);
}

static int read_opt(const char *dir, const char *file, char **data, size_t *len, bool required)
{
	_cleanup_free_ char *p = dk_asprintf("%s/%s", dir, file);
	if (!required && !dk_path_exists(p)) {
		*data = NULL;
		*len = 0;
		return 0;
	}
	return dk_read_file(p, data, len, 16 << 20);
}

static int version_read(const char *dir, struct version *v)
{
	memset(v, 0, sizeof *v);
	if (read_opt(dir, "manifest.json", &v->manifest, &v->manifest_len, true) < 0 ||
	    read_opt(dir, "domain.xml", &v->xml, &v->xml_len, false) < 0 ||
	    read_opt(dir, "qemu.argv", &v->argv, &v->argv_len, false) < 0) {
		version_free(v);
		return -1;
	}
	return 0;
}

static void sha_hex(const void *d, size_t n, char out[65])
{
	uint8_t h[32];
	dk_sha256(d, n, h);
	dk_hex(h, 32, out);
}

/* domain.xml and qemu.argv as dkvm last wrote them: the manifest's SHA-256s,
 * or (a bundle from before they were kept) the rendering of its plan. */
static int check_hand_edits(struct dk_bundle *b, const struct version *cur, const char *xml_now, const char *argv_now,
			    bool force)
{
	const char *names[2] = {"domain.xml", "qemu.argv"};
	const char *data[2] = {cur->xml, cur->argv};
	size_t lens[2] = {cur->xml_len, cur->argv_len};
	const char *rendered[2] = {xml_now, argv_now};
	json_object *files = NULL;
	json_object_object_get_ex(b->manifest, "files", &files);
	for (int i = 0; i < 2; i++) {
		if (!data[i])
			continue;
		const char *want = files ? dk_json_get_str(files, names[i]) : NULL;
		bool same;
		if (want) {
			char got[65];
			sha_hex(data[i], lens[i], got);
			same = !strcmp(got, want);
		} else {
			same = rendered[i] && strlen(rendered[i]) == lens[i] && !memcmp(rendered[i], data[i], lens[i]);
		}
		if (!same && !force)
			return dk_fail("%s: %s/%s was edited since dkvm wrote it (its SHA-256 is not the manifest's); "
				       "tune would overwrite the edit: nothing changed (move the edit out, or --force to discard it)",
				       b->name, b->dir, names[i]);
	}
	return 0;
}

static int next_version(const char *dir, int *last)
{
	_cleanup_free_ char *td = dk_asprintf("%s/.tune", dir);
	*last = 0;
	DIR *d = opendir(td);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && !*end && v > *last && v < 1000000)
			*last = (int)v;
	}
	closedir(d);
	return 0;
}

static int write_version(const char *dir, const struct version *v)
{
	_cleanup_free_ char *m = dk_asprintf("%s/manifest.json", dir);
	_cleanup_free_ char *x = dk_asprintf("%s/domain.xml", dir);
	_cleanup_free_ char *a = dk_asprintf("%s/qemu.argv", dir);
	if (v->xml && dk_write_file_atomic(x, v->xml, v->xml_len, true, 0600) < 0)
		return -1;
	if (v->argv && dk_write_file_atomic(a, v->argv, v->argv_len, true, 0700) < 0)
		return -1;
	return dk_write_file_atomic(m, v->manifest, v->manifest_len, true, 0600);
}

static bool running(const struct dk_bundle *b)
{
	struct dk_vm_state s;
	if (dk_vm_state(b, &s) < 0) {
		dk_errclear();
		return false;
	}
	return !strcmp(s.state, "running") || !strcmp(s.state, "paused");
}

static bool defined_in_libvirt(const struct dk_bundle *b)
{
	json_object *lv = NULL, *d = NULL;
	return b->uri && json_object_object_get_ex(b->manifest, "libvirt", &lv) &&
	       json_object_object_get_ex(lv, "defined", &d) && json_object_get_boolean(d);
}

void dk_tune_result_free(struct dk_tune_result *r)
{
	free(r->diff);
	dk_strv_free(r->commands);
	memset(r, 0, sizeof *r);
}

/* ---- bundle files a version keeps beside manifest/domain/argv ----
 * OpenCore.img, config.plist (and their .prev from an earlier update):
 * moved into the version, moved back by undo; config.plist.absent: there was
 * none. display.path (a path under the bundle) + display.prev (its old
 * content; absent: the file was new). */

static char *efi_file(const struct dk_bundle *b, int i, bool prev)
{
	return i == 0 ? dk_asprintf("%s%s", b->opencore, prev ? ".prev" : "")
		      : dk_asprintf("%s/config.plist%s", b->dir, prev ? ".prev" : "");
}
static const char *const efi_names[2] = {"OpenCore.img", "config.plist"};

static int move(const char *from, const char *to)
{
	if (rename(from, to) < 0)
		return dk_fail_errno("%s -> %s", from, to);
	return 0;
}

static int undo_files(struct dk_bundle *b, const char *vd, bool dry_run, char **diff)
{
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *kept = dk_asprintf("%s/%s", vd, efi_names[i]);
		_cleanup_free_ char *kprev = dk_asprintf("%s/%s.prev", vd, efi_names[i]);
		_cleanup_free_ char *now = efi_file(b, i, false), *nprev = efi_file(b, i, true);
		if (i == 1 && dk_path_exists(kept)) {
			char *x = NULL, *y = NULL;
			size_t xl, yl;
			if (dk_read_file(now, &x, &xl, 16 << 20) == 0 && dk_read_file(kept, &y, &yl, 16 << 20) == 0)
				dk_unified_diff("config.plist", x, y, diff);
			dk_errclear();
			free(x);
			free(y);
		}
		if (dry_run)
			continue;
		if (dk_path_exists(kept) && move(kept, now) < 0)
			return -1;
		if (dk_path_exists(kprev) && move(kprev, nprev) < 0)
			return -1;
		_cleanup_free_ char *absent = dk_asprintf("%s/%s.absent", vd, efi_names[i]);
		if (dk_path_exists(absent) && unlink(now) < 0 && errno != ENOENT)
			return dk_fail_errno("%s", now);
	}
	_cleanup_free_ char *dp = dk_asprintf("%s/display.path", vd);
	if (!dk_path_exists(dp))
		return 0;
	char *rel = NULL, *old = NULL, *curx = NULL;
	size_t rl, ol = 0, cl;
	int rc = dk_read_file(dp, &rel, &rl, 4096);
	if (rc == 0 && (strstr(rel, "..") || rel[0] == '/' || strncmp(rel, "display-overrides/", 18)))
		rc = dk_fail("%s: not a display override path", dp);
	_cleanup_free_ char *target = rc == 0 ? dk_asprintf("%s/%s", b->dir, rel) : NULL;
	_cleanup_free_ char *prev = dk_asprintf("%s/display.prev", vd);
	bool had = dk_path_exists(prev);
	if (rc == 0 && had)
		rc = dk_read_file(prev, &old, &ol, 1 << 20);
	if (rc == 0) {
		if (dk_read_file(target, &curx, &cl, 1 << 20) < 0)
			dk_errclear();
		dk_unified_diff(rel, curx ? curx : "", old ? old : "", diff);
	}
	if (rc == 0 && !dry_run) {
		if (had) {
			rc = dk_write_file_atomic(target, old, ol, true, 0644);
		} else if (unlink(target) < 0 && errno != ENOENT) {
			rc = dk_fail_errno("%s", target);
		} else {
			/* the folders it made, when empty */
			char *s = strrchr(target, '/');
			for (int k = 0; s && k < 2; k++, s = strrchr(target, '/')) {
				*s = 0;
				rmdir(target);
			}
		}
	}
	free(rel);
	free(old);
	free(curx);
	return rc;
}

static int tune_undo(const struct dk_tune_opts *o, struct dk_bundle *b, const struct version *cur, void *conn,
		     const struct dk_virt_caps *caps, struct dk_tune_result *r)
{
	int last;
	next_version(b->dir, &last);
	if (!last)
		return dk_fail("%s: nothing to undo (no earlier version in %s/.tune)", b->name, b->dir);
	_cleanup_free_ char *vd = dk_asprintf("%s/.tune/%d", b->dir, last);
	struct version old;
	if (version_read(vd, &old) < 0)
		return dk_fail_prefix("%s: the kept version %d", b->name, last);
	r->version = last;
	r->changed = true;
	dk_unified_diff("domain.xml", cur->xml ? cur->xml : "", old.xml ? old.xml : "", &r->diff);
	dk_unified_diff("qemu.argv", cur->argv ? cur->argv : "", old.argv ? old.argv : "", &r->diff);
	int rc = undo_files(b, vd, o->dry_run, &r->diff);
	if (rc == 0 && !o->dry_run) {
		if (conn && old.xml && dk_virt_define(conn, old.xml) < 0)
			rc = -1;
		else
			r->redefined = conn && old.xml;
		if (rc == 0 && (write_version(b->dir, &old) < 0 || dk_rm_rf(vd) < 0))
			rc = -1;
	}
	(void)caps;
	version_free(&old);
	return rc;
}

/* Keep the current version byte-exact in .tune/<n>, redefine, write the new one. */
static int tune_commit(struct dk_bundle *bp, const struct version *cur, void *conn, json_object *pj_new,
		       const char *xml_new, const char *argv_new, struct dk_tune_result *r)
{
	int last;
	next_version(bp->dir, &last);
	_cleanup_free_ char *vd = dk_asprintf("%s/.tune/%d", bp->dir, last + 1);
	if (dk_mkdir_p(vd, 0700) < 0 || write_version(vd, cur) < 0) {
		json_object_put(pj_new);
		dk_rm_rf(vd);
		return -1;
	}
	r->version = last + 1;
	if (conn && dk_virt_define(conn, xml_new) < 0) {
		json_object_put(pj_new);
		dk_rm_rf(vd);
		return -1;
	}
	r->redefined = conn != NULL;
	json_object_object_add(bp->manifest, "plan", pj_new);
	json_object *fj = json_object_new_object();
	char hx[65];
	sha_hex(xml_new, strlen(xml_new), hx);
	json_object_object_add(fj, "domain.xml", json_object_new_string(hx));
	sha_hex(argv_new, strlen(argv_new), hx);
	json_object_object_add(fj, "qemu.argv", json_object_new_string(hx));
	json_object_object_add(bp->manifest, "files", fj);
	const char *ms = json_object_to_json_string_ext(bp->manifest, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	_cleanup_free_ char *mtxt = dk_strjoin(ms, "\n");
	struct version nv = {.manifest = mtxt, .manifest_len = strlen(mtxt), .xml = (char *)xml_new,
			     .xml_len = strlen(xml_new), .argv = (char *)argv_new, .argv_len = strlen(argv_new)};
	return write_version(bp->dir, &nv);
}

/* The write-up's system files: planned (diffs into r->diff), written with
 * --apply (not with --dry-run); --off restores what its manifest recorded. */
static int tune_host(const struct dk_writeup *w, const struct dk_plan *np, const struct dk_tune_ctx *ctx,
		     const struct dk_tune_opts *o, struct dk_tune_result *r)
{
	struct dk_vfio_plan hp = {0};
	int rc;
	if (o->args.off) {
		_cleanup_free_ char *mp = dk_root_path(w->set->manifest);
		rc = dk_path_exists(mp) ? dk_sysfiles_undo_plan(w->set, &hp) : 0;
	} else {
		rc = w->host(np, ctx, &o->args, &hp);
	}
	if (rc < 0) {
		dk_vfio_plan_free(&hp);
		return -1;
	}
	for (int i = 0; i < hp.n; i++) {
		char *j = dk_strjoin(r->diff, hp.files[i].diff);
		free(r->diff);
		r->diff = j;
	}
	r->host_changed = hp.n > 0;
	if (hp.n && o->apply && !o->dry_run) {
		rc = o->args.off ? dk_sysfiles_undo_apply(w->set, &hp) : dk_sysfiles_apply(w->set, &hp);
		r->host_applied = rc == 0;
	}
	if (rc == 0 && !o->args.off) {
		r->commands = hp.commands;
		hp.commands = NULL;
	}
	dk_vfio_plan_free(&hp);
	return rc;
}

static int efi_edit(plist_t config, void *x)
{
	const struct dk_cfgedit *ce = x;
	return ce->edit(config, ce);
}

/* The domain files of a new version (NULL: the write-up leaves them). */
struct domain_new {
	const char *xml, *argv;
	void *conn;                   /* libvirt: redefined from xml */
};

/* Back to the version kept in vd after a failure past the EFI rebuild. */
static void efi_rollback(struct dk_bundle *b, const char *vd, const struct version *cur)
{
	char msg[DK_ERRMSG_MAX];
	snprintf(msg, sizeof msg, "%s", dk_errmsg());
	char *d = NULL;
	if (undo_files(b, vd, false, &d) == 0 && write_version(b->dir, cur) == 0)
		dk_rm_rf(vd);
	free(d);
	dk_fail("%s (the VM is unchanged)", msg);
}

/* The write-ups that rebuild the EFI: the plan (restrict-events, a passed
 * device) and config.plist edited (ce; NULL: the plan alone decides), the
 * image rebuilt by dk_vm_efi_rebuild() with the bundle's own release and
 * kext versions; dn: the domain files the edited plan renders. The version
 * keeps the previous image and config (and any .prev an earlier update left)
 * for undo. */
static int tune_efi(const struct dk_tune_opts *o, const struct dk_writeup *w, struct dk_bundle *b,
		    const struct version *cur, struct dk_plan *np, struct dk_cfgedit *ce, const struct domain_new *dn,
		    struct dk_tune_result *r)
{
	json_object *pj_old = dk_plan_to_json(&b->plan), *pj_new = dk_plan_to_json(np);
	bool plan_changed = strcmp(json_object_to_json_string(pj_old), json_object_to_json_string(pj_new)) != 0;
	json_object_put(pj_old);
	b->plan = *np;
	json_object_object_add(b->manifest, "plan", pj_new);
	if (dn) {
		json_object *fj = json_object_new_object();
		char hx[65];
		sha_hex(dn->xml, strlen(dn->xml), hx);
		json_object_object_add(fj, "domain.xml", json_object_new_string(hx));
		sha_hex(dn->argv, strlen(dn->argv), hx);
		json_object_object_add(fj, "qemu.argv", json_object_new_string(hx));
		json_object_object_add(b->manifest, "files", fj);
	}
	int last;
	next_version(b->dir, &last);
	_cleanup_free_ char *vd = dk_asprintf("%s/.tune/%d", b->dir, last + 1);
	bool moved[2] = {false, false};
	if (!o->dry_run) {
		if (dk_mkdir_p(vd, 0700) < 0 || write_version(vd, cur) < 0) {
			dk_rm_rf(vd);
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			_cleanup_free_ char *prev = efi_file(b, i, true);
			_cleanup_free_ char *keep = dk_asprintf("%s/%s.prev", vd, efi_names[i]);
			if (dk_path_exists(prev)) {
				if (move(prev, keep) < 0)
					goto fail;
				moved[i] = true;
			}
		}
	}
	if (ce)
		ce->edit = w->edit;
	struct dk_efi_rebuild_opts ro = {.current = true, .dry_run = o->dry_run, .edit = ce ? efi_edit : NULL, .edit_ctx = ce};
	struct dk_efi_rebuild_result rr;
	if (dk_vm_efi_rebuild(b, &ro, &rr) < 0) {
		dk_efi_rebuild_result_free(&rr);
		goto fail;
	}
	if (rr.diff && *rr.diff) {
		char *j = dk_strjoin(r->diff, rr.diff);
		free(r->diff);
		r->diff = j;
	}
	r->changed = rr.changed || plan_changed;
	bool applied = rr.applied;
	dk_efi_rebuild_result_free(&rr);
	if (o->dry_run)
		return 0;
	if (!r->changed) {
		for (int i = 0; i < 2; i++) {
			_cleanup_free_ char *prev = efi_file(b, i, true);
			_cleanup_free_ char *keep = dk_asprintf("%s/%s.prev", vd, efi_names[i]);
			if (moved[i] && move(keep, prev) < 0)
				return -1;
		}
		dk_rm_rf(vd);
		return 0;
	}
	if (applied) {
		for (int i = 0; i < 2; i++) {
			_cleanup_free_ char *prev = efi_file(b, i, true);
			_cleanup_free_ char *keep = dk_asprintf("%s/%s", vd, efi_names[i]);
			_cleanup_free_ char *absent = dk_asprintf("%s.absent", keep);
			if (dk_path_exists(prev) ? move(prev, keep) < 0
						 : dk_write_file_atomic(absent, "", 0, true, 0600) < 0)
				return -1;
		}
	} else if (dk_bundle_write_manifest(b) < 0) {
		goto fail;
	}
	r->version = last + 1;
	if (dn) {
		/* the domain the edited plan renders, beside the new EFI */
		const char *ms = json_object_to_json_string_ext(b->manifest, JSON_C_TO_STRING_PRETTY |
										JSON_C_TO_STRING_NOSLASHESCAPE);
		_cleanup_free_ char *mtxt = dk_strjoin(ms, "\n");
		struct version nv = {.manifest = mtxt, .manifest_len = strlen(mtxt), .xml = (char *)dn->xml,
				     .xml_len = strlen(dn->xml), .argv = (char *)dn->argv, .argv_len = strlen(dn->argv)};
		if (write_version(b->dir, &nv) < 0 || (dn->conn && dk_virt_define(dn->conn, dn->xml) < 0)) {
			efi_rollback(b, vd, cur);
			r->version = 0;
			return -1;
		}
		r->redefined = dn->conn != NULL;
	}
	return 0;
fail:;
	char msg[DK_ERRMSG_MAX];
	snprintf(msg, sizeof msg, "%s", dk_errmsg());
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *prev = efi_file(b, i, true);
		_cleanup_free_ char *keep = dk_asprintf("%s/%s.prev", vd, efi_names[i]);
		if (moved[i])
			rename(keep, prev);
	}
	dk_rm_rf(vd);
	return dk_fail("%s", msg);
}

/* gpu, usb-controller, audio: a passed device, which the EFI follows. */
static bool device_writeup(const struct dk_writeup *w)
{
	return w->apply == apply_gpu || w->apply == apply_usb || w->apply == apply_audio;
}

/* Whether dkvm rebuilds the bundle's EFI (dk_vm_efi_rebuild): not an image
 * given with --opencore-image (no release recorded) nor a --pool volume;
 * then r->note says so. */
static bool efi_rebuilt(const struct dk_bundle *b, struct dk_tune_result *r)
{
	if (dk_json_get_str(dk_json_get(b->manifest, "opencore"), "image")) {
		snprintf(r->note, sizeof r->note,
			 "the OpenCore image was given with --opencore-image, so it was not rebuilt: its config.plist "
			 "needs the kexts and DeviceProperties the plan's gpu.kext and deviceproperties decisions name");
		return false;
	}
	if (b->vol_opencore) {
		snprintf(r->note, sizeof r->note,
			 "made with --pool: the OpenCore volume was not rebuilt; build an image with dkvm opencore image "
			 "(the kexts and DeviceProperties the plan's gpu.kext and deviceproperties decisions name) and "
			 "upload it with virsh vol-upload");
		return false;
	}
	return true;
}

/* display-override: the override file in <bundle>/display-overrides/. */
static int tune_display(const struct dk_tune_opts *o, struct dk_bundle *b, const struct version *cur,
			struct dk_tune_result *r)
{
	const struct dk_tune_args *a = &o->args;
	if (!a->edid == !a->connector)
		return dk_fail("display-override: give --edid FILE or --connector NAME (one of them; connectors are in /sys/class/drm)");
	_cleanup_free_ char *src = NULL;
	if (a->connector) {
		if (!dk_name_is_safe(a->connector))
			return dk_fail("display-override --connector '%s': not a connector name (card0-DP-1)", a->connector);
		_cleanup_free_ char *rel = dk_asprintf("/sys/class/drm/%s/edid", a->connector);
		src = dk_host_path(rel);
	} else {
		src = dk_strdup(a->edid);
	}
	char *raw = NULL;
	size_t len = 0;
	if (dk_read_file(src, &raw, &len, 32768) < 0)
		return -1;
	struct dk_edid e;
	int rc = len == 0 ? dk_fail("%s: empty (no display connected to this connector?)", src)
			  : dk_edid_parse((const uint8_t *)raw, len, src, &e);
	free(raw);
	if (rc < 0)
		return -1;
	char *rel = NULL;
	_cleanup_free_ char *xml = dk_display_override(&e, &rel);
	_cleanup_free_ char *brel = dk_asprintf("display-overrides/%s", rel);
	_cleanup_free_ char *target = dk_asprintf("%s/%s", b->dir, brel);
	char *old = NULL;
	size_t ol = 0;
	bool had = dk_path_exists(target);
	if (had && dk_read_file(target, &old, &ol, 1 << 20) < 0) {
		free(rel);
		return -1;
	}
	const char *want = a->off ? "" : xml;
	dk_unified_diff(brel, old ? old : "", want, &r->diff);
	r->changed = a->off ? had : !had || strlen(xml) != ol || memcmp(xml, old, ol);
	if (!a->off)
		snprintf(r->note, sizeof r->note,
			 "copy %s into the guest as /Library/Displays/Contents/Resources/Overrides/%s (names are case-sensitive; "
			 "sudo mkdir -p the folder), then log out and in",
			 target, rel);
	free(rel);
	if (!r->changed || o->dry_run) {
		free(old);
		return 0;
	}
	int last;
	next_version(b->dir, &last);
	_cleanup_free_ char *vd = dk_asprintf("%s/.tune/%d", b->dir, last + 1);
	_cleanup_free_ char *vp = dk_asprintf("%s/display.path", vd), *vprev = dk_asprintf("%s/display.prev", vd);
	_cleanup_free_ char *dir = dk_strdup(target);
	*strrchr(dir, '/') = 0;
	rc = dk_mkdir_p(vd, 0700) < 0 || write_version(vd, cur) < 0 ||
			     dk_write_file_atomic(vp, brel, strlen(brel), true, 0600) < 0 ||
			     (had && dk_write_file_atomic(vprev, old, ol, true, 0600) < 0)
		     ? -1
		     : 0;
	free(old);
	if (rc == 0)
		rc = a->off ? (unlink(target) < 0 ? dk_fail_errno("%s", target) : 0)
			    : (dk_mkdir_p(dir, 0755) < 0 ? -1 : dk_write_file_atomic(target, xml, strlen(xml), true, 0644));
	if (rc < 0) {
		dk_rm_rf(vd);
		return -1;
	}
	r->version = last + 1;
	return 0;
}

int dk_vm_tune(const struct dk_tune_opts *o, struct dk_tune_result *r)
{
	memset(r, 0, sizeof *r);
	r->diff = dk_strdup("");
	bool undo = o->writeup && !strcmp(o->writeup, "undo");
	const struct dk_writeup *w = undo ? NULL : dk_writeup_find(o->writeup);
	if (!undo && !w) {
		struct dk_buf k = {0};
		for (int i = 0; i < dk_writeup_count; i++)
			dk_buf_printf(&k, "%s%s", i ? ", " : "", dk_writeups[i].name);
		dk_fail("write-up '%s': unknown (known: %s, undo)", o->writeup ? o->writeup : "", k.data);
		dk_buf_free(&k);
		return -1;
	}
	_cleanup_free_ char *parent = dk_bundle_parent(o->parent);
	struct dk_bundle b;
	if (dk_bundle_open(parent, o->name, &b) < 0)
		return -1;
	/* no other create, update, tune, start or destroy of it meanwhile; the
	 * bundle read again under the lock */
	struct dk_vm_lock lock;
	if (dk_vm_lock(parent, o->name, &lock) < 0) {
		dk_bundle_close(&b);
		return -1;
	}
	if (lock.fd >= 0) {
		dk_bundle_close(&b);
		if (dk_bundle_open(parent, o->name, &b) < 0) {
			dk_vm_unlock(&lock);
			return -1;
		}
	}
	int rc = -1;
	void *conn = NULL;
	struct dk_facts f;
	bool have_facts = false;
	struct version cur = {0};
	char *xml_now = NULL, *argv_now = NULL, *xml_new = NULL, *argv_new = NULL;
	if (b.ppc) {
		dk_fail("%s: a PowerPC VM: the write-ups are for x86 macOS VMs", o->name);
		goto out;
	}
	if (version_read(b.dir, &cur) < 0)
		goto out;
	bool defined = defined_in_libvirt(&b);
	if (defined && !(conn = dk_virt_open(b.uri)))
		goto out;
	struct dk_facts_opts fo = {.conn = conn, .uri = b.uri, .pci = !undo && device_writeup(w)};
	if (dk_facts_gather(&fo, &f) < 0)
		goto out;
	have_facts = true;
	struct dk_vm_files files = dk_bundle_files(&b);
	if (dk_libvirt_xml(&b.plan, &files, &f.caps, &xml_now) < 0 || !(argv_now = dk_vm_argv_file(&b.plan, &files)))
		goto out;
	if (check_hand_edits(&b, &cur, xml_now, argv_now, o->force) < 0)
		goto out;
	r->running = running(&b);
	if (r->running && !o->force && (undo || !w->next_start_only)) {
		dk_fail("%s: the VM is running; %s changes the machine it boots: stop it first (dkvm stop %s)", o->name,
			undo ? "undo" : w->name, o->name);
		goto out;
	}
	if (undo) {
		rc = tune_undo(o, &b, &cur, conn, &f.caps, r);
		goto out;
	}
	if (w->bundle_file) {
		rc = tune_display(o, &b, &cur, r);
		goto out;
	}
	struct dk_plan *np = dk_calloc(1, sizeof *np);
	*np = b.plan;
	struct dk_tune_ctx ctx = {.host = &f.host, .facts = &f, .force = o->force, .libvirt = defined};
	if (w->apply && w->apply(np, &ctx, &o->args) < 0) {
		free(np);
		goto out;
	}
	if (w->edit) {
		struct dk_cfgedit ce = {.args = &o->args};
		rc = w->prepare ? w->prepare(np, &ctx, &o->args, &ce, r) : 0;
		if (rc == 0)
			rc = tune_efi(o, w, &b, &cur, np, &ce, NULL, r);
		if (ce.memory)
			plist_free(ce.memory);
		free(np);
		goto out;
	}
	if (!strcmp(w->name, "hugepages") && np->hugepages && !o->args.off && !o->args.reserve) {
		uint64_t need = np->memory_mib / 2, have = f.host.mem.hugepages_2m;
		if (have < need)
			snprintf(r->note, sizeof r->note,
				 "reserve %llu hugepages of 2 MiB before the VM starts (the host has %llu): "
				 "sysctl vm.nr_hugepages=%llu, and for every boot a line 'vm.nr_hugepages = %llu' in /etc/sysctl.d/",
				 (unsigned long long)need, (unsigned long long)have, (unsigned long long)need,
				 (unsigned long long)need);
	}
	if (dk_libvirt_xml(np, &files, &f.caps, &xml_new) < 0 || !(argv_new = dk_vm_argv_file(np, &files))) {
		free(np);
		goto out;
	}
	dk_unified_diff("domain.xml", xml_now, xml_new, &r->diff);
	dk_unified_diff("qemu.argv", argv_now, argv_new, &r->diff);
	if (w->host && tune_host(w, np, &ctx, o, r) < 0) {
		free(np);
		goto out;
	}
	if (device_writeup(w) && efi_rebuilt(&b, r)) {
		/* the EFI follows the plan: the chart's kext, AppleALC, DeviceProperties, boot-args */
		struct domain_new dn = {.xml = xml_new, .argv = argv_new, .conn = conn};
		rc = tune_efi(o, w, &b, &cur, np, NULL, &dn, r);
		free(np);
		goto out;
	}
	json_object *pj_old = dk_plan_to_json(&b.plan), *pj_new = dk_plan_to_json(np);
	r->changed = strcmp(json_object_to_json_string(pj_old), json_object_to_json_string(pj_new)) != 0;
	json_object_put(pj_old);
	if (!r->changed || o->dry_run) {
		json_object_put(pj_new);
		free(np);
		rc = 0;
		goto out;
	}
	free(np);
	rc = tune_commit(&b, &cur, conn, pj_new, xml_new, argv_new, r);
out:
	free(xml_now);
	free(argv_now);
	free(xml_new);
	free(argv_new);
	version_free(&cur);
	if (have_facts)
		dk_facts_free(&f);
	dk_virt_close(conn);
	dk_bundle_close(&b);
	dk_vm_unlock(&lock);
	return rc;
}
