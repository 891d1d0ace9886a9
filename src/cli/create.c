#include "cli/cli.h"

int dk_cmd_create(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

