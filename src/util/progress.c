#include "util/progress.h"
#include "util/report.h"

#include <time.h>

double dk_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dk_progress_start(struct dk_progress *p, const char *label, uint64_t total)
{
	p->label = label;
	p->total = total;
	p->done = 0;
	p->t0 = p->last = dk_now();
	p->active = dk_get_reporter()->progress != NULL;
	pthread_mutex_init(&p->lock, NULL);
}

static void report(struct dk_progress *p, double now, bool final)
{
	const struct dk_reporter *r = dk_get_reporter();
	struct dk_progress_report pr = {
		.label = p->label, .done = p->done, .total = p->total, .elapsed = now - p->t0, .final = final};
	if (r->progress)
		r->progress(r->ud, &pr);
}

static void maybe_report(struct dk_progress *p)
{
	double now = dk_now();
	if (now - p->last >= dk_get_reporter()->progress_every) {
		p->last = now;
		report(p, now, false);
	}
}

void dk_progress_add(struct dk_progress *p, uint64_t delta)
{
	pthread_mutex_lock(&p->lock);
	p->done += delta;
	if (p->active)
		maybe_report(p);
	pthread_mutex_unlock(&p->lock);
}

void dk_progress_set(struct dk_progress *p, uint64_t done)
{
	pthread_mutex_lock(&p->lock);
	p->done = done;
	if (p->active)
		maybe_report(p);
	pthread_mutex_unlock(&p->lock);
}

void dk_progress_finish(struct dk_progress *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->active)
		report(p, dk_now(), true);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
}
