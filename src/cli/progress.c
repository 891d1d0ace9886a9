/* The CLI's reporter (util/report.h): progress as a bar with rate and ETA on a
 * TTY (stderr), JSON lines on stderr with --json
 * ({"progress":label,"done":N,"total":N,"rate":B/s}), nothing with -q or when
 * stderr is not a terminal; warnings "dkvm: warning: ..." and notes on stderr
 * (-q: none; notes of -v detail only with -v). Labels and messages often quote
 * names from servers: shown escaped (dk_str_escape / dk_msg_escape). */
#include "cli/cli.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/report.h"

#include <stdlib.h>
#include <unistd.h>

enum { MODE_TTY = 1, MODE_JSON = 2 };

/* The label as shown: escaped, and for JSON with '"' and '\\' escaped too
 * (what is left is printable ASCII or valid UTF-8); cut at a character
 * boundary to fit. */
static void shown_label(char *out, size_t size, const char *label, bool json)
{
	char *e = dk_str_escape(label ? label : "");
	size_t n = 0, cap = size - 1;
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
			out[n++] = '\\';
		out[n++] = *s;
		for (size_t k = q ? 2 : 1; k < need; k++)
			out[n++] = *++s;
	}
	out[n] = '\0';
	free(e);
}

static void progress(void *ud, const struct dk_progress_report *p)
{
	int mode = (int)(intptr_t)ud;
	char shown[160];
	shown_label(shown, sizeof shown, p->label, mode == MODE_JSON);
	double rate = p->elapsed > 0 ? (double)p->done / p->elapsed : 0;
	if (mode == MODE_JSON) {
		fprintf(stderr, "{\"progress\":\"%s\",\"done\":%llu,\"total\":%llu,\"rate\":%.0f%s}\n", shown,
			(unsigned long long)p->done, (unsigned long long)p->total, rate, p->final ? ",\"final\":true" : "");
		return;
	}
	double frac = p->total ? (double)p->done / (double)p->total : 0;
	if (frac > 1)
		frac = 1;
	int width = 30, fill = (int)(frac * width);
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[width] = '\0';
	double eta = rate > 0 && p->total > p->done ? (double)(p->total - p->done) / rate : 0;
	fprintf(stderr, "\r%-18.18s [%s] %5.1f%% %7.1f MB/s ETA %3d:%02d", shown, bar, frac * 100, rate / 1e6,
		(int)eta / 60, (int)eta % 60);
	if (p->final)
		fputc('\n', stderr);
	fflush(stderr);
}

static void say(const char *prefix, const char *msg)
{
	char *e = dk_msg_escape(msg); /* may run in a worker thread */
	fprintf(stderr, "%s%s\n", prefix, e);
	free(e);
}

static void warn(void *ud, const char *msg)
{
	if (dk_verbosity >= DK_NORMAL)
		say("dkvm: warning: ", msg);
}

static void note(void *ud, enum dk_note_level level, const char *msg)
{
	if (level == DK_NOTE_INFO && dk_verbosity >= DK_NORMAL)
		say("", msg);
	else if (level == DK_NOTE_VERBOSE && dk_verbosity >= DK_VERBOSE)
		say("dkvm: ", msg);
}

void dk_cli_set_reporter(void)
{
	int mode = 0;
	if (dk_verbosity < DK_NORMAL)
		mode = 0;
	else if (dk_json_output)
		mode = MODE_JSON;
	else if (isatty(STDERR_FILENO))
		mode = MODE_TTY;
	struct dk_reporter r = {
		.progress = mode ? progress : NULL,
		.warn = warn,
		.note = note,
		.progress_every = mode == MODE_JSON ? 1.0 : 0.1,
		.ud = (void *)(intptr_t)mode,
	};
	dk_set_reporter(&r);
}
