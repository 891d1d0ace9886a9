/* The guide's GPU chart (darwinkvm-guide-detail §2.2), keyed by PCI IDs.
 * The first matching row wins: exact cards (spoofs) come before their family. */
#include "host/gpu.h"
#include "smbios/macos.h"

#include <stddef.h>
#include <string.h>

#define AMD 0x1002
#define NV 0x10de
#define WEG "WhateverGreen"
#define PIKERA "agdpmod=pikera"

static const struct dk_gpu_family chart[] = {
	/* AMD: RDNA2 */
	{AMD, 0x73ef, 0x73ef, "Navi 23", true, "monterey", NULL, "12 -> 26", WEG, PIKERA, "0x73ff",
	 "RX 6650 XT: device-id spoof 0x73ff"},
	{AMD, 0x73e0, 0x73ff, "Navi 23", true, "monterey", NULL, "12 -> 26", WEG, PIKERA, NULL,
	 "native; Pro W6600(X) may need a spoof"},
	{AMD, 0x73c0, 0x73df, "Navi 22", true, "monterey", NULL, "12 -> 26", "NootRX", "", NULL,
	 "NootRX required (never with WhateverGreen or agdpmod=pikera)"},
	{AMD, 0x73a5, 0x73a5, "Navi 21", true, "bigsur", NULL, "11 -> 26", WEG, PIKERA, "0x73bf",
	 "RX 6950 XT: device-id spoof 0x73bf"},
	{AMD, 0x73a0, 0x73bf, "Navi 21", true, "bigsur", NULL, "11 -> 26", WEG, PIKERA, NULL,
	 "WhateverGreen recommended for DRM"},
	{AMD, 0x7420, 0x743f, "Navi 24", false, NULL, NULL, "unsupported", "none", "", NULL,
	 "RX 6300/6400/6500 XT: no macOS driver"},
	{AMD, 0x7440, 0x74ff, "Navi 3x", false, NULL, NULL, "unsupported", "none", "", NULL,
	 "RX 7000 / Pro W7000 / Instinct: no macOS driver"},
	/* AMD: RDNA1 */
	{AMD, 0x7340, 0x734f, "Navi 14", true, "catalina", NULL, "10.15.1 -> 26", WEG, PIKERA, NULL,
	 "WhateverGreen required; from 10.15.1"},
	{AMD, 0x7310, 0x731f, "Navi 10", true, "catalina", NULL, "10.15.1 -> 26", WEG, PIKERA, NULL,
	 "WhateverGreen required plus agdpmod=pikera; from 10.15.1"},
	/* AMD: GCN5 / GCN4 */
	{AMD, 0x66a0, 0x66af, "Vega 20", true, "mojave", NULL, "10.14.5 -> 26", WEG, "", NULL, "native; from 10.14.5"},
	{AMD, 0x6860, 0x687f, "Vega 10", true, "highsierra", NULL, "10.13 -> 26", WEG, "", NULL,
	 "native; avoid XFX cards (VBIOS)"},
	{AMD, 0x6fdf, 0x6fdf, "Polaris 20", true, "sierra", NULL, "10.12 -> 26", WEG, "", NULL,
	 "RX 580 2048SP needs a custom VBIOS"},
	{AMD, 0x67c0, 0x67ff, "Polaris", true, "sierra", NULL, "10.12 -> 26", WEG, "", NULL,
	 "native; RX 590 from 10.14.3; avoid XFX/PowerColor/HIS/VisionTek"},
	{AMD, 0x6980, 0x699f, "Lexa", false, NULL, NULL, "unknown", WEG, "", "0x67ff",
	 "range unknown; device-id spoof 0x67ff plus WhateverGreen no-gfx-spoof"},
	/* AMD: GCN1-3 */
	{AMD, 0x7300, 0x730f, "Fiji", true, "yosemite", "monterey", "10.10.4 -> 12", WEG, "", NULL, "from 10.10.4"},
	{AMD, 0x6920, 0x693f, "Tonga", true, "yosemite", "monterey", "10.10 -> 12", WEG, "", "0x6939",
	 "spoof the Tonga family to 0x6939"},
	{AMD, 0x67a0, 0x67bf, "Hawaii", true, "mavericks", "monterey", "10.9/10.10 -> 12", WEG, "", "0x67b0",
	 "spoof 0x67b0; -raddvi for DVI"},
	{AMD, 0x6640, 0x665f, "Bonaire", true, "mavericks", "monterey", "10.9/10.10 -> 12", WEG, "", "0x6640",
	 "spoof 0x6640; -raddvi for DVI"},
	{AMD, 0x6810, 0x681f, "Pitcairn", true, "mavericks", "monterey", "10.9/10.10 -> 12", WEG, "", "0x6818",
	 "spoof 0x6818; radpg=15 if init fails"},
	{AMD, 0x6780, 0x679f, "Tahiti", true, "mavericks", "monterey", "10.9/10.10 -> 12", WEG, "", "0x6790",
	 "spoof 0x6790; radpg=15 if init fails"},
	{AMD, 0x6820, 0x683f, "Cape Verde", true, "mountainlion", "monterey", "10.8 -> 12", WEG, "", NULL,
	 "HD 7700 series; radpg=15"},
	{AMD, 0x6600, 0x663f, "Oland", true, "mavericks", "monterey", "10.9/10.10 -> 12", WEG, "", NULL,
	 "R7 250 needs FakeID"},
	{AMD, 0x6660, 0x667f, "Hainan", false, NULL, NULL, "unsupported", "none", "", NULL, "mobile: no macOS driver"},
	{AMD, 0x6900, 0x691f, "Iceland/Topaz", false, NULL, NULL, "unsupported", "none", "", NULL,
	 "mobile: no macOS driver"},
	/* AMD: TeraScale */
	{AMD, 0x6700, 0x677f, "TeraScale 2 (HD 6000)", true, NULL, "highsierra", "10.6.7 -> 10.13.6", WEG, "", NULL,
	 "no Metal"},
	{AMD, 0x6880, 0x68ff, "TeraScale 2 (HD 5000)", true, NULL, "highsierra", "10.6.4 -> 10.13.6", WEG, "", NULL,
	 "no Metal"},
	{AMD, 0x9440, 0x95ff, "TeraScale (HD 4000)", true, NULL, "highsierra", "10.6 -> 10.13.6", WEG, "", NULL,
	 "no Metal"},
	/* AMD APUs: integrated, never driven */
	{AMD, 0x1300, 0x13ff, "APU iGPU", false, NULL, NULL, "unsupported", "none", "", NULL, "APU iGPUs: no macOS driver"},
	{AMD, 0x1500, 0x16ff, "APU iGPU", false, NULL, NULL, "unsupported", "none", "", NULL, "APU iGPUs: no macOS driver"},
	{AMD, 0x1900, 0x19ff, "APU iGPU", false, NULL, NULL, "unsupported", "none", "", NULL, "APU iGPUs: no macOS driver"},
	{AMD, 0x9830, 0x987f, "APU iGPU", false, NULL, NULL, "unsupported", "none", "", NULL, "APU iGPUs: no macOS driver"},
	/* NVIDIA */
	{NV, 0x1e00, 0x1fff, "Turing", false, NULL, NULL, "unsupported", "none", "", NULL, "RTX 20 / GTX 16: no macOS driver"},
	{NV, 0x2180, 0x21ff, "Turing", false, NULL, NULL, "unsupported", "none", "", NULL, "GTX 16: no macOS driver"},
	{NV, 0x2200, 0x25ff, "Ampere", false, NULL, NULL, "unsupported", "none", "", NULL, "no macOS driver (OCLP does not help)"},
	{NV, 0x2600, 0x28ff, "Ada", false, NULL, NULL, "unsupported", "none", "", NULL, "no macOS driver (OCLP does not help)"},
	{NV, 0x2900, 0x2fff, "Blackwell", false, NULL, NULL, "unsupported", "none", "", NULL, "no macOS driver"},
	{NV, 0x1d80, 0x1dbf, "Volta", true, "highsierra", "highsierra", "10.13.6 only", WEG, "", NULL,
	 "web driver builds 17G3025 and 17G3035 only"},
	{NV, 0x1b00, 0x1d7f, "Pascal", true, "sierra", "highsierra", "10.12.4 -> 10.13.6", WEG, "", NULL,
	 "web drivers (minimum build 17G14042); GTX 1060 GP104/GDDR5X unsupported"},
	{NV, 0x1340, 0x17ff, "Maxwell", true, "yosemite", "highsierra", "10.10 -> 10.13.6", WEG, "", NULL, "web drivers"},
	{NV, 0x0fc0, 0x103f, "Kepler", true, "mountainlion", "bigsur", "10.8 -> 11", WEG, "", NULL,
	 "native; dropped in Monterey"},
	{NV, 0x1180, 0x11ff, "Kepler", true, "mountainlion", "bigsur", "10.8 -> 11", WEG, "", NULL,
	 "native; dropped in Monterey"},
	{NV, 0x1280, 0x12ff, "Kepler", true, "mountainlion", "bigsur", "10.8 -> 11", WEG, "", NULL,
	 "native; dropped in Monterey"},
	{NV, 0x0dc0, 0x0e3f, "Fermi", true, "lion", "highsierra", "10.7 -> 10.13.6", WEG, "", NULL, "-"},
	{NV, 0x1040, 0x10ff, "Fermi", true, "lion", "highsierra", "10.7 -> 10.13.6", WEG, "", NULL, "-"},
	{NV, 0x1200, 0x127f, "Fermi", true, "lion", "highsierra", "10.7 -> 10.13.6", WEG, "", NULL,
	 "560 Ti 448-core unsupported"},
	{NV, 0x06c0, 0x06df, "Fermi", true, "lion", "highsierra", "10.7 -> 10.13.6", WEG, "", NULL, "-"},
	{NV, 0x0400, 0x06bf, "Tesla", true, NULL, "highsierra", "10.5.2 -> 10.13.6", WEG, "", NULL,
	 "nv_disable=1 to boot without drivers and install the web driver"},
	{NV, 0x06e0, 0x0a7f, "Tesla", true, NULL, "highsierra", "10.5.2 -> 10.13.6", WEG, "", NULL,
	 "nv_disable=1 to boot without drivers and install the web driver"},
};

const struct dk_gpu_family *dk_gpu_lookup(uint16_t vendor, uint16_t device)
{
	for (size_t i = 0; i < sizeof chart / sizeof chart[0]; i++)
		if (chart[i].vendor == vendor && device >= chart[i].dev_lo && device <= chart[i].dev_hi)
			return &chart[i];
	return NULL;
}

const char *dk_gpu_spoof(const struct dk_gpu_family *g, uint16_t device)
{
	if (!g || !g->spoof)
		return NULL;
	char own[8];
	static const char hex[] = "0123456789abcdef";
	own[0] = '0', own[1] = 'x';
	for (int i = 0; i < 4; i++)
		own[2 + i] = hex[(device >> (12 - 4 * i)) & 0xf];
	own[6] = '\0';
	return strcmp(own, g->spoof) ? g->spoof : NULL;
}

bool dk_gpu_drives(const struct dk_gpu_family *g, const struct dk_macos *os)
{
	if (!g || !g->supported || !os)
		return false;
	const struct dk_macos *lo = g->min_macos ? dk_macos_find(g->min_macos) : NULL;
	const struct dk_macos *hi = g->max_macos ? dk_macos_find(g->max_macos) : NULL;
	return (!lo || dk_macos_cmp(os, lo) >= 0) && (!hi || dk_macos_cmp(os, hi) <= 0);
}

const char *dk_gpu_kext(const struct dk_gpu_family *g)
{
	return g && g->supported ? g->kext : "none";
}
