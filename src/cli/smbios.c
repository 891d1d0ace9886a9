#include "cli/cli.h"

int dk_cmd_smbios_generate(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_smbios_decode(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_smbios_check_mlb(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

