/* SMBIOS identities: serial numbers, board serials (MLB), ROM, UUID.
 *
 * Formats (documented facts about Apple's numbering, as macserial describes
 * them):
 *   serial, legacy 11 chars: LL Y WW SSS PPP  (Y decimal, WW decimal week)
 *   serial, new 12 chars:    LLL Y W SSS PPPP (Y letter, W week symbol)
 *   MLB, 17 chars: LLL Y WW III AA EEEE CC;  legacy 13: LL Y WW 0 CCC EEE S
 * Both MLB forms carry a weighted base34 checksum.
 */
#include "smbios/smbios.h"
#include "smbios/macos.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/output.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/cleanup.h"
#include "util/log.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

const char dk_base34[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/* New-format year letters: pairs (C,D) .. (Y,Z) are +0 .. +9; the second
 * letter of a pair is the second half of the year. */
static const char year_letters[] = "CDFGHJKLMNPQRSTVWXYZ";
/* New-format week symbols 1..27 (a half year). */
static const char week_symbols[] = "123456789CDFGHJKLMNPQRTVWXY";
/* Week symbol alphabet as the MLB derivation indexes it. */
static const char mlb_week_alpha[] = "123456789CDFGHJKLMNPQRSTVWXYZ";

struct loc {
	const char *code, *name;
};
static const struct loc legacy_locations[] = {
	{"CK", "Ireland (Cork)"}, {"CY", "Korea"}, {"FC", "USA (Fountain, Colorado)"}, {"G8", "USA"},
	{"QP", "USA"}, {"XA", "USA (Elk Grove/Sacramento, California)"},
	{"XB", "USA (Elk Grove/Sacramento, California)"}, {"PT", "Korea"},
	{"QT", "Taiwan (Quanta Computer)"}, {"UV", "Taiwan"}, {"RN", "Mexico"},
	{"RM", "Refurbished model"}, {"SG", "Singapore"}, {"W8", "China (Shanghai)"}, {"YM", "China"},
	{"H0", "Unknown"}, {"C0", "China (Quanta Computer, Tech-Com)"}, {"C3", "China (Shenzhen, Foxconn)"},
	{"C7", "China (Shanghai, Pegatron)"}, {"MB", "Malaysia"}, {"EE", "Taiwan"},
	{"VM", "Czech Republic (Pardubice, Foxconn)"}, {"1C", "China"}, {"4H", "China"}, {"MQ", "China"},
	{"WQ", "China"}, {"7J", "China (Hon Hai/Foxconn)"}, {"FK", "China (Zhengzhou, Foxconn)"},
	{"F1", "China (Zhengzhou, Foxconn)"}, {"F2", "China (Zhengzhou, Foxconn)"}, {"F7", "China"},
	{"DL", "China (Foxconn)"}, {"DM", "China (Foxconn)"}, {"73", "Unknown"},
};
static const struct loc locations[] = {
	{"C02", "China (Quanta Computer)"}, {"C07", "China (Quanta Computer)"}, {"C17", "China"},
	{"C1M", "China"}, {"C2V", "China"}, {"CK2", "Ireland (Cork)"}, {"D25", "Unknown"},
	{"F5K", "USA (Flextronics)"}, {"W80", "Unknown"}, {"W88", "Unknown"}, {"W89", "Unknown"},
	{"CMV", "Unknown"}, {"YM0", "China (Hon Hai/Foxconn)"}, {"DGK", "Unknown"}, {"FVF", "Unknown"},
};

/* MLB building blocks. */
static const char *const mlb_block1[] = {
	"200", "600", "403", "404", "405", "303", "108", "207", "609", "501", "306", "102", "701", "301",
	"501", "101", "300", "130", "100", "270", "310", "902", "104", "401", "902", "500", "700", "802",
};
static const char *const mlb_block2[] = {"GU", "4N", "J9", "QX", "OP", "CD", "GU"};
static const char *const mlb_block3[] = {"1H", "1M", "AD", "1F", "A8", "UE", "JA", "JC", "8C", "CB", "FB"};

/* Apple OUIs (IEEE registrations of Apple, Inc.) for ROM values. */
static const uint8_t apple_ouis[][3] = {
	{0x00, 0x03, 0x93}, {0x00, 0x0A, 0x27}, {0x00, 0x0A, 0x95}, {0x00, 0x0D, 0x93}, {0x00, 0x10, 0xFA},
	{0x00, 0x11, 0x24}, {0x00, 0x14, 0x51}, {0x00, 0x16, 0xCB}, {0x00, 0x17, 0xF2}, {0x00, 0x19, 0xE3},
	{0x00, 0x1B, 0x63}, {0x00, 0x1C, 0xB3}, {0x00, 0x1D, 0x4F}, {0x00, 0x1E, 0x52}, {0x00, 0x1E, 0xC2},
	{0x00, 0x1F, 0x5B}, {0x00, 0x1F, 0xF3}, {0x00, 0x21, 0xE9}, {0x00, 0x22, 0x41}, {0x00, 0x23, 0x12},
	{0x00, 0x23, 0x32}, {0x00, 0x23, 0x6C}, {0x00, 0x23, 0xDF}, {0x00, 0x24, 0x36}, {0x00, 0x25, 0x00},
	{0x00, 0x25, 0x4B}, {0x00, 0x25, 0xBC}, {0x00, 0x26, 0x08}, {0x00, 0x26, 0x4A}, {0x00, 0x26, 0xB0},
	{0x00, 0x26, 0xBB}, {0x00, 0x30, 0x65}, {0x00, 0x50, 0xE4}, {0x10, 0xDD, 0xB1}, {0x28, 0xCF, 0xDA},
	{0x3C, 0x07, 0x54}, {0x60, 0xFB, 0x42}, {0x7C, 0xD1, 0xC3}, {0x88, 0xC6, 0x63}, {0xA4, 0xB1, 0x97},
	{0xB8, 0xE8, 0x56}, {0xC8, 0x2A, 0x14}, {0xD4, 0x9A, 0x20}, {0xF0, 0xB4, 0x79},
};

/* Uniform integer in [0, n) by rejection; n > 0. */
static int rand_below(uint32_t n, uint32_t *out)
{
	uint32_t limit = UINT32_MAX - UINT32_MAX % n;
	for (;;) {
		uint32_t v;
		if (dk_random_bytes(&v, sizeof v) < 0)
			return -1;
		if (v < limit) {
			*out = v % n;
			return 0;
		}
	}
}

int dk_base34_value(char c)
{
	if (!c)
		return -1;
	const char *p = strchr(dk_base34, c);
	return p ? (int)(p - dk_base34) : -1;
}

static int count_years(const struct dk_mac_model *m)
{
	int n = 0;
	while (n < (int)DK_ARRAY_SIZE(m->years) && m->years[n])
		n++;
	return n;
}

static bool model_has_year(const struct dk_mac_model *m, int year)
{
	for (int i = 0; i < count_years(m); i++)
		if (m->years[i] == year)
			return true;
	return false;
}

static const struct dk_mac_model *model_by_code(const char *code)
{
	for (int i = 0; i < dk_mac_model_count; i++) {
		const struct dk_mac_model *m = &dk_mac_models[i];
		for (int j = 0; j < (int)DK_ARRAY_SIZE(m->model_codes) && m->model_codes[j]; j++)
			if (!strcmp(m->model_codes[j], code))
				return m;
	}
	return NULL;
}

static bool legacy_model(const struct dk_mac_model *m)
{
	return m->model_codes[0] && strlen(m->model_codes[0]) == 3;
}

/* Legacy serials can only encode 2003..2012. */
static bool legacy_year_ok(int y)
{
	return y >= 2003 && y <= 2012;
}

static int encode_line(uint32_t line, char out[3])
{
	uint32_t s1 = line / 68;
	if (s1 > 33)
		s1 = 33;
	uint32_t rem = line - 68 * s1;
	uint32_t s2 = rem / 34;
	if (s2 > 33)
		s2 = 33;
	uint32_t s3 = rem - 34 * s2;
	if (s3 > 33)
		return -1;
	out[0] = dk_base34[s1];
	out[1] = dk_base34[s2];
	out[2] = dk_base34[s3];
	return 0;
}

static int pick_year(const struct dk_mac_model *m, bool legacy, int *year)
{
	int ny = count_years(m);
	if (ny == 0)
		return dk_fail("%s: no production years in the model table", m->name);
	if (m->preferred_year && (!legacy || legacy_year_ok(m->preferred_year))) {
		*year = m->preferred_year;
		return 0;
	}
	int cand[8], nc = 0;
	for (int i = 0; i < ny; i++)
		if (!legacy || legacy_year_ok(m->years[i]))
			cand[nc++] = m->years[i];
	if (nc == 0)
		return dk_fail("%s: no production year the legacy serial format can encode", m->name);
	uint32_t r;
	if (rand_below((uint32_t)nc, &r) < 0)
		return -1;
	*year = cand[r];
	return 0;
}

static int serial_try(const struct dk_mac_model *m, int year, char *out)
{
	bool legacy = legacy_model(m);
	const char *code = m->model_codes[0];
	size_t loclen = legacy ? 2 : 3;
	if (!m->base_serial || strlen(m->base_serial) < loclen)
		return dk_fail("%s: no base serial for the location code", m->name);
	uint32_t week, line;
	if (rand_below(52, &week) < 0 || rand_below(3400, &line) < 0)
		return -1;
	week += 1;
	char ln[3];
	if (encode_line(line, ln) < 0)
		return dk_fail("%s: line %u not encodable", m->name, line);
	if (legacy) {
		if (!legacy_year_ok(year))
			return dk_fail("%s: year %d cannot be encoded in an 11-character serial", m->name, year);
		snprintf(out, 16, "%.2s%d%02u%.3s%s", m->base_serial, year % 10, week, ln, code);
	} else {
		int base = year >= 2020 ? 2020 : 2010;
		int d = year - base;
		if (d < 0 || d > 9)
			return dk_fail("%s: year %d out of the serial format's range", m->name, year);
		char yl = year_letters[d * 2 + (week >= 27 ? 1 : 0)];
		char wl = week_symbols[(week >= 27 ? week - 26 : week) - 1];
		snprintf(out, 16, "%.3s%c%c%.3s%s", m->base_serial, yl, wl, ln, code);
	}
	return 0;
}

int dk_serial_generate(const struct dk_mac_model *m, int year, char *out, size_t n)
{
	if (!m || !out || n < 13)
		return dk_fail("serial: bad arguments");
	bool legacy = legacy_model(m);
	if (year == 0 && pick_year(m, legacy, &year) < 0)
		return -1;
	if (!model_has_year(m, year))
		return dk_fail("%s: %d is not a production year of this model", m->name, year);
	/* The format is ambiguous around decades; check by decoding. */
	for (int tries = 0; tries < 64; tries++) {
		char s[16];
		if (serial_try(m, year, s) < 0)
			return -1;
		struct dk_serial_info info;
		dk_serial_decode(s, &info);
		if (info.valid && info.model == m && info.year == year) {
			snprintf(out, n, "%s", s);
			return 0;
		}
	}
	return dk_fail("%s: could not generate a serial that decodes for year %d", m->name, year);
}

bool dk_mlb_checksum_ok(const char *mlb)
{
	size_t len = strlen(mlb);
	if (len == 0)
		return false;
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++) {
		int j = dk_base34_value(mlb[i]);
		if (j < 0)
			return false;
		sum += ((i & 1) == (len & 1)) ? 3u * (unsigned)j : (unsigned)j;
	}
	return sum % 34 == 0;
}

int dk_mlb_generate(const struct dk_mac_model *m, const char *serial, char *out, size_t n)
{
	if (!m || !serial || !out || n < 18)
		return dk_fail("MLB: bad arguments");
	struct dk_serial_info si;
	dk_serial_decode(serial, &si);
	if (!si.valid)
		return dk_fail("MLB: serial %s: %s", serial, si.reason);
	const char *board = m->board_codes[0];
	if (!board)
		return dk_fail("%s: no board code in the model table", m->name);
	char s[16];
	snprintf(s, sizeof s, "%s", si.serial);
	for (int tries = 0; tries < 10000; tries++) {
		char mlb[24];
		if (!si.legacy) {
			if (strlen(board) != 4)
				return dk_fail("%s: board code %s is not 4 characters", m->name, board);
			const char *yp = strchr(year_letters, s[3]);
			const char *wp = strchr(mlb_week_alpha, s[4]);
			if (!yp || !wp)
				return dk_fail("MLB: serial %s: bad year/week symbol", s);
			int yidx = (int)(yp - year_letters);
			int ydigit = yidx / 2;
			int week = (yidx % 2 ? 27 : 0) + (int)(wp - mlb_week_alpha) + 1 - 1;
			if (week == 0) {
				week = 53;
				ydigit = ydigit == 0 ? 9 : ydigit - 1;
			}
			uint32_t a, b, c;
			if (rand_below(DK_ARRAY_SIZE(mlb_block1), &a) < 0 ||
			    rand_below(DK_ARRAY_SIZE(mlb_block2), &b) < 0 ||
			    rand_below(DK_ARRAY_SIZE(mlb_block3), &c) < 0)
				return -1;
			snprintf(mlb, sizeof mlb, "%.3s%d%02d%s%s%s%s", s, ydigit, week, mlb_block1[a],
				 mlb_block2[b], board, mlb_block3[c]);
		} else {
			if (strlen(board) != 3)
				return dk_fail("%s: board code %s is not 3 characters", m->name, board);
			int ydigit = s[2] - '0';
			int week = (s[3] - '0') * 10 + (s[4] - '0') - 1;
			if (week == 0) {
				week = 53;
				ydigit = ydigit == 0 ? 9 : ydigit - 1;
			}
			uint32_t c1, c2, c3, sx;
			if (rand_below(34, &c1) < 0 || rand_below(34, &c2) < 0 || rand_below(34, &c3) < 0 ||
			    rand_below(34, &sx) < 0)
				return -1;
			snprintf(mlb, sizeof mlb, "%.2s%d%02d0%c%c%c%s%c", s, ydigit, week, dk_base34[c1],
				 dk_base34[c2], dk_base34[c3], board, dk_base34[sx]);
		}
		if (dk_mlb_checksum_ok(mlb)) {
			snprintf(out, n, "%s", mlb);
			return 0;
		}
	}
	return dk_fail("%s: could not generate a checksum-valid MLB", m->name);
}

int dk_rom_generate(uint8_t rom[6])
{
	uint32_t i;
	if (rand_below(DK_ARRAY_SIZE(apple_ouis), &i) < 0)
		return -1;
	memcpy(rom, apple_ouis[i], 3);
	return dk_random_bytes(rom + 3, 3);
}

int dk_uuid_generate(char *out, size_t n)
{
	uint8_t b[16];
	if (n < 37)
		return dk_fail("uuid: buffer too small");
	if (dk_uuid_random(b) < 0)
		return -1;
	dk_uuid_format(b, out, DK_UUID_UPPER);
	return 0;
}

bool dk_uuid_is_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

int dk_smbios_generate(const struct dk_mac_model *m, struct dk_smbios *out)
{
	if (!m || !out)
		return dk_fail("smbios: bad arguments");
	memset(out, 0, sizeof *out);
	snprintf(out->product, sizeof out->product, "%s", m->name);
	if (dk_serial_generate(m, 0, out->serial, sizeof out->serial) < 0)
		return -1;
	if (dk_mlb_generate(m, out->serial, out->mlb, sizeof out->mlb) < 0)
		return -1;
	if (dk_rom_generate(out->rom) < 0)
		return -1;
	return dk_uuid_generate(out->uuid, sizeof out->uuid);
}

/* ---- decoding ---- */

static void unlikely(struct dk_serial_info *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void unlikely(struct dk_serial_info *o, const char *fmt, ...)
{
	if (!o->valid)
		return; /* keep the first reason */
	o->valid = false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->reason, sizeof o->reason, fmt, ap);
	va_end(ap);
}

int dk_serial_decode(const char *serial, struct dk_serial_info *o)
{
	if (!serial || !o)
		return dk_fail("serial: bad arguments");
	memset(o, 0, sizeof *o);
	o->valid = true;
	o->location_name = "Unknown";
	size_t len = strlen(serial);
	o->length = (int)len;
	if (len != 11 && len != 12) {
		unlikely(o, "length %zu (a serial has 11 or 12 characters)", len);
		snprintf(o->serial, sizeof o->serial, "%.15s", serial);
		return 0;
	}
	char s[13];
	for (size_t i = 0; i < len; i++)
		s[i] = (char)toupper((unsigned char)serial[i]);
	s[len] = 0;
	snprintf(o->serial, sizeof o->serial, "%s", s);
	o->legacy = len == 11;
	for (size_t i = 0; i < len; i++)
		if (dk_base34_value(s[i]) < 0) {
			unlikely(o, "character '%c' at position %zu is outside the base34 alphabet", isprint((unsigned char)s[i]) ? s[i] : '?', i + 1);
			break;
		}

	size_t loclen = o->legacy ? 2 : 3;
	memcpy(o->location, s, loclen);
	o->location[loclen] = 0;
	if (o->legacy) {
		for (size_t i = 0; i < DK_ARRAY_SIZE(legacy_locations); i++)
			if (!strcmp(legacy_locations[i].code, o->location)) {
				o->location_name = legacy_locations[i].name;
				o->location_known = true;
			}
	} else {
		for (size_t i = 0; i < DK_ARRAY_SIZE(locations); i++)
			if (!strcmp(locations[i].code, o->location)) {
				o->location_name = locations[i].name;
				o->location_known = true;
			}
	}
	snprintf(o->model_code, sizeof o->model_code, "%s", s + 8);
	o->model = model_by_code(o->model_code);

	/* year and week */
	if (o->legacy) {
		char y = s[2];
		if (y >= '3' && y <= '9')
			o->year = 2000 + (y - '0');
		else if (y >= '0' && y <= '2')
			o->year = 2010 + (y - '0');
		else
			unlikely(o, "unknown year symbol '%c'", y);
		if (isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4])) {
			o->week = (s[3] - '0') * 10 + (s[4] - '0');
			if (o->week < 1 || o->week > 53)
				unlikely(o, "week %d outside 1-53", o->week);
		} else {
			unlikely(o, "unknown week symbols '%c%c'", s[3], s[4]);
		}
	} else {
		const char *yp = strchr(year_letters, s[3]);
		const char *wp = strchr(week_symbols, s[4]);
		int digit = -1, half = 0;
		if (!yp || !s[3]) {
			unlikely(o, "unknown year symbol '%c'", s[3]);
		} else {
			int idx = (int)(yp - year_letters);
			digit = idx / 2;
			half = idx % 2;
		}
		if (!wp || !s[4]) {
			unlikely(o, "unknown week symbol '%c'", s[4]);
		} else {
			o->week = (int)(wp - week_symbols) + 1 + (half ? 26 : 0);
			if (o->week < 1 || o->week > 53)
				unlikely(o, "week %d outside 1-53", o->week);
		}
		if (digit >= 0) {
			int base = 2010;
			if (o->model && o->model->years[0] >= 2017 && digit < 7)
				base = 2020;
			else if (digit == 0 && isalpha((unsigned char)o->model_code[0]) && o->model_code[0] >= 'H')
				base = 2020;
			o->year = base + digit;
		}
	}
	if (o->model && o->year && !model_has_year(o->model, o->year)) {
		int ny = count_years(o->model);
		unlikely(o, "year %d is not a production year of %s (%d-%d)", o->year, o->model->name,
			 o->model->years[0], o->model->years[ny - 1]);
	}

	/* line and copy */
	int b1 = dk_base34_value(s[5]), b2 = dk_base34_value(s[6]), b3 = dk_base34_value(s[7]);
	if (b1 < 0 || b2 < 0 || b3 < 0) {
		unlikely(o, "bad line symbol in '%.3s'", s + 5);
	} else {
		o->line = b1 * 68 + b2 * 34 + b3;
		int rmin = o->line > 1155 ? (o->line - 1155 + 67) / 68 : 0;
		o->copy = b1 - rmin + 1;
	}
	return 0;
}

int dk_mlb_check(const char *mlb, struct dk_mlb_info *o)
{
	if (!mlb || !o)
		return dk_fail("MLB: bad arguments");
	memset(o, 0, sizeof *o);
	size_t len = strlen(mlb);
	o->length = (int)len;
	o->kind = len == 17 ? "new (17)" : len == 13 ? "legacy (13)" : "unknown length";
	o->checksum_ok = dk_mlb_checksum_ok(mlb);
	for (size_t i = 0; i < len; i++)
		if (dk_base34_value(mlb[i]) < 0) {
			snprintf(o->reason, sizeof o->reason,
				 "character '%c' at position %zu is outside the base34 alphabet",
				 isprint((unsigned char)mlb[i]) ? mlb[i] : '?', i + 1);
			break;
		}
	if (len != 17 && len != 13) {
		if (!o->reason[0])
			snprintf(o->reason, sizeof o->reason, "length %zu (an MLB has 13 or 17 characters)", len);
	} else if (!o->checksum_ok && !o->reason[0]) {
		snprintf(o->reason, sizeof o->reason, "base34 weighted checksum does not add up to 0 mod 34");
	}
	o->valid = (len == 17 || len == 13) && o->checksum_ok;
	return 0;
}

bool dk_mac_model_supports(const struct dk_mac_model *m, const struct dk_macos *os)
{
	const struct dk_macos *lo = dk_macos_find(m->macos_min), *hi = dk_macos_find(m->macos_max);
	if (!os || !lo || !hi)
		return false;
	return dk_macos_cmp(os, lo) >= 0 && dk_macos_cmp(os, hi) <= 0;
}

/* ---- JSON ---- */

json_object *dk_smbios_to_json(const struct dk_smbios *s)
{
	json_object *o = json_object_new_object();
	char rom[13];
	snprintf(rom, sizeof rom, "%02X%02X%02X%02X%02X%02X", s->rom[0], s->rom[1], s->rom[2], s->rom[3],
		 s->rom[4], s->rom[5]);
	const struct dk_mac_model *m = dk_mac_model_find(s->product);
	json_object_object_add(o, "SystemProductName", json_object_new_string(s->product));
	json_object_object_add(o, "SystemSerialNumber", json_object_new_string(s->serial));
	json_object_object_add(o, "MLB", json_object_new_string(s->mlb));
	json_object_object_add(o, "ROM", json_object_new_string(rom));
	json_object_object_add(o, "SystemUUID", json_object_new_string(s->uuid));
	json_object_object_add(o, "BoardProduct", m ? json_object_new_string(m->board_id) : NULL);
	return o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)toupper((unsigned char)c);
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dk_smbios_from_json(json_object *o, struct dk_smbios *out)
{
	json_object *v;
	if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "identities", &v))
		o = v;
	if (o && json_object_is_type(o, json_type_array)) {
		if (json_object_array_length(o) == 0)
			return dk_fail("no identity in the JSON array");
		o = json_object_array_get_idx(o, 0);
	}
	if (!o || !json_object_is_type(o, json_type_object))
		return dk_fail("expected a JSON object with SystemProductName, SystemSerialNumber, MLB, ROM, SystemUUID");
	memset(out, 0, sizeof *out);
	const char *keys[] = {"SystemProductName", "SystemSerialNumber", "MLB", "ROM", "SystemUUID"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(keys); i++)
		if (!dk_json_get_str(o, keys[i]))
			return dk_fail("missing string \"%s\"", keys[i]);
	const char *product = dk_json_get_str(o, "SystemProductName"), *serial = dk_json_get_str(o, "SystemSerialNumber");
	const char *mlb = dk_json_get_str(o, "MLB"), *rom = dk_json_get_str(o, "ROM"), *uuid = dk_json_get_str(o, "SystemUUID");
	if (strlen(product) >= sizeof out->product)
		return dk_fail("SystemProductName too long");
	snprintf(out->product, sizeof out->product, "%s", product);
	struct dk_serial_info si;
	dk_serial_decode(serial, &si);
	if (si.length != 11 && si.length != 12)
		return dk_fail("SystemSerialNumber %s: %s", serial, si.reason);
	if (!si.valid)
		dk_warn("SystemSerialNumber %s is unlikely: %s", si.serial, si.reason);
	snprintf(out->serial, sizeof out->serial, "%s", si.serial);
	struct dk_mlb_info mi;
	dk_mlb_check(mlb, &mi);
	if (mi.length != 13 && mi.length != 17)
		return dk_fail("MLB %s: %s", mlb, mi.reason);
	if (!mi.valid)
		dk_warn("MLB %s: %s", mlb, mi.reason);
	snprintf(out->mlb, sizeof out->mlb, "%s", mlb);
	/* ROM: 12 hex digits, optionally separated by ':' or '-' */
	int nb = 0, hi = -1;
	for (const char *p = rom; *p; p++) {
		if ((*p == ':' || *p == '-') && hi < 0)
			continue;
		int h = hexval(*p);
		if (h < 0 || nb >= 6)
			return dk_fail("ROM \"%s\": expected 6 bytes as 12 hex digits", rom);
		if (hi < 0) {
			hi = h;
		} else {
			out->rom[nb++] = (uint8_t)(hi << 4 | h);
			hi = -1;
		}
	}
	if (nb != 6 || hi >= 0)
		return dk_fail("ROM \"%s\": expected 6 bytes as 12 hex digits", rom);
	if (!dk_uuid_is_valid(uuid))
		return dk_fail("SystemUUID \"%s\": not a UUID", uuid);
	for (int i = 0; uuid[i]; i++)
		out->uuid[i] = (char)toupper((unsigned char)uuid[i]);
	return 0;
}

int dk_smbios_load_json(const char *path, struct dk_smbios *out)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (dk_read_file(path, &data, &len, 1 << 20) < 0)
		return -1;
	if (len == 0)
		return dk_fail("%s: empty file (expected JSON from 'dkvm smbios generate --json')", path);
	json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, data, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!o || jerr != json_tokener_success) {
		if (o)
			json_object_put(o);
		return dk_fail("%s: not valid JSON: %s", path,
			       jerr == json_tokener_continue ? "truncated" : json_tokener_error_desc(jerr));
	}
	int r = dk_smbios_from_json(o, out);
	json_object_put(o);
	if (r < 0)
		return dk_fail_prefix("%s", path);
	return 0;
}
