/* The plan: host facts + profile + release + options -> machine. */
#include "vm/plan.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/output.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/fs.h"
#include "util/cleanup.h"
#include "tune/pin.h"
#include "host/gpu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *dk_disk_bus_name(enum dk_disk_bus b)
{
	return b == DK_BUS_SATA ? "sata" : b == DK_BUS_IDE ? "ide" : "virtio";
}
const char *dk_accel_name(enum dk_accel a) { return a == DK_ACCEL_TCG ? "tcg" : "kvm"; }

static void why(struct dk_plan *p, const char *key, const char *reason_fmt, const char *value_fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Record a decision: key, value (printf), reason (fixed text). */
static void why(struct dk_plan *p, const char *key, const char *reason, const char *value_fmt, ...)
{
	struct dk_plan_decision *d = NULL;
	for (int i = 0; i < p->n_why; i++)
		if (!strcmp(p->why[i].key, key))
			d = &p->why[i];
	if (!d) {
		if (p->n_why >= DK_PLAN_MAX_EXPLAIN)
			return;
		d = &p->why[p->n_why++];
	}
	snprintf(d->key, sizeof d->key, "%s", key);
	va_list ap;
	va_start(ap, value_fmt);
	vsnprintf(d->value, sizeof d->value, value_fmt, ap);
	va_end(ap);
	snprintf(d->reason, sizeof d->reason, "%s", reason);
}

static bool has_flag(const struct dk_host *h, const char *flag)
{
	const char *f = h->cpu.flags;
	if (!f)
		return false;
	size_t n = strlen(flag);
	while (*f) {
		while (*f == ' ')
			f++;
		const char *e = f;
		while (*e && *e != ' ')
			e++;
		if ((size_t)(e - f) == n && !strncmp(f, flag, n))
			return true;
		f = e;
	}
	return false;
}

static bool in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

/* Features KVM provides whatever /proc/cpuinfo says (emulated or synthetic). */
static const char *const kvm_synthetic[] = {"hypervisor", "x2apic", "tsc-deadline", "arat", NULL};

static int largest_pow2_le(int n)
{
	int p = 1;
	while (p * 2 <= n)
		p *= 2;
	return p;
}

/* The -cpu value: the model (or host), with the features the host cannot give
 * masked (unavailable: QEMU's list for the plan's accelerator, or NULL). */
static void plan_cpu(const struct dk_host *h, const char *const *unavailable, bool cpu_host,
		     const struct dk_vm_profile *prof, struct dk_plan *p)
{
	struct dk_buf b = {0};
	bool kvm = p->accel == DK_ACCEL_KVM;
	p->amd_host = h->cpu.vendor == DK_VENDOR_AMD;
	p->invtsc = kvm && has_flag(h, "constant_tsc") && has_flag(h, "nonstop_tsc");
	p->topoext = kvm && p->amd_host && h->cpu.smt;
	if (cpu_host) {
		p->cpu_mode = DK_CPU_HOST;
		snprintf(p->cpu_model, sizeof p->cpu_model, "host");
		dk_buf_puts(&b, "host,vendor=GenuineIntel");
		why(p, "cpu", "--cpu host: the guest sees the host CPU as it is (host-passthrough); macOS needs an Intel identity, which this host has",
		    "host-passthrough");
	} else {
		p->cpu_mode = DK_CPU_MODEL;
		snprintf(p->cpu_model, sizeof p->cpu_model, "%s", prof->cpu_model);
		dk_buf_printf(&b, "%s,vendor=GenuineIntel", prof->cpu_model);
		why(p, "cpu", prof->why, "%s, vendor GenuineIntel", prof->cpu_model);
		/* Mask every model feature this host cannot give the guest. */
		const char *const *feats = dk_cpu_model_features(prof->cpu_model);
		for (const char *const *f = feats; f && *f; f++) {
			bool missing;
			if (unavailable)
				missing = in_list(unavailable, *f);
			else if (!kvm)
				missing = false;
			else
				missing = !in_list(kvm_synthetic, *f) && !has_flag(h, dk_cpu_feature_to_flag(*f));
			if (missing && p->n_masked < DK_PLAN_MAX_MASK)
				snprintf(p->masked[p->n_masked++], sizeof p->masked[0], "%s", *f);
		}
		/* Features QEMU reports unavailable that the static table lacks. */
		for (const char *const *u = unavailable; u && *u; u++)
			if (!in_list(feats, *u) && p->n_masked < DK_PLAN_MAX_MASK)
				snprintf(p->masked[p->n_masked++], sizeof p->masked[0], "%s", *u);
		if (prof->cpu_extra[0]) {
			const char *fl = prof->cpu_extra[0] == '+' ? prof->cpu_extra + 1 : prof->cpu_extra;
			if (!kvm || has_flag(h, fl)) {
				dk_buf_printf(&b, ",%s", prof->cpu_extra);
				why(p, "cpu.extra", "the guide adds it for this model", "%s", prof->cpu_extra);
			} else {
				why(p, "cpu.extra", "the guide adds it for this model, but the host CPU lacks it", "not added (%s)",
				    prof->cpu_extra);
			}
		}
		if (p->n_masked) {
			struct dk_buf m = {0};
			for (int i = 0; i < p->n_masked; i++) {
				dk_buf_printf(&b, ",-%s", p->masked[i]);
				dk_buf_printf(&m, "%s-%s", i ? "," : "", p->masked[i]);
			}
			why(p, "cpu.masked",
			    unavailable ? "QEMU reports these features of the model unavailable on this host; masking them keeps the guest CPU consistent and QEMU silent"
					   : "features of the model this host's CPU lacks (/proc/cpuinfo); masking them keeps the guest CPU consistent and QEMU silent",
			    "%s", m.data);
			dk_buf_free(&m);
		} else {
			why(p, "cpu.masked", kvm ? "the host has every feature of the model" : "TCG emulates the model", "none");
		}
	}
	if (p->invtsc) {
		dk_buf_puts(&b, ",+invtsc");
		why(p, "cpu.invtsc", "host TSC is constant and non-stop: an invariant TSC keeps macOS timekeeping stable", "+invtsc");
	}
	if (p->topoext) {
		dk_buf_puts(&b, ",+topoext");
		why(p, "cpu.topoext", "AMD host with SMT: without topoext the guest is not multithreaded (guide troubleshooting)", "+topoext");
	}
	dk_buf_puts(&b, ",vmware-cpuid-freq=on");
	why(p, "cpu.tsc-freq", "tells macOS the TSC frequency through the VMware CPUID leaf (AMD hosts otherwise misjudge it)",
	    "vmware-cpuid-freq=on");
	snprintf(p->cpu_arg, sizeof p->cpu_arg, "%s", b.data);
	dk_buf_free(&b);
}

static int plan_topology(const struct dk_host *h, const struct dk_plan_opts *o, struct dk_plan *p)
{
	int logical = h->cpu.logical > 0 ? h->cpu.logical : 1;
	int tpc = h->cpu.threads_per_core > 0 ? h->cpu.threads_per_core : 1;
	bool smt = h->cpu.smt && tpc >= 2;
	p->sockets = 1;
	p->dies = 1;
	if (o->cpus > 0) {
		if (o->cpus > logical)
			return dk_fail("--cpus %d: the host has only %d logical CPUs", o->cpus, logical);
		int threads = (smt && o->cpus % 2 == 0) ? 2 : 1;
		int cores = o->cpus / threads;
		if ((cores & (cores - 1)) && o->fake_cores)
			return dk_plan_set_fake_cores(p, h, o->cpus);
		if (cores & (cores - 1)) {
			int lo = largest_pow2_le(cores) * threads;
			return dk_fail("--cpus %d: macOS boots only with a power-of-two core count (1 socket, %d thread%s per core); try --cpus %d, or --fake-cores (the guide's fake core count)",
				       o->cpus, threads, threads > 1 ? "s" : "", lo);
		}
		p->cores = cores;
		p->threads = threads;
		p->vcpus = o->cpus;
		why(p, "topology", "as requested (--cpus); 1 socket, 1 die, a power-of-two core count as XNU needs",
		    "1 socket, %d cores, %d threads = %d vCPUs", cores, threads, p->vcpus);
		return 0;
	}
	struct dk_topology_rec r;
	dk_host_recommend(h, &r);
	p->cores = r.cores > 0 ? r.cores : 1;
	p->threads = r.threads == 2 ? 2 : 1;
	if (p->cores * p->threads > logical)
		p->threads = 1;
	p->vcpus = p->cores * p->threads;
	why(p, "topology", r.reason, "1 socket, %d cores, %d threads = %d vCPUs", p->cores, p->threads, p->vcpus);
	return 0;
}

static int plan_memory(const struct dk_host *h, const struct dk_plan_opts *o, struct dk_plan *p)
{
	uint64_t total_mib = h->mem.total_kib / 1024;
	if (o->memory_bytes) {
		uint64_t mib = o->memory_bytes >> 20;
		if (mib < 2048)
			return dk_fail("--memory %llu MiB: macOS needs at least 2 GiB", (unsigned long long)mib);
		if (total_mib && mib > total_mib)
			return dk_fail("--memory %llu MiB: the host has only %llu MiB", (unsigned long long)mib,
				       (unsigned long long)total_mib);
		p->memory_mib = mib;
		why(p, "memory", "as requested (--memory)", "%llu MiB", (unsigned long long)mib);
	} else {
		uint64_t mib = total_mib / 4;
		mib &= ~(uint64_t)255;
		const char *r = "a quarter of host RAM (guide)";
		if (mib < 4096) {
			mib = 4096;
			r = "a quarter of host RAM is below the 4 GiB floor macOS needs to install";
		} else if (mib > 32768) {
			mib = 32768;
			r = "a quarter of host RAM, capped at 32 GiB (use --memory for more)";
		}
		p->memory_mib = mib;
		why(p, "memory", r, "%llu MiB", (unsigned long long)mib);
	}
	p->nosharepages = true;
	why(p, "memory.backing", "KSM page sharing off (nosharepages) and no balloon: macOS does not cooperate with either",
	    "nosharepages, no balloon");
	return 0;
}

/* Record a warning for the user (the plan's data; create hands it on). */
static void warn(struct dk_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct dk_plan *p, const char *fmt, ...)
{
	if (p->n_warnings >= DK_PLAN_MAX_WARN)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->warnings[p->n_warnings++], sizeof p->warnings[0], fmt, ap);
	va_end(ap);
}

/* The accelerator from its verdicts: /dev/kvm, --accel, what the libvirt
 * connection offers and whether its QEMU user can open /dev/kvm. reason
 * receives why ("" for the default reason). */
static int plan_accel(const struct dk_facts *f, const struct dk_plan_opts *o, struct dk_plan *p, char *reason,
		      size_t n)
{
	reason[0] = '\0';
	p->accel = f->kvm_usable ? DK_ACCEL_KVM : DK_ACCEL_TCG;
	if (o->accel == DK_ACCEL_FORCE_TCG) {
		p->accel = DK_ACCEL_TCG;
		snprintf(reason, n, "as requested (--accel tcg)");
	} else if (o->accel == DK_ACCEL_FORCE_KVM) {
		if (!f->kvm_usable)
			return dk_fail("--accel kvm: /dev/kvm is not usable here");
		snprintf(reason, n, "as requested (--accel kvm)");
	}
	if (f->connected && !f->caps.kvm) {
		if (o->accel == DK_ACCEL_FORCE_KVM)
			return dk_fail("--accel kvm: libvirt %s offers no KVM domains", f->uri);
		p->accel = DK_ACCEL_TCG;
		snprintf(reason, n, "the libvirt connection offers no KVM domains");
	}
	if (f->qemu_user_known && p->accel == DK_ACCEL_KVM && !f->qemu_user_kvm) {
		if (o->accel == DK_ACCEL_FORCE_KVM) {
			warn(p, "--accel kvm: libvirt's QEMU user %s cannot open /dev/kvm (%s): dkvm start will run the domain "
				"under TCG until that is fixed (dkvm host check)",
			     dk_ident_str(&f->qemu_user), f->qemu_user_kvm_why);
		} else {
			snprintf(reason, n, "libvirt's QEMU user %s cannot open /dev/kvm (%s): TCG domain (slow); fix /dev/kvm "
					    "(dkvm host check), then create the VM again",
				 dk_ident_str(&f->qemu_user), f->qemu_user_kvm_why);
			warn(p, "%s", reason);
			p->accel = DK_ACCEL_TCG;
		}
	}
	return 0;
}

/* QEMU's list of what the model lacks under an accelerator, if it is about
 * this model. */
static const char *const *unavailable_for(const struct dk_facts *f, const struct dk_vm_profile *prof, enum dk_accel a)
{
	if (!f->unavailable[a] || strcmp(f->cpu_model, prof->cpu_model) != 0)
		return NULL;
	return (const char *const *)f->unavailable[a];
}

/* KVM that cannot give the guest what the release needs (broken nested KVM)
 * cannot run it: plan for TCG. */
static void plan_kvm_isa(const struct dk_facts *f, const struct dk_plan_opts *o, const struct dk_vm_profile *prof,
			 const struct dk_macos *os, struct dk_plan *p, char *reason, size_t n)
{
	const char *const *un = unavailable_for(f, prof, DK_ACCEL_KVM);
	if (p->accel != DK_ACCEL_KVM || !un || o->cpu_host || o->accel == DK_ACCEL_FORCE_KVM)
		return;
	const char *missing = NULL;
	for (int i = 0; os->isa[i] && !missing; i++)
		for (const char *const *u = un; *u; u++)
			if (!strcmp(dk_cpu_feature_to_flag(*u), os->isa[i]))
				missing = os->isa[i];
	if (!missing)
		return;
	snprintf(reason, n,
		 "KVM here cannot give the guest '%s' (QEMU query-cpu-definitions; nested virtualization?), which macOS %s needs: TCG emulation (slow)",
		 missing, os->marketing);
	warn(p, "%s", reason);
	p->accel = DK_ACCEL_TCG;
}

const char *dk_plan_cpu_model(const struct dk_plan_opts *o)
{
	if (o->cpu_host)
		return NULL;
	const struct dk_macos *os = o->macos ? dk_macos_find(o->macos) : NULL;
	const struct dk_vm_profile *prof = o->model ? dk_vm_profile_find(o->model) : dk_vm_profile_for_macos(os);
	return prof ? prof->cpu_model : NULL;
}

/* The Mac model and the macOS release, checked against each other. */
static int plan_release(const struct dk_plan_opts *o, struct dk_plan *p, const struct dk_vm_profile **profp,
			const struct dk_macos **osp)
{
	const struct dk_macos *os = NULL;
	if (o->macos && !(os = dk_macos_find(o->macos)))
		return dk_fail("macOS release '%s': unknown (try 'dkvm fetch list')", o->macos);
	const struct dk_vm_profile *prof;
	if (o->model) {
		if (!(prof = dk_vm_profile_find(o->model))) {
			struct dk_buf b = {0};
			for (int i = 0; i < dk_vm_profile_count; i++)
				dk_buf_printf(&b, "%s%s", i ? ", " : "", dk_vm_profiles[i].model);
			dk_fail("model '%s': unknown (known: %s)", o->model, b.data);
			dk_buf_free(&b);
			return -1;
		}
	} else {
		prof = dk_vm_profile_for_macos(os);
	}
	if (!os)
		os = dk_macos_find(prof->macos_default);
	const struct dk_macos *lo = dk_macos_find(prof->macos_min), *hi = dk_macos_find(prof->macos_max);
	if (!os || !lo || !hi)
		return dk_fail("model %s: profile names an unknown release", prof->model);
	if (dk_macos_cmp(os, lo) < 0 || dk_macos_cmp(os, hi) > 0)
		return dk_fail("model %s: does not run macOS %s (%s); it covers %s to %s", prof->model, os->marketing,
			       os->version, lo->marketing, hi->marketing);
	snprintf(p->model, sizeof p->model, "%s", prof->model);
	snprintf(p->macos, sizeof p->macos, "%s", os->name);
	snprintf(p->macos_version, sizeof p->macos_version, "%s", os->version);
	why(p, "model", o->model ? "as requested (--model)" : "the guide's model for this release", "%s", prof->model);
	why(p, "macos", o->macos ? "as requested (--macos)" : "the model's default release", "%s (%s)", os->marketing,
	    os->version);
	*profp = prof;
	*osp = os;
	return 0;
}

/* The release's ISA against the host CPU and the guest model. */
static int plan_isa(const struct dk_host *h, const struct dk_plan_opts *o, const struct dk_vm_profile *prof,
		    const struct dk_macos *os, struct dk_plan *p)
{
	/* ISA: the release's minimum against the host CPU (the guide's chart). */
	for (int i = 0; os->isa[i]; i++)
		if (!has_flag(h, os->isa[i])) {
			if (p->accel == DK_ACCEL_KVM)
				return dk_fail("macOS %s needs the CPU feature '%s', which this host's CPU lacks (guide CPU chart); pick an older release",
					       os->marketing, os->isa[i]);
			why(p, "isa", "the host CPU lacks a feature the release needs; TCG emulation may still run it, slowly",
			    "missing %s", os->isa[i]);
			break;
		}
	/* Also the guest model must carry what the release needs. */
	const char *const *mf = dk_cpu_model_features(prof->cpu_model);
	for (int i = 0; mf && os->isa[i]; i++) {
		const char *need = os->isa[i];
		bool ok = false;
		for (const char *const *m = mf; *m; m++)
			if (!strcmp(dk_cpu_feature_to_flag(*m), need))
				ok = true;
		if (!ok && !o->cpu_host)
			return dk_fail("model %s: its CPU %s lacks '%s', which macOS %s needs", prof->model, prof->cpu_model,
				       need, os->marketing);
	}
	return 0;
}

/* NUMA-local memory follows the pins: bound to the node every vCPU is on
 * (pn NULL: not pinned). A decision only on a multi-node host, or where the
 * plan had one. */
static void plan_numa(struct dk_plan *p, const struct dk_host *h, const struct dk_pinning *pn)
{
	bool had = false;
	for (int i = 0; i < p->n_why; i++)
		had |= !strcmp(p->why[i].key, "memory.numa");
	p->numa_bind = pn && pn->numa_node >= 0;
	p->numa_node = p->numa_bind ? pn->numa_node : 0;
	int nodes = h ? h->cpu.numa_nodes : 0;
	if (p->numa_bind)
		why(p, "memory.numa",
		    "every pinned vCPU runs on this NUMA node: guest RAM comes from its memory only (strict), never "
		    "from a remote node across the interconnect",
		    "node %d of %d (strict)", p->numa_node, nodes);
	else if (pn && nodes > 1)
		why(p, "memory.numa",
		    h->cpu.numa_cpus_known ? "not bound: the pinned vCPUs span NUMA nodes (no node has room for them all)"
					   : "not bound: the host does not say which NUMA node each CPU is on",
		    "not bound (%d nodes)", nodes);
	else if (had || (!pn && nodes > 1))
		why(p, "memory.numa", "not bound: guest RAM is bound to a NUMA node only when the vCPUs are pinned to it",
		    "not bound");
}

int dk_plan_set_pin(struct dk_plan *p, const struct dk_host *h, bool on)
{
	p->n_pin = 0;
	p->emulator_pin[0] = '\0';
	p->iothread_pin[0] = '\0';
	if (!on) {
		why(p, "pinning", "not asked for (dkvm tune NAME pin)", "not pinned");
		plan_numa(p, h, NULL);
		return 0;
	}
	struct dk_pinning pn;
	dk_pin_plan_online(h, p->cores, p->threads, dk_plan_vcpus_online(p), &pn);
	if (pn.n <= 0) {
		why(p, "pinning", pn.reason, "not pinned");
		plan_numa(p, h, NULL);
		return 0;
	}
	p->n_pin = pn.n;
	memcpy(p->pin, pn.cpu, sizeof p->pin[0] * (size_t)pn.n);
	snprintf(p->emulator_pin, sizeof p->emulator_pin, "%s", pn.emulator);
	if (p->iothreads)
		snprintf(p->iothread_pin, sizeof p->iothread_pin, "%s", pn.iothread);
	char set[512];
	dk_cpuset_format(pn.cpu, pn.n, set, sizeof set);
	why(p, "pinning", pn.reason, "vCPUs on host CPUs %s, emulator on %s%s%s", set, pn.emulator,
	    p->iothreads ? ", IO thread on " : "", p->iothreads ? pn.iothread : "");
	plan_numa(p, h, &pn);
	return 0;
}

int dk_plan_set_iothreads(struct dk_plan *p, const struct dk_host *h, bool on)
{
	if (!on) {
		p->iothreads = 0;
		p->iothread_pin[0] = '\0';
		why(p, "iothreads", "not asked for (dkvm tune NAME iothreads)", "none");
		return 0;
	}
	p->iothreads = 1;
	why(p, "iothreads",
	    p->disk_bus == DK_BUS_VIRTIO
		    ? "the guide's VirtIO IO thread: the virtio disks' I/O runs on its own thread, off the vCPUs and the main loop"
		    : "the guide's VirtIO IO thread: the OpenCore disk is virtio (the main disk is SATA and stays on the main loop)",
	    "1 IO thread for the virtio disks");
	if (p->n_pin && h) /* pinned: the IO thread gets its own core */
		return dk_plan_set_pin(p, h, true);
	return 0;
}

void dk_plan_set_hugepages(struct dk_plan *p, bool on)
{
	p->hugepages = on;
	if (on)
		why(p, "hugepages",
		    "guest RAM on the host's hugepages (fewer TLB misses); the host must reserve them before the VM starts",
		    "%llu x 2 MiB pages (vm.nr_hugepages >= %llu)", (unsigned long long)p->memory_mib / 2,
		    (unsigned long long)p->memory_mib / 2);
	else
		why(p, "hugepages", "not asked for (dkvm tune NAME hugepages)", "none");
}

int dk_plan_set_fake_cores(struct dk_plan *p, const struct dk_host *h, int cpus)
{
	int logical = h && h->cpu.logical > 0 ? h->cpu.logical : 0;
	if (cpus <= 0) {
		p->vcpus_current = 0;
		return 0;
	}
	if (logical && cpus > logical)
		return dk_fail("--cpus %d: the host has only %d logical CPUs", cpus, logical);
	if (cpus < 2 || cpus > 32)
		return dk_fail("--cpus %d: the fake core count covers 2 to 32 vCPUs", cpus);
	int cores = cpus > 16 ? 16 : 8;
	p->sockets = 1;
	p->dies = 1;
	p->cores = cores;
	p->threads = 2;
	p->vcpus = cores * 2;
	p->vcpus_current = cpus == p->vcpus ? 0 : cpus;
	why(p, "topology",
	    "the guide's fake core count: XNU boots only with a power-of-two core count, so the guest has 1 socket, "
	    "8 cores x 2 threads (16 x 2 above 16 vCPUs) of which only the first ones are enabled at boot",
	    "1 socket, %d cores, 2 threads = %d vCPUs, %d enabled", cores, p->vcpus, cpus);
	return 0;
}

/* create's default: guest RAM on hugepages when the host has reserved enough
 * free 2 MiB pages for it (reserving them is the user's choice: dkvm tune NAME
 * hugepages --reserve writes the sysctl). */
static void plan_hugepages_default(const struct dk_host *h, struct dk_plan *p)
{
	unsigned long long need = (unsigned long long)p->memory_mib / 2, free2m = h->mem.hugepages_2m_free;
	if (need && free2m >= need) {
		dk_plan_set_hugepages(p, true);
		why(p, "hugepages",
		    "the host has reserved enough free 2 MiB hugepages for the guest's RAM (fewer TLB misses); "
		    "they must still be free when the VM starts",
		    "%llu x 2 MiB pages of %llu free", need, free2m);
	} else {
		why(p, "hugepages",
		    "off: the host has not reserved enough free 2 MiB hugepages for the guest's RAM "
		    "(dkvm tune NAME hugepages --reserve writes vm.nr_hugepages)",
		    "off (%llu free, %llu needed)", free2m, need);
	}
}

static void plan_pin(const struct dk_host *h, const struct dk_plan_opts *o, struct dk_plan *p)
{
	bool pin = o->pin, io = o->iothreads;
	if (o->auto_levers && !pin && !io) {
		/* create's defaults: each lever where the host has room for it */
		struct dk_pinning pn;
		dk_pin_plan_online(h, p->cores, p->threads, dk_plan_vcpus_online(p), &pn);
		pin = pn.n > 0 && p->accel == DK_ACCEL_KVM;
		io = true;
		if (!pin)
			why(p, "pinning", p->accel != DK_ACCEL_KVM ? "off: TCG threads are not vCPUs to pin" : pn.reason,
			    "off (the host has no room)");
	}
	if (io)
		dk_plan_set_iothreads(p, NULL, true);
	if (pin)
		dk_plan_set_pin(p, h, true);
	if (o->hugepages)
		dk_plan_set_hugepages(p, true);
	else if (o->auto_levers && h)
		plan_hugepages_default(h, p);
}

/* ---- PCI passthrough (--gpu, --usb-controller, --audio) ---- */

/* A check the user may override with --force: refuse, or warn and go on. */
static int refuse(struct dk_plan *p, bool force, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(struct dk_plan *p, bool force, const char *fmt, ...)
{
	char msg[480];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!force)
		return dk_fail("%s (--force passes it anyway)", msg);
	warn(p, "%s: passed through anyway (--force)", msg);
	return 0;
}

static bool bdf_syntax(const char *s)
{
	unsigned a, b, c, d;
	int n = 0;
	if (sscanf(s, "%x:%x:%x.%x%n", &a, &b, &c, &d, &n) == 4 && s[n] == '\0')
		return a <= 0xffff && b <= 0xff && c <= 0x1f && d <= 7;
	n = 0;
	return sscanf(s, "%x:%x.%x%n", &b, &c, &d, &n) == 3 && s[n] == '\0' && b <= 0xff && c <= 0x1f && d <= 7;
}

static const char *class_word(uint32_t cc)
{
	switch (cc >> 8) {
	case 0x0300: return "VGA controller";
	case 0x0302: return "3D controller";
	case 0x0380: return "display controller";
	case 0x0403: return "audio controller";
	case 0x0c03: return "USB controller";
	case 0x0106: return "SATA controller";
	case 0x0108: return "NVMe controller";
	case 0x0200: return "Ethernet controller";
	default: return "device";
	}
}

static bool passed(const struct dk_plan *p, const char *bdf)
{
	for (int i = 0; i < p->n_hostdev; i++)
		if (!strcmp(p->hostdev[i].host, bdf))
			return true;
	return false;
}

static void add_hostdev(struct dk_plan *p, const char *role, const char *bdf, int func)
{
	struct dk_plan_hostdev *h = &p->hostdev[p->n_hostdev++];
	memset(h, 0, sizeof *h);
	snprintf(h->role, sizeof h->role, "%s", role);
	snprintf(h->host, sizeof h->host, "%s", bdf);
	h->port = p->n_ports;
	h->func = func;
}

/* One card: checks, then its functions in a root port of its own. opt is the
 * option's name; the GPU takes every function of its slot (bridges excluded),
 * a USB or HDA controller only the one function given. */
static int plan_card(const struct dk_facts *f, const struct dk_plan_opts *o, const char *opt, const char *role,
		     const char *bdf, struct dk_plan *p)
{
	const struct dk_pci *pci = &f->pci;
	bool gpu = !strcmp(role, "gpu");
	if (!bdf_syntax(bdf))
		return dk_fail("%s '%s': not a PCI address (BB:DD.F or DDDD:BB:DD.F, as dkvm host iommu lists them)", opt, bdf);
	if (!f->pci_known)
		return dk_fail("%s %s: the host's PCI devices were not read", opt, bdf);
	if (p->n_ports >= DK_PLAN_MAX_HOSTDEV || p->n_hostdev >= DK_PLAN_MAX_HOSTDEV)
		return dk_fail("%s %s: too many passed-through devices", opt, bdf);
	int i = dk_pci_find(pci, bdf);
	if (i < 0) {
		if (refuse(p, o->force_devices, "%s %s: no such PCI device on this host (see dkvm host iommu)", opt, bdf) < 0)
			return -1;
		char full[16];
		unsigned a = 0, b, c, d;
		if (sscanf(bdf, "%x:%x:%x.%x", &a, &b, &c, &d) != 4) {
			a = 0;
			sscanf(bdf, "%x:%x.%x", &b, &c, &d);
		}
		snprintf(full, sizeof full, "%04x:%02x:%02x.%x", a & 0xffff, b & 0xff, c & 0x1f, d & 7);
		if (passed(p, full))
			return dk_fail("%s %s: already passed through", opt, full);
		p->n_ports++;
		add_hostdev(p, role, full, 0);
		return 0;
	}
	const struct dk_pci_dev *d = &pci->devs[i];
	if (passed(p, d->bdf))
		return dk_fail("%s %s: already passed through", opt, d->bdf);
	if (d->ignored)
		return dk_fail("%s %s: a bridge [%04x] is never passed through", opt, d->bdf, d->class_code >> 8);
	bool class_ok = gpu ? (d->class_code >> 16) == 0x03
			    : !strcmp(role, "usb") ? (d->class_code >> 8) == 0x0c03 : (d->class_code >> 8) == 0x0403;
	if (!class_ok &&
	    refuse(p, o->force_devices, "%s %s: %s [%04x], not %s", opt, d->bdf, class_word(d->class_code),
		   d->class_code >> 8,
		   gpu ? "a GPU [03xx]" : !strcmp(role, "usb") ? "a USB controller [0c03]" : "an HD audio controller [0403]") < 0)
		return -1;
	if (d->boot_vga == 1 &&
	    refuse(p, o->force_devices, "%s %s: the host's boot VGA device (its console and firmware framebuffer run on it; "
					"single-GPU passthrough needs the guide's libvirt hooks)", opt, d->bdf) < 0)
		return -1;
	if (d->group < 0 &&
	    refuse(p, o->force_devices, "%s %s: in no IOMMU group (the IOMMU is off: see dkvm host check)", opt, d->bdf) < 0)
		return -1;
	p->n_ports++;
	int nfunc = 0;
	if (gpu) {
		for (unsigned fn = 0; fn < 8; fn++)
			for (int k = 0; k < pci->ndev; k++) {
				const struct dk_pci_dev *x = &pci->devs[k];
				if (x->domain == d->domain && x->bus == d->bus && x->slot == d->slot && x->func == fn &&
				    !x->ignored && !passed(p, x->bdf) && p->n_hostdev < DK_PLAN_MAX_HOSTDEV)
					add_hostdev(p, role, x->bdf, nfunc++);
			}
	} else {
		add_hostdev(p, role, d->bdf, nfunc++);
	}
	if (nfunc > 1)
		p->hostdev[p->n_hostdev - nfunc].multifunction = true;
	/* the decision, with the group's verdict */
	struct dk_buf v = {0};
	for (int k = p->n_hostdev - nfunc; k < p->n_hostdev; k++)
		dk_buf_printf(&v, "%s%s", k > p->n_hostdev - nfunc ? " + " : "", p->hostdev[k].host);
	dk_buf_printf(&v, " -> guest port %d%s", p->n_ports, nfunc > 1 ? ", multifunction" : "");
	const char *greason = "no IOMMU group";
	for (int g = 0; g < pci->ngroups; g++)
		if (pci->groups[g].id == d->group)
			greason = pci->groups[g].reason;
	char reason[384], key[32];
	snprintf(reason, sizeof reason, "%s; IOMMU group %d: %s",
		 gpu ? "every function of the card (GPU, HDMI audio...) in one guest slot, function 0 multifunction (guide §7)"
		     : "the controller alone in a guest slot of its own (vfio-pci, managed)",
		 d->group, greason);
	snprintf(key, sizeof key, "passthrough.%s", role);
	if (!strcmp(role, "usb") && o->n_usb > 1)
		snprintf(key, sizeof key, "passthrough.usb%d", p->n_ports);
	why(p, key, reason, "%s", v.data);
	dk_buf_free(&v);
	return 0;
}

/* The GPU's needs from the guide's chart; refuses a card the release cannot drive. */
static int plan_gpu_chart(const struct dk_facts *f, const struct dk_plan_opts *o, const struct dk_macos *os,
			  struct dk_plan *p)
{
	const struct dk_plan_hostdev *h0 = NULL;
	for (int i = 0; i < p->n_hostdev && !h0; i++)
		if (!strcmp(p->hostdev[i].role, "gpu"))
			h0 = &p->hostdev[i];
	if (!h0)
		return 0;
	struct dk_plan_gpu *g = &p->gpu;
	snprintf(g->host, sizeof g->host, "%s", h0->host);
	snprintf(g->kext, sizeof g->kext, "none");
	int i = dk_pci_find(&f->pci, h0->host);
	if (i < 0) {
		why(p, "gpu.kext", "the device is not on this host: the guide's chart cannot say", "none");
		return 0;
	}
	const struct dk_pci_dev *d = &f->pci.devs[i];
	snprintf(g->vendor_device, sizeof g->vendor_device, "%04x:%04x", d->vendor, d->device);
	const struct dk_gpu_family *c = dk_gpu_lookup(d->vendor, d->device);
	if (!c) {
		snprintf(g->macos_range, sizeof g->macos_range, "unknown");
		why(p, "gpu.kext", "not in the guide's GPU chart", "none");
		return refuse(p, o->force_devices, "--gpu %s: %s is not in the guide's GPU chart: no macOS driver known",
			      d->bdf, g->vendor_device);
	}
	snprintf(g->family, sizeof g->family, "%s", c->family);
	snprintf(g->macos_range, sizeof g->macos_range, "%s", c->range);
	snprintf(g->notes, sizeof g->notes, "%s", c->notes);
	if (!dk_gpu_drives(c, os)) {
		why(p, "gpu.kext", "macOS cannot drive the card (the guide's GPU chart)", "none");
		if (!c->supported)
			return refuse(p, o->force_devices, "--gpu %s: %s (%s): %s (the guide's GPU chart)", d->bdf, c->family,
				      g->vendor_device, c->notes);
		return refuse(p, o->force_devices, "--gpu %s: %s (%s) runs macOS %s per the guide's GPU chart, not %s (%s)",
			      d->bdf, c->family, g->vendor_device, c->range, os->marketing, os->version);
	}
	snprintf(g->kext, sizeof g->kext, "%s", c->kext);
	snprintf(g->boot_args, sizeof g->boot_args, "%s", c->boot_args);
	const char *spoof = dk_gpu_spoof(c, d->device);
	snprintf(g->device_id, sizeof g->device_id, "%s", spoof ? spoof : "");
	char reason[384];
	snprintf(reason, sizeof reason, "the guide's GPU chart: %s, macOS %s; %s", c->family, c->range, c->notes);
	why(p, "gpu.kext", reason, "%s%s%s%s%s", g->kext, g->boot_args[0] ? ", boot-args " : "", g->boot_args,
	    g->device_id[0] ? ", DeviceProperties device-id " : "", g->device_id);
	if (!strcmp(g->kext, "WhateverGreen") && !strcmp(os->name, "tahoe"))
		warn(p, "--gpu %s: on Tahoe the stock WhateverGreen kernel-panics in recoveryOS and during updates; "
			"the guide requires the Carnations Botanica build", d->bdf);
	return 0;
}

/* ---- fixed guest addresses of the passthrough root ports ---- */

void dk_plan_port_addr(int port, int *slot, int *fn)
{
	int k = port > 0 ? port - 1 : 0;
	*slot = DK_PLAN_PORT_SLOT - k / 8;
	*fn = k % 8;
}

bool dk_plan_port_multifunction(const struct dk_plan *p, int port)
{
	int slot, fn;
	dk_plan_port_addr(port, &slot, &fn);
	if (fn != 0)
		return false;
	for (int i = 0; i < p->n_hostdev; i++) {
		int s2, f2;
		dk_plan_port_addr(p->hostdev[i].port, &s2, &f2);
		if (s2 == slot && f2 != 0)
			return true;
	}
	return false;
}

void dk_plan_hostdev_devpath(const struct dk_plan_hostdev *h, char *buf, size_t n)
{
	int slot, fn;
	dk_plan_port_addr(h->port, &slot, &fn);
	snprintf(buf, n, "PciRoot(0x0)/Pci(0x%X,0x%X)/Pci(0x0,0x%X)", (unsigned)slot, (unsigned)fn, (unsigned)h->func);
}

const struct dk_plan_hostdev *dk_plan_hostdev_role(const struct dk_plan *p, const char *role)
{
	for (int i = 0; i < p->n_hostdev; i++)
		if (!strcmp(p->hostdev[i].role, role) && p->hostdev[i].func == 0)
			return &p->hostdev[i];
	return NULL;
}

/* The DeviceProperties the guide's write-ups add for the passed devices, as a
 * decision: AppleALC's layout-id on the HD audio controller, the GPU chart's
 * device-id spoof on the card; keyed by the fixed guest paths. where says
 * when config.plist gets them. Nothing without such a device. */
static void plan_devprops(struct dk_plan *p, const char *where)
{
	const struct dk_plan_hostdev *a = dk_plan_hostdev_role(p, "audio"), *g = dk_plan_hostdev_role(p, "gpu");
	struct dk_buf v = {0};
	char path[64];
	if (g && p->gpu.device_id[0]) {
		dk_plan_hostdev_devpath(g, path, sizeof path);
		dk_buf_printf(&v, "%s device-id %s", path, p->gpu.device_id);
	}
	if (a) {
		dk_plan_hostdev_devpath(a, path, sizeof path);
		dk_buf_printf(&v, "%s%s layout-id %d", v.len ? "; " : "", path, DK_PLAN_AUDIO_LAYOUT);
	}
	if (v.len) {
		char reason[384];
		snprintf(reason, sizeof reason,
			 "the guide's DeviceProperties for passed devices (%s%s%s), at the fixed guest paths of their root ports; %s",
			 g && p->gpu.device_id[0] ? "the GPU chart's device-id spoof" : "", g && p->gpu.device_id[0] && a ? ", " : "",
			 a ? "AppleALC's layout-id instead of alcid=" : "", where);
		why(p, "deviceproperties", reason, "%s", v.data);
	}
	dk_buf_free(&v);
}

/* Every passthrough option -> hostdevs in root ports of their own. */
static int plan_passthrough(const struct dk_facts *f, const struct dk_plan_opts *o, const struct dk_macos *os,
			    struct dk_plan *p)
{
	if (o->gpu_rom && !o->gpu)
		return dk_fail("--gpu-rom needs --gpu");
	if (o->gpu_rom) {
		if (o->gpu_rom[0] != '/' || strlen(o->gpu_rom) >= sizeof p->hostdev[0].rom)
			return dk_fail("--gpu-rom %s: not an absolute path", o->gpu_rom);
		for (const char *c = o->gpu_rom; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return dk_fail("--gpu-rom: the path has control characters");
	}
	if (o->gpu && plan_card(f, o, "--gpu", "gpu", o->gpu, p) < 0)
		return -1;
	if (o->gpu) {
		struct dk_plan_hostdev *h = &p->hostdev[0];
		for (int i = 0; i < p->n_hostdev; i++)
			if (!strcmp(p->hostdev[i].role, "gpu") && p->hostdev[i].func == 0) {
				h = &p->hostdev[i];
				break;
			}
		if (o->gpu_rom)
			snprintf(h->rom, sizeof h->rom, "%s", o->gpu_rom);
		why(p, "gpu.rom", o->gpu_rom ? "the ROM file given (--gpu-rom) replaces the card's own (guest firmware sees it)"
					     : "the card's own ROM, visible to the guest (ROM BAR on)",
		    "%s", o->gpu_rom ? o->gpu_rom : "rom bar on");
		if (plan_gpu_chart(f, o, os, p) < 0)
			return -1;
	}
	for (int i = 0; i < o->n_usb && i < DK_PLAN_MAX_USB; i++)
		if (plan_card(f, o, "--usb-controller", "usb", o->usb[i], p) < 0)
			return -1;
	if (o->audio && plan_card(f, o, "--audio", "audio", o->audio, p) < 0)
		return -1;
	/* a group goes to the guest whole: nothing the host keeps may share one */
	for (int i = 0; i < p->n_hostdev; i++) {
		int k = dk_pci_find(&f->pci, p->hostdev[i].host);
		if (k < 0 || f->pci.devs[k].group < 0)
			continue;
		for (int j = 0; j < f->pci.ndev; j++) {
			const struct dk_pci_dev *x = &f->pci.devs[j];
			if (x->group != f->pci.devs[k].group || x->ignored || passed(p, x->bdf))
				continue;
			if (refuse(p, o->force_devices,
				   "%s: IOMMU group %d is not viable: it also holds %s (%s [%04x]), which the host keeps; "
				   "a group goes to the guest whole", p->hostdev[i].host, x->group, x->bdf,
				   class_word(x->class_code), x->class_code >> 8) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

int dk_plan_add_passthrough(const struct dk_facts *f, const struct dk_plan_opts *o, struct dk_plan *p)
{
	const struct dk_macos *os = dk_macos_find(p->macos);
	if (!os)
		return dk_fail("%s: plan names an unknown macOS release '%s'", p->name, p->macos);
	if (o->gpu && p->gpu.host[0])
		return dk_fail("%s: the GPU %s is passed through already", p->name, p->gpu.host);
	if (plan_passthrough(f, o, os, p) < 0)
		return -1;
	plan_devprops(p, "dkvm tune rebuilds the OpenCore image with them in config.plist's DeviceProperties/Add "
			 "(not an image given with --opencore-image)");
	if (o->gpu) {
		snprintf(p->video, sizeof p->video, "none");
		why(p, "display", "a passed-through GPU drives the display: the guide removes the emulated Display and Video devices (§7)",
		    "none");
	}
	return 0;
}

/* Disk, NIC, display, watchdog, machine, clock. */
static int plan_devices(const struct dk_facts *f, const struct dk_plan_opts *o, const struct dk_vm_profile *prof,
			const struct dk_macos *os, struct dk_plan *p)
{
	const struct dk_host *h = &f->host;
	const struct dk_macos *catalina = dk_macos_find("catalina"), *bigsur = dk_macos_find("bigsur");
	p->disk_bytes = o->disk_bytes ? o->disk_bytes : (uint64_t)128 << 30;
	if (p->disk_bytes < ((uint64_t)16 << 30))
		return dk_fail("--disk %llu MiB: macOS needs at least 16 GiB", (unsigned long long)(p->disk_bytes >> 20));
	p->disk_bus = dk_macos_cmp(os, catalina) >= 0 ? DK_BUS_VIRTIO : DK_BUS_SATA;
	why(p, "disk", p->disk_bus == DK_BUS_VIRTIO ? "qcow2 on virtio-blk: macOS has a VirtIO block driver from Catalina on"
						   : "qcow2 on SATA (AHCI): releases before Catalina have no VirtIO block driver",
	    "%llu GiB qcow2, %s", (unsigned long long)(p->disk_bytes >> 30), dk_disk_bus_name(p->disk_bus));
	if (p->disk_bus == DK_BUS_VIRTIO)
		why(p, "opencore", "the OpenCore image is the first boot device: virtio-blk read by OVMF, cache=none, discard=unmap (guide)",
		    "OpenCore.img, virtio, bootindex 1");
	else
		why(p, "opencore", "the OpenCore image is the first boot device, on SATA like the guide's MacPro5,1 setup (the release sees its EFI partition), cache=none, discard=unmap",
		    "OpenCore.img, sata, bootindex 1");

	if (dk_macos_cmp(os, bigsur) >= 0) {
		snprintf(p->nic_model, sizeof p->nic_model, "virtio-net-pci");
		why(p, "nic", "Big Sur and later drive VirtIO network natively (guide)", "virtio-net-pci");
	} else if (dk_macos_cmp(os, catalina) == 0) {
		snprintf(p->nic_model, sizeof p->nic_model, "vmxnet3");
		why(p, "nic", "Catalina: vmxnet3 (guide)", "vmxnet3");
	} else if (dk_macos_cmp(os, dk_macos_find("elcapitan")) >= 0) {
		snprintf(p->nic_model, sizeof p->nic_model, "vmxnet3");
		why(p, "nic", "El Capitan to Mojave: vmxnet3 (guide, MacPro5,1 network table: 10.11+)", "vmxnet3");
	} else if (dk_macos_cmp(os, dk_macos_find("yosemite")) == 0) {
		snprintf(p->nic_model, sizeof p->nic_model, "e1000e");
		why(p, "nic", "Yosemite: e1000e (guide)", "e1000e");
	} else if (dk_macos_cmp(os, dk_macos_find("mountainlion")) <= 0) {
		snprintf(p->nic_model, sizeof p->nic_model, "e1000");
		why(p, "nic", "Snow Leopard to Mountain Lion: e1000 (guide)", "e1000");
	} else {
		snprintf(p->nic_model, sizeof p->nic_model, "e1000-82545em");
		why(p, "nic", "older releases: the Intel 82545EM that Apple's driver knows (guide)", "e1000-82545em");
	}
	if (o->mac) {
		snprintf(p->mac, sizeof p->mac, "%s", o->mac);
	} else {
		const uint8_t *r = f->random;
		snprintf(p->mac, sizeof p->mac, "52:54:00:%02x:%02x:%02x", r[0], r[1], r[2]);
	}
	why(p, "nic.mac", "locally administered QEMU prefix, fixed at creation so the guest keeps its identity", "%s", p->mac);

	if (o->passthrough_gpu || o->gpu) {
		snprintf(p->video, sizeof p->video, "none");
		why(p, "display", "a passed-through GPU drives the display: the guide removes the emulated Display and Video devices (§7)",
		    "none");
	} else {
		snprintf(p->video, sizeof p->video, "%s", prof->video);
		why(p, "display", !strcmp(prof->video, "VGA") ? "plain VGA for older releases (guide)"
							      : "VMware SVGA: a framebuffer macOS drives without acceleration, as peers use",
		    "%s", prof->video);
	}
	/* -action watchdog=none needs QEMU 6.0 (unknown version: assume current). */
	p->watchdog = h->qemu.major == 0 || h->qemu.major >= 6;
	if (p->watchdog)
		why(p, "watchdog", "q35's iTCO watchdog with action none, so a macOS that never feeds it is not reset (guide)",
		    "itco, action none");
	else
		why(p, "watchdog", "this QEMU predates -action (6.0): the watchdog is left at its default", "default");
	why(p, "machine", "q35 with isa-applesmc (the OSK), ICH9-LPC acpi-pci-hotplug-with-bridge-support=off (needed on QEMU >= 6.1), xHCI with USB keyboard and tablet",
	    "q35");
	why(p, "clock", "the guide's timers: utc, rtc catchup, pit delay, hpet, tsc native", "utc");
	return 0;
}

/* QEMU, OVMF, and the accelerator's reason. */
static int plan_firmware(const struct dk_host *h, const struct dk_plan_opts *o, const char *accel_reason,
			 struct dk_plan *p)
{
	snprintf(p->qemu_path, sizeof p->qemu_path, "%s",
		 h->qemu.path[0] ? h->qemu.path : "/usr/bin/qemu-system-x86_64");
	if (!h->qemu.ovmf_code[0] || !h->qemu.ovmf_vars[0])
		return dk_fail("OVMF: no firmware found (looked in /usr/share/OVMF, /usr/share/ovmf, /usr/share/edk2/...): install the ovmf package");
	snprintf(p->ovmf_code, sizeof p->ovmf_code, "%s", h->qemu.ovmf_code);
	snprintf(p->ovmf_vars, sizeof p->ovmf_vars, "%s", h->qemu.ovmf_vars);
	if (o->pool) {
		why(p, "firmware",
		    "OVMF code read-only, a per-VM copy of the variable store (a pool volume); the code (OVMF_CODE) and the "
		    "variable store's template are not uploaded: they stay paths on the libvirt host (/usr/share/OVMF on "
		    "Debian: the ovmf package must be installed there)",
		    "%s", p->ovmf_code);
		why(p, "storage",
		    "--pool: the disk, the OpenCore image and the NVRAM are volumes of the pool, uploaded through libvirt's "
		    "storage API (works over qemu+ssh://); the domain names only their paths, not the bundle's files",
		    "pool %s: %s.qcow2, %s-OpenCore.img, %s-VARS.fd", o->pool, p->name, p->name, p->name);
	} else {
		why(p, "firmware", "OVMF code read-only, a per-VM copy of the variable store", "%s", p->ovmf_code);
	}
	why(p, "accel",
	    accel_reason[0] ? accel_reason
			    : p->accel == DK_ACCEL_KVM ? "KVM is usable" : "KVM is not usable here: TCG emulation (slow)",
	    "%s", dk_accel_name(p->accel));
	return 0;
}

void dk_plan_uuid(const char *keep, const char *given, const uint8_t *random, char out[40])
{
	if (keep && keep[0]) {
		/* --force over a defined domain: keep its UUID, so the define replaces it */
		snprintf(out, 40, "%s", keep);
	} else if (given) {
		snprintf(out, 40, "%s", given);
	} else {
		uint8_t u[16];
		dk_uuid_v4(random, u);
		dk_uuid_format(u, out, 0);
	}
}

int dk_plan_build(const struct dk_facts *f, const struct dk_plan_opts *o, struct dk_plan *p)
{
	memset(p, 0, sizeof *p);
	const struct dk_host *h = &f->host;
	char accel_reason[384];
	if (!o->name || !dk_name_is_safe(o->name))
		return dk_fail("VM name '%s': not a safe name (no '/', quotes, backslashes, '$' or control characters)",
			       o->name ? o->name : "");
	snprintf(p->name, sizeof p->name, "%s", o->name);
	if (plan_accel(f, o, p, accel_reason, sizeof accel_reason) < 0)
		return -1;
	const struct dk_vm_profile *prof = NULL;
	const struct dk_macos *os = NULL;
	if (plan_release(o, p, &prof, &os) < 0)
		return -1;
	plan_kvm_isa(f, o, prof, os, p, accel_reason, sizeof accel_reason);
	if (plan_isa(h, o, prof, os, p) < 0)
		return -1;
	if (o->cpu_host) {
		if (p->accel != DK_ACCEL_KVM)
			return dk_fail("--cpu host: host-passthrough needs KVM, which is not usable here");
		if (h->cpu.vendor != DK_VENDOR_INTEL)
			return dk_fail("--cpu host: macOS needs an Intel CPU identity and this host is %s; use the model's CPU",
				       h->cpu.vendor_id[0] ? h->cpu.vendor_id : "not Intel");
	}
	plan_cpu(h, unavailable_for(f, prof, p->accel), o->cpu_host, prof, p);
	if (plan_topology(h, o, p) < 0 || plan_memory(h, o, p) < 0)
		return -1;
	plan_pin(h, o, p);
	if (plan_passthrough(f, o, os, p) < 0)
		return -1;
	plan_devprops(p, "written to config.plist's DeviceProperties/Add");
	if (plan_devices(f, o, prof, os, p) < 0 ||
	    plan_firmware(h, o, accel_reason, p) < 0)
		return -1;
	dk_plan_uuid(f->domain_uuid, o->uuid, f->random + 3, p->uuid);
	return 0;
}

/* One candidate: does the planner accept it? */
static bool plans(const struct dk_facts *f, struct dk_plan_opts o, struct dk_plan *scratch)
{
	if (!o.name)
		o.name = "vm";
	return dk_plan_build(f, &o, scratch) == 0;
}

int dk_plan_releases(const struct dk_facts *f, const struct dk_plan_opts *o, bool *ok)
{
	struct dk_plan *p = dk_calloc(1, sizeof *p);
	int n = 0;
	for (int i = 0; i < dk_macos_count; i++) {
		struct dk_plan_opts c = *o;
		c.macos = dk_macos_table[i].name;
		if (!c.model) {
			const struct dk_vm_profile *prof = dk_vm_profile_for_macos(&dk_macos_table[i]);
			c.model = prof ? prof->model : NULL;
		}
		ok[i] = plans(f, c, p);
		n += ok[i];
	}
	if (!n) /* the reason of the default choice: the model's default release */
		plans(f, *o, p);
	free(p);
	return n;
}

int dk_plan_models(const struct dk_facts *f, const struct dk_plan_opts *o, bool *ok)
{
	struct dk_plan *p = dk_calloc(1, sizeof *p);
	int n = 0;
	for (int i = 0; i < dk_vm_profile_count; i++) {
		struct dk_plan_opts c = *o;
		c.model = dk_vm_profiles[i].model;
		ok[i] = plans(f, c, p);
		n += ok[i];
	}
	if (!n) { /* the reason of the default choice: the guide's model for the release */
		struct dk_plan_opts c = *o;
		c.model = NULL;
		plans(f, c, p);
	}
	free(p);
	return n;
}

int dk_plan_set_accel(struct dk_plan *p, enum dk_accel a, const char *const *unavailable, const char *reason)
{
	const struct dk_vm_profile *prof = dk_vm_profile_find(p->model);
	if (!prof)
		return dk_fail("plan: unknown model %s", p->model);
	if (a == DK_ACCEL_TCG && p->cpu_mode == DK_CPU_HOST)
		return dk_fail("%s: --cpu host needs KVM; TCG cannot pass the host CPU through", p->name);
	/* The host as far as the plan remembers it: vendor, invariant TSC, SMT. */
	struct dk_host h;
	memset(&h, 0, sizeof h);
	h.cpu.vendor = p->amd_host ? DK_VENDOR_AMD : DK_VENDOR_INTEL;
	char flags[64] = "";
	if (p->invtsc || a == DK_ACCEL_TCG)
		snprintf(flags, sizeof flags, "constant_tsc nonstop_tsc");
	h.cpu.flags = flags;
	h.cpu.smt = p->topoext || !p->amd_host;
	static const char *const none[] = {NULL};
	p->accel = a;
	p->n_masked = 0;
	bool amd = p->amd_host;
	plan_cpu(&h, unavailable ? unavailable : none, p->cpu_mode == DK_CPU_HOST, prof, p);
	p->amd_host = amd;
	why(p, "accel", reason ? reason : a == DK_ACCEL_KVM ? "KVM is usable" : "TCG emulation (slow)", "%s",
	    dk_accel_name(a));
	return 0;
}

void dk_plan_note(struct dk_plan *p, const char *key, const char *value, const char *reason)
{
	why(p, key, reason, "%s", value);
}

char *dk_plan_explain(const struct dk_plan *p)
{
	struct dk_buf b = {0};
	dk_buf_puts(&b, "");
	for (int i = 0; i < p->n_why; i++)
		dk_buf_printf(&b, "%-14s %s\n%15s%s\n", p->why[i].key, p->why[i].value, "", p->why[i].reason);
	return b.data;
}

/* ---- JSON ---- */

/* ---- the host-side write-ups (dkvm tune evdev/bridge/cpu-governor, 1 GiB hugepages) ---- */

bool dk_evdev_path_ok(const char *path)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+/-";
	size_t n = strlen(path);
	return n > 11 && n < 160 && !strncmp(path, "/dev/input/", 11) && strspn(path, ok) == n && !strstr(path, "..") &&
	       path[n - 1] != '/';
}

bool dk_grab_toggle_ok(const char *t)
{
	static const char *const known[] = {"ctrl-ctrl", "alt-alt", "shift-shift", "meta-meta", "scrolllock", "ctrl-scrolllock"};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!strcmp(t, known[i]))
			return true;
	return false;
}

bool dk_ifname_ok(const char *name)
{
	size_t n = strlen(name);
	return n >= 1 && n <= 15 && strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n &&
	       name[0] != '.' && name[0] != '-';
}

static bool jbool(json_object *o, const char *k);
static json_object *jobj(json_object *o, const char *k);

/* Present only when on: a plan without them is the JSON it always was. */
static void plan_host_writeups_to_json(const struct dk_plan *p, json_object *o)
{
	if (p->hugepages && p->hugepage_mib)
		json_object_object_add(o, "hugepage_mib", json_object_new_int(p->hugepage_mib));
	if (p->n_evdev) {
		json_object *e = json_object_new_object(), *a = json_object_new_array();
		for (int i = 0; i < p->n_evdev; i++)
			json_object_array_add(a, json_object_new_string(p->evdev[i]));
		json_object_object_add(e, "devices", a);
		json_object_object_add(e, "grab_toggle", json_object_new_string(p->grab_toggle));
		json_object_object_add(o, "evdev", e);
	}
	if (p->bridge[0])
		json_object_object_add(o, "bridge", json_object_new_string(p->bridge));
	if (p->cpu_governor)
		json_object_object_add(o, "cpu_governor", json_object_new_boolean(true));
	if (p->numa_bind)
		json_object_object_add(o, "numa_node", json_object_new_int(p->numa_node));
	if (p->restrict_events)
		json_object_object_add(o, "restrict_events", json_object_new_boolean(true));
}

static int plan_host_writeups_from_json(json_object *o, struct dk_plan *p)
{
	json_object *v;
	if (json_object_object_get_ex(o, "numa_node", &v)) {
		int64_t nd = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || nd < 0 || nd >= DK_MAX_NUMA_NODE || !p->n_pin)
			return dk_fail("plan: numa_node must be a node number below %d, with pinning", DK_MAX_NUMA_NODE);
		p->numa_bind = true;
		p->numa_node = (int)nd;
	}
	if (json_object_object_get_ex(o, "hugepage_mib", &v)) {
		int64_t m = json_object_get_int64(v);
		if (m != 2 && m != 1024)
			return dk_fail("plan: hugepage_mib must be 2 or 1024");
		p->hugepage_mib = m == 1024 ? 1024 : 0;
	}
	json_object *e = jobj(o, "evdev"), *a;
	if (e && json_object_object_get_ex(e, "devices", &a) && json_object_is_type(a, json_type_array)) {
		size_t n = json_object_array_length(a);
		if (n < 1 || n > DK_PLAN_MAX_EVDEV)
			return dk_fail("plan: evdev: 1 to %d devices", DK_PLAN_MAX_EVDEV);
		for (size_t i = 0; i < n; i++) {
			const char *d = json_object_get_string(json_object_array_get_idx(a, i));
			if (!d || !dk_evdev_path_ok(d))
				return dk_fail("plan: evdev: bad device path");
			snprintf(p->evdev[p->n_evdev++], sizeof p->evdev[0], "%s", d);
		}
		const char *t = dk_json_get_str(e, "grab_toggle");
		if (!t || !dk_grab_toggle_ok(t))
			return dk_fail("plan: evdev: bad grab_toggle");
		snprintf(p->grab_toggle, sizeof p->grab_toggle, "%s", t);
	}
	const char *br = dk_json_get_str(o, "bridge");
	if (br) {
		if (!dk_ifname_ok(br))
			return dk_fail("plan: bridge: bad interface name");
		snprintf(p->bridge, sizeof p->bridge, "%s", br);
	}
	p->cpu_governor = jbool(o, "cpu_governor");
	p->restrict_events = jbool(o, "restrict_events");
	return 0;
}

json_object *dk_plan_to_json(const struct dk_plan *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "model", json_object_new_string(p->model));
	json_object_object_add(o, "macos", json_object_new_string(p->macos));
	json_object_object_add(o, "macos_version", json_object_new_string(p->macos_version));
	json_object_object_add(o, "uuid", json_object_new_string(p->uuid));
	json_object_object_add(o, "accel", json_object_new_string(dk_accel_name(p->accel)));
	json_object *c = json_object_new_object();
	json_object_object_add(c, "mode", json_object_new_string(p->cpu_mode == DK_CPU_HOST ? "host" : "model"));
	json_object_object_add(c, "model", json_object_new_string(p->cpu_model));
	json_object_object_add(c, "arg", json_object_new_string(p->cpu_arg));
	json_object *m = json_object_new_array();
	for (int i = 0; i < p->n_masked; i++)
		json_object_array_add(m, json_object_new_string(p->masked[i]));
	json_object_object_add(c, "masked", m);
	json_object_object_add(c, "amd_host", json_object_new_boolean(p->amd_host));
	json_object_object_add(c, "topoext", json_object_new_boolean(p->topoext));
	json_object_object_add(c, "invtsc", json_object_new_boolean(p->invtsc));
	json_object_object_add(o, "cpu", c);
	json_object *t = json_object_new_object();
	json_object_object_add(t, "sockets", json_object_new_int(p->sockets));
	json_object_object_add(t, "dies", json_object_new_int(p->dies));
	json_object_object_add(t, "cores", json_object_new_int(p->cores));
	json_object_object_add(t, "threads", json_object_new_int(p->threads));
	json_object_object_add(t, "vcpus", json_object_new_int(p->vcpus));
	if (p->vcpus_current)
		json_object_object_add(t, "current", json_object_new_int(p->vcpus_current));
	json_object_object_add(o, "topology", t);
	json_object_object_add(o, "memory_mib", json_object_new_int64((int64_t)p->memory_mib));
	json_object_object_add(o, "nosharepages", json_object_new_boolean(p->nosharepages));
	json_object *d = json_object_new_object();
	json_object_object_add(d, "disk_bytes", json_object_new_int64((int64_t)p->disk_bytes));
	json_object_object_add(d, "disk_bus", json_object_new_string(dk_disk_bus_name(p->disk_bus)));
	json_object_object_add(d, "nic", json_object_new_string(p->nic_model));
	json_object_object_add(d, "mac", json_object_new_string(p->mac));
	json_object_object_add(d, "video", json_object_new_string(p->video));
	json_object_object_add(d, "watchdog", json_object_new_boolean(p->watchdog));
	json_object_object_add(o, "devices", d);
	json_object *pt = json_object_new_array();
	for (int i = 0; i < p->n_hostdev; i++) {
		const struct dk_plan_hostdev *h = &p->hostdev[i];
		json_object *e = json_object_new_object();
		json_object_object_add(e, "role", json_object_new_string(h->role));
		json_object_object_add(e, "host", json_object_new_string(h->host));
		json_object_object_add(e, "port", json_object_new_int(h->port));
		json_object_object_add(e, "function", json_object_new_int(h->func));
		json_object_object_add(e, "multifunction", json_object_new_boolean(h->multifunction));
		json_object_object_add(e, "rom", h->rom[0] ? json_object_new_string(h->rom) : NULL);
		int slot, fn;
		char path[64];
		dk_plan_port_addr(h->port, &slot, &fn);
		char addr[16];
		snprintf(addr, sizeof addr, "0000:00:%02x.%x", (unsigned)slot & 0xff, (unsigned)fn & 7);
		json_object_object_add(e, "port_address", json_object_new_string(addr));
		dk_plan_hostdev_devpath(h, path, sizeof path);
		json_object_object_add(e, "devpath", json_object_new_string(path));
		json_object_array_add(pt, e);
	}
	json_object_object_add(o, "passthrough", pt);
	if (p->gpu.host[0]) {
		/* what the guest's OpenCore needs for the card (the EFI builder reads it) */
		json_object *g = json_object_new_object();
		json_object_object_add(g, "host", json_object_new_string(p->gpu.host));
		json_object_object_add(g, "id", json_object_new_string(p->gpu.vendor_device));
		json_object_object_add(g, "family", json_object_new_string(p->gpu.family));
		json_object_object_add(g, "macos_range", json_object_new_string(p->gpu.macos_range));
		json_object_object_add(g, "kext", json_object_new_string(p->gpu.kext));
		json_object_object_add(g, "boot_args", json_object_new_string(p->gpu.boot_args));
		json_object_object_add(g, "device_id_spoof", json_object_new_string(p->gpu.device_id));
		json_object_object_add(g, "notes", json_object_new_string(p->gpu.notes));
		json_object_object_add(o, "gpu", g);
	} else {
		json_object_object_add(o, "gpu", NULL);
	}
	json_object_object_add(o, "gpu_kext", json_object_new_string(p->gpu.host[0] ? p->gpu.kext : "none"));
	json_object *f = json_object_new_object();
	json_object_object_add(f, "qemu", json_object_new_string(p->qemu_path));
	json_object_object_add(f, "ovmf_code", json_object_new_string(p->ovmf_code));
	json_object_object_add(f, "ovmf_vars", json_object_new_string(p->ovmf_vars));
	json_object_object_add(o, "firmware", f);
	if (p->n_pin) {
		json_object *pj = json_object_new_object(), *pv = json_object_new_array();
		for (int i = 0; i < p->n_pin; i++)
			json_object_array_add(pv, json_object_new_int(p->pin[i]));
		json_object_object_add(pj, "vcpus", pv);
		json_object_object_add(pj, "emulator", json_object_new_string(p->emulator_pin));
		if (p->iothread_pin[0])
			json_object_object_add(pj, "iothread", json_object_new_string(p->iothread_pin));
		json_object_object_add(o, "pinning", pj);
	}
	if (p->iothreads)
		json_object_object_add(o, "iothreads", json_object_new_int(p->iothreads));
	if (p->hugepages)
		json_object_object_add(o, "hugepages", json_object_new_boolean(true));
	plan_host_writeups_to_json(p, o);
	json_object *w = json_object_new_array();
	for (int i = 0; i < p->n_why; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "key", json_object_new_string(p->why[i].key));
		json_object_object_add(e, "value", json_object_new_string(p->why[i].value));
		json_object_object_add(e, "reason", json_object_new_string(p->why[i].reason));
		json_object_array_add(w, e);
	}
	json_object_object_add(o, "decisions", w);
	return o;
}

static bool jint(json_object *o, const char *k, int64_t *out)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}
static bool jbool(json_object *o, const char *k)
{
	json_object *v;
	return o && json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}
static json_object *jobj(json_object *o, const char *k)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

#define COPY(dst, src)                                                                   \
	do {                                                                              \
		const char *_s = (src);                                                   \
		if (!_s)                                                                  \
			return dk_fail("plan: missing or malformed field '%s'", #dst);    \
		if (strlen(_s) >= sizeof(dst))                                            \
			return dk_fail("plan: field '%s' too long", #dst);                \
		memcpy(dst, _s, strlen(_s) + 1);                                          \
	} while (0)

static bool canonical_bdf(const char *s)
{
	unsigned a, b, c, d;
	int n = 0;
	char again[16];
	if (!s || sscanf(s, "%4x:%2x:%2x.%1x%n", &a, &b, &c, &d, &n) != 4 || s[n] || c > 0x1f || d > 7)
		return false;
	snprintf(again, sizeof again, "%04x:%02x:%02x.%x", a, b, c, d);
	return !strcmp(again, s);
}

/* passthrough[] and gpu{} of a manifest's plan (hostile: every field checked) */
static int plan_hostdevs_from_json(json_object *o, struct dk_plan *p)
{
	json_object *pt;
	if (json_object_object_get_ex(o, "passthrough", &pt) && pt) {
		if (!json_object_is_type(pt, json_type_array) || json_object_array_length(pt) > DK_PLAN_MAX_HOSTDEV)
			return dk_fail("plan: passthrough is not a list of at most %d devices", DK_PLAN_MAX_HOSTDEV);
		for (size_t i = 0; i < json_object_array_length(pt); i++) {
			json_object *e = json_object_array_get_idx(pt, i);
			struct dk_plan_hostdev *h = &p->hostdev[p->n_hostdev];
			const char *role = dk_json_get_str(e, "role"), *host = dk_json_get_str(e, "host");
			const char *rom = dk_json_get_str(e, "rom");
			int64_t port, fn;
			if (!role || (strcmp(role, "gpu") && strcmp(role, "usb") && strcmp(role, "audio")))
				return dk_fail("plan: passthrough[%zu]: role must be gpu, usb or audio", i);
			if (!canonical_bdf(host))
				return dk_fail("plan: passthrough[%zu]: host is not a PCI address (0000:0b:00.0)", i);
			if (!jint(e, "port", &port) || port < 1 || port > DK_PLAN_MAX_HOSTDEV || !jint(e, "function", &fn) ||
			    fn < 0 || fn > 7)
				return dk_fail("plan: passthrough[%zu]: port (1..%d) or function (0..7) missing or out of range", i,
					       DK_PLAN_MAX_HOSTDEV);
			if (rom && (rom[0] != '/' || strlen(rom) >= sizeof h->rom))
				return dk_fail("plan: passthrough[%zu]: rom is not an absolute path", i);
			for (const char *c = rom; c && *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					return dk_fail("plan: passthrough[%zu]: rom has control characters", i);
			for (int k = 0; k < p->n_hostdev; k++)
				if (!strcmp(p->hostdev[k].host, host) ||
				    (p->hostdev[k].port == port && p->hostdev[k].func == fn))
					return dk_fail("plan: passthrough[%zu]: %s or its guest slot given twice", i, host);
			snprintf(h->role, sizeof h->role, "%s", role);
			snprintf(h->host, sizeof h->host, "%s", host);
			h->port = (int)port;
			h->func = (int)fn;
			h->multifunction = jbool(e, "multifunction");
			snprintf(h->rom, sizeof h->rom, "%s", rom ? rom : "");
			if (h->port > p->n_ports)
				p->n_ports = h->port;
			p->n_hostdev++;
		}
	}
	json_object *g = jobj(o, "gpu");
	if (g) {
		COPY(p->gpu.host, dk_json_get_str(g, "host"));
		COPY(p->gpu.vendor_device, dk_json_get_str(g, "id"));
		COPY(p->gpu.family, dk_json_get_str(g, "family"));
		COPY(p->gpu.macos_range, dk_json_get_str(g, "macos_range"));
		COPY(p->gpu.kext, dk_json_get_str(g, "kext"));
		COPY(p->gpu.boot_args, dk_json_get_str(g, "boot_args"));
		COPY(p->gpu.device_id, dk_json_get_str(g, "device_id_spoof"));
		COPY(p->gpu.notes, dk_json_get_str(g, "notes"));
	}
	return 0;
}

int dk_plan_from_json(json_object *o, struct dk_plan *p)
{
	memset(p, 0, sizeof *p);
	if (!o || !json_object_is_type(o, json_type_object))
		return dk_fail("plan: not a JSON object");
	COPY(p->name, dk_json_get_str(o, "name"));
	if (!dk_name_is_safe(p->name))
		return dk_fail("plan: unsafe VM name");
	COPY(p->model, dk_json_get_str(o, "model"));
	COPY(p->macos, dk_json_get_str(o, "macos"));
	COPY(p->macos_version, dk_json_get_str(o, "macos_version"));
	COPY(p->uuid, dk_json_get_str(o, "uuid"));
	const char *a = dk_json_get_str(o, "accel");
	p->accel = a && !strcmp(a, "tcg") ? DK_ACCEL_TCG : DK_ACCEL_KVM;
	json_object *c = jobj(o, "cpu"), *t = jobj(o, "topology"), *d = jobj(o, "devices"), *f = jobj(o, "firmware");
	if (!c || !t || !d || !f)
		return dk_fail("plan: missing cpu, topology, devices or firmware");
	const char *mode = dk_json_get_str(c, "mode");
	p->cpu_mode = mode && !strcmp(mode, "host") ? DK_CPU_HOST : DK_CPU_MODEL;
	COPY(p->cpu_model, dk_json_get_str(c, "model"));
	COPY(p->cpu_arg, dk_json_get_str(c, "arg"));
	json_object *m;
	if (json_object_object_get_ex(c, "masked", &m) && json_object_is_type(m, json_type_array)) {
		size_t n = json_object_array_length(m);
		for (size_t i = 0; i < n && p->n_masked < DK_PLAN_MAX_MASK; i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(m, i));
			if (s)
				snprintf(p->masked[p->n_masked++], sizeof p->masked[0], "%s", s);
		}
	}
	p->amd_host = jbool(c, "amd_host");
	p->topoext = jbool(c, "topoext");
	p->invtsc = jbool(c, "invtsc");
	int64_t v;
	if (!jint(t, "sockets", &v)) return dk_fail("plan: topology.sockets missing");
	p->sockets = (int)v;
	if (!jint(t, "dies", &v)) return dk_fail("plan: topology.dies missing");
	p->dies = (int)v;
	if (!jint(t, "cores", &v)) return dk_fail("plan: topology.cores missing");
	p->cores = (int)v;
	if (!jint(t, "threads", &v)) return dk_fail("plan: topology.threads missing");
	p->threads = (int)v;
	if (!jint(t, "vcpus", &v)) return dk_fail("plan: topology.vcpus missing");
	p->vcpus = (int)v;
	if (p->sockets < 1 || p->dies < 1 || p->cores < 1 || p->threads < 1 || p->threads > 2 || p->cores > 512 ||
	    p->vcpus != p->sockets * p->dies * p->cores * p->threads)
		return dk_fail("plan: inconsistent topology");
	if (jint(t, "current", &v)) {
		if (v < 1 || v >= p->vcpus)
			return dk_fail("plan: topology.current out of range");
		p->vcpus_current = (int)v;
	}
	if (!jint(o, "memory_mib", &v) || v < 256 || v > (int64_t)1 << 32)
		return dk_fail("plan: memory_mib missing or out of range");
	p->memory_mib = (uint64_t)v;
	p->nosharepages = jbool(o, "nosharepages");
	if (!jint(d, "disk_bytes", &v) || v <= 0)
		return dk_fail("plan: devices.disk_bytes missing");
	p->disk_bytes = (uint64_t)v;
	const char *bus = dk_json_get_str(d, "disk_bus");
	p->disk_bus = bus && !strcmp(bus, "sata") ? DK_BUS_SATA : DK_BUS_VIRTIO;
	COPY(p->nic_model, dk_json_get_str(d, "nic"));
	COPY(p->mac, dk_json_get_str(d, "mac"));
	COPY(p->video, dk_json_get_str(d, "video"));
	p->watchdog = jbool(d, "watchdog");
	COPY(p->qemu_path, dk_json_get_str(f, "qemu"));
	COPY(p->ovmf_code, dk_json_get_str(f, "ovmf_code"));
	COPY(p->ovmf_vars, dk_json_get_str(f, "ovmf_vars"));
	if (plan_hostdevs_from_json(o, p) < 0)
		return -1;
	json_object *pj = jobj(o, "pinning"), *pv;
	if (pj && json_object_object_get_ex(pj, "vcpus", &pv) && json_object_is_type(pv, json_type_array)) {
		size_t n = json_object_array_length(pv);
		if (n != (size_t)dk_plan_vcpus_online(p))
			return dk_fail("plan: pinning has %zu entries for %d vCPUs", n, dk_plan_vcpus_online(p));
		for (size_t i = 0; i < n && i < 256; i++) {
			int64_t cpu = json_object_get_int64(json_object_array_get_idx(pv, i));
			if (cpu < 0 || cpu >= DK_MAX_CPUS)
				return dk_fail("plan: pinning: bad CPU %lld", (long long)cpu);
			p->pin[p->n_pin++] = (int)cpu;
		}
		const char *em = dk_json_get_str(pj, "emulator");
		if (em && strspn(em, "0123456789,-") == strlen(em))
			snprintf(p->emulator_pin, sizeof p->emulator_pin, "%s", em);
		const char *io = dk_json_get_str(pj, "iothread");
		if (io && strspn(io, "0123456789,-") == strlen(io))
			snprintf(p->iothread_pin, sizeof p->iothread_pin, "%s", io);
	}
	if (jint(o, "iothreads", &v)) {
		if (v < 0 || v > 1)
			return dk_fail("plan: iothreads out of range");
		p->iothreads = (int)v;
	}
	p->hugepages = jbool(o, "hugepages");
	if (plan_host_writeups_from_json(o, p) < 0)
		return -1;
	json_object *w;
	if (json_object_object_get_ex(o, "decisions", &w) && json_object_is_type(w, json_type_array)) {
		size_t n = json_object_array_length(w);
		for (size_t i = 0; i < n && p->n_why < DK_PLAN_MAX_EXPLAIN; i++) {
			json_object *e = json_object_array_get_idx(w, i);
			const char *k = dk_json_get_str(e, "key"), *val = dk_json_get_str(e, "value"), *r = dk_json_get_str(e, "reason");
			if (!k || !val || !r)
				continue;
			struct dk_plan_decision *dd = &p->why[p->n_why++];
			snprintf(dd->key, sizeof dd->key, "%s", k);
			snprintf(dd->value, sizeof dd->value, "%s", val);
			snprintf(dd->reason, sizeof dd->reason, "%s", r);
		}
	}
	return 0;
}
