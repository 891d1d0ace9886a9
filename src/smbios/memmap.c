/* PlatformInfo/Memory from SMBIOS type 17 (smbios/memmap.h). */
#include "smbios/memmap.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* String number k (1-based) of the set after the formatted area; "" for 0. */
static int dmi_string(const uint8_t *raw, size_t len, size_t hdr, uint8_t k, const char *name, char *out,
		      size_t cap)
{
	out[0] = 0;
	if (!k)
		return 0;
	size_t p = hdr;
	for (uint8_t i = 1; i < k; i++) {
		while (p < len && raw[p])
			p++;
		if (p >= len || (p + 1 < len && !raw[p + 1]))
			return dk_fail("%s: string %u past the structure's string set", name, k);
		p++;
	}
	if (p >= len || !raw[p])
		return dk_fail("%s: string %u past the structure's string set", name, k);
	size_t o = 0;
	for (; p < len && raw[p] && o + 1 < cap; p++)
		out[o++] = raw[p] >= 0x20 && raw[p] < 0x7f && raw[p] != '<' && raw[p] != '>' && raw[p] != '&' ? (char)raw[p] : '?';
	if (p >= len)
		return dk_fail("%s: string %u not terminated", name, k);
	out[o] = 0;
	while (o && out[o - 1] == ' ')
		out[--o] = 0;
	size_t s = strspn(out, " ");
	memmove(out, out + s, o - s + 1);
	return 0;
}

int dk_dmi17_parse(const uint8_t *raw, size_t len, const char *name, struct dk_dimm *d)
{
	memset(d, 0, sizeof *d);
	if (len < 4 || raw[0] != 17)
		return dk_fail("%s: not an SMBIOS memory device (type 17) structure", name);
	size_t hdr = raw[1];
	if (hdr < 0x15 || hdr > len)
		return dk_fail("%s: type 17 structure length %zu (of %zu bytes read) is not valid", name, hdr, len);
	/* the string set ends with two NULs */
	if (len < hdr + 2)
		return dk_fail("%s: truncated (no string set)", name);
	d->total_width = le16(raw + 0x08) == 0xffff ? 0 : le16(raw + 0x08);
	d->data_width = le16(raw + 0x0a) == 0xffff ? 0 : le16(raw + 0x0a);
	uint16_t sz = le16(raw + 0x0c);
	if (sz == 0x7fff && hdr >= 0x20)
		d->size_mib = le32(raw + 0x1c) & 0x7fffffff;
	else if (sz == 0xffff)
		d->size_mib = 0;
	else if (sz & 0x8000)
		d->size_mib = (sz & 0x7fff) / 1024;
	else
		d->size_mib = sz;
	d->form_factor = raw[0x0e];
	d->type = raw[0x12];
	d->type_detail = le16(raw + 0x13);
	if (hdr >= 0x17) {
		uint32_t sp = le16(raw + 0x15);
		if (sp == 0xffff && hdr >= 0x5c)
			sp = le32(raw + 0x54);
		uint32_t conf = hdr >= 0x22 ? le16(raw + 0x20) : 0;
		if (conf == 0xffff && hdr >= 0x5c)
			conf = le32(raw + 0x58);
		d->speed = conf ? conf : sp;
	}
	if (dmi_string(raw, len, hdr, raw[0x10], name, d->locator, sizeof d->locator) < 0 ||
	    dmi_string(raw, len, hdr, raw[0x11], name, d->bank, sizeof d->bank) < 0)
		return -1;
	if (hdr >= 0x1b && (dmi_string(raw, len, hdr, raw[0x17], name, d->manufacturer, sizeof d->manufacturer) < 0 ||
			    dmi_string(raw, len, hdr, raw[0x18], name, d->serial, sizeof d->serial) < 0 ||
			    dmi_string(raw, len, hdr, raw[0x1a], name, d->part, sizeof d->part) < 0))
		return -1;
	return 0;
}

static int cmp_dimm_names(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	long nx = strtol(x + 3, NULL, 10), ny = strtol(y + 3, NULL, 10);
	return nx < ny ? -1 : nx > ny;
}

int dk_dmi_memory_read(struct dk_memory_facts *f)
{
	memset(f, 0, sizeof *f);
	_cleanup_free_ char *dir = dk_host_path("/sys/firmware/dmi/entries");
	DIR *d = opendir(dir);
	if (!d) {
		dk_fail_errno("%s", dir);
		return 1;
	}
	char *names[DK_DMI_MAX_DIMMS];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < DK_DMI_MAX_DIMMS) {
		char *end;
		if (strncmp(e->d_name, "17-", 3) || !e->d_name[3] || (strtol(e->d_name + 3, &end, 10), *end))
			continue;
		names[n++] = dk_strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof *names, cmp_dimm_names);
	int rc = 0, readable = 0;
	char why[DK_ERRMSG_MAX] = "";
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *p = dk_asprintf("%s/%s/raw", dir, names[i]);
		char *raw = NULL;
		size_t len = 0;
		if (dk_read_file(p, &raw, &len, 4096) < 0) {
			snprintf(why, sizeof why, "%s", dk_errmsg());
			dk_errclear();
		} else if (dk_dmi17_parse((const uint8_t *)raw, len, p, &f->dimm[f->n]) < 0) {
			rc = -1;
		} else {
			f->n++;
			readable++;
		}
		free(raw);
		free(names[i]);
		if (rc < 0) {
			for (int j = i + 1; j < n; j++)
				free(names[j]);
			return -1;
		}
	}
	if (!readable) {
		if (why[0])
			dk_fail("%s (reading DMI needs root)", why);
		else
			dk_fail("%s: no memory device (type 17) entries", dir);
		return 1;
	}
	return 0;
}

static void set_int(plist_t d, const char *k, uint64_t v)
{
	plist_dict_set_item(d, k, plist_new_uint(v));
}

static void set_str(plist_t d, const char *k, const char *v)
{
	plist_dict_set_item(d, k, plist_new_string(v));
}

plist_t dk_memory_map(const struct dk_memory_facts *f, uint64_t guest_mib)
{
	/* the host's populated DIMMs, in slot order */
	const struct dk_dimm *pop[DK_DMI_MAX_DIMMS];
	int np = 0;
	for (int i = 0; f && i < f->n; i++)
		if (f->dimm[i].size_mib)
			pop[np++] = &f->dimm[i];
	const struct dk_dimm *h = np ? pop[0] : NULL;
	plist_t m = plist_new_dict();
	set_int(m, "DataWidth", h && h->data_width ? h->data_width : 64);
	plist_t devs = plist_new_array();
	static const char *const slots[12] = {"DIMM_A1", "DIMM_A2", "DIMM_B1", "DIMM_B2", "DIMM_C1", "DIMM_C2",
					      "DIMM_D1", "DIMM_D2", "DIMM_EMPTY", "DIMM_EMPTY", "DIMM_EMPTY",
					      "DIMM_EMPTY"};
	uint64_t each = guest_mib / 4;
	for (int i = 0, k = 0; i < 12; i++) {
		plist_t d = plist_new_dict();
		bool real = i < 8 && i % 2 == 0;
		const struct dk_dimm *src = real && np ? pop[k++ % np] : NULL;
		set_str(d, "AssetTag", "");
		set_str(d, "BankLocator", "");
		set_str(d, "DeviceLocator", slots[i]);
		if (real) {
			char part[64];
			snprintf(part, sizeof part, "F4-3600C16-%lluGTZNC", (unsigned long long)(each / 1024));
			set_str(d, "Manufacturer", src && src->manufacturer[0] ? src->manufacturer : "RoyalGraphX");
			set_str(d, "PartNumber", src && src->part[0] ? src->part : part);
			set_str(d, "SerialNumber", src && src->serial[0] ? src->serial : "00000000");
			set_int(d, "Size", each);
			set_int(d, "Speed", src && src->speed ? src->speed : 3600);
		} else {
			set_str(d, "Manufacturer", "");
			set_str(d, "PartNumber", "");
			set_str(d, "SerialNumber", "");
			set_int(d, "Size", 1);
			set_int(d, "Speed", 1);
		}
		plist_array_append_item(devs, d);
	}
	plist_dict_set_item(m, "Devices", devs);
	set_int(m, "ErrorCorrection", 3);
	set_int(m, "FormFactor", h && h->form_factor > 2 ? h->form_factor : 9);
	set_int(m, "MaxCapacity", guest_mib * 1024 * 1024);
	set_int(m, "TotalWidth", h && h->total_width ? h->total_width : 64);
	set_int(m, "Type", h && h->type > 2 ? h->type : 26);
	set_int(m, "TypeDetail", h && h->type_detail > 4 ? h->type_detail : 7);
	return m;
}

int dk_memory_map_from(const char *from, uint64_t guest_mib, plist_t *out, char *note, size_t ncap)
{
	*out = NULL;
	if (ncap)
		note[0] = 0;
	from = from ? from : "auto";
	if (strcmp(from, "auto") && strcmp(from, "dmi") && strcmp(from, "guide"))
		return dk_fail("memory map from '%s': auto, dmi or guide", from);
	struct dk_memory_facts *mf = NULL;
	if (strcmp(from, "guide")) {
		mf = dk_calloc(1, sizeof *mf);
		int k = dk_dmi_memory_read(mf);
		if (k < 0) {
			free(mf);
			return dk_fail_prefix("memory map: the host's DMI");
		}
		if (k > 0) {
			free(mf);
			mf = NULL;
			if (!strcmp(from, "dmi"))
				return dk_fail_prefix("memory map from the host's DMI (the guide's layout without it: --from guide)");
			snprintf(note, ncap, "memory map: the guide's layout (DDR4-3600): host DMI not readable: %s", dk_errmsg());
			dk_errclear();
		}
	}
	*out = dk_memory_map(mf, guest_mib);
	free(mf);
	return 0;
}
