/* dkvm smbios generate|decode|check-mlb */
#include "cli/cli.h"
#include "smbios/smbios.h"
#include "smbios/macos.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"

#include <stdlib.h>
#include <string.h>

static const struct dk_opt generate_opts[] = {
	{"model", 'm', "MODEL", "Mac model, e.g. MacPro7,1 (see --list)", DK_C_MODEL, DK_OPT_SHORT},
	{"count", 'n', "N", "number of identities (1-1000, default 1)", NULL, DK_OPT_SHORT},
	{"list", 'l', NULL, "list the known models with board-id, years and macOS range", NULL, DK_OPT_SHORT},
	{"json", 0, NULL, "print {\"model\",\"board_id\",\"identities\":[{SystemProductName,\n"
	 "SystemSerialNumber, MLB, ROM, SystemUUID, BoardProduct}]}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_smbios_generate = {
	.head = "usage: dkvm smbios generate --model MODEL [--count N] [--json]\n"
		"\n"
		"Generate unique SMBIOS identities for a Mac model: SystemProductName,\n"
		"SystemSerialNumber, MLB (board serial), ROM (6 bytes, Apple OUI prefix) and\n"
		"SystemUUID (random version 4, upper case). Serials use the model's own\n"
		"location and product codes and a production year of the model, so they decode\n"
		"as valid for it; MLBs carry a valid base-34 checksum. Randomness comes from\n"
		"the kernel's getrandom(2).\n",
	.opts = generate_opts,
	.tail = "Examples:\n"
		"  dkvm smbios generate --model MacPro7,1\n"
		"  dkvm smbios generate --model iMacPro1,1 --count 5 --json > ids.json\n"
		"\n"
		"Exit status: 0 success, 1 generation failed, 2 usage error.\n",
	.operands = NULL,
};

static int list_models(void)
{
	if (dk_json_output) {
		dk_json_print(dk_mac_models_to_json());
		return DK_EXIT_OK;
	}
	printf("%-12s %-22s %-11s %s\n", "MODEL", "BOARD-ID", "YEARS", "MACOS");
	for (int i = 0; i < dk_mac_model_count; i++) {
		const struct dk_mac_model *m = &dk_mac_models[i];
		int last = 0;
		for (int k = 0; k < 8 && m->years[k]; k++)
			last = m->years[k];
		char years[16];
		snprintf(years, sizeof years, "%d-%d", m->years[0], last);
		const struct dk_macos *lo = dk_macos_find(m->macos_min), *hi = dk_macos_find(m->macos_max);
		printf("%-12s %-22s %-11s %s - %s\n", m->name, m->board_id, years, lo ? lo->marketing : "?",
		       hi ? hi->marketing : "?");
	}
	return DK_EXIT_OK;
}

int dk_cmd_smbios_generate(int argc, char **argv)
{
	const char *model = NULL;
	uint64_t count = 1;
	bool list = false;
	int c;
	optind = 0;
	while ((c = dk_opt_next(&dk_spec_smbios_generate, argc, argv)) != -1) {
		switch (c) {
		case 'm':
			model = optarg;
			break;
		case 'n':
			if (dk_cli_uint("smbios generate", "--count", optarg, 1, 1000, &count) < 0)
				return DK_EXIT_USAGE;
			break;
		case 'l':
			list = true;
			break;
		case 'h':
			return dk_print_spec_help(&dk_spec_smbios_generate);
		default:
			return dk_getopt_error("smbios generate", c, argv);
		}
	}
	if (dk_cli_no_operands("smbios generate", argc, argv))
		return DK_EXIT_USAGE;
	if (list)
		return list_models();
	if (!model)
		return dk_usage_error("smbios generate", "--model is required (e.g. --model MacPro7,1)");
	const struct dk_mac_model *m = dk_mac_model_find(model);
	if (!m) {
		struct dk_buf b = {0};
		for (int i = 0; i < dk_mac_model_count; i++)
			dk_buf_printf(&b, "%s%s", i ? ", " : "", dk_mac_models[i].name);
		int r = dk_usage_error("smbios generate", "unknown model '%s' (known: %s)", model, b.data);
		dk_buf_free(&b);
		return r;
	}
	struct dk_smbios *ids = dk_json_output ? dk_calloc(count, sizeof *ids) : NULL;
	for (uint64_t i = 0; i < count; i++) {
		struct dk_smbios s;
		if (dk_smbios_generate(m, &s) < 0) {
			free(ids);
			return dk_cli_fail();
		}
		if (ids) {
			ids[i] = s;
			continue;
		}
		if (i)
			putchar('\n');
		printf("SystemProductName   %s\n", s.product);
		printf("SystemSerialNumber  %s\n", s.serial);
		printf("MLB                 %s\n", s.mlb);
		printf("ROM                 %02X%02X%02X%02X%02X%02X\n", s.rom[0], s.rom[1], s.rom[2], s.rom[3],
		       s.rom[4], s.rom[5]);
		printf("SystemUUID          %s\n", s.uuid);
		printf("BoardProduct        %s\n", m->board_id);
	}
	if (ids) {
		dk_json_print(dk_smbios_set_to_json(m, ids, count));
		free(ids);
	}
	return DK_EXIT_OK;
}

static const struct dk_opt decode_opts[] = {
	{"json", 0, NULL, "print {\"serial\",\"format\",\"location\":{\"code\",\"name\",\"known\"},\n"
	 "\"year\",\"week\",\"line\",\"copy\",\"model_code\",\"model\",\"valid\",\n"
	 "\"verdict\",\"reason\"}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_smbios_decode = {
	.head = "usage: dkvm smbios decode SERIAL [--json]\n"
		"\n"
		"Decode an Apple serial number: the 11-character legacy format (LL Y WW SSS PPP)\n"
		"or the 12-character format (LLL Y W SSS PPPP). Prints the manufacturing\n"
		"location, year, week, production line and copy, and the model the product\n"
		"code belongs to, then a verdict: \"valid\", or \"unlikely\" with the reason (a\n"
		"character outside base34, an unknown year or week symbol, a week outside 1-53,\n"
		"a year the model was not produced in, a bad line symbol). Unknown location or\n"
		"model codes are reported but do not make a serial unlikely.\n",
	.opts = decode_opts,
	.tail = "Examples:\n"
		"  dkvm smbios decode F5KZN00HP7QM\n"
		"  dkvm smbios decode CK151076EUH --json\n"
		"\n"
		"Exit status: 0 valid, 1 unlikely, 2 usage error.\n",
	.operands = NULL,
};

int dk_cmd_smbios_decode(int argc, char **argv)
{
	const char *serial = NULL;
	int r = dk_cli_one_operand("smbios decode", &dk_spec_smbios_decode, argc, argv, &serial);
	if (r == -1)
		return DK_EXIT_OK;
	if (r)
		return r;
	struct dk_serial_info si;
	dk_serial_decode(serial, &si);
	if (dk_json_output) {
		dk_json_print(dk_serial_info_to_json(serial, &si));
	} else {
		printf("Serial      %s (%s)\n", dk_esc(si.length == 11 || si.length == 12 ? si.serial : serial),
		       si.length == 11 ? "legacy, 11 characters" : si.length == 12 ? "12 characters" : "bad length");
		if (si.length == 11 || si.length == 12) {
			printf("Location    %s: %s\n", dk_esc(si.location), si.location_name);
			if (si.year)
				printf("Year        %d\n", si.year);
			if (si.week)
				printf("Week        %d\n", si.week);
			printf("Line        %d (copy %d)\n", si.line, si.copy);
			printf("Model       %s: %s\n", dk_esc(si.model_code), si.model ? si.model->name : "unknown code");
		}
		if (si.valid)
			printf("Verdict     %svalid%s\n", dk_c_green(), dk_c_reset());
		else
			printf("Verdict     %sunlikely%s: %s\n", dk_c_yellow(), dk_c_reset(), dk_esc(si.reason));
	}
	return si.valid ? DK_EXIT_OK : DK_EXIT_FAIL;
}

static const struct dk_opt check_mlb_opts[] = {
	{"json", 0, NULL, "print {\"mlb\",\"length\",\"kind\",\"checksum\",\"valid\",\"reason\"}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_smbios_check_mlb = {
	.head = "usage: dkvm smbios check-mlb MLB [--json]\n"
		"\n"
		"Check a board serial number (MLB): its length class (17 characters, or 13 for\n"
		"legacy boards) and its base-34 weighted checksum (each character's value in\n"
		"0-9A-Z without I and O, weighted 3 at positions with the parity of the length\n"
		"and 1 elsewhere; the sum must be a multiple of 34).\n",
	.opts = check_mlb_opts,
	.tail = "Examples:\n"
		"  dkvm smbios check-mlb F5K1211044NK3F7UE\n"
		"  dkvm smbios check-mlb CK150023ZBH81 --json\n"
		"\n"
		"Exit status: 0 valid, 1 invalid, 2 usage error.\n",
	.operands = NULL,
};

int dk_cmd_smbios_check_mlb(int argc, char **argv)
{
	const char *mlb = NULL;
	int r = dk_cli_one_operand("smbios check-mlb", &dk_spec_smbios_check_mlb, argc, argv, &mlb);
	if (r == -1)
		return DK_EXIT_OK;
	if (r)
		return r;
	struct dk_mlb_info mi;
	dk_mlb_check(mlb, &mi);
	if (dk_json_output) {
		dk_json_print(dk_mlb_info_to_json(mlb, &mi));
	} else {
		printf("MLB         %s\n", dk_esc(mlb));
		printf("Length      %d: %s\n", mi.length, mi.kind);
		printf("Checksum    %s\n", mi.checksum_ok ? "ok" : "bad");
		if (mi.valid)
			printf("Verdict     %svalid%s\n", dk_c_green(), dk_c_reset());
		else
			printf("Verdict     %sinvalid%s: %s\n", dk_c_red(), dk_c_reset(), dk_esc(mi.reason));
	}
	return mi.valid ? DK_EXIT_OK : DK_EXIT_FAIL;
}
