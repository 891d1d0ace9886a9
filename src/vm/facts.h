/* Facts in, plan out: everything the VM plan depends on that comes from
 * outside dkvm (the host, its QEMU and firmware, what QEMU says the CPU model
 * lacks per accelerator, libvirt), gathered once at the edge by
 * dk_facts_gather() and then read by the planner (vm/plan.h) as const. The
 * planner itself reads no file and runs no process, so a facts fixture gives
 * a reproducible plan. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "host/host.h"
#include "host/pci.h"
#include "util/acl.h"

enum dk_accel { DK_ACCEL_KVM = 0, DK_ACCEL_TCG };
/* What the user asked for: the plan decides (auto), or forces one. */
enum dk_accel_choice { DK_ACCEL_AUTO = 0, DK_ACCEL_FORCE_KVM, DK_ACCEL_FORCE_TCG };

/* What a libvirt connection can do (the domain XML renders for it). */
struct dk_virt_caps {
	unsigned long version;    /* libvirt library version of the connection, 1e6*major... */
	bool kvm;                 /* domain type kvm available */
	bool itco_watchdog;       /* <watchdog model='itco'> known (libvirt >= 9.1) */
	bool firmware_efi_with_loader; /* <os firmware='efi'> + explicit loader accepted (>= 9.2) */
	bool video_vmvga;         /* video model vmvga supported */
	bool spice;               /* graphics type spice supported */
	bool has_default_network; /* the "default" network exists and is active */
};

struct dk_facts {
	/* dk_host_probe(); host.qemu.ovmf_code/vars also from the guide's
	 * known-path search when no firmware descriptor names a pair ("" when
	 * there is none: the plan refuses). */
	struct dk_host host;
	bool live;                /* the running host (sysroot "/") */
	bool qemu_missing;        /* live, and the QEMU binary is not executable */
	/* accelerator verdicts */
	bool kvm_usable;          /* /dev/kvm opens read/write (live), or exists (sysroot) */
	/* Features of cpu_model that QEMU reports unavailable under each
	 * accelerator (query-cpu-definitions), NULL-terminated, indexed by enum
	 * dk_accel; NULL: not asked, or QEMU could not say (the plan then uses
	 * its static model table and the host's flags). */
	char cpu_model[48];
	char **unavailable[2];
	/* libvirt: the connection's capabilities, else those of the library's
	 * (or the host daemon's) version */
	struct dk_virt_caps caps;
	bool connected;           /* a connection was given */
	char uri[512];
	bool libvirt_local;       /* its QEMU runs on this machine */
	bool qemu_user_known;     /* local: who libvirt runs QEMU as */
	struct dk_ident qemu_user;
	bool qemu_user_kvm;       /* that user can open /dev/kvm */
	char qemu_user_kvm_why[160]; /* "/dev/kvm is crw------- root:root" when not */
	bool domain_defined;      /* a domain of the VM's name is defined */
	char domain_uuid[40];     /* its UUID, "" if none (or not asked) */
	/* PCI devices and IOMMU groups (host/pci.h), read when passthrough was
	 * asked for (pci_known); the plan decides what goes to the guest */
	bool pci_known;
	struct dk_pci pci;
	/* entropy for the MAC address and the UUID */
	uint8_t random[19];
};

struct dk_facts_opts {
	const char *name;         /* the VM (libvirt domain facts); NULL: none */
	void *conn;               /* an open libvirt connection, or NULL */
	const char *uri;          /* its URI */
	bool domain_uuid;         /* read the UUID of an existing domain (--force) */
	const char *cpu_model;    /* the QEMU CPU model to ask about; NULL: do not ask */
	enum dk_accel_choice accel; /* which accelerators to ask QEMU about */
	bool pci;                 /* scan PCI devices and IOMMU groups (passthrough) */
};

/* Gather every fact (the only step that reads the host, runs QEMU and asks
 * libvirt). -1 + dk_fail when the host cannot be probed or libvirt does not
 * answer. Free with dk_facts_free(). */
int dk_facts_gather(const struct dk_facts_opts *o, struct dk_facts *f);
void dk_facts_free(struct dk_facts *f);

/* OVMF: find a CODE/VARS pair under the sysroot (QEMU firmware descriptors are
 * the host engineer's job; this is the guide's known-path search, 4M first). */
int dk_ovmf_find(char *code, size_t ncode, char *vars, size_t nvars);
