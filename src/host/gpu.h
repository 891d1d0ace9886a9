/* The guide's GPU support chart (darwinkvm-guide-detail §2.2) as data: which
 * macOS releases drive a card, with which kext, boot-args and device-id
 * spoof. Keyed by PCI vendor and device-id ranges. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct dk_macos;

struct dk_gpu_family {
	uint16_t vendor;        /* 0x1002 AMD, 0x10de NVIDIA */
	uint16_t dev_lo, dev_hi;/* device-id range, inclusive */
	const char *family;     /* "Navi 23" */
	bool supported;         /* false: no macOS drives it (or the chart gives no range) */
	const char *min_macos;  /* dk_macos name; NULL: from before the releases dkvm knows */
	const char *max_macos;  /* NULL: up to the newest */
	const char *range;      /* the chart's range: "12 -> 26" */
	const char *kext;       /* "WhateverGreen", "NootRX" or "none" */
	const char *boot_args;  /* "agdpmod=pikera" or "" */
	const char *spoof;      /* device-id to spoof ("0x73ff"), or NULL */
	const char *notes;      /* the chart's notes */
};

/* The chart's row for a card, NULL when the chart does not list it. */
const struct dk_gpu_family *dk_gpu_lookup(uint16_t vendor, uint16_t device);
/* The spoof for this exact device (NULL: none, or the card is the target). */
const char *dk_gpu_spoof(const struct dk_gpu_family *g, uint16_t device);
/* Does the release drive the card? */
bool dk_gpu_drives(const struct dk_gpu_family *g, const struct dk_macos *os);
/* The kext for a release: "none" when unsupported; Tahoe's WhateverGreen is
 * the Carnations Botanica build (the note says so). */
const char *dk_gpu_kext(const struct dk_gpu_family *g);
