/* Host facts: everything dkvm learns about the machine, read through the
 * sysroot (util/paths.h). Probing fills struct dk_host; everything downstream
 * (checks, plan, XML) is a pure function of it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DK_MAX_CPUS 1024
#define DK_MAX_NUMA_NODE 1024 /* node numbers dkvm keeps (nodeN/cpulist above: CPUs unknown) */

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
	/* NUMA node per logical CPU, from /sys/devices/system/node/nodeN/cpulist;
	 * meaningful only when numa_cpus_known (every online CPU found in one) */
	int numa_node_of[DK_MAX_CPUS];
	bool numa_cpus_known;
	int n_l3;             /* L3 domains (CCX / shared L3 groups) */
	int *l3_cpus[64];     /* per L3 domain, logical CPU list terminated by -1 */
	/* per logical CPU (index = cpu number) */
	int core_id[DK_MAX_CPUS], package_id[DK_MAX_CPUS];
	int sibling_of[DK_MAX_CPUS]; /* lowest-numbered SMT sibling, or itself */
	char isolcpus[256];   /* from cmdline, "" if none */
	/* added by the host area */
	int logical_present;  /* "processor" entries in /proc/cpuinfo */
	bool topo_from_sysfs; /* topology read from /sys (else guessed from cpuinfo) */
	bool p_smt;           /* hybrid: the P cores have SMT */
	int p_cpus[DK_MAX_CPUS], n_p_cpus; /* hybrid: logical CPUs of the P cores */
	char error[256];      /* why /proc/cpuinfo could not be used, "" when fine */
};

struct dk_host_memory {
	uint64_t total_kib, available_kib;
	uint64_t hugepages_2m, hugepages_1g;       /* configured pages */
	uint64_t hugepages_2m_free, hugepages_1g_free;
	/* added by the host area */
	char error[256];    /* why MemTotal/MemAvailable are not used, "" when fine */
	char hp_error[256]; /* why the hugepage counts are not used, "" when fine */
};

struct dk_host_kvm {
	bool dev_present, dev_access;
	bool usable;            /* the smoke guest ran to HLT */
	char detail[256];       /* exit reason or why not */
	int ignore_msrs, report_ignored_msrs, nested; /* -1 unknown */
	/* added by the host area */
	bool module_loaded;     /* /sys/module/kvm */
	char vendor_module[16]; /* "kvm_intel" / "kvm_amd" / "" (none loaded) */
	bool smoke_ran;         /* the smoke guest was attempted (live only) */
	unsigned dev_mode;      /* st_mode & 07777 of /dev/kvm */
	bool dev_is_chr;        /* a character device (false in snapshots) */
	char dev_group[64];     /* group owning /dev/kvm (from /etc/group), "" if unknown */
};

struct dk_host_iommu {
	bool enabled;
	int groups;
	bool cmdline_intel_iommu_on, cmdline_amd_iommu, cmdline_iommu_pt;
	int irq_remapping; /* -1 unknown, 0 off, 1 on */
	/* added by the host area */
	bool cmdline_intel_iommu_off, cmdline_amd_iommu_off, cmdline_iommu_off;
	bool cmdline_acs_override;
	int units;         /* entries in /sys/class/iommu */
};

struct dk_host_qemu {
	char path[512];
	char version[64];      /* "7.2.22" */
	int major, minor, micro;
	bool has_applesmc, has_q35;
	char ovmf_code[512], ovmf_vars[512]; /* chosen firmware pair, "" if none */
	bool ovmf_4m;
	/* added by the host area */
	bool queried;          /* version/help were asked from the binary (live) */
	char error[256];       /* why the query failed, "" if fine */
	bool ovmf_secboot;     /* the chosen firmware enforces Secure Boot */
	char ovmf_source[512]; /* descriptor JSON path, or "fallback path" */
};

struct dk_host_libvirt {
	bool present;
	unsigned long version; /* major*1e6 + minor*1e3 + micro, 0 if unknown */
	bool socket_reachable;
	bool user_in_libvirt, user_in_kvm;
	bool virt_manager;
	/* added by the host area */
	bool queried;                 /* live: library and daemon were asked */
	unsigned long lib_version;    /* libvirt library linked into dkvm */
	char socket_path[128];        /* the socket that answered (or was tried) */
	char error[256];              /* why the daemon could not be asked */
	char user[64];                /* the user the group checks are about */
	bool group_libvirt_exists, group_kvm_exists;
	/* the user libvirt's system daemon runs QEMU as (qemu.conf, else the distro's default) */
	char qemu_user[64];           /* "libvirt-qemu", "" if unknown */
	bool qemu_user_exists;        /* found in /etc/passwd */
	unsigned qemu_uid, qemu_gid;
	bool qemu_kvm_access;         /* that user can open /dev/kvm read/write */
	char qemu_groups[256];        /* its groups, "kvm,libvirt-qemu" */
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
	/* added by the host area */
	bool live;              /* probed the running host (sysroot "/") */
	char distro_name[128];  /* os-release PRETTY_NAME */
	char distro_like[128];  /* os-release ID_LIKE */
	char distro_family[16]; /* "arch", "debian", "fedora" or "" */
	char bootloader_file[256];   /* /etc/default/grub, the loader entry, kernelstub config */
	char grub_cmdline[1024];     /* GRUB_CMDLINE_LINUX value */
	char grub_cmdline_default[1024]; /* GRUB_CMDLINE_LINUX_DEFAULT value */
	char clocksource[32];   /* current clocksource, "" if unknown */
	char clocksource_avail[128];
	char *vm_dir;           /* where VMs go ($XDG_DATA_HOME/dkvm; malloc'd, live only) */
	bool vm_dir_checked;
	bool hypervisor;        /* "hypervisor" cpu flag: dkvm runs nested in a VM */
	char refused[1024];     /* host files refused ("<file>: a FIFO, not a regular file",
				   "<file>: larger than N bytes"), one per line, "" if none */
	int n_refused;
};

/* The sysroot (--sysroot / DKVM_SYSROOT) must be an existing directory: 0, or
 * -1 with "<dir>: sysroot: <why>". Always 0 on the live host. */
int dk_host_sysroot_check(void);
/* Probe everything under the sysroot. `live` probes (KVM smoke guest, QEMU
 * queries, libvirt connection) run only when the sysroot is "/". Returns 0, or
 * -1 with dk_fail() for input so broken nothing can be said (e.g. no cpuinfo). */
int dk_host_probe(struct dk_host *h);
/* Only /proc/cpuinfo (vendor, model, flags): what a command that needs the
 * CPU facts and nothing else reads. Same return as dk_host_probe(); free with
 * dk_host_free(). */
int dk_host_probe_cpu(struct dk_host *h);
void dk_host_free(struct dk_host *h);
bool dk_host_has_flag(const struct dk_host *h, const char *flag);

/* Recommended guest topology by the guide's rules. */
struct dk_topology_rec {
	int sockets, dies, cores, threads;
	uint64_t memory_kib;
	char reason[512];
};
void dk_host_recommend(const struct dk_host *h, struct dk_topology_rec *r);

/* ---- added by the host area ---- */

/* The KVM smoke guest on a given device node (normally "/dev/kvm"): creates a
 * VM with one page of memory and one real-mode vCPU running
 * "mov al,0x42; out 0x10,al; hlt", in a child process bounded by timeout_ms.
 * Returns 1 when the guest ran to HLT after the expected port write, 0 when it
 * did not (detail says why: open/ioctl error with errno, or the unexpected exit
 * reason), never crashes. */
int dk_kvm_smoke(const char *dev, int timeout_ms, char *detail, size_t n);

/* Parse a Linux CPU list ("0-5,12-17") into out (sorted as written); returns
 * the count, -1 on malformed input. */
int dk_parse_cpulist(const char *s, int *out, int max);

/* Checks: one per host fact the guide asks to verify. */
enum dk_check_status { DK_CHECK_PASS = 0, DK_CHECK_WARN, DK_CHECK_FAIL, DK_CHECK_SKIP };
struct dk_check {
	char id[32];        /* stable id, e.g. "iommu.cmdline" */
	const char *group;  /* heading, e.g. "IOMMU" */
	enum dk_check_status status;
	char *summary;      /* one line */
	char *detail;       /* facts behind the verdict, may be NULL */
	char *fix;          /* exact command / file edit for this distro, may be NULL */
	bool live;          /* depends on the running host (not reproducible from a snapshot) */
};
struct dk_checks {
	struct dk_check *v;
	size_t n;
};
const char *dk_check_status_name(enum dk_check_status s);
void dk_host_checks(const struct dk_host *h, struct dk_checks *out);
void dk_checks_free(struct dk_checks *c);
/* The whole `host check --json` document (see dkvm-host(1)). */
struct json_object *dk_host_check_json(const struct dk_host *h, const struct dk_checks *c);

/* Kernel parameter advice for this host's bootloader and distro: the text
 * telling how to add `params` (e.g. "intel_iommu=on iommu=pt"). malloc'd. */
char *dk_host_kernel_param_fix(const struct dk_host *h, const char *params);
/* The distro's package install command for the given packages per family
 * (arch, debian, fedora); NULL entries fall back to the debian name. malloc'd. */
char *dk_host_pkg_fix(const struct dk_host *h, const char *arch, const char *debian, const char *fedora);
