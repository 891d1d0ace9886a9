/* dkvm dmg info|verify|convert: argv and output only; the work is in src/dmg. */
#include "cli/cli.h"
#include "dmg/dmg.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const struct dk_opt info_opts[] = {
	{"json", 0, NULL, "one JSON document on stdout (see dkvm-dmg(1))", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_dmg_info = {
	.head = "usage: dkvm dmg info FILE [--json]\n"
		"\n"
		"Describe a UDIF disk image (.dmg): the koly trailer (version, flags, variant,\n"
		"sector count, data fork and property list location, segment), the checksums it\n"
		"carries, the partitions (blkx tables) with their names, and a histogram of chunk\n"
		"types with stored and uncompressed sizes. Encrypted images (encrcdsa/cdsaencr),\n"
		"sparse images and sparse bundles are recognised and refused with one line.\n",
	.opts = info_opts,
	.tail = "Example:\n"
		"  dkvm dmg info BaseSystem.dmg\n"
		"\n"
		"Exit status: 0 success, 1 the file is not a readable UDIF image, 2 usage error.\n",
	.operands = DK_C_FILE,
};

static const struct dk_opt verify_opts[] = {
	{"threads", 't', "N", "decoder threads (default: online CPUs)", NULL, DK_OPT_SHORT},
	{"json", 0, NULL, "one JSON document on stdout (see dkvm-dmg(1))", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_dmg_verify = {
	.head = "usage: dkvm dmg verify FILE [--threads N] [--json]\n"
		"\n"
		"Decode every chunk of a UDIF image and check the checksums it carries: the\n"
		"CRC-32 of the data fork from the koly trailer, each blkx table's CRC-32 over its\n"
		"decoded sectors, and the master checksum (CRC-32 over the tables' checksums).\n"
		"Each check is printed as ok, FAILED, absent or skipped; a corrupt chunk that\n"
		"cannot be decoded is reported with its table and sector.\n",
	.opts = verify_opts,
	.tail = "Example:\n"
		"  dkvm dmg verify InstallAssistant.dmg\n"
		"\n"
		"Exit status: 0 all present checksums match, 1 a checksum failed or the image\n"
		"is unreadable (the message names which), 2 usage error.\n",
	.operands = DK_C_FILE,
};

static const struct dk_opt convert_opts[] = {
	{"output", 'o', "OUT", "raw image to write (required)", DK_C_FILE, DK_OPT_SHORT},
	{"partition", 'p', "N", "write only blkx table N (see 'dkvm dmg info'), not the disk", NULL, DK_OPT_SHORT},
	{"threads", 't', "N", "decoder threads (default: online CPUs)", NULL, DK_OPT_SHORT},
	{"no-verify", 'V', NULL, "do not compute or check checksums", NULL, 0},
	{"force", 'f', NULL, "replace OUT if it exists", NULL, DK_OPT_SHORT},
	{"json", 0, NULL, "print the result as one JSON document", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_dmg_convert = {
	.head = "usage: dkvm dmg convert FILE -o OUT [--partition N] [--threads N] [--no-verify] [--force]\n"
		"\n"
		"Convert a UDIF image to a raw disk image. Every chunk type is decoded: zero\n"
		"fill, raw, ignore, ADC, zlib, bzip2, LZFSE (with LZVN and stored blocks) and\n"
		"LZMA. Chunks are decoded in parallel and written in order; zero runs and\n"
		"all-zero blocks become holes (sparse output). Memory use is bounded and does\n"
		"not grow with the image. Checksums are verified while converting; OUT is\n"
		"written to a temporary file beside it and renamed only when everything\n"
		"decoded and matched, so a failed conversion leaves nothing at OUT.\n",
	.opts = convert_opts,
	.tail = "Examples:\n"
		"  dkvm dmg convert BaseSystem.dmg -o BaseSystem.img\n"
		"  dkvm dmg convert Install.dmg -o part.img --partition 3 --threads 4 --force\n"
		"\n"
		"Exit status: 0 converted and verified, 1 failure (nothing written), 2 usage error.\n",
	.operands = DK_C_FILE,
};

static int parse_file_arg(const char *cmd, int argc, char **argv, const char **file)
{
	if (optind >= argc)
		return dk_usage_error(cmd, "missing FILE");
	if (optind + 1 < argc)
		return dk_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	*file = argv[optind];
	return 0;
}

/* The FILE operand, opened: 0, or the exit code (usage error, or failure printed). */
static int open_file_arg(const char *cmd, int argc, char **argv, struct dmg_image **img)
{
	const char *file = NULL;
	if (parse_file_arg(cmd, argc, argv, &file))
		return DK_EXIT_USAGE;
	return dmg_open(file, img) < 0 ? dk_cli_fail() : 0;
}

static void print_partitions(const struct dmg_image *img)
{
	printf("Partitions:\n  %-3s %12s %12s %7s %-10s  %s\n", "#", "first", "sectors", "chunks", "crc32", "name");
	for (size_t i = 0; i < img->nblkx; i++) {
		const struct dmg_blkx *b = &img->blkx[i];
		char ck[16] = "-";
		if (b->cksum.type != DMG_CKSUM_NONE)
			snprintf(ck, sizeof ck, "0x%08" PRIx32, dmg_cksum_crc32(&b->cksum));
		printf("  %-3zu %12" PRIu64 " %12" PRIu64 " %7zu %-10s  %s\n", i, b->first_sector, b->nsect, b->nchunks, ck, dk_esc(b->name));
	}
}

static void info_text(const struct dmg_image *img, const struct dmg_hist *h, const char *uuid)
{
	uint64_t bytes = img->sector_count * DMG_SECTOR;
	char s1[32], s2[32];
	printf("%sFile:%s         %s (%s)\n", dk_c_bold(), dk_c_reset(), dk_esc(img->path), dk_format_size(img->file_size, s1, sizeof s1));
	printf("Format:       UDIF %s, koly version %" PRIu32 ", flags 0x%" PRIx32 "%s\n", dmg_variant_name(img->image_variant),
	       img->version, img->flags, img->flags & 1 ? " (flattened)" : "");
	printf("Encrypted:    no\n");
	printf("Disk:         %" PRIu64 " sectors (%s)\n", img->sector_count, dk_format_size(bytes, s1, sizeof s1));
	printf("Data fork:    offset %" PRIu64 ", length %" PRIu64 "\n", img->data_fork_offset, img->data_fork_length);
	printf("XML plist:    offset %" PRIu64 ", length %" PRIu64 "\n", img->xml_offset, img->xml_length);
	printf("Segment:      %" PRIu32 " of %" PRIu32 ", id %s\n", img->segment_number, img->segment_count, uuid);
	printf("Checksums:    data fork %s", dmg_cksum_type_name(img->data_cksum.type));
	if (img->data_cksum.type != DMG_CKSUM_NONE)
		printf(" 0x%08" PRIx32, dmg_cksum_crc32(&img->data_cksum));
	printf(", master %s", dmg_cksum_type_name(img->master_cksum.type));
	if (img->master_cksum.type != DMG_CKSUM_NONE)
		printf(" 0x%08" PRIx32, dmg_cksum_crc32(&img->master_cksum));
	printf("\n");
	printf("Stored:       %s for %s", dk_format_size(h->total_stored, s1, sizeof s1), dk_format_size(bytes, s2, sizeof s2));
	if (h->total_stored)
		printf(" (%.1f%%)", 100.0 * (double)h->total_stored / (double)(bytes ? bytes : 1));
	printf("\nChunk types:\n");
	for (size_t t = 0; t < DMG_NHIST; t++)
		if (h->cnt[t])
			printf("  %-8s %8" PRIu64 " chunks  %12" PRIu64 " sectors  %s stored\n", dmg_chunk_type_name(dmg_hist_types[t]),
			       h->cnt[t], h->sect[t], dk_format_size(h->stored[t], s1, sizeof s1));
	print_partitions(img);
}

int dk_cmd_dmg_info(int argc, char **argv)
{
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_dmg_info, argc, argv)) != -1) {
		if (c == 'h')
			return dk_print_spec_help(&dk_spec_dmg_info);
		return dk_getopt_error("dmg info", c, argv);
	}
	struct dmg_image *img;
	int rc = open_file_arg("dmg info", argc, argv, &img);
	if (rc)
		return rc;
	if (dk_json_output) {
		dk_json_print(dk_dmg_info_to_json(img));
	} else {
		struct dmg_hist h;
		dmg_histogram(img, &h);
		char uuid[40];
		info_text(img, &h, dk_uuid_format(img->segment_id, uuid, 0));
	}
	dmg_close(img);
	return DK_EXIT_OK;
}

static void print_checks(const struct dmg_report *r)
{
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct dmg_check *c = &r->checks[i];
		const char *col = c->state == DMG_CHECK_OK ? dk_c_green() : c->state == DMG_CHECK_FAILED ? dk_c_red() : dk_c_yellow();
		printf("%s%-7s%s %s", col, dmg_check_state_name(c->state), dk_c_reset(), dk_esc(c->what));
		if (c->state == DMG_CHECK_OK)
			printf(": CRC32 0x%08" PRIx32, c->actual);
		else if (c->state == DMG_CHECK_FAILED)
			printf(": CRC32 0x%08" PRIx32 ", expected 0x%08" PRIx32, c->actual, c->expected);
		else if (c->note)
			printf(": %s", dk_esc(c->note));
		printf("\n");
	}
}

static int parse_threads(const char *cmd, const char *s, int *out)
{
	uint64_t v;
	if (dk_parse_u64(s, &v) < 0 || v < 1 || v > 256)
		return dk_usage_error(cmd, "--threads needs a number from 1 to 256, not '%s'", s);
	*out = (int)v;
	return 0;
}

int dk_cmd_dmg_verify(int argc, char **argv)
{
	struct dmg_convert_opts o = {.partition = -1, .verify = true};
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_dmg_verify, argc, argv)) != -1) {
		if (c == 'h')
			return dk_print_spec_help(&dk_spec_dmg_verify);
		if (c == 't') {
			if (parse_threads("dmg verify", optarg, &o.threads))
				return DK_EXIT_USAGE;
			continue;
		}
		return dk_getopt_error("dmg verify", c, argv);
	}
	struct dmg_image *img;
	int rc = open_file_arg("dmg verify", argc, argv, &img);
	if (rc)
		return rc;
	o.progress = dk_verbosity >= DK_NORMAL;
	struct dmg_report r;
	if (dmg_run(img, &o, &r) < 0) {
		dmg_close(img);
		return dk_cli_fail();
	}
	bool failed = dmg_report_failed(&r);
	if (dk_json_output) {
		dk_json_print(dk_dmg_verify_to_json(img, &r));
	} else {
		print_checks(&r);
	}
	if (failed) {
		struct dk_buf b = {0};
		for (size_t i = 0; i < r.nchecks; i++)
			if (r.checks[i].state == DMG_CHECK_FAILED)
				dk_buf_printf(&b, "%s%s", b.len ? ", " : "", r.checks[i].what);
		fprintf(stderr, "dkvm: %s: checksum mismatch: %s\n", dk_esc(img->path), dk_esc(b.data));
		dk_buf_free(&b);
	}
	dmg_report_free(&r);
	dmg_close(img);
	return failed ? DK_EXIT_FAIL : DK_EXIT_OK;
}

int dk_cmd_dmg_convert(int argc, char **argv)
{
	struct dmg_convert_opts o = {.partition = -1, .verify = true};
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_dmg_convert, argc, argv)) != -1) {
		switch (c) {
		case 'h':
			return dk_print_spec_help(&dk_spec_dmg_convert);
		case 'o':
			o.out = optarg;
			break;
		case 'p': {
			uint64_t v;
			if (dk_parse_u64(optarg, &v) < 0 || v > 1000000)
				return dk_usage_error("dmg convert", "--partition needs a table index, not '%s'", optarg);
			o.partition = (long)v;
			break;
		}
		case 't':
			if (parse_threads("dmg convert", optarg, &o.threads))
				return DK_EXIT_USAGE;
			break;
		case 'V':
			o.verify = false;
			break;
		case 'f':
			o.force = true;
			break;
		default:
			return dk_getopt_error("dmg convert", c, argv);
		}
	}
	const char *file = NULL;
	if (parse_file_arg("dmg convert", argc, argv, &file))
		return DK_EXIT_USAGE;
	if (!o.out || !*o.out)
		return dk_usage_error("dmg convert", "missing -o OUT");
	struct dmg_image *img;
	if (dmg_open(file, &img) < 0)
		return dk_cli_fail();
	o.progress = dk_verbosity >= DK_NORMAL;
	struct dmg_report r;
	if (dmg_run(img, &o, &r) < 0) {
		dmg_close(img);
		return dk_cli_fail();
	}
	double mbs = r.seconds > 0 ? (double)r.bytes_out / r.seconds / 1e6 : 0;
	if (dk_json_output) {
		dk_json_print(dk_dmg_convert_to_json(file, &o, &r));
	} else if (dk_verbosity >= DK_NORMAL) {
		char s1[32], s2[32];
		printf("wrote %s: %s (%s of data, the rest holes) in %.2f s, %.0f MB/s, %d threads\n", dk_esc(o.out),
		       dk_format_size(r.bytes_out, s1, sizeof s1), dk_format_size(r.bytes_written, s2, sizeof s2),
		       r.seconds, mbs, r.threads);
		if (o.verify)
			print_checks(&r);
	}
	dmg_report_free(&r);
	dmg_close(img);
	return DK_EXIT_OK;
}
