#include "util/progress.h"
#include "util/log.h"
#include "util/output.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

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
	if (dk_verbosity < DK_NORMAL)
		p->mode = 0;
	else if (dk_json_output)
		p->mode = 2;
	else if (isatty(STDERR_FILENO))
		p->mode = 1;
	else
		p->mode = 0;
	pthread_mutex_init(&p->lock, NULL);
}

static void render(struct dk_progress *p, double now, int final)
{
	double el = now - p->t0;
	double rate = el > 0 ? (double)p->done / el : 0;
	if (p->mode == 2) {
		fprintf(stderr, "{\"progress\":\"%s\",\"done\":%llu,\"total\":%llu,\"rate\":%.0f%s}\n", p->label,
			(unsigned long long)p->done, (unsigned long long)p->total, rate, final ? ",\"final\":true" : "");
		return;
	}
	if (p->mode != 1)
		return;
	double frac = p->total ? (double)p->done / (double)p->total : 0;
	if (frac > 1)
		frac = 1;
	int width = 30, fill = (int)(frac * width);
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[width] = '\0';
	double eta = rate > 0 && p->total > p->done ? (double)(p->total - p->done) / rate : 0;
	fprintf(stderr, "\r%-18.18s [%s] %5.1f%% %7.1f MB/s ETA %3d:%02d", p->label, bar, frac * 100, rate / 1e6,
		(int)eta / 60, (int)eta % 60);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

static void maybe_render(struct dk_progress *p)
{
	double now = dk_now();
	double every = p->mode == 2 ? 1.0 : 0.1;
	if (now - p->last >= every) {
		p->last = now;
		render(p, now, 0);
	}
}

void dk_progress_add(struct dk_progress *p, uint64_t delta)
{
	pthread_mutex_lock(&p->lock);
	p->done += delta;
	if (p->mode)
		maybe_render(p);
	pthread_mutex_unlock(&p->lock);
}

void dk_progress_set(struct dk_progress *p, uint64_t done)
{
	pthread_mutex_lock(&p->lock);
	p->done = done;
	if (p->mode)
		maybe_render(p);
	pthread_mutex_unlock(&p->lock);
}

void dk_progress_finish(struct dk_progress *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->mode)
		render(p, dk_now(), 1);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
}
