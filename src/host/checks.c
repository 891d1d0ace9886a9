/* Host checks: pure functions of struct dk_host. Each check gives a verdict
 * and, where something is to be done, the exact command or file edit for this
 * distro and bootloader. */
#include "host/host.h"
#include "smbios/macos.h"
#include "util/mem.h"
#include "util/output.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GIB_KIB (1024ULL * 1024ULL)

const char *dk_check_status_name(enum dk_check_status s)
{
	static const char *n[] = {"pass", "warn", "fail", "skip"};
	return (unsigned)s < 4 ? n[s] : "skip";
}

static const char *fam(const struct dk_host *h)
{
	return h->distro_family[0] ? h->distro_family : "";
}

char *dk_host_pkg_fix(const struct dk_host *h, const char *arch, const char *debian, const char *fedora)
{
	const char *f = fam(h);
	if (!strcmp(f, "arch"))
		return dk_asprintf("sudo pacman -S --needed %s", arch ? arch : debian);
	if (!strcmp(f, "fedora"))
		return dk_asprintf("sudo dnf install %s", fedora ? fedora : debian);
	if (!strcmp(f, "debian"))
		return dk_asprintf("sudo apt install %s", debian);
	return dk_asprintf("install with your package manager: %s (Debian name), %s (Arch), %s (Fedora)", debian,
			   arch ? arch : debian, fedora ? fedora : debian);
}

static bool has_param(const char *cmd, const char *tok)
{
	size_t l = strlen(tok);
	for (const char *p = cmd; p && (p = strstr(p, tok)); p += l)
		if ((p == cmd || p[-1] == ' ') && (p[l] == '\0' || p[l] == ' '))
			return true;
	return false;
}

static const char *grub_regen(const struct dk_host *h)
{
	const char *f = fam(h);
	if (!strcmp(f, "debian"))
		return "sudo update-grub";
	if (!strcmp(f, "fedora"))
		return "sudo grub2-mkconfig -o /boot/grub2/grub.cfg";
	return "sudo grub-mkconfig -o /boot/grub/grub.cfg";
}

char *dk_host_kernel_param_fix(const struct dk_host *h, const char *params)
{
	const char *bl = h->bootloader;
	if (!strcmp(bl, "grub")) {
		struct dk_buf b = {0};
		dk_buf_puts(&b, h->grub_cmdline);
		char *copy = dk_strdup(params), *save = NULL;
		int added = 0;
		for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
			if (!has_param(h->grub_cmdline, t) && !has_param(h->grub_cmdline_default, t)) {
				if (b.len)
					dk_buf_puts(&b, " ");
				dk_buf_puts(&b, t);
				added++;
			}
		free(copy);
		dk_buf_puts(&b, "");
		if (!added) {
			dk_buf_free(&b);
			return dk_asprintf("\"%s\" is already in /etc/default/grub but not in the running kernel's command line\n"
					   "run: %s\n"
					   "then reboot and check: cat /proc/cmdline",
					   params, grub_regen(h));
		}
		char *r = dk_asprintf("edit /etc/default/grub: GRUB_CMDLINE_LINUX=\"%s\"\n"
				      "then run: %s\n"
				      "then reboot and check: cat /proc/cmdline",
				      b.data, grub_regen(h));
		dk_buf_free(&b);
		return r;
	}
	if (!strcmp(bl, "systemd-boot"))
		return dk_asprintf("edit %s: append \"%s\" to the options line\n"
				   "then reboot and check: cat /proc/cmdline",
				   h->bootloader_file, params);
	if (!strcmp(bl, "kernelstub"))
		return dk_asprintf("run: sudo kernelstub -a \"%s\"\n"
				   "then reboot and check: cat /proc/cmdline",
				   params);
	return dk_asprintf("add \"%s\" to the kernel command line in your bootloader's configuration\n"
			   "then reboot and check: cat /proc/cmdline",
			   params);
}

/* ---- recommendation ---- */

static char *cpulist_str(const int *l);

static bool is_pow2(int n) { return n > 0 && (n & (n - 1)) == 0; }

void dk_host_recommend(const struct dk_host *h, struct dk_topology_rec *r)
{
	memset(r, 0, sizeof *r);
	const struct dk_host_cpu *c = &h->cpu;
	int host = c->hybrid && c->p_cores > 0 ? c->p_cores : c->cores;
	bool smt = c->hybrid ? c->p_smt : c->smt;
	if (host <= 0)
		host = c->logical > 0 ? c->logical : 1;
	int cores = host <= 7 ? 2 : host <= 15 ? 4 : 8;
	const char *band = host <= 4 ? "<=4" : host <= 7 ? "5-7" : host <= 15 ? "8-15" : ">=16";
	int sized = cores;
	while (cores > 1 && cores > host - 1)
		cores /= 2;
	r->sockets = 1;
	r->dies = 1;
	r->cores = cores;
	r->threads = smt ? 2 : 1;
	uint64_t mem = h->mem.total_kib / 4;
	bool floored = false;
	if (mem < 4 * GIB_KIB) {
		mem = 4 * GIB_KIB;
		floored = true;
	}
	r->memory_kib = mem;
	struct dk_buf b = {0};
	dk_buf_printf(&b, "host has %d physical %s%s%s; guide sizing %s host cores -> %d guest cores", host,
		      c->hybrid ? "P-core" : "core", host == 1 ? "" : "s", smt ? " with SMT" : "", band, sized);
	if (cores != sized)
		dk_buf_printf(&b, ", reduced to %d to leave a physical core to the host", cores);
	else if (host > cores)
		dk_buf_printf(&b, " (leaves %d to the host)", host - cores);
	else
		dk_buf_printf(&b, " (nothing is left to the host: expect stutter)");
	dk_buf_printf(&b, "; 1 socket, 1 die, %s; %d is %sa power of two",
		      smt ? "2 threads per core (SMT)" : "1 thread per core (no SMT on the host)", cores,
		      is_pow2(cores) ? "" : "not ");
	if (c->n_l3 > 1 && c->l3_cpus[0]) {
		int n = 0;
		for (const int *p = c->l3_cpus[0]; *p >= 0; p++)
			n++;
		int per = smt ? n / 2 : n;
		if (cores <= per) {
			char *l = cpulist_str(c->l3_cpus[c->n_l3 - 1]);
			dk_buf_printf(&b, "; fits in one of the %d L3 domains (%d cores each): pin it to one, e.g. CPUs %s",
				      c->n_l3, per, l);
			free(l);
		}
		else
			dk_buf_printf(&b, "; spans %d L3 domains", c->n_l3);
	}
	if (c->isolcpus[0])
		dk_buf_printf(&b, "; the kernel isolates CPUs %s (isolcpus): pin the guest there", c->isolcpus);
	char sz[32];
	dk_format_size(h->mem.total_kib * 1024, sz, sizeof sz);
	dk_buf_printf(&b, "; memory a quarter of %s%s", sz, floored ? ", raised to the 4 GiB floor" : "");
	snprintf(r->reason, sizeof r->reason, "%s", b.data);
	dk_buf_free(&b);
}

/* ---- checks ---- */

static struct dk_check *add(struct dk_checks *cs, const char *id, const char *group, enum dk_check_status st,
			    char *summary, char *detail, char *fix)
{
	cs->v = dk_realloc(cs->v, (cs->n + 1) * sizeof *cs->v);
	struct dk_check *c = &cs->v[cs->n++];
	memset(c, 0, sizeof *c);
	snprintf(c->id, sizeof c->id, "%s", id);
	c->group = group;
	c->status = st;
	c->summary = summary;
	c->detail = detail;
	c->fix = fix;
	return c;
}

#define S(...) dk_asprintf(__VA_ARGS__)

static void check_cpu(const struct dk_host *h, struct dk_checks *cs)
{
	const struct dk_host_cpu *c = &h->cpu;
	const char *G = "CPU";
	if (c->error[0]) {
		add(cs, "cpu.model", G, DK_CHECK_FAIL, S("CPU not identified: %s", c->error),
		    S("dkvm reads the CPU vendor, model and flags from /proc/cpuinfo"),
		    S(h->live ? "check that /proc is mounted" : "re-create the snapshot on the host: dkvm host report"));
	} else if (c->vendor == DK_VENDOR_UNKNOWN) {
		add(cs, "cpu.model", G, DK_CHECK_WARN, S("%s (%s): neither Intel nor AMD", c->model_name, c->vendor_id),
		    S("the guide covers Intel and AMD x86_64 hosts only"), NULL);
	} else {
		add(cs, "cpu.model", G, DK_CHECK_PASS, S("%s", c->model_name[0] ? c->model_name : "unnamed CPU"),
		    S("%s, family %d, model %d, stepping %d", c->vendor_id, c->family, c->model, c->stepping), NULL);
	}
	const char *ext = c->vendor == DK_VENDOR_AMD ? "AMD-V (svm)" : "VT-x (vmx)";
	const char *bios = c->vendor == DK_VENDOR_AMD ? "enable \"SVM Mode\" in the BIOS/UEFI setup (often under Advanced > CPU)"
						      : "enable \"Intel Virtualization Technology\" (VT-x) in the BIOS/UEFI setup";
	if (c->error[0])
		add(cs, "cpu.virt", G, DK_CHECK_SKIP, S("virtualization extension unknown (no usable /proc/cpuinfo)"), NULL, NULL);
	else if (c->vmx || c->svm)
		add(cs, "cpu.virt", G, DK_CHECK_PASS, S("%s available", c->vmx ? "VT-x (vmx)" : "AMD-V (svm)"), NULL, NULL);
	else if (h->kvm.dev_present)
		add(cs, "cpu.virt", G, DK_CHECK_WARN, S("no vmx/svm flag visible, but /dev/kvm exists"),
		    S("%s: the flag is often hidden inside a VM (nested virtualization); kvm.smoke tells whether KVM works",
		      h->hypervisor ? "this host is itself a virtual machine" : "unusual on bare metal"),
		    NULL);
	else
		add(cs, "cpu.virt", G, DK_CHECK_FAIL, S("no hardware virtualization: %s not visible", ext),
		    S("without it KVM cannot run; QEMU would emulate macOS far too slowly"), S("%s", bios));
}

static void check_kvm(const struct dk_host *h, struct dk_checks *cs)
{
	const struct dk_host_kvm *k = &h->kvm;
	const char *G = "KVM";
	const char *mod = h->cpu.vendor == DK_VENDOR_AMD ? "kvm_amd" : "kvm_intel";
	const char *user = h->libvirt.user[0] ? h->libvirt.user : "$USER";
	if (!k->dev_present) {
		char *fix;
		if (!h->cpu.vmx && !h->cpu.svm)
			fix = S("%s, then: sudo modprobe %s",
				h->cpu.vendor == DK_VENDOR_AMD ? "enable \"SVM Mode\" in the BIOS/UEFI setup"
							       : "enable VT-x in the BIOS/UEFI setup",
				mod);
		else
			fix = S("sudo modprobe %s   (and check dmesg for \"kvm: disabled by bios\")", mod);
		add(cs, "kvm.dev", G, DK_CHECK_FAIL, S("/dev/kvm is missing"),
		    S("kvm module %s; %s", k->module_loaded ? "loaded" : "not loaded",
		      k->vendor_module[0] ? k->vendor_module : "no kvm_intel/kvm_amd loaded"),
		    fix);
	} else if (!k->dev_access) {
		add(cs, "kvm.dev", G, DK_CHECK_FAIL, S("/dev/kvm is not accessible to %s", user),
		    S("mode %04o%s%s, group %s; %s is %sin the kvm group", k->dev_mode, k->dev_is_chr ? "" : " (",
		      k->dev_is_chr ? "" : "not a device node)", k->dev_group[0] ? k->dev_group : "?", user,
		      h->libvirt.user_in_kvm ? "" : "not "),
		    h->libvirt.user_in_kvm
			    ? S("sudo chgrp kvm /dev/kvm && sudo chmod 0660 /dev/kvm   (udev normally does this)")
			    : S("sudo usermod -a -G kvm %s\nthen log out and back in (or run: newgrp kvm)", user));
	} else {
		add(cs, "kvm.dev", G, DK_CHECK_PASS, S("/dev/kvm present and read/write for %s", user),
		    S("mode %04o, group %s", k->dev_mode, k->dev_group[0] ? k->dev_group : "?"), NULL);
	}
	struct dk_check *c;
	if (!h->live)
		c = add(cs, "kvm.smoke", G, DK_CHECK_SKIP, S("KVM guest test not run on a snapshot"), S("%s", k->detail), NULL);
	else if (k->usable)
		c = add(cs, "kvm.smoke", G, DK_CHECK_PASS, S("KVM runs a guest"), S("%s", k->detail), NULL);
	else
		c = add(cs, "kvm.smoke", G, DK_CHECK_FAIL, S("KVM cannot run a guest"), S("%s", k->detail),
			k->dev_present && k->dev_access
				? S("check dmesg for kvm errors; inside a VM, enable nested virtualization on the outer host")
				: NULL);
	c->live = true;

	if (k->ignore_msrs < 0)
		add(cs, "kvm.msrs", G, DK_CHECK_SKIP, S("kvm module parameters not visible"),
		    S("/sys/module/kvm/parameters/ignore_msrs is missing (kvm not loaded)"), NULL);
	else if (k->ignore_msrs == 0)
		add(cs, "kvm.msrs", G, DK_CHECK_WARN, S("kvm ignore_msrs is off"),
		    S("macOS touches MSRs that KVM does not emulate; with ignore_msrs=0 the guest gets #GP and panics or hangs "
		      "(not a guide step, but used throughout the macOS-on-KVM world)"),
		    S("create /etc/modprobe.d/kvm.conf with the line:\n"
		      "  options kvm ignore_msrs=1 report_ignored_msrs=0\n"
		      "apply now without a reboot: echo 1 | sudo tee /sys/module/kvm/parameters/ignore_msrs"));
	else if (k->report_ignored_msrs == 1)
		add(cs, "kvm.msrs", G, DK_CHECK_PASS, S("kvm ignore_msrs is on"),
		    S("report_ignored_msrs=Y logs every ignored MSR access to the kernel log"),
		    S("to keep the log quiet, in /etc/modprobe.d/kvm.conf:\n  options kvm ignore_msrs=1 report_ignored_msrs=0"));
	else
		add(cs, "kvm.msrs", G, DK_CHECK_PASS, S("kvm ignore_msrs is on, report_ignored_msrs off"), NULL, NULL);

	if (k->nested < 0)
		add(cs, "kvm.nested", G, DK_CHECK_SKIP, S("nested virtualization: unknown (kvm_intel/kvm_amd not loaded)"),
		    NULL, NULL);
	else
		add(cs, "kvm.nested", G, DK_CHECK_PASS, S("nested virtualization %s (%s)", k->nested ? "on" : "off", k->vendor_module),
		    S("macOS does not need it"), NULL);
}

static void check_isa(const struct dk_host *h, struct dk_checks *cs)
{
	if (h->cpu.error[0]) {
		add(cs, "macos.isa", "macOS", DK_CHECK_SKIP, S("macOS support unknown (no usable /proc/cpuinfo)"), NULL, NULL);
		return;
	}
	int ok = 0, newest = -1;
	struct dk_buf miss = {0};
	for (int i = 0; i < dk_macos_count; i++) {
		const struct dk_macos *m = &dk_macos_table[i];
		bool good = true;
		for (int k = 0; k < 6 && m->isa[k]; k++)
			if (!dk_host_has_flag(h, m->isa[k])) {
				if (good)
					dk_buf_printf(&miss, "%s%s (%s) needs", miss.len ? "; " : "", m->marketing, m->version);
				dk_buf_printf(&miss, " %s", m->isa[k]);
				good = false;
			}
		if (good) {
			ok++;
			newest = i;
		}
	}
	dk_buf_puts(&miss, "");
	const char *G = "macOS";
	if (ok == (int)dk_macos_count)
		add(cs, "macos.isa", G, DK_CHECK_PASS,
		    S("this CPU can run every release from %s to %s", dk_macos_table[0].marketing,
		      dk_macos_table[dk_macos_count - 1].marketing),
		    NULL, NULL);
	else if (ok > 0)
		add(cs, "macos.isa", G, DK_CHECK_WARN, S("newest macOS this CPU can run: %s (%s)",
							 dk_macos_table[newest].marketing, dk_macos_table[newest].version),
		    S("missing: %s", miss.data),
		    dk_host_has_flag(h, "avx2") ? NULL
						: S("Ventura and newer need AVX2; CryptexFixup can boot them without it "
						    "(but without AMD GPU acceleration)"));
	else
		add(cs, "macos.isa", G, DK_CHECK_FAIL, S("this CPU cannot run any macOS release dkvm knows"),
		    S("missing: %s", miss.data), NULL);
	dk_buf_free(&miss);
}

static void check_tsc(const struct dk_host *h, struct dk_checks *cs)
{
	bool ct = dk_host_has_flag(h, "constant_tsc"), ns = dk_host_has_flag(h, "nonstop_tsc");
	bool amd = h->cpu.vendor == DK_VENDOR_AMD;
	const char *G = "Clock";
	if (h->cpu.error[0]) {
		add(cs, "tsc", G, DK_CHECK_SKIP, S("TSC unknown (no usable /proc/cpuinfo); clocksource %s",
						   h->clocksource[0] ? h->clocksource : "unknown"), NULL, NULL);
		return;
	}
	const char *amdnote = amd ? "; on AMD hosts macOS Ventura and newer freeze (boot hangs, stalls under load) "
				    "when the host clock is not a stable TSC: the known case"
				  : "";
	if (!ct || !ns) {
		add(cs, "tsc", G, DK_CHECK_WARN, S("TSC is not invariant (%s%s%s missing)", ct ? "" : "constant_tsc",
						   !ct && !ns ? ", " : "", ns ? "" : "nonstop_tsc"),
		    S("clocksource %s; the guest clock may drift; tsc=reliable would be unsafe on this CPU%s",
		      h->clocksource[0] ? h->clocksource : "unknown", amdnote),
		    NULL);
		return;
	}
	if (!h->clocksource[0]) {
		add(cs, "tsc", G, DK_CHECK_WARN, S("current clocksource unknown"),
		    S("/sys/devices/system/clocksource/clocksource0/current_clocksource is missing"), NULL);
		return;
	}
	if (!strcmp(h->clocksource, "tsc")) {
		add(cs, "tsc", G, DK_CHECK_PASS, S("clocksource tsc, invariant TSC (constant_tsc, nonstop_tsc)"), NULL, NULL);
		return;
	}
	char *fix = dk_host_kernel_param_fix(h, "tsc=reliable clocksource=tsc");
	add(cs, "tsc", G, DK_CHECK_WARN, S("clocksource is %s, not tsc", h->clocksource),
	    S("the kernel fell back from the TSC (often a watchdog false alarm at boot); the CPU has an invariant TSC, "
	      "so tsc=reliable is safe%s",
	      amdnote),
	    fix);
}

static void check_iommu(const struct dk_host *h, struct dk_checks *cs)
{
	const struct dk_host_iommu *io = &h->iommu;
	const char *G = "IOMMU";
	bool intel = h->cpu.vendor == DK_VENDOR_INTEL;
	bool amd = h->cpu.vendor == DK_VENDOR_AMD;
	const char *bios = amd ? "enable \"IOMMU\" (AMD-Vi) in the BIOS/UEFI setup" : "enable \"VT-d\" in the BIOS/UEFI setup";
	if (io->enabled) {
		add(cs, "iommu.enabled", G, DK_CHECK_PASS, S("IOMMU on: %d groups", io->groups),
		    S("%d IOMMU unit(s) in /sys/class/iommu; see: dkvm host iommu", io->units), NULL);
	} else {
		struct dk_buf f = {0};
		dk_buf_printf(&f, "%s", bios);
		if (intel && !io->cmdline_intel_iommu_on) {
			char *k = dk_host_kernel_param_fix(h, "intel_iommu=on iommu=pt");
			dk_buf_printf(&f, "\nthen %s", k);
			free(k);
		}
		add(cs, "iommu.enabled", G, DK_CHECK_FAIL, S("IOMMU off: no groups in /sys/kernel/iommu_groups"),
		    S("GPU passthrough (which the guide requires for a usable macOS) needs the IOMMU%s",
		      h->hypervisor ? "; this host is itself a VM: it would need a virtual IOMMU from the outer host" : ""),
		    f.data);
	}

	/* kernel command line */
	struct dk_buf want = {0}, why = {0};
	enum dk_check_status st = DK_CHECK_PASS;
	char *fix = NULL;
	if (io->cmdline_intel_iommu_off || io->cmdline_amd_iommu_off || io->cmdline_iommu_off) {
		const char *bad = io->cmdline_intel_iommu_off ? "intel_iommu=off" : io->cmdline_amd_iommu_off ? "amd_iommu=off" : "iommu=off";
		add(cs, "iommu.cmdline", G, DK_CHECK_FAIL, S("the kernel command line turns the IOMMU off (%s)", bad),
		    S("/proc/cmdline contains %s", bad),
		    S("remove %s from %s, regenerate the boot configuration and reboot", bad,
		      h->bootloader_file[0] ? h->bootloader_file : "the kernel command line"));
		goto irq;
	}
	if (intel && !io->cmdline_intel_iommu_on) {
		dk_buf_puts(&want, "intel_iommu=on");
		dk_buf_puts(&why, "intel_iommu=on missing");
		if (!io->enabled)
			st = DK_CHECK_FAIL;
		else {
			st = DK_CHECK_WARN;
			dk_buf_puts(&why, " (the kernel enables VT-d by default here, but the guide sets it explicitly)");
		}
	}
	if (!io->cmdline_iommu_pt) {
		dk_buf_printf(&want, "%siommu=pt", want.len ? " " : "");
		dk_buf_printf(&why, "%siommu=pt missing (passthrough mode: host devices skip DMA translation)", why.len ? "; " : "");
		if (st == DK_CHECK_PASS)
			st = DK_CHECK_WARN;
	}
	if (want.len)
		fix = dk_host_kernel_param_fix(h, want.data);
	dk_buf_puts(&why, "");
	if (amd)
		dk_buf_printf(&why, "%sAMD-Vi is on by default: the guide adds no amd_iommu= parameter", why.len ? "; " : "");
	if (io->cmdline_acs_override) {
		dk_buf_printf(&why, "%spcie_acs_override is set: it only fakes group separation (a risk, not a fix)",
			      why.len ? "; " : "");
		if (st == DK_CHECK_PASS)
			st = DK_CHECK_WARN;
	}
	dk_buf_puts(&why, "");
	add(cs, "iommu.cmdline", G, st,
	    st == DK_CHECK_PASS ? S("kernel command line has %s", intel ? "intel_iommu=on iommu=pt" : "iommu=pt")
				: S("kernel command line: add %s", want.len ? want.data : "nothing; see detail"),
	    why.len ? dk_strdup(why.data) : NULL, fix);
	dk_buf_free(&want);
	dk_buf_free(&why);
irq:
	if (!io->enabled || io->irq_remapping < 0)
		add(cs, "iommu.irq_remap", G, DK_CHECK_SKIP, S("interrupt remapping: not visible"),
		    S(io->enabled ? "no intel-iommu/ecap in /sys/class/iommu (AMD-Vi reports it only in dmesg)" : "the IOMMU is off"),
		    NULL);
	else if (io->irq_remapping == 1)
		add(cs, "iommu.irq_remap", G, DK_CHECK_PASS, S("interrupt remapping supported"), NULL, NULL);
	else
		add(cs, "iommu.irq_remap", G, DK_CHECK_WARN, S("interrupt remapping off"),
		    S("VFIO refuses passthrough without it unless vfio_iommu_type1 allow_unsafe_interrupts=1 (unsafe)"),
		    S("remove nointremap / intremap=off from the kernel command line, and enable \"Interrupt Remapping\" in "
		      "the BIOS/UEFI setup if offered"));
}

static char *cpulist_str(const int *l)
{
	struct dk_buf b = {0};
	for (int i = 0; l[i] >= 0;) {
		int j = i;
		while (l[j + 1] >= 0 && l[j + 1] == l[j] + 1)
			j++;
		dk_buf_printf(&b, "%s%d", b.len ? "," : "", l[i]);
		if (j > i)
			dk_buf_printf(&b, "-%d", l[j]);
		i = j + 1;
	}
	dk_buf_puts(&b, "");
	return b.data;
}

static void check_topology(const struct dk_host *h, struct dk_checks *cs)
{
	const struct dk_host_cpu *c = &h->cpu;
	const char *G = "Topology";
	struct dk_buf d = {0};
	for (int i = 0; i < c->n_l3; i++) {
		char *l = cpulist_str(c->l3_cpus[i]);
		dk_buf_printf(&d, "%sL3 domain %d: CPUs %s", i ? "; " : "", i, l);
		free(l);
	}
	if (c->isolcpus[0])
		dk_buf_printf(&d, "%sisolcpus=%s", d.len ? "; " : "", c->isolcpus);
	if (!c->topo_from_sysfs)
		dk_buf_printf(&d, "%stopology guessed from /proc/cpuinfo: /sys/devices/system/cpu/cpu*/topology missing", d.len ? "; " : "");
	dk_buf_puts(&d, "");
	add(cs, "topo.layout", G, c->topo_from_sysfs || c->logical == 0 ? (c->logical ? DK_CHECK_PASS : DK_CHECK_FAIL) : DK_CHECK_WARN,
	    S("%d socket%s, %d cores, %d threads%s, %d L3 domain%s, %d NUMA node%s", c->sockets, c->sockets == 1 ? "" : "s",
	      c->cores, c->logical, c->smt ? " (SMT)" : "", c->n_l3, c->n_l3 == 1 ? "" : "s", c->numa_nodes,
	      c->numa_nodes == 1 ? "" : "s"),
	    d.len ? dk_strdup(d.data) : NULL, NULL);
	dk_buf_free(&d);
	if (c->hybrid) {
		int l[DK_MAX_CPUS + 1];
		memcpy(l, c->p_cpus, sizeof(int) * (size_t)c->n_p_cpus);
		l[c->n_p_cpus] = -1;
		char *pl = cpulist_str(l);
		add(cs, "topo.hybrid", G, DK_CHECK_WARN, S("hybrid CPU: %d P-cores%s + %d E-cores", c->p_cores,
							   c->p_smt ? " (SMT)" : "", c->e_cores),
		    S("macOS schedules all vCPUs alike; vCPUs on E-cores make the guest stutter"),
		    S("pin the guest's vCPUs to P-core CPUs %s (dkvm create does this)", pl));
		free(pl);
	} else {
		add(cs, "topo.hybrid", G, DK_CHECK_PASS, S("not a hybrid (P/E) CPU"), NULL, NULL);
	}
	struct dk_topology_rec r;
	dk_host_recommend(h, &r);
	char sz[32];
	dk_format_size(r.memory_kib * 1024, sz, sizeof sz);
	int host = c->hybrid && c->p_cores ? c->p_cores : c->cores;
	add(cs, "topo.recommend", G, host >= 2 ? DK_CHECK_PASS : DK_CHECK_WARN,
	    S("guest: 1 socket, 1 die, %d core%s, %d thread%s per core = %d vCPU%s, %s RAM", r.cores, r.cores == 1 ? "" : "s",
	      r.threads, r.threads == 1 ? "" : "s", r.cores * r.threads, r.cores * r.threads == 1 ? "" : "s", sz),
	    S("%s", r.reason), NULL);
}

static void check_memory(const struct dk_host *h, struct dk_checks *cs)
{
	const char *G = "Memory and disk";
	char t[32], a[32];
	dk_format_size(h->mem.total_kib * 1024, t, sizeof t);
	dk_format_size(h->mem.available_kib * 1024, a, sizeof a);
	if (h->mem.error[0])
		add(cs, "mem.total", G, DK_CHECK_FAIL, S("memory size unknown: %s", h->mem.error),
		    S("dkvm sizes the guest from MemTotal in /proc/meminfo"), NULL);
	else if (!h->mem.total_kib)
		add(cs, "mem.total", G, DK_CHECK_FAIL, S("memory size unknown (/proc/meminfo missing or without MemTotal)"), NULL, NULL);
	else if (h->mem.total_kib < 6 * GIB_KIB)
		add(cs, "mem.total", G, DK_CHECK_FAIL, S("%s RAM: too little for a 4 GiB guest and the host", t),
		    S("%s available", a), NULL);
	else if (h->mem.total_kib < 12 * GIB_KIB)
		add(cs, "mem.total", G, DK_CHECK_WARN, S("%s RAM: a 4 GiB guest leaves the host little", t), S("%s available", a), NULL);
	else
		add(cs, "mem.total", G, DK_CHECK_PASS, S("%s RAM (%s available)", t, a), NULL, NULL);
	if (h->mem.hp_error[0])
		add(cs, "mem.hugepages", G, DK_CHECK_FAIL, S("hugepages unknown: %s", h->mem.hp_error),
		    S("dkvm reads the hugepage pools from /sys/kernel/mm/hugepages (else /proc/meminfo)"), NULL);
	else if (h->mem.hugepages_2m || h->mem.hugepages_1g)
		add(cs, "mem.hugepages", G, DK_CHECK_PASS,
		    S("hugepages: %llu x 2M (%llu free), %llu x 1G (%llu free)", (unsigned long long)h->mem.hugepages_2m,
		      (unsigned long long)h->mem.hugepages_2m_free, (unsigned long long)h->mem.hugepages_1g,
		      (unsigned long long)h->mem.hugepages_1g_free),
		    S("reserved hugepages are taken from the host even when no VM runs"), NULL);
	else
		add(cs, "mem.hugepages", G, DK_CHECK_PASS, S("no hugepages reserved (optional; the guide does not use them)"),
		    NULL, NULL);
	struct dk_check *c;
	if (!h->vm_dir_checked) {
		c = add(cs, "disk.free", G, DK_CHECK_SKIP, S("free disk not measured on a snapshot"), NULL, NULL);
	} else {
		char f[32];
		dk_format_size(h->vm_dir_free_bytes, f, sizeof f);
		uint64_t gib = h->vm_dir_free_bytes >> 30;
		enum dk_check_status st = gib < 40 ? DK_CHECK_FAIL : gib < 100 ? DK_CHECK_WARN : DK_CHECK_PASS;
		c = add(cs, "disk.free", G, st, S("%s free where VMs go (%s)", f, h->vm_dir),
		    S("a macOS install needs about 40 GiB; the guide's disks are 128 GiB or more"),
		    st == DK_CHECK_PASS ? NULL : S("free space there, or point XDG_DATA_HOME at a larger disk"));
	}
	c->live = true;
}

static void check_qemu(const struct dk_host *h, struct dk_checks *cs)
{
	const struct dk_host_qemu *q = &h->qemu;
	const char *G = "QEMU and firmware";
	struct dk_check *c;
	if (!q->path[0]) {
		add(cs, "qemu.binary", G, DK_CHECK_FAIL, S("qemu-system-x86_64 not found"), NULL,
		    dk_host_pkg_fix(h, "qemu-full", "qemu-system-x86 qemu-utils", "qemu-system-x86 qemu-img"));
	} else {
		add(cs, "qemu.binary", G, DK_CHECK_PASS, S("%s", q->path), NULL, NULL);
	}
	if (!q->queried) {
		const char *why = q->path[0] ? "not asked on a snapshot" : "no QEMU binary";
		c = add(cs, "qemu.version", G, DK_CHECK_SKIP, S("QEMU version: %s", why), NULL, NULL);
		c->live = true;
		c = add(cs, "qemu.applesmc", G, DK_CHECK_SKIP, S("isa-applesmc: %s", why), NULL, NULL);
		c->live = true;
		c = add(cs, "qemu.q35", G, DK_CHECK_SKIP, S("q35 machine: %s", why), NULL, NULL);
		c->live = true;
	} else {
		if (!q->version[0])
			c = add(cs, "qemu.version", G, DK_CHECK_FAIL, S("QEMU did not report its version"), S("%s", q->error), NULL);
		else if (q->major < 6)
			c = add(cs, "qemu.version", G, DK_CHECK_WARN, S("QEMU %s is old", q->version),
				S("recent macOS releases want QEMU 6 or newer"),
				dk_host_pkg_fix(h, "qemu-full", "qemu-system-x86", "qemu-system-x86"));
		else
			c = add(cs, "qemu.version", G, DK_CHECK_PASS, S("QEMU %s", q->version),
				q->major > 6 || (q->major == 6 && q->minor >= 1)
					? S("6.1 and newer need -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off (dkvm adds it)")
					: NULL,
				NULL);
		c->live = true;
		c = add(cs, "qemu.applesmc", G, q->has_applesmc ? DK_CHECK_PASS : DK_CHECK_FAIL,
			S(q->has_applesmc ? "isa-applesmc device available" : "QEMU lacks the isa-applesmc device"),
			q->has_applesmc ? NULL : S("macOS needs the emulated SMC; %s", q->error[0] ? q->error : "-device help does not list it"),
			q->has_applesmc ? NULL : dk_host_pkg_fix(h, "qemu-full", "qemu-system-x86", "qemu-system-x86"));
		c->live = true;
		c = add(cs, "qemu.q35", G, q->has_q35 ? DK_CHECK_PASS : DK_CHECK_FAIL,
			S(q->has_q35 ? "q35 machine available" : "QEMU lacks the q35 machine"), NULL, NULL);
		c->live = true;
	}
	const char *pkg_arch = "edk2-ovmf", *pkg_deb = "ovmf", *pkg_fed = "edk2-ovmf";
	if (!q->ovmf_code[0])
		add(cs, "ovmf", G, DK_CHECK_FAIL, S("no OVMF (UEFI) firmware found"),
		    S("looked in /usr/share/qemu/firmware/*.json and the guide's known paths"),
		    dk_host_pkg_fix(h, pkg_arch, pkg_deb, pkg_fed));
	else if (q->ovmf_secboot)
		add(cs, "ovmf", G, DK_CHECK_WARN, S("only Secure Boot OVMF found: %s", q->ovmf_code),
		    S("vars %s (from %s); OpenCore needs a firmware without enforced Secure Boot", q->ovmf_vars, q->ovmf_source),
		    dk_host_pkg_fix(h, pkg_arch, pkg_deb, pkg_fed));
	else if (!q->ovmf_4m)
		add(cs, "ovmf", G, DK_CHECK_WARN, S("OVMF 2M build: %s", q->ovmf_code),
		    S("vars %s (from %s); the guide prefers the 4M build", q->ovmf_vars, q->ovmf_source),
		    dk_host_pkg_fix(h, pkg_arch, pkg_deb, pkg_fed));
	else
		add(cs, "ovmf", G, DK_CHECK_PASS, S("OVMF 4M: %s", q->ovmf_code),
		    S("vars %s (from %s)", q->ovmf_vars, q->ovmf_source), NULL);
}

static void vstr(unsigned long v, char *b, size_t n)
{
	snprintf(b, n, "%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

static void check_libvirt(const struct dk_host *h, struct dk_checks *cs)
{
	const struct dk_host_libvirt *l = &h->libvirt;
	const char *G = "libvirt";
	struct dk_check *c;
	const char *svc = !strcmp(fam(h), "fedora") ? "virtqemud.socket" : "libvirtd";
	if (l->present)
		add(cs, "libvirt.installed", G, DK_CHECK_PASS, S("libvirt daemon installed"), NULL, NULL);
	else
		add(cs, "libvirt.installed", G, DK_CHECK_WARN, S("libvirt daemon not installed"),
		    S("optional: dkvm start runs QEMU directly; the guide manages VMs with virt-manager"),
		    dk_host_pkg_fix(h, "libvirt dnsmasq", "libvirt-daemon-system libvirt-clients", "libvirt libvirt-daemon-config-network"));
	if (!l->queried) {
		c = add(cs, "libvirt.version", G, DK_CHECK_SKIP, S("libvirt version: not asked on a snapshot"), NULL, NULL);
		c->live = true;
		c = add(cs, "libvirt.socket", G, DK_CHECK_SKIP, S("libvirt socket: not tried on a snapshot"), NULL, NULL);
		c->live = true;
	} else {
		char lv[32], dv[32];
		vstr(l->lib_version, lv, sizeof lv);
		vstr(l->version, dv, sizeof dv);
		if (l->version)
			c = add(cs, "libvirt.version", G, DK_CHECK_PASS, S("libvirt %s (daemon), library %s", dv, lv), NULL, NULL);
		else
			c = add(cs, "libvirt.version", G, DK_CHECK_WARN, S("libvirt library %s; daemon version unknown", lv),
				S("%s", l->error[0] ? l->error : "not asked"), NULL);
		c->live = true;
		if (l->socket_reachable)
			c = add(cs, "libvirt.socket", G, DK_CHECK_PASS, S("daemon socket answers: %s", l->socket_path), NULL, NULL);
		else
			c = add(cs, "libvirt.socket", G, l->present ? DK_CHECK_WARN : DK_CHECK_SKIP,
				S("no libvirt daemon socket answers"), S("tried /run/libvirt/{libvirt,virtqemud}-sock[-ro]"),
				l->present ? S("sudo systemctl enable --now %s", svc) : NULL);
		c->live = true;
	}
	const char *u = l->user;
	if (!strcmp(u, "root")) {
		add(cs, "user.groups", G, DK_CHECK_PASS, S("running as root (group membership not needed)"),
		    S("to run as a user: sudo usermod -a -G kvm,libvirt <user>"), NULL);
	} else {
		struct dk_buf miss = {0};
		if (!l->user_in_kvm && l->group_kvm_exists)
			dk_buf_puts(&miss, "kvm");
		if (!l->user_in_libvirt && l->group_libvirt_exists)
			dk_buf_printf(&miss, "%slibvirt", miss.len ? "," : "");
		dk_buf_puts(&miss, "");
		if (miss.len)
			add(cs, "user.groups", G, DK_CHECK_WARN, S("%s is not in group%s %s", u, strchr(miss.data, ',') ? "s" : "", miss.data),
			    S("the guide adds the user to kvm and libvirt (this grants password-less root-equivalent access)"),
			    S("sudo usermod -a -G %s %s\nthen log out and back in", miss.data, u));
		else
			add(cs, "user.groups", G, DK_CHECK_PASS, S("%s is in the kvm%s group%s", u,
								    l->group_libvirt_exists ? " and libvirt" : "",
								    l->group_libvirt_exists ? "s" : ""),
			    NULL, NULL);
		dk_buf_free(&miss);
	}
	if (l->virt_manager)
		add(cs, "virt_manager", G, DK_CHECK_PASS, S("virt-manager installed"), NULL, NULL);
	else
		add(cs, "virt_manager", G, DK_CHECK_WARN, S("virt-manager not installed"),
		    S("optional with dkvm; the guide uses it to manage the VM"),
		    dk_host_pkg_fix(h, "virt-manager", "virt-manager", "virt-manager"));
}

/* libvirt's system QEMU runs as its own user: it needs /dev/kvm too. Said only
 * where libvirt is installed and that user exists. */
static void check_libvirt_kvm(const struct dk_host *h, struct dk_checks *cs)
{
	const struct dk_host_libvirt *l = &h->libvirt;
	if (!l->present || !l->qemu_user_exists || !h->kvm.dev_present)
		return;
	const char *u = l->qemu_user;
	if (l->qemu_kvm_access) {
		add(cs, "libvirt.qemu_kvm", "libvirt", DK_CHECK_PASS, S("libvirt's QEMU (%s) can open /dev/kvm", u),
		    S("mode %04o, group %s; %s is in %s", h->kvm.dev_mode, h->kvm.dev_group[0] ? h->kvm.dev_group : "?", u,
		      l->qemu_groups[0] ? l->qemu_groups : "no groups"),
		    NULL);
		return;
	}
	bool in_kvm = false;
	for (const char *p = l->qemu_groups; *p && !in_kvm;) {
		size_t t = strcspn(p, ",");
		in_kvm = t == 3 && !strncmp(p, "kvm", 3);
		p += t + (p[t] == ',');
	}
	struct dk_buf fix = {0};
	dk_buf_printf(&fix, "make /dev/kvm group kvm, mode 0660 at every boot (a udev rule):\n"
			    "  echo 'KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\"' | sudo tee /etc/udev/rules.d/65-kvm.rules\n"
			    "  sudo udevadm control --reload && sudo udevadm trigger --name-match=kvm\n"
			    "or now, until the next boot: sudo chgrp kvm /dev/kvm && sudo chmod 0660 /dev/kvm");
	if (!in_kvm)
		dk_buf_printf(&fix, "\nand put %s in the kvm group: sudo usermod -a -G kvm %s, then sudo systemctl restart %s", u, u,
			      !strcmp(fam(h), "fedora") ? "virtqemud" : "libvirtd");
	add(cs, "libvirt.qemu_kvm", "libvirt", DK_CHECK_FAIL, S("libvirt's QEMU (%s) cannot open /dev/kvm", u),
	    S("/dev/kvm mode %04o, group %s; %s (uid %u) is in %s; its VMs would fail with \"Could not access KVM kernel "
	      "module: Permission denied\" (dkvm start falls back to TCG)",
	      h->kvm.dev_mode, h->kvm.dev_group[0] ? h->kvm.dev_group : "?", u, l->qemu_uid,
	      l->qemu_groups[0] ? l->qemu_groups : "no groups"),
	    fix.data);
}

static void check_system(const struct dk_host *h, struct dk_checks *cs)
{
	const char *G = "System";
	const char *name = h->distro_name[0] ? h->distro_name : h->distro_id[0] ? h->distro_id : "unknown distro";
	if (h->distro_family[0])
		add(cs, "distro", G, DK_CHECK_PASS, S("%s (%s family, covered by the guide)", name, h->distro_family),
		    S("os-release ID=%s%s%s", h->distro_id, h->distro_like[0] ? " ID_LIKE=" : "", h->distro_like), NULL);
	else
		add(cs, "distro", G, DK_CHECK_WARN, S("%s: not a distro the guide covers", name),
		    S("covered: Arch, Debian, Ubuntu, Linux Mint, Fedora, Nobara; install the packages by hand"), NULL);
	if (!strcmp(h->bootloader, "unknown") || !h->bootloader[0])
		add(cs, "bootloader", G, DK_CHECK_WARN, S("bootloader not recognized"),
		    S("looked for /etc/kernelstub/configuration, /etc/default/grub, /boot/loader/entries/*.conf; "
		      "kernel parameter fixes are generic"),
		    NULL);
	else
		add(cs, "bootloader", G, DK_CHECK_PASS, S("%s (%s)", h->bootloader, h->bootloader_file), NULL, NULL);
	/* only when something was refused: a FIFO or device where a file belongs,
	 * or a file too large to be what it claims */
	if (h->n_refused > 0) {
		size_t first = strcspn(h->refused, "\n");
		add(cs, "host.files", G, DK_CHECK_FAIL,
		    S("%d host file%s refused: %.*s%s", h->n_refused, h->n_refused == 1 ? "" : "s", (int)first, h->refused,
		      h->n_refused > 1 ? ", ..." : ""),
		    S("%s\nnot read; the checks treat them as missing", h->refused),
		    S(h->live ? "these paths should be regular files: check what replaced them"
			      : "re-create the snapshot on the host: dkvm host report"));
	}
}

void dk_host_checks(const struct dk_host *h, struct dk_checks *out)
{
	memset(out, 0, sizeof *out);
	check_system(h, out);
	check_cpu(h, out);
	check_kvm(h, out);
	check_isa(h, out);
	check_tsc(h, out);
	check_iommu(h, out);
	check_topology(h, out);
	check_memory(h, out);
	check_qemu(h, out);
	check_libvirt(h, out);
	check_libvirt_kvm(h, out);
}

void dk_checks_free(struct dk_checks *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].summary);
		free(c->v[i].detail);
		free(c->v[i].fix);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

/* ---- JSON ---- */

#define JADD(o, k, v) json_object_object_add(o, k, v)
#define JI(v) json_object_new_int64((int64_t)(v))
#define JB(v) json_object_new_boolean(v)
#define JS(v) dk_json_str(v)

static json_object *tri(int v)
{
	return v < 0 ? NULL : JB(v);
}

json_object *dk_host_check_json(const struct dk_host *h, const struct dk_checks *cs)
{
	const struct dk_host_cpu *c = &h->cpu;
	json_object *root = json_object_new_object();
	json_object *host = json_object_new_object(), *cpu = json_object_new_object();
	JADD(cpu, "vendor", JS(c->vendor_id));
	JADD(cpu, "model_name", JS(c->model_name));
	JADD(cpu, "family", JI(c->family));
	JADD(cpu, "model", JI(c->model));
	JADD(cpu, "stepping", JI(c->stepping));
	JADD(cpu, "sockets", JI(c->sockets));
	JADD(cpu, "cores", JI(c->cores));
	JADD(cpu, "threads", JI(c->logical));
	JADD(cpu, "threads_per_core", JI(c->threads_per_core));
	JADD(cpu, "smt", JB(c->smt));
	json_object *l3 = json_object_new_array();
	for (int i = 0; i < c->n_l3; i++) {
		json_object *d = json_object_new_array();
		for (const int *p = c->l3_cpus[i]; *p >= 0; p++)
			json_object_array_add(d, JI(*p));
		json_object_array_add(l3, d);
	}
	JADD(cpu, "l3_domains", l3);
	JADD(cpu, "numa_nodes", JI(c->numa_nodes));
	JADD(cpu, "hybrid", JB(c->hybrid));
	JADD(cpu, "p_cores", JI(c->p_cores));
	JADD(cpu, "e_cores", JI(c->e_cores));
	JADD(cpu, "virtualization", JS(c->vmx ? "vmx" : c->svm ? "svm" : NULL));
	JADD(cpu, "isolcpus", JS(c->isolcpus[0] ? c->isolcpus : NULL));
	JADD(cpu, "error", JS(c->error[0] ? c->error : NULL));
	JADD(host, "cpu", cpu);
	JADD(host, "memory_kib", JI(h->mem.total_kib));
	JADD(host, "memory_available_kib", JI(h->mem.available_kib));
	json_object *hp = json_object_new_object();
	JADD(hp, "2M", JI(h->mem.hugepages_2m));
	JADD(hp, "2M_free", JI(h->mem.hugepages_2m_free));
	JADD(hp, "1G", JI(h->mem.hugepages_1g));
	JADD(hp, "1G_free", JI(h->mem.hugepages_1g_free));
	JADD(host, "hugepages", hp);
	json_object *dist = json_object_new_object();
	JADD(dist, "id", JS(h->distro_id));
	JADD(dist, "name", JS(h->distro_name));
	JADD(dist, "family", JS(h->distro_family[0] ? h->distro_family : NULL));
	JADD(host, "distro", dist);
	json_object *bl = json_object_new_object();
	JADD(bl, "name", JS(h->bootloader));
	JADD(bl, "file", JS(h->bootloader_file[0] ? h->bootloader_file : NULL));
	JADD(host, "bootloader", bl);
	JADD(host, "cmdline", JS(h->cmdline));
	JADD(host, "clocksource", JS(h->clocksource[0] ? h->clocksource : NULL));
	JADD(host, "live", JB(h->live));
	JADD(host, "vm_dir", JS(h->vm_dir));
	JADD(host, "vm_dir_free_bytes", h->vm_dir_checked ? JI(h->vm_dir_free_bytes) : NULL);
	JADD(root, "host", host);

	json_object *kvm = json_object_new_object();
	JADD(kvm, "usable", JB(h->kvm.usable));
	JADD(kvm, "detail", JS(h->kvm.detail));
	JADD(kvm, "smoke_ran", JB(h->kvm.smoke_ran));
	JADD(kvm, "dev_present", JB(h->kvm.dev_present));
	JADD(kvm, "dev_access", JB(h->kvm.dev_access));
	JADD(kvm, "ignore_msrs", tri(h->kvm.ignore_msrs));
	JADD(kvm, "report_ignored_msrs", tri(h->kvm.report_ignored_msrs));
	JADD(kvm, "nested", tri(h->kvm.nested));
	JADD(root, "kvm", kvm);

	json_object *io = json_object_new_object();
	JADD(io, "enabled", JB(h->iommu.enabled));
	JADD(io, "groups", JI(h->iommu.groups));
	JADD(io, "irq_remapping", tri(h->iommu.irq_remapping));
	JADD(io, "cmdline_intel_iommu_on", JB(h->iommu.cmdline_intel_iommu_on));
	JADD(io, "cmdline_iommu_pt", JB(h->iommu.cmdline_iommu_pt));
	JADD(root, "iommu", io);

	json_object *q = json_object_new_object();
	JADD(q, "path", JS(h->qemu.path[0] ? h->qemu.path : NULL));
	JADD(q, "version", JS(h->qemu.version[0] ? h->qemu.version : NULL));
	JADD(q, "applesmc", h->qemu.queried ? JB(h->qemu.has_applesmc) : NULL);
	JADD(q, "q35", h->qemu.queried ? JB(h->qemu.has_q35) : NULL);
	JADD(q, "ovmf_code", JS(h->qemu.ovmf_code[0] ? h->qemu.ovmf_code : NULL));
	JADD(q, "ovmf_vars", JS(h->qemu.ovmf_vars[0] ? h->qemu.ovmf_vars : NULL));
	JADD(q, "ovmf_4m", JB(h->qemu.ovmf_4m));
	JADD(q, "ovmf_source", JS(h->qemu.ovmf_source[0] ? h->qemu.ovmf_source : NULL));
	JADD(root, "qemu", q);

	json_object *lv = json_object_new_object();
	char v[32];
	JADD(lv, "installed", JB(h->libvirt.present));
	vstr(h->libvirt.version, v, sizeof v);
	JADD(lv, "version", h->libvirt.version ? JS(v) : NULL);
	vstr(h->libvirt.lib_version, v, sizeof v);
	JADD(lv, "library_version", h->libvirt.lib_version ? JS(v) : NULL);
	JADD(lv, "socket_reachable", h->libvirt.queried ? JB(h->libvirt.socket_reachable) : NULL);
	JADD(lv, "user", JS(h->libvirt.user));
	JADD(lv, "user_in_libvirt", JB(h->libvirt.user_in_libvirt));
	JADD(lv, "user_in_kvm", JB(h->libvirt.user_in_kvm));
	JADD(lv, "virt_manager", JB(h->libvirt.virt_manager));
	JADD(root, "libvirt", lv);

	json_object *ms = json_object_new_array();
	for (int i = 0; i < (int)dk_macos_count; i++) {
		const struct dk_macos *m = &dk_macos_table[i];
		json_object *e = json_object_new_object(), *miss = json_object_new_array();
		for (int k = 0; k < 6 && m->isa[k]; k++)
			if (!dk_host_has_flag(h, m->isa[k]))
				json_object_array_add(miss, JS(m->isa[k]));
		JADD(e, "release", JS(m->name));
		JADD(e, "version", JS(m->version));
		JADD(e, "ok", JB(json_object_array_length(miss) == 0));
		JADD(e, "missing", miss);
		json_object_array_add(ms, e);
	}
	JADD(root, "macos_support", ms);

	struct dk_topology_rec r;
	dk_host_recommend(h, &r);
	json_object *rec = json_object_new_object();
	JADD(rec, "sockets", JI(r.sockets));
	JADD(rec, "dies", JI(r.dies));
	JADD(rec, "cores", JI(r.cores));
	JADD(rec, "threads", JI(r.threads));
	JADD(rec, "vcpus", JI(r.cores * r.threads));
	JADD(rec, "memory_kib", JI(r.memory_kib));
	JADD(rec, "reason", JS(r.reason));
	JADD(root, "recommended", rec);

	json_object *arr = json_object_new_array();
	int counts[4] = {0};
	for (size_t i = 0; i < cs->n; i++) {
		const struct dk_check *k = &cs->v[i];
		json_object *e = json_object_new_object();
		JADD(e, "id", JS(k->id));
		JADD(e, "group", JS(k->group));
		JADD(e, "status", JS(dk_check_status_name(k->status)));
		JADD(e, "summary", JS(k->summary));
		JADD(e, "detail", JS(k->detail));
		JADD(e, "fix", JS(k->fix));
		JADD(e, "live", JB(k->live));
		json_object_array_add(arr, e);
		counts[k->status]++;
	}
	JADD(root, "checks", arr);
	json_object *sum = json_object_new_object();
	for (int i = 0; i < 4; i++)
		JADD(sum, dk_check_status_name(i), JI(counts[i]));
	JADD(root, "summary", sum);
	return root;
}
