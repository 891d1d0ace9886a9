#include "t.h"

#include <limits.h>
#include <unistd.h>

int t_case_failed;
int t_cases_failed;
const char *t_current = "";

void t_run(const char *name, void (*fn)(void))
{
	t_current = name;
	t_case_failed = 0;
	fn();
	printf("%s %s\n", t_case_failed ? "not ok" : "ok", name);
	fflush(stdout);
	if (t_case_failed)
		t_cases_failed++;
}

int t_done(void)
{
	return t_cases_failed ? 1 : 0;
}

const char *t_srcdir(void)
{
	const char *s = getenv("DKVM_SRCDIR");
	return s ? s : DKVM_SRCDIR_DEFAULT;
}

const char *t_shared(void)
{
	static char buf[PATH_MAX];
	const char *s = getenv("DKVM_SHARED");
	if (s)
		return s;
	snprintf(buf, sizeof buf, "%s/../shared", t_srcdir());
	return buf;
}

const char *t_tmpdir(void)
{
	static char buf[PATH_MAX];
	if (!buf[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(buf, sizeof buf, "%s/dkvm-test.XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(buf)) {
			perror("mkdtemp");
			exit(2);
		}
	}
	return buf;
}

char *t_path(const char *base, const char *rel)
{
	size_t n = strlen(base) + strlen(rel) + 2;
	char *p = malloc(n);
	snprintf(p, n, "%s/%s", base, rel);
	return p;
}
