#include "cli/cli.h"

int dk_cmd_fetch_list(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_fetch_recovery(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_fetch_installer(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

