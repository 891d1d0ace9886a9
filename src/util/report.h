/* How libdkvm tells its caller about long work and non-fatal problems, the
 * way libcurl's CURLOPT_XFERINFOFUNCTION does: the program sets one reporter
 * (the dkvm CLI in src/cli/progress.c); without one the library says nothing.
 * The library never writes to stdout/stderr itself. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum dk_note_level { DK_NOTE_INFO = 1, DK_NOTE_VERBOSE = 2 };

struct dk_progress_report {
	const char *label; /* as the library has it (often a name from a server): escape before showing */
	uint64_t done, total;
	double elapsed;    /* seconds since the task started */
	bool final;        /* the task's last report (finished or given up) */
};

struct dk_reporter {
	/* Long work. Called from any thread, but never concurrently for one task;
	 * at most every progress_every seconds, plus the final report. */
	void (*progress)(void *ud, const struct dk_progress_report *r);
	/* A warning: one line (may quote names from files and servers: escape it). */
	void (*warn)(void *ud, const char *msg);
	/* Information (DK_NOTE_INFO) or detail (DK_NOTE_VERBOSE); same rules as warn. */
	void (*note)(void *ud, enum dk_note_level level, const char *msg);
	double progress_every;
	void *ud;
};

/* Set (copied) or clear (NULL) the reporter. Call before starting any work. */
void dk_set_reporter(const struct dk_reporter *r);
/* The current reporter (all callbacks NULL when none is set). */
const struct dk_reporter *dk_get_reporter(void);
