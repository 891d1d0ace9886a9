#include "t.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/run.h"
#include "util/strv.h"
#include "util/progress.h"
#include "util/report.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TEST(parse_size)
{
	uint64_t v;
	CHECK(dk_parse_size("128G", &v) == 0 && v == 128ull << 30);
	CHECK(dk_parse_size("4GiB", &v) == 0 && v == 4ull << 30);
	CHECK(dk_parse_size("512", &v) == 0 && v == 512);
	CHECK(dk_parse_size("1.5K", &v) == 0 && v == 1536);
	CHECK(dk_parse_size("64MB", &v) == 0 && v == 64ull << 20);
	CHECK(dk_parse_size("-1G", &v) < 0);
	CHECK(dk_parse_size("12Q", &v) < 0);
	CHECK_CONTAINS(dk_errmsg(), "unknown size unit");
	CHECK(dk_parse_size("", &v) < 0);
	CHECK(dk_parse_size("99999999999T", &v) < 0);
}

TEST(safe_names)
{
	CHECK(dk_name_is_safe("macos-sonoma_1"));
	CHECK(!dk_name_is_safe("a/b"));
	CHECK(!dk_name_is_safe(".."));
	CHECK(!dk_name_is_safe("x\"y"));
	CHECK(!dk_name_is_safe("x'y"));
	CHECK(!dk_name_is_safe(""));
	CHECK(!dk_name_is_safe("tab\there"));
}

TEST(str_escape)
{
	char *e;
#define ESC(in, out)                       \
	do {                               \
		e = dk_str_escape(in);     \
		CHECK_STR(e, out);         \
		free(e);                   \
	} while (0)
	ESC("Apple_HFS : 2", "Apple_HFS : 2");
	ESC("\x1b[2J\nname\r\t", "\\x1b[2J\\x0aname\\x0d\\x09");
	ESC("back\\slash", "back\\\\slash");
	ESC("del\x7f", "del\\x7f");
	ESC("caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80"); /* valid UTF-8 kept */
	ESC("\xc2\x9b" "31m", "\\xc2\\x9b" "31m");                 /* C1 CSI */
	ESC("a\xe2\x80\xae" "b", "a\\xe2\\x80\\xae" "b");                 /* RIGHT-TO-LEFT OVERRIDE */
	ESC("\xff\xc3(\xc0\x80", "\\xff\\xc3(\\xc0\\x80");           /* invalid, overlong */
	ESC("\xed\xa0\x80", "\\xed\\xa0\\x80");                     /* surrogate */
	ESC("\xe6\x97", "\\xe6\\x97");                                 /* truncated at the end */
	ESC("", "");
#undef ESC
	CHECK(dk_str_escape(NULL) == NULL);
	CHECK_STR(dk_esc(NULL), "(null)");
	const char *a = dk_esc("\x1b"), *b = dk_esc("x\ny");
	CHECK_STR(a, "\\x1b");
	CHECK_STR(b, "x\\x0ay");
	/* messages: dk_fail's own escapes are kept as they are */
	CHECK_STR(dk_esc_msg("a\\nb: \xc2\x9b\xff\x1b"), "a\\nb: \\xc2\\x9b\\xff\\x1b");
}

TEST(atomic_write_refuses_existing)
{
	char *p = t_path(t_tmpdir(), "atomic.txt");
	CHECK(dk_write_file_atomic(p, "one", 3, false, 0644) == 0);
	CHECK(dk_write_file_atomic(p, "two", 3, false, 0644) < 0);
	CHECK_CONTAINS(dk_errmsg(), "already exists");
	char *d = NULL;
	size_t n = 0;
	CHECK(dk_read_file(p, &d, &n, 100) == 0);
	CHECK(n == 3 && memcmp(d, "one", 3) == 0);
	free(d);
	CHECK(dk_write_file_atomic(p, "two", 3, true, 0644) == 0);
	CHECK(dk_read_file(p, &d, &n, 100) == 0 && memcmp(d, "two", 3) == 0);
	free(d);
	CHECK(dk_read_file(p, &d, &n, 2) < 0);
	CHECK_CONTAINS(dk_errmsg(), "too large");
	free(p);
}

TEST(atomic_refuses_special_files_even_with_force)
{
	char *fifo = t_path(t_tmpdir(), "fifo");
	CHECK(mkfifo(fifo, 0600) == 0);
	struct dk_atomic a;
	CHECK(dk_atomic_open(&a, fifo, true, 0644) < 0);
	CHECK_CONTAINS(dk_errmsg(), "not a regular file");
	CHECK(dk_output_check(fifo, true) < 0);
	CHECK_CONTAINS(dk_errmsg(), "not a regular file");
	CHECK(dk_atomic_open(&a, "/dev/null", true, 0644) < 0);
	CHECK_CONTAINS(dk_errmsg(), "/dev/null: not a regular file");
	CHECK(dk_atomic_open(&a, t_tmpdir(), true, 0644) < 0);
	CHECK_CONTAINS(dk_errmsg(), "is a directory");
	/* an abort leaves nothing behind */
	char *out = t_path(t_tmpdir(), "aborted.bin");
	CHECK(dk_atomic_open(&a, out, false, 0644) == 0);
	char *tmp = dk_strdup(a.tmp_path);
	CHECK(dk_path_exists(tmp));
	dk_atomic_abort(&a);
	CHECK(!dk_path_exists(tmp));
	CHECK(!dk_path_exists(out));
	free(tmp);
	free(out);
	free(fifo);
}

static void touch_at(const char *dir, const char *name, time_t age)
{
	char *p = t_path(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, "partial", 7) == 7);
		close(fd);
	}
	if (age) {
		struct timespec ts[2] = {{.tv_sec = time(NULL) - age}, {.tv_sec = time(NULL) - age}};
		CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
	}
	free(p);
}

static bool exists_in(const char *dir, const char *name)
{
	char *p = t_path(dir, name);
	bool r = dk_path_exists(p);
	free(p);
	return r;
}

/* a pid that no process has (a reaped child's) */
static pid_t dead_pid(void)
{
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	waitpid(c, NULL, 0);
	return c;
}

TEST(atomic_stale_temps_removed)
{
	char *dir = t_path(t_tmpdir(), "stale");
	CHECK(dk_mkdir_p(dir, 0755) == 0);
	char dead[96], old_live[96], fresh_live[96];
	snprintf(dead, sizeof dead, ".out.img.dkvm-tmp.%ld.aB3xYz", (long)dead_pid());
	snprintf(old_live, sizeof old_live, ".out.img.dkvm-tmp.%ld.Qw12er", (long)getppid());
	snprintf(fresh_live, sizeof fresh_live, ".out.img.dkvm-tmp.%ld.Zx98cv", (long)getppid());
	touch_at(dir, dead, 0);       /* writer killed: stale */
	touch_at(dir, old_live, 3600); /* unlocked, an hour old, pid reused: stale */
	touch_at(dir, fresh_live, 0); /* pid alive, just created (not locked yet): kept */
	/* not ours: other base names, other shapes, not regular files */
	char other[96], dirname_[96], link[96];
	snprintf(other, sizeof other, ".out.img.x.dkvm-tmp.%ld.aB3xYz", (long)dead_pid());
	touch_at(dir, other, 0);
	touch_at(dir, ".out.img.dkvm-tmp.1x.aB3xYz", 0);
	touch_at(dir, ".out.img.dkvm-tmp.99999999.aB3xY", 0);
	touch_at(dir, ".out.img.dkvm-tmp.99999999.aB3xYzz", 0);
	touch_at(dir, ".out.img.aB3xYz", 0);
	touch_at(dir, "out.img.dkvm-tmp.99999999.aB3xYz", 0);
	snprintf(dirname_, sizeof dirname_, "%s/.out.img.dkvm-tmp.%ld.dIrDiR", dir, (long)dead_pid());
	CHECK(mkdir(dirname_, 0755) == 0);
	snprintf(link, sizeof link, "%s/.out.img.dkvm-tmp.%ld.LiNkLi", dir, (long)dead_pid());
	CHECK(symlink("out.img", link) == 0);

	CHECK_INT(dk_atomic_clean_stale(dir, "out.img"), 2);
	CHECK(!exists_in(dir, dead));
	CHECK(!exists_in(dir, old_live));
	CHECK(exists_in(dir, fresh_live));
	CHECK(exists_in(dir, other));
	CHECK(exists_in(dir, ".out.img.dkvm-tmp.1x.aB3xYz"));
	CHECK(exists_in(dir, ".out.img.dkvm-tmp.99999999.aB3xY"));
	CHECK(exists_in(dir, ".out.img.dkvm-tmp.99999999.aB3xYzz"));
	CHECK(exists_in(dir, ".out.img.aB3xYz"));
	CHECK(exists_in(dir, "out.img.dkvm-tmp.99999999.aB3xYz"));
	CHECK(dk_path_exists(dirname_));
	CHECK(dk_path_exists(link));

	/* dk_atomic_open cleans up before making its own temp */
	touch_at(dir, dead, 0);
	char *out = t_path(dir, "out.img");
	struct dk_atomic a;
	CHECK(dk_atomic_open(&a, out, false, 0644) == 0);
	CHECK(!exists_in(dir, dead));
	char want[96];
	snprintf(want, sizeof want, "%s/.out.img.dkvm-tmp.%ld.", dir, (long)getpid());
	CHECK(a.tmp_path && strncmp(a.tmp_path, want, strlen(want)) == 0);
	CHECK(dk_write_all(a.fd, "done", 4) == 0);
	CHECK(dk_atomic_commit(&a) == 0);
	CHECK(dk_path_exists(out));
	free(out);
	free(dir);
}

TEST(atomic_live_writers_temp_never_removed)
{
	char *dir = t_path(t_tmpdir(), "live");
	CHECK(dk_mkdir_p(dir, 0755) == 0);
	char *out = t_path(dir, "disk.img");
	int up[2], down[2];
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid_t c = fork();
	if (c == 0) {
		/* another process writing disk.img: holds its temp until told to stop */
		close(up[0]);
		close(down[1]);
		struct dk_atomic a;
		char path[512] = {0};
		if (dk_atomic_open(&a, out, false, 0644) == 0)
			snprintf(path, sizeof path, "%s", a.tmp_path);
		if (write(up[1], path, sizeof path) != (ssize_t)sizeof path)
			_exit(1);
		char x;
		while (read(down[0], &x, 1) > 0)
			;
		dk_atomic_abort(&a);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	char path[512] = {0};
	CHECK(read(up[0], path, sizeof path) == (ssize_t)sizeof path);
	CHECK(path[0] != '\0' && dk_path_exists(path));
	/* even aged past the grace period (its pid alive, its lock held) */
	struct timespec ts[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};
	CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
	CHECK_INT(dk_atomic_clean_stale(dir, "disk.img"), 0);
	CHECK(dk_path_exists(path));
	/* and a second writer of the same path leaves it alone too */
	struct dk_atomic a;
	CHECK(dk_atomic_open(&a, out, false, 0644) == 0);
	CHECK(dk_path_exists(path));
	dk_atomic_abort(&a);
	/* a live writer stopped (SIGSTOP) still holds its lock */
	kill(c, SIGSTOP);
	CHECK_INT(dk_atomic_clean_stale(dir, "disk.img"), 0);
	CHECK(dk_path_exists(path));
	kill(c, SIGCONT);
	close(down[1]);
	int st = 0;
	waitpid(c, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(!dk_path_exists(path));
	close(up[0]);
	free(out);
	free(dir);
}

TEST(system_file_edit_makes_backup)
{
	char *root = t_path(t_tmpdir(), "root");
	dk_set_root(root);
	char *bak = NULL;
	CHECK(dk_edit_system_file("/etc/default/grub", "A=1\n", 4, &bak) == 0);
	CHECK(bak == NULL); /* nothing to back up */
	CHECK(dk_edit_system_file("/etc/default/grub", "A=2\n", 4, &bak) == 0);
	CHECK(bak != NULL);
	char *d = NULL;
	size_t n;
	if (bak) {
		CHECK(dk_read_file(bak, &d, &n, 100) == 0 && strcmp(d, "A=1\n") == 0);
		free(d);
	}
	char *p = dk_root_path("/etc/default/grub");
	CHECK(dk_read_file(p, &d, &n, 100) == 0 && strcmp(d, "A=2\n") == 0);
	free(d);
	free(p);
	free(bak);
	free(root);
	dk_set_root(NULL);
}

TEST(sysroot_paths)
{
	dk_set_sysroot("/x/y/");
	char *p = dk_host_path("/proc/cpuinfo");
	CHECK_STR(p, "/x/y/proc/cpuinfo");
	free(p);
	dk_set_sysroot("/");
	p = dk_host_path("/proc/cpuinfo");
	CHECK_STR(p, "/proc/cpuinfo");
	free(p);
}

TEST(read_missing_file_names_path)
{
	char *d;
	size_t n;
	CHECK(dk_read_file("/nonexistent/dkvm-file", &d, &n, 10) < 0);
	CHECK_CONTAINS(dk_errmsg(), "/nonexistent/dkvm-file");
	CHECK_CONTAINS(dk_errmsg(), "No such file");
}

/* ---- the subprocess runner ---- */

static int sh(const char *script, const struct dk_run_opts *o, struct dk_cmd_result *r)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	return dk_run_argv(argv, o, r);
}

TEST(run_exit_status_and_signal)
{
	struct dk_cmd_result r;
	CHECK(sh("exit 0", NULL, &r) == 0);
	CHECK_INT(r.status, 0);
	CHECK_INT(r.signal, 0);
	CHECK(!r.timed_out && r.out == NULL && r.err == NULL);
	CHECK(sh("exit 3", NULL, &r) == 0);
	CHECK_INT(r.status, 3);
	CHECK(sh("kill -TERM $$", NULL, &r) == 0);
	CHECK_INT(r.status, -1);
	CHECK_INT(r.signal, SIGTERM);
	/* a program that is not there: exec's errno, status 127 */
	char *argv[] = {"/nonexistent/dkvm-prog", NULL};
	CHECK(dk_run_argv(argv, NULL, &r) == 0);
	CHECK_INT(r.status, 127);
	CHECK_INT(r.exec_errno, ENOENT);
	char *pv[] = {"dkvm-no-such-program-x", NULL};
	struct dk_run_opts o = {.search_path = true};
	CHECK(dk_run_argv(pv, &o, &r) == 0);
	CHECK_INT(r.exec_errno, ENOENT);
	char *tv[] = {"true", NULL};
	CHECK(dk_run_argv(tv, &o, &r) == 0);
	CHECK_INT(r.status, 0);
	CHECK_INT(r.exec_errno, 0);
}

TEST(run_capture_bounds_and_streams)
{
	struct dk_cmd_result r;
	struct dk_run_opts o = {.out_max = 1000, .err_max = 10};
	/* more than the bound: the rest is read (no SIGPIPE), only 1000 kept */
	CHECK(sh("head -c 100000 /dev/zero | tr '\\0' x; echo oops-this-is-long >&2", &o, &r) == 0);
	CHECK_INT(r.status, 0);
	CHECK_INT(r.out_len, 1000);
	CHECK(r.out && r.out[0] == 'x' && r.out[999] == 'x' && r.out[1000] == '\0');
	CHECK_INT(r.err_len, 10);
	CHECK_STR(r.err, "oops-this-");
	dk_cmd_result_free(&r);
	/* 2>&1; stdin is /dev/null (cat ends at once) */
	struct dk_run_opts m = {.out_max = 100, .merge_err = true, .timeout_ms = 5000};
	CHECK(sh("echo out; echo err >&2; cat", &m, &r) == 0);
	CHECK_STR(r.out, "out\nerr\n");
	CHECK(r.err == NULL && !r.timed_out);
	dk_cmd_result_free(&r);
	/* captured but silent: "" (not NULL) */
	CHECK(sh("true", &m, &r) == 0);
	CHECK_STR(r.out, "");
	dk_cmd_result_free(&r);
	/* extra environment, replacing an inherited value */
	setenv("DKVM_RUN_T", "old", 1);
	char *env[] = {"DKVM_RUN_T=new", "DKVM_RUN_U=u", NULL};
	struct dk_run_opts e = {.out_max = 100, .env = env};
	CHECK(sh("echo $DKVM_RUN_T $DKVM_RUN_U", &e, &r) == 0);
	CHECK_STR(r.out, "new u\n");
	dk_cmd_result_free(&r);
	unsetenv("DKVM_RUN_T");
}

static bool pid_gone(long pid)
{
	char p[64], st[512];
	snprintf(p, sizeof p, "/proc/%ld/stat", pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return true;
	bool zombie = fgets(st, sizeof st, f) && strstr(st, ") Z ");
	fclose(f);
	return zombie;
}

TEST(run_timeout_kills_the_process_group)
{
	struct dk_cmd_result r;
	struct dk_run_opts o = {.timeout_ms = 300};
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	char *argv[] = {"sleep", "100", NULL};
	o.search_path = true;
	CHECK(dk_run_argv(argv, &o, &r) == 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK(r.timed_out);
	CHECK_INT(r.signal, SIGKILL);
	CHECK(b.tv_sec - a.tv_sec < 10);
	/* with a capture: a grandchild holding the pipe dies with its group */
	struct dk_run_opts c = {.timeout_ms = 300, .out_max = 100};
	CHECK(sh("sleep 100 & echo $!; wait", &c, &r) == 0);
	CHECK(r.timed_out);
	long gpid = r.out ? strtol(r.out, NULL, 10) : 0;
	CHECK(gpid > 0);
	for (int i = 0; i < 100 && gpid > 0 && !pid_gone(gpid); i++) {
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	CHECK(gpid > 0 && pid_gone(gpid));
	dk_cmd_result_free(&r);
}

TEST(run_no_fd_leaks_into_the_child)
{
	/* fds opened without O_CLOEXEC (as a library might) stay out of the child */
	int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY);
	CHECK(a >= 0 && b >= 0);
	struct dk_cmd_result r;
	struct dk_run_opts o = {.out_max = 4096, .err_max = 4096};
	/* ls opens one fd (3) of its own to read the directory */
	char *argv[] = {"/bin/ls", "/proc/self/fd", NULL};
	CHECK(dk_run_argv(argv, &o, &r) == 0);
	CHECK_STR(r.out, "0\n1\n2\n3\n");
	dk_cmd_result_free(&r);
	struct dk_child c;
	char *cv[] = {"/bin/ls", "/proc/self/fd", NULL};
	CHECK(dk_spawn_piped(cv, NULL, &c) == 0);
	char buf[256] = "";
	size_t n = 0;
	ssize_t k;
	while (n < sizeof buf - 1 && (k = read(c.out, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)k;
	dk_child_wait(&c, 5000, &r);
	CHECK_STR(buf, "0\n1\n2\n3\n");
	CHECK_INT(r.status, 0);
	close(a);
	close(b);
}

TEST(run_piped_child)
{
	struct dk_child c;
	char *argv[] = {"cat", NULL};
	struct dk_run_opts o = {.search_path = true};
	CHECK(dk_spawn_piped(argv, &o, &c) == 0);
	CHECK(write(c.in, "ping\n", 5) == 5);
	char buf[16] = "";
	CHECK(read(c.out, buf, sizeof buf - 1) == 5);
	CHECK_STR(buf, "ping\n");
	struct dk_cmd_result r;
	dk_child_wait(&c, 5000, &r); /* closing stdin ends cat */
	CHECK_INT(r.status, 0);
	CHECK(!r.timed_out && c.in < 0 && c.out < 0);
	/* one that does not end: killed at the deadline */
	char *sv[] = {"/bin/sh", "-c", "exec sleep 100", NULL};
	CHECK(dk_spawn_piped(sv, NULL, &c) == 0);
	dk_child_wait(&c, 200, &r);
	CHECK(r.timed_out);
	CHECK_INT(r.signal, SIGKILL);
}

TEST(run_detached_new_session)
{
	char *p = t_path(t_tmpdir(), "detached.log");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	int leak = open("/dev/null", O_RDONLY);
	char *argv[] = {"/bin/sh", "-c", "ls /proc/self/fd; cut -d' ' -f6 /proc/$$/stat; echo $$", NULL};
	pid_t pid = 0;
	CHECK(dk_spawn_detached(argv, fd, &pid) == 0);
	close(fd);
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *d = NULL;
	size_t n = 0;
	CHECK(dk_read_file(p, &d, &n, 4096) == 0);
	char want[128];
	snprintf(want, sizeof want, "0\n1\n2\n3\n%d\n%d\n", (int)pid, (int)pid); /* its own session; ls's 3 */
	CHECK_STR(d, want);
	free(d);
	/* exec failure: said in the log, exit 127 */
	fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
	char *bad[] = {"/nonexistent/qemu", NULL};
	CHECK(dk_spawn_detached(bad, fd, &pid) == 0);
	close(fd);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 127);
	CHECK(dk_read_file(p, &d, &n, 4096) == 0);
	CHECK_CONTAINS(d, "exec /nonexistent/qemu: No such file");
	free(d);
	close(leak);
	free(p);
}

TEST(sha256_file_and_fd)
{
	char *p = t_path(t_tmpdir(), "abc.txt");
	CHECK(dk_write_file_atomic(p, "abc", 3, true, 0644) == 0);
	uint8_t d[32];
	char hex[65];
	CHECK(dk_sha256_file(p, d) == 0);
	dk_hex(d, 32, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && lseek(fd, 1, SEEK_SET) == 1); /* from the fd's offset */
	CHECK(dk_sha256_fd(fd, d) == 0);
	close(fd);
	uint8_t w[32];
	CHECK(dk_sha256("bc", 2, w) == 0 && memcmp(d, w, 32) == 0);
	/* larger than one read */
	size_t n = (1 << 16) * 3 + 7;
	char *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)(i * 31);
	CHECK(dk_write_file_atomic(p, big, n, true, 0644) == 0);
	CHECK(dk_sha256_file(p, d) == 0 && dk_sha256(big, n, w) == 0 && memcmp(d, w, 32) == 0);
	free(big);
	CHECK(dk_sha256_file("/nonexistent/dkvm-sha", d) < 0);
	CHECK_CONTAINS(dk_errmsg(), "/nonexistent/dkvm-sha: No such file");
	CHECK(dk_sha256_file(t_tmpdir(), d) < 0); /* a directory: read fails, named */
	CHECK_CONTAINS(dk_errmsg(), t_tmpdir());
	free(p);
}

TEST(uuid_format_and_random)
{
	uint8_t u[16];
	for (int i = 0; i < 16; i++)
		u[i] = (uint8_t)i;
	u[15] = 0xaf;
	char s[37];
	CHECK_STR(dk_uuid_format(u, s, 0), "00010203-0405-0607-0809-0a0b0c0d0eaf");
	CHECK_STR(dk_uuid_format(u, s, DK_UUID_UPPER), "00010203-0405-0607-0809-0A0B0C0D0EAF");
	CHECK_STR(dk_uuid_format(u, s, DK_UUID_UPPER | DK_UUID_GUID), "03020100-0504-0706-0809-0A0B0C0D0EAF");
	uint8_t a[16], b[16];
	CHECK(dk_uuid_random(a) == 0 && dk_uuid_random(b) == 0);
	CHECK(memcmp(a, b, 16) != 0);
	dk_uuid_format(a, s, 0);
	CHECK_INT(strlen(s), 36);
	CHECK(s[14] == '4');                  /* version 4 */
	CHECK(strchr("89ab", s[19]) != NULL); /* RFC 4122 variant */
}

TEST(strv_list)
{
	struct dk_strv l = {0};
	CHECK(dk_strv_len(l.v) == 0 && !dk_strv_contains(l.v, "a"));
	char *j = dk_strv_join(l.v, ", ");
	CHECK_STR(j, "");
	free(j);
	for (int i = 0; i < 20; i++) { /* past the first growth */
		char b[8];
		snprintf(b, sizeof b, "s%d", i);
		dk_strv_push(&l, b);
		CHECK(l.v[l.n] == NULL); /* a strv after every push */
	}
	dk_strv_push_take(&l, dk_strdup("last"));
	CHECK_INT(l.n, 21);
	CHECK_INT(dk_strv_len(l.v), 21);
	CHECK(dk_strv_contains(l.v, "s19") && dk_strv_contains(l.v, "last") && !dk_strv_contains(l.v, "s20"));
	char **v = dk_strv_take(&l);
	CHECK(l.v == NULL && l.n == 0 && l.cap == 0);
	j = dk_strv_join(v, "+");
	CHECK(j && !strncmp(j, "s0+s1+s2+", 9) && dk_endswith(j, "+s19+last"));
	free(j);
	dk_strv_free(v);
	/* an empty list taken is an empty strv, not NULL */
	v = dk_strv_take(&l);
	CHECK(v && v[0] == NULL);
	dk_strv_free(v);
	dk_strv_free(NULL);
	dk_strv_push(&l, "x");
	dk_strv_clear(&l);
	CHECK(l.v == NULL && l.n == 0);
	dk_strv_clear(&l);
}

/* The library reports through the reporter only: with none set, dk_warn and
 * progress write nothing to stderr; with one, warnings arrive formatted and
 * unescaped (the reporter escapes), progress ends with one final report. */
struct rep_log {
	int warns, notes, progress, finals;
	char last_warn[128];
	uint64_t last_done;
};

static void rep_warn(void *ud, const char *msg)
{
	struct rep_log *l = ud;
	l->warns++;
	snprintf(l->last_warn, sizeof l->last_warn, "%s", msg);
}

static void rep_note(void *ud, enum dk_note_level level, const char *msg)
{
	((struct rep_log *)ud)->notes++;
}

static void rep_progress(void *ud, const struct dk_progress_report *r)
{
	struct rep_log *l = ud;
	l->progress++;
	l->finals += r->final;
	l->last_done = r->done;
}

TEST(reporter_is_the_only_output)
{
	fflush(stderr);
	int saved = dup(2);
	char *errf = t_path(t_tmpdir(), "reporter-stderr");
	int fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	dk_set_reporter(NULL);
	dk_warn("no reporter %d", 1);
	dk_info("no reporter");
	struct dk_progress p;
	dk_progress_start(&p, "label", 10);
	dk_progress_add(&p, 10);
	dk_progress_finish(&p);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	struct stat st;
	CHECK(stat(errf, &st) == 0 && st.st_size == 0);
	free(errf);

	struct rep_log l = {0};
	struct dk_reporter r = {.progress = rep_progress, .warn = rep_warn, .note = rep_note, .progress_every = 0, .ud = &l};
	dk_set_reporter(&r);
	dk_warn("disk %s: \x1b[31m%d", "x", 7);
	CHECK_INT(l.warns, 1);
	CHECK(strcmp(l.last_warn, "disk x: \x1b[31m7") == 0);
	dk_verbose("detail");
	CHECK_INT(l.notes, 1);
	dk_progress_start(&p, "label", 10);
	dk_progress_add(&p, 4);
	dk_progress_add(&p, 6);
	dk_progress_finish(&p);
	CHECK_INT(l.finals, 1);
	CHECK(l.progress >= 2);
	CHECK_INT(l.last_done, 10);
	dk_set_reporter(NULL);
	dk_warn("after clearing");
	CHECK_INT(l.warns, 1);
}

int main(void)
{
	RUN(parse_size);
	RUN(safe_names);
	RUN(str_escape);
	RUN(atomic_write_refuses_existing);
	RUN(atomic_refuses_special_files_even_with_force);
	RUN(atomic_stale_temps_removed);
	RUN(atomic_live_writers_temp_never_removed);
	RUN(system_file_edit_makes_backup);
	RUN(sysroot_paths);
	RUN(read_missing_file_names_path);
	RUN(run_exit_status_and_signal);
	RUN(run_capture_bounds_and_streams);
	RUN(run_timeout_kills_the_process_group);
	RUN(run_no_fd_leaks_into_the_child);
	RUN(run_piped_child);
	RUN(run_detached_new_session);
	RUN(sha256_file_and_fd);
	RUN(uuid_format_and_random);
	RUN(strv_list);
	RUN(reporter_is_the_only_output);
	return t_done();
}
