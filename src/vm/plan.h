/* The VM plan: a pure function of the facts (vm/facts.h: host, QEMU, OVMF,
 * libvirt), a Mac model profile, a macOS target and the user's options. It
 * reads no file, runs no process and prints nothing. Everything the VM is
 * made of (accelerator, CPU identity and masks, topology, memory, devices,
 * firmware) is decided here, once, with a reason per decision, and the
 * warnings the decisions call for are data in the plan; the libvirt XML and
 * the QEMU argv are two renderers of the same plan (vm/render.h). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "host/host.h"
#include "vm/facts.h"
#include "smbios/macos.h"

/* A Mac model as a VM profile (data, vm/profiles.c). */
struct dk_vm_profile {
	const char *model;       /* "MacPro7,1" */
	const char *cpu_model;   /* QEMU CPU model: "Cascadelake-Server" */
	const char *cpu_extra;   /* extra -cpu flags the guide adds ("+rdrand"), or "" */
	const char *macos_min;   /* dk_macos names */
	const char *macos_max;
	const char *macos_default;
	const char *video;       /* "vmware-svga" or "VGA" */
	const char *why;         /* the guide's reason for this identity */
};
extern const struct dk_vm_profile dk_vm_profiles[];
extern const int dk_vm_profile_count;
const struct dk_vm_profile *dk_vm_profile_find(const char *model); /* case-insensitive */
/* The profile the guide picks for a release (MacPro7,1 for Catalina+, ...). */
const struct dk_vm_profile *dk_vm_profile_for_macos(const struct dk_macos *os);

/* Features (QEMU names) of a QEMU CPU model, static table; NULL if unknown. */
const char *const *dk_cpu_model_features(const char *qemu_model);
/* The /proc/cpuinfo flag a QEMU feature name corresponds to (static buffer or
 * the input itself). */
const char *dk_cpu_feature_to_flag(const char *qemu_feature);

enum dk_cpu_mode { DK_CPU_MODEL = 0, DK_CPU_HOST };
enum dk_disk_bus { DK_BUS_VIRTIO = 0, DK_BUS_SATA, DK_BUS_IDE /* PowerPC (vm/ppc.h) */ };

#define DK_PLAN_MAX_MASK 64
#define DK_PLAN_MAX_EXPLAIN 48
#define DK_PLAN_MAX_WARN 8

struct dk_plan_decision {
	char key[32];
	char value[256];
	char reason[384];
};

#define DK_PLAN_MAX_HOSTDEV 16
#define DK_PLAN_MAX_USB 4
#define DK_PLAN_MAX_EVDEV 4

/* One host PCI function given to the guest (vfio-pci). The functions of one
 * card share a guest slot: a PCIe root port of its own, numbered from 1. */
struct dk_plan_hostdev {
	char role[8];             /* "gpu", "usb", "audio" */
	char host[16];            /* "0000:0b:00.1" */
	int port;                 /* guest root port (1..): libvirt bus index, QEMU id dkpt<port> */
	int func;                 /* guest function in that slot */
	bool multifunction;       /* function 0 of a card with several functions */
	char rom[512];            /* GPU function 0: ROM file ("" = the card's own, ROM BAR on) */
};

/* What the passed-through GPU needs in the guest (the guide's chart). */
struct dk_plan_gpu {
	char host[16];            /* "" when no GPU is passed through */
	char vendor_device[16];   /* "1002:73ff" */
	char family[48];          /* "Navi 23", "" when not in the chart */
	char macos_range[32];     /* "12 -> 26" */
	char kext[24];            /* plan.gpu_kext: "WhateverGreen", "NootRX" or "none" */
	char boot_args[64];       /* "agdpmod=pikera" or "" */
	char device_id[8];        /* DeviceProperties device-id spoof "0x73ff", or "" */
	char notes[192];
};

struct dk_plan {
	char name[201];
	char model[32];           /* profile model */
	char macos[24];           /* dk_macos name */
	char macos_version[16];
	/* CPU */
	enum dk_cpu_mode cpu_mode;
	char cpu_model[48];       /* QEMU model, or "host" */
	char cpu_arg[2048];       /* the complete -cpu value */
	char masked[DK_PLAN_MAX_MASK][32]; /* features the host lacks (QEMU names) */
	int n_masked;
	bool amd_host;
	bool topoext;
	bool invtsc;
	/* topology */
	int sockets, dies, cores, threads, vcpus;
	int vcpus_current;        /* fake core count (guide 8.2): vCPUs enabled at boot,
				     0: all of vcpus (the topology is the power-of-two one) */
	/* memory */
	uint64_t memory_mib;
	bool nosharepages;
	bool hugepages;           /* guest RAM on the host's hugepages (write-up) */
	int hugepage_mib;         /* their size: 0 = 2 MiB (the default), 1024 = 1 GiB */
	/* devices */
	uint64_t disk_bytes;
	enum dk_disk_bus disk_bus;
	char nic_model[24];       /* QEMU device: virtio-net-pci, vmxnet3, e1000-82545em */
	char mac[18];             /* "52:54:00:xx:xx:xx" */
	char video[24];           /* QEMU device: vmware-svga, VGA, or "none" */
	bool watchdog;            /* iTCO (built into q35's ICH9) with action none */
	/* host-side write-ups (dkvm tune): evdev input, bridged NIC, CPU governor */
	char evdev[DK_PLAN_MAX_EVDEV][160]; /* /dev/input/by-id/...; the first (the keyboard) is grabbed */
	int n_evdev;
	char grab_toggle[16];     /* evdev: "ctrl-ctrl", ... */
	char bridge[16];          /* the NIC on this host bridge ("br0"); "": user networking */
	bool cpu_governor;        /* performance governor while the VM runs (start/stop run the unit) */
	bool restrict_events;     /* RestrictEvents in the EFI whatever the model (dkvm tune restrict-events) */
	/* PCI passthrough (--gpu, --usb-controller, --audio) */
	struct dk_plan_hostdev hostdev[DK_PLAN_MAX_HOSTDEV];
	int n_hostdev;
	int n_ports;              /* root ports used by hostdevs */
	struct dk_plan_gpu gpu;
	/* firmware */
	char qemu_path[512];
	char ovmf_code[512];
	char ovmf_vars[512];      /* the template copied into the bundle */
	/* acceleration */
	enum dk_accel accel;
	char uuid[40];
	/* thread pinning (--pin): host CPU per vCPU, emulator cpuset */
	int n_pin;
	int pin[256];
	char emulator_pin[128];
	/* NUMA-local memory: pinned, every vCPU on one node of a multi-node host
	 * (libvirt <numatune> strict, QEMU memory backend host-nodes/policy=bind) */
	bool numa_bind;
	int numa_node;            /* that node, when numa_bind */
	/* VirtIO IO thread (guide 8.4): virtio disks on iothread 1, pinned to iothread_pin */
	int iothreads;            /* 0 or 1 */
	char iothread_pin[128];
	/* explanations, in order */
	struct dk_plan_decision why[DK_PLAN_MAX_EXPLAIN];
	int n_why;
	/* what the user should hear about the decisions (not in the JSON) */
	char warnings[DK_PLAN_MAX_WARN][512];
	int n_warnings;
};

struct dk_plan_opts {
	const char *name;
	const char *model;        /* NULL: the profile for the release */
	const char *macos;        /* NULL: the profile's default */
	int cpus;                 /* 0: recommended */
	uint64_t memory_bytes;    /* 0: recommended */
	uint64_t disk_bytes;      /* 0: 128 GiB */
	bool cpu_host;            /* --cpu host */
	bool passthrough_gpu;     /* no emulated display */
	/* PCI passthrough: host BDFs ("0b:00.0"), checked against facts.pci */
	const char *gpu;          /* every function of the card, one guest slot */
	const char *gpu_rom;      /* absolute path of a ROM file for the GPU, or NULL */
	const char *usb[DK_PLAN_MAX_USB]; /* xHCI controllers */
	int n_usb;
	const char *audio;        /* the motherboard's HDA controller */
	bool force_devices;       /* pass what the checks refuse (boot VGA, group, chart) */
	bool pin;                 /* pin vCPUs to host cores (guide write-up) */
	bool iothreads;           /* virtio disks on a dedicated IO thread (guide 8.4) */
	bool hugepages;           /* guest RAM on hugepages */
	bool fake_cores;          /* --cpus N not a power-of-two core count: the guide's
				     fake core count (8.2) instead of refusing */
	bool auto_levers;         /* create: pin and iothreads wherever the host allows */
	enum dk_accel_choice accel; /* --accel: auto, or force KVM / TCG */
	const char *pool;         /* --pool: the VM's files are volumes of this libvirt pool (explained) */
	/* Deterministic values for tests: NULL picks a random one. */
	const char *mac;
	const char *uuid;
};

/* Build the plan from the facts. -1 + dk_fail for bad input (unknown model or
 * release, model that does not support the release, ISA the host lacks, too
 * many vCPUs, no OVMF, --accel kvm where KVM cannot run...). */
/* The passthrough write-up on an existing plan: the devices o names (gpu,
 * gpu_rom, usb, audio, force_devices) added with the same checks and reasons
 * as at create; what the plan passes already stays. */
int dk_plan_add_passthrough(const struct dk_facts *f, const struct dk_plan_opts *o, struct dk_plan *p);
int dk_plan_build(const struct dk_facts *f, const struct dk_plan_opts *o, struct dk_plan *p);
/* What this host can run, by the planner's own rules (dk_plan_build() on the
 * facts: model range, the release's ISA against the host CPU and the guest
 * model, accelerator, sizing...). Releases: ok[i] for dk_macos_table[i], with
 * o's other options (o->macos ignored; o->model NULL: each release's own
 * model). Models: ok[i] for dk_vm_profiles[i], with o->macos (NULL: each
 * model's default). o->name NULL is fine. Returns how many are ok; when none,
 * dk_errmsg() says why the default choice (o as given) was refused. Pure, as dk_plan_build(). */
int dk_plan_releases(const struct dk_facts *f, const struct dk_plan_opts *o, bool *ok);
int dk_plan_models(const struct dk_facts *f, const struct dk_plan_opts *o, bool *ok);
/* The QEMU CPU model the plan will ask about (the profile's for the options),
 * NULL for --cpu host or an unknown model/release. */
const char *dk_plan_cpu_model(const struct dk_plan_opts *o);

/* Re-plan the CPU for another accelerator (start-time fallback to TCG), with
 * QEMU's list of unavailable model features for it (may be NULL). */
int dk_plan_set_accel(struct dk_plan *p, enum dk_accel a, const char *const *unavailable, const char *reason);

json_object *dk_plan_to_json(const struct dk_plan *p);
int dk_plan_from_json(json_object *o, struct dk_plan *p);
/* The VM's UUID into out: keep (a defined domain's; NULL or "" none), else
 * given (--uuid), else a version 4 UUID from random (16 bytes). */
void dk_plan_uuid(const char *keep, const char *given, const uint8_t *random, char out[40]);
/* The decisions as text, one "key value\n    reason\n" each (malloc'd). */
char *dk_plan_explain(const struct dk_plan *p);
/* Record (or replace) a decision: for write-ups that edit a stored plan. */
void dk_plan_note(struct dk_plan *p, const char *key, const char *value, const char *reason);
/* The write-ups as plan edits (pure; h = the host facts for pinning):
 * each returns 0 (or -1 + dk_fail when the plan cannot take it). */
int dk_plan_set_pin(struct dk_plan *p, const struct dk_host *h, bool on);
int dk_plan_set_iothreads(struct dk_plan *p, const struct dk_host *h, bool on);
void dk_plan_set_hugepages(struct dk_plan *p, bool on);
/* Fake core count: cpus vCPUs enabled out of a power-of-two topology
 * (8 cores x 2 threads, 16 x 2 above 16); cpus 0 = back to the plain one. */
int dk_plan_set_fake_cores(struct dk_plan *p, const struct dk_host *h, int cpus);
/* vCPUs enabled at boot. */
static inline int dk_plan_vcpus_online(const struct dk_plan *p) { return p->vcpus_current ? p->vcpus_current : p->vcpus; }

/* Checks of the host-side write-ups' values (also applied to a stored plan):
 * an evdev path is /dev/input/... of [A-Za-z0-9._:@+/-] without "..", no
 * comma (QEMU's option separator); a grab toggle is one libvirt and QEMU know;
 * an interface name is 1..15 characters of [A-Za-z0-9._-]. */
bool dk_evdev_path_ok(const char *path);
bool dk_grab_toggle_ok(const char *toggle);
bool dk_ifname_ok(const char *name);
/* Passthrough root ports sit at fixed guest addresses, so that OpenCore's
 * DeviceProperties can name the devices behind them: port n (1..16) is on
 * pcie.0 at slot 0x1c (ports 1-8) or 0x1b (ports 9-16), function (n-1)%8,
 * as a real PCH's root ports. Function 0 of a slot is multifunction when the
 * plan has another port in that slot. */
#define DK_PLAN_PORT_SLOT 0x1c
void dk_plan_port_addr(int port, int *slot, int *fn);
bool dk_plan_port_multifunction(const struct dk_plan *p, int port);
/* The OpenCore device path of a passed function in the guest:
 * "PciRoot(0x0)/Pci(0x1C,0x0)/Pci(0x0,0x1)". */
void dk_plan_hostdev_devpath(const struct dk_plan_hostdev *h, char *buf, size_t n);
/* The AppleALC layout-id dkvm writes for a passed HD audio controller (the
 * guide: try alcid= values, then make the working one permanent). */
#define DK_PLAN_AUDIO_LAYOUT 1
/* The passed HD audio controller (role "audio") and the GPU's function 0, or NULL. */
const struct dk_plan_hostdev *dk_plan_hostdev_role(const struct dk_plan *p, const char *role);

const char *dk_disk_bus_name(enum dk_disk_bus b);
const char *dk_accel_name(enum dk_accel a);
