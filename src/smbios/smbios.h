/* Mac models and SMBIOS identities (serial, MLB, ROM, UUID). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"

struct dk_mac_model {
	const char *name;          /* "MacPro7,1" */
	const char *board_id;      /* "Mac-27AD2F918AE68F61" */
	const char *base_serial;   /* an example serial (location code source) */
	const char *model_codes[16];  /* product codes (EEE/EEEE in serials), NULL-terminated */
	const char *board_codes[8];   /* MLB board codes, NULL-terminated */
	int years[8];              /* production years, 0-terminated */
	int preferred_year;        /* 0 = none */
	const char *macos_min;     /* dk_macos name, e.g. "catalina" */
	const char *macos_max;     /* e.g. "tahoe" */
};

extern const struct dk_mac_model dk_mac_models[];
extern const int dk_mac_model_count;
const struct dk_mac_model *dk_mac_model_find(const char *name); /* case-insensitive */

struct dk_smbios {
	char product[32];  /* SystemProductName */
	char serial[16];   /* SystemSerialNumber */
	char mlb[20];      /* MLB */
	uint8_t rom[6];    /* ROM: Apple OUI + 3 random bytes */
	char uuid[40];     /* SystemUUID, upper-case v4 */
};

/* Generate a unique identity for the model (cryptographic RNG). */
int dk_smbios_generate(const struct dk_mac_model *m, struct dk_smbios *out);

/* ---- additions (smbios area) ---- */
#include <json-c/json.h>

/* Base34 alphabet of Apple serials: 0-9 A-Z without I and O. */
extern const char dk_base34[];
/* Value of a base34 character, or -1. */
int dk_base34_value(char c);

/* Serial number generation. year = 0 picks the preferred year (else a random
 * one from the model's list). Writes 11 (legacy, 3-char model code) or 12
 * characters + NUL into out (>= 13 bytes). */
int dk_serial_generate(const struct dk_mac_model *m, int year, char *out, size_t n);
/* Board serial (MLB) for a serial: 17 characters for 12-char serials, 13 for
 * legacy 11-char serials; checksum-valid. out >= 18 bytes. */
int dk_mlb_generate(const struct dk_mac_model *m, const char *serial, char *out, size_t n);
/* 6 bytes: a random Apple OUI + 3 random bytes. */
int dk_rom_generate(uint8_t rom[6]);
/* Random version 4 UUID, upper case, 36 characters + NUL. */
int dk_uuid_generate(char *out, size_t n);
/* dk_random_bytes() (cryptographic random bytes) lives in util/bytes.h. */

/* A decoded serial number. */
struct dk_serial_info {
	char serial[16];
	int length;                     /* 11 (legacy) or 12 (new); other = invalid */
	bool legacy;
	char location[4];
	const char *location_name;      /* "Unknown" when not in the table */
	bool location_known;
	int year, week;                 /* 0 when undecodable */
	int line, copy;                 /* line 0..3399 */
	char model_code[5];
	const struct dk_mac_model *model; /* NULL when the code is not in our table */
	bool valid;                     /* false = "unlikely" */
	char reason[160];               /* why unlikely (first problem found) */
};
/* Decode a serial. Always fills *out (valid=false with a reason on bad input);
 * returns 0, or -1 only for a NULL argument. */
int dk_serial_decode(const char *serial, struct dk_serial_info *out);

struct dk_mlb_info {
	int length;
	const char *kind;   /* "new (17)", "legacy (13)", "unknown length" */
	bool checksum_ok;
	bool valid;         /* known length class and checksum ok */
	char reason[160];
};
int dk_mlb_check(const char *mlb, struct dk_mlb_info *out);
/* The weighted base34 checksum alone (false on characters outside base34). */
bool dk_mlb_checksum_ok(const char *mlb);

/* Does the model support this macOS (by dk_macos name)? */
struct dk_macos;
bool dk_mac_model_supports(const struct dk_mac_model *m, const struct dk_macos *os);

/* JSON in the shape `dkvm smbios generate --json` prints per identity:
 * {"SystemProductName","SystemSerialNumber","MLB","ROM" (12 hex digits),
 *  "SystemUUID","BoardProduct"}. */
json_object *dk_smbios_to_json(const struct dk_smbios *s);
/* The documents `dkvm --json smbios ...` print (see dkvm-smbios(1)):
 * generate --list (every known model), generate ({"model","board_id",
 * "identities":[n identities]}), decode (serial as given, for bad lengths)
 * and check-mlb (mlb as given). */
json_object *dk_mac_models_to_json(void);
json_object *dk_smbios_set_to_json(const struct dk_mac_model *m, const struct dk_smbios *ids, size_t n);
json_object *dk_serial_info_to_json(const char *serial, const struct dk_serial_info *si);
json_object *dk_mlb_info_to_json(const char *mlb, const struct dk_mlb_info *mi);
/* Accepts that object, or an array / {"identities":[...]} (first entry).
 * Validates each field (serial decodes, MLB checksum, ROM 6 bytes, UUID form). */
int dk_smbios_from_json(json_object *o, struct dk_smbios *out);
/* Read such a JSON file. Errors name the file. */
int dk_smbios_load_json(const char *path, struct dk_smbios *out);
/* "4D1EDE05..." style checks used by validators. */
bool dk_uuid_is_valid(const char *s);
