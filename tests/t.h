/* Minimal unit-test harness: each TEST is a case; a case fails when any CHECK
 * in it fails. Output is one line per case ("ok NAME" / "not ok NAME"), which
 * tests/run.sh counts. Paths: t_shared() is ../shared (fixtures made by other
 * tools), t_srcdir() the repository root, t_tmpdir() a per-process scratch dir. */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <inttypes.h>

extern int t_case_failed;
extern int t_cases_failed;
extern const char *t_current;

void t_run(const char *name, void (*fn)(void));
int t_done(void);
const char *t_srcdir(void);
const char *t_shared(void);
const char *t_tmpdir(void);
/* malloc'd path joins */
char *t_path(const char *base, const char *rel);

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "  %s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, \
				t_current, #cond);                                         \
			t_case_failed = 1;                                                 \
		}                                                                          \
	} while (0)

#define CHECK_INT(a, b)                                                                           \
	do {                                                                                      \
		long long _a = (long long)(a), _b = (long long)(b);                               \
		if (_a != _b) {                                                                   \
			fprintf(stderr, "  %s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__, \
				__LINE__, t_current, #a, _a, #b, _b);                             \
			t_case_failed = 1;                                                        \
		}                                                                                 \
	} while (0)

#define CHECK_STR(a, b)                                                                         \
	do {                                                                                    \
		const char *_a = (a), *_b = (b);                                                \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                        \
			fprintf(stderr, "  %s:%d: %s: %s == \"%s\", expected \"%s\"\n", __FILE__, \
				__LINE__, t_current, #a, _a ? _a : "(null)", _b ? _b : "(null)"); \
			t_case_failed = 1;                                                      \
		}                                                                               \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                             \
	do {                                                                                    \
		const char *_h = (hay), *_n = (needle);                                         \
		if (!_h || !strstr(_h, _n)) {                                                   \
			fprintf(stderr, "  %s:%d: %s: \"%s\" does not contain \"%s\"\n", __FILE__, \
				__LINE__, t_current, _h ? _h : "(null)", _n);                   \
			t_case_failed = 1;                                                      \
		}                                                                               \
	} while (0)

#define TEST(name) static void name(void)
#define RUN(name) t_run(#name, name)
