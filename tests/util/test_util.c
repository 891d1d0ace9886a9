#include "t.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"

#include <sys/stat.h>
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

int main(void)
{
	RUN(parse_size);
	RUN(safe_names);
	RUN(atomic_write_refuses_existing);
	RUN(atomic_refuses_special_files_even_with_force);
	RUN(system_file_edit_makes_backup);
	RUN(sysroot_paths);
	RUN(read_missing_file_names_path);
	return t_done();
}
