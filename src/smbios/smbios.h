/* Mac models and SMBIOS identities (serial, MLB, ROM, UUID). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

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
