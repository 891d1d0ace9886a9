#include "t.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/progress.h"
#include "util/report.h"

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
	RUN(reporter_is_the_only_output);
	return t_done();
}
