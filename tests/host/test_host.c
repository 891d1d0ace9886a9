/* host area: probes on fixture sysroots, verdicts and fix texts, the
 * recommended topology, PCI/IOMMU groups, report sanitizing, bad input. */
#include "t.h"
#include "host/host.h"
#include "host/pci.h"
#include "host/report.h"
#include "host/users.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/cleanup.h"
#include "util/mem.h"
#include "util/paths.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy a fixture into the scratch dir (git does not keep /dev/kvm's mode). */
static char *fixture(const char *name)
{
	char *dst = dk_asprintf("%s/%s", t_tmpdir(), name);
	if (!dk_path_exists(dst)) {
		char *cmd = dk_asprintf("cp -a '%s/tests/fixtures/host/%s' '%s' && { [ ! -e '%s/dev/kvm' ] || chmod 0660 '%s/dev/kvm'; }",
					t_srcdir(), name, dst, dst, dst);
		if (system(cmd) != 0)
			fprintf(stderr, "  cannot copy fixture %s\n", name);
		free(cmd);
	}
	return dst;
}

static struct dk_host *probe(const char *name, const char *user, int *rc)
{
	char *root = fixture(name);
	setenv("DKVM_USER", user, 1);
	dk_set_sysroot(root);
	struct dk_host *h = dk_calloc(1, sizeof *h);
	int r = dk_host_probe(h);
	if (rc)
		*rc = r;
	free(root);
	return h;
}

static void done(struct dk_host *h)
{
	dk_host_free(h);
	free(h);
	dk_set_sysroot(NULL);
}

static const struct dk_check *find(const struct dk_checks *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].id, id))
			return &c->v[i];
	fprintf(stderr, "  no check %s\n", id);
	return NULL;
}

static enum dk_check_status st(const struct dk_checks *c, const char *id)
{
	const struct dk_check *k = find(c, id);
	return k ? k->status : (enum dk_check_status)-1;
}

static const char *fix(const struct dk_checks *c, const char *id)
{
	const struct dk_check *k = find(c, id);
	return k && k->fix ? k->fix : "";
}

TEST(cpulist)
{
	int v[64];
	CHECK_INT(dk_parse_cpulist("0-5,12-17", v, 64), 12);
	CHECK_INT(v[6], 12);
	CHECK_INT(dk_parse_cpulist("3", v, 64), 1);
	CHECK_INT(dk_parse_cpulist("", v, 64), 0);
	CHECK_INT(dk_parse_cpulist("0-", v, 64), -1);
	CHECK_INT(dk_parse_cpulist("5-3", v, 64), -1);
	CHECK_INT(dk_parse_cpulist("a,b", v, 64), -1);
	CHECK_INT(dk_parse_cpulist("0-100", v, 64), -1);
}

TEST(intel_desktop)
{
	int rc;
	struct dk_host *h = probe("intel-desktop", "alice", &rc);
	CHECK_INT(rc, 0);
	CHECK_INT(h->cpu.vendor, DK_VENDOR_INTEL);
	CHECK_STR(h->cpu.model_name, "Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz");
	CHECK_INT(h->cpu.family, 6);
	CHECK_INT(h->cpu.model, 158);
	CHECK(h->cpu.vmx && !h->cpu.svm);
	CHECK_INT(h->cpu.logical, 16);
	CHECK_INT(h->cpu.sockets, 1);
	CHECK_INT(h->cpu.cores, 8);
	CHECK_INT(h->cpu.threads_per_core, 2);
	CHECK(h->cpu.smt && !h->cpu.hybrid);
	CHECK_INT(h->cpu.n_l3, 1);
	CHECK_INT(h->cpu.sibling_of[9], 1);
	CHECK(h->iommu.enabled);
	CHECK_INT(h->iommu.groups, 5);
	CHECK(h->iommu.cmdline_intel_iommu_on && h->iommu.cmdline_iommu_pt);
	CHECK_INT(h->iommu.irq_remapping, 1);
	CHECK_STR(h->distro_id, "arch");
	CHECK_STR(h->bootloader, "grub");
	CHECK_STR(h->grub_cmdline, "intel_iommu=on iommu=pt");
	CHECK_STR(h->qemu.ovmf_code, "/usr/share/edk2/x64/OVMF_CODE.4m.fd");
	CHECK_STR(h->qemu.ovmf_vars, "/usr/share/edk2/x64/OVMF_VARS.4m.fd");
	CHECK(h->qemu.ovmf_4m && !h->qemu.ovmf_secboot);
	CHECK(h->kvm.dev_present && h->kvm.dev_access);
	CHECK_INT(h->kvm.ignore_msrs, 1);
	CHECK_INT(h->kvm.nested, 1);
	CHECK(h->libvirt.user_in_kvm && h->libvirt.user_in_libvirt && h->libvirt.virt_manager);
	CHECK_INT(h->mem.total_kib, 32ull * 1024 * 1024);
	struct dk_topology_rec r;
	dk_host_recommend(h, &r);
	CHECK_INT(r.sockets, 1);
	CHECK_INT(r.dies, 1);
	CHECK_INT(r.cores, 4);
	CHECK_INT(r.threads, 2);
	CHECK_INT(r.memory_kib, 8ull * 1024 * 1024);
	CHECK_CONTAINS(r.reason, "8-15 host cores -> 4");
	struct dk_checks c;
	dk_host_checks(h, &c);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].status == DK_CHECK_FAIL || c.v[i].status == DK_CHECK_WARN)
			fprintf(stderr, "  unexpected %s: %s\n", c.v[i].id, c.v[i].summary), t_case_failed = 1;
	CHECK_INT(st(&c, "kvm.smoke"), DK_CHECK_SKIP);
	CHECK_INT(st(&c, "qemu.applesmc"), DK_CHECK_SKIP);
	CHECK_INT(st(&c, "iommu.enabled"), DK_CHECK_PASS);
	CHECK_INT(st(&c, "macos.isa"), DK_CHECK_PASS);
	dk_checks_free(&c);
	done(h);
}

TEST(intel_desktop_json)
{
	struct dk_host *h = probe("intel-desktop", "alice", NULL);
	struct dk_checks c;
	dk_host_checks(h, &c);
	json_object *o = dk_host_check_json(h, &c), *x, *y;
	CHECK(json_object_object_get_ex(o, "host", &x) && json_object_object_get_ex(x, "cpu", &y));
	json_object *v;
	CHECK(json_object_object_get_ex(y, "vendor", &v) && !strcmp(json_object_get_string(v), "GenuineIntel"));
	CHECK(json_object_object_get_ex(y, "threads", &v) && json_object_get_int(v) == 16);
	CHECK(json_object_object_get_ex(y, "l3_domains", &v) && json_object_array_length(v) == 1);
	CHECK(json_object_object_get_ex(o, "recommended", &x) && json_object_object_get_ex(x, "cores", &v) &&
	      json_object_get_int(v) == 4);
	CHECK(json_object_object_get_ex(o, "macos_support", &x) && json_object_array_length(x) > 10);
	CHECK(json_object_object_get_ex(o, "checks", &x) && json_object_array_length(x) == c.n);
	json_object_put(o);
	dk_checks_free(&c);
	done(h);
}

TEST(numa_nodes)
{
	/* two sockets, two nodes: each CPU's node from nodeN/cpulist */
	struct dk_host *h = probe("xeon-2s", "alice", NULL);
	CHECK_INT(h->cpu.numa_nodes, 2);
	CHECK(h->cpu.numa_cpus_known);
	CHECK_INT(h->cpu.numa_node_of[0], 0);
	CHECK_INT(h->cpu.numa_node_of[7], 0);
	CHECK_INT(h->cpu.numa_node_of[8], 1);
	CHECK_INT(h->cpu.numa_node_of[16], 0);
	CHECK_INT(h->cpu.numa_node_of[31], 1);
	done(h);
	h = probe("amd-ryzen", "bob", NULL);
	CHECK_INT(h->cpu.numa_nodes, 1);
	CHECK(h->cpu.numa_cpus_known);
	CHECK_INT(h->cpu.numa_node_of[23], 0);
	done(h);
	/* a node list that leaves an online CPU out: nodes counted, CPUs unknown */
	char *root = fixture("xeon-2s");
	char *f = dk_asprintf("%s/sys/devices/system/node/node1/cpulist", root);
	CHECK(dk_write_file_atomic(f, "8-15,24-30\n", 11, true, 0644) == 0);
	h = probe("xeon-2s", "alice", NULL);
	CHECK_INT(h->cpu.numa_nodes, 2);
	CHECK(!h->cpu.numa_cpus_known);
	CHECK_INT(h->cpu.numa_node_of[8], 0);
	done(h);
	CHECK(dk_write_file_atomic(f, "8-15,24-31\n", 11, true, 0644) == 0);
	free(f);
	free(root);
}

TEST(amd_ryzen)
{
	struct dk_host *h = probe("amd-ryzen", "bob", NULL);
	CHECK_INT(h->cpu.vendor, DK_VENDOR_AMD);
	CHECK(h->cpu.svm);
	CHECK_INT(h->cpu.logical, 24);
	CHECK_INT(h->cpu.cores, 12);
	CHECK_INT(h->cpu.threads_per_core, 2);
	CHECK_INT(h->cpu.n_l3, 2);
	if (h->cpu.n_l3 == 2) {
		CHECK_INT(h->cpu.l3_cpus[0][0], 0);
		CHECK_INT(h->cpu.l3_cpus[0][6], 12);
		CHECK_INT(h->cpu.l3_cpus[0][12], -1);
		CHECK_INT(h->cpu.l3_cpus[1][0], 6);
	}
	CHECK_INT(h->cpu.sibling_of[18], 6);
	CHECK_STR(h->clocksource, "hpet");
	CHECK_STR(h->cpu.isolcpus, "6-11,18-23");
	CHECK_INT(h->kvm.ignore_msrs, 0);
	CHECK_INT(h->kvm.nested, 1);
	CHECK_STR(h->distro_family, "fedora");
	CHECK(h->iommu.enabled && !h->iommu.cmdline_iommu_pt);
	CHECK(h->libvirt.user_in_kvm && !h->libvirt.user_in_libvirt);
	struct dk_topology_rec r;
	dk_host_recommend(h, &r);
	CHECK_INT(r.cores, 4);
	CHECK_INT(r.threads, 2);
	CHECK_INT(r.memory_kib, 16ull * 1024 * 1024);
	CHECK_CONTAINS(r.reason, "fits in one of the 2 L3 domains (6 cores each): pin it to one, e.g. CPUs 6-11,18-23");
	CHECK_CONTAINS(r.reason, "isolates CPUs 6-11,18-23");
	struct dk_checks c;
	dk_host_checks(h, &c);
	CHECK_INT(st(&c, "tsc"), DK_CHECK_WARN);
	CHECK_CONTAINS(find(&c, "topo.layout")->detail, "isolcpus=6-11,18-23");
	CHECK_CONTAINS(fix(&c, "tsc"), "GRUB_CMDLINE_LINUX=\"rhgb quiet tsc=reliable clocksource=tsc\"");
	CHECK_CONTAINS(fix(&c, "tsc"), "sudo grub2-mkconfig -o /boot/grub2/grub.cfg");
	CHECK_CONTAINS(find(&c, "tsc")->detail, "Ventura");
	CHECK_INT(st(&c, "kvm.msrs"), DK_CHECK_WARN);
	CHECK_CONTAINS(fix(&c, "kvm.msrs"), "/etc/modprobe.d/kvm.conf");
	CHECK_CONTAINS(fix(&c, "kvm.msrs"), "options kvm ignore_msrs=1 report_ignored_msrs=0");
	CHECK_INT(st(&c, "iommu.cmdline"), DK_CHECK_WARN);
	CHECK_CONTAINS(fix(&c, "iommu.cmdline"), "GRUB_CMDLINE_LINUX=\"rhgb quiet iommu=pt\"");
	CHECK(!strstr(fix(&c, "iommu.cmdline"), "amd_iommu"));
	CHECK_INT(st(&c, "ovmf"), DK_CHECK_WARN);
	CHECK_STR(fix(&c, "ovmf"), "sudo dnf install edk2-ovmf");
	CHECK_INT(st(&c, "user.groups"), DK_CHECK_WARN);
	CHECK_CONTAINS(fix(&c, "user.groups"), "sudo usermod -a -G libvirt bob");
	CHECK_STR(fix(&c, "virt_manager"), "sudo dnf install virt-manager");
	CHECK_INT(st(&c, "kvm.dev"), DK_CHECK_PASS);
	dk_checks_free(&c);
	done(h);
}

TEST(iommu_off)
{
	struct dk_host *h = probe("iommu-off", "carol", NULL);
	CHECK(!h->iommu.enabled);
	CHECK_INT(h->iommu.groups, 0);
	CHECK(!h->cpu.smt);
	CHECK_INT(h->cpu.cores, 4);
	struct dk_topology_rec r;
	dk_host_recommend(h, &r);
	CHECK_INT(r.cores, 2);
	CHECK_INT(r.threads, 1);
	CHECK_INT(r.memory_kib, 4ull * 1024 * 1024);
	struct dk_checks c;
	dk_host_checks(h, &c);
	CHECK_INT(st(&c, "iommu.enabled"), DK_CHECK_FAIL);
	CHECK_CONTAINS(fix(&c, "iommu.enabled"), "enable \"VT-d\"");
	CHECK_INT(st(&c, "iommu.cmdline"), DK_CHECK_FAIL);
	CHECK_CONTAINS(fix(&c, "iommu.cmdline"), "edit /etc/default/grub: GRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\"");
	CHECK_CONTAINS(fix(&c, "iommu.cmdline"), "then run: sudo update-grub");
	CHECK_INT(st(&c, "iommu.irq_remap"), DK_CHECK_SKIP);
	CHECK_INT(st(&c, "user.groups"), DK_CHECK_WARN);
	CHECK_CONTAINS(fix(&c, "user.groups"), "sudo usermod -a -G kvm carol");
	CHECK_INT(st(&c, "kvm.dev"), DK_CHECK_FAIL);
	dk_checks_free(&c);
	done(h);
}

TEST(no_kvm)
{
	struct dk_host *h = probe("no-kvm", "dave", NULL);
	CHECK(!h->cpu.vmx && !h->kvm.dev_present && !h->kvm.module_loaded);
	CHECK_STR(h->bootloader, "kernelstub");
	CHECK_STR(h->distro_family, "debian");
	struct dk_topology_rec r;
	dk_host_recommend(h, &r);
	CHECK_INT(r.cores, 2);
	CHECK_INT(r.threads, 2);
	struct dk_checks c;
	dk_host_checks(h, &c);
	CHECK_INT(st(&c, "cpu.virt"), DK_CHECK_FAIL);
	CHECK_CONTAINS(fix(&c, "cpu.virt"), "Intel Virtualization Technology");
	CHECK_INT(st(&c, "kvm.dev"), DK_CHECK_FAIL);
	CHECK_CONTAINS(fix(&c, "kvm.dev"), "sudo modprobe kvm_intel");
	CHECK_INT(st(&c, "kvm.msrs"), DK_CHECK_SKIP);
	CHECK_CONTAINS(fix(&c, "iommu.cmdline"), "sudo kernelstub -a \"intel_iommu=on iommu=pt\"");
	CHECK_INT(st(&c, "ovmf"), DK_CHECK_FAIL);
	CHECK_STR(fix(&c, "ovmf"), "sudo apt install ovmf");
	dk_checks_free(&c);
	done(h);
}

TEST(intel_hybrid)
{
	struct dk_host *h = probe("intel-hybrid", "erin", NULL);
	CHECK(h->cpu.hybrid && h->cpu.p_smt);
	CHECK_INT(h->cpu.p_cores, 8);
	CHECK_INT(h->cpu.e_cores, 4);
	CHECK_INT(h->cpu.cores, 12);
	CHECK_INT(h->cpu.logical, 20);
	CHECK_STR(h->bootloader, "systemd-boot");
	CHECK_STR(h->bootloader_file, "/boot/loader/entries/arch.conf");
	CHECK_INT(h->mem.hugepages_2m, 4096);
	CHECK_INT(h->mem.hugepages_2m_free, 4000);
	CHECK_INT(h->mem.hugepages_1g, 2);
	struct dk_topology_rec r;
	dk_host_recommend(h, &r);
	CHECK_INT(r.cores, 4);
	CHECK_INT(r.threads, 2);
	struct dk_checks c;
	dk_host_checks(h, &c);
	CHECK_INT(st(&c, "topo.hybrid"), DK_CHECK_WARN);
	CHECK_CONTAINS(find(&c, "mem.hugepages")->summary, "4096 x 2M (4000 free), 2 x 1G (2 free)");
	CHECK_CONTAINS(fix(&c, "topo.hybrid"), "P-core CPUs 0-15");
	CHECK_INT(st(&c, "iommu.cmdline"), DK_CHECK_WARN);
	CHECK_CONTAINS(fix(&c, "iommu.cmdline"), "edit /boot/loader/entries/arch.conf: append \"iommu=pt\" to the options line");
	CHECK_INT(st(&c, "ovmf"), DK_CHECK_WARN);
	CHECK_STR(fix(&c, "ovmf"), "sudo pacman -S --needed edk2-ovmf");
	dk_checks_free(&c);
	done(h);
}

TEST(broken_fixture)
{
	int rc;
	struct dk_host *h = probe("broken", "root", &rc);
	CHECK_INT(rc, -1);
	CHECK_CONTAINS(dk_errmsg(), "/proc/cpuinfo");
	struct dk_checks c;
	dk_host_checks(h, &c);
	CHECK_INT(st(&c, "cpu.model"), DK_CHECK_FAIL);
	CHECK_INT(st(&c, "mem.total"), DK_CHECK_FAIL);
	CHECK_INT(st(&c, "macos.isa"), DK_CHECK_SKIP);
	json_object *o = dk_host_check_json(h, &c);
	CHECK(o != NULL);
	json_object_put(o);
	dk_checks_free(&c);
	done(h);
	struct dk_pci p;
	char *fr = fixture("broken");
	dk_set_sysroot(fr);
	free(fr);
	CHECK_INT(dk_pci_scan(&p), 0);
	CHECK_INT(p.ngroups, 0);
	dk_pci_free(&p);
	dk_set_sysroot(NULL);
}

/* plain overwrite (no fsync: tests rewrite files many times) */
static void overwrite(const char *p, const void *d, size_t n)
{
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(d, 1, n, f) != n)
		fprintf(stderr, "  cannot write %s\n", p), t_case_failed = 1;
	if (f)
		fclose(f);
}

static char *mkroot(const char *name)
{
	char *r = dk_asprintf("%s/%s", t_tmpdir(), name);
	char *d = dk_asprintf("%s/proc", r);
	dk_mkdir_p(d, 0755);
	free(d);
	return r;
}

static void put(const char *root, const char *rel, const char *text, size_t len)
{
	char *p = dk_asprintf("%s%s", root, rel);
	char *dir = dk_strdup(p);
	*strrchr(dir, '/') = '\0';
	dk_mkdir_p(dir, 0755);
	dk_write_file_atomic(p, text, len, true, 0644);
	free(dir);
	free(p);
}

TEST(truncated_cpuinfo)
{
	char *r = mkroot("trunc");
	static const char t[] = "processor\t: 0\nvendor_id\t: Genu";
	put(r, "/proc/cpuinfo", t, sizeof t - 1);
	dk_set_sysroot(r);
	struct dk_host h;
	CHECK_INT(dk_host_probe(&h), -1);
	CHECK_CONTAINS(dk_errmsg(), "no vendor_id or flags line");
	CHECK_INT(h.cpu.logical, 1); /* guessed from cpuinfo */
	dk_host_free(&h);
	static const char bin[] = "processor\t: 0\n\0\0\xff";
	put(r, "/proc/cpuinfo", bin, sizeof bin);
	CHECK_INT(dk_host_probe(&h), -1);
	CHECK_CONTAINS(dk_errmsg(), "binary data");
	dk_host_free(&h);
	put(r, "/proc/cpuinfo", "", 0);
	CHECK_INT(dk_host_probe(&h), -1);
	CHECK_CONTAINS(dk_errmsg(), "no 'processor' entries");
	dk_host_free(&h);
	dk_set_sysroot(NULL);
	free(r);
}

TEST(missing_sysfs)
{
	char *r = mkroot("nosys");
	static const char ci[] = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: X\nphysical id\t: 0\ncore id\t: 0\n"
				 "flags\t\t: svm lm ssse3 sse4_1 sse4_2 avx2 constant_tsc nonstop_tsc\n\n"
				 "processor\t: 1\nvendor_id\t: AuthenticAMD\nphysical id\t: 0\ncore id\t: 0\n";
	put(r, "/proc/cpuinfo", ci, sizeof ci - 1);
	dk_set_sysroot(r);
	struct dk_host h;
	CHECK_INT(dk_host_probe(&h), 0);
	CHECK(!h.cpu.topo_from_sysfs);
	CHECK_INT(h.cpu.logical, 2);
	CHECK_INT(h.cpu.cores, 1);
	CHECK(h.cpu.smt);
	CHECK_INT(h.kvm.ignore_msrs, -1);
	struct dk_checks c;
	dk_host_checks(&h, &c);
	CHECK_INT(st(&c, "topo.layout"), DK_CHECK_WARN);
	CHECK_INT(st(&c, "tsc"), DK_CHECK_WARN); /* clocksource unknown */
	CHECK_INT(st(&c, "kvm.msrs"), DK_CHECK_SKIP);
	CHECK_INT(st(&c, "macos.isa"), DK_CHECK_PASS);
	dk_checks_free(&c);
	dk_host_free(&h);
	dk_set_sysroot(NULL);
	free(r);
}

TEST(unreadable_kvm)
{
	char *root = fixture("intel-desktop");
	char *kvm = dk_asprintf("%s/dev/kvm", root);
	chmod(kvm, 0);
	setenv("DKVM_USER", "mallory", 1);
	dk_set_sysroot(root);
	struct dk_host h;
	dk_host_probe(&h);
	CHECK(h.kvm.dev_present && !h.kvm.dev_access);
	struct dk_checks c;
	dk_host_checks(&h, &c);
	CHECK_INT(st(&c, "kvm.dev"), DK_CHECK_FAIL);
	CHECK_CONTAINS(find(&c, "kvm.dev")->summary, "not accessible to mallory");
	CHECK_CONTAINS(fix(&c, "kvm.dev"), "sudo usermod -a -G kvm mallory");
	dk_checks_free(&c);
	dk_host_free(&h);
	chmod(kvm, 0660);
	dk_set_sysroot(NULL);
	free(kvm);
	free(root);
}

TEST(kvm_smoke_errors)
{
	char d[256];
	CHECK_INT(dk_kvm_smoke("/nonexistent/kvm", 2000, d, sizeof d), 0);
	CHECK_CONTAINS(d, "open /nonexistent/kvm: No such file or directory");
	CHECK_INT(dk_kvm_smoke("/dev/null", 2000, d, sizeof d), 0);
	CHECK_CONTAINS(d, "KVM_GET_API_VERSION");
	char *f = dk_asprintf("%s/notkvm", t_tmpdir());
	dk_write_file_atomic(f, "x", 1, true, 0600);
	CHECK_INT(dk_kvm_smoke(f, 2000, d, sizeof d), 0);
	CHECK_CONTAINS(d, "KVM_GET_API_VERSION");
	free(f);
	/* the real device: either result, always with a reason */
	if (access("/dev/kvm", R_OK | W_OK) == 0) {
		int ok = dk_kvm_smoke("/dev/kvm", 5000, d, sizeof d);
		CHECK(ok == 0 || ok == 1);
		CHECK(d[0] != '\0');
		if (ok)
			CHECK_CONTAINS(d, "KVM_EXIT_HLT");
		printf("# live KVM smoke: %s: %s\n", ok ? "pass" : "fail", d);
	}
}

static struct dk_host *synth(int cores, bool smt, uint64_t mem_gib)
{
	struct dk_host *h = dk_calloc(1, sizeof *h);
	h->cpu.cores = cores;
	h->cpu.smt = smt;
	h->cpu.logical = smt ? cores * 2 : cores;
	h->mem.total_kib = mem_gib * 1024 * 1024;
	return h;
}

TEST(recommend_sizing)
{
	static const struct {
		int host, guest;
	} t[] = {{1, 1}, {2, 1}, {3, 2}, {4, 2}, {5, 2}, {6, 2}, {7, 2}, {8, 4}, {12, 4}, {15, 4}, {16, 8}, {64, 8}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct dk_host *h = synth(t[i].host, true, 32);
		struct dk_topology_rec r;
		dk_host_recommend(h, &r);
		if (r.cores != t[i].guest)
			fprintf(stderr, "  host %d cores -> %d, expected %d\n", t[i].host, r.cores, t[i].guest), t_case_failed = 1;
		CHECK(r.cores < t[i].host || t[i].host == 1);
		CHECK((r.cores & (r.cores - 1)) == 0);
		CHECK_INT(r.threads, 2);
		CHECK_INT(r.sockets, 1);
		free(h);
	}
	struct dk_host *h = synth(8, false, 8);
	struct dk_topology_rec r;
	dk_host_recommend(h, &r);
	CHECK_INT(r.threads, 1);
	CHECK_INT(r.memory_kib, 4ull * 1024 * 1024); /* floor */
	CHECK_CONTAINS(r.reason, "4 GiB floor");
	free(h);
	h = synth(8, true, 128);
	dk_host_recommend(h, &r);
	CHECK_INT(r.memory_kib, 32ull * 1024 * 1024);
	free(h);
}

TEST(distro_families)
{
	static const struct {
		const char *osr, *fam, *regen;
	} t[] = {
		{"ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", "debian", "sudo update-grub"},
		{"ID=nobara\nID_LIKE=\"rhel centos fedora\"\n", "fedora", "sudo grub2-mkconfig -o /boot/grub2/grub.cfg"},
		{"ID=endeavouros\nID_LIKE=arch\n", "arch", "sudo grub-mkconfig -o /boot/grub/grub.cfg"},
		{"ID=debian\n", "debian", "sudo update-grub"},
		{"ID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\n", "", "sudo grub-mkconfig -o /boot/grub/grub.cfg"},
	};
	char *r = mkroot("distros");
	put(r, "/etc/default/grub", "GRUB_CMDLINE_LINUX=\"\"\n", 22);
	dk_set_sysroot(r);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		put(r, "/etc/os-release", t[i].osr, strlen(t[i].osr));
		struct dk_host *h = dk_calloc(1, sizeof *h);
		dk_host_probe(h);
		CHECK_STR(h->distro_family, t[i].fam);
		CHECK_STR(h->bootloader, "grub");
		char *f = dk_host_kernel_param_fix(h, "iommu=pt");
		CHECK_CONTAINS(f, t[i].regen);
		free(f);
		struct dk_checks c;
		dk_host_checks(h, &c);
		CHECK_INT(st(&c, "distro"), t[i].fam[0] ? DK_CHECK_PASS : DK_CHECK_WARN);
		dk_checks_free(&c);
		dk_host_free(h);
		free(h);
	}
	dk_set_sysroot(NULL);
	free(r);
}

/* Mutated copies of real fixture files (flipped bytes, truncation): probing,
 * checks, JSON and the PCI scan must never crash and always give an answer. */
TEST(mutated_inputs)
{
	static const char *files[] = {
		"/proc/cpuinfo", "/proc/meminfo", "/proc/cmdline", "/etc/os-release", "/etc/default/grub", "/etc/group",
		"/sys/devices/system/cpu/cpu3/cache/index3/shared_cpu_list", "/sys/devices/system/cpu/cpu3/topology/core_id",
		"/usr/share/qemu/firmware/60-edk2-ovmf-x64.json", "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/class",
		"/sys/class/iommu/dmar0/intel-iommu/ecap", "/sys/module/kvm/parameters/ignore_msrs",
	};
	char *root = fixture("intel-desktop");
	char *orig[DK_ARRAY_SIZE(files)];
	size_t olen[DK_ARRAY_SIZE(files)];
	for (size_t i = 0; i < DK_ARRAY_SIZE(files); i++) {
		char *p = dk_asprintf("%s%s", root, files[i]);
		orig[i] = NULL;
		olen[i] = 0;
		if (dk_read_file(p, &orig[i], &olen[i], 1 << 20) < 0)
			fprintf(stderr, "  missing %s\n", p), t_case_failed = 1;
		free(p);
	}
	unsigned seed = 12345;
	dk_set_sysroot(root);
	setenv("DKVM_USER", "alice", 1);
	for (int it = 0; it < 100; it++) {
		for (size_t i = 0; i < DK_ARRAY_SIZE(files); i++) {
			if (!orig[i])
				continue;
			char *d = dk_malloc(olen[i] + 1);
			memcpy(d, orig[i], olen[i]);
			size_t n = olen[i];
			seed = seed * 1103515245 + 12345;
			if (seed % 3 == 0 && n)
				n = (seed >> 8) % n; /* truncate */
			for (int k = 0; k < 4 && n; k++) {
				seed = seed * 1103515245 + 12345;
				d[(seed >> 8) % n] = (char)(seed >> 20);
			}
			char *p = dk_asprintf("%s%s", root, files[i]);
			overwrite(p, d, n);
			free(p);
			free(d);
		}
		struct dk_host *h = dk_calloc(1, sizeof *h);
		int rc = dk_host_probe(h);
		CHECK(rc == 0 || rc == -1);
		struct dk_checks c;
		dk_host_checks(h, &c);
		CHECK(c.n > 20);
		json_object *o = dk_host_check_json(h, &c);
		CHECK(o != NULL);
		json_object_put(o);
		dk_checks_free(&c);
		dk_host_free(h);
		free(h);
		struct dk_pci pc;
		CHECK_INT(dk_pci_scan(&pc), 0);
		o = dk_pci_json(&pc);
		json_object_put(o);
		dk_pci_free(&pc);
	}
	for (size_t i = 0; i < DK_ARRAY_SIZE(files); i++) {
		if (orig[i]) {
			char *p = dk_asprintf("%s%s", root, files[i]);
			overwrite(p, orig[i], olen[i]);
			free(p);
		}
		free(orig[i]);
	}
	dk_set_sysroot(NULL);
	free(root);
}

TEST(kernel_param_fix)
{
	struct dk_host *h = dk_calloc(1, sizeof *h);
	snprintf(h->bootloader, sizeof h->bootloader, "grub");
	snprintf(h->distro_family, sizeof h->distro_family, "debian");
	snprintf(h->grub_cmdline_default, sizeof h->grub_cmdline_default, "quiet splash iommu=pt");
	char *f = dk_host_kernel_param_fix(h, "intel_iommu=on iommu=pt");
	CHECK_CONTAINS(f, "GRUB_CMDLINE_LINUX=\"intel_iommu=on\"\nthen run: sudo update-grub");
	free(f);
	snprintf(h->grub_cmdline, sizeof h->grub_cmdline, "intel_iommu=on");
	f = dk_host_kernel_param_fix(h, "intel_iommu=on iommu=pt");
	CHECK_CONTAINS(f, "already in /etc/default/grub but not in the running kernel's command line\nrun: sudo update-grub");
	free(f);
	snprintf(h->distro_family, sizeof h->distro_family, "arch");
	f = dk_host_kernel_param_fix(h, "tsc=reliable");
	CHECK_CONTAINS(f, "GRUB_CMDLINE_LINUX=\"intel_iommu=on tsc=reliable\"\nthen run: sudo grub-mkconfig -o /boot/grub/grub.cfg");
	free(f);
	snprintf(h->bootloader, sizeof h->bootloader, "unknown");
	f = dk_host_kernel_param_fix(h, "iommu=pt");
	CHECK_CONTAINS(f, "add \"iommu=pt\" to the kernel command line");
	free(f);
	free(h);
}

TEST(pci_intel_desktop)
{
	char *fr = fixture("intel-desktop");
	dk_set_sysroot(fr);
	free(fr);
	struct dk_pci p;
	CHECK_INT(dk_pci_scan(&p), 0);
	CHECK_INT(p.ndev, 10);
	CHECK_INT(p.ngroups, 5);
	int gpu = dk_pci_find(&p, "01:00.0");
	CHECK(gpu >= 0);
	if (gpu >= 0) {
		CHECK_STR(p.devs[gpu].driver, "amdgpu");
		CHECK_INT(p.devs[gpu].boot_vga, 1);
		CHECK_INT(p.devs[gpu].group, 1);
		CHECK_INT(p.devs[gpu].vendor, 0x1002);
		CHECK_INT(p.devs[gpu].device, 0x73ff);
		CHECK_INT(p.devs[gpu].sub_device, 0xe445);
		CHECK(p.devs[gpu].audio_pair == dk_pci_find(&p, "0000:01:00.1"));
		CHECK_STR(p.devs[gpu].reset_method, "bus");
	}
	for (int g = 0; g < p.ngroups; g++) {
		bool want = p.groups[g].id == 1 || p.groups[g].id == 2 || p.groups[g].id == 4;
		if (p.groups[g].viable != want)
			fprintf(stderr, "  group %d viable=%d\n", p.groups[g].id, p.groups[g].viable), t_case_failed = 1;
	}
	char *ids = dk_pci_vfio_ids(&p, "0000:01:00.0");
	CHECK_STR(ids, "vfio-pci.ids=1002:73ff,1002:ab28");
	free(ids);
	ids = dk_pci_vfio_ids(&p, "01:00.1");
	CHECK_STR(ids, "vfio-pci.ids=1002:73ff,1002:ab28");
	free(ids);
	CHECK(dk_pci_vfio_ids(&p, "07:00.0") == NULL);
	CHECK_CONTAINS(dk_errmsg(), "07:00.0: no such PCI device");
	CHECK(dk_pci_vfio_ids(&p, "00:01.0") == NULL);
	CHECK_CONTAINS(dk_errmsg(), "never passed through");
	CHECK(dk_pci_vfio_ids(&p, "garbage") == NULL);
	dk_pci_free(&p);
	dk_set_sysroot(NULL);
}

TEST(pci_amd_ignored_classes)
{
	char *fr = fixture("amd-ryzen");
	dk_set_sysroot(fr);
	free(fr);
	struct dk_pci p;
	CHECK_INT(dk_pci_scan(&p), 0);
	for (int g = 0; g < p.ngroups; g++) {
		if (p.groups[g].id == 2)
			CHECK(p.groups[g].viable); /* USB beside 1300 + 1080 */
		if (p.groups[g].id == 3) {
			CHECK(!p.groups[g].viable); /* NIC + SATA */
			CHECK_CONTAINS(p.groups[g].reason, "0000:06:00.0");
		}
	}
	CHECK(dk_pci_class_ignored(0x130000) && dk_pci_class_ignored(0x108000) && dk_pci_class_ignored(0x060100));
	CHECK(!dk_pci_class_ignored(0x0c0330) && !dk_pci_class_ignored(0x040300));
	char *ids = dk_pci_vfio_ids(&p, "0d:00.3");
	CHECK_STR(ids, "vfio-pci.ids=1022:149c");
	free(ids);
	dk_pci_free(&p);
	dk_set_sysroot(NULL);
}

TEST(sanitize)
{
	static const char cmd[] = "root=UUID=3f2a9c1e-5b7d-4e21-9a0c-7d1e2f3a4b5c ro mac=00:1A:2b:3c:4D:5e intel_iommu=on\n";
	size_t n;
	char *s = dk_report_sanitize(NULL, "/proc/cmdline", cmd, sizeof cmd - 1, &n);
	CHECK_STR(s, "root=REDACTED ro mac=00:00:00:00:00:00 intel_iommu=on\n");
	CHECK_INT(n, strlen(s));
	free(s);
	static const char grub[] = "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"iommu=pt resume=UUID=ABCD-1234\"\nGRUB_PASSWORD=secret\n";
	s = dk_report_sanitize(NULL, "/etc/default/grub", grub, sizeof grub - 1, &n);
	CHECK_STR(s, "GRUB_CMDLINE_LINUX=\"iommu=pt resume=REDACTED\"\n");
	free(s);
	static const char grp[] = "root:x:0:\nkvm:x:992:alice\nwheel:x:998:alice\nlibvirt:x:961:alice";
	s = dk_report_sanitize(NULL, "/etc/group", grp, sizeof grp - 1, &n);
	CHECK_STR(s, "kvm:x:992:alice\nlibvirt:x:961:alice");
	free(s);
	/* a BDF is not a MAC, a version is not an address */
	static const char bdf[] = "0000:01:00.0 qemu 8.2.2 ubuntu 22.04.3 bogomips 7200.00";
	s = dk_report_sanitize(NULL, "/x", bdf, sizeof bdf - 1, &n);
	CHECK_STR(s, bdf);
	free(s);
	/* the scrubber: every kind of secret, in a JSON string too */
	struct dk_scrub sc = {.words = {"frodo-box"}, .n = 1};
	static const char js[] = "{\"cmdline\": \"BOOT_IMAGE=/vmlinuz ip=192.168.7.42::192.168.7.1:255.255.255.0:frodo-box:eth0:none "
				 "hostname=frodo-box BOOTIF=01-52-54-00-ab-cd-ef rd.luks.uuid=luks-3f2a9c1e iommu=pt\",\n"
				 " \"fix\": \"edit: GRUB_CMDLINE_LINUX=\\\"cryptdevice=PARTUUID=0a1b2c3d-02:root\\\"\\nthen 10.1.2.3 on frodo-box.lan "
				 "aa-bb-cc-dd-ee-ff\"}";
	s = dk_report_scrub(&sc, js, sizeof js - 1, &n);
	CHECK_STR(s, "{\"cmdline\": \"BOOT_IMAGE=/vmlinuz ip=REDACTED hostname=REDACTED BOOTIF=REDACTED rd.luks.uuid=REDACTED iommu=pt\",\n"
		     " \"fix\": \"edit: GRUB_CMDLINE_LINUX=\\\"cryptdevice=REDACTED\\\"\\nthen 00.0.0.0 on HOSTNAME.lan "
		     "00-00-00-00-00-00\"}");
	CHECK_INT(n, strlen(s));
	free(s);
	/* whole words only */
	s = dk_report_scrub(&sc, "frodo-boxes xfrodo-box frodo-box", 32, &n);
	CHECK_STR(s, "frodo-boxes xfrodo-box HOSTNAME");
	free(s);
	CHECK(dk_report_path_denied("/sys/class/dmi/id/product_serial"));
	CHECK(dk_report_path_denied("/etc/machine-id"));
	CHECK(dk_report_path_denied("/sys/class/net/eth0/address"));
	CHECK(!dk_report_path_denied("/proc/cpuinfo"));
}

/* the sysroot's passwd/group reader shared by the probes */
TEST(users_reader)
{
	static const char passwd[] = "# comment:x:0:0\nroot:x:0:0:root:/root:/bin/sh\n\nqemu:x:107:36::/:/bin/false\nshort:x\n";
	struct dk_users_ent e = {0};
	CHECK(dk_users_find(passwd, 0, "qemu", &e));
	CHECK_STR(e.f[2], "107");
	CHECK_STR(e.f[6], "/bin/false");
	CHECK_INT(e.n, 7);
	CHECK(dk_users_find(passwd, 2, "0", &e));
	CHECK_STR(e.f[0], "root");
	CHECK(!dk_users_find(passwd, 0, "# comment", &e)); /* comments are not entries */
	CHECK(dk_users_find(passwd, 0, "short", &e));
	CHECK_INT(e.n, 2);
	CHECK_STR(e.f[3], ""); /* fields the line lacks are empty */
	CHECK(!dk_users_find(passwd, 2, "x", &e));
	CHECK(!dk_users_find(NULL, 0, "root", &e));
	dk_users_ent_free(&e);
	CHECK(dk_users_list_has("kvm,libvirt", "libvirt"));
	CHECK(dk_users_list_has("kvm,,libvirt", "kvm"));
	CHECK(!dk_users_list_has("kvmx,libvirt-qemu", "kvm"));
	CHECK(!dk_users_list_has("", "kvm"));
	CHECK(!dk_users_list_has(NULL, "kvm"));
}

int main(void)
{
	RUN(cpulist);
	RUN(intel_desktop);
	RUN(intel_desktop_json);
	RUN(amd_ryzen);
	RUN(numa_nodes);
	RUN(iommu_off);
	RUN(no_kvm);
	RUN(intel_hybrid);
	RUN(broken_fixture);
	RUN(truncated_cpuinfo);
	RUN(missing_sysfs);
	RUN(unreadable_kvm);
	RUN(kvm_smoke_errors);
	RUN(recommend_sizing);
	RUN(distro_families);
	RUN(mutated_inputs);
	RUN(kernel_param_fix);
	RUN(pci_intel_desktop);
	RUN(pci_amd_ignored_classes);
	RUN(sanitize);
	RUN(users_reader);
	char *cmd = dk_asprintf("rm -rf '%s'", t_tmpdir());
	if (system(cmd) != 0)
		fprintf(stderr, "cannot clean %s\n", t_tmpdir());
	free(cmd);
	return t_done();
}
