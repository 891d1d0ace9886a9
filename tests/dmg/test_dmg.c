/* dmg unit tests: codecs on hand-built streams, the reader on the fixtures and
 * on crafted tables, and the decode engine. */
#include "dmg/dmg.h"
#include "t.h"
#include "util/error.h"

#include <plist/plist.h>
#include <stdlib.h>

#include <dirent.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *fixture(const char *codec)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/fixtures/dmg/compression-%s.dmg", t_shared(), codec);
	return path;
}

TEST(adc_vectors)
{
	/* literal "abc", short copy len 3 dist 3, long copy len 5 dist 3 (overlapping) */
	const uint8_t in[] = {0x82, 'a', 'b', 'c', 0x00, 0x02, 0x41, 0x00, 0x02};
	uint8_t out[11];
	CHECK_INT(dmg_adc_decode(in, sizeof in, out, sizeof out), 0);
	CHECK(memcmp(out, "abcabcabcab", 11) == 0);
	/* one byte short / long of the expected size */
	CHECK_INT(dmg_adc_decode(in, sizeof in, out, 10), -1);
	CHECK_CONTAINS(dk_errmsg(), "more than");
	uint8_t big[12];
	CHECK_INT(dmg_adc_decode(in, sizeof in, big, 12), -1);
	/* back-reference before the start */
	const uint8_t bad[] = {0x80, 'a', 0x00, 0x05};
	CHECK_INT(dmg_adc_decode(bad, sizeof bad, out, 4), -1);
	CHECK_CONTAINS(dk_errmsg(), "before the start");
	/* truncated literal and truncated code */
	const uint8_t trunc[] = {0x85, 'a'};
	CHECK_INT(dmg_adc_decode(trunc, sizeof trunc, out, 6), -1);
	const uint8_t trunc2[] = {0x80, 'a', 0x41, 0x00};
	CHECK_INT(dmg_adc_decode(trunc2, sizeof trunc2, out, 6), -1);
}

TEST(lzvn_vectors)
{
	/* sml_l "xyz"; sml_d L0 M3 D3; nop; pre_d L1 M4 + 'q'; eos */
	const uint8_t in[] = {0xe3, 'x', 'y', 'z', 0x00, 0x03, 0x0e, 0x4e, 'q', 0x06, 0, 0, 0, 0, 0, 0, 0};
	uint8_t out[11];
	size_t used = 0;
	CHECK_INT(dmg_lzvn_decode(in, sizeof in, out, sizeof out, &used), 0);
	CHECK(memcmp(out, "xyzxyzqyzqy", 11) == 0);
	/* lrg_l: 0xe0 n -> n + 16 literals; med_d; lrg_d */
	uint8_t s[64] = {0xe0, 0x00};
	for (int i = 0; i < 16; i++)
		s[2 + i] = (uint8_t)('A' + i);
	/* med_d 101LLMMM: L=0, M=(0b001 << 2 | 0) + 3 = 7, D = 16 */
	s[18] = 0xa1;
	s[19] = (uint8_t)(16 << 2);
	s[20] = 0;
	/* lrg_d LLMMM111: L=0, M=3, D=2 (16-bit LE) */
	s[21] = 0x07;
	s[22] = 2;
	s[23] = 0;
	s[24] = 0x06;
	uint8_t o2[26];
	CHECK_INT(dmg_lzvn_decode(s, 32, o2, sizeof o2, NULL), 0);
	CHECK(memcmp(o2, "ABCDEFGHIJKLMNOPABCDEFGFG", 25) == 0);
	CHECK(o2[25] == 'F');
	/* undefined opcodes */
	const uint8_t u1[] = {0xe1, 'a', 0x70, 0x06};
	CHECK_INT(dmg_lzvn_decode(u1, sizeof u1, out, 4, NULL), -1);
	CHECK_CONTAINS(dk_errmsg(), "undefined opcode");
	const uint8_t u2[] = {0xe1, 'a', 0x1e};
	CHECK_INT(dmg_lzvn_decode(u2, sizeof u2, out, 4, NULL), -1);
	/* distance 0 / before start, and end of stream too early */
	const uint8_t d0[] = {0xf3, 0x06};
	CHECK_INT(dmg_lzvn_decode(d0, sizeof d0, out, 3, NULL), -1);
	const uint8_t early[] = {0xe1, 'a', 0x06, 0, 0, 0, 0, 0, 0, 0};
	CHECK_INT(dmg_lzvn_decode(early, sizeof early, out, 2, NULL), -1);
}

TEST(lzfse_blocks)
{
	/* bvx- "hello"; bvxn reaching back into the previous block; bvx$ */
	const uint8_t in[] = {'b', 'v', 'x', '-', 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o',
			      'b', 'v', 'x', 'n', 6, 0, 0, 0, 11, 0, 0, 0, 0x00, 0x05, 0xf3, 0x06, 0, 0, 0, 0, 0, 0, 0,
			      'b', 'v', 'x', '$'};
	uint8_t out[11];
	CHECK_INT(dmg_lzfse_decode(in, sizeof in, out, sizeof out), 0);
	CHECK(memcmp(out, "hellohelloh", 11) == 0);
	/* no end-of-stream block */
	CHECK_INT(dmg_lzfse_decode(in, sizeof in - 4, out, sizeof out), -1);
	CHECK_CONTAINS(dk_errmsg(), "truncated");
	/* wrong expected size */
	uint8_t big[12];
	CHECK_INT(dmg_lzfse_decode(in, sizeof in, big, sizeof big), -1);
	CHECK_INT(dmg_lzfse_decode(in, sizeof in, out, 10), -1);
	/* bad magic; stored block longer than the input */
	const uint8_t bad[] = {'b', 'v', 'x', '9', 0, 0, 0, 0};
	CHECK_INT(dmg_lzfse_decode(bad, sizeof bad, out, 1), -1);
	CHECK_CONTAINS(dk_errmsg(), "bad block magic");
	const uint8_t longraw[] = {'b', 'v', 'x', '-', 0xff, 0xff, 0, 0, 'a'};
	CHECK_INT(dmg_lzfse_decode(longraw, sizeof longraw, out, 1), -1);
	/* truncated v2 header */
	const uint8_t v2[] = {'b', 'v', 'x', '2', 1, 0, 0, 0, 0};
	CHECK_INT(dmg_lzfse_decode(v2, sizeof v2, out, 1), -1);
}

TEST(fixtures_parse)
{
	const char *codecs[] = {"raw", "zlib", "bz2", "adc", "lzfse"};
	const uint32_t types[] = {DMG_CHUNK_RAW, DMG_CHUNK_ZLIB, DMG_CHUNK_BZIP2, DMG_CHUNK_ADC, DMG_CHUNK_LZFSE};
	for (size_t i = 0; i < 5; i++) {
		struct dmg_image *img = NULL;
		CHECK_INT(dmg_open(fixture(codecs[i]), &img), 0);
		if (!img) {
			fprintf(stderr, "  %s\n", dk_errmsg());
			continue;
		}
		CHECK_INT(img->sector_count, 10240);
		CHECK_INT(img->nblkx, 5);
		CHECK_INT(img->data_cksum.type, DMG_CKSUM_CRC32);
		CHECK_INT(dmg_cksum_crc32(&img->master_cksum), 0x2b76e491);
		CHECK_INT(dmg_cksum_crc32(&img->blkx[2].cksum), 0xc31c2437);
		CHECK_INT(img->chunks[0].type, types[i]);
		CHECK_INT(img->blkx[2].first_sector, 128);
		CHECK_INT(img->blkx[2].nsect, 2048);
		for (int threads = 1; threads <= 3; threads += 2) {
			struct dmg_convert_opts o = {.partition = -1, .threads = threads, .verify = true, .mem_budget = 4096};
			struct dmg_report r;
			CHECK_INT(dmg_run(img, &o, &r), 0);
			CHECK(!dmg_report_failed(&r));
			CHECK_INT(r.nchecks, 7);
			CHECK_INT(r.checks[0].state, DMG_CHECK_OK);
			CHECK_INT(r.checks[6].state, DMG_CHECK_OK);
			CHECK_INT(r.bytes_out, 5242880);
			dmg_report_free(&r);
		}
		dmg_close(img);
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static size_t mish(uint8_t *b, uint64_t first, uint64_t n, uint32_t count)
{
	memset(b, 0, 0xcc);
	memcpy(b, "mish", 4);
	put32(b + 4, 1);
	put64(b + 8, first);
	put64(b + 0x10, n);
	put32(b + 0xc8, count);
	return 0xcc;
}

static void chunk(uint8_t *e, uint32_t type, uint64_t sector, uint64_t n, uint64_t off, uint64_t len)
{
	memset(e, 0, 40);
	put32(e, type);
	put64(e + 8, sector);
	put64(e + 0x10, n);
	put64(e + 0x18, off);
	put64(e + 0x20, len);
}

static void release(struct dmg_image *img)
{
	for (size_t i = 0; i < img->nblkx; i++) {
		free(img->blkx[i].name);
		free(img->blkx[i].attributes);
	}
	free(img->blkx);
	free(img->chunks);
	img->blkx = NULL;
	img->chunks = NULL;
	img->nblkx = img->nchunks = 0;
}

TEST(mish_validation)
{
	struct dmg_image img = {.fd = -1, .file_size = 1 << 20, .sector_count = 100, .data_fork_length = 4096};
	uint8_t b[0xcc + 3 * 40];
	/* a good table: raw 4 sectors, ignore 96, terminator */
	mish(b, 0, 100, 3);
	chunk(b + 0xcc, DMG_CHUNK_RAW, 0, 4, 0, 2048);
	chunk(b + 0xcc + 40, DMG_CHUNK_IGNORE, 4, 96, 0, 0);
	chunk(b + 0xcc + 80, DMG_CHUNK_TERM, 100, 0, 0, 0);
	CHECK_INT(dmg_parse_mish(&img, b, sizeof b, "ok", NULL, 0), 0);
	CHECK_INT(dmg_finish_layout(&img), 0);
	CHECK_INT(img.nchunks, 2);
	/* chunk count larger than the table */
	mish(b, 0, 100, 1000);
	CHECK_INT(dmg_parse_mish(&img, b, sizeof b, "x", NULL, 0), -1);
	CHECK_CONTAINS(dk_errmsg(), "chunk count");
	/* sector count overflow */
	mish(b, 10, UINT64_MAX - 5, 0);
	CHECK_INT(dmg_parse_mish(&img, b, 0xcc, "x", NULL, 0), -1);
	CHECK_CONTAINS(dk_errmsg(), "overflows");
	/* past the image's sectors */
	mish(b, 50, 60, 0);
	CHECK_INT(dmg_parse_mish(&img, b, 0xcc, "x", NULL, 0), -1);
	/* chunk past its table, raw length mismatch, data outside the fork, absurd compressed chunk */
	mish(b, 0, 10, 1);
	chunk(b + 0xcc, DMG_CHUNK_RAW, 8, 4, 0, 2048);
	CHECK_INT(dmg_parse_mish(&img, b, 0xcc + 40, "x", NULL, 0), -1);
	chunk(b + 0xcc, DMG_CHUNK_RAW, 0, 4, 0, 100);
	CHECK_INT(dmg_parse_mish(&img, b, 0xcc + 40, "x", NULL, 0), -1);
	chunk(b + 0xcc, DMG_CHUNK_ZLIB, 0, 4, 4000, 200);
	CHECK_INT(dmg_parse_mish(&img, b, 0xcc + 40, "x", NULL, 0), -1);
	CHECK_CONTAINS(dk_errmsg(), "outside the data fork");
	chunk(b + 0xcc, DMG_CHUNK_ZLIB, 0, 4, UINT64_MAX - 10, 200);
	CHECK_INT(dmg_parse_mish(&img, b, 0xcc + 40, "x", NULL, 0), -1);
	chunk(b + 0xcc, 0x80000099, 0, 4, 0, 10);
	CHECK_INT(dmg_parse_mish(&img, b, 0xcc + 40, "x", NULL, 0), -1);
	CHECK_CONTAINS(dk_errmsg(), "unknown chunk type");
	/* overlapping runs across two tables */
	mish(b, 2, 10, 1);
	chunk(b + 0xcc, DMG_CHUNK_ZERO, 0, 10, 0, 0);
	CHECK_INT(dmg_parse_mish(&img, b, 0xcc + 40, "y", NULL, 1), 0);
	CHECK_INT(dmg_finish_layout(&img), -1);
	CHECK_CONTAINS(dk_errmsg(), "overlapping");
	img.fd = -1;
	for (size_t i = 0; i < img.nblkx; i++) {
		free(img.blkx[i].name);
		free(img.blkx[i].attributes);
	}
	free(img.blkx);
	free(img.chunks);
}

/* A resource-fork plist with one blkx entry per table (libplist writes the XML
 * and base64), then parsed back by dmg_parse_plist. */
static char *udif_xml(const uint8_t *const *tables, const size_t *lens, size_t n, plist_t extra)
{
	plist_t blkx = plist_new_array();
	for (size_t i = 0; i < n; i++) {
		plist_t e = plist_new_dict();
		plist_dict_set_item(e, "Data", plist_new_data((const char *)tables[i], lens[i]));
		plist_dict_set_item(e, "Name", plist_new_string(i ? "" : " Apple_HFS : 1 "));
		plist_dict_set_item(e, "CFName", plist_new_string("from CFName"));
		plist_dict_set_item(e, "Attributes", plist_new_string("0x0050"));
		plist_dict_set_item(e, "ID", i ? plist_new_uint((uint64_t)-1) : plist_new_string("0x10"));
		plist_array_append_item(blkx, e);
	}
	if (extra)
		plist_array_append_item(blkx, extra);
	plist_t rf = plist_new_dict(), root = plist_new_dict();
	plist_dict_set_item(rf, "blkx", blkx);
	plist_dict_set_item(root, "resource-fork", rf);
	char *xml = NULL;
	uint32_t len = 0;
	plist_to_xml(root, &xml, &len);
	plist_free(root);
	return xml;
}

static int parse_xml(const char *xml, size_t len, struct dmg_image *img)
{
	release(img);
	*img = (struct dmg_image){.fd = -1, .path = (char *)"p.dmg", .file_size = 1 << 20, .sector_count = 100,
				  .data_fork_length = 4096};
	return dmg_parse_plist(img, xml, len);
}

TEST(plist_parse)
{
	uint8_t t0[0xcc + 40], t1[0xcc + 40];
	mish(t0, 0, 50, 1);
	chunk(t0 + 0xcc, DMG_CHUNK_ZERO, 0, 50, 0, 0);
	mish(t1, 50, 50, 1);
	chunk(t1 + 0xcc, DMG_CHUNK_RAW, 0, 4, 0, 2048);
	const uint8_t *tabs[] = {t0, t1};
	const size_t lens[] = {sizeof t0, sizeof t1};
	struct dmg_image img = {0};
	char *xml = udif_xml(tabs, lens, 2, NULL);
	CHECK_INT(parse_xml(xml, strlen(xml), &img), 0);
	CHECK_INT(img.nblkx, 2);
	CHECK_INT(img.nchunks, 2);
	CHECK_STR(img.blkx[0].name, "Apple_HFS : 1");
	CHECK_STR(img.blkx[1].name, "from CFName");
	CHECK_STR(img.blkx[0].attributes, "0x0050");
	CHECK_INT(img.blkx[0].id, 16);
	CHECK_INT(img.blkx[1].id, -1);
	CHECK_INT(img.chunks[1].type, DMG_CHUNK_RAW);
	CHECK_INT(img.chunks[1].sector, 50);

	/* a raw ESC (or any C0 control but tab/LF/CR), bad UTF-8, a surrogate */
	char *p = strstr(strstr(xml, "from CFName") + 1, "from CFName"); /* blkx 1 */
	p[4] = 0x1b;
	CHECK_INT(parse_xml(xml, strlen(xml), &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "p.dmg: XML property list: line ");
	CHECK_CONTAINS(dk_errmsg(), "character 0x1b is not allowed");
	p[4] = (char)0xc0;
	CHECK_INT(parse_xml(xml, strlen(xml), &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "not valid UTF-8");
	memcpy(p, "\xed\xa0\x80", 3);
	CHECK_INT(parse_xml(xml, strlen(xml), &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "U+D800 is not allowed");
	memcpy(p, "\xc2\x9b\xe2\x80\xae", 5); /* C1 CSI, bidi override: allowed (escaped when printed) */
	CHECK_INT(parse_xml(xml, strlen(xml), &img), 0);
	CHECK_STR(img.blkx[1].name, "\xc2\x9b\xe2\x80\xae" "CFName");
	/* cut in the middle: nothing parsed, the file named */
	CHECK_INT(parse_xml(xml, strlen(xml) / 2, &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "p.dmg: XML property list: not a valid property list");
	free(xml);

	/* entries that are not dicts, without Data, with a table that is too short */
	xml = udif_xml(tabs, lens, 1, plist_new_string("x"));
	CHECK_INT(parse_xml(xml, strlen(xml), &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "p.dmg: XML property list: blkx entry 1 is not a dict");
	free(xml);
	plist_t e = plist_new_dict();
	plist_dict_set_item(e, "Data", plist_new_string("bWlzaA=="));
	xml = udif_xml(tabs, lens, 1, e);
	CHECK_INT(parse_xml(xml, strlen(xml), &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "blkx entry 1 has no Data");
	free(xml);
	const size_t short_len[] = {10};
	xml = udif_xml(tabs, short_len, 1, NULL);
	CHECK_INT(parse_xml(xml, strlen(xml), &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "p.dmg: blkx 0: block table of 10 bytes is truncated");
	free(xml);
	xml = udif_xml(tabs, lens, 0, NULL);
	CHECK_INT(parse_xml(xml, strlen(xml), &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "blkx array is empty");
	free(xml);
	const char nokey[] = "<plist><dict><key>resource-fork</key><dict/></dict></plist>";
	CHECK_INT(parse_xml(nokey, sizeof nokey - 1, &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "no resource-fork/blkx array");

	/* 100000 nested arrays: refused before libplist recurses into them */
	size_t n = 100000, len = 0;
	char *deep = malloc(n * 15 + 64);
	len += (size_t)sprintf(deep, "<plist>");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(deep + len, "<array>");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(deep + len, "</array>");
	len += (size_t)sprintf(deep + len, "</plist>");
	CHECK_INT(parse_xml(deep, len, &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "p.dmg: XML property list: plist nested deeper than");
	free(deep);
	release(&img);
}

TEST(koly_validation)
{
	uint8_t k[512] = {0};
	struct dmg_image img = {.fd = -1, .file_size = 10000};
	CHECK_INT(dmg_parse_koly(&img, k), -1);
	CHECK_CONTAINS(dk_errmsg(), "no 'koly'");
	memcpy(k, "koly", 4);
	put32(k + 4, 4);
	put32(k + 8, 512);
	put64(k + 0x20, 9600); /* data fork longer than the file minus trailer */
	put64(k + 0xd8, 0);
	put64(k + 0xe0, 100);
	CHECK_INT(dmg_parse_koly(&img, k), -1);
	CHECK_CONTAINS(dk_errmsg(), "outside the file");
	put64(k + 0x20, 100);
	put64(k + 0xd8, UINT64_MAX - 50);
	CHECK_INT(dmg_parse_koly(&img, k), -1);
	put64(k + 0xd8, 100);
	put32(k + 0x3c, 3);
	put32(k + 0x38, 1);
	CHECK_INT(dmg_parse_koly(&img, k), -1);
	CHECK_CONTAINS(dk_errmsg(), "segmented");
	put32(k + 0x3c, 1);
	put32(k + 4, 3);
	CHECK_INT(dmg_parse_koly(&img, k), -1);
	put32(k + 4, 4);
	CHECK_INT(dmg_parse_koly(&img, k), 0);
}

TEST(refuse_kinds)
{
	char *p = t_path(t_tmpdir(), "enc.dmg");
	FILE *f = fopen(p, "wb");
	fputs("encrcdsa", f);
	for (int i = 0; i < 2000; i++)
		fputc(0, f);
	fclose(f);
	struct dmg_image *img = NULL;
	CHECK_INT(dmg_open(p, &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "encrypted");
	f = fopen(p, "wb");
	fputs("sprs", f);
	for (int i = 0; i < 2000; i++)
		fputc(0, f);
	fclose(f);
	CHECK_INT(dmg_open(p, &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "sparse");
	f = fopen(p, "wb");
	for (int i = 0; i < 2000; i++)
		fputc(0, f);
	fputs("cdsaencr", f);
	fclose(f);
	CHECK_INT(dmg_open(p, &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "encrypted");
	CHECK_INT(dmg_open(t_tmpdir(), &img), -1);
	CHECK_CONTAINS(dk_errmsg(), "directory");
	unlink(p);
	free(p);
}

TEST(chunk_dispatch)
{
	struct dmg_codec *c = dmg_codec_new();
	uint8_t out[8];
	const uint8_t raw[8] = "abcdefgh";
	CHECK_INT(dmg_decode_chunk(c, DMG_CHUNK_RAW, raw, 8, out, 8), 0);
	CHECK(memcmp(out, raw, 8) == 0);
	CHECK_INT(dmg_decode_chunk(c, DMG_CHUNK_ZERO, NULL, 0, out, 8), 0);
	CHECK(out[0] == 0 && out[7] == 0);
	CHECK_INT(dmg_decode_chunk(c, DMG_CHUNK_ZLIB, raw, 8, out, 8), -1);
	CHECK_INT(dmg_decode_chunk(c, DMG_CHUNK_BZIP2, raw, 8, out, 8), -1);
	CHECK_INT(dmg_decode_chunk(c, DMG_CHUNK_LZMA, raw, 8, out, 8), -1);
	CHECK_INT(dmg_decode_chunk(c, 0x80000003, raw, 8, out, 8), -1);
	dmg_codec_free(c);
}

TEST(huge_zero_run)
{
	/* a 512 TiB zero-fill run must verify in no time (CRC of zeros in O(log n)) */
	struct dmg_image img = {.fd = -1, .path = (char *)"huge", .file_size = 4096, .sector_count = UINT64_C(1) << 40};
	uint8_t b[0xcc + 40];
	mish(b, 0, UINT64_C(1) << 40, 1);
	chunk(b + 0xcc, DMG_CHUNK_ZERO, 0, UINT64_C(1) << 40, 0, 0);
	put32(b + 0x40, DMG_CKSUM_CRC32);
	put32(b + 0x44, 32);
	put32(b + 0x48, 0x12345678);
	CHECK_INT(dmg_parse_mish(&img, b, sizeof b, "zeros", NULL, 0), 0);
	CHECK_INT(dmg_finish_layout(&img), 0);
	struct dmg_convert_opts o = {.partition = -1, .threads = 2, .verify = true};
	struct dmg_report r;
	CHECK_INT(dmg_run(&img, &o, &r), 0);
	CHECK_INT(r.nchecks, 3);
	CHECK_INT(r.checks[1].state, DMG_CHECK_FAILED);
	CHECK(r.checks[1].actual != 0 && r.checks[1].expected == 0x12345678);
	dmg_report_free(&r);
	free(img.blkx[0].name);
	free(img.blkx);
	free(img.chunks);
}

#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_CLONE_FILTER 1
/* In this process from now on: clone3 fails with ENOSYS (glibc then tries
 * clone) and clone with EAGAIN, so pthread_create fails like at the thread
 * limit. */
static int forbid_threads(void)
{
#ifdef __x86_64__
	const uint32_t arch = AUDIT_ARCH_X86_64;
#else
	const uint32_t arch = AUDIT_ARCH_AARCH64;
#endif
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __NR_clone3
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
#endif
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAGAIN),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* The child of thread_start_failure: convert with no thread able to start. */
static int convert_without_threads(const char *out)
{
	struct dmg_image *img = NULL;
	if (dmg_open(fixture("zlib"), &img) < 0 || forbid_threads() < 0)
		return 77;
	alarm(30); /* a reader waiting for workers that never started */
	struct dmg_convert_opts o = {.out = out, .partition = -1, .threads = 3, .verify = true};
	struct dmg_report r;
	int rc = dmg_run(img, &o, &r);
	fprintf(stderr, "  convert: %d, %s\n", rc, dk_errmsg());
	int bad = rc != -1 || !strstr(dk_errmsg(), "compression-zlib.dmg: cannot start a decoder thread: ") ||
		  access(out, F_OK) == 0;
	o.out = NULL;
	rc = dmg_run(img, &o, &r);
	fprintf(stderr, "  verify: %d, %s\n", rc, dk_errmsg());
	bad |= rc != -1 || !strstr(dk_errmsg(), "Resource temporarily unavailable");
	return bad;
}
#endif

#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif

#if defined(HAVE_CLONE_FILTER) && !defined(T_ASAN)
/* The child of thread_start_failure: room in the address space for one thread
 * stack, so the first worker starts and the next one cannot. */
static int convert_with_one_stack(const char *out)
{
	struct dmg_image *img = NULL;
	if (dmg_open(fixture("zlib"), &img) < 0)
		return 77;
	mallopt(M_ARENA_MAX, 1); /* no 64 MiB arena reservation per thread */
	/* stacks larger than any the earlier tests left in glibc's stack cache,
	 * so that each new thread maps a fresh one */
	pthread_attr_t a;
	size_t stack = 48u << 20;
	if (pthread_attr_init(&a) || pthread_attr_setstacksize(&a, stack) || pthread_setattr_default_np(&a))
		return 77;
	pthread_attr_destroy(&a);
	unsigned long vm = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		sscanf(line, "VmSize: %lu kB", &vm);
	if (f)
		fclose(f);
	struct rlimit rl;
	if (!vm || !stack || getrlimit(RLIMIT_AS, &rl) < 0)
		return 77;
	rl.rlim_cur = vm * 1024 + (3u << 20) + stack + stack / 2; /* 1 MiB of buffers, slack, one stack */
	if (setrlimit(RLIMIT_AS, &rl) < 0)
		return 77;
	alarm(30);
	struct dmg_convert_opts o = {.out = out, .partition = -1, .threads = 3, .verify = true};
	struct dmg_report r;
	int rc = dmg_run(img, &o, &r);
	fprintf(stderr, "  one stack: %d, %s\n", rc, dk_errmsg());
	return rc != -1 || !strstr(dk_errmsg(), "cannot start a decoder thread: ") || access(out, F_OK) == 0;
}
#endif

TEST(thread_start_failure)
{
#ifdef HAVE_CLONE_FILTER
	char *out = t_path(t_tmpdir(), "nothreads.img");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(convert_without_threads(out)); /* _exit: LeakSanitizer would need a thread */
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		printf("skip thread_start_failure (no seccomp filter here)\n");
	} else {
		CHECK(WIFEXITED(st));
		CHECK_INT(WEXITSTATUS(st), 0);
	}
#ifndef T_ASAN /* ASan reserves terabytes of shadow: no address-space limit */
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(convert_with_one_stack(out));
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	CHECK_INT(WEXITSTATUS(st), 0);
#endif
	/* nothing at OUT, no temporary beside it */
	CHECK(access(out, F_OK) != 0);
	DIR *d = opendir(t_tmpdir());
	for (struct dirent *de; d && (de = readdir(d));)
		CHECK(!strstr(de->d_name, "nothreads"));
	if (d)
		closedir(d);
	free(out);
#else
	printf("skip thread_start_failure (no clone filter for this architecture)\n");
#endif
}

int main(void)
{
	RUN(adc_vectors);
	RUN(lzvn_vectors);
	RUN(lzfse_blocks);
	RUN(fixtures_parse);
	RUN(mish_validation);
	RUN(plist_parse);
	RUN(koly_validation);
	RUN(refuse_kinds);
	RUN(chunk_dispatch);
	RUN(huge_zero_run);
	RUN(thread_start_failure);
	return t_done();
}
