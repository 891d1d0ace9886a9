#include "tune/pin.h"
#include "util/error.h"

#include <json-c/json.h>
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
	int l3; /* L3 domain of its first thread, -1 unknown */
	int node; /* NUMA node of its first thread (0 when the host has one or sysfs does not say) */
};

static int l3_of(const struct dk_host_cpu *c, int cpu)
{
	for (int d = 0; d < c->n_l3 && d < 64; d++)
		for (const int *p = c->l3_cpus[d]; p && *p >= 0; p++)
			if (*p == cpu)
				return d;
	return -1;
}

int dk_pin_plan(const struct dk_host *h, int cores, int threads, struct dk_pinning *out)
{
	return dk_pin_plan_online(h, cores, threads, cores * threads, out);
}

/* On a host with several NUMA nodes: the first node (in node order) with
 * `need` cores besides core0, -1 when none has (or the host has one node). */
static int numa_pick(const struct dk_host_cpu *c, const struct core *hc, int nc, int core0, int need)
{
	if (c->numa_nodes < 2 || !c->numa_cpus_known)
		return -1;
	int best = -1;
	for (int k = 0; k < nc; k++) {
		int nd = hc[k].node, room = 0;
		if (best >= 0 && nd >= best)
			continue;
		for (int j = 0; j < nc; j++)
			room += j != core0 && hc[j].node == nd;
		if (room >= need)
			best = nd;
	}
	return best;
}

int dk_pin_plan_online(const struct dk_host *h, int cores, int threads, int online, struct dk_pinning *out)
{
	memset(out, 0, sizeof *out);
	out->numa_node = -1;
	const struct dk_host_cpu *c = &h->cpu;
	int logical = c->logical < DK_MAX_CPUS ? c->logical : DK_MAX_CPUS;
	static struct core hc[DK_MAX_CPUS];
	int nc = 0, core0 = -1;
	if (threads < 1 || cores < 1 || online < 1 || online > cores * threads) {
		snprintf(out->reason, sizeof out->reason, "no vCPUs to pin");
		return 0;
	}
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
		struct core *k = &hc[nc];
		k->nt = 0;
		for (int j = 0; j < logical && k->nt < 8; j++)
			if (c->sibling_of[j] == cpu)
				k->t[k->nt++] = j;
		k->l3 = l3_of(c, cpu);
		k->node = c->numa_cpus_known ? c->numa_node_of[cpu] : 0;
		for (int j = 0; j < k->nt; j++)
			if (k->t[j] == 0)
				core0 = nc;
		nc++;
	}
	if (core0 < 0 && nc > 0)
		core0 = 0;
	int need = (online + threads - 1) / threads;
	if (nc < 2) {
		snprintf(out->reason, sizeof out->reason, "the host has %d usable core%s: nothing to pin apart", nc,
			 nc == 1 ? "" : "s");
		return 0;
	}
	if (need > nc - 1) {
		snprintf(out->reason, sizeof out->reason,
			 "%d guest cores need %d host cores besides the one of host CPU 0; the host has %d%s", need, need,
			 nc - 1, c->hybrid ? " P-cores" : "");
		return 0;
	}
	if (online > DK_PIN_MAX) {
		snprintf(out->reason, sizeof out->reason, "too many vCPUs to pin");
		return 0;
	}
	/* One NUMA node with room for every guest core, then within it one L3
	 * domain with room for them all, the first in CPU order. */
	int nd = numa_pick(c, hc, nc, core0, need);
	int dom = -1;
	for (int d = 0; d < c->n_l3 && d < 64 && dom < 0; d++) {
		int room = 0;
		for (int k = 0; k < nc; k++)
			room += k != core0 && hc[k].l3 == d && (nd < 0 || hc[k].node == nd);
		if (room >= need)
			dom = d;
	}
	bool used[DK_MAX_CPUS] = {false};
	int pick[DK_PIN_MAX], np = 0;
	for (int k = 0; k < nc && np < need; k++)
		if (k != core0 && (dom < 0 || hc[k].l3 == dom) && (nd < 0 || hc[k].node == nd)) {
			pick[np++] = k;
			used[k] = true;
		}
	for (int i = 0; i < np; i++) {
		struct core *hk = &hc[pick[i]];
		if (threads > hk->nt) {
			snprintf(out->reason, sizeof out->reason,
				 "guest cores have %d threads but host core %d has %d: no sibling to pair them with", threads,
				 hk->t[0], hk->nt);
			return 0;
		}
	}
	for (int v = 0; v < online; v++)
		out->cpu[v] = hc[pick[v / threads]].t[v % threads];
	out->n = online;
	int spans = 0;
	if (c->n_l3 > 0) {
		bool seen[64] = {false};
		for (int i = 0; i < np; i++)
			if (hc[pick[i]].l3 >= 0 && !seen[hc[pick[i]].l3]) {
				seen[hc[pick[i]].l3] = true;
				spans++;
			}
	}
	out->l3_domains = spans;
	dk_cpuset_format(hc[core0].t, hc[core0].nt, out->emulator, sizeof out->emulator);
	/* The IO thread: the first leftover core, in the guest's L3 domain (else
	 * its NUMA node) if possible. */
	int io = -1;
	for (int k = 0; k < nc && io < 0; k++)
		if (k != core0 && !used[k] && (dom < 0 || hc[k].l3 == dom) && (nd < 0 || hc[k].node == nd))
			io = k;
	for (int k = 0; k < nc && io < 0 && nd >= 0; k++)
		if (k != core0 && !used[k] && hc[k].node == nd)
			io = k;
	for (int k = 0; k < nc && io < 0; k++)
		if (k != core0 && !used[k])
			io = k;
	if (io >= 0)
		dk_cpuset_format(hc[io].t, hc[io].nt, out->iothread, sizeof out->iothread);
	else
		snprintf(out->iothread, sizeof out->iothread, "%s", out->emulator);
	out->numa_node = nd;
	char numa[96] = "";
	if (nd >= 0)
		snprintf(numa, sizeof numa, ", all on NUMA node %d (of the host's %d)", nd, c->numa_nodes);
	else if (c->numa_nodes > 1 && c->numa_cpus_known)
		snprintf(numa, sizeof numa, ", spanning NUMA nodes (none has room)");
	snprintf(out->reason, sizeof out->reason,
		 "each guest core on its own host core (its SMT siblings for the threads)%s%s%s; host core %s (CPU 0's) keeps "
		 "the host and the emulator threads, the IO thread goes to %s",
		 c->hybrid ? ", P-cores only" : "",
		 spans == 1 && c->n_l3 > 1 ? ", within one L3 domain" : spans > 1 ? ", spanning L3 domains (none has room)" : "",
		 numa, out->emulator, io >= 0 ? out->iothread : "the same core");
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

json_object *dk_pinning_to_json(const struct dk_pinning *pn, int cores, int threads)
{
	json_object *o = json_object_new_object(), *t = json_object_new_object(), *v = json_object_new_array();
	json_object_object_add(t, "sockets", json_object_new_int(1));
	json_object_object_add(t, "cores", json_object_new_int(cores));
	json_object_object_add(t, "threads", json_object_new_int(threads));
	json_object_object_add(o, "topology", t);
	for (int i = 0; i < pn->n; i++) {
		json_object *e = json_object_new_object();
		char s[16];
		snprintf(s, sizeof s, "%d", pn->cpu[i]);
		json_object_object_add(e, "vcpu", json_object_new_int(i));
		json_object_object_add(e, "cpuset", json_object_new_string(s));
		json_object_array_add(v, e);
	}
	json_object_object_add(o, "vcpupin", v);
	json_object_object_add(o, "emulatorpin", json_object_new_string(pn->emulator));
	json_object_object_add(o, "iothreadpin", json_object_new_string(pn->iothread));
	return o;
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
