/* The guide's custom memory map (§8.1): OpenCore's PlatformInfo/Memory from
 * the host's SMBIOS type 17 (Memory Device) entries, scaled to the guest.
 *
 * dk_dmi17_parse() decodes one raw type-17 structure (as the kernel exposes it
 * in /sys/firmware/dmi/entries/17-N/raw); dk_dmi_memory_read() reads them all
 * through the sysroot; dk_memory_map() is pure: facts -> the Memory dict. */
#pragma once
#include <plist/plist.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DK_DMI_MAX_DIMMS 64

struct dk_dimm {
	uint32_t size_mib;        /* 0: empty slot */
	uint32_t speed;           /* MT/s (configured speed when given, else the maximum); 0 unknown */
	uint8_t type;             /* SMBIOS memory type: 26 DDR4, 34 DDR5, ... */
	uint8_t form_factor;      /* 9 DIMM, 13 SO-DIMM, ... */
	uint16_t type_detail;     /* bit field */
	uint16_t total_width, data_width; /* bits; 0 unknown */
	char locator[64], bank[64], manufacturer[64], part[64], serial[64];
};

struct dk_memory_facts {
	struct dk_dimm dimm[DK_DMI_MAX_DIMMS];
	int n;                    /* every slot read (populated or not) */
};

/* One raw type-17 structure (formatted area + string set): -1 + dk_fail when
 * it is not one (wrong type, truncated, a string number past the set).
 * Strings are kept printable ASCII (others become '?'), trimmed. */
int dk_dmi17_parse(const uint8_t *raw, size_t len, const char *name, struct dk_dimm *out);

/* Every <sysroot>/sys/firmware/dmi/entries/17-N/raw: 0 with f->n populated slots
 * and empties; 1 + dk_fail (the reason) when none is readable (not root, no
 * DMI); -1 + dk_fail naming the entry when one is damaged. */
int dk_dmi_memory_read(struct dk_memory_facts *f);

/* PlatformInfo/Memory for a guest of guest_mib: the guide's layout (12 slots,
 * DIMM_A1..D1 populated with guest/4 each, A2..D2 and 4 x DIMM_EMPTY empty);
 * the populated slots take speed, type, form factor, widths, type detail,
 * manufacturer, part and serial from the host's populated DIMMs in turn
 * (f NULL or without one: the guide's values, DDR4-3600 "RoyalGraphX"). */
plist_t dk_memory_map(const struct dk_memory_facts *f, uint64_t guest_mib);

/* The map for from = "auto" (NULL: the host's DMI when readable, else the
 * guide's layout, why in note), "dmi" (else -1) or "guide". *out malloc'd. */
int dk_memory_map_from(const char *from, uint64_t guest_mib, plist_t *out, char *note, size_t ncap);
