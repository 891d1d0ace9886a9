/* vm: plans for fixture hosts (field by field), golden XML/argv, bad input.
 * DKVM_REGEN=1 rewrites the golden files under tests/vm/golden/ (review the diff). */
#include "t.h"
#include "vm/plan.h"
#include "vm/render.h"
#include "vm/vm.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "tune/pin.h"
#include "host/gpu.h"
#include "host/pci.h"
#include "smbios/macos.h"
#include "util/paths.h"

#include <stdbool.h>
#include <unistd.h>

/* ---- fixture hosts (C initializers) ---- */

#define COMMON_FLAGS "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm constant_tsc rep_good nopl nonstop_tsc cpuid pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt xsaveopt xsavec xgetbv1 arat"

/* AMD Ryzen 9 5900X: Zen 3, 12 cores / 24 threads, 2 CCX, 32 GiB. */
static const char amd_flags[] = COMMON_FLAGS " mmxext fxsr_opt pdpe1gb rdtscp svm extapic cr8_legacy sse4a misalignsse topoext perfctr_core clwb sha_ni pku ospke vaes vpclmulqdq ibrs ibpb stibp ssbd invpcid pcid erms";
/* Intel i9-12900K: Alder Lake, 8P (SMT) + 8E, 24 threads, 64 GiB. */
static const char hybrid_flags[] = COMMON_FLAGS " vmx pdpe1gb rdtscp pcid tsc_deadline_timer erms invpcid clwb sha_ni umip pku ospke gfni vaes vpclmulqdq movdiri movdir64b serialize ibrs ibpb stibp ssbd";
/* Intel i5-6600K: Skylake, 4 cores, no SMT, 16 GiB. */
static const char skylake_flags[] = COMMON_FLAGS " vmx pdpe1gb rdtscp pcid tsc_deadline_timer erms invpcid mpx ibrs ibpb stibp ssbd";
/* Intel Xeon Platinum (Cascade Lake), 32 cores / 64 threads, 256 GiB. */
static const char cascade_flags[] = COMMON_FLAGS " vmx pdpe1gb rdtscp pcid tsc_deadline_timer erms invpcid hle rtm avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni clwb pku ospke ibrs ibpb stibp ssbd";
/* Core 2 Duo E8400 (Penryn): SSE4.1, no SSE4.2, no AVX; 8 GiB. */
static const char penryn_flags[] = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm constant_tsc pni ssse3 cx16 sse4_1 lahf_lm vmx";

static void base_host(struct dk_facts *h, enum dk_cpu_vendor v, const char *flags, int logical, int cores, bool smt,
		      uint64_t mem_gib)
{
	memset(h, 0, sizeof *h);
	h->kvm_usable = true;
	h->host.cpu.vendor = v;
	snprintf(h->host.cpu.vendor_id, sizeof h->host.cpu.vendor_id, "%s", v == DK_VENDOR_AMD ? "AuthenticAMD" : "GenuineIntel");
	h->host.cpu.flags = (char *)flags;
	h->host.cpu.logical = logical;
	h->host.cpu.sockets = 1;
	h->host.cpu.cores = cores;
	h->host.cpu.threads_per_core = smt ? 2 : 1;
	h->host.cpu.smt = smt;
	h->host.mem.total_kib = mem_gib << 20;
	snprintf(h->host.qemu.path, sizeof h->host.qemu.path, "/usr/bin/qemu-system-x86_64");
	snprintf(h->host.qemu.ovmf_code, sizeof h->host.qemu.ovmf_code, "/usr/share/OVMF/OVMF_CODE_4M.fd");
	snprintf(h->host.qemu.ovmf_vars, sizeof h->host.qemu.ovmf_vars, "/usr/share/OVMF/OVMF_VARS_4M.fd");
}

static void host_amd(struct dk_facts *h) { base_host(h, DK_VENDOR_AMD, amd_flags, 24, 12, true, 32); h->host.cpu.n_l3 = 2; }
static void host_hybrid(struct dk_facts *h)
{
	base_host(h, DK_VENDOR_INTEL, hybrid_flags, 24, 16, true, 64);
	h->host.cpu.hybrid = true;
	h->host.cpu.p_cores = 8;
	h->host.cpu.e_cores = 8;
	h->host.cpu.p_smt = true;
}
static void host_4core(struct dk_facts *h) { base_host(h, DK_VENDOR_INTEL, skylake_flags, 4, 4, false, 16); }
static void host_64t(struct dk_facts *h) { base_host(h, DK_VENDOR_INTEL, cascade_flags, 64, 32, true, 256); }
static void host_penryn(struct dk_facts *h) { base_host(h, DK_VENDOR_INTEL, penryn_flags, 2, 2, false, 8); }

static struct dk_plan_opts opts(const char *name)
{
	return (struct dk_plan_opts){.name = name, .mac = "52:54:00:12:34:56",
				     .uuid = "6c1d6f2e-3b1a-4c8e-9f00-0123456789ab"};
}

static bool masked(const struct dk_plan *p, const char *f)
{
	for (int i = 0; i < p->n_masked; i++)
		if (!strcmp(p->masked[i], f))
			return true;
	return false;
}

/* ---- golden files ---- */

static char *read_all(const char *path)
{
	char *d = NULL;
	size_t n;
	if (dk_read_file(path, &d, &n, 1 << 22) < 0)
		return NULL;
	return d;
}

static void golden(const char *name, const char *actual)
{
	char *path = dk_asprintf("%s/tests/vm/golden/%s", t_srcdir(), name);
	if (getenv("DKVM_REGEN")) {
		CHECK(dk_write_file_atomic(path, actual, strlen(actual), true, 0644) == 0);
		fprintf(stderr, "  regenerated %s\n", path);
	} else {
		char *want = read_all(path);
		if (!want) {
			fprintf(stderr, "  %s: missing golden file (DKVM_REGEN=1 creates it)\n", path);
			t_case_failed = 1;
		} else if (strcmp(want, actual) != 0) {
			char *got = dk_asprintf("%s/%s.actual", t_tmpdir(), name);
			dk_write_file_atomic(got, actual, strlen(actual), true, 0644);
			fprintf(stderr, "  %s differs from the rendering; diff -u %s %s (DKVM_REGEN=1 to accept)\n", path,
				path, got);
			t_case_failed = 1;
			free(got);
		}
		free(want);
	}
	free(path);
}

static void render_goldens(const char *fixture, const struct dk_plan *p)
{
	char dir[256];
	snprintf(dir, sizeof dir, "/var/lib/dkvm/%s", p->name);
	char *oc = dk_asprintf("%s/OpenCore.img", dir), *disk = dk_asprintf("%s/disk.qcow2", dir),
	     *vars = dk_asprintf("%s/OVMF_VARS.fd", dir);
	struct dk_vm_files f = {.dir = dir, .opencore = oc, .disk = disk, .vars = vars};
	struct dk_argv a;
	struct dk_qemu_opts qo = {.display = DK_DISPLAY_VNC, .daemonize = true, .direct_io = true, .serial_file = true};
	CHECK(dk_qemu_argv(p, &f, &qo, &a) == 0);
	char *sh = dk_argv_to_shell(&a);
	char name[128];
	snprintf(name, sizeof name, "%s.argv", fixture);
	golden(name, sh);
	free(sh);
	dk_argv_free(&a);
	struct dk_virt_caps c90, c100;
	dk_virt_caps_for_version(9000000, &c90);
	dk_virt_caps_for_version(10000000, &c100);
	char *xml = NULL;
	CHECK(dk_libvirt_xml(p, &f, &c90, &xml) == 0);
	snprintf(name, sizeof name, "%s.libvirt-9.0.xml", fixture);
	golden(name, xml);
	free(xml);
	CHECK(dk_libvirt_xml(p, &f, &c100, &xml) == 0);
	snprintf(name, sizeof name, "%s.libvirt-10.0.xml", fixture);
	golden(name, xml);
	free(xml);
	struct dk_pve_opts po = {.vmid = 100, .storage = "local-lvm"};
	char *conf = NULL, **cmds = NULL;
	CHECK(dk_proxmox_conf(p, &f, &po, &conf, &cmds) == 0);
	snprintf(name, sizeof name, "%s.pve.conf", fixture);
	if (conf)
		golden(name, conf);
	free(conf);
	dk_strv_free(cmds);
	free(oc);
	free(disk);
	free(vars);
}

/* ---- plans per fixture host ---- */

TEST(plan_amd_ryzen)
{
	struct dk_facts h;
	host_amd(&h);
	struct dk_plan_opts o = opts("ryzen");
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_STR(p.model, "MacPro7,1");
	CHECK_STR(p.macos, "sequoia");
	CHECK_STR(p.cpu_model, "Cascadelake-Server");
	CHECK(p.amd_host);
	CHECK(p.topoext);
	CHECK(p.invtsc);
	CHECK_INT(p.sockets, 1);
	CHECK_INT(p.dies, 1);
	CHECK_INT(p.cores, 4);
	CHECK_INT(p.threads, 2);
	CHECK_INT(p.vcpus, 8);
	CHECK_INT(p.memory_mib, 8192);
	CHECK(p.nosharepages);
	/* Zen 3 lacks AVX-512 and TSX: masked; has AVX2, PKU, CLWB: kept */
	CHECK(masked(&p, "avx512f"));
	CHECK(masked(&p, "avx512vnni"));
	CHECK(masked(&p, "hle"));
	CHECK(masked(&p, "rtm"));
	CHECK(!masked(&p, "avx2"));
	CHECK(!masked(&p, "pku"));
	CHECK(!masked(&p, "x2apic")); /* KVM emulates it */
	CHECK_INT(p.n_masked, 8);
	CHECK_STR(p.cpu_arg, "Cascadelake-Server,vendor=GenuineIntel,-avx512bw,-avx512cd,-avx512dq,-avx512f,-avx512vl,"
			     "-avx512vnni,-hle,-rtm,+invtsc,+topoext,vmware-cpuid-freq=on");
	CHECK_STR(p.nic_model, "virtio-net-pci");
	CHECK_STR(p.video, "vmware-svga");
	CHECK_INT(p.disk_bus, DK_BUS_VIRTIO);
	CHECK(p.disk_bytes == (uint64_t)128 << 30);
	CHECK_STR(p.mac, "52:54:00:12:34:56");
	CHECK(p.watchdog);
	render_goldens("amd-ryzen", &p);
}

TEST(plan_intel_hybrid)
{
	struct dk_facts h;
	host_hybrid(&h);
	struct dk_plan_opts o = opts("hybrid");
	o.macos = "sonoma";
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_STR(p.macos, "sonoma");
	CHECK(!p.amd_host);
	CHECK(!p.topoext);
	CHECK(p.invtsc);
	/* 8 P-cores: band 8-15 -> 4 cores, SMT -> 8 vCPUs */
	CHECK_INT(p.cores, 4);
	CHECK_INT(p.threads, 2);
	CHECK_INT(p.vcpus, 8);
	CHECK_INT(p.memory_mib, 16384);
	CHECK(masked(&p, "avx512f"));
	CHECK(masked(&p, "hle"));
	CHECK(!masked(&p, "avx2"));
	CHECK(!masked(&p, "tsc-deadline"));
	CHECK_CONTAINS(p.cpu_arg, "-avx512f");
	CHECK(strstr(p.cpu_arg, "topoext") == NULL);
	render_goldens("intel-hybrid", &p);
}

TEST(plan_4core_nosmt)
{
	struct dk_facts h;
	host_4core(&h);
	struct dk_plan_opts o = opts("four");
	o.macos = "catalina";
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.cores, 2);
	CHECK_INT(p.threads, 1);
	CHECK_INT(p.vcpus, 2);
	CHECK_INT(p.memory_mib, 4096);
	CHECK_STR(p.nic_model, "vmxnet3"); /* Catalina */
	CHECK_INT(p.disk_bus, DK_BUS_VIRTIO);
	CHECK(masked(&p, "pku"));
	CHECK(masked(&p, "clwb"));
	CHECK(masked(&p, "hle"));
	render_goldens("4core-nosmt", &p);
}

TEST(plan_64_threads)
{
	struct dk_facts h;
	host_64t(&h);
	struct dk_plan_opts o = opts("big");
	o.macos = "tahoe";
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.cores, 8);
	CHECK_INT(p.threads, 2);
	CHECK_INT(p.vcpus, 16);
	CHECK_INT(p.memory_mib, 32768); /* a quarter of 256 GiB, capped */
	CHECK_INT(p.n_masked, 0);       /* a Cascade Lake host has every feature */
	CHECK_STR(p.cpu_arg, "Cascadelake-Server,vendor=GenuineIntel,+invtsc,vmware-cpuid-freq=on");
	render_goldens("64-threads", &p);
}

TEST(plan_legacy_macpro51)
{
	struct dk_facts h;
	host_4core(&h);
	struct dk_plan_opts o = opts("legacy");
	o.macos = "mojave";
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_STR(p.model, "MacPro5,1"); /* the guide's model before Catalina */
	CHECK_STR(p.cpu_model, "Westmere-v2");
	CHECK_CONTAINS(p.cpu_arg, "Westmere-v2,vendor=GenuineIntel,+rdrand");
	CHECK_INT(p.disk_bus, DK_BUS_SATA);
	CHECK_STR(p.nic_model, "vmxnet3");
	CHECK_STR(p.video, "VGA");
	render_goldens("legacy-macpro51", &p);
	/* the guide's network table for the MacPro5,1 path: 10.10 e1000e, 10.7-10.8 e1000 */
	o.macos = "yosemite";
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_STR(p.nic_model, "e1000e");
	o.macos = "mountainlion";
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_STR(p.nic_model, "e1000");
}

TEST(plan_explicit_cpus_memory)
{
	struct dk_facts h;
	host_amd(&h);
	struct dk_plan_opts o = opts("x");
	o.cpus = 16;
	o.memory_bytes = (uint64_t)12 << 30;
	o.disk_bytes = (uint64_t)256 << 30;
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.cores, 8);
	CHECK_INT(p.threads, 2);
	CHECK_INT(p.memory_mib, 12288);
	CHECK(p.disk_bytes == (uint64_t)256 << 30);
}

TEST(plan_unavailable_from_qemu)
{
	/* QEMU's list wins over the static table. */
	struct dk_facts h;
	host_64t(&h);
	struct dk_plan_opts o = opts("q");
	const char *un[] = {"avx512f", "pcid", NULL};
	snprintf(h.cpu_model, sizeof h.cpu_model, "Cascadelake-Server");
	h.unavailable[DK_ACCEL_KVM] = (char **)un;
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_masked, 2);
	CHECK_CONTAINS(p.cpu_arg, "-avx512f,-pcid");
	/* Re-planned for TCG at start. */
	const char *tcg[] = {"x2apic", NULL};
	CHECK(dk_plan_set_accel(&p, DK_ACCEL_TCG, tcg, "test") == 0);
	CHECK_INT(p.accel, DK_ACCEL_TCG);
	CHECK_STR(p.cpu_arg, "Cascadelake-Server,vendor=GenuineIntel,-x2apic,vmware-cpuid-freq=on");
}

TEST(plan_cpu_host)
{
	struct dk_facts h;
	host_64t(&h);
	struct dk_plan_opts o = opts("h");
	o.cpu_host = true;
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.cpu_mode, DK_CPU_HOST);
	CHECK_STR(p.cpu_arg, "host,vendor=GenuineIntel,+invtsc,vmware-cpuid-freq=on");
	/* AMD: refused; TCG: refused */
	host_amd(&h);
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "Intel");
	host_64t(&h);
	h.kvm_usable = false;
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "KVM");
}

TEST(plan_tcg_domain)
{
	struct dk_facts h;
	host_4core(&h);
	h.kvm_usable = false;
	struct dk_plan_opts o = opts("tcg");
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_masked, 0);
	CHECK(!p.invtsc);
	render_goldens("tcg", &p);
	struct dk_vm_files f = {.dir = "/d", .opencore = "/d/OpenCore.img", .disk = "/d/disk.qcow2", .vars = "/d/v.fd"};
	struct dk_virt_caps c;
	dk_virt_caps_for_version(9000000, &c);
	char *xml = NULL;
	CHECK(dk_libvirt_xml(&p, &f, &c, &xml) == 0);
	CHECK_CONTAINS(xml, "type=\"qemu\">");
	CHECK_CONTAINS(xml, "mode=\"custom\"");
	CHECK(strstr(xml, "host-passthrough") == NULL);
	free(xml);
}

TEST(xml_capabilities)
{
	struct dk_facts h;
	host_amd(&h);
	struct dk_plan_opts o = opts("caps");
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	struct dk_vm_files f = {.dir = "/d", .opencore = "/d/OpenCore.img", .disk = "/d/disk.qcow2", .vars = "/d/v.fd"};
	struct dk_virt_caps c;
	char *xml = NULL;
	/* libvirt 9.0 (Debian 12): no itco watchdog, no firmware='efi' with the explicit loader */
	dk_virt_caps_for_version(9000000, &c);
	CHECK(dk_libvirt_xml(&p, &f, &c, &xml) == 0);
	CHECK(strstr(xml, "itco") == NULL);
	CHECK(strstr(xml, "firmware=") == NULL);
	CHECK_CONTAINS(xml, "<loader readonly=\"yes\" type=\"pflash\">/usr/share/OVMF/OVMF_CODE_4M.fd</loader>");
	CHECK_CONTAINS(xml, "<nvram template=\"/usr/share/OVMF/OVMF_VARS_4M.fd\">/d/v.fd</nvram>");
	CHECK_CONTAINS(xml, "<feature policy=\"require\" name=\"topoext\"/>");
	CHECK_CONTAINS(xml, "<qemu:arg value=\"isa-applesmc,osk=ourhardworkbythesewordsguardedpleasedontsteal(c)AppleComputerInc\"/>");
	CHECK_CONTAINS(xml, "<qemu:arg value=\"ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off\"/>");
	CHECK_CONTAINS(xml, "<memballoon model=\"none\"/>");
	CHECK_CONTAINS(xml, "<nosharepages/>");
	CHECK_CONTAINS(xml, "<topology sockets=\"1\" dies=\"1\" cores=\"4\" threads=\"2\"/>");
	free(xml);
	/* 9.1+: the itco watchdog */
	dk_virt_caps_for_version(9001000, &c);
	CHECK(dk_libvirt_xml(&p, &f, &c, &xml) == 0);
	CHECK_CONTAINS(xml, "<watchdog model=\"itco\" action=\"none\"/>");
	free(xml);
	/* no vmvga, no spice */
	c.video_vmvga = false;
	c.spice = false;
	CHECK(dk_libvirt_xml(&p, &f, &c, &xml) == 0);
	CHECK_CONTAINS(xml, "<model type=\"vga\"");
	CHECK_CONTAINS(xml, "<graphics type=\"vnc\"");
	free(xml);
}

TEST(argv_escaping)
{
	struct dk_facts h;
	host_4core(&h);
	struct dk_plan_opts o = opts("esc");
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	struct dk_vm_files f = {.dir = "/a,b", .opencore = "/a,b/OpenCore.img", .disk = "/a,b/disk.qcow2", .vars = "/a,b/v.fd"};
	struct dk_qemu_opts qo = {.display = DK_DISPLAY_NONE, .direct_io = true};
	struct dk_argv a;
	CHECK(dk_qemu_argv(&p, &f, &qo, &a) == 0);
	bool found = false;
	for (int i = 0; i < a.n; i++)
		if (strstr(a.v[i], "file=/a,,b/disk.qcow2,cache=none"))
			found = true;
	CHECK(found);
	dk_argv_free(&a);
	/* a name with a comma: -name guest=a,,b */
	snprintf(p.name, sizeof p.name, "a,b");
	CHECK(dk_qemu_argv(&p, &f, &qo, &a) == 0);
	found = false;
	for (int i = 0; i < a.n; i++)
		if (!strcmp(a.v[i], "guest=a,,b,debug-threads=on"))
			found = true;
	CHECK(found);
	char *sh = dk_argv_to_shell(&a);
	CHECK_CONTAINS(sh, "'isa-applesmc,osk=ourhardworkbythesewordsguardedpleasedontsteal(c)AppleComputerInc'");
	free(sh);
	dk_argv_free(&a);
	/* no direct I/O: writeback */
	qo.direct_io = false;
	CHECK(dk_qemu_argv(&p, &f, &qo, &a) == 0);
	found = false;
	for (int i = 0; i < a.n; i++)
		if (strstr(a.v[i], "cache=writeback"))
			found = true;
	CHECK(found);
	dk_argv_free(&a);
}

TEST(plan_json_roundtrip)
{
	struct dk_facts h;
	host_hybrid(&h);
	struct dk_plan_opts o = opts("rt");
	struct dk_plan p, q;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	json_object *j = dk_plan_to_json(&p);
	CHECK(dk_plan_from_json(j, &q) == 0);
	json_object *j2 = dk_plan_to_json(&q);
	CHECK_STR(json_object_to_json_string(j), json_object_to_json_string(j2));
	json_object_put(j2);
	/* corrupt: inconsistent topology */
	json_object *t;
	json_object_object_get_ex(j, "topology", &t);
	json_object_object_add(t, "vcpus", json_object_new_int(7));
	CHECK(dk_plan_from_json(j, &q) < 0);
	CHECK_CONTAINS(dk_errmsg(), "topology");
	json_object_object_add(j, "name", json_object_new_string("../x"));
	CHECK(dk_plan_from_json(j, &q) < 0);
	json_object_put(j);
	CHECK(dk_plan_from_json(NULL, &q) < 0);
}

TEST(plan_bad_input)
{
	struct dk_facts h;
	host_amd(&h);
	struct dk_plan p;
	struct dk_plan_opts o = opts("bad");
	o.model = "MacPro9,9";
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "model 'MacPro9,9': unknown");
	o = opts("bad");
	o.macos = "cheetah";
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "macOS release 'cheetah': unknown");
	o = opts("bad");
	o.model = "MacPro5,1";
	o.macos = "sonoma";
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "does not run macOS Sonoma");
	o = opts("bad");
	o.cpus = 48;
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "only 24 logical CPUs");
	o.cpus = 12;
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "power-of-two");
	o = opts("a/b");
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "not a safe name");
	o = opts("it's");
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	o = opts("bad");
	o.memory_bytes = (uint64_t)1 << 30;
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "at least 2 GiB");
	o.memory_bytes = (uint64_t)64 << 30;
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	o = opts("bad");
	o.disk_bytes = (uint64_t)1 << 30;
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	/* ISA: a Penryn cannot run Sonoma (AVX2) nor Mojave (SSE4.2) under KVM */
	host_penryn(&h);
	o = opts("old");
	o.macos = "sonoma";
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "macOS Sonoma needs the CPU feature");
	o.macos = "mojave";
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "'sse4_2'");
	o.macos = "highsierra";
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_STR(p.model, "MacPro5,1");
	/* Conroe (MacPro4,1) lacks SSE4.1, which Sierra needs */
	o.model = "MacPro4,1";
	o.macos = "sierra";
	CHECK(dk_plan_build(&h, &o, &p) < 0);
}

TEST(profiles_data)
{
	for (int i = 0; i < dk_vm_profile_count; i++) {
		const struct dk_vm_profile *pr = &dk_vm_profiles[i];
		CHECK(dk_cpu_model_features(pr->cpu_model) != NULL);
		CHECK(dk_macos_find(pr->macos_min) != NULL);
		CHECK(dk_macos_find(pr->macos_max) != NULL);
		CHECK(dk_macos_find(pr->macos_default) != NULL);
		CHECK(dk_vm_profile_find(pr->model) == pr);
	}
	CHECK(dk_vm_profile_find("macpro7,1") == dk_vm_profile_find("MacPro7,1"));
	CHECK_STR(dk_vm_profile_for_macos(dk_macos_find("catalina"))->model, "MacPro7,1");
	CHECK_STR(dk_vm_profile_for_macos(dk_macos_find("mojave"))->model, "MacPro5,1");
	CHECK_STR(dk_cpu_feature_to_flag("sse4.2"), "sse4_2");
	CHECK_STR(dk_cpu_feature_to_flag("tsc-deadline"), "tsc_deadline_timer");
	CHECK_STR(dk_cpu_feature_to_flag("avx2"), "avx2");
}

TEST(pinning)
{
	struct dk_facts h;
	host_amd(&h);
	for (int i = 0; i < 12; i++) {
		h.host.cpu.sibling_of[i] = i;
		h.host.cpu.sibling_of[i + 12] = i;
	}
	struct dk_plan_opts o = opts("pin");
	o.pin = true;
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_pin, 8);
	static const int want[] = {1, 13, 2, 14, 3, 15, 4, 16};
	for (int i = 0; i < 8; i++)
		CHECK_INT(p.pin[i], want[i]);
	CHECK_STR(p.emulator_pin, "0,12");
	render_goldens("amd-ryzen-pinned", &p);
	/* round trip keeps the pins */
	json_object *j = dk_plan_to_json(&p);
	struct dk_plan q;
	CHECK(dk_plan_from_json(j, &q) == 0);
	CHECK_INT(q.n_pin, 8);
	CHECK_INT(q.pin[7], 16);
	CHECK_STR(q.emulator_pin, "0,12");
	json_object_put(j);

	/* hybrid: P-cores only (ADL numbering: P siblings 2k,2k+1; E-cores 16-23) */
	host_hybrid(&h);
	for (int i = 0; i < 24; i++)
		h.host.cpu.sibling_of[i] = i < 16 ? i & ~1 : i;
	h.host.cpu.n_p_cpus = 16;
	for (int i = 0; i < 16; i++)
		h.host.cpu.p_cpus[i] = i;
	o = opts("pinh");
	o.pin = true;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_pin, 8);
	CHECK_INT(p.pin[0], 2);
	CHECK_INT(p.pin[1], 3);
	CHECK_INT(p.pin[7], 9);
	CHECK_STR(p.emulator_pin, "0,1");

	/* no SMT: one vCPU per host core */
	host_4core(&h);
	for (int i = 0; i < 4; i++)
		h.host.cpu.sibling_of[i] = i;
	o = opts("pin4");
	o.pin = true;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_pin, 2);
	CHECK_INT(p.pin[0], 1);
	CHECK_INT(p.pin[1], 2);
	CHECK_STR(p.emulator_pin, "0");
	/* too many cores requested for pinning: planned, not pinned, with the reason */
	o.cpus = 4;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_pin, 0);
	bool said = false;
	for (int i = 0; i < p.n_why; i++)
		if (!strcmp(p.why[i].key, "pinning") && strstr(p.why[i].reason, "host cores"))
			said = true;
	CHECK(said);

	char buf[64];
	int cpus[] = {5, 0, 1, 2, 7, 8};
	dk_cpuset_format(cpus, 6, buf, sizeof buf);
	CHECK_STR(buf, "0-2,5,7,8");
}

/* Dual-socket Xeon, 16 cores / 32 threads, two NUMA nodes (sockets): CPU n
 * and n+16 are siblings, cores 0-7 on node 0, 8-15 on node 1. No L3 facts, so
 * what keeps the pins on one node is the NUMA preference itself. */
static void host_xeon_2s(struct dk_facts *h)
{
	base_host(h, DK_VENDOR_INTEL, cascade_flags, 32, 16, true, 128);
	h->host.cpu.sockets = 2;
	h->host.cpu.numa_nodes = 2;
	h->host.cpu.numa_cpus_known = true;
	for (int i = 0; i < 32; i++) {
		h->host.cpu.sibling_of[i] = i % 16;
		h->host.cpu.numa_node_of[i] = i % 16 / 8;
	}
}

static const struct dk_plan_decision *why_of(const struct dk_plan *p, const char *key)
{
	for (int i = 0; i < p->n_why; i++)
		if (!strcmp(p->why[i].key, key))
			return &p->why[i];
	return NULL;
}

static const char *reason_of(const struct dk_plan *p, const char *key)
{
	const struct dk_plan_decision *d = why_of(p, key);
	return d ? d->reason : "";
}

TEST(pinning_numa)
{
	struct dk_facts h;
	host_xeon_2s(&h);
	struct dk_plan_opts o = opts("numa");
	o.pin = true;
	o.cpus = 8; /* 4 cores: node 0 has room beside CPU 0's core */
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	static const int want0[] = {1, 17, 2, 18, 3, 19, 4, 20};
	CHECK_INT(p.n_pin, 8);
	for (int i = 0; i < 8 && i < p.n_pin; i++)
		CHECK_INT(p.pin[i], want0[i]);
	CHECK(p.numa_bind);
	CHECK_INT(p.numa_node, 0);
	/* 8 cores: node 0 has 7 besides CPU 0's, node 1 has 8: all on node 1
	 * (without the preference they would be cores 1-8, across both) */
	o.cpus = 16;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_pin, 16);
	for (int i = 0; i < p.n_pin; i++)
		CHECK_INT(h.host.cpu.numa_node_of[p.pin[i]], 1);
	CHECK_INT(p.pin[0], 8);
	CHECK_INT(p.pin[1], 24);
	CHECK_STR(p.emulator_pin, "0,16");
	CHECK(p.numa_bind);
	CHECK_INT(p.numa_node, 1);
	const struct dk_plan_decision *d = why_of(&p, "memory.numa");
	CHECK(d != NULL);
	if (d) {
		CHECK_STR(d->value, "node 1 of 2 (strict)");
		CHECK_CONTAINS(d->reason, "every pinned vCPU runs on this NUMA node");
	}
	CHECK_CONTAINS(reason_of(&p, "pinning"), "all on NUMA node 1 (of the host's 2)");
	render_goldens("xeon-2s-pinned", &p);
	/* the plan's JSON keeps the binding */
	json_object *j = dk_plan_to_json(&p);
	struct dk_plan q;
	CHECK(dk_plan_from_json(j, &q) == 0);
	CHECK(q.numa_bind);
	CHECK_INT(q.numa_node, 1);
	json_object_put(j);
	/* with hugepages: one backend, from hugetlbfs and bound */
	dk_plan_set_hugepages(&p, true);
	struct dk_vm_files f = {.dir = "/v", .opencore = "/v/oc.img", .disk = "/v/d.qcow2", .vars = "/v/vars.fd"};
	struct dk_argv a;
	struct dk_qemu_opts qo = {.display = DK_DISPLAY_VNC};
	CHECK(dk_qemu_argv(&p, &f, &qo, &a) == 0);
	char *sh = dk_argv_to_shell(&a);
	CHECK_CONTAINS(sh, "memory-backend-file,id=ram0,size=32768M,mem-path=/dev/hugepages,prealloc=on,host-nodes=1,policy=bind,merge=off");
	CHECK(strstr(sh, "memory-backend-ram") == NULL);
	CHECK_CONTAINS(sh, "memory-backend=ram0");
	free(sh);
	dk_argv_free(&a);
	struct dk_virt_caps c100;
	dk_virt_caps_for_version(10000000, &c100);
	char *xml = NULL;
	CHECK(dk_libvirt_xml(&p, &f, &c100, &xml) == 0);
	CHECK_CONTAINS(xml, "<numatune>\n    <memory mode=\"strict\" nodeset=\"1\"/>\n  </numatune>");
	CHECK_CONTAINS(xml, "<hugepages/>");
	free(xml);
	/* unpinned: no binding, and the decision says why */
	dk_plan_set_pin(&p, &h.host, false);
	CHECK(!p.numa_bind);
	CHECK_CONTAINS(reason_of(&p, "memory.numa"), "only when the vCPUs are pinned");
	CHECK(dk_libvirt_xml(&p, &f, &c100, &xml) == 0);
	CHECK(strstr(xml, "numatune") == NULL);
	free(xml);
	/* no node has room for 12 cores: pinned across nodes, memory not bound */
	p.cores = 12;
	p.vcpus = 24;
	dk_plan_set_pin(&p, &h.host, true);
	CHECK_INT(p.n_pin, 24);
	CHECK(!p.numa_bind);
	CHECK_CONTAINS(reason_of(&p, "memory.numa"), "span NUMA nodes");
	CHECK_CONTAINS(reason_of(&p, "pinning"), "spanning NUMA nodes (none has room)");
	/* a host whose sysfs does not say each CPU's node: not bound */
	h.host.cpu.numa_cpus_known = false;
	o.cpus = 8;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_pin, 8);
	CHECK(!p.numa_bind);
	CHECK_CONTAINS(reason_of(&p, "memory.numa"), "does not say which NUMA node");
	/* one node (the Ryzen): nothing bound, no NUMA decision */
	host_amd(&h);
	for (int i = 0; i < 12; i++)
		h.host.cpu.sibling_of[i] = h.host.cpu.sibling_of[i + 12] = i;
	o = opts("pin1");
	o.pin = true;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_pin, 8);
	CHECK(!p.numa_bind);
	CHECK(why_of(&p, "memory.numa") == NULL);
	/* a stored plan with a binding but no pins is refused */
	j = dk_plan_to_json(&p);
	json_object_object_add(j, "numa_node", json_object_new_int(0));
	json_object_object_del(j, "pinning");
	CHECK(dk_plan_from_json(j, &q) == -1);
	CHECK_CONTAINS(dk_errmsg(), "numa_node");
	json_object_put(j);
}

/* ---- facts that drive the plan: one golden each (XML, argv, --explain) ---- */

/* The decisions as `--explain` prints them, then the plan's warnings. */
static void explain_golden(const char *fixture, const struct dk_plan *p)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	CHECK(f != NULL);
	if (!f)
		return;
	char *ex = dk_plan_explain(p);
	fputs(ex, f);
	free(ex);
	for (int i = 0; i < p->n_warnings; i++)
		fprintf(f, "warning: %s\n", p->warnings[i]);
	fclose(f);
	char name[128];
	snprintf(name, sizeof name, "%s.explain", fixture);
	golden(name, text);
	free(text);
}

static const char *decision(const struct dk_plan *p, const char *key)
{
	for (int i = 0; i < p->n_why; i++)
		if (!strcmp(p->why[i].key, key))
			return p->why[i].reason;
	return "";
}

static const char *decision_value(const struct dk_plan *p, const char *key)
{
	for (int i = 0; i < p->n_why; i++)
		if (!strcmp(p->why[i].key, key))
			return p->why[i].value;
	return NULL;
}

/* create's default: hugepages exactly when the host has reserved enough free
 * 2 MiB pages (here 4000 free = 8000 MiB), else off with the reason. */
TEST(plan_hugepages_default)
{
	struct dk_facts h;
	host_hybrid(&h);
	h.host.mem.hugepages_2m = 4000;
	h.host.mem.hugepages_2m_free = 4000;
	struct dk_plan_opts o = opts("hp");
	o.auto_levers = true;
	o.memory_bytes = (uint64_t)4 << 30;
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK(p.hugepages);
	CHECK_STR(decision_value(&p, "hugepages") ? decision_value(&p, "hugepages") : "", "2048 x 2 MiB pages of 4000 free");
	o.memory_bytes = (uint64_t)8000 << 20;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK(p.hugepages);
	o.memory_bytes = (uint64_t)8002 << 20;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK(!p.hugepages);
	CHECK_STR(decision_value(&p, "hugepages") ? decision_value(&p, "hugepages") : "", "off (4000 free, 4001 needed)");
	CHECK_CONTAINS(decision(&p, "hugepages"), "hugepages --reserve");
	o.auto_levers = false; /* explicit choices only: no hugepages unless asked */
	o.memory_bytes = (uint64_t)4 << 30;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK(!p.hugepages);
	struct dk_facts a;
	host_amd(&a);
	o.auto_levers = true;
	CHECK(dk_plan_build(&a, &o, &p) == 0);
	CHECK(!p.hugepages);
	CHECK_STR(decision_value(&p, "hugepages") ? decision_value(&p, "hugepages") : "", "off (0 free, 2048 needed)");
}

/* A local libvirt whose QEMU user (libvirt-qemu) can open /dev/kvm or not. */
static void libvirt_local(struct dk_facts *h, bool user_kvm)
{
	h->connected = true;
	snprintf(h->uri, sizeof h->uri, "qemu:///system");
	dk_virt_caps_for_version(10000000, &h->caps);
	h->caps.kvm = true;
	h->libvirt_local = true;
	h->qemu_user_known = true;
	h->qemu_user.uid = 64055;
	h->qemu_user.gid = 64055;
	snprintf(h->qemu_user.name, sizeof h->qemu_user.name, "libvirt-qemu");
	h->qemu_user_kvm = user_kvm;
	if (!user_kvm)
		snprintf(h->qemu_user_kvm_why, sizeof h->qemu_user_kvm_why, "/dev/kvm is crw------- root:root");
}

TEST(facts_libvirt_user_no_kvm)
{
	struct dk_facts h;
	host_amd(&h);
	libvirt_local(&h, false);
	struct dk_plan_opts o = opts("lvtcg");
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.accel, DK_ACCEL_TCG);
	CHECK_INT(p.n_masked, 0); /* TCG emulates the model */
	CHECK_CONTAINS(decision(&p, "accel"), "libvirt's QEMU user libvirt-qemu (uid 64055, gid 64055) cannot open /dev/kvm");
	CHECK_INT(p.n_warnings, 1);
	CHECK_STR(p.warnings[0], decision(&p, "accel"));
	render_goldens("libvirt-user-nokvm", &p);
	explain_golden("libvirt-user-nokvm", &p);
	/* the user can: KVM, no warning */
	libvirt_local(&h, true);
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.accel, DK_ACCEL_KVM);
	CHECK_INT(p.n_warnings, 0);
	/* --accel kvm: kept, with a warning that start will use TCG */
	libvirt_local(&h, false);
	o.accel = DK_ACCEL_FORCE_KVM;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.accel, DK_ACCEL_KVM);
	CHECK_STR(decision(&p, "accel"), "as requested (--accel kvm)");
	CHECK_INT(p.n_warnings, 1);
	CHECK_CONTAINS(p.warnings[0], "--accel kvm: libvirt's QEMU user libvirt-qemu (uid 64055, gid 64055) cannot open /dev/kvm");
}

TEST(facts_libvirt_no_kvm_domains)
{
	struct dk_facts h;
	host_amd(&h);
	libvirt_local(&h, true);
	h.caps.kvm = false;
	struct dk_plan_opts o = opts("lvnokvm");
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.accel, DK_ACCEL_TCG);
	CHECK_STR(decision(&p, "accel"), "the libvirt connection offers no KVM domains");
	render_goldens("libvirt-no-kvm-domains", &p);
	explain_golden("libvirt-no-kvm-domains", &p);
	o.accel = DK_ACCEL_FORCE_KVM;
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_STR(dk_errmsg(), "--accel kvm: libvirt qemu:///system offers no KVM domains");
}

TEST(facts_nested_kvm_lacks_isa)
{
	/* QEMU says KVM cannot give the model AVX2 (broken nested KVM): Sonoma
	 * needs it, so TCG, masked by QEMU's TCG list. */
	struct dk_facts h;
	host_64t(&h);
	snprintf(h.cpu_model, sizeof h.cpu_model, "Cascadelake-Server");
	const char *kvm_un[] = {"avx2", "avx512f", NULL}, *tcg_un[] = {"x2apic", "pcid", NULL};
	h.unavailable[DK_ACCEL_KVM] = (char **)kvm_un;
	h.unavailable[DK_ACCEL_TCG] = (char **)tcg_un;
	struct dk_plan_opts o = opts("nested");
	o.macos = "sonoma";
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.accel, DK_ACCEL_TCG);
	CHECK_STR(p.cpu_arg, "Cascadelake-Server,vendor=GenuineIntel,-pcid,-x2apic,vmware-cpuid-freq=on");
	CHECK_CONTAINS(decision(&p, "accel"), "KVM here cannot give the guest 'avx2'");
	CHECK_INT(p.n_warnings, 1);
	render_goldens("nested-kvm-noavx2", &p);
	explain_golden("nested-kvm-noavx2", &p);
	/* --accel kvm: KVM as asked, masked by QEMU's KVM list */
	o.accel = DK_ACCEL_FORCE_KVM;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.accel, DK_ACCEL_KVM);
	CHECK_CONTAINS(p.cpu_arg, "-avx2,-avx512f");
	/* a list about another model is not this model's */
	o.accel = DK_ACCEL_AUTO;
	snprintf(h.cpu_model, sizeof h.cpu_model, "Westmere-v2");
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.accel, DK_ACCEL_KVM);
}

TEST(facts_no_dev_kvm)
{
	struct dk_facts h;
	host_4core(&h);
	h.kvm_usable = false;
	struct dk_plan_opts o = opts("nokvm");
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.accel, DK_ACCEL_TCG);
	explain_golden("no-dev-kvm", &p);
	o.accel = DK_ACCEL_FORCE_KVM;
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_STR(dk_errmsg(), "--accel kvm: /dev/kvm is not usable here");
}

TEST(facts_firmware_uuid_random)
{
	struct dk_facts h;
	host_amd(&h);
	struct dk_plan_opts o = opts("fw");
	struct dk_plan p;
	/* no OVMF pair among the facts: refused, the plan searches nothing */
	h.host.qemu.ovmf_vars[0] = '\0';
	CHECK(dk_plan_build(&h, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "OVMF: no firmware found");
	host_amd(&h);
	/* --force over a defined domain: its UUID */
	snprintf(h.domain_uuid, sizeof h.domain_uuid, "11111111-2222-4333-8444-555555555555");
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_STR(p.uuid, "11111111-2222-4333-8444-555555555555");
	/* MAC and UUID from the facts' entropy: the same facts, the same plan */
	h.domain_uuid[0] = '\0';
	for (size_t i = 0; i < sizeof h.random; i++)
		h.random[i] = (uint8_t)(0xa0 + i);
	o.mac = o.uuid = NULL;
	struct dk_plan q;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK(dk_plan_build(&h, &o, &q) == 0);
	CHECK_STR(p.mac, "52:54:00:a0:a1:a2");
	CHECK_STR(p.uuid, "a3a4a5a6-a7a8-49aa-abac-adaeafb0b1b2");
	CHECK(memcmp(&p, &q, sizeof p) == 0);
}

/* Proxmox export: the commands, and a hostile plan (it comes from manifest.json). */
static char *pve(const struct dk_plan *p, const struct dk_vm_files *f, const struct dk_pve_opts *o, char ***cmds)
{
	char *conf = NULL;
	*cmds = NULL;
	if (dk_proxmox_conf(p, f, o, &conf, cmds) < 0)
		return NULL;
	return conf;
}

TEST(proxmox_export)
{
	struct dk_facts h;
	host_4core(&h);
	struct dk_plan_opts o = opts("My Mac: #1");
	o.model = "MacPro5,1";
	o.macos = "mojave";
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	struct dk_vm_files f = {.dir = "/v/My Mac", .opencore = "/v/My Mac/OpenCore.img", .disk = "/v/it's/disk.qcow2",
				.vars = "/v/x.fd"};
	struct dk_pve_opts po = {.vmid = 4242, .storage = "tank.vm-1"};
	char **c = NULL;
	char *conf = pve(&p, &f, &po, &c);
	CHECK(conf != NULL);
	if (!conf)
		return;
	const char *head = "#My Mac%3A #1 - MacPro5,1, macOS mojave (10.14), exported by dkvm\n#\n";
	CHECK(!strncmp(conf, head, strlen(head)));
	CHECK_CONTAINS(conf, "\nname: My-Mac-1\n");
	CHECK_CONTAINS(conf, "\nboot: order=virtio0;sata0\n");
	CHECK_CONTAINS(conf, "\nnet0: vmxnet3=52:54:00:12:34:56,bridge=vmbr0\n");
	int n = 0;
	while (c && c[n])
		n++;
	CHECK_INT(n, 5);
	if (n == 5) {
		CHECK_STR(c[0], "qm set 4242 --efidisk0 tank.vm-1:1,efitype=4m,pre-enrolled-keys=0");
		CHECK_STR(c[1], "qm importdisk 4242 '/v/My Mac/OpenCore.img' tank.vm-1 --format qcow2");
		CHECK_STR(c[2], "qm set 4242 --virtio0 \"$(qm config 4242 | sed -n 's/^unused0: //p')\"");
		CHECK_STR(c[3], "qm importdisk 4242 '/v/it'\\''s/disk.qcow2' tank.vm-1 --format qcow2");
		CHECK_STR(c[4], "qm set 4242 --sata0 \"$(qm config 4242 | sed -n 's/^unused0: //p')\",discard=on,ssd=1");
	}
	free(conf);
	dk_strv_free(c);

	/* a decision with a newline cannot add a key: the notes are escaped */
	struct dk_plan q = p;
	snprintf(q.why[0].reason, sizeof q.why[0].reason, "x\nargs: -evil\r%%41");
	conf = pve(&q, &f, &po, &c);
	CHECK(conf != NULL);
	if (conf) {
		CHECK_CONTAINS(conf, "x%0Aargs%3A -evil%0D%2541)");
		CHECK(strstr(conf, "\nargs: -evil") == NULL);
	}
	free(conf);
	dk_strv_free(c);
	/* hundreds of long decisions: the notes stay under Proxmox's 8 KiB */
	q = p;
	for (int i = 0; i < DK_PLAN_MAX_EXPLAIN; i++) {
		snprintf(q.why[i].key, sizeof q.why[i].key, "k%d", i);
		memset(q.why[i].reason, 'r', sizeof q.why[i].reason - 1);
		q.why[i].reason[sizeof q.why[i].reason - 1] = '\0';
	}
	q.n_why = DK_PLAN_MAX_EXPLAIN;
	conf = pve(&q, &f, &po, &c);
	CHECK(conf != NULL);
	if (conf) {
		CHECK(strstr(conf, "\n#- (more decisions%3A dkvm show)\n") != NULL);
		const char *keys = strstr(conf, "\nallow-ksm: ");
		CHECK(keys && keys - conf < 8192);
	}
	free(conf);
	dk_strv_free(c);

	/* refused: each hostile field, bad options */
	struct {
		const char *what, *err;
	} bad[] = {{"cpu", "-cpu value"}, {"mac", "MAC"}, {"uuid", "UUID"}, {"nic", "NIC"}, {"video", "video"}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		q = p;
		if (!strcmp(bad[i].what, "cpu"))
			snprintf(q.cpu_arg, sizeof q.cpu_arg, "Penryn -device evil");
		else if (!strcmp(bad[i].what, "mac"))
			snprintf(q.mac, sizeof q.mac, "01:00:00:00:00:01");
		else if (!strcmp(bad[i].what, "uuid"))
			snprintf(q.uuid, sizeof q.uuid, "x\ny");
		else if (!strcmp(bad[i].what, "nic"))
			snprintf(q.nic_model, sizeof q.nic_model, "rtl8139,x=1");
		else
			snprintf(q.video, sizeof q.video, "qxl");
		CHECK(pve(&q, &f, &po, &c) == NULL);
		CHECK_CONTAINS(dk_errmsg(), bad[i].err);
		CHECK(c == NULL);
	}
	q = p;
	q.vcpus = 3;
	CHECK(pve(&q, &f, &po, &c) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "topology");
	q = p; /* a product that overflows int is refused, not computed */
	q.dies = 1 << 20;
	q.cores = 1 << 20;
	q.vcpus = 0;
	CHECK(pve(&q, &f, &po, &c) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "topology");
	struct dk_pve_opts bo = po;
	bo.vmid = 99;
	CHECK(pve(&p, &f, &bo, &c) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "100..999999999");
	bo.vmid = 1000000000;
	CHECK(pve(&p, &f, &bo, &c) == NULL);
	bo = po;
	bo.storage = "local lvm";
	CHECK(pve(&p, &f, &bo, &c) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "storage 'local lvm'");
	bo.storage = "1local";
	CHECK(pve(&p, &f, &bo, &c) == NULL);
	struct dk_vm_files bf = f;
	bf.disk = "/v/a\nqm destroy 1";
	CHECK(pve(&p, &bf, &po, &c) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "control character");
	dk_errclear();
}

/* What this host can run: the planner's own verdict per release and model. */
static int idx_macos(const char *n)
{
	for (int i = 0; i < dk_macos_count; i++)
		if (!strcmp(dk_macos_table[i].name, n))
			return i;
	return -1;
}

static int idx_model(const char *n)
{
	for (int i = 0; i < dk_vm_profile_count; i++)
		if (!strcmp(dk_vm_profiles[i].model, n))
			return i;
	return -1;
}

TEST(plan_runnable_choices)
{
	struct dk_facts h;
	bool ok[64], mok[16];
	struct dk_plan_opts o = {0};
	/* Penryn under KVM: SSE4.1 but no SSE4.2 -> up to High Sierra */
	host_penryn(&h);
	CHECK_INT(dk_plan_releases(&h, &o, ok), 7);
	CHECK(ok[idx_macos("lion")] && ok[idx_macos("highsierra")]);
	CHECK(!ok[idx_macos("mojave")] && !ok[idx_macos("sequoia")] && !ok[idx_macos("tahoe")]);
	o.macos = "highsierra";
	CHECK_INT(dk_plan_models(&h, &o, mok), 2);
	CHECK(mok[idx_model("iMacPro1,1")] && mok[idx_model("MacPro5,1")] && !mok[idx_model("MacPro7,1")]);
	o.macos = "mojave";
	CHECK_INT(dk_plan_models(&h, &o, mok), 0);
	CHECK_CONTAINS(dk_errmsg(), "sse4_2");
	dk_errclear();
	/* a model narrows the releases to its range */
	o.macos = NULL;
	o.model = "MacPro5,1";
	CHECK_INT(dk_plan_releases(&h, &o, ok), 7);
	o.model = "MacPro7,1";
	CHECK_INT(dk_plan_releases(&h, &o, ok), 0);
	/* the same CPU without KVM: TCG emulates what it lacks, as the planner says */
	h.kvm_usable = false;
	o.model = NULL;
	CHECK_INT(dk_plan_releases(&h, &o, ok), dk_macos_count);
	/* a modern host runs everything; Sonoma on MacPro7,1 or iMacPro1,1 */
	host_amd(&h);
	CHECK_INT(dk_plan_releases(&h, &o, ok), dk_macos_count);
	o.macos = "sonoma";
	CHECK_INT(dk_plan_models(&h, &o, mok), 2);
	CHECK(mok[idx_model("MacPro7,1")] && mok[idx_model("iMacPro1,1")]);
	/* the other options count: 3 vCPUs is no topology the planner makes */
	o.cpus = 3;
	CHECK_INT(dk_plan_models(&h, &o, mok), 0);
}

/* ---- PowerPC (vm/ppc.h) ---- */

static void ppc_facts(struct dk_ppc_facts *f)
{
	memset(f, 0, sizeof *f);
	snprintf(f->qemu_path, sizeof f->qemu_path, "/usr/bin/qemu-system-ppc");
	snprintf(f->openbios, sizeof f->openbios, "/usr/share/qemu/openbios-ppc");
}

static struct dk_ppc_plan_opts ppc_opts(const char *name, const char *macos)
{
	return (struct dk_ppc_plan_opts){.name = name, .macos = macos, .iso = "/srv/media/install,1.iso",
					 .mac = "52:54:00:12:34:56", .uuid = "6c1d6f2e-3b1a-4c8e-9f00-0123456789ab"};
}

/* One golden per release: the argv and the libvirt XML, byte-exact. */
TEST(ppc_goldens_per_release)
{
	struct dk_ppc_facts f;
	ppc_facts(&f);
	CHECK_INT(dk_ppc_release_count, 6);
	for (int i = 0; i < dk_ppc_release_count; i++) {
		const char *v = dk_ppc_releases[i].version;
		struct dk_ppc_plan_opts o = ppc_opts("ppc", v);
		struct dk_ppc_plan p;
		CHECK(dk_ppc_plan_build(&f, &o, &p) == 0);
		CHECK_STR(p.version, v);
		CHECK_STR(p.nic, "sungem");
		CHECK_STR(p.boot, "d");
		CHECK_INT((int)p.memory_mib, 2048);
		struct dk_vm_files files = {.dir = "/var/lib/dkvm/ppc", .disk = "/var/lib/dkvm/ppc/disk.qcow2",
					    .opencore = "", .vars = ""};
		struct dk_qemu_opts qo = {.display = DK_DISPLAY_VNC, .daemonize = true, .direct_io = true, .serial_file = true};
		struct dk_argv a;
		CHECK(dk_ppc_qemu_argv(&p, &files, &qo, &a) == 0);
		char *sh = dk_argv_to_shell(&a);
		char name[64];
		snprintf(name, sizeof name, "ppc-%s.argv", v);
		golden(name, sh);
		free(sh);
		dk_argv_free(&a);
		char *xml = NULL;
		CHECK(dk_ppc_libvirt_xml(&p, &files, &xml) == 0);
		snprintf(name, sizeof name, "ppc-%s.libvirt.xml", v);
		golden(name, xml);
		free(xml);
		/* the manifest round trip gives the same plan */
		json_object *j = dk_ppc_plan_to_json(&p);
		struct dk_ppc_plan q;
		CHECK(dk_ppc_plan_from_json(j, &q) == 0);
		json_object_put(j);
		CHECK(memcmp(&p, &q, sizeof p) == 0);
	}
	/* Leopard: PMU and USB input; Tiger: pci-testdev, ADB */
	struct dk_ppc_plan p;
	struct dk_ppc_plan_opts o = ppc_opts("ppc", "leopard");
	CHECK(dk_ppc_plan_build(&f, &o, &p) == 0);
	CHECK_STR(p.machine, "mac99,via=pmu,usb=on");
	CHECK(p.usb_input && !p.pci_testdev);
	o = ppc_opts("ppc", "10.4.11");
	CHECK(dk_ppc_plan_build(&f, &o, &p) == 0);
	CHECK_STR(p.macos, "tiger");
	CHECK(!p.usb_input && p.pci_testdev);
	/* no install media: boot the disk */
	o.iso = NULL;
	CHECK(dk_ppc_plan_build(&f, &o, &p) == 0);
	CHECK_STR(p.boot, "c");
	/* the common fields for list/show */
	struct dk_plan c;
	dk_ppc_plan_common(&p, &c);
	CHECK_STR(c.model, "PowerMac3,1");
	CHECK_INT(c.vcpus, 1);
	CHECK_INT(c.accel, DK_ACCEL_TCG);
	CHECK_STR(dk_disk_bus_name(c.disk_bus), "ide");
}

TEST(ppc_explain_is_data)
{
	struct dk_ppc_facts f;
	ppc_facts(&f);
	struct dk_ppc_plan_opts o = ppc_opts("ppc", "10.2");
	struct dk_ppc_plan p;
	CHECK(dk_ppc_plan_build(&f, &o, &p) == 0);
	const char *keys[] = {"release", "machine", "cpu", "accel", "memory", "disk", "cdrom", "boot", "nic", "display",
			      "pci-testdev", "firmware"};
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		bool found = false;
		for (int i = 0; i < p.n_why; i++)
			found |= !strcmp(p.why[i].key, keys[k]) && p.why[i].reason[0] && p.why[i].value[0];
		if (!found)
			fprintf(stderr, "  no decision '%s'\n", keys[k]);
		CHECK(found);
	}
	/* the same facts, the same plan (pure): entropy only from the facts */
	o.mac = o.uuid = NULL;
	for (size_t i = 0; i < sizeof f.random; i++)
		f.random[i] = (uint8_t)(0x10 + i);
	struct dk_ppc_plan q;
	CHECK(dk_ppc_plan_build(&f, &o, &p) == 0);
	CHECK(dk_ppc_plan_build(&f, &o, &q) == 0);
	CHECK(memcmp(&p, &q, sizeof p) == 0);
	CHECK_STR(p.mac, "52:54:00:10:11:12");
}

TEST(ppc_bad_input)
{
	struct dk_ppc_facts f;
	ppc_facts(&f);
	struct dk_ppc_plan p;
	const char *bad[] = {"10.6", "sonoma", "14", "snowleopard", "10.10", "10.4x", "10.4.", "", NULL};
	for (int i = 0; bad[i]; i++) {
		struct dk_ppc_plan_opts o = ppc_opts("ppc", bad[i]);
		CHECK(dk_ppc_plan_build(&f, &o, &p) < 0);
		CHECK_CONTAINS(dk_errmsg(), "not a PowerPC release");
		CHECK(strchr(dk_errmsg(), '\n') == NULL);
	}
	struct dk_ppc_plan_opts o = ppc_opts("ppc", NULL);
	CHECK(dk_ppc_plan_build(&f, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "needs --macos");
	o = ppc_opts("ppc", "10.5");
	o.memory_bytes = (uint64_t)3 << 30;
	CHECK(dk_ppc_plan_build(&f, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "at most 2048 MiB");
	o.memory_bytes = (uint64_t)256 << 20; /* Leopard needs 512 MiB */
	CHECK(dk_ppc_plan_build(&f, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "at least 512 MiB");
	o = ppc_opts("ppc", "10.0");
	o.disk_bytes = (uint64_t)200 << 30;
	CHECK(dk_ppc_plan_build(&f, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "at most 128 GiB");
	o = ppc_opts("ppc", "10.3");
	o.iso = "relative.iso";
	CHECK(dk_ppc_plan_build(&f, &o, &p) < 0);
	o = ppc_opts("ppc", "10.3");
	f.openbios[0] = '\0';
	CHECK(dk_ppc_plan_build(&f, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "install qemu-system-ppc");
	ppc_facts(&f);
	f.qemu_missing = true;
	CHECK(dk_ppc_plan_build(&f, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "install qemu-system-ppc");
	/* a libvirt without ppc mac99: --connect refused, clearly */
	ppc_facts(&f);
	f.connected = true;
	snprintf(f.uri, sizeof f.uri, "qemu:///session");
	CHECK(dk_ppc_plan_build(&f, &o, &p) < 0);
	CHECK_CONTAINS(dk_errmsg(), "--connect qemu:///session: this libvirt offers no ppc mac99 domains");
	f.libvirt_mac99 = true;
	CHECK(dk_ppc_plan_build(&f, &o, &p) == 0);
	/* a hostile manifest plan */
	ppc_facts(&f);
	CHECK(dk_ppc_plan_build(&f, &o, &p) == 0);
	const char *fields[][2] = {{"machine", "mac99,usb=off -S"}, {"cpu", "G4,foo"}, {"boot", "n"},
				   {"macos_version", "10.9"}, {"qemu", "qemu-system-ppc"}, {"mac", "52:54:00:12:34:56,x=1"},
				   {"name", "../x"}, {"arch", "x86_64"}};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		json_object *j = dk_ppc_plan_to_json(&p);
		json_object_object_add(j, fields[i][0], json_object_new_string(fields[i][1]));
		struct dk_ppc_plan q;
		if (dk_ppc_plan_from_json(j, &q) == 0)
			fprintf(stderr, "  accepted %s=%s\n", fields[i][0], fields[i][1]);
		CHECK(dk_ppc_plan_from_json(j, &q) < 0);
		json_object_put(j);
	}
	json_object *j = dk_ppc_plan_to_json(&p);
	json_object_object_add(j, "memory_mib", json_object_new_int64(4096));
	struct dk_ppc_plan q;
	CHECK(dk_ppc_plan_from_json(j, &q) < 0);
	json_object_put(j);
	dk_errclear();
}

/* ---- PCI passthrough: facts from the amd-navi fixture sysroot ---- */

/* host_amd plus the PCI facts of tests/fixtures/host/amd-navi: a Navi 23
 * (0b:00.0 + HDMI audio 0b:00.1, viable group), a boot-VGA GTX 1080
 * (0a:00.0), xHCI 0d:00.3 (viable) and 07:00.0 (group shared with the NIC
 * and SATA), HDA 0e:00.4. */
static void host_navi(struct dk_facts *h)
{
	host_amd(h);
	char *root = dk_asprintf("%s/tests/fixtures/host/amd-navi", t_srcdir());
	dk_set_sysroot(root);
	CHECK(dk_pci_scan(&h->pci) == 0);
	h->pci_known = true;
	dk_set_sysroot(NULL);
	free(root);
}

TEST(passthrough_gpu)
{
	struct dk_facts h;
	host_navi(&h);
	struct dk_plan_opts o = opts("navi");
	o.gpu = "0b:00.0";
	struct dk_plan p;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_hostdev, 2);
	CHECK_STR(p.hostdev[0].host, "0000:0b:00.0");
	CHECK_STR(p.hostdev[1].host, "0000:0b:00.1");
	CHECK(p.hostdev[0].multifunction && !p.hostdev[1].multifunction);
	CHECK_INT(p.hostdev[0].port, 1);
	CHECK_INT(p.hostdev[1].port, 1);
	CHECK_INT(p.hostdev[1].func, 1);
	CHECK_STR(p.video, "none");
	CHECK_STR(p.gpu.family, "Navi 23");
	CHECK_STR(p.gpu.kext, "WhateverGreen");
	CHECK_STR(p.gpu.boot_args, "agdpmod=pikera");
	CHECK_STR(p.gpu.device_id, "");
	CHECK_INT(p.n_warnings, 0);
	render_goldens("amd-navi-gpu", &p);
	explain_golden("amd-navi-gpu", &p);
	/* the plan survives the manifest */
	json_object *j = dk_plan_to_json(&p);
	CHECK_STR(json_object_get_string(json_object_object_get(j, "gpu_kext")), "WhateverGreen");
	struct dk_plan back;
	CHECK(dk_plan_from_json(j, &back) == 0);
	CHECK_INT(back.n_hostdev, 2);
	CHECK_INT(back.n_ports, 1);
	CHECK(back.hostdev[0].multifunction);
	CHECK_STR(back.gpu.boot_args, "agdpmod=pikera");
	/* hostile manifests: a bad address, a slot twice */
	json_object *pt = json_object_object_get(j, "passthrough");
	json_object *e1 = json_object_array_get_idx(pt, 1);
	json_object_object_add(e1, "function", json_object_new_int(0));
	CHECK(dk_plan_from_json(j, &back) == -1);
	CHECK_CONTAINS(dk_errmsg(), "given twice");
	json_object_object_add(e1, "host", json_object_new_string("0000:0b:00.1,romfile=/etc/shadow"));
	CHECK(dk_plan_from_json(j, &back) == -1);
	CHECK_CONTAINS(dk_errmsg(), "not a PCI address");
	dk_errclear();
	json_object_put(j);

	/* every device class, a ROM file, on Sonoma */
	o.gpu_rom = "/var/lib/dkvm/roms/navi23.rom";
	o.usb[0] = "0000:0d:00.3";
	o.n_usb = 1;
	o.audio = "0e:00.4";
	o.macos = "sonoma";
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_hostdev, 4);
	CHECK_INT(p.hostdev[2].port, 2);
	CHECK_INT(p.hostdev[2].func, 0);
	CHECK(!p.hostdev[2].multifunction);
	CHECK_STR(p.hostdev[3].host, "0000:0e:00.4");
	CHECK_INT(p.hostdev[3].port, 3);
	CHECK_STR(p.hostdev[0].rom, "/var/lib/dkvm/roms/navi23.rom");
	render_goldens("amd-navi-all", &p);
	dk_pci_free(&h.pci);
}

/* Passthrough root ports at fixed guest addresses: each device's OpenCore
 * path follows from them, both renderers carry the address, and the plan
 * says which DeviceProperties config.plist gets (nothing without a device). */
TEST(passthrough_devpaths)
{
	int slot, fn;
	dk_plan_port_addr(1, &slot, &fn);
	CHECK(slot == 0x1c && fn == 0);
	dk_plan_port_addr(8, &slot, &fn);
	CHECK(slot == 0x1c && fn == 7);
	dk_plan_port_addr(9, &slot, &fn);
	CHECK(slot == 0x1b && fn == 0);
	dk_plan_port_addr(16, &slot, &fn);
	CHECK(slot == 0x1b && fn == 7);

	struct dk_facts h;
	host_navi(&h);
	struct dk_plan_opts o = opts("navi");
	struct dk_plan p;
	char path[64];
	/* no passthrough: no decision, no DeviceProperties */
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK(decision_value(&p, "deviceproperties") == NULL);
	/* the GPU alone (Navi 23 0x73ff: native, no spoof) */
	o.gpu = "0b:00.0";
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	dk_plan_hostdev_devpath(&p.hostdev[0], path, sizeof path);
	CHECK_STR(path, "PciRoot(0x0)/Pci(0x1C,0x0)/Pci(0x0,0x0)");
	dk_plan_hostdev_devpath(&p.hostdev[1], path, sizeof path);
	CHECK_STR(path, "PciRoot(0x0)/Pci(0x1C,0x0)/Pci(0x0,0x1)");
	CHECK(!dk_plan_port_multifunction(&p, 1));
	CHECK(decision_value(&p, "deviceproperties") == NULL);
	struct dk_vm_files vf = {.dir = "/b", .disk = "/b/disk.qcow2", .opencore = "/b/OpenCore.img", .vars = "/b/vars.fd"};
	struct dk_qemu_opts qo = {.display = DK_DISPLAY_NONE};
	struct dk_argv a;
	CHECK(dk_qemu_argv(&p, &vf, &qo, &a) == 0);
	char *sh = dk_argv_to_shell(&a);
	CHECK_CONTAINS(sh, "pcie-root-port,id=dkpt1,bus=pcie.0,chassis=1,addr=1c.0 ");
	free(sh);
	dk_argv_free(&a);

	/* GPU + USB + audio: ports 1c.0 (multifunction), 1c.1, 1c.2; layout-id on the audio path */
	o.usb[0] = "0000:0d:00.3";
	o.n_usb = 1;
	o.audio = "0e:00.4";
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK(dk_plan_port_multifunction(&p, 1));
	CHECK(!dk_plan_port_multifunction(&p, 2));
	const struct dk_plan_hostdev *au = dk_plan_hostdev_role(&p, "audio");
	CHECK(au != NULL);
	dk_plan_hostdev_devpath(au, path, sizeof path);
	CHECK_STR(path, "PciRoot(0x0)/Pci(0x1C,0x2)/Pci(0x0,0x0)");
	CHECK_STR(decision_value(&p, "deviceproperties"), "PciRoot(0x0)/Pci(0x1C,0x2)/Pci(0x0,0x0) layout-id 1");
	CHECK(dk_qemu_argv(&p, &vf, &qo, &a) == 0);
	sh = dk_argv_to_shell(&a);
	CHECK_CONTAINS(sh, "chassis=1,addr=1c.0,multifunction=on ");
	CHECK_CONTAINS(sh, "chassis=3,addr=1c.2 ");
	free(sh);
	dk_argv_free(&a);
	struct dk_virt_caps caps = {.kvm = true, .itco_watchdog = true};
	char *xml = NULL;
	CHECK(dk_libvirt_xml(&p, &vf, &caps, &xml) == 0);
	CHECK_CONTAINS(xml, "<address type=\"pci\" domain=\"0x0000\" bus=\"0x00\" slot=\"0x1c\" function=\"0x2\"/>");
	free(xml);
	/* the manifest carries the guest address and path */
	json_object *j = dk_plan_to_json(&p);
	json_object *e = json_object_array_get_idx(json_object_object_get(j, "passthrough"), 3);
	CHECK_STR(json_object_get_string(json_object_object_get(e, "port_address")), "0000:00:1c.2");
	CHECK_STR(json_object_get_string(json_object_object_get(e, "devpath")), "PciRoot(0x0)/Pci(0x1C,0x2)/Pci(0x0,0x0)");
	json_object_put(j);

	/* a card the chart spoofs (the fixture's Navi 23 as an RX 6650 XT, 0x73ef): device-id on its path */
	int k = dk_pci_find(&h.pci, "0b:00.0");
	CHECK(k >= 0);
	if (k >= 0)
		h.pci.devs[k].device = 0x73ef;
	o.usb[0] = NULL;
	o.n_usb = 0;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_STR(p.gpu.device_id, "0x73ff");
	CHECK_STR(decision_value(&p, "deviceproperties"),
		  "PciRoot(0x0)/Pci(0x1C,0x0)/Pci(0x0,0x0) device-id 0x73ff; PciRoot(0x0)/Pci(0x1C,0x1)/Pci(0x0,0x0) layout-id 1");
	dk_pci_free(&h.pci);
}

TEST(passthrough_refusals)
{
	struct dk_facts h;
	host_navi(&h);
	struct dk_plan_opts o = opts("navi");
	struct dk_plan p;
	static const struct {
		const char *gpu, *usb, *audio, *macos, *err;
	} bad[] = {
		{"0a:00.0", NULL, NULL, NULL, "--gpu 0000:0a:00.0: the host's boot VGA device"},
		{NULL, "07:00.0", NULL, NULL, "0000:07:00.0: IOMMU group 3 is not viable: it also holds 0000:05:00.0"},
		{"0b:00.7", NULL, NULL, NULL, "--gpu 0b:00.7: no such PCI device on this host"},
		{"0b:00.0", NULL, NULL, "bigsur", "--gpu 0000:0b:00.0: Navi 23 (1002:73ff) runs macOS 12 -> 26 per the guide's GPU chart, not Big Sur (11)"},
		{NULL, NULL, "06:00.0", NULL, "--audio 0000:06:00.0: SATA controller [0106], not an HD audio controller [0403]"},
		{NULL, "0d:00.3", "0b:00.1", NULL, "0000:0b:00.1: IOMMU group 1 is not viable: it also holds 0000:0b:00.0"},
		{"00:03.1", NULL, NULL, NULL, "a bridge [0604] is never passed through"},
		{"0b:00", NULL, NULL, NULL, "--gpu '0b:00': not a PCI address"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		o.gpu = bad[i].gpu;
		o.usb[0] = bad[i].usb;
		o.n_usb = bad[i].usb ? 1 : 0;
		o.audio = bad[i].audio;
		o.macos = bad[i].macos;
		o.force_devices = false;
		CHECK(dk_plan_build(&h, &o, &p) == -1);
		CHECK_CONTAINS(dk_errmsg(), bad[i].err);
		CHECK(strchr(dk_errmsg(), '\n') == NULL);
	}
	/* --force: passed anyway, with the reason as a warning */
	o = opts("navi");
	o.gpu = "0a:00.0";
	o.force_devices = true;
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_hostdev, 2);
	CHECK_INT(p.n_warnings, 2); /* boot VGA; Pascal cannot run Sequoia */
	CHECK_CONTAINS(p.warnings[0], "boot VGA device");
	CHECK_CONTAINS(p.warnings[0], "passed through anyway (--force)");
	CHECK_CONTAINS(p.warnings[1], "Pascal");
	CHECK_STR(p.gpu.kext, "none");
	/* the chart drives older releases: the same Pascal card on High Sierra */
	o.macos = "highsierra";
	o.model = "MacPro5,1";
	CHECK(dk_plan_build(&h, &o, &p) == 0);
	CHECK_INT(p.n_warnings, 1);
	CHECK_STR(p.gpu.family, "Pascal");
	CHECK_STR(p.gpu.kext, "WhateverGreen");
	/* --gpu-rom without --gpu; a relative ROM path */
	o = opts("navi");
	o.gpu_rom = "/x.rom";
	CHECK(dk_plan_build(&h, &o, &p) == -1);
	CHECK_CONTAINS(dk_errmsg(), "--gpu-rom needs --gpu");
	o.gpu = "0b:00.0";
	o.gpu_rom = "x.rom";
	CHECK(dk_plan_build(&h, &o, &p) == -1);
	CHECK_CONTAINS(dk_errmsg(), "not an absolute path");
	dk_errclear();
	dk_pci_free(&h.pci);
}

TEST(gpu_chart)
{
	const struct dk_gpu_family *g = dk_gpu_lookup(0x1002, 0x73ef);
	CHECK(g && !strcmp(g->family, "Navi 23"));
	CHECK_STR(dk_gpu_spoof(g, 0x73ef), "0x73ff");
	g = dk_gpu_lookup(0x1002, 0x73ff);
	CHECK(dk_gpu_spoof(g, 0x73ff) == NULL);
	g = dk_gpu_lookup(0x1002, 0x73df);
	CHECK_STR(g->family, "Navi 22");
	CHECK_STR(dk_gpu_kext(g), "NootRX");
	CHECK_STR(g->boot_args, "");
	CHECK(dk_gpu_drives(g, dk_macos_find("tahoe")));
	CHECK(!dk_gpu_drives(g, dk_macos_find("bigsur")));
	g = dk_gpu_lookup(0x10de, 0x1180); /* GTX 680, Kepler: up to Big Sur */
	CHECK_STR(g->family, "Kepler");
	CHECK(dk_gpu_drives(g, dk_macos_find("bigsur")));
	CHECK(!dk_gpu_drives(g, dk_macos_find("monterey")));
	g = dk_gpu_lookup(0x10de, 0x2204); /* RTX 3090 */
	CHECK_STR(g->family, "Ampere");
	CHECK(!g->supported);
	CHECK_STR(dk_gpu_kext(g), "none");
	g = dk_gpu_lookup(0x1002, 0x67df); /* RX 580 */
	CHECK_STR(g->family, "Polaris");
	CHECK_STR(dk_gpu_kext(g), "WhateverGreen");
	CHECK(dk_gpu_drives(g, dk_macos_find("sierra")));
	CHECK(dk_gpu_lookup(0x8086, 0x3e92) == NULL);
	g = dk_gpu_lookup(0x1002, 0x6938); /* Tonga: spoofed to 0x6939 */
	CHECK_STR(dk_gpu_spoof(g, 0x6938), "0x6939");
	CHECK(!dk_gpu_drives(g, dk_macos_find("ventura")));
}

int main(void)
{
	RUN(plan_amd_ryzen);
	RUN(plan_intel_hybrid);
	RUN(plan_4core_nosmt);
	RUN(plan_64_threads);
	RUN(plan_legacy_macpro51);
	RUN(plan_explicit_cpus_memory);
	RUN(plan_unavailable_from_qemu);
	RUN(plan_cpu_host);
	RUN(plan_tcg_domain);
	RUN(plan_hugepages_default);
	RUN(xml_capabilities);
	RUN(argv_escaping);
	RUN(plan_json_roundtrip);
	RUN(plan_bad_input);
	RUN(profiles_data);
	RUN(pinning);
	RUN(pinning_numa);
	RUN(facts_libvirt_user_no_kvm);
	RUN(facts_libvirt_no_kvm_domains);
	RUN(facts_nested_kvm_lacks_isa);
	RUN(facts_no_dev_kvm);
	RUN(facts_firmware_uuid_random);
	RUN(proxmox_export);
	RUN(plan_runnable_choices);
	RUN(ppc_goldens_per_release);
	RUN(ppc_explain_is_data);
	RUN(ppc_bad_input);
	RUN(passthrough_gpu);
	RUN(passthrough_devpaths);
	RUN(passthrough_refusals);
	RUN(gpu_chart);
	return t_done();
}
