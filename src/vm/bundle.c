/* Bundles: open, state, start, stop, destroy, list. */
#include "vm/vm.h"
#include "vm/access.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"
#include "util/run.h"
#include "util/progress.h"
#include "util/cleanup.h"
#include "tune/pin.h"
#include "tune/hostside.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

char *dk_bundle_parent(const char *override)
{
	if (!override || !*override)
		return dk_data_dir();
	if (override[0] == '/')
		return dk_strdup(override);
	/* QEMU and libvirt get absolute paths, whatever their working directory. */
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return dk_strdup(override);
	char *r = dk_asprintf("%s/%s", cwd, override);
	free(cwd);
	return r;
}

void dk_bundle_paths(struct dk_bundle *b, const char *parent, const char *name)
{
	b->parent = dk_strdup(parent);
	b->name = dk_strdup(name);
	b->dir = dk_asprintf("%s/%s", parent, name);
	b->opencore = dk_asprintf("%s/OpenCore.img", b->dir);
	b->disk = dk_asprintf("%s/disk.qcow2", b->dir);
	b->vars = dk_asprintf("%s/OVMF_VARS.fd", b->dir);
}

struct dk_vm_files dk_bundle_files(const struct dk_bundle *b)
{
	return (struct dk_vm_files){.dir = b->dir, .opencore = b->opencore, .disk = b->disk, .vars = b->vars};
}

struct dk_vm_files dk_bundle_domain_files(const struct dk_bundle *b)
{
	struct dk_vm_files f = dk_bundle_files(b);
	if (b->vol_opencore)
		f.opencore = b->vol_opencore;
	if (b->vol_vars)
		f.vars = b->vol_vars;
	return f;
}

void dk_bundle_close(struct dk_bundle *b)
{
	free(b->parent);
	free(b->dir);
	free(b->name);
	free(b->opencore);
	free(b->disk);
	free(b->vars);
	free(b->uri);
	free(b->pool);
	free(b->volume);
	free(b->vol_opencore);
	free(b->vol_vars);
	dk_strv_free(b->volumes);
	if (b->manifest)
		json_object_put(b->manifest);
	memset(b, 0, sizeof *b);
}

char *dk_vm_volume_name(const char *name, const char *role)
{
	if (!strcmp(role, "disk"))
		return dk_asprintf("%s.qcow2", name);
	if (!strcmp(role, "opencore"))
		return dk_asprintf("%s-OpenCore.img", name);
	if (!strcmp(role, "vars"))
		return dk_asprintf("%s-VARS.fd", name);
	return NULL;
}

/* "volumes": [{"role": "disk"|"opencore"|"vars", "pool", "volume", "path"}]:
 * what create --pool uploaded (one pool). The manifest is a file: checked. */
static int read_volumes(struct dk_bundle *b)
{
	json_object *arr;
	if (!json_object_object_get_ex(b->manifest, "volumes", &arr) || !arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return dk_fail("\"volumes\": not an array");
	struct dk_strv names = {0};
	size_t n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		const char *role = dk_json_get_str(e, "role"), *pool = dk_json_get_str(e, "pool");
		const char *vol = dk_json_get_str(e, "volume"), *path = dk_json_get_str(e, "path");
		_cleanup_free_ char *want = role ? dk_vm_volume_name(b->name, role) : NULL;
		if (!want || !pool || !vol || !path || strcmp(vol, want) != 0 || (b->pool && strcmp(b->pool, pool) != 0)) {
			dk_strv_clear(&names);
			return dk_fail("\"volumes\"[%zu]: not a volume of this VM (role disk, opencore or vars; one pool; "
				       "the volume named after the VM)", i);
		}
		if (!b->pool)
			b->pool = dk_strdup(pool);
		dk_strv_push(&names, vol);
		char **slot = !strcmp(role, "opencore") ? &b->vol_opencore : !strcmp(role, "vars") ? &b->vol_vars : NULL;
		if (slot) {
			free(*slot);
			*slot = dk_strdup(path);
		}
	}
	b->volumes = dk_strv_take(&names);
	return 0;
}

/* ---- the per-VM lock ---- */

/* The lock files this process holds (dkvm is single-threaded). */
static char *held_locks[8];

static bool lock_held(const char *path)
{
	for (size_t i = 0; i < DK_ARRAY_SIZE(held_locks); i++)
		if (held_locks[i] && !strcmp(held_locks[i], path))
			return true;
	return false;
}

/* A lock file unlinked between our open and flock is not the lock any more:
 * open it again. */
int dk_vm_lock(const char *parent, const char *name, struct dk_vm_lock *l)
{
	l->fd = -1;
	l->path = NULL;
	if (dk_vm_name_check(name, false) < 0)
		return -1;
	_cleanup_free_ char *path = dk_asprintf("%s/.%s.lock", parent, name);
	if (lock_held(path))
		return 0;
	size_t slot = 0;
	while (slot < DK_ARRAY_SIZE(held_locks) && held_locks[slot])
		slot++;
	if (slot == DK_ARRAY_SIZE(held_locks))
		return dk_fail("%s: too many VM locks held", path);
	for (int i = 0; i < 20; i++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return dk_fail_errno("%s", path);
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			close(fd);
			if (e == EWOULDBLOCK)
				return dk_fail("%s: another dkvm command is working on this VM (create, update, tune, start or "
					       "destroy); try again when it has finished", name);
			errno = e;
			return dk_fail_errno("%s: lock", path);
		}
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			l->fd = fd;
			l->path = DK_TAKE_PTR(path);
			held_locks[slot] = l->path;
			return 0;
		}
		close(fd);
	}
	return dk_fail("%s: cannot take the lock", path);
}

void dk_vm_unlock(struct dk_vm_lock *l)
{
	if (l->fd < 0)
		return;
	for (size_t i = 0; i < DK_ARRAY_SIZE(held_locks); i++)
		if (held_locks[i] == l->path)
			held_locks[i] = NULL;
	unlink(l->path);
	close(l->fd);
	free(l->path);
	l->fd = -1;
	l->path = NULL;
}

int dk_bundle_open(const char *parent, const char *name, struct dk_bundle *b)
{
	memset(b, 0, sizeof *b);
	if (dk_vm_name_check(name, false) < 0)
		return -1;
	dk_bundle_paths(b, parent, name);
	_cleanup_free_ char *mpath = dk_asprintf("%s/manifest.json", b->dir);
	if (!dk_path_exists(mpath)) {
		dk_fail("%s: no such VM (no %s)", name, mpath);
		dk_bundle_close(b);
		return -1;
	}
	char *data = NULL;
	size_t len = 0;
	if (dk_read_file(mpath, &data, &len, 16 << 20) < 0) {
		dk_bundle_close(b);
		return -1;
	}
	b->manifest = json_tokener_parse(data);
	free(data);
	json_object *plan = NULL, *lv = NULL, *uri = NULL;
	if (!b->manifest || !json_object_object_get_ex(b->manifest, "plan", &plan)) {
		dk_fail("%s: %s (a damaged bundle: remove %s by hand)", mpath,
			b->manifest ? "not a dkvm manifest (no plan)" : "not valid JSON", b->dir);
		dk_bundle_close(b);
		return -1;
	}
	const char *arch = dk_json_get_str(b->manifest, "arch");
	if (arch && strcmp(arch, "x86_64") != 0 && strcmp(arch, "ppc") != 0) {
		dk_fail("%s: unknown arch (a damaged bundle: remove %s by hand)", mpath, b->dir);
		dk_bundle_close(b);
		return -1;
	}
	b->ppc = arch && !strcmp(arch, "ppc");
	if (b->ppc) {
		if (dk_ppc_plan_from_json(plan, &b->ppc_plan) < 0) {
			dk_fail_prefix("%s", mpath);
			dk_bundle_close(b);
			return -1;
		}
		dk_ppc_plan_common(&b->ppc_plan, &b->plan);
	} else if (dk_plan_from_json(plan, &b->plan) < 0) {
		dk_fail_prefix("%s", mpath);
		dk_bundle_close(b);
		return -1;
	}
	if (strcmp(b->plan.name, name) != 0) {
		dk_fail("%s: manifest names VM '%s'", mpath, b->plan.name);
		dk_bundle_close(b);
		return -1;
	}
	json_object *dj, *v;
	if (json_object_object_get_ex(b->manifest, "disk", &dj) && json_object_is_type(dj, json_type_object)) {
		if (json_object_object_get_ex(dj, "path", &v) && json_object_is_type(v, json_type_string)) {
			free(b->disk);
			b->disk = dk_strdup(json_object_get_string(v));
		}
		if (json_object_object_get_ex(dj, "pool", &v) && json_object_is_type(v, json_type_string))
			b->pool = dk_strdup(json_object_get_string(v));
		if (json_object_object_get_ex(dj, "volume", &v) && json_object_is_type(v, json_type_string))
			b->volume = dk_strdup(json_object_get_string(v));
	}
	if (read_volumes(b) < 0) {
		dk_fail_prefix("%s", mpath);
		dk_bundle_close(b);
		return -1;
	}
	if (json_object_object_get_ex(b->manifest, "libvirt", &lv) && json_object_object_get_ex(lv, "uri", &uri) &&
	    json_object_is_type(uri, json_type_string))
		b->uri = dk_strdup(json_object_get_string(uri));
	return 0;
}

static int write_manifest(const struct dk_bundle *b)
{
	_cleanup_free_ char *mpath = dk_asprintf("%s/manifest.json", b->dir);
	const char *s = json_object_to_json_string_ext(b->manifest, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	_cleanup_free_ char *txt = dk_strjoin(s, "\n");
	return dk_write_file_atomic(mpath, txt, strlen(txt), true, 0600);
}

int dk_bundle_write_manifest(const struct dk_bundle *b) { return write_manifest(b); }

/* Update the plan in the manifest (after an accel change). */
static int save_plan(struct dk_bundle *b)
{
	json_object_object_add(b->manifest, "plan", dk_plan_to_json(&b->plan));
	return write_manifest(b);
}

/* ---- process helpers ---- */

static bool pid_alive(int pid)
{
	if (pid <= 0)
		return false;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	char *data = NULL;
	size_t len;
	if (dk_read_file(path, &data, &len, 4096) < 0) {
		dk_errclear();
		return false;
	}
	char *rp = strrchr(data, ')');
	bool alive = rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
	free(data);
	return alive;
}

/* Is pid this bundle's QEMU? Pids are reused and a pidfile outlives its
 * process, so "a command line with qemu in it" is not enough: the process's
 * exact argv must name this bundle's pidfile (-pidfile DIR/qemu.pid, as
 * launch() starts it), or the bundle's QMP socket must be held by that very
 * process (SO_PEERCRED; the bundle may have been moved since). */
static bool pid_is_ours(const struct dk_bundle *b, int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	char *cmd = NULL;
	size_t len = 0;
	bool ours = false;
	if (dk_read_file(path, &cmd, &len, 1 << 20) == 0) {
		_cleanup_free_ char *pidf = dk_asprintf("%s/qemu.pid", b->dir);
		size_t plen = strlen(pidf);
		bool after_opt = false;
		for (size_t i = 0; i < len && !ours;) {
			size_t n = strnlen(cmd + i, len - i);
			ours = after_opt && n == plen && !memcmp(cmd + i, pidf, n);
			after_opt = n == 8 && !memcmp(cmd + i, "-pidfile", 8);
			i += n + 1;
		}
		free(cmd);
	}
	dk_errclear();
	if (ours)
		return true;
	_cleanup_free_ char *sock = dk_asprintf("%s/qmp.sock", b->dir);
	return dk_unix_peer_pid(sock) == pid;
}

/* The pid in qemu.pid when it is this bundle's running QEMU, else 0. *stale
 * (optional) receives a live pid the pidfile names that is not ours. */
static int read_pid_checked(const struct dk_bundle *b, int *stale)
{
	if (stale)
		*stale = 0;
	_cleanup_free_ char *p = dk_asprintf("%s/qemu.pid", b->dir);
	char *data = NULL;
	size_t len;
	if (!dk_path_exists(p) || dk_read_file(p, &data, &len, 64) < 0) {
		dk_errclear();
		return 0;
	}
	char *end = NULL;
	errno = 0;
	long v = strtol(data, &end, 10);
	bool num = errno == 0 && end != data && data[0] >= '0' && data[0] <= '9' && v > 0 && v <= INT_MAX &&
		   strspn(end, " \t\r\n") == strlen(end);
	free(data);
	int pid = num ? (int)v : 0;
	if (!pid_alive(pid))
		return 0;
	if (!pid_is_ours(b, pid)) {
		if (stale)
			*stale = pid;
		return 0;
	}
	return pid;
}

static int read_pid(const struct dk_bundle *b) { return read_pid_checked(b, NULL); }

static bool wait_dead(int pid, double seconds)
{
	double end = dk_now() + seconds;
	while (dk_now() < end) {
		if (!pid_alive(pid))
			return true;
		usleep(50 * 1000);
	}
	return !pid_alive(pid);
}

static const char *virt_msg(void)
{
	const char *m = virGetLastErrorMessage();
	return m && *m ? m : "unknown libvirt error";
}

static const char *virt_state_name(int st)
{
	switch (st) {
	case VIR_DOMAIN_RUNNING: return "running";
	case VIR_DOMAIN_BLOCKED: return "running";
	case VIR_DOMAIN_PAUSED: return "paused";
	case VIR_DOMAIN_SHUTDOWN: return "shutting-down";
	case VIR_DOMAIN_SHUTOFF: return "stopped";
	case VIR_DOMAIN_CRASHED: return "crashed";
	case VIR_DOMAIN_PMSUSPENDED: return "suspended";
	default: return "unknown";
	}
}

int dk_vm_state(const struct dk_bundle *b, struct dk_vm_state *s)
{
	memset(s, 0, sizeof *s);
	if (b->uri) {
		s->libvirt = true;
		virConnectPtr c = dk_virt_open(b->uri);
		if (!c) {
			snprintf(s->state, sizeof s->state, "unknown");
			snprintf(s->detail, sizeof s->detail, "%s", dk_errmsg());
			return 0;
		}
		virDomainPtr d = virDomainLookupByName(c, b->name);
		if (!d) {
			snprintf(s->state, sizeof s->state, "undefined");
			snprintf(s->detail, sizeof s->detail, "not defined in %s", b->uri);
		} else {
			int st = 0, reason = 0;
			if (virDomainGetState(d, &st, &reason, 0) < 0)
				snprintf(s->state, sizeof s->state, "unknown");
			else
				snprintf(s->state, sizeof s->state, "%s", virt_state_name(st));
			virDomainFree(d);
		}
		dk_virt_close(c);
		return 0;
	}
	s->pid = read_pid(b);
	if (!s->pid) {
		snprintf(s->state, sizeof s->state, "stopped");
		return 0;
	}
	snprintf(s->state, sizeof s->state, "running");
	_cleanup_free_ char *sock = dk_asprintf("%s/qmp.sock", b->dir);
	struct dk_qmp q;
	if (dk_qmp_connect(&q, sock, 1000) == 0) {
		json_object *r = NULL, *st;
		if (dk_qmp_exec(&q, "query-status", NULL, &r, 2000) == 0 && json_object_object_get_ex(r, "status", &st)) {
			const char *v = json_object_get_string(st);
			snprintf(s->state, sizeof s->state, "%s", !strcmp(v, "running") ? "running" : "paused");
			snprintf(s->detail, sizeof s->detail, "QEMU status %s", v);
		}
		json_object_put(r);
		dk_qmp_close(&q);
	}
	dk_errclear();
	return 0;
}

/* ---- start ---- */

static bool fs_has_direct_io(const char *dir)
{
	_cleanup_free_ char *p = dk_asprintf("%s/.odirect-probe", dir);
	int fd = open(p, O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	close(fd);
	unlink(p);
	return true;
}

static void last_log_line(const char *path, char *out, size_t n)
{
	out[0] = '\0';
	char *data = NULL;
	size_t len;
	if (dk_read_file(path, &data, &len, 1 << 20) < 0) {
		dk_errclear();
		return;
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	char *nl = strrchr(data, '\n');
	snprintf(out, n, "%s", nl ? nl + 1 : data);
	free(data);
}

/* dkvm tune NAME cpu-governor: the unit that holds the performance governor
 * while the VM runs (a failure is a warning: the VM runs either way). */
static void governor(const struct dk_plan *p, bool start)
{
	if (p->cpu_governor && dk_governor_run(p->name, start) < 0) {
		dk_warn("%s: cpu-governor: %s", p->name, dk_errmsg());
		dk_errclear();
	}
}

/* Thread pinning: vCPU threads from QMP, then sched_setaffinity. */
static void pin_threads(struct dk_qmp *q, const struct dk_plan *p, int pid)
{
	json_object *r = NULL;
	if (dk_qmp_exec(q, "query-cpus-fast", NULL, &r, 3000) < 0) {
		dk_warn("%s: cannot pin vCPUs: %s", p->name, dk_errmsg());
		dk_errclear();
		return;
	}
	struct dk_pinning pn = {.n = p->n_pin};
	memcpy(pn.cpu, p->pin, sizeof pn.cpu[0] * (size_t)p->n_pin);
	snprintf(pn.emulator, sizeof pn.emulator, "%s", p->emulator_pin);
	int tids[256], n = 0;
	size_t len = json_object_is_type(r, json_type_array) ? json_object_array_length(r) : 0;
	for (int i = 0; i < p->n_pin; i++)
		tids[i] = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(r, i), *ci, *ti;
		if (json_object_object_get_ex(e, "cpu-index", &ci) && json_object_object_get_ex(e, "thread-id", &ti)) {
			int idx = json_object_get_int(ci);
			if (idx >= 0 && idx < p->n_pin) {
				tids[idx] = json_object_get_int(ti);
				n++;
			}
		}
	}
	json_object_put(r);
	if (n != p->n_pin) {
		dk_warn("%s: cannot pin vCPUs: QEMU reports %d vCPU threads, the plan pins %d", p->name, n, p->n_pin);
		return;
	}
	if (dk_pin_apply(&pn, pid, tids, n) < 0) {
		dk_warn("%s: %s", p->name, dk_errmsg());
		dk_errclear();
	}
}

/* Launch QEMU detached; wait until QMP answers. */
static int launch(struct dk_bundle *b, const struct dk_plan *p, const struct dk_start_opts *o, int *pid_out)
{
	struct dk_vm_files f = dk_bundle_files(b);
	struct dk_qemu_opts qo = {.display = o->display, .daemonize = true, .direct_io = fs_has_direct_io(b->dir),
				  .serial_file = true};
	struct dk_argv a;
	if ((b->ppc ? dk_ppc_qemu_argv(&b->ppc_plan, &f, &qo, &a) : dk_qemu_argv(p, &f, &qo, &a)) < 0)
		return -1;
	_cleanup_free_ char *sock = dk_asprintf("%s/qmp.sock", b->dir);
	_cleanup_free_ char *pidf = dk_asprintf("%s/qemu.pid", b->dir);
	_cleanup_free_ char *logf = dk_asprintf("%s/qemu.log", b->dir);
	unlink(sock);
	unlink(pidf);
	int logfd = open(logf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		dk_argv_free(&a);
		return dk_fail_errno("%s", logf);
	}
	_cleanup_free_ char *cmdline = dk_argv_to_shell(&a);
	dk_write_all(logfd, cmdline, strlen(cmdline));
	pid_t pid;
	if (dk_spawn_detached(a.v, logfd, &pid) < 0) {
		close(logfd);
		dk_argv_free(&a);
		return -1;
	}
	close(logfd);
	dk_argv_free(&a);
	/* Wait for QMP, or for QEMU to die. */
	double end = dk_now() + 20;
	struct dk_qmp q;
	for (;;) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			char line[512];
			last_log_line(logf, line, sizeof line);
			return dk_fail("%s: QEMU exited at start: %s (see %s)", b->name, line[0] ? line : "no message",
				       logf);
		}
		if (dk_path_exists(sock) && dk_qmp_connect(&q, sock, 500) == 0)
			break;
		dk_errclear();
		if (dk_now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return dk_fail("%s: QEMU did not open its QMP socket within 20 s (see %s)", b->name, logf);
		}
		usleep(50 * 1000);
	}
	/* Under KVM, watch for a firmware that KVM cannot run (nested KVM:
	 * "KVM internal error", the VM stops in status internal-error). */
	int rc = 0;
	if (p->accel == DK_ACCEL_KVM) {
		double wend = dk_now() + (o->kvm_probe_ms > 0 ? o->kvm_probe_ms : 2500) / 1000.0;
		while (dk_now() < wend) {
			json_object *r = NULL, *stv;
			if (dk_qmp_exec(&q, "query-status", NULL, &r, 2000) < 0) {
				rc = -1;
				break;
			}
			const char *status = json_object_object_get_ex(r, "status", &stv) ? json_object_get_string(stv) : "";
			bool bad = !strcmp(status, "internal-error") || !strcmp(status, "shutdown") ||
				   !strcmp(status, "guest-panicked");
			json_object_put(r);
			if (bad) {
				rc = 1;
				break;
			}
			usleep(200 * 1000);
		}
		if (rc != 0) {
			dk_qmp_exec(&q, "quit", NULL, NULL, 1000);
			int st;
			double kend = dk_now() + 5;
			while (waitpid(pid, &st, WNOHANG) != pid) {
				if (dk_now() > kend) {
					kill(pid, SIGKILL);
					waitpid(pid, &st, 0);
					break;
				}
				usleep(20 * 1000);
			}
			dk_qmp_close(&q);
			unlink(sock);
			unlink(pidf);
			dk_errclear();
			return 1; /* KVM cannot run it */
		}
	}
	if (p->n_pin)
		pin_threads(&q, p, pid);
	governor(p, true);
	dk_qmp_close(&q);
	*pid_out = pid;
	return 0;
}

/* Re-plan the CPU for another accelerator with QEMU's view of what it lacks. */
static int to_accel(struct dk_plan *p, enum dk_accel a, const char *reason)
{
	char **un = NULL;
	if (p->cpu_mode == DK_CPU_MODEL && dk_qemu_cpu_unavailable(p->qemu_path, dk_accel_name(a), p->cpu_model, &un) < 0)
		dk_errclear();
	int r = dk_plan_set_accel(p, a, (const char *const *)un, reason);
	dk_strv_free(un);
	return r;
}
static int to_tcg(struct dk_plan *p, const char *reason) { return to_accel(p, DK_ACCEL_TCG, reason); }

static int start_direct(struct dk_bundle *b, const struct dk_start_opts *o, struct dk_start_result *r)
{
	struct dk_vm_state s;
	dk_vm_state(b, &s);
	if (s.pid)
		return dk_fail("%s: already running (pid %d)", b->name, s.pid);
	bool kvm_ok = access("/dev/kvm", R_OK | W_OK) == 0;
	struct dk_plan p = b->plan;
	if (o->accel == DK_ACCEL_FORCE_TCG) {
		if (p.accel != DK_ACCEL_TCG && to_tcg(&p, "--accel tcg") < 0)
			return -1;
	} else if (o->accel == DK_ACCEL_FORCE_KVM) {
		if (!kvm_ok)
			return dk_fail("%s: --accel kvm: /dev/kvm is not usable (%s)", b->name, strerror(errno));
		if (p.accel != DK_ACCEL_KVM && to_accel(&p, DK_ACCEL_KVM, "--accel kvm") < 0)
			return -1;
	} else if (p.accel == DK_ACCEL_KVM && !kvm_ok) {
		dk_warn("%s: /dev/kvm is not usable: running under TCG emulation (slow)", b->name);
		if (to_tcg(&p, "/dev/kvm is not usable") < 0)
			return -1;
	}
	int pid = 0;
	int rc = launch(b, &p, o, &pid);
	if (rc == 1) {
		if (o->accel == DK_ACCEL_FORCE_KVM)
			return dk_fail("%s: KVM cannot run the firmware on this host (KVM internal error; nested virtualization?)",
				       b->name);
		dk_warn("%s: KVM cannot run OVMF on this host (KVM internal error, typical of nested virtualization): falling back to TCG (slow)",
			b->name);
		if (p.cpu_mode == DK_CPU_HOST)
			return dk_fail("%s: --cpu host needs KVM, which cannot run this VM here", b->name);
		if (to_tcg(&p, "KVM cannot run OVMF on this host (KVM internal error at start): TCG emulation") < 0)
			return -1;
		r->fell_back = true;
		rc = launch(b, &p, o, &pid);
	}
	if (rc != 0)
		return -1;
	r->pid = pid;
	r->accel = p.accel;
	switch (o->display) {
	case DK_DISPLAY_VNC: snprintf(r->display, sizeof r->display, "VNC on 127.0.0.1, first free port from 5900 (QMP: query-vnc)"); break;
	case DK_DISPLAY_SPICE: snprintf(r->display, sizeof r->display, "SPICE: remote-viewer spice+unix://%s/spice.sock", b->dir); break;
	case DK_DISPLAY_GTK: snprintf(r->display, sizeof r->display, "GTK window"); break;
	default: snprintf(r->display, sizeof r->display, "none (serial log: %s/serial.log)", b->dir);
	}
	return 0;
}

static int redefine(virConnectPtr c, struct dk_bundle *b, enum dk_accel accel)
{
	struct dk_virt_caps caps;
	if (dk_virt_caps(c, &caps) < 0)
		return -1;
	if (accel == DK_ACCEL_TCG) {
		if (to_tcg(&b->plan, "KVM cannot run this domain here: TCG domain (type qemu)") < 0)
			return -1;
	} else if (to_accel(&b->plan, DK_ACCEL_KVM, "--accel kvm") < 0) {
		return -1;
	}
	struct dk_vm_files f = dk_bundle_domain_files(b);
	char *xml = NULL;
	if (dk_libvirt_xml(&b->plan, &f, &caps, &xml) < 0)
		return -1;
	int r = dk_virt_define(c, xml);
	if (r == 0) {
		_cleanup_free_ char *xp = dk_asprintf("%s/domain.xml", b->dir);
		dk_write_file_atomic(xp, xml, strlen(xml), true, 0600);
		save_plan(b);
	}
	free(xml);
	return r;
}

static int start_libvirt(struct dk_bundle *b, const struct dk_start_opts *o, struct dk_start_result *r)
{
	virConnectPtr c = dk_virt_open(b->uri);
	if (!c)
		return -1;
	int rc = -1;
	virDomainPtr d = NULL;
	/* libvirt's QEMU (another user) must reach the files and open /dev/kvm */
	struct dk_access_result ar;
	if (dk_bundle_access(b, c, o->no_grant, &ar) < 0)
		goto out;
	if (!ar.kvm_ok && o->accel != DK_ACCEL_FORCE_TCG &&
	    (b->plan.accel == DK_ACCEL_KVM || o->accel == DK_ACCEL_FORCE_KVM)) {
		if (o->accel == DK_ACCEL_FORCE_KVM) {
			dk_fail("%s: --accel kvm: libvirt's QEMU user %s cannot open /dev/kvm (%s; see dkvm host check)",
				b->name, dk_ident_str(&ar.qemu), ar.kvm_why);
			goto out;
		}
		dk_warn("%s: libvirt's QEMU user %s cannot open /dev/kvm (%s): running the domain under TCG emulation (slow); "
			"the fix: dkvm host check",
			b->name, dk_ident_str(&ar.qemu), ar.kvm_why);
		if (redefine(c, b, DK_ACCEL_TCG) < 0)
			goto out;
		r->fell_back = true;
	}
	if (o->accel == DK_ACCEL_FORCE_TCG && b->plan.accel != DK_ACCEL_TCG && redefine(c, b, DK_ACCEL_TCG) < 0)
		goto out;
	if (o->accel == DK_ACCEL_FORCE_KVM && b->plan.accel != DK_ACCEL_KVM && redefine(c, b, DK_ACCEL_KVM) < 0)
		goto out;
	for (int attempt = 0; attempt < 2; attempt++) {
		d = virDomainLookupByName(c, b->name);
		if (!d) {
			dk_fail("%s: not defined in %s (dkvm destroy, then create again)", b->name, b->uri);
			goto out;
		}
		if (virDomainIsActive(d) == 1) {
			dk_fail("%s: already running", b->name);
			goto out;
		}
		if (virDomainCreate(d) < 0) {
			dk_fail("%s: libvirt start: %s", b->name, virt_msg());
			goto out;
		}
		bool ok = true;
		if (b->plan.accel == DK_ACCEL_KVM) {
			double end = dk_now() + (o->kvm_probe_ms > 0 ? o->kvm_probe_ms : 2500) / 1000.0;
			while (dk_now() < end) {
				int st = 0;
				if (virDomainGetState(d, &st, NULL, 0) < 0 || (st != VIR_DOMAIN_RUNNING && st != VIR_DOMAIN_BLOCKED)) {
					ok = false;
					break;
				}
				usleep(200 * 1000);
			}
		}
		if (ok) {
			rc = 0;
			r->accel = b->plan.accel;
			snprintf(r->display, sizeof r->display, "virt-manager or virt-viewer -c %s %s", b->uri, b->name);
			break;
		}
		virDomainDestroy(d);
		virDomainFree(d);
		d = NULL;
		if (attempt == 1 || o->accel == DK_ACCEL_FORCE_KVM) {
			dk_fail("%s: the domain did not keep running under KVM (KVM internal error?)", b->name);
			goto out;
		}
		dk_warn("%s: KVM cannot run OVMF on this host (the domain stopped at once, typical of nested virtualization): redefining it as a TCG domain (type qemu)",
			b->name);
		if (redefine(c, b, DK_ACCEL_TCG) < 0)
			goto out;
		r->fell_back = true;
	}
out:
	if (d)
		virDomainFree(d);
	dk_virt_close(c);
	return rc;
}

int dk_vm_start(struct dk_bundle *b, const struct dk_start_opts *o, struct dk_start_result *r)
{
	memset(r, 0, sizeof *r);
	if (b->ppc && o->accel == DK_ACCEL_FORCE_KVM)
		return dk_fail("%s: --accel kvm: a PowerPC guest runs under TCG (KVM runs it only on a PowerPC host)", b->name);
	struct dk_vm_lock lock;
	if (dk_vm_lock(b->parent, b->name, &lock) < 0)
		return -1;
	int rc = b->uri ? start_libvirt(b, o, r) : start_direct(b, o, r);
	dk_vm_unlock(&lock);
	return rc;
}

/* ---- stop ---- */

static int stop_libvirt(struct dk_bundle *b, int timeout_s, bool force, bool *forced)
{
	virConnectPtr c = dk_virt_open(b->uri);
	if (!c)
		return -1;
	int rc = -1;
	virDomainPtr d = virDomainLookupByName(c, b->name);
	if (!d) {
		dk_fail("%s: not defined in %s", b->name, b->uri);
		goto out;
	}
	if (virDomainIsActive(d) != 1) {
		rc = 0;
		goto out;
	}
	if (!force) {
		if (virDomainShutdown(d) == 0) {
			double end = dk_now() + timeout_s;
			while (dk_now() < end && virDomainIsActive(d) == 1)
				usleep(100 * 1000);
		}
		virResetLastError();
	}
	if (virDomainIsActive(d) == 1) {
		*forced = true;
		if (virDomainDestroy(d) < 0) {
			dk_fail("%s: libvirt destroy: %s", b->name, virt_msg());
			goto out;
		}
	}
	rc = 0;
out:
	if (d)
		virDomainFree(d);
	dk_virt_close(c);
	return rc;
}

/* Signal our QEMU: through its pidfd, else (no pidfd_open) after checking once more. */
static void send_signal(const struct dk_bundle *b, int pid, int pfd, int sig)
{
	if (pfd >= 0)
		syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0);
	else if (pid_is_ours(b, pid))
		kill(pid, sig);
}

int dk_vm_stop(struct dk_bundle *b, int timeout_s, bool force, bool *forced)
{
	*forced = false;
	if (b->uri)
		return stop_libvirt(b, timeout_s, force, forced);
	int stale = 0;
	int pid = read_pid_checked(b, &stale);
	_cleanup_free_ char *sock = dk_asprintf("%s/qmp.sock", b->dir);
	_cleanup_free_ char *pidf = dk_asprintf("%s/qemu.pid", b->dir);
	/* Signals go through a pidfd taken before the check that the process is
	 * ours: a pid reused after the check cannot receive them. */
	_cleanup_close_ int pfd = pid ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (pid && pfd < 0 && errno == ESRCH)
		pid = 0;
	else if (pid && pfd >= 0 && !pid_is_ours(b, pid)) {
		stale = pid;
		pid = 0;
	}
	if (!pid) {
		if (stale)
			dk_warn("%s: %s names pid %d, which is not this VM's QEMU: a stale pidfile, removed (nothing was signalled)",
				b->name, pidf, stale);
		if (!stale || dk_unix_peer_pid(sock) == 0)
			unlink(sock);
		unlink(pidf);
		return 0;
	}
	struct dk_qmp q;
	bool have_qmp = dk_qmp_connect(&q, sock, 2000) == 0;
	dk_errclear();
	if (have_qmp && !force) {
		dk_qmp_exec(&q, "system_powerdown", NULL, NULL, 2000);
		dk_errclear();
		dk_qmp_close(&q);
		have_qmp = false;
		if (wait_dead(pid, timeout_s))
			goto done;
		have_qmp = dk_qmp_connect(&q, sock, 1000) == 0;
		dk_errclear();
	}
	*forced = true;
	if (have_qmp) {
		dk_qmp_exec(&q, "quit", NULL, NULL, 2000);
		dk_errclear();
		dk_qmp_close(&q);
		if (wait_dead(pid, 5))
			goto done;
	}
	send_signal(b, pid, pfd, SIGTERM);
	if (!wait_dead(pid, 3)) {
		send_signal(b, pid, pfd, SIGKILL);
		if (!wait_dead(pid, 3))
			return dk_fail("%s: QEMU (pid %d) does not die", b->name, pid);
	}
done:
	unlink(sock);
	unlink(pidf);
	governor(&b->plan, false);
	return 0;
}

/* ---- destroy ---- */

static int destroy_locked(struct dk_bundle *b, bool delete_disks)
{
	bool forced;
	if (b->uri) {
		virConnectPtr c = dk_virt_open(b->uri);
		if (!c)
			return dk_fail_prefix("%s: cannot undefine the libvirt domain", b->name);
		int r = dk_virt_undefine(c, b->name);
		/* the VM's volumes go with it; the disk's only with --delete-disks */
		for (char **v = b->volumes; r == 0 && v && *v; v++)
			if (delete_disks || !b->volume || strcmp(*v, b->volume) != 0)
				r = dk_virt_vol_delete(c, b->pool, *v);
		if (r == 0 && delete_disks && b->pool && b->volume)
			r = dk_virt_vol_delete(c, b->pool, b->volume);
		dk_virt_close(c);
		/* the search permissions given to libvirt's QEMU go with the VM */
		if (r == 0 && dk_bundle_access_revoke(b) < 0) {
			dk_warn("%s", dk_errmsg());
			dk_errclear();
		}
		if (r < 0)
			return -1;
	} else if (dk_vm_stop(b, 0, true, &forced) < 0) {
		return -1;
	}
	DIR *d = opendir(b->dir);
	if (!d)
		return dk_fail_errno("%s", b->dir);
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!delete_disks && !strcmp(e->d_name, "disk.qcow2"))
			continue;
		_cleanup_free_ char *p = dk_asprintf("%s/%s", b->dir, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (dk_rm_rf(p) < 0)
				rc = -1;
		} else if (unlink(p) < 0 && errno != ENOENT) {
			rc = dk_fail_errno("%s", p);
		}
	}
	closedir(d);
	if ((delete_disks || b->volume) && rmdir(b->dir) < 0)
		rc = dk_fail_errno("%s", b->dir);
	return rc;
}

int dk_vm_destroy(struct dk_bundle *b, bool delete_disks)
{
	struct dk_vm_lock lock;
	if (dk_vm_lock(b->parent, b->name, &lock) < 0)
		return -1;
	int rc = destroy_locked(b, delete_disks);
	dk_vm_unlock(&lock);
	return rc;
}

/* ---- list / show ---- */

json_object *dk_vm_show_json(const struct dk_bundle *b)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(b->name));
	json_object_object_add(o, "dir", json_object_new_string(b->dir));
	struct dk_vm_state s;
	dk_vm_state(b, &s);
	json_object_object_add(o, "state", json_object_new_string(s.state));
	json_object_object_add(o, "pid", s.pid ? json_object_new_int(s.pid) : NULL);
	json_object_object_add(o, "libvirt_uri", b->uri ? json_object_new_string(b->uri) : NULL);
	json_object *files = json_object_new_object();
	const char *names[] = {"manifest.json", "OpenCore.img", "disk.qcow2", "OVMF_VARS.fd", "domain.xml",
			       "qemu.argv", "start.sh"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		_cleanup_free_ char *p = dk_asprintf("%s/%s", b->dir, names[i]);
		json_object_object_add(files, names[i], dk_path_exists(p) ? json_object_new_string(p) : NULL);
	}
	json_object_object_add(o, "files", files);
	json_object *m = NULL;
	json_object_deep_copy(b->manifest, &m, NULL);
	json_object_object_add(o, "manifest", m);
	return o;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int dk_vm_list(const char *parent, json_object **out)
{
	*out = json_object_new_array();
	DIR *d = opendir(parent);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return dk_fail_errno("%s", parent);
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !dk_name_is_safe(e->d_name))
			continue;
		_cleanup_free_ char *m = dk_asprintf("%s/%s/manifest.json", parent, e->d_name);
		if (!dk_path_exists(m))
			continue;
		names = dk_realloc(names, (n + 1) * sizeof *names);
		names[n++] = dk_strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct dk_bundle b;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(names[i]));
		if (dk_bundle_open(parent, names[i], &b) < 0) {
			json_object_object_add(o, "state", json_object_new_string("broken"));
			json_object_object_add(o, "error", json_object_new_string(dk_errmsg()));
			dk_errclear();
		} else {
			struct dk_vm_state s;
			dk_vm_state(&b, &s);
			json_object_object_add(o, "model", json_object_new_string(b.plan.model));
			json_object_object_add(o, "macos", json_object_new_string(b.plan.macos));
			json_object_object_add(o, "vcpus", json_object_new_int(b.plan.vcpus));
			json_object_object_add(o, "memory_mib", json_object_new_int64((int64_t)b.plan.memory_mib));
			json_object_object_add(o, "state", json_object_new_string(s.state));
			json_object_object_add(o, "libvirt_uri", b.uri ? json_object_new_string(b.uri) : NULL);
			json_object_object_add(o, "dir", json_object_new_string(b.dir));
			dk_bundle_close(&b);
		}
		json_object_array_add(*out, o);
		free(names[i]);
	}
	free(names);
	return 0;
}
