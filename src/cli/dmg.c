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

static json_object *jhex(uint32_t v)
{
	char b[16];
	snprintf(b, sizeof b, "0x%08" PRIx32, v);
	return json_object_new_string(b);
}

static const char *cktype(uint32_t t)
{
	return t == DMG_CKSUM_CRC32 ? "crc32" : t == DMG_CKSUM_NONE ? "none" : "other";
}

static json_object *jcksum(const struct dmg_checksum *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(cktype(c->type)));
	json_object_object_add(o, "type_code", json_object_new_int64(c->type));
	json_object_object_add(o, "bits", json_object_new_int64(c->bits));
	json_object_object_add(o, "value", c->type == DMG_CKSUM_NONE ? NULL : jhex(dmg_cksum_crc32(c)));
	return o;
}

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

static const char *uuid_str(const uint8_t *u, char *b)
{
	return dk_uuid_format(u, b, 0);
}

/* Chunk counts, sectors and stored bytes by chunk type. */
#define NTYPES 8
static const uint32_t hist_types[NTYPES] = {DMG_CHUNK_ZERO, DMG_CHUNK_RAW, DMG_CHUNK_IGNORE, DMG_CHUNK_ADC,
					     DMG_CHUNK_ZLIB, DMG_CHUNK_BZIP2, DMG_CHUNK_LZFSE, DMG_CHUNK_LZMA};
struct hist {
	uint64_t cnt[NTYPES], sect[NTYPES], stored[NTYPES], total_stored;
};

static void histogram(const struct dmg_image *img, struct hist *h)
{
	memset(h, 0, sizeof *h);
	for (size_t i = 0; i < img->nchunks; i++)
		for (size_t t = 0; t < NTYPES; t++)
			if (img->chunks[i].type == hist_types[t]) {
				h->cnt[t]++;
				h->sect[t] += img->chunks[i].nsect;
				h->stored[t] += img->chunks[i].len;
				h->total_stored += img->chunks[i].len;
			}
}

static json_object *joffset(uint64_t offset, uint64_t length)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "offset", json_object_new_int64((int64_t)offset));
	json_object_object_add(o, "length", json_object_new_int64((int64_t)length));
	return o;
}

static json_object *jhistogram(const struct hist *h)
{
	json_object *o = json_object_new_object();
	for (size_t t = 0; t < NTYPES; t++) {
		if (!h->cnt[t])
			continue;
		json_object *e = json_object_new_object();
		json_object_object_add(e, "chunks", json_object_new_int64((int64_t)h->cnt[t]));
		json_object_object_add(e, "sectors", json_object_new_int64((int64_t)h->sect[t]));
		json_object_object_add(e, "stored_bytes", json_object_new_int64((int64_t)h->stored[t]));
		json_object_object_add(o, dmg_chunk_type_name(hist_types[t]), e);
	}
	return o;
}

static json_object *jpartitions(const struct dmg_image *img)
{
	json_object *parts = json_object_new_array();
	for (size_t i = 0; i < img->nblkx; i++) {
		const struct dmg_blkx *b = &img->blkx[i];
		json_object *p = json_object_new_object();
		json_object_object_add(p, "index", json_object_new_int64((int64_t)i));
		json_object_object_add(p, "name", json_object_new_string(b->name));
		json_object_object_add(p, "id", json_object_new_int64(b->id));
		json_object_object_add(p, "attributes", dk_json_str(b->attributes));
		json_object_object_add(p, "first_sector", json_object_new_int64((int64_t)b->first_sector));
		json_object_object_add(p, "sectors", json_object_new_int64((int64_t)b->nsect));
		json_object_object_add(p, "chunks", json_object_new_int64((int64_t)b->nchunks));
		json_object_object_add(p, "checksum", jcksum(&b->cksum));
		json_object_array_add(parts, p);
	}
	return parts;
}

static void info_json(const struct dmg_image *img, const struct hist *h, const char *uuid)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "file", json_object_new_string(img->path));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)img->file_size));
	json_object_object_add(o, "format", json_object_new_string("UDIF"));
	json_object_object_add(o, "encrypted", json_object_new_boolean(0));
	json_object_object_add(o, "version", json_object_new_int64(img->version));
	json_object_object_add(o, "flags", json_object_new_int64(img->flags));
	json_object_object_add(o, "variant", json_object_new_int64(img->image_variant));
	json_object_object_add(o, "variant_name", json_object_new_string(dmg_variant_name(img->image_variant)));
	json_object_object_add(o, "sector_count", json_object_new_int64((int64_t)img->sector_count));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)(img->sector_count * DMG_SECTOR)));
	json_object_object_add(o, "stored_bytes", json_object_new_int64((int64_t)h->total_stored));
	json_object_object_add(o, "data_fork", joffset(img->data_fork_offset, img->data_fork_length));
	json_object_object_add(o, "xml_plist", joffset(img->xml_offset, img->xml_length));
	json_object_object_add(o, "rsrc_fork", joffset(img->rsrc_fork_offset, img->rsrc_fork_length));
	json_object *sg = json_object_new_object();
	json_object_object_add(sg, "number", json_object_new_int64(img->segment_number));
	json_object_object_add(sg, "count", json_object_new_int64(img->segment_count));
	json_object_object_add(sg, "id", json_object_new_string(uuid));
	json_object_object_add(o, "segment", sg);
	json_object *ck = json_object_new_object();
	json_object_object_add(ck, "data_fork", jcksum(&img->data_cksum));
	json_object_object_add(ck, "master", jcksum(&img->master_cksum));
	json_object_object_add(o, "checksums", ck);
	json_object_object_add(o, "chunk_types", jhistogram(h));
	json_object_object_add(o, "partitions", jpartitions(img));
	dk_json_print(o);
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

static void info_text(const struct dmg_image *img, const struct hist *h, const char *uuid)
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
	printf("Checksums:    data fork %s", cktype(img->data_cksum.type));
	if (img->data_cksum.type != DMG_CKSUM_NONE)
		printf(" 0x%08" PRIx32, dmg_cksum_crc32(&img->data_cksum));
	printf(", master %s", cktype(img->master_cksum.type));
	if (img->master_cksum.type != DMG_CKSUM_NONE)
		printf(" 0x%08" PRIx32, dmg_cksum_crc32(&img->master_cksum));
	printf("\n");
	printf("Stored:       %s for %s", dk_format_size(h->total_stored, s1, sizeof s1), dk_format_size(bytes, s2, sizeof s2));
	if (h->total_stored)
		printf(" (%.1f%%)", 100.0 * (double)h->total_stored / (double)(bytes ? bytes : 1));
	printf("\nChunk types:\n");
	for (size_t t = 0; t < NTYPES; t++)
		if (h->cnt[t])
			printf("  %-8s %8" PRIu64 " chunks  %12" PRIu64 " sectors  %s stored\n", dmg_chunk_type_name(hist_types[t]),
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
	struct hist h;
	histogram(img, &h);
	char uuid[40];
	uuid_str(img->segment_id, uuid);
	if (dk_json_output)
		info_json(img, &h, uuid);
	else
		info_text(img, &h, uuid);
	dmg_close(img);
	return DK_EXIT_OK;
}

static const char *state_name(enum dmg_check_state s)
{
	switch (s) {
	case DMG_CHECK_OK: return "ok";
	case DMG_CHECK_FAILED: return "FAILED";
	case DMG_CHECK_SKIPPED: return "skipped";
	case DMG_CHECK_ABSENT: return "absent";
	}
	return "?";
}

static json_object *jchecks(const struct dmg_report *r)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct dmg_check *c = &r->checks[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "what", json_object_new_string(c->what));
		json_object_object_add(o, "state", json_object_new_string(state_name(c->state)));
		json_object_object_add(o, "type", json_object_new_string(cktype(c->type)));
		bool vals = c->state == DMG_CHECK_OK || c->state == DMG_CHECK_FAILED;
		json_object_object_add(o, "expected", vals ? jhex(c->expected) : NULL);
		json_object_object_add(o, "actual", vals ? jhex(c->actual) : NULL);
		json_object_object_add(o, "note", dk_json_str(c->note));
		json_object_array_add(a, o);
	}
	return a;
}

static void print_checks(const struct dmg_report *r)
{
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct dmg_check *c = &r->checks[i];
		const char *col = c->state == DMG_CHECK_OK ? dk_c_green() : c->state == DMG_CHECK_FAILED ? dk_c_red() : dk_c_yellow();
		printf("%s%-7s%s %s", col, state_name(c->state), dk_c_reset(), dk_esc(c->what));
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
		json_object *j = json_object_new_object();
		json_object_object_add(j, "file", json_object_new_string(img->path));
		json_object_object_add(j, "ok", json_object_new_boolean(!failed));
		json_object_object_add(j, "bytes", json_object_new_int64((int64_t)r.bytes_out));
		json_object_object_add(j, "seconds", json_object_new_double(r.seconds));
		json_object_object_add(j, "checks", jchecks(&r));
		dk_json_print(j);
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
		json_object *j = json_object_new_object();
		json_object_object_add(j, "file", json_object_new_string(file));
		json_object_object_add(j, "output", json_object_new_string(o.out));
		json_object_object_add(j, "partition", o.partition >= 0 ? json_object_new_int64(o.partition) : NULL);
		json_object_object_add(j, "bytes", json_object_new_int64((int64_t)r.bytes_out));
		json_object_object_add(j, "bytes_written", json_object_new_int64((int64_t)r.bytes_written));
		json_object_object_add(j, "bytes_read", json_object_new_int64((int64_t)r.bytes_read));
		json_object_object_add(j, "threads", json_object_new_int(r.threads));
		json_object_object_add(j, "seconds", json_object_new_double(r.seconds));
		json_object_object_add(j, "verified", json_object_new_boolean(o.verify));
		json_object_object_add(j, "checks", jchecks(&r));
		dk_json_print(j);
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
