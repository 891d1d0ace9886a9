#include "util/progress.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double dk_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The label as shown: escaped, and for JSON with '"' and '\\' escaped too
 * (what is left is printable ASCII or valid UTF-8); cut at a character
 * boundary to fit. */
static void set_shown(struct dk_progress *p, const char *label, bool json)
{
	char *e = dk_str_escape(label ? label : "");
	size_t n = 0, cap = sizeof p->shown - 1;
	for (const char *s = e; *s; s++) {
		bool q = json && (*s == '"' || *s == '\\');
		size_t need = q ? 2 : 1;
		/* keep a multi-byte character whole */
		if ((unsigned char)*s >= 0xc0)
			for (const char *t = s + 1; ((unsigned char)*t & 0xc0) == 0x80; t++)
				need++;
		if (n + need > cap)
			break;
		if (q)
			p->shown[n++] = '\\';
		p->shown[n++] = *s;
		for (size_t k = q ? 2 : 1; k < need; k++)
			p->shown[n++] = *++s;
	}
	p->shown[n] = '\0';
	free(e);
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
	set_shown(p, label, p->mode == 2);
	pthread_mutex_init(&p->lock, NULL);
}

static void render(struct dk_progress *p, double now, int final)
{
	double el = now - p->t0;
	double rate = el > 0 ? (double)p->done / el : 0;
	if (p->mode == 2) {
		fprintf(stderr, "{\"progress\":\"%s\",\"done\":%llu,\"total\":%llu,\"rate\":%.0f%s}\n", p->shown,
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
	fprintf(stderr, "\r%-18.18s [%s] %5.1f%% %7.1f MB/s ETA %3d:%02d", p->shown, bar, frac * 100, rate / 1e6,
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
