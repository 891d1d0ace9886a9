#include "cli/cli.h"

int dk_cmd_dmg_info(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_dmg_verify(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_dmg_convert(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

