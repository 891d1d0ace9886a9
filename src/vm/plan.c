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

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *dk_disk_bus_name(enum dk_disk_bus b) { return b == DK_BUS_SATA ? "sata" : "virtio"; }
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
		if (cores & (cores - 1)) {
			int lo = largest_pow2_le(cores) * threads;
			return dk_fail("--cpus %d: macOS boots only with a power-of-two core count (1 socket, %d thread%s per core); try --cpus %d",
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

static void plan_pin(const struct dk_host *h, const struct dk_plan_opts *o, struct dk_plan *p)
{
	if (!o->pin)
		return;
	struct dk_pinning pn;
	dk_pin_plan(h, p->cores, p->threads, &pn);
	if (pn.n <= 0) {
		why(p, "pinning", pn.reason, "not pinned");
		return;
	}
	p->n_pin = pn.n;
	memcpy(p->pin, pn.cpu, sizeof p->pin[0] * (size_t)pn.n);
	snprintf(p->emulator_pin, sizeof p->emulator_pin, "%s", pn.emulator);
	char set[512];
	dk_cpuset_format(pn.cpu, pn.n, set, sizeof set);
	why(p, "pinning", pn.reason, "vCPUs on host CPUs %s, emulator on %s", set, pn.emulator);
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
	why(p, "opencore", "the OpenCore image is the first boot device: virtio-blk read by OVMF, cache=none, discard=unmap (guide)",
	    "OpenCore.img, virtio, bootindex 1");

	if (dk_macos_cmp(os, bigsur) >= 0) {
		snprintf(p->nic_model, sizeof p->nic_model, "virtio-net-pci");
		why(p, "nic", "Big Sur and later drive VirtIO network natively (guide)", "virtio-net-pci");
	} else if (dk_macos_cmp(os, catalina) == 0) {
		snprintf(p->nic_model, sizeof p->nic_model, "vmxnet3");
		why(p, "nic", "Catalina: vmxnet3 (guide)", "vmxnet3");
	} else {
		snprintf(p->nic_model, sizeof p->nic_model, "e1000-82545em");
		why(p, "nic", "older releases: the Intel 82545EM that Apple's driver knows", "e1000-82545em");
	}
	if (o->mac) {
		snprintf(p->mac, sizeof p->mac, "%s", o->mac);
	} else {
		const uint8_t *r = f->random;
		snprintf(p->mac, sizeof p->mac, "52:54:00:%02x:%02x:%02x", r[0], r[1], r[2]);
	}
	why(p, "nic.mac", "locally administered QEMU prefix, fixed at creation so the guest keeps its identity", "%s", p->mac);

	if (o->passthrough_gpu) {
		snprintf(p->video, sizeof p->video, "none");
		why(p, "display", "a passed-through GPU drives the display", "none");
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

static void plan_uuid(const struct dk_facts *f, const struct dk_plan_opts *o, struct dk_plan *p)
{
	if (f->domain_uuid[0]) {
		/* --force over a defined domain: keep its UUID, so the define replaces it */
		snprintf(p->uuid, sizeof p->uuid, "%s", f->domain_uuid);
	} else if (o->uuid) {
		snprintf(p->uuid, sizeof p->uuid, "%s", o->uuid);
	} else {
		uint8_t u[16];
		memcpy(u, f->random + 3, sizeof u);
		u[6] = (u[6] & 0x0f) | 0x40;
		u[8] = (u[8] & 0x3f) | 0x80;
		dk_uuid_format(u, p->uuid, 0);
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
	if (plan_devices(f, o, prof, os, p) < 0 || plan_firmware(h, o, accel_reason, p) < 0)
		return -1;
	plan_uuid(f, o, p);
	return 0;
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

void dk_plan_explain(const struct dk_plan *p, FILE *f)
{
	for (int i = 0; i < p->n_why; i++)
		fprintf(f, "%-14s %s\n%15s%s\n", p->why[i].key, p->why[i].value, "", p->why[i].reason);
}

/* ---- JSON ---- */

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
		json_object_object_add(o, "pinning", pj);
	}
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
	json_object *pj = jobj(o, "pinning"), *pv;
	if (pj && json_object_object_get_ex(pj, "vcpus", &pv) && json_object_is_type(pv, json_type_array)) {
		size_t n = json_object_array_length(pv);
		if (n != (size_t)p->vcpus)
			return dk_fail("plan: pinning has %zu entries for %d vCPUs", n, p->vcpus);
		for (size_t i = 0; i < n && i < 256; i++) {
			int64_t cpu = json_object_get_int64(json_object_array_get_idx(pv, i));
			if (cpu < 0 || cpu >= DK_MAX_CPUS)
				return dk_fail("plan: pinning: bad CPU %lld", (long long)cpu);
			p->pin[p->n_pin++] = (int)cpu;
		}
		const char *em = dk_json_get_str(pj, "emulator");
		if (em && strspn(em, "0123456789,-") == strlen(em))
			snprintf(p->emulator_pin, sizeof p->emulator_pin, "%s", em);
	}
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
