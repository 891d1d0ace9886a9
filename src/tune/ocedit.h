/* The OpenCore-side write-ups (guide §8.1, §8.8, §8.11) as pure edits:
 * config.plist nodes in, edited nodes out; the display override plist from
 * an EDID. No files, no host reads (vm/tune.c does those). */
#pragma once
#include <plist/plist.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DK_REV_GUID "4D1FDA02-38C7-4A6A-9CC6-4BCCA8B30102"
#define DK_BOOT_GUID "7C436110-AB2A-4BBB-A880-FE41995C9F82"
#define DK_REV_PATCH "memtab,pci,cpuname"

/* PlatformInfo/Memory = memory (taken; NULL: removed) and
 * PlatformInfo/CustomMemory = (memory != NULL). -1 + dk_fail: no PlatformInfo. */
int dk_oc_set_memory(plist_t config, plist_t memory);

/* RestrictEvents' settings: boot-args gain revpatch=memtab,pci,cpuname and
 * revcpu=1 (the name patch is off by default on Intel); NVRAM
 * 4D1FDA02-...:revcpuname = cpuname (and in NVRAM/Delete, so the value
 * replaces a stored one). on false: every one of them removed. */
int dk_oc_set_restrict_events(plist_t config, bool on, const char *cpuname);

/* A CPU brand string for revcpuname: trademarks, "CPU", the "@ x GHz" and
 * "N-Core Processor" tails dropped, spaces collapsed, printable ASCII only,
 * at most 48 characters (RestrictEvents' limit). "" when nothing is left. */
void dk_cpu_brand_clean(const char *in, char *out, size_t cap);

/* ---- display overrides (§8.11) ---- */
struct dk_edid {
	uint16_t vendor;          /* manufacturer ID as macOS's DisplayVendorID (big-endian bytes 8-9) */
	uint16_t product;         /* product code (little-endian bytes 10-11) */
	char vendor_str[4];       /* "DEL" */
	char name[14];            /* monitor name descriptor, "" none */
	int width, height;        /* preferred (first detailed) timing; 0 none */
	int width_mm, height_mm;  /* image size */
};
/* The 128-byte base block (extensions ignored): -1 + dk_fail naming what is
 * wrong (size, header, checksum). */
int dk_edid_parse(const uint8_t *d, size_t len, const char *name, struct dk_edid *e);
/* The override plist (XML): DisplayProductName, DisplayVendorID,
 * DisplayProductID, DisplayIsTV false, scale-resolutions (the guide's list,
 * each mode in its normal and HiDPI form) and target-default-ppmm.
 * malloc'd; *rel = "DisplayVendorID-xxxx/DisplayProductID-yyyy" (malloc'd). */
char *dk_display_override(const struct dk_edid *e, char **rel);
