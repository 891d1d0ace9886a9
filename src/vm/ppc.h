/* PowerPC guests (the guide's DarwinPPC): Mac OS X 10.0-10.5 on
 * qemu-system-ppc, machine mac99 (a PowerMac3,1-class Power Mac G4) with
 * OpenBIOS. No OpenCore, no OVMF, no SMBIOS.
 *
 * What differs per release is data (dk_ppc_releases[], vm/ppc.c), read by one
 * pure planner, dk_ppc_plan_build(): facts in (the QEMU and OpenBIOS found,
 * the libvirt connection's answer, entropy), plan out, every decision with
 * its reason. dk_ppc_qemu_argv() and dk_ppc_libvirt_xml() render it. The x86
 * planner (vm/plan.h) is a separate path. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

#include "vm/plan.h"
#include "vm/render.h"

/* One release, as the guide's Template-<Release>.sh runs it. */
struct dk_ppc_release {
	const char *version;      /* "10.4" */
	const char *name;         /* "tiger" */
	const char *title;        /* "Tiger" */
	const char *cpu;          /* QEMU -cpu: "G4" (PowerMac3,1 is a G4) */
	const char *cpu_why;
	unsigned min_mib;         /* Apple's minimum RAM for the release */
	const char *machine;      /* -machine value: "mac99,usb=off" */
	const char *machine_why;
	bool usb_input;           /* usb-tablet + usb-kbd (needs usb=on) */
	bool pci_testdev;         /* the template adds -device pci-testdev */
	const char *nic;          /* QEMU NIC: "sungem" */
	const char *resolution;   /* OpenBIOS -g WxHxDEPTH */
	unsigned max_disk_gib;    /* 0: no limit of the release's ATA driver */
};
extern const struct dk_ppc_release dk_ppc_releases[];
extern const int dk_ppc_release_count;
/* By version ("10.4", "10.4.11") or name ("tiger", "Tiger"); NULL if none. */
const struct dk_ppc_release *dk_ppc_release_find(const char *s);

#define DK_PPC_MAX_MIB 2048u  /* QEMU's mac99 refuses more */
#define DK_PPC_MAX_EXPLAIN 24

/* What the planner reads from outside (gathered by dk_ppc_facts_gather). */
struct dk_ppc_facts {
	char qemu_path[512];      /* qemu-system-ppc */
	bool qemu_missing;        /* live host, not executable */
	char openbios[512];       /* the OpenBIOS image found, "" if none */
	bool connected;           /* a libvirt connection was given */
	char uri[512];
	bool libvirt_mac99;       /* it offers ppc mac99 domains (domain capabilities) */
	bool domain_defined;      /* a domain of the VM's name exists there */
	uint8_t random[19];       /* entropy for the MAC and UUID */
};
/* conn: an open libvirt connection or NULL. -1 + dk_fail on error. */
int dk_ppc_facts_gather(const char *name, void *conn, const char *uri, struct dk_ppc_facts *f);

struct dk_ppc_plan_opts {
	const char *name;
	const char *macos;        /* required: 10.0 .. 10.5 or a release name */
	uint64_t memory_bytes;    /* 0: the guide's 2 GiB */
	uint64_t disk_bytes;      /* 0: 32 GiB */
	const char *iso;          /* absolute path of the install media, or NULL */
	const char *mac, *uuid;   /* tests: fixed values; NULL: from the facts' entropy */
};

struct dk_ppc_plan {
	char name[201];
	char macos[16];           /* release name: "tiger" */
	char version[8];          /* "10.4" */
	char cpu[16];
	char machine[64];
	bool usb_input;
	bool pci_testdev;
	uint64_t memory_mib;
	uint64_t disk_bytes;
	char iso[4096];           /* "" none */
	char boot[4];             /* "c" disk, "d" CD-ROM */
	char nic[24];
	char mac[18];
	char resolution[24];
	char qemu_path[512];
	char uuid[40];
	struct dk_plan_decision why[DK_PPC_MAX_EXPLAIN];
	int n_why;
};

/* Pure. -1 + dk_fail: release that is not PowerPC (10.6+, sonoma...), RAM
 * over mac99's 2 GiB or under the release's minimum, a disk the release
 * cannot address, no qemu-system-ppc or OpenBIOS, --connect without ppc
 * mac99 in the connection. */
int dk_ppc_plan_build(const struct dk_ppc_facts *f, const struct dk_ppc_plan_opts *o, struct dk_ppc_plan *p);
/* The fields the x86 plan shares (name, model, release, vCPUs, memory, disk,
 * NIC, QEMU, accel TCG, decisions), for list/show. */
void dk_ppc_plan_common(const struct dk_ppc_plan *pp, struct dk_plan *p);

int dk_ppc_qemu_argv(const struct dk_ppc_plan *p, const struct dk_vm_files *f, const struct dk_qemu_opts *o,
		     struct dk_argv *out);
/* The domain XML: <domain type='qemu'>, <type arch='ppc' machine='mac99'>, IDE
 * disk + CD-ROM, user NIC, and the template's extras as qemu:commandline. */
int dk_ppc_libvirt_xml(const struct dk_ppc_plan *p, const struct dk_vm_files *f, char **xml);

json_object *dk_ppc_plan_to_json(const struct dk_ppc_plan *p);
/* From a manifest (hostile): every field checked. */
int dk_ppc_plan_from_json(json_object *o, struct dk_ppc_plan *p);
