/* Single-GPU passthrough hooks for libvirt: pure script generators, then the
 * files under --root (plan, apply). See hooks.h. */
#include "tune/hooks.h"
#include "util/diff.h"
#include "host/pci.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/strv.h"

#include <dirent.h>
#include <json-c/json.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARK_DISPATCHER "# dkvm-hook-dispatcher:"
#define MARK_SCRIPT "# dkvm-single-gpu hook"

static const char *const nvidia_mods[] = {"nvidia_drm", "nvidia_modeset", "nvidia_uvm", "nvidia"};
static const char *const fb_drivers[] = {"efi-framebuffer", "simple-framebuffer", "vesa-framebuffer"};
#define N_NV (sizeof nvidia_mods / sizeof nvidia_mods[0])
#define N_FB (sizeof fb_drivers / sizeof fb_drivers[0])

/* ---- generators ---------------------------------------------------------- */

char *dk_hook_dispatcher_script(void)
{
	return dk_strdup(
		"#!/bin/bash\n" MARK_DISPATCHER " written by `dkvm hooks install`, removed by `dkvm hooks remove`.\n"
		"#\n"
		"# libvirt runs this as: qemu GUEST OPERATION SUB-OPERATION EXTRA, with the\n"
		"# domain XML on stdin (https://libvirt.org/hooks.html). It runs each\n"
		"# executable file in qemu.d/GUEST/OPERATION/SUB-OPERATION/ beside it, in\n"
		"# name order, with the same arguments and a copy of stdin, and fails with the\n"
		"# first one that fails (at prepare/begin libvirt then does not start the guest).\n"
		"set -eu\n"
		"guest=${1:-} op=${2:-} sub=${3:-}\n"
		"for part in \"$guest\" \"$op\" \"$sub\"; do\n"
		"\tcase $part in\n"
		"\t'' | . | .. | */*) exit 0 ;;\n"
		"\tesac\n"
		"done\n"
		"dir=${0%/*}/qemu.d/$guest/$op/$sub\n"
		"[ -d \"$dir\" ] || exit 0\n"
		"xml=$(cat)\n"
		"for hook in \"$dir\"/*; do\n"
		"\tif [ -f \"$hook\" ] && [ -x \"$hook\" ]; then\n"
		"\t\t\"$hook\" \"$@\" <<<\"$xml\"\n"
		"\tfi\n"
		"done\n");
}

static bool is_nvidia(const struct dk_hook_fn *f) { return strcmp(f->driver, "nvidia") == 0; }

static bool any_nvidia(const struct dk_hook_cfg *c)
{
	for (int i = 0; i < c->n; i++)
		if (is_nvidia(&c->fn[i]))
			return true;
	return false;
}

/* "0000:0b:00.0" -> "pci_0000_0b_00_0" (libvirt's node device name) */
static void nodedev_name(const char *bdf, char *out, size_t n)
{
	snprintf(out, n, "pci_%s", bdf);
	for (char *p = out; *p; p++)
		if (*p == ':' || *p == '.')
			*p = '_';
}

/* A driver name for a comment: what sysfs said, reduced to a safe alphabet. */
static void safe_word(const char *s, char *out, size_t n)
{
	size_t i = 0;
	for (; s[i] && i + 1 < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
				 ch == '_' || ch == '-' || ch == '.'
			 ? (char)ch
			 : '?';
	}
	out[i] = '\0';
}

static void header(struct dk_buf *b, const struct dk_hook_cfg *c, const char *when, const char *what)
{
	dk_buf_printf(b, "#!/bin/bash\n" MARK_SCRIPT ", %s of the VM '%s': written by `dkvm hooks install`,\n", when,
		      c->vm);
	dk_buf_printf(b, "# removed by `dkvm hooks remove %s`.\n#\n", c->vm);
	dk_buf_printf(b, "# %s", what);
	for (int i = 0; i < c->n; i++) {
		char d[64];
		safe_word(c->fn[i].driver[0] ? c->fn[i].driver : "no driver", d, sizeof d);
		dk_buf_printf(b, "%s%s (%s)", i ? ", " : "\n#   ", c->fn[i].bdf, d);
	}
	dk_buf_puts(b, ".\n"
		       "# prepare/begin records each step it did in the state file; release/end undoes\n"
		       "# exactly those steps, in reverse order. DKVM_HOOK_SYSFS and DKVM_HOOK_RUN stand\n"
		       "# for /sys and /run (tests).\n");
	dk_buf_printf(b,
		      "sys=${DKVM_HOOK_SYSFS:-/sys}\n"
		      "state=${DKVM_HOOK_RUN:-/run}/dkvm-hooks/'%s'.state\n",
		      c->vm);
}

char *dk_hook_begin_script(const struct dk_hook_cfg *c)
{
	struct dk_buf b = {0};
	header(&b, c, "prepare/begin", "Hands these PCI functions to vfio-pci before the guest starts:");
	dk_buf_puts(&b, "set -eu\n"
			"mkdir -p \"${state%/*}\"\n"
			": >\"$state\"\n"
			"did() {\n"
			"\techo \"dkvm-single-gpu: $*\"\n"
			"\techo \"$*\" >>\"$state\"\n"
			"}\n");
	if (c->dm_unit[0])
		dk_buf_printf(&b,
			      "\n# The display manager (its session holds the GPU).\n"
			      "systemctl stop '%s'\n"
			      "did stop-unit '%s'\n",
			      c->dm_unit, c->dm_unit);
	dk_buf_puts(&b, "\n# The framebuffer consoles.\n"
			"for vt in \"$sys\"/class/vtconsole/vtcon*; do\n"
			"\tif [ -f \"$vt/bind\" ] && [ \"$(cat \"$vt/bind\")\" = 1 ] &&\n"
			"\t\tgrep -q 'frame buffer' \"$vt/name\" 2>/dev/null; then\n"
			"\t\techo 0 >\"$vt/bind\"\n"
			"\t\tdid unbind-vtcon \"${vt##*/}\"\n"
			"\tfi\n"
			"done\n"
			"\n# The firmware framebuffer (efifb, simpledrm, vesafb).\n"
			"for fb in");
	for (size_t i = 0; i < N_FB; i++)
		dk_buf_printf(&b, " %s", fb_drivers[i]);
	dk_buf_puts(&b, "; do\n"
			"\tif [ -e \"$sys/bus/platform/drivers/$fb/$fb.0\" ]; then\n"
			"\t\techo \"$fb.0\" >\"$sys/bus/platform/drivers/$fb/unbind\"\n"
			"\t\tdid unbind-fb \"$fb\"\n"
			"\tfi\n"
			"done\n"
			"\n# The GPU's drivers.\n");
	if (any_nvidia(c)) {
		dk_buf_puts(&b, "for mod in");
		for (size_t i = 0; i < N_NV; i++)
			dk_buf_printf(&b, " %s", nvidia_mods[i]);
		dk_buf_puts(&b, "; do\n"
				"\tif [ -d \"$sys/module/$mod\" ]; then\n"
				"\t\tmodprobe -r \"$mod\"\n"
				"\t\tdid unload \"$mod\"\n"
				"\tfi\n"
				"done\n");
	}
	for (int i = 0; i < c->n; i++) {
		if (is_nvidia(&c->fn[i]))
			continue;
		const char *bdf = c->fn[i].bdf;
		dk_buf_printf(&b,
			      "dev=$sys/bus/pci/devices/%s\n"
			      "if [ -e \"$dev/driver\" ]; then\n"
			      "\tdrv=$(basename \"$(readlink \"$dev/driver\")\")\n"
			      "\tif [ \"$drv\" != vfio-pci ]; then\n"
			      "\t\techo %s >\"$dev/driver/unbind\"\n"
			      "\t\tdid unbind-pci %s \"$drv\"\n"
			      "\tfi\n"
			      "fi\n",
			      bdf, bdf, bdf);
	}
	dk_buf_puts(&b, "\n# Every function to vfio-pci.\n");
	for (int i = 0; i < c->n; i++) {
		char nd[64];
		nodedev_name(c->fn[i].bdf, nd, sizeof nd);
		dk_buf_printf(&b, "virsh nodedev-detach %s >/dev/null\ndid detach %s\n", nd, nd);
	}
	return b.data;
}

char *dk_hook_end_script(const struct dk_hook_cfg *c)
{
	struct dk_buf b = {0};
	header(&b, c, "release/end", "Gives these PCI functions back to the host after the guest stopped:");
	dk_buf_puts(&b, "# Best effort: a step that fails does not stop the others.\n"
			"set -u\n"
			"if [ ! -f \"$state\" ]; then\n"
			"\techo \"dkvm-single-gpu: nothing to undo (no $state)\"\n"
			"\texit 0\n"
			"fi\n"
			"rc=0\n"
			"undo() { echo \"dkvm-single-gpu: undo $*\"; }\n"
			"failed() {\n"
			"\techo \"dkvm-single-gpu: undo $* failed\" >&2\n"
			"\trc=1\n"
			"}\n"
			"while read -r -u 3 verb arg extra; do\n"
			"\tcase \"$verb $arg\" in\n");
	/* detach */
	dk_buf_puts(&b, "\t");
	for (int i = 0; i < c->n; i++) {
		char nd[64];
		nodedev_name(c->fn[i].bdf, nd, sizeof nd);
		dk_buf_printf(&b, "%s'detach %s'", i ? " | " : "", nd);
	}
	dk_buf_puts(&b, ")\n"
			"\t\tundo \"$verb\" \"$arg\"\n"
			"\t\tvirsh nodedev-reattach \"$arg\" >/dev/null || failed \"$verb\" \"$arg\"\n"
			"\t\t;;\n");
	/* unbind-pci */
	int nun = 0;
	for (int i = 0; i < c->n; i++) {
		if (is_nvidia(&c->fn[i]))
			continue;
		dk_buf_printf(&b, "%s'unbind-pci %s'", nun++ ? " | " : "\t", c->fn[i].bdf);
	}
	if (nun)
		dk_buf_puts(&b, ")\n"
				"\t\tcase $extra in\n"
				"\t\t'' | *[!A-Za-z0-9_-]*)\n"
				"\t\t\tfailed \"$verb\" \"$arg\" \"$extra\"\n"
				"\t\t\tcontinue\n"
				"\t\t\t;;\n"
				"\t\tesac\n"
				"\t\tif [ ! -e \"$sys/bus/pci/devices/$arg/driver\" ]; then\n"
				"\t\t\tundo \"$verb\" \"$arg\" \"$extra\"\n"
				"\t\t\techo \"$arg\" >\"$sys/bus/pci/drivers/$extra/bind\" || failed \"$verb\" \"$arg\" \"$extra\"\n"
				"\t\tfi\n"
				"\t\t;;\n");
	if (any_nvidia(c)) {
		dk_buf_puts(&b, "\t");
		for (size_t i = 0; i < N_NV; i++)
			dk_buf_printf(&b, "%s'unload %s'", i ? " | " : "", nvidia_mods[i]);
		dk_buf_puts(&b, ")\n"
				"\t\tundo \"$verb\" \"$arg\"\n"
				"\t\tmodprobe \"$arg\" || failed \"$verb\" \"$arg\"\n"
				"\t\t;;\n");
	}
	dk_buf_puts(&b, "\t");
	for (size_t i = 0; i < N_FB; i++)
		dk_buf_printf(&b, "%s'unbind-fb %s'", i ? " | " : "", fb_drivers[i]);
	dk_buf_puts(&b, ")\n"
			"\t\tundo \"$verb\" \"$arg\"\n"
			"\t\techo \"$arg.0\" >\"$sys/bus/platform/drivers/$arg/bind\" || failed \"$verb\" \"$arg\"\n"
			"\t\t;;\n"
			"\t'unbind-vtcon vtcon'[0-9] | 'unbind-vtcon vtcon'[0-9][0-9])\n"
			"\t\tundo \"$verb\" \"$arg\"\n"
			"\t\techo 1 >\"$sys/class/vtconsole/$arg/bind\" || failed \"$verb\" \"$arg\"\n"
			"\t\t;;\n");
	if (c->dm_unit[0])
		dk_buf_printf(&b,
			      "\t'stop-unit %s')\n"
			      "\t\tundo \"$verb\" \"$arg\"\n"
			      "\t\tsystemctl start \"$arg\" || failed \"$verb\" \"$arg\"\n"
			      "\t\t;;\n",
			      c->dm_unit);
	dk_buf_puts(&b, "\t*)\n"
			"\t\techo \"dkvm-single-gpu: ignored state line '$verb $arg $extra'\" >&2\n"
			"\t\t;;\n"
			"\tesac\n"
			"done 3< <(tac \"$state\")\n"
			"rm -f \"$state\"\n"
			"exit \"$rc\"\n");
	return b.data;
}

/* ---- host facts ------------------------------------------------------------ */

static bool unit_name_ok(const char *s)
{
	if (!*s || strlen(s) > 100 || s[0] == '.' || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '-' || ch == '.' || ch == '@' || ch == ':'))
			return false;
	}
	return true;
}

char *dk_hook_dm_unit(const char *name)
{
	if (!unit_name_ok(name))
		return dk_fail("display manager '%s': not a systemd unit name", dk_esc_msg(name)), NULL;
	if (dk_endswith(name, ".service"))
		return dk_strdup(name);
	return dk_strjoin(name, ".service");
}

char *dk_hook_detect_dm(void)
{
	_cleanup_free_ char *p = dk_host_path("/etc/systemd/system/display-manager.service");
	char target[4096];
	ssize_t n = readlink(p, target, sizeof target - 1);
	if (n <= 0)
		return NULL;
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (!unit_name_ok(base) || !dk_endswith(base, ".service") || !strcmp(base, "display-manager.service"))
		return NULL;
	return dk_strdup(base);
}

int dk_hook_cfg_from_host(const char *vm, char *const *bdfs, const char *dm_unit, struct dk_hook_cfg *c)
{
	memset(c, 0, sizeof *c);
	if (!dk_name_is_safe(vm) || strlen(vm) >= sizeof c->vm)
		return dk_fail("VM name '%s': not a plain name", dk_esc_msg(vm));
	snprintf(c->vm, sizeof c->vm, "%s", vm);
	if (!bdfs || !bdfs[0])
		return dk_fail("%s: no PCI function named", vm);
	if (dm_unit) {
		if (*dm_unit && (!unit_name_ok(dm_unit) || strlen(dm_unit) >= sizeof c->dm_unit))
			return dk_fail("display manager '%s': not a systemd unit name", dk_esc_msg(dm_unit));
		snprintf(c->dm_unit, sizeof c->dm_unit, "%s", dm_unit);
	} else {
		_cleanup_free_ char *dm = dk_hook_detect_dm();
		if (!dm) {
			_cleanup_free_ char *p = dk_host_path("/etc/systemd/system/display-manager.service");
			return dk_fail("%s: not a link to a display manager's unit; say which one with "
				       "--display-manager NAME (gdm, sddm, lightdm, ...) or none",
				       p);
		}
		snprintf(c->dm_unit, sizeof c->dm_unit, "%s", dm);
	}
	struct dk_pci pci;
	if (dk_pci_scan(&pci) < 0)
		return -1;
	int rc = 0;
	for (char *const *b = bdfs; *b; b++) {
		int i = dk_pci_find(&pci, *b);
		if (i < 0) {
			_cleanup_free_ char *p = dk_host_path("/sys/bus/pci/devices");
			rc = dk_fail("%s: no such PCI device (under %s)", dk_esc_msg(*b), p);
			break;
		}
		const struct dk_pci_dev *d = &pci.devs[i];
		bool dup = false;
		for (int k = 0; k < c->n; k++)
			dup |= strcmp(c->fn[k].bdf, d->bdf) == 0;
		if (dup)
			continue;
		if (c->n == DK_HOOK_MAX_FN) {
			rc = dk_fail("more than %d PCI functions", DK_HOOK_MAX_FN);
			break;
		}
		struct dk_hook_fn *f = &c->fn[c->n++];
		snprintf(f->bdf, sizeof f->bdf, "%s", d->bdf);
		snprintf(f->driver, sizeof f->driver, "%s", d->driver);
		f->class_code = d->class_code;
	}
	dk_pci_free(&pci);
	return rc;
}

/* ---- files ----------------------------------------------------------------- */

const char *dk_hook_act_name(enum dk_hook_act a)
{
	static const char *const n[] = {"unchanged", "create", "update", "replace", "remove", "restore", "keep"};
	return (unsigned)a < sizeof n / sizeof n[0] ? n[a] : "?";
}

json_object *dk_hook_plan_to_json(const char *vm, const struct dk_hook_plan *p, bool applied)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "vm", json_object_new_string(vm));
	json_object_object_add(j, "applied", json_object_new_boolean(applied));
	json_object_object_add(j, "root", json_object_new_string(*dk_root() ? dk_root() : "/"));
	json_object *a = json_object_new_array();
	for (int i = 0; i < p->n; i++) {
		const struct dk_hook_change *c = &p->c[i];
		json_object *f = json_object_new_object();
		json_object_object_add(f, "path", json_object_new_string(c->path));
		json_object_object_add(f, "action", json_object_new_string(dk_hook_act_name(c->act)));
		if (c->want)
			json_object_object_add(f, "content", json_object_new_string(c->want));
		if (c->backup)
			json_object_object_add(f, "backup", json_object_new_string(c->backup));
		if (c->note)
			json_object_object_add(f, "note", json_object_new_string(c->note));
		json_object_array_add(a, f);
	}
	json_object_object_add(j, "files", a);
	return j;
}

static char *script_path(const char *vm, const char *when)
{
	return dk_asprintf("%s/%s/%s/%s", DK_HOOK_DIR, vm, when, DK_HOOK_SCRIPT);
}

static bool has_mark(const char *data, const char *mark)
{
	if (!data)
		return false;
	const char *nl = strchr(data, '\n');
	return nl && strncmp(nl + 1, mark, strlen(mark)) == 0;
}

/* Current content of abs under --root: 1 (data set), 0 absent, -1 error. */
static int read_cur(const char *abs, char **data, mode_t *mode)
{
	return dk_read_system_text(abs, data, mode);
}

static struct dk_hook_change *add(struct dk_hook_plan *p, const char *abs, enum dk_hook_act act)
{
	p->c = dk_realloc(p->c, (size_t)(p->n + 1) * sizeof *p->c);
	struct dk_hook_change *c = &p->c[p->n++];
	memset(c, 0, sizeof *c);
	c->path = dk_strdup(abs);
	c->act = act;
	return c;
}

static int plan_file(struct dk_hook_plan *p, const char *abs, char *want, const char *mark, bool force)
{
	char *old;
	mode_t mode = 0;
	int r = read_cur(abs, &old, &mode);
	if (r < 0) {
		free(want);
		return -1;
	}
	enum dk_hook_act act;
	if (r == 0)
		act = DK_HOOK_CREATE;
	else if (strcmp(old, want) == 0 && mode == 0755)
		act = DK_HOOK_SAME;
	else if (has_mark(old, mark))
		act = DK_HOOK_UPDATE;
	else if (force)
		act = DK_HOOK_REPLACE;
	else {
		free(old);
		free(want);
		_cleanup_free_ char *rp = dk_root_path(abs);
		return dk_fail("%s: exists and was not written by dkvm: move it away (its per-VM hooks can stay "
			       "in qemu.d/), or pass --force to back it up and replace it (dkvm hooks remove restores it)",
			       rp);
	}
	struct dk_hook_change *c = add(p, abs, act);
	c->old = old;
	c->want = want;
	return 0;
}

static void rmdir_push(struct dk_hook_plan *p, const char *vm)
{
	struct dk_strv l = {0};
	for (char **v = p->rmdirs; v && *v; v++)
		dk_strv_push(&l, *v);
	dk_strv_push_take(&l, dk_asprintf("%s/%s/prepare/begin", DK_HOOK_DIR, vm));
	dk_strv_push_take(&l, dk_asprintf("%s/%s/prepare", DK_HOOK_DIR, vm));
	dk_strv_push_take(&l, dk_asprintf("%s/%s/release/end", DK_HOOK_DIR, vm));
	dk_strv_push_take(&l, dk_asprintf("%s/%s/release", DK_HOOK_DIR, vm));
	dk_strv_push_take(&l, dk_asprintf("%s/%s", DK_HOOK_DIR, vm));
	dk_strv_push(&l, DK_HOOK_DIR); /* when empty */
	dk_strv_free(p->rmdirs);
	p->rmdirs = dk_strv_take(&l);
}

int dk_hooks_plan_install(const struct dk_hook_cfg *cfg, bool force, struct dk_hook_plan *p)
{
	memset(p, 0, sizeof *p);
	if (!dk_name_is_safe(cfg->vm))
		return dk_fail("VM name '%s': not a plain name", dk_esc_msg(cfg->vm));
	_cleanup_free_ char *begin = script_path(cfg->vm, "prepare/begin");
	_cleanup_free_ char *end = script_path(cfg->vm, "release/end");
	if (plan_file(p, DK_HOOK_DISPATCHER, dk_hook_dispatcher_script(), MARK_DISPATCHER, force) < 0 ||
	    plan_file(p, begin, dk_hook_begin_script(cfg), MARK_SCRIPT, force) < 0 ||
	    plan_file(p, end, dk_hook_end_script(cfg), MARK_SCRIPT, force) < 0) {
		dk_hook_plan_free(p);
		return -1;
	}
	return 0;
}

/* The newest "<abs>.dkvm-bak.*" under --root whose content is not ours (mark). */
static char *find_backup(const char *abs, const char *mark, char **content)
{
	*content = NULL;
	_cleanup_free_ char *p = dk_root_path(abs);
	_cleanup_free_ char *dir = dk_strdup(p);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	_cleanup_free_ char *prefix = dk_asprintf("%s.dkvm-bak.", slash + 1);
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	char *best = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!dk_startswith(e->d_name, prefix) || strstr(e->d_name, ".dkvm-tmp."))
			continue;
		char *full = dk_asprintf("%s/%s", dir, e->d_name);
		struct stat st;
		char *data = NULL;
		size_t len;
		if (lstat(full, &st) < 0 || !S_ISREG(st.st_mode) || dk_read_file(full, &data, &len, 1u << 20) < 0 ||
		    has_mark(data, mark) || (best && strcmp(full, best) < 0)) {
			dk_errclear();
			free(full);
			free(data);
			continue;
		}
		free(best);
		free(*content);
		best = full;
		*content = data;
	}
	closedir(d);
	return best;
}

/* Does vm (other than skip) have a dkvm script under --root? Sets *who. */
static bool other_vm_uses(const char *skip, char **who)
{
	_cleanup_free_ char *dir = dk_root_path(DK_HOOK_DIR);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *e;
	bool found = false;
	while (!found && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, skip))
			continue;
		for (int k = 0; k < 2 && !found; k++) {
			_cleanup_free_ char *s = script_path(e->d_name, k ? "release/end" : "prepare/begin");
			_cleanup_free_ char *rp = dk_root_path(s);
			if (dk_path_exists(rp)) {
				found = true;
				*who = dk_strdup(e->d_name);
			}
		}
	}
	closedir(d);
	return found;
}

/* Any entry in dir (recursively) other than the directories on the way to
 * and the files in skip? */
static bool tree_has_others(const char *dir, char *const *skip)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *e;
	bool found = false;
	while (!found && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		_cleanup_free_ char *full = dk_asprintf("%s/%s", dir, e->d_name);
		if (dk_strv_contains(skip, full))
			continue;
		struct stat st;
		if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
			found = tree_has_others(full, skip);
		else
			found = true;
	}
	closedir(d);
	return found;
}

int dk_hooks_plan_remove(const char *vm, struct dk_hook_plan *p)
{
	memset(p, 0, sizeof *p);
	if (!dk_name_is_safe(vm))
		return dk_fail("VM name '%s': not a plain name", dk_esc_msg(vm));
	struct dk_strv gone = {0};
	int ours = 0;
	for (int k = 0; k < 2; k++) {
		_cleanup_free_ char *abs = script_path(vm, k ? "release/end" : "prepare/begin");
		char *old;
		mode_t mode;
		int r = read_cur(abs, &old, &mode);
		if (r < 0)
			goto fail;
		if (r == 0)
			continue;
		if (!has_mark(old, MARK_SCRIPT)) {
			struct dk_hook_change *c = add(p, abs, DK_HOOK_KEEP);
			c->old = old;
			c->note = dk_strdup("not written by dkvm");
			continue;
		}
		ours++;
		char *content;
		char *bak = find_backup(abs, MARK_SCRIPT, &content);
		struct dk_hook_change *c = add(p, abs, bak ? DK_HOOK_RESTORE : DK_HOOK_REMOVE);
		c->old = old;
		c->backup = bak;
		c->want = content;
		if (!bak)
			dk_strv_push_take(&gone, dk_root_path(abs));
	}
	if (!ours) {
		dk_strv_clear(&gone);
		return 0;
	}
	rmdir_push(p, vm);

	char *old;
	mode_t mode;
	int r = read_cur(DK_HOOK_DISPATCHER, &old, &mode);
	if (r < 0)
		goto fail;
	if (r == 1 && has_mark(old, MARK_DISPATCHER)) {
		char *who = NULL;
		_cleanup_free_ char *qd = dk_root_path(DK_HOOK_DIR);
		if (other_vm_uses(vm, &who)) {
			struct dk_hook_change *c = add(p, DK_HOOK_DISPATCHER, DK_HOOK_KEEP);
			c->old = old;
			c->note = dk_asprintf("still used by the hooks of '%s'", who);
			free(who);
		} else {
			char *content;
			char *bak = find_backup(DK_HOOK_DISPATCHER, MARK_DISPATCHER, &content);
			if (bak) {
				struct dk_hook_change *c = add(p, DK_HOOK_DISPATCHER, DK_HOOK_RESTORE);
				c->old = old;
				c->backup = bak;
				c->want = content;
			} else if (tree_has_others(qd, gone.v)) {
				struct dk_hook_change *c = add(p, DK_HOOK_DISPATCHER, DK_HOOK_KEEP);
				c->old = old;
				c->note = dk_strdup("qemu.d/ holds other hooks it runs");
			} else {
				struct dk_hook_change *c = add(p, DK_HOOK_DISPATCHER, DK_HOOK_REMOVE);
				c->old = old;
			}
		}
	} else {
		free(old);
	}
	dk_strv_clear(&gone);
	return 0;
fail:
	dk_strv_clear(&gone);
	dk_hook_plan_free(p);
	return -1;
}

int dk_hooks_apply(const struct dk_hook_plan *p)
{
	for (int i = 0; i < p->n; i++) {
		const struct dk_hook_change *c = &p->c[i];
		_cleanup_free_ char *rp = dk_root_path(c->path);
		switch (c->act) {
		case DK_HOOK_CREATE:
		case DK_HOOK_UPDATE: {
			_cleanup_free_ char *d = dk_strdup(rp);
			*strrchr(d, '/') = '\0';
			if (dk_mkdir_p(d, 0755) < 0 || dk_write_file_atomic(rp, c->want, strlen(c->want), true, 0755) < 0)
				return -1;
			break;
		}
		case DK_HOOK_REPLACE:
			if (dk_edit_system_file_mode(c->path, c->want, strlen(c->want), 0755, NULL) < 0)
				return -1;
			break;
		case DK_HOOK_REMOVE:
			if (unlink(rp) < 0 && errno != ENOENT)
				return dk_fail_errno("%s", rp);
			break;
		case DK_HOOK_RESTORE:
			if (rename(c->backup, rp) < 0)
				return dk_fail_errno("%s: restoring %s", rp, c->backup);
			break;
		case DK_HOOK_SAME:
		case DK_HOOK_KEEP: break;
		}
	}
	for (char **v = p->rmdirs; v && *v; v++) {
		_cleanup_free_ char *rp = dk_root_path(*v);
		if (rmdir(rp) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
			return dk_fail_errno("%s", rp);
	}
	return 0;
}

void dk_hook_plan_free(struct dk_hook_plan *p)
{
	for (int i = 0; i < p->n; i++) {
		free(p->c[i].path);
		free(p->c[i].old);
		free(p->c[i].want);
		free(p->c[i].backup);
		free(p->c[i].note);
	}
	free(p->c);
	dk_strv_free(p->rmdirs);
	memset(p, 0, sizeof *p);
}

/* ---- unified diff ---------------------------------------------------------- */

char *dk_text_diff(const char *path, const char *old, const char *want)
{
	if (!strcmp(old ? old : "", want ? want : ""))
		return dk_strdup("");
	const char *rel = path[0] == '/' ? path + 1 : path;
	_cleanup_free_ char *la = dk_asprintf("a/%s", rel), *lb = dk_asprintf("b/%s", rel);
	return dk_udiff(old ? old : "", want ? want : "", la, lb);
}
