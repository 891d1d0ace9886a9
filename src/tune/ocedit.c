/* The OpenCore-side write-ups as pure plist edits (tune/ocedit.h). */
#include "tune/ocedit.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/strv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static plist_t dict_at(plist_t root, const char *a, const char *b, bool create)
{
	plist_t x = plist_dict_get_item(root, a);
	if (!x && create) {
		x = plist_new_dict();
		plist_dict_set_item(root, a, x);
		x = plist_dict_get_item(root, a);
	}
	if (!x || plist_get_node_type(x) != PLIST_DICT)
		return NULL;
	if (!b)
		return x;
	plist_t y = plist_dict_get_item(x, b);
	if (!y && create) {
		plist_dict_set_item(x, b, plist_new_dict());
		y = plist_dict_get_item(x, b);
	}
	return y && plist_get_node_type(y) == PLIST_DICT ? y : NULL;
}

int dk_oc_set_memory(plist_t config, plist_t memory)
{
	plist_t pi = dict_at(config, "PlatformInfo", NULL, false);
	if (!pi) {
		if (memory)
			plist_free(memory);
		return dk_fail("config.plist: no PlatformInfo dictionary");
	}
	if (memory)
		plist_dict_set_item(pi, "Memory", memory);
	else if (plist_dict_get_item(pi, "Memory"))
		plist_dict_remove_item(pi, "Memory");
	plist_dict_set_item(pi, "CustomMemory", plist_new_bool(memory != NULL));
	return 0;
}

/* boot-args without the tokens named key=...; with add appended. */
static char *args_edit(const char *cur, const char *const *keys, const char *add)
{
	struct dk_buf b = {0};
	const char *p = cur ? cur : "";
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (!n)
			break;
		bool drop = false;
		for (const char *const *k = keys; *k; k++) {
			size_t kl = strlen(*k);
			drop |= n > kl && !strncmp(p, *k, kl) && p[kl] == '=';
		}
		if (!drop)
			dk_buf_printf(&b, "%s%.*s", b.len ? " " : "", (int)n, p);
		p += n;
	}
	if (add && *add)
		dk_buf_printf(&b, "%s%s", b.len ? " " : "", add);
	return b.data ? b.data : dk_strdup("");
}

static void delete_list(plist_t del, const char *guid, const char *const *names, bool on)
{
	plist_t a = plist_dict_get_item(del, guid);
	if (!a && !on)
		return;
	if (!a) {
		plist_dict_set_item(del, guid, plist_new_array());
		a = plist_dict_get_item(del, guid);
	}
	if (plist_get_node_type(a) != PLIST_ARRAY)
		return;
	for (const char *const *n = names; *n; n++) {
		int at = -1;
		for (uint32_t i = 0; i < plist_array_get_size(a); i++) {
			const char *s = plist_get_string_ptr(plist_array_get_item(a, i), NULL);
			if (s && !strcmp(s, *n))
				at = (int)i;
		}
		if (on && at < 0)
			plist_array_append_item(a, plist_new_string(*n));
		else if (!on && at >= 0)
			plist_array_remove_item(a, (uint32_t)at);
	}
	if (!on && plist_array_get_size(a) == 0)
		plist_dict_remove_item(del, guid);
}

int dk_oc_set_restrict_events(plist_t config, bool on, const char *cpuname)
{
	plist_t add = dict_at(config, "NVRAM", "Add", false), del = dict_at(config, "NVRAM", "Delete", false);
	if (!add || !del)
		return dk_fail("config.plist: no NVRAM/Add or NVRAM/Delete dictionary");
	plist_t boot = plist_dict_get_item(add, DK_BOOT_GUID);
	if (!boot && on) {
		plist_dict_set_item(add, DK_BOOT_GUID, plist_new_dict());
		boot = plist_dict_get_item(add, DK_BOOT_GUID);
	}
	if (boot && plist_get_node_type(boot) == PLIST_DICT) {
		plist_t ba = plist_dict_get_item(boot, "boot-args");
		const char *cur = ba ? plist_get_string_ptr(ba, NULL) : "";
		static const char *const keys[] = {"revpatch", "revcpu", "revcpuname", NULL};
		char *n = args_edit(cur, keys, on ? "revpatch=" DK_REV_PATCH " revcpu=1" : NULL);
		if (ba || *n)
			plist_dict_set_item(boot, "boot-args", plist_new_string(n));
		free(n);
	}
	static const char *const boot_del[] = {"boot-args", NULL};
	if (on)
		delete_list(del, DK_BOOT_GUID, boot_del, true);
	static const char *const rev[] = {"revcpuname", NULL};
	plist_t rv = plist_dict_get_item(add, DK_REV_GUID);
	if (on && cpuname && *cpuname) {
		if (!rv || plist_get_node_type(rv) != PLIST_DICT) {
			plist_dict_set_item(add, DK_REV_GUID, plist_new_dict());
			rv = plist_dict_get_item(add, DK_REV_GUID);
		}
		plist_dict_set_item(rv, "revcpuname", plist_new_string(cpuname));
		delete_list(del, DK_REV_GUID, rev, true);
	} else {
		if (rv && plist_get_node_type(rv) == PLIST_DICT && plist_dict_get_item(rv, "revcpuname")) {
			plist_dict_remove_item(rv, "revcpuname");
			if (!plist_dict_get_size(rv))
				plist_dict_remove_item(add, DK_REV_GUID);
		}
		delete_list(del, DK_REV_GUID, rev, false);
	}
	return 0;
}

static void cut(char *s, const char *what)
{
	char *p;
	while ((p = strstr(s, what)))
		memmove(p, p + strlen(what), strlen(p + strlen(what)) + 1);
}

void dk_cpu_brand_clean(const char *in, char *out, size_t cap)
{
	char s[256];
	size_t o = 0;
	for (const char *p = in ? in : ""; *p && o + 1 < sizeof s; p++)
		s[o++] = *p >= 0x20 && *p < 0x7f && !strchr("<>&\"'\\", *p) ? *p : ' ';
	s[o] = 0;
	cut(s, "(R)");
	cut(s, "(r)");
	cut(s, "(TM)");
	cut(s, "(tm)");
	char *at = strstr(s, " @");
	if (at)
		*at = 0;
	char *core = strstr(s, "-Core Processor");
	if (core) { /* "AMD Ryzen 9 5950X 16-Core Processor": drop "16-Core Processor" */
		while (core > s && isdigit((unsigned char)core[-1]))
			core--;
		*core = 0;
	}
	/* words: drop "CPU", collapse spaces */
	size_t n = 0;
	if (cap)
		out[0] = 0;
	for (char *w = strtok(s, " "); w; w = strtok(NULL, " ")) {
		if (!strcmp(w, "CPU") || !strcmp(w, "Processor"))
			continue;
		size_t l = strlen(w);
		if (n + (n ? 1 : 0) + l > 48 || n + (n ? 1 : 0) + l + 1 > cap)
			break;
		n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " " : "", w);
	}
}

/* ---- display overrides ---- */

int dk_edid_parse(const uint8_t *d, size_t len, const char *name, struct dk_edid *e)
{
	static const uint8_t hdr[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	memset(e, 0, sizeof *e);
	if (len < 128)
		return dk_fail("%s: not an EDID (%zu bytes; a base block is 128)", name, len);
	if (len % 128)
		return dk_fail("%s: not an EDID (%zu bytes is not a whole number of 128-byte blocks)", name, len);
	if (memcmp(d, hdr, 8))
		return dk_fail("%s: not an EDID (no 00 FF FF FF FF FF FF 00 header)", name);
	unsigned sum = 0;
	for (int i = 0; i < 128; i++)
		sum += d[i];
	if (sum & 0xff)
		return dk_fail("%s: EDID checksum is wrong (the base block sums to 0x%02x, not 0): a damaged EDID", name,
			       sum & 0xff);
	e->vendor = (uint16_t)(d[8] << 8 | d[9]);
	for (int i = 0; i < 3; i++) {
		int c = (e->vendor >> (10 - 5 * i)) & 0x1f;
		e->vendor_str[i] = c >= 1 && c <= 26 ? (char)('A' + c - 1) : '?';
	}
	e->product = (uint16_t)(d[10] | d[11] << 8);
	for (int k = 0; k < 4; k++) {
		const uint8_t *t = d + 54 + 18 * k;
		if (t[0] || t[1]) {
			if (!e->width) {
				e->width = t[2] | (t[4] & 0xf0) << 4;
				e->height = t[5] | (t[7] & 0xf0) << 4;
				e->width_mm = t[12] | (t[14] & 0xf0) << 4;
				e->height_mm = t[13] | (t[14] & 0x0f) << 8;
			}
		} else if (t[3] == 0xfc) {
			int o = 0;
			for (int i = 5; i < 18 && t[i] != 0x0a && o < 13; i++)
				e->name[o++] = t[i] >= 0x20 && t[i] < 0x7f ? (char)t[i] : '?';
			while (o && e->name[o - 1] == ' ')
				o--;
			e->name[o] = 0;
		}
	}
	if (!e->width_mm && d[21])
		e->width_mm = d[21] * 10, e->height_mm = d[22] * 10;
	return 0;
}

static plist_t mode(uint32_t w, uint32_t h)
{
	uint8_t b[16];
	uint32_t v[4] = {w, h, 1, 0x00200000};
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			b[i * 4 + j] = (uint8_t)(v[i] >> (24 - 8 * j));
	return plist_new_data((const char *)b, sizeof b);
}

char *dk_display_override(const struct dk_edid *e, char **rel)
{
	/* the guide's (mafredri's) 16:9 list; other aspects keep the widths */
	static const int widths[] = {2048, 1984, 1920, 1680, 1600, 1440, 1280, 1024, 960};
	int aw = e->width > 0 && e->height > 0 ? e->width : 16, ah = e->width > 0 && e->height > 0 ? e->height : 9;
	plist_t d = plist_new_dict();
	if (e->name[0])
		plist_dict_set_item(d, "DisplayProductName", plist_new_string(e->name));
	plist_dict_set_item(d, "DisplayVendorID", plist_new_uint(e->vendor));
	plist_dict_set_item(d, "DisplayProductID", plist_new_uint(e->product));
	plist_dict_set_item(d, "DisplayIsTV", plist_new_bool(false));
	plist_t a = plist_new_array();
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
		uint32_t w = (uint32_t)widths[i], h = (uint32_t)((uint64_t)w * (uint64_t)ah / (uint64_t)aw);
		h &= ~1u;
		plist_array_append_item(a, mode(w, h));
		plist_array_append_item(a, mode(2 * w, 2 * h));
	}
	plist_dict_set_item(d, "scale-resolutions", a);
	/* the default HiDPI mode the panel fits at 2x: 2048x1152 (>= 6.76), 1984x1116 (6.54-6.75), else 1920x1080 */
	double ppmm = e->width >= 4096 ? 6.76 : e->width >= 3968 ? 6.60 : 6.43;
	plist_dict_set_item(d, "target-default-ppmm", plist_new_real(ppmm));
	char *xml = NULL;
	uint32_t len = 0;
	plist_to_xml(d, &xml, &len);
	plist_free(d);
	char *out = dk_strndup(xml, len);
	plist_to_xml_free(xml);
	*rel = dk_asprintf("DisplayVendorID-%x/DisplayProductID-%x", e->vendor, e->product);
	return out;
}
