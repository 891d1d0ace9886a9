/* Live-only probes: they ask the running machine, not files. Each runs in a
 * child process with a deadline so nothing here can hang or crash dkvm. */
#include "host/internal.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/fs.h"
#include "util/paths.h"
#include "util/run.h"

#include <json-c/json.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Read everything from fd until EOF or the deadline; returns 0 on EOF, -1 on timeout. */
static int read_until(int fd, struct dk_buf *b, double deadline, size_t max)
{
	for (;;) {
		int left = (int)(deadline - now_ms());
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		char chunk[8192];
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (b->len < max)
			dk_buf_append(b, chunk, (size_t)n);
	}
}

static void reap(pid_t pid, bool kill_it)
{
	if (kill_it)
		kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- KVM smoke guest ---- */

static void smoke_child(const char *dev, int out)
{
	char msg[256];
	int kvm = open(dev, O_RDWR | O_CLOEXEC);
#define FAILC(...)                                                   \
	do {                                                         \
		snprintf(msg, sizeof msg, __VA_ARGS__);              \
		if (write(out, msg, strlen(msg)) < 0) {              \
		}                                                    \
		_exit(1);                                            \
	} while (0)
	if (kvm < 0)
		FAILC("0 open %s: %s", dev, strerror(errno));
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api < 0)
		FAILC("0 KVM_GET_API_VERSION on %s: %s", dev, strerror(errno));
	if (api != KVM_API_VERSION)
		FAILC("0 KVM API version %d, expected %d", api, KVM_API_VERSION);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		FAILC("0 KVM_CREATE_VM: %s", strerror(errno));
	void *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		FAILC("0 mmap guest memory: %s", strerror(errno));
	static const unsigned char code[] = {0xb0, 0x42, 0xe6, 0x10, 0xf4}; /* mov al,0x42; out 0x10,al; hlt */
	memcpy(mem, code, sizeof code);
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0x1000, .memory_size = 0x1000, .userspace_addr = (uintptr_t)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		FAILC("0 KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		FAILC("0 KVM_CREATE_VCPU: %s", strerror(errno));
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run))
		FAILC("0 KVM_GET_VCPU_MMAP_SIZE: %s", sz < 0 ? strerror(errno) : "too small");
	struct kvm_run *run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		FAILC("0 mmap kvm_run: %s", strerror(errno));
	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		FAILC("0 KVM_GET_SREGS: %s", strerror(errno));
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		FAILC("0 KVM_SET_SREGS: %s", strerror(errno));
	struct kvm_regs regs = {.rip = 0x1000, .rflags = 0x2};
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		FAILC("0 KVM_SET_REGS: %s", strerror(errno));
	bool saw_io = false;
	for (int i = 0; i < 8; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			FAILC("0 KVM_RUN: %s", strerror(errno));
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			unsigned char v = *((unsigned char *)run + run->io.data_offset);
			if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != 0x10 || run->io.size != 1 || v != 0x42)
				FAILC("0 unexpected port I/O: %s port 0x%x size %d value 0x%02x",
				      run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.port, run->io.size, v);
			saw_io = true;
			break;
		}
		case KVM_EXIT_HLT:
			if (!saw_io)
				FAILC("0 guest halted before writing port 0x10");
			FAILC("1 guest ran: OUT 0x42 to port 0x10 (KVM_EXIT_IO), then KVM_EXIT_HLT");
		case KVM_EXIT_FAIL_ENTRY:
			FAILC("0 KVM_EXIT_FAIL_ENTRY (hardware entry failure reason 0x%llx)",
			      (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_INTERNAL_ERROR:
			FAILC("0 KVM_EXIT_INTERNAL_ERROR (suberror %u)", run->internal.suberror);
		case KVM_EXIT_SHUTDOWN:
			FAILC("0 KVM_EXIT_SHUTDOWN (guest triple fault)");
		default:
			FAILC("0 unexpected exit reason %u", run->exit_reason);
		}
	}
	FAILC("0 guest did not halt after 8 runs");
#undef FAILC
}

int dk_kvm_smoke(const char *dev, int timeout_ms, char *detail, size_t n)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(detail, n, "pipe: %s", strerror(errno));
		return 0;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(detail, n, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return 0;
	}
	if (pid == 0) {
		close(p[0]);
		alarm((unsigned)(timeout_ms / 1000 + 2));
		smoke_child(dev, p[1]);
		_exit(1);
	}
	close(p[1]);
	struct dk_buf b = {0};
	int r = read_until(p[0], &b, now_ms() + timeout_ms, 4096);
	close(p[0]);
	reap(pid, r < 0);
	int ok = 0;
	if (r < 0) {
		snprintf(detail, n, "the smoke guest did not finish within %d ms (KVM_RUN hung)", timeout_ms);
	} else if (b.len >= 2) {
		dk_buf_append(&b, "", 1);
		ok = b.data[0] == '1';
		snprintf(detail, n, "%s", b.data + 2);
	} else {
		snprintf(detail, n, "the smoke guest process died without a result");
	}
	dk_buf_free(&b);
	return ok;
}

/* ---- QEMU ---- */

static int run_capture(const char *const argv[], int timeout_ms, char **out)
{
	*out = NULL;
	struct dk_run_opts o = {.timeout_ms = timeout_ms, .out_max = 4 << 20};
	struct dk_cmd_result r;
	if (dk_run_argv((char *const *)argv, &o, &r) < 0)
		return -1;
	if (r.timed_out) {
		dk_cmd_result_free(&r);
		return dk_fail("%s %s: no answer within %d ms", argv[0], argv[1], timeout_ms);
	}
	if (r.status != 0) {
		dk_cmd_result_free(&r);
		return dk_fail("%s %s: exited with status %d", argv[0], argv[1], r.status);
	}
	*out = r.out;
	return 0;
}

/* What QEMU answers about itself changes only with the binary: the answers are
 * cached in $XDG_CACHE_HOME/dkvm/qemu-facts.json, keyed by the binary's path,
 * size, mtime and inode, so only the first run pays for three QEMU starts. */
static char *qemu_cache_key(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return NULL;
	return dk_asprintf("%s|%lld|%lld.%09ld|%llu", path, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
			   st.st_mtim.tv_nsec, (unsigned long long)st.st_ino);
}

static bool qemu_cache_load(struct dk_host_qemu *q, const char *key)
{
	_cleanup_free_ char *dir = dk_cache_dir();
	_cleanup_free_ char *file = dk_strjoin(dir, "/qemu-facts.json");
	json_object *o = json_object_from_file(file);
	if (!o)
		return false;
	json_object *k, *v, *a, *m;
	bool ok = json_object_object_get_ex(o, "key", &k) && !strcmp(json_object_get_string(k), key) &&
		  json_object_object_get_ex(o, "version", &v) && json_object_object_get_ex(o, "applesmc", &a) &&
		  json_object_object_get_ex(o, "q35", &m);
	if (ok) {
		snprintf(q->version, sizeof q->version, "%s", json_object_get_string(v));
		if (sscanf(q->version, "%d.%d.%d", &q->major, &q->minor, &q->micro) < 2)
			ok = false;
		q->has_applesmc = json_object_get_boolean(a);
		q->has_q35 = json_object_get_boolean(m);
	}
	json_object_put(o);
	return ok;
}

static void qemu_cache_store(const struct dk_host_qemu *q, const char *key)
{
	_cleanup_free_ char *dir = dk_cache_dir();
	if (dk_mkdir_p(dir, 0755) < 0) {
		dk_errclear();
		return;
	}
	_cleanup_free_ char *file = dk_strjoin(dir, "/qemu-facts.json");
	json_object *o = json_object_new_object();
	json_object_object_add(o, "key", json_object_new_string(key));
	json_object_object_add(o, "version", json_object_new_string(q->version));
	json_object_object_add(o, "applesmc", json_object_new_boolean(q->has_applesmc));
	json_object_object_add(o, "q35", json_object_new_boolean(q->has_q35));
	const char *txt = json_object_to_json_string(o);
	if (dk_write_file_atomic(file, txt, strlen(txt), true, 0644) < 0)
		dk_errclear(); /* a cache that cannot be written only costs time */
	json_object_put(o);
}

void dk_host_probe_qemu_live(struct dk_host *h)
{
	struct dk_host_qemu *q = &h->qemu;
	if (!q->path[0])
		return;
	q->queried = true;
	_cleanup_free_ char *key = qemu_cache_key(q->path);
	if (key && qemu_cache_load(q, key))
		return;
	char *out = NULL;
	const char *av[] = {q->path, "-version", NULL};
	if (run_capture(av, 5000, &out) < 0) {
		snprintf(q->error, sizeof q->error, "%s", dk_errmsg());
		return;
	}
	const char *v = strstr(out, "version ");
	if (v && sscanf(v + 8, "%d.%d.%d", &q->major, &q->minor, &q->micro) >= 2)
		snprintf(q->version, sizeof q->version, "%.*s", (int)strcspn(v + 8, " \n"), v + 8);
	free(out);
	const char *dv[] = {q->path, "-machine", "none", "-device", "help", NULL};
	if (run_capture(dv, 8000, &out) == 0) {
		q->has_applesmc = strstr(out, "\"isa-applesmc\"") != NULL;
		free(out);
	} else {
		snprintf(q->error, sizeof q->error, "%s", dk_errmsg());
	}
	const char *mv[] = {q->path, "-machine", "help", NULL};
	if (run_capture(mv, 8000, &out) == 0) {
		for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			if (!strncmp(l, "q35 ", 4) || !strncmp(l, "pc-q35-", 7))
				q->has_q35 = true;
		free(out);
	} else {
		snprintf(q->error, sizeof q->error, "%s", dk_errmsg());
	}
	if (key && !q->error[0] && q->version[0])
		qemu_cache_store(q, key);
}

/* ---- libvirt ---- */

static void quiet_err(void *u, virErrorPtr e) { (void)u, (void)e; }

static bool socket_ok(const char *abs)
{
	_cleanup_free_ char *p = dk_host_path(abs);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(p) >= sizeof a.sun_path)
		return false;
	strcpy(a.sun_path, p);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	return connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
}

void dk_host_probe_libvirt_live(struct dk_host *h)
{
	struct dk_host_libvirt *l = &h->libvirt;
	l->queried = true;
	unsigned long lib = 0;
	virSetErrorFunc(NULL, quiet_err);
	if (virGetVersion(&lib, NULL, NULL) == 0)
		l->lib_version = lib;
	static const char *socks[] = {"/run/libvirt/libvirt-sock-ro", "/run/libvirt/virtqemud-sock-ro",
				      "/run/libvirt/libvirt-sock", "/run/libvirt/virtqemud-sock"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(socks); i++) {
		snprintf(l->socket_path, sizeof l->socket_path, "%s", socks[i]);
		if (socket_ok(socks[i])) {
			l->socket_reachable = true;
			break;
		}
	}
	if (!l->socket_reachable) {
		snprintf(l->socket_path, sizeof l->socket_path, "%s", socks[0]);
		snprintf(l->error, sizeof l->error, "no libvirt daemon socket answers in /run/libvirt");
		return;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		alarm(6);
		char msg[256];
		virSetErrorFunc(NULL, quiet_err);
		virConnectPtr c = virConnectOpenReadOnly("qemu:///system");
		unsigned long v = 0;
		if (!c) {
			virErrorPtr e = virGetLastError();
			snprintf(msg, sizeof msg, "0 %s", e && e->message ? e->message : "connection failed");
		} else if (virConnectGetLibVersion(c, &v) < 0) {
			snprintf(msg, sizeof msg, "0 virConnectGetLibVersion failed");
		} else {
			snprintf(msg, sizeof msg, "%lu", v);
		}
		if (write(p[1], msg, strlen(msg)) < 0) {
		}
		_exit(0);
	}
	close(p[1]);
	struct dk_buf b = {0};
	int r = read_until(p[0], &b, now_ms() + 4000, 4096);
	close(p[0]);
	reap(pid, r < 0);
	dk_buf_append(&b, "", 1);
	if (r < 0)
		snprintf(l->error, sizeof l->error, "qemu:///system did not answer within 4 s");
	else if (b.data[0] == '0' && b.data[1] == ' ')
		snprintf(l->error, sizeof l->error, "qemu:///system: %s", b.data + 2);
	else
		l->version = strtoul(b.data, NULL, 10);
	dk_buf_free(&b);
}

void dk_host_probe_disk(struct dk_host *h)
{
	free(h->vm_dir);
	h->vm_dir = dk_data_dir();
	_cleanup_free_ char *p = dk_strdup(h->vm_dir);
	for (;;) {
		struct statvfs s;
		if (statvfs(p, &s) == 0) {
			h->vm_dir_free_bytes = (uint64_t)s.f_bavail * s.f_frsize;
			h->vm_dir_checked = true;
			return;
		}
		char *slash = strrchr(p, '/');
		if (!slash || slash == p) {
			if (statvfs("/", &s) == 0) {
				h->vm_dir_free_bytes = (uint64_t)s.f_bavail * s.f_frsize;
				h->vm_dir_checked = true;
			}
			return;
		}
		*slash = '\0';
	}
}

void dk_host_probe_live(struct dk_host *h)
{
	struct dk_host_kvm *k = &h->kvm;
	if (k->dev_present && k->dev_access) {
		k->smoke_ran = true;
		_cleanup_free_ char *p = dk_host_path("/dev/kvm");
		k->usable = dk_kvm_smoke(p, 5000, k->detail, sizeof k->detail) == 1;
	}
	dk_host_probe_qemu_live(h);
	dk_host_probe_libvirt_live(h);
	dk_host_probe_disk(h);
}
