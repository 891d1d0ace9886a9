#include "smbios/macos.h"

#include <stddef.h>
#include <strings.h>

#define ZERO_MLB "00000000000000000"

/* ISA minimums per the guide's CPU chart: SSE4 (4.1) from Sierra, SSE4.2 from
 * Mojave, AVX2 from Ventura; 64-bit (lm) and SSSE3 from Lion. */
const struct dk_macos dk_macos_table[] = {
	{"lion", "Lion", "10.7", 11, {"lm", "ssse3"}, "Mac-2E6FAB96566FE58C", "00000000000F25Y00", "default"},
	{"mountainlion", "Mountain Lion", "10.8", 12, {"lm", "ssse3"}, "Mac-7DF2A3B5E5D671ED", "00000000000F65100", "default"},
	{"mavericks", "Mavericks", "10.9", 13, {"lm", "ssse3"}, "Mac-F60DEB81FF30ACF6", "00000000000FNN100", "default"},
	{"yosemite", "Yosemite", "10.10", 14, {"lm", "ssse3"}, "Mac-E43C1C25D4880AD6", "00000000000GDVW00", "default"},
	{"elcapitan", "El Capitan", "10.11", 15, {"lm", "ssse3"}, "Mac-FFE5EF870D7BA81A", "00000000000GQRX00", "default"},
	{"sierra", "Sierra", "10.12", 16, {"lm", "ssse3", "sse4_1"}, "Mac-77F17D7DA9285301", "00000000000J0DX00", "default"},
	{"highsierra", "High Sierra", "10.13", 17, {"lm", "ssse3", "sse4_1"}, "Mac-BE088AF8C5EB4FA2", "00000000000J80300", "default"},
	{"mojave", "Mojave", "10.14", 18, {"lm", "ssse3", "sse4_1", "sse4_2"}, "Mac-7BA5B2DFE22DDD8C", "00000000000KXPG00", "default"},
	{"catalina", "Catalina", "10.15", 19, {"lm", "ssse3", "sse4_1", "sse4_2"}, "Mac-00BE6ED71E35EB86", ZERO_MLB, "default"},
	{"bigsur", "Big Sur", "11", 20, {"lm", "ssse3", "sse4_1", "sse4_2"}, "Mac-2BD1B31983FE1663", ZERO_MLB, "default"},
	{"monterey", "Monterey", "12", 21, {"lm", "ssse3", "sse4_1", "sse4_2"}, "Mac-E43C1C25D4880AD6", ZERO_MLB, "default"},
	{"ventura", "Ventura", "13", 22, {"lm", "ssse3", "sse4_1", "sse4_2", "avx2"}, "Mac-B4831CEBD52A0C4C", ZERO_MLB, "default"},
	{"sonoma", "Sonoma", "14", 23, {"lm", "ssse3", "sse4_1", "sse4_2", "avx2"}, "Mac-827FAC58A8FDFA22", ZERO_MLB, "default"},
	{"sequoia", "Sequoia", "15", 24, {"lm", "ssse3", "sse4_1", "sse4_2", "avx2"}, "Mac-7BA5B2D9E42DDD94", ZERO_MLB, "default"},
	{"tahoe", "Tahoe", "26", 25, {"lm", "ssse3", "sse4_1", "sse4_2", "avx2"}, "Mac-CFF7D910A743CAAF", ZERO_MLB, "latest"},
};
const int dk_macos_count = sizeof dk_macos_table / sizeof dk_macos_table[0];

const struct dk_macos *dk_macos_find(const char *s)
{
	if (!s)
		return NULL;
	for (int i = 0; i < dk_macos_count; i++) {
		const struct dk_macos *m = &dk_macos_table[i];
		if (!strcasecmp(s, m->name) || !strcasecmp(s, m->marketing) || !strcasecmp(s, m->version))
			return m;
	}
	/* "14.5" -> "14", "10.15.7" -> "10.15" */
	for (int i = 0; i < dk_macos_count; i++) {
		const struct dk_macos *m = &dk_macos_table[i];
		size_t n = 0;
		while (m->version[n])
			n++;
		if (!strncasecmp(s, m->version, n) && s[n] == '.')
			return m;
	}
	return NULL;
}

int dk_macos_cmp(const struct dk_macos *a, const struct dk_macos *b)
{
	return a->darwin - b->darwin;
}
