/* macOS releases: one data table shared by every area (host ISA support,
 * recovery requests, OpenCore recipes, VM device choices). */
#pragma once
#include <stdbool.h>

struct dk_macos {
	const char *name;      /* "sonoma": the id used on the command line */
	const char *marketing; /* "Sonoma" */
	const char *version;   /* "14" / "10.15" */
	int darwin;            /* Darwin kernel major: 23 */
	const char *isa[6];    /* /proc/cpuinfo flags the release needs, NULL-terminated */
	/* recoveryOS request that yields this release (companion-tools §3.3) */
	const char *board_id;
	const char *mlb;
	const char *os;        /* "default" / "latest" */
};

extern const struct dk_macos dk_macos_table[];
extern const int dk_macos_count;

/* By name ("sonoma"), marketing name (case-insensitive) or version ("14", "10.15"). */
const struct dk_macos *dk_macos_find(const char *s);
/* Compare by Darwin version: <0, 0, >0. */
int dk_macos_cmp(const struct dk_macos *a, const struct dk_macos *b);
