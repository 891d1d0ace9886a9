#include "cli/cli.h"

int dk_cmd_start(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_stop(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_list(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_show(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

int dk_cmd_destroy(int argc, char **argv)
{
	fprintf(stderr, "dkvm: %s: not implemented yet\n", argv[0]);
	return DK_EXIT_FAIL;
}

