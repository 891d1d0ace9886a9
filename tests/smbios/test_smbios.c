#include "t.h"
#include "smbios/smbios.h"
#include "smbios/macos.h"
#include "smbios/memmap.h"
#include "tune/ocedit.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#include <string.h>

TEST(model_table)
{
	const char *need[] = {"MacPro7,1", "MacPro6,1", "MacPro5,1", "MacPro4,1", "MacPro3,1", "MacPro2,1",
			      "MacPro1,1", "iMacPro1,1", "iMac20,1", "iMac19,1", "Macmini8,1"};
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
		const struct dk_mac_model *m = dk_mac_model_find(need[i]);
		CHECK(m != NULL);
		if (!m)
			continue;
		CHECK(dk_startswith(m->board_id, "Mac-"));
		CHECK(m->model_codes[0] != NULL);
		CHECK(m->board_codes[0] != NULL);
		CHECK(m->years[0] >= 2006);
		CHECK(dk_macos_find(m->macos_min) != NULL);
		CHECK(dk_macos_find(m->macos_max) != NULL);
	}
	CHECK(dk_mac_model_find("macpro7,1") == dk_mac_model_find("MacPro7,1"));
	CHECK(dk_mac_model_find("MacPro9,1") == NULL);
	CHECK_STR(dk_mac_model_find("MacPro7,1")->board_id, "Mac-27AD2F918AE68F61");
	CHECK(dk_mac_model_supports(dk_mac_model_find("MacPro7,1"), dk_macos_find("sonoma")));
	CHECK(!dk_mac_model_supports(dk_mac_model_find("MacPro5,1"), dk_macos_find("sonoma")));
	CHECK(dk_mac_model_supports(dk_mac_model_find("MacPro5,1"), dk_macos_find("mojave")));
}

TEST(decode_known_serials)
{
	struct dk_serial_info si;
	dk_serial_decode("F5KZN00HP7QM", &si);
	CHECK(si.valid);
	CHECK_INT(si.year, 2019);
	CHECK_INT(si.week, 45);
	CHECK_INT(si.line, 17);
	CHECK_INT(si.copy, 1);
	CHECK(si.model && !strcmp(si.model->name, "MacPro7,1"));
	CHECK_STR(si.location, "F5K");
	CHECK_STR(si.location_name, "USA (Flextronics)");

	dk_serial_decode("CK151076EUH", &si);
	CHECK(si.valid);
	CHECK(si.legacy);
	CHECK_INT(si.year, 2011);
	CHECK_INT(si.week, 51);
	CHECK_INT(si.line, 244);
	CHECK(si.model && !strcmp(si.model->name, "MacPro5,1"));
	CHECK_STR(si.location_name, "Ireland (Cork)");

	/* base serials from the table decode to their own model */
	dk_serial_decode("C02VV5RFHX87", &si);
	CHECK(si.model && !strcmp(si.model->name, "iMacPro1,1"));
	dk_serial_decode("F5KLA770F9VM", &si);
	CHECK(si.model && !strcmp(si.model->name, "MacPro6,1"));
}

TEST(decode_unlikely)
{
	struct dk_serial_info si;
	dk_serial_decode("F5KZN00HP7Q", &si); /* 11 chars: legacy parse, year symbol Z */
	CHECK(!si.valid);
	dk_serial_decode("ABC", &si);
	CHECK(!si.valid);
	CHECK_CONTAINS(si.reason, "length 3");
	dk_serial_decode("F5KZI00HP7QM", &si);
	CHECK(!si.valid);
	CHECK_CONTAINS(si.reason, "base34");
	/* MacPro7,1 in 2026 (year letter R: digit 6, first half) */
	dk_serial_decode("F5KRN00HP7QM", &si);
	CHECK(!si.valid);
	CHECK_CONTAINS(si.reason, "production year");
	dk_serial_decode("CK159976EUH", &si); /* week 59 */
	CHECK(!si.valid);
	CHECK_CONTAINS(si.reason, "week 59");
	/* unknown model codes are only reported */
	dk_serial_decode("F5KZN00HZZZZ", &si);
	CHECK(si.valid);
	CHECK(si.model == NULL);
}

TEST(mlb_check)
{
	struct dk_mlb_info mi;
	CHECK(dk_mlb_check("F5K1211044NK3F7UE", &mi) == 0);
	CHECK(mi.valid);
	CHECK_INT(mi.length, 17);
	CHECK(dk_mlb_check("CK150023ZBH81", &mi) == 0);
	CHECK(mi.valid);
	CHECK_STR(mi.kind, "legacy (13)");
	dk_mlb_check("F5K1211044NK3F7UF", &mi);
	CHECK(!mi.valid);
	CHECK(!mi.checksum_ok);
	dk_mlb_check("F5K12110OPNK3F7UE", &mi);
	CHECK(!mi.valid);
	dk_mlb_check("F5K121", &mi);
	CHECK(!mi.valid);
	CHECK_CONTAINS(mi.reason, "length 6");
}

/* The MLB derives location, year and week from the serial (macserial's examples). */
TEST(mlb_from_serial)
{
	char mlb[24];
	const struct dk_mac_model *m7 = dk_mac_model_find("MacPro7,1"), *m5 = dk_mac_model_find("MacPro5,1");
	for (int i = 0; i < 50; i++) {
		CHECK(dk_mlb_generate(m7, "F5KFRWYMP7QM", mlb, sizeof mlb) == 0);
		CHECK_INT(strlen(mlb), 17);
		CHECK(!strncmp(mlb, "F5K121", 6));         /* F5KFRWYMP7QM -> F5K1211044NK3F7UE */
		CHECK(!strncmp(mlb + 11, "K3F7", 4));
		CHECK(dk_mlb_checksum_ok(mlb));
		CHECK(dk_mlb_generate(m7, "F5KZN00HP7QM", mlb, sizeof mlb) == 0);
		CHECK(!strncmp(mlb, "F5K945", 6));         /* Z: 2019 second half, N: week 19+26 */
		CHECK(dk_mlb_generate(m5, "CK151076EUH", mlb, sizeof mlb) == 0);
		CHECK_INT(strlen(mlb), 13);
		CHECK(!strncmp(mlb, "CK1500", 6));         /* CK151076EUH -> CK150023ZBH81 */
		CHECK(!strncmp(mlb + 9, "BH8", 3));
		CHECK(dk_mlb_checksum_ok(mlb));
	}
	/* week 1 in the first half wraps to week 53 of the previous year digit */
	CHECK(dk_mlb_generate(m7, "F5KC100HP7QM", mlb, sizeof mlb) == 0); /* 2020 week 1 */
	CHECK(!strncmp(mlb, "F5K953", 6));
	CHECK(dk_mlb_generate(m7, "XXXX", mlb, sizeof mlb) < 0);
}

TEST(generate_1000_per_model)
{
	for (int i = 0; i < dk_mac_model_count; i++) {
		const struct dk_mac_model *m = &dk_mac_models[i];
		int bad = 0;
		for (int k = 0; k < 1000; k++) {
			struct dk_smbios s;
			if (dk_smbios_generate(m, &s) < 0) {
				fprintf(stderr, "  %s: %s\n", m->name, dk_errmsg());
				bad++;
				break;
			}
			struct dk_serial_info si;
			dk_serial_decode(s.serial, &si);
			struct dk_mlb_info mi;
			dk_mlb_check(s.mlb, &mi);
			bool ok = si.valid && si.model == m && mi.valid && !strcmp(s.product, m->name) &&
				  dk_uuid_is_valid(s.uuid) && s.uuid[14] == '4' &&
				  strchr("89AB", s.uuid[19]) != NULL && (int)strlen(s.mlb) == (si.legacy ? 13 : 17);
			for (const char *p = s.uuid; *p; p++)
				if (*p >= 'a' && *p <= 'z')
					ok = false;
			if (!ok) {
				if (bad++ < 3)
					fprintf(stderr, "  %s: %s %s -> valid=%d (%s) mlb=%d\n", m->name, s.serial,
						s.mlb, si.valid, si.reason, mi.valid);
			}
		}
		CHECK_INT(bad, 0);
	}
}

TEST(generated_are_unique)
{
	const struct dk_mac_model *m = dk_mac_model_find("MacPro7,1");
	struct dk_smbios a, b;
	CHECK(dk_smbios_generate(m, &a) == 0);
	CHECK(dk_smbios_generate(m, &b) == 0);
	CHECK(strcmp(a.uuid, b.uuid) != 0);
	CHECK(strcmp(a.serial, b.serial) != 0 || strcmp(a.mlb, b.mlb) != 0);
	/* ROM starts with an Apple OUI: at least not a multicast/local address */
	CHECK((a.rom[0] & 0x03) == 0);
}

TEST(json_round_trip)
{
	const struct dk_mac_model *m = dk_mac_model_find("MacPro5,1");
	struct dk_smbios a, b;
	CHECK(dk_smbios_generate(m, &a) == 0);
	json_object *o = dk_smbios_to_json(&a);
	CHECK(dk_smbios_from_json(o, &b) == 0);
	CHECK(memcmp(&a, &b, sizeof a) == 0);
	json_object_object_add(o, "ROM", json_object_new_string("00112233"));
	CHECK(dk_smbios_from_json(o, &b) < 0);
	CHECK_CONTAINS(dk_errmsg(), "ROM");
	json_object_put(o);

	char *p = t_path(t_tmpdir(), "bad.json");
	CHECK(dk_write_file_atomic(p, "{nope", 5, true, 0644) == 0);
	CHECK(dk_smbios_load_json(p, &b) < 0);
	CHECK_CONTAINS(dk_errmsg(), "bad.json");
	free(p);
}

/* An SMBIOS 3.x type 17 structure (0x28 formatted bytes) with its strings. */
static size_t dmi17(uint8_t *b, uint16_t size, uint16_t speed, uint16_t conf, const char *strs)
{
	memset(b, 0, 0x28);
	b[0] = 17, b[1] = 0x28;
	b[8] = 64, b[10] = 64;
	b[0x0c] = (uint8_t)size, b[0x0d] = (uint8_t)(size >> 8);
	b[0x0e] = 9, b[0x10] = 1, b[0x12] = 26, b[0x13] = 0x80;
	b[0x15] = (uint8_t)speed, b[0x16] = (uint8_t)(speed >> 8);
	b[0x17] = 2, b[0x18] = 3, b[0x1a] = 4;
	b[0x20] = (uint8_t)conf, b[0x21] = (uint8_t)(conf >> 8);
	size_t n = 0x28;
	memcpy(b + n, strs, strlen(strs) + 1); /* strings separated by '|' */
	for (size_t i = n; b[i]; i++)
		if (b[i] == '|')
			b[i] = 0;
	n += strlen(strs) + 1;
	b[n++] = 0;
	return n;
}

TEST(dmi17_parse)
{
	uint8_t b[256];
	struct dk_dimm d;
	size_t n = dmi17(b, 16384, 3600, 3200, "DIMM_A1|Corsair|1234|CMK32GX4M2D3600C18");
	CHECK_INT(dk_dmi17_parse(b, n, "x", &d), 0);
	CHECK_INT(d.size_mib, 16384);
	CHECK_INT(d.speed, 3200);
	CHECK_INT(d.type, 26);
	CHECK_INT(d.form_factor, 9);
	CHECK_STR(d.locator, "DIMM_A1");
	CHECK_STR(d.manufacturer, "Corsair");
	CHECK_STR(d.serial, "1234");
	CHECK_STR(d.part, "CMK32GX4M2D3600C18");
	/* extended size (0x7fff): 64 GiB */
	n = dmi17(b, 0x7fff, 4800, 0, "A|B|C|D");
	b[0x1c] = 0x00, b[0x1d] = 0x00, b[0x1e] = 0x01;
	CHECK_INT(dk_dmi17_parse(b, n, "x", &d), 0);
	CHECK_INT(d.size_mib, 65536);
	CHECK_INT(d.speed, 4800);
	/* bad: wrong type, truncated, a string number past the set */
	b[0] = 16;
	CHECK_INT(dk_dmi17_parse(b, n, "x", &d), -1);
	b[0] = 17;
	CHECK_INT(dk_dmi17_parse(b, 0x20, "x", &d), -1);
	n = dmi17(b, 8192, 3200, 0, "only");
	CHECK_INT(dk_dmi17_parse(b, n, "x", &d), -1);
	CHECK_CONTAINS(dk_errmsg(), "past the structure's string set");
	dk_errclear();
}

TEST(memory_map_layout)
{
	plist_t m = dk_memory_map(NULL, 16384);
	plist_t devs = plist_dict_get_item(m, "Devices");
	CHECK_INT(plist_array_get_size(devs), 12);
	uint64_t v = 0;
	plist_get_uint_val(plist_dict_get_item(m, "MaxCapacity"), &v);
	CHECK(v == 17179869184ull);
	const char *want[12] = {"DIMM_A1", "DIMM_A2", "DIMM_B1", "DIMM_B2", "DIMM_C1", "DIMM_C2",
				"DIMM_D1", "DIMM_D2", "DIMM_EMPTY", "DIMM_EMPTY", "DIMM_EMPTY", "DIMM_EMPTY"};
	for (uint32_t i = 0; i < 12; i++) {
		plist_t d = plist_array_get_item(devs, i);
		CHECK_STR(plist_get_string_ptr(plist_dict_get_item(d, "DeviceLocator"), NULL), want[i]);
		plist_get_uint_val(plist_dict_get_item(d, "Size"), &v);
		CHECK(v == (i < 8 && i % 2 == 0 ? 4096u : 1u));
	}
	CHECK_STR(plist_get_string_ptr(plist_dict_get_item(plist_array_get_item(devs, 0), "PartNumber"), NULL),
		  "F4-3600C16-4GTZNC");
	plist_free(m);
	/* from host facts: the populated DIMMs in turn */
	struct dk_memory_facts f = {.n = 2};
	f.dimm[0] = (struct dk_dimm){.size_mib = 32768, .speed = 5600, .type = 34, .form_factor = 9, .type_detail = 0x80,
				     .total_width = 64, .data_width = 64, .manufacturer = "Kingston", .part = "KF556"};
	m = dk_memory_map(&f, 8192);
	plist_get_uint_val(plist_dict_get_item(m, "Type"), &v);
	CHECK_INT(v, 34);
	plist_t d0 = plist_array_get_item(plist_dict_get_item(m, "Devices"), 6);
	plist_get_uint_val(plist_dict_get_item(d0, "Speed"), &v);
	CHECK_INT(v, 5600);
	CHECK_STR(plist_get_string_ptr(plist_dict_get_item(d0, "Manufacturer"), NULL), "Kingston");
	plist_free(m);
}

TEST(cpu_brand_and_restrict_events)
{
	char s[64];
	dk_cpu_brand_clean("Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz", s, sizeof s);
	CHECK_STR(s, "Intel Core i9-9900K");
	dk_cpu_brand_clean("AMD Ryzen 9 5950X 16-Core Processor", s, sizeof s);
	CHECK_STR(s, "AMD Ryzen 9 5950X");
	dk_cpu_brand_clean("<evil>\x01 x", s, sizeof s);
	CHECK(!strchr(s, '<') && !strchr(s, 1));
	plist_t c = plist_new_dict(), nv = plist_new_dict(), add = plist_new_dict(), boot = plist_new_dict();
	plist_dict_set_item(boot, "boot-args", plist_new_string("-v keepsyms=1 revcpu=0"));
	plist_dict_set_item(add, DK_BOOT_GUID, boot);
	plist_dict_set_item(nv, "Add", add);
	plist_dict_set_item(nv, "Delete", plist_new_dict());
	plist_dict_set_item(c, "NVRAM", nv);
	CHECK_INT(dk_oc_set_restrict_events(c, true, "AMD Ryzen"), 0);
	plist_t ba = plist_dict_get_item(plist_dict_get_item(plist_dict_get_item(plist_dict_get_item(c, "NVRAM"), "Add"), DK_BOOT_GUID), "boot-args");
	CHECK_STR(plist_get_string_ptr(ba, NULL), "-v keepsyms=1 revpatch=memtab,pci,cpuname revcpu=1");
	CHECK_INT(dk_oc_set_restrict_events(c, false, NULL), 0);
	ba = plist_dict_get_item(plist_dict_get_item(plist_dict_get_item(plist_dict_get_item(c, "NVRAM"), "Add"), DK_BOOT_GUID), "boot-args");
	CHECK_STR(plist_get_string_ptr(ba, NULL), "-v keepsyms=1");
	CHECK(!plist_dict_get_item(plist_dict_get_item(plist_dict_get_item(c, "NVRAM"), "Add"), DK_REV_GUID));
	CHECK(!plist_dict_get_item(plist_dict_get_item(plist_dict_get_item(c, "NVRAM"), "Delete"), DK_REV_GUID));
	plist_free(c);
}

TEST(edid_override)
{
	uint8_t e[128] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	e[8] = 0x10, e[9] = 0xac, e[10] = 0xc4, e[11] = 0xa0;
	uint8_t *t = e + 54;
	t[0] = 1, t[2] = 0x00, t[4] = 0xf0, t[5] = 0x70, t[7] = 0x80; /* 3840x2160 */
	unsigned sum = 0;
	for (int i = 0; i < 127; i++)
		sum += e[i];
	e[127] = (uint8_t)(256 - (sum & 0xff));
	struct dk_edid d;
	CHECK_INT(dk_edid_parse(e, 128, "x", &d), 0);
	CHECK_STR(d.vendor_str, "DEL");
	CHECK_INT(d.vendor, 0x10ac);
	CHECK_INT(d.product, 0xa0c4);
	CHECK_INT(d.width, 3840);
	CHECK_INT(d.height, 2160);
	char *rel = NULL, *xml = dk_display_override(&d, &rel);
	CHECK_STR(rel, "DisplayVendorID-10ac/DisplayProductID-a0c4");
	CHECK_CONTAINS(xml, "AAAPAAAACHAAAAABACAAAA==");
	CHECK_CONTAINS(xml, "<key>DisplayIsTV</key>");
	free(rel);
	free(xml);
	e[127] ^= 1;
	CHECK_INT(dk_edid_parse(e, 128, "x", &d), -1);
	CHECK_CONTAINS(dk_errmsg(), "checksum");
	CHECK_INT(dk_edid_parse(e, 64, "x", &d), -1);
	e[0] = 1;
	CHECK_INT(dk_edid_parse(e, 128, "x", &d), -1);
	CHECK_CONTAINS(dk_errmsg(), "header");
	dk_errclear();
}

int main(void)
{
	RUN(model_table);
	RUN(decode_known_serials);
	RUN(decode_unlikely);
	RUN(mlb_check);
	RUN(mlb_from_serial);
	RUN(generate_1000_per_model);
	RUN(generated_are_unique);
	RUN(json_round_trip);
	RUN(dmi17_parse);
	RUN(memory_map_layout);
	RUN(cpu_brand_and_restrict_events);
	RUN(edid_override);
	return t_done();
}
