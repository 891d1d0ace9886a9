/* dkvm chunklist verify */
#include "cli/cli.h"
#include "fetch/chunklist.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"

#include <string.h>

static const struct dk_opt verify_opts[] = {
	{"image", 'i', "FILE", "also verify this image (e.g. BaseSystem.dmg) chunk by chunk", DK_C_FILE, 0},
	{"trust-key", 'k', "PEM", "RSA public key (PEM) that replaces Apple's (mirrors, tests)", DK_C_FILE, 0},
	{"allow-unsigned", 'u', NULL, "accept chunklists without a signature (installer integrity\n"
	 "data: signature method 0, or 2 = SHA-256 digest only)", NULL, 0},
	{"json", 0, NULL, "one JSON document on stdout (see dkvm-fetch(1))", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_chunklist_verify = {
	.head = "usage: dkvm chunklist verify FILE.chunklist [--image FILE] [--trust-key PEM] [--allow-unsigned] [--json]\n"
		"\n"
		"Check an Apple chunklist: its structure, its RSA-2048 signature (Apple's key, or\n"
		"the key given with --trust-key) and, with --image, the SHA-256 of every chunk of\n"
		"the image it describes (naming the first chunk that fails).\n",
	.opts = verify_opts,
	.tail = "Examples:\n"
		"  dkvm chunklist verify com.apple.recovery.boot/BaseSystem.chunklist \\\n"
		"      --image com.apple.recovery.boot/BaseSystem.dmg\n"
		"  dkvm chunklist verify InstallAssistant.pkg.integrityDataV1 --allow-unsigned --image InstallAssistant.pkg\n"
		"\n"
		"Exit status: 0 verified, 1 verification failed or unreadable, 2 usage error.\n",
	.operands = DK_C_FILE,
};

int dk_cmd_chunklist_verify(int argc, char **argv)
{
	const char *image = NULL, *key = NULL;
	bool allow_unsigned = false;
	int c;
	optind = 0;
	while ((c = dk_opt_next(&dk_spec_chunklist_verify, argc, argv)) != -1) {
		switch (c) {
		case 'i': image = optarg; break;
		case 'k': key = optarg; break;
		case 'u': allow_unsigned = true; break;
		case 'h': return dk_print_spec_help(&dk_spec_chunklist_verify);
		default: return dk_getopt_error("chunklist verify", c, argv);
		}
	}
	if (optind != argc - 1)
		return dk_usage_error("chunklist verify", optind >= argc ? "missing FILE.chunklist" : "too many arguments");
	const char *path = argv[optind];

	struct dk_chunklist cl;
	/* a bad --trust-key is the user's input error: report it before any result */
	if ((key && dk_chunklist_check_key(key) < 0) || dk_chunklist_load(path, &cl) < 0) {
		if (dk_json_output) {
			dk_json_print(dk_chunklist_error_to_json(path, dk_errmsg()));
		}
		return dk_cli_fail();
	}
	const char *status = NULL;
	int sig_rc = dk_chunklist_verify_sig(&cl, path, key, allow_unsigned, &status);
	char *sig_err = sig_rc < 0 ? dk_strdup(dk_errmsg()) : NULL;
	int img_rc = 0;
	int64_t bad = -1;
	char *img_err = NULL;
	if (image && sig_rc == 0) {
		img_rc = dk_chunklist_verify_image(&cl, image, &bad);
		if (img_rc < 0)
			img_err = dk_strdup(dk_errmsg());
	}
	bool ok = sig_rc == 0 && img_rc == 0;
	if (dk_json_output) {
		struct dk_chunklist_verdict v = {
			.chunklist = path,
			.image = image,
			.trust_key = key,
			.sig_rc = sig_rc,
			.sig_status = status,
			.img_rc = img_rc,
			.bad_chunk = bad,
			.error = sig_err ? sig_err : img_err,
		};
		dk_json_print(dk_chunklist_verify_to_json(&cl, &v));
	} else {
		char sz[32];
		dk_format_size(cl.image_size, sz, sizeof sz);
		printf("%s: %llu chunks, image %llu bytes (%s)\n", dk_esc(path), (unsigned long long)cl.count,
		       (unsigned long long)cl.image_size, sz);
		if (cl.sig_method == 1)
			printf("signature: RSA-2048, %s%s%s%s\n", sig_rc == 0 ? dk_c_green() : dk_c_red(),
			       sig_rc == 0 ? "verified" : "FAILED", dk_c_reset(),
			       sig_rc == 0 ? (key ? " with the trusted key" : " with Apple's key") : "");
		else
			printf("signature: none (%s)%s\n", cl.sig_method == 2 ? "SHA-256 digest only" : "unsigned",
			       sig_rc == 0 ? ", accepted (--allow-unsigned)" : "");
		if (image && sig_rc == 0)
			printf("image %s: %s%s%s\n", dk_esc(image), img_rc == 0 ? dk_c_green() : dk_c_red(),
			       img_rc == 0 ? "all chunks verified" : "FAILED", dk_c_reset());
	}
	if (!ok)
		fprintf(stderr, "dkvm: %s\n", dk_esc_msg(sig_err ? sig_err : img_err));
	free(sig_err);
	free(img_err);
	dk_chunklist_free(&cl);
	return ok ? DK_EXIT_OK : DK_EXIT_FAIL;
}
