/* QMP client (unix socket), child processes, live QEMU queries. */
#include "vm/vm.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/cleanup.h"
#include "util/progress.h"
#include "util/fs.h"
#include "util/paths.h"
#include "util/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Read one JSON line (QMP messages are newline-terminated). */
static int qmp_read(struct dk_qmp *q, json_object **out, int timeout_ms)
{
	double end = dk_now() + timeout_ms / 1000.0;
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		if (nl) {
			*nl = '\0';
			json_object *o = json_tokener_parse(q->buf);
			size_t used = (size_t)(nl - q->buf) + 1;
			memmove(q->buf, q->buf + used, q->len - used);
			q->len -= used;
			if (!o)
				return dk_fail("QMP: malformed message");
			*out = o;
			return 0;
		}
		if (q->len >= sizeof q->buf - 1)
			return dk_fail("QMP: message too long");
		int left = (int)((end - dk_now()) * 1000);
		if (left <= 0)
			return dk_fail("QMP: timed out waiting for QEMU");
		struct pollfd pfd = {.fd = q->fd, .events = POLLIN};
		int r = poll(&pfd, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return dk_fail_errno("QMP: poll");
		if (r == 0)
			continue;
		ssize_t n = read(q->fd, q->buf + q->len, sizeof q->buf - 1 - q->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dk_fail_errno("QMP: read");
		if (n == 0)
			return dk_fail("QMP: QEMU closed the connection");
		q->len += (size_t)n;
	}
}

int dk_qmp_connect(struct dk_qmp *q, const char *path, int timeout_ms)
{
	memset(q, 0, sizeof *q);
	q->fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return dk_fail("%s: socket path too long", path);
	strcpy(sa.sun_path, path);
	double end = dk_now() + timeout_ms / 1000.0;
	for (;;) {
		q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (q->fd < 0)
			return dk_fail_errno("socket");
		if (connect(q->fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			break;
		int e = errno;
		close(q->fd);
		q->fd = -1;
		if (dk_now() >= end) {
			errno = e;
			return dk_fail_errno("%s: connect", path);
		}
		usleep(50 * 1000);
	}
	json_object *greet = NULL;
	if (qmp_read(q, &greet, timeout_ms) < 0)
		goto fail;
	json_object_put(greet);
	if (dk_qmp_exec(q, "qmp_capabilities", NULL, NULL, timeout_ms) < 0)
		goto fail;
	return 0;
fail:
	dk_fail_prefix("%s", path);
	dk_qmp_close(q);
	return -1;
}

void dk_qmp_close(struct dk_qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}

int dk_unix_peer_pid(const char *sock_path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof sa.sun_path)
		return 0;
	strcpy(sa.sun_path, sock_path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return 0;
	/* the credentials of the process that called listen() */
	struct ucred cr;
	socklen_t n = sizeof cr;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) < 0 || n != sizeof cr)
		return 0;
	return cr.pid > 0 ? (int)cr.pid : 0;
}

static int qmp_exec_fd(struct dk_qmp *q, int wfd, const char *cmd, json_object *args, json_object **ret,
		       int timeout_ms)
{
	if (ret)
		*ret = NULL;
	json_object *req = json_object_new_object();
	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "arguments", json_object_get(args));
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char *line = dk_strjoin(s, "\n");
	json_object_put(req);
	int w = dk_write_all(wfd, line, strlen(line));
	free(line);
	if (w < 0)
		return -1;
	for (;;) {
		json_object *m = NULL;
		if (qmp_read(q, &m, timeout_ms) < 0)
			return -1;
		json_object *v;
		if (json_object_object_get_ex(m, "event", &v)) {
			json_object_put(m);
			continue;
		}
		if (json_object_object_get_ex(m, "error", &v)) {
			json_object *d;
			const char *desc = json_object_object_get_ex(v, "desc", &d) ? json_object_get_string(d) : "error";
			dk_fail("QMP %s: %s", cmd, desc);
			json_object_put(m);
			return -1;
		}
		if (json_object_object_get_ex(m, "return", &v)) {
			if (ret)
				*ret = json_object_get(v);
			json_object_put(m);
			return 0;
		}
		json_object_put(m);
	}
}

int dk_qmp_exec(struct dk_qmp *q, const char *cmd, json_object *args, json_object **ret, int timeout_ms)
{
	return qmp_exec_fd(q, q->fd, cmd, args, ret, timeout_ms);
}

int dk_run(char *const argv[], char **capture, int timeout_ms)
{
	struct dk_run_opts o = {.timeout_ms = timeout_ms, .out_max = capture ? 1 << 20 : 0, .merge_err = true,
				.search_path = true};
	struct dk_cmd_result r;
	if (capture)
		*capture = NULL;
	if (dk_run_argv(argv, &o, &r) < 0)
		return -1;
	if (capture)
		*capture = r.out;
	if (r.timed_out)
		return dk_fail("%s: timed out", argv[0]);
	if (r.status == 127)
		return dk_fail("%s: cannot run (not installed?)", argv[0]);
	if (r.status != 0) {
		const char *out = capture && *capture ? *capture : "";
		char line[300];
		snprintf(line, sizeof line, "%s", out);
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		return dk_fail("%s: failed (exit %d)%s%s", argv[0], r.status, line[0] ? ": " : "", line);
	}
	return 0;
}

static int cpu_unavailable_live(const char *qemu, const char *accel, const char *model, char ***out)
{
	*out = NULL;
	char *argv[] = {(char *)qemu, "-machine", "none", "-accel", (char *)accel, "-nodefaults", "-display", "none",
			"-qmp", "stdio", NULL};
	struct dk_child c;
	if (dk_spawn_piped(argv, NULL, &c) < 0)
		return dk_fail_prefix("QEMU CPU query");
	struct dk_qmp q = {.fd = c.out};
	int rc = -1;
	json_object *greet = NULL, *defs = NULL;
	if (qmp_read(&q, &greet, 5000) < 0)
		goto done;
	json_object_put(greet);
	if (qmp_exec_fd(&q, c.in, "qmp_capabilities", NULL, NULL, 5000) < 0)
		goto done;
	if (qmp_exec_fd(&q, c.in, "query-cpu-definitions", NULL, &defs, 5000) < 0)
		goto done;
	size_t n = json_object_is_type(defs, json_type_array) ? json_object_array_length(defs) : 0;
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(defs, i), *nm, *un;
		if (!json_object_object_get_ex(d, "name", &nm) || strcmp(json_object_get_string(nm), model))
			continue;
		found = true;
		size_t k = json_object_object_get_ex(d, "unavailable-features", &un) ? json_object_array_length(un) : 0;
		char **v = dk_calloc(k + 1, sizeof *v);
		for (size_t j = 0; j < k; j++)
			v[j] = dk_strdup(json_object_get_string(json_object_array_get_idx(un, j)));
		*out = v;
	}
	if (!found) {
		dk_fail("%s: QEMU does not know the CPU model %s", qemu, model);
		goto done;
	}
	qmp_exec_fd(&q, c.in, "quit", NULL, NULL, 2000);
	rc = 0;
done:
	json_object_put(defs);
	struct dk_cmd_result st;
	dk_child_wait(&c, 3000, &st);
	if (!st.timed_out && rc < 0 && st.status == 127)
		dk_fail("%s: cannot run", qemu);
	if (rc < 0)
		dk_fail_prefix("QEMU CPU query");
	return rc;
}

/* ---- cache: the answer depends on the QEMU binary, the model, the
 * accelerator, the host CPU and the kernel; key all of them. ---- */

static uint64_t fnv1a(const void *data, size_t n, uint64_t h)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static char *cache_key(const char *qemu, const char *accel, const char *model)
{
	struct stat st;
	if (stat(qemu, &st) < 0)
		return NULL;
	char *cpuinfo = NULL, *rel = NULL;
	size_t n = 0, rn = 0;
	uint64_t h = 1469598103934665603ULL;
	if (dk_read_file("/proc/cpuinfo", &cpuinfo, &n, 8 << 20) == 0) {
		char *f = strstr(cpuinfo, "\nflags");
		char *e = f ? strchr(f + 1, '\n') : NULL;
		if (f && e)
			h = fnv1a(f, (size_t)(e - f), h);
		free(cpuinfo);
	}
	if (dk_read_file("/proc/sys/kernel/osrelease", &rel, &rn, 4096) == 0) {
		h = fnv1a(rel, rn, h);
		free(rel);
	}
	dk_errclear();
	struct stat ks;
	bool kvm = stat("/dev/kvm", &ks) == 0;
	return dk_asprintf("%s|%lld|%lld|%s|%s|%016llx|%d", qemu, (long long)st.st_mtime, (long long)st.st_size, accel,
			   model, (unsigned long long)h, kvm);
}

int dk_qemu_cpu_unavailable(const char *qemu, const char *accel, const char *model, char ***out)
{
	*out = NULL;
	char *key = cache_key(qemu, accel, model);
	char *dir = dk_cache_dir();
	char *path = NULL;
	if (key) {
		path = dk_asprintf("%s/qemu-cpu-%016llx.json", dir,
				   (unsigned long long)fnv1a(key, strlen(key), 1469598103934665603ULL));
		char *data = NULL;
		size_t n;
		if (dk_path_exists(path) && dk_read_file(path, &data, &n, 1 << 20) == 0) {
			json_object *o = json_tokener_parse(data), *k, *u;
			free(data);
			if (o && json_object_object_get_ex(o, "key", &k) && !strcmp(json_object_get_string(k), key) &&
			    json_object_object_get_ex(o, "unavailable", &u) && json_object_is_type(u, json_type_array)) {
				size_t m = json_object_array_length(u);
				char **v = dk_calloc(m + 1, sizeof *v);
				for (size_t i = 0; i < m; i++)
					v[i] = dk_strdup(json_object_get_string(json_object_array_get_idx(u, i)));
				*out = v;
			}
			json_object_put(o);
		}
		dk_errclear();
	}
	int rc = 0;
	if (!*out) {
		rc = cpu_unavailable_live(qemu, accel, model, out);
		if (rc == 0 && path) {
			json_object *o = json_object_new_object(), *u = json_object_new_array();
			json_object_object_add(o, "key", json_object_new_string(key));
			for (char **p = *out; *p; p++)
				json_object_array_add(u, json_object_new_string(*p));
			json_object_object_add(o, "unavailable", u);
			const char *txt = json_object_to_json_string(o);
			if (dk_mkdir_p(dir, 0755) < 0 || dk_write_file_atomic(path, txt, strlen(txt), true, 0644) < 0)
				dk_errclear(); /* a cache that cannot be written is no error */
			json_object_put(o);
		}
	}
	free(key);
	free(dir);
	free(path);
	return rc;
}
