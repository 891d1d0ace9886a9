/* Progress for long work: a bar with rate and ETA on a TTY (stderr), JSON
 * lines on stderr with --json ({"progress":label,"done":N,"total":N,"rate":B/s}),
 * nothing with -q. The label (often a name from a server) is shown escaped
 * (dk_str_escape), cut to fit. Thread-safe: dk_progress_add() may be called from workers. */
#pragma once
#include <stdint.h>
#include <pthread.h>

struct dk_progress {
	const char *label;
	char shown[160]; /* label escaped (dk_str_escape), JSON-quoted in mode 2 */
	uint64_t total, done;
	double t0, last;
	int mode; /* 0 none, 1 tty, 2 json */
	pthread_mutex_t lock;
};

void dk_progress_start(struct dk_progress *p, const char *label, uint64_t total);
void dk_progress_add(struct dk_progress *p, uint64_t delta);
void dk_progress_set(struct dk_progress *p, uint64_t done);
void dk_progress_finish(struct dk_progress *p);
double dk_now(void); /* monotonic seconds */
