/* PCI devices and IOMMU groups, read through the sysroot; passthrough
 * viability per the guide. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct json_object;

struct dk_pci_dev {
	char bdf[16];          /* "0000:01:00.0" */
	unsigned domain, bus, slot, func;
	uint32_t class_code;   /* 24-bit class/subclass/prog-if: 0x030000 */
	uint16_t vendor, device, sub_vendor, sub_device;
	char driver[64];       /* "" when unbound */
	int boot_vga;          /* -1 unknown, 0, 1 */
	char reset_method[128];/* "flr bus", "" unknown */
	int group;             /* -1 when not in a group */
	bool ignored;          /* bridge / non-essential instrumentation / encryption */
	char *name;            /* "Navi 23 [Radeon RX 6600/6600 XT/6600M]" or NULL */
	char *vendor_name;
	char *class_name;
	char *sub_name;
	int audio_pair;        /* GPU: index of its HDMI audio function, else -1 */
};

struct dk_iommu_group {
	int id;
	int *devs; /* indices into dk_pci.devs */
	int ndev;
	bool viable;
	char reason[256];
};

struct dk_pci {
	struct dk_pci_dev *devs;
	int ndev;
	struct dk_iommu_group *groups;
	int ngroups;
	char *ids_file;     /* pci.ids used for names (malloc'd), NULL if none */
};

/* Read /sys/bus/pci/devices and /sys/kernel/iommu_groups. 0, or -1 + dk_fail. */
int dk_pci_scan(struct dk_pci *p);
void dk_pci_free(struct dk_pci *p);
/* True for classes the guide says to ignore when judging a group:
 * host bridge 0600, ISA bridge 0601, PCI bridge 0604, non-essential
 * instrumentation 1300, encryption controller 1080. */
bool dk_pci_class_ignored(uint32_t class_code);
/* Index of the device with this BDF ("01:00.0" or "0000:01:00.0"), -1 if none. */
int dk_pci_find(const struct dk_pci *p, const char *bdf);
/* "vfio-pci.ids=1002:73ff,1002:ab28" for a device: its own ID, its paired
 * audio function and every other non-ignored function in its group.
 * malloc'd; NULL + dk_fail when the BDF is unknown. */
char *dk_pci_vfio_ids(const struct dk_pci *p, const char *bdf);
struct json_object *dk_pci_json(const struct dk_pci *p);
/* `dkvm --json host iommu --device`'s {device, group (null: none), viable,
 * vfio_pci_ids} for p->devs[i] and its dk_pci_vfio_ids(). */
struct json_object *dk_pci_device_json(const struct dk_pci *p, int i, const char *ids);
/* A GPU's row of the guide's chart (host/gpu.h) as JSON: family, supported,
 * macos_range, macos_min, macos_max, kext, boot_args, device_id_spoof, notes. */
struct json_object *dk_gpu_json(uint16_t vendor, uint16_t device);
