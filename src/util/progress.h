/* Progress for long work, reported through the reporter's progress callback
 * (util/report.h): at most every progress_every seconds, and once at the end
 * with final set. Nothing when no reporter takes progress. Thread-safe:
 * dk_progress_add() may be called from workers. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

struct dk_progress {
	const char *label;
	uint64_t total, done;
	double t0, last;
	bool active; /* a reporter takes progress */
	pthread_mutex_t lock;
};

void dk_progress_start(struct dk_progress *p, const char *label, uint64_t total);
void dk_progress_add(struct dk_progress *p, uint64_t delta);
void dk_progress_set(struct dk_progress *p, uint64_t done);
void dk_progress_finish(struct dk_progress *p);
double dk_now(void); /* monotonic seconds */
