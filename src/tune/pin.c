#include "tune/pin.h"
#include "util/error.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

void dk_cpuset_format(const int *cpus, int n, char *out, size_t len)
{
	int *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
	if (n > 0)
		memcpy(v, cpus, sizeof *v * (size_t)n);
	qsort(v, (size_t)(n > 0 ? n : 0), sizeof *v, cmp_int);
	size_t o = 0;
	out[0] = '\0';
	for (int i = 0; i < n;) {
		int j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		for (int k = i; k <= j; k++) {
			int w;
			if (j - i >= 2) {
				w = snprintf(out + o, len - o, "%s%d-%d", o ? "," : "", v[i], v[j]);
				k = j;
			} else {
				w = snprintf(out + o, len - o, "%s%d", o ? "," : "", v[k]);
			}
			if (w < 0 || (size_t)w >= len - o) {
				free(v);
				return;
			}
			o += (size_t)w;
		}
		i = j + 1;
	}
	free(v);
}

struct core {
	int t[8];
	int nt;
};

int dk_pin_plan(const struct dk_host *h, int cores, int threads, struct dk_pinning *out)
{
	memset(out, 0, sizeof *out);
	const struct dk_host_cpu *c = &h->cpu;
	int logical = c->logical < DK_MAX_CPUS ? c->logical : DK_MAX_CPUS;
	static struct core hc[DK_MAX_CPUS];
	int nc = 0;
	for (int cpu = 0; cpu < logical; cpu++) {
		if (c->sibling_of[cpu] != cpu)
			continue;
		if (c->hybrid && c->n_p_cpus > 0) { /* performance cores only */
			bool p = false;
			for (int k = 0; k < c->n_p_cpus; k++)
				p |= c->p_cpus[k] == cpu;
			if (!p && cpu != 0)
				continue;
		}
		struct core *k = &hc[nc++];
		k->nt = 0;
		for (int j = 0; j < logical && k->nt < 8; j++)
			if (c->sibling_of[j] == cpu)
				k->t[k->nt++] = j;
	}
	if (nc < 2) {
		snprintf(out->reason, sizeof out->reason, "the host has %d usable core%s: nothing to pin apart", nc,
			 nc == 1 ? "" : "s");
		return 0;
	}
	if (cores > nc - 1) {
		snprintf(out->reason, sizeof out->reason,
			 "%d guest cores need %d host cores besides the host's first one; the host has %d", cores, cores, nc - 1);
		return 0;
	}
	if (cores * threads > DK_PIN_MAX) {
		snprintf(out->reason, sizeof out->reason, "too many vCPUs to pin");
		return 0;
	}
	for (int k = 0; k < cores; k++) {
		struct core *hk = &hc[k + 1];
		if (threads > hk->nt) {
			snprintf(out->reason, sizeof out->reason,
				 "guest cores have %d threads but host core %d has %d: no sibling to pair them with", threads,
				 hk->t[0], hk->nt);
			out->n = 0;
			return 0;
		}
		for (int t = 0; t < threads; t++)
			out->cpu[k * threads + t] = hk->t[t];
	}
	out->n = cores * threads;
	dk_cpuset_format(hc[0].t, hc[0].nt, out->emulator, sizeof out->emulator);
	snprintf(out->reason, sizeof out->reason,
		 "guest core k on host core k+1 (its SMT siblings for the two threads); host core %s keeps the host and the emulator threads",
		 out->emulator);
	return 0;
}

static int parse_set(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	while (*s) {
		char *e;
		long a = strtol(s, &e, 10), b = a;
		if (e == s || a < 0 || a >= CPU_SETSIZE)
			return -1;
		if (*e == '-') {
			s = e + 1;
			b = strtol(s, &e, 10);
			if (e == s || b < a || b >= CPU_SETSIZE)
				return -1;
		}
		for (long i = a; i <= b; i++)
			CPU_SET(i, set);
		s = *e == ',' ? e + 1 : e;
		if (*e && *e != ',')
			return -1;
	}
	return 0;
}

int dk_pin_apply(const struct dk_pinning *p, int pid, const int *tids, int ntids)
{
	cpu_set_t set;
	if (p->emulator[0] && parse_set(p->emulator, &set) == 0 && sched_setaffinity(pid, sizeof set, &set) < 0)
		return dk_fail_errno("pin QEMU %d to %s", pid, p->emulator);
	for (int i = 0; i < ntids && i < p->n; i++) {
		CPU_ZERO(&set);
		CPU_SET(p->cpu[i], &set);
		if (sched_setaffinity(tids[i], sizeof set, &set) < 0)
			return dk_fail_errno("pin vCPU %d (thread %d) to CPU %d", i, tids[i], p->cpu[i]);
	}
	return 0;
}
