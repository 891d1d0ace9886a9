/* hooks: the generated scripts (golden files, bash -n, shellcheck) and the
 * unified diff. DKVM_REGEN=1 rewrites tests/hooks/golden/ (review the diff). */
#include "t.h"
#include "tune/hooks.h"
#include "util/fs.h"
#include "util/mem.h"

#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

static void golden(const char *name, const char *actual)
{
	char *path = dk_asprintf("%s/tests/hooks/golden/%s", t_srcdir(), name);
	if (getenv("DKVM_REGEN")) {
		CHECK(dk_write_file_atomic(path, actual, strlen(actual), true, 0644) == 0);
	} else {
		char *want = NULL;
		size_t len;
		if (dk_read_file(path, &want, &len, 1 << 20) < 0) {
			fprintf(stderr, "  %s: missing golden file (DKVM_REGEN=1 creates it)\n", path);
			t_case_failed = 1;
		} else if (strcmp(want, actual) != 0) {
			fprintf(stderr, "  %s differs (DKVM_REGEN=1 to accept)\n", path);
			t_case_failed = 1;
		}
		free(want);
	}
	free(path);
}

/* Write text to a temp file and run "sh -c CMD FILE": the exit status. */
static int run_on(const char *text, const char *cmd)
{
	char *f = dk_asprintf("%s/script.sh", t_tmpdir());
	CHECK(dk_write_file_atomic(f, text, strlen(text), true, 0755) == 0);
	char *sh = dk_asprintf("%s \"%s\" >&2", cmd, f);
	int st = system(sh);
	free(sh);
	free(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static bool have(const char *prog)
{
	char *c = dk_asprintf("command -v %s >/dev/null 2>&1", prog);
	int st = system(c);
	free(c);
	return st == 0;
}

/* The fixture amd-ryzen's GPU (0b:00.0 nouveau + HDMI audio 0b:00.1). */
static struct dk_hook_cfg cfg_nouveau(void)
{
	struct dk_hook_cfg c = {.vm = "mymac", .dm_unit = "gdm3.service", .n = 2};
	snprintf(c.fn[0].bdf, sizeof c.fn[0].bdf, "0000:0b:00.0");
	snprintf(c.fn[0].driver, sizeof c.fn[0].driver, "nouveau");
	c.fn[0].class_code = 0x030000;
	snprintf(c.fn[1].bdf, sizeof c.fn[1].bdf, "0000:0b:00.1");
	snprintf(c.fn[1].driver, sizeof c.fn[1].driver, "snd_hda_intel");
	c.fn[1].class_code = 0x040300;
	return c;
}

/* The same with NVIDIA's driver on the GPU and no display manager. */
static struct dk_hook_cfg cfg_nvidia(void)
{
	struct dk_hook_cfg c = cfg_nouveau();
	snprintf(c.fn[0].driver, sizeof c.fn[0].driver, "nvidia");
	c.dm_unit[0] = '\0';
	return c;
}

TEST(golden_scripts)
{
	struct dk_hook_cfg a = cfg_nouveau(), b = cfg_nvidia();
	char *s;
	golden("qemu", s = dk_hook_dispatcher_script()), free(s);
	golden("nouveau-begin.sh", s = dk_hook_begin_script(&a)), free(s);
	golden("nouveau-end.sh", s = dk_hook_end_script(&a)), free(s);
	golden("nvidia-begin.sh", s = dk_hook_begin_script(&b)), free(s);
	golden("nvidia-end.sh", s = dk_hook_end_script(&b)), free(s);
}

TEST(scripts_parse_and_pass_shellcheck)
{
	struct dk_hook_cfg a = cfg_nouveau(), b = cfg_nvidia();
	char *t[5] = {dk_hook_dispatcher_script(), dk_hook_begin_script(&a), dk_hook_end_script(&a),
		      dk_hook_begin_script(&b), dk_hook_end_script(&b)};
	bool sc = have("shellcheck");
	if (!sc)
		fprintf(stderr, "  shellcheck not installed: bash -n only\n");
	for (int i = 0; i < 5; i++) {
		CHECK_INT(run_on(t[i], "bash -n"), 0);
		if (sc)
			CHECK_INT(run_on(t[i], "shellcheck"), 0);
		free(t[i]);
	}
}

TEST(nvidia_unloads_modules_not_unbind)
{
	struct dk_hook_cfg b = cfg_nvidia();
	char *s = dk_hook_begin_script(&b);
	CHECK_CONTAINS(s, "for mod in nvidia_drm nvidia_modeset nvidia_uvm nvidia; do");
	CHECK(!strstr(s, "echo 0000:0b:00.0 >"));
	CHECK_CONTAINS(s, "echo 0000:0b:00.1 >");
	CHECK(!strstr(s, "systemctl"));
	free(s);
}

TEST(dm_unit_names)
{
	char *u = dk_hook_dm_unit("gdm");
	CHECK_STR(u, "gdm.service");
	free(u);
	u = dk_hook_dm_unit("sddm.service");
	CHECK_STR(u, "sddm.service");
	free(u);
	CHECK(dk_hook_dm_unit("gdm; rm -rf /") == NULL);
	CHECK(dk_hook_dm_unit("'x") == NULL);
	CHECK(dk_hook_dm_unit("") == NULL);
}

TEST(unified_diff)
{
	char *d = dk_text_diff("/f", "a\nb\nc\n", "a\nb\nc\n");
	CHECK_STR(d, "");
	free(d);
	d = dk_text_diff("/f", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nX\n6\n7\n8\n9\n");
	CHECK_STR(d, "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n");
	free(d);
	d = dk_text_diff("/f", NULL, "new\n");
	CHECK_STR(d, "--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+new\n");
	free(d);
	d = dk_text_diff("/f", "x", "y\n");
	CHECK_STR(d, "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+y\n");
	free(d);
}

TEST(diff_matches_patch)
{
	/* the diff of two scripts applies with patch(1) */
	if (!have("patch")) {
		fprintf(stderr, "  patch not installed\n");
		return;
	}
	struct dk_hook_cfg a = cfg_nouveau(), b = cfg_nvidia();
	char *x = dk_hook_begin_script(&a), *y = dk_hook_begin_script(&b);
	char *d = dk_text_diff("/s", x, y);
	char *fx = dk_asprintf("%s/s", t_tmpdir()), *fd = dk_asprintf("%s/s.diff", t_tmpdir());
	CHECK(dk_write_file_atomic(fx, x, strlen(x), true, 0644) == 0);
	CHECK(dk_write_file_atomic(fd, d, strlen(d), true, 0644) == 0);
	char *cmd = dk_asprintf("patch -s %s %s >&2", fx, fd);
	CHECK_INT(system(cmd), 0);
	char *got = NULL;
	size_t len;
	CHECK(dk_read_file(fx, &got, &len, 1 << 20) == 0);
	CHECK_STR(got, y);
	free(got), free(cmd), free(fx), free(fd), free(d), free(x), free(y);
}

int main(void)
{
	RUN(golden_scripts);
	RUN(scripts_parse_and_pass_shellcheck);
	RUN(nvidia_unloads_modules_not_unbind);
	RUN(dm_unit_names);
	RUN(unified_diff);
	RUN(diff_matches_patch);
	return t_done();
}
