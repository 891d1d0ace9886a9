#include "t.h"
#include "smbios/smbios.h"
#include "smbios/macos.h"
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
	return t_done();
}
