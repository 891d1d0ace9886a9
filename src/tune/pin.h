/* Thread pinning, the guide's write-up (§8.3 Thread Pinning, §8.4 emulator pin):
 * each guest core's two threads on one host core's SMT siblings, the host's
 * first physical core left to the host and given the emulator threads. */
#pragma once
#include <stdbool.h>
#include "host/host.h"

#define DK_PIN_MAX 256

struct dk_pinning {
	int n;                   /* vCPUs pinned (0: no pinning, see reason) */
	int cpu[DK_PIN_MAX];     /* host logical CPU per vCPU */
	char emulator[128];      /* cpuset of the host's reserved core, e.g. "0,12" */
	char iothread[128];      /* a leftover core for the IO thread (else the reserved core) */
	int l3_domains;          /* L3 domains the pinned cores span (0: unknown) */
	int numa_node;           /* multi-node host: the NUMA node every pinned vCPU is on, else -1 */
	char reason[640];
};

/* Plan the pins for a guest of `cores` x `threads` (QEMU numbers the threads
 * of a core consecutively). Always returns 0; n == 0 when the host cannot
 * give every guest core its own host core (reason says why). */
int dk_pin_plan(const struct dk_host *h, int cores, int threads, struct dk_pinning *out);
/* The same for the first `online` vCPUs only (fake core count): as many guest
 * cores as they fill. The host core that holds CPU 0 stays the host's (and
 * the emulator's); on a host with several NUMA nodes (numa_cpus_known) the
 * guest cores go to one node when one has room (the first in node order),
 * and within it (or the host) to one L3 domain when one has room (else they
 * span domains, in order); hybrid Intel: P-cores only; the IO thread gets the
 * first core left over (in that L3 domain, else that node, when possible). */
int dk_pin_plan_online(const struct dk_host *h, int cores, int threads, int online, struct dk_pinning *out);
/* "1-3,8" style rendering of a CPU list. */
void dk_cpuset_format(const int *cpus, int n, char *out, size_t len);
/* Apply: pid = QEMU's main thread (gets the emulator set), tids[i] = the
 * thread of vCPU i. -1 + dk_fail on a sched_setaffinity error. */
/* `dkvm --json tune pin`'s {topology: {sockets, cores, threads}, vcpupin:
 * [{vcpu, cpuset}], emulatorpin, iothreadpin} for a cores x threads guest. */
struct json_object *dk_pinning_to_json(const struct dk_pinning *pn, int cores, int threads);
int dk_pin_apply(const struct dk_pinning *p, int pid, const int *tids, int ntids);
