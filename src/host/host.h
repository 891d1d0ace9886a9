/* Host facts: everything dkvm learns about the machine, read through the
 * sysroot (util/paths.h). Probing fills struct dk_host; everything downstream
 * (checks, plan, XML) is a pure function of it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define DK_MAX_CPUS 1024

enum dk_cpu_vendor { DK_VENDOR_UNKNOWN = 0, DK_VENDOR_INTEL, DK_VENDOR_AMD };

struct dk_host_cpu {
	enum dk_cpu_vendor vendor;
	char vendor_id[16];   /* "GenuineIntel" / "AuthenticAMD" */
	char model_name[128];
	int family, model, stepping;
	char *flags;          /* space-separated /proc/cpuinfo flags, malloc'd */
	bool vmx, svm;        /* flag visible */
	/* topology */
	int logical;          /* online logical CPUs */
	int sockets, cores;   /* cores = physical cores in total */
	int threads_per_core;
	bool smt;
	bool hybrid;          /* Intel P/E cores (cpu_core + cpu_atom) */
	int p_cores, e_cores; /* physical, when hybrid */
	int numa_nodes;
	int n_l3;             /* L3 domains (CCX / shared L3 groups) */
	int *l3_cpus[64];     /* per L3 domain, logical CPU list terminated by -1 */
	/* per logical CPU (index = cpu number) */
	int core_id[DK_MAX_CPUS], package_id[DK_MAX_CPUS];
	int sibling_of[DK_MAX_CPUS]; /* lowest-numbered SMT sibling, or itself */
	char isolcpus[256];   /* from cmdline, "" if none */
};

struct dk_host_memory {
	uint64_t total_kib, available_kib;
	uint64_t hugepages_2m, hugepages_1g;       /* configured pages */
	uint64_t hugepages_2m_free, hugepages_1g_free;
};

struct dk_host_kvm {
	bool dev_present, dev_access;
	bool usable;            /* the smoke guest ran to HLT */
	char detail[256];       /* exit reason or why not */
	int ignore_msrs, report_ignored_msrs, nested; /* -1 unknown */
};

struct dk_host_iommu {
	bool enabled;
	int groups;
	bool cmdline_intel_iommu_on, cmdline_amd_iommu, cmdline_iommu_pt;
	int irq_remapping; /* -1 unknown, 0 off, 1 on */
};

struct dk_host_qemu {
	char path[512];
	char version[64];      /* "7.2.22" */
	int major, minor, micro;
	bool has_applesmc, has_q35;
	char ovmf_code[512], ovmf_vars[512]; /* chosen firmware pair, "" if none */
	bool ovmf_4m;
};

struct dk_host_libvirt {
	bool present;
	unsigned long version; /* major*1e6 + minor*1e3 + micro, 0 if unknown */
	bool socket_reachable;
	bool user_in_libvirt, user_in_kvm;
	bool virt_manager;
};

struct dk_host {
	struct dk_host_cpu cpu;
	struct dk_host_memory mem;
	struct dk_host_kvm kvm;
	struct dk_host_iommu iommu;
	struct dk_host_qemu qemu;
	struct dk_host_libvirt libvirt;
	char cmdline[4096];
	char distro_id[64];     /* os-release ID: debian, ubuntu, arch, fedora, linuxmint, nobara */
	char bootloader[32];    /* "grub", "systemd-boot", "kernelstub", "unknown" */
	uint64_t vm_dir_free_bytes;
};

/* Probe everything under the sysroot. `live` probes (KVM smoke guest, QEMU
 * queries, libvirt connection) run only when the sysroot is "/". Returns 0, or
 * -1 with dk_fail() for input so broken nothing can be said (e.g. no cpuinfo). */
int dk_host_probe(struct dk_host *h);
void dk_host_free(struct dk_host *h);
bool dk_host_has_flag(const struct dk_host *h, const char *flag);

/* Recommended guest topology by the guide's rules. */
struct dk_topology_rec {
	int sockets, dies, cores, threads;
	uint64_t memory_kib;
	char reason[512];
};
void dk_host_recommend(const struct dk_host *h, struct dk_topology_rec *r);
