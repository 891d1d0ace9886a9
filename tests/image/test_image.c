/* Unit tests for src/image: GPT layout and CRCs (checked with an independent
 * CRC32 here), FAT32 geometry, the writer/reader round trip, 8.3 names,
 * robustness of the reader against damaged images. */
#include "t.h"
#include "image/disk.h"
#include "image/fat32.h"
#include "image/gpt.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t crc_table[256];

static uint32_t my_crc32(const uint8_t *p, size_t n)
{
	if (!crc_table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++)
		c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static char *write_test_image(const char *name, uint64_t size, bool qcow2, struct dk_disk_info *info)
{
	struct dk_fat_builder *b = dk_fat_new();
	CHECK(dk_fat_add_data(b, "EFI/BOOT/BOOTx64.efi", "MZboot", 6) == 0);
	CHECK(dk_fat_add_data(b, "EFI/OC/config.plist", "<plist/>", 8) == 0);
	CHECK(dk_fat_add_dir(b, "EFI/OC/Kexts") == 0);
	CHECK(dk_fat_add_data(b, "EMPTY", "", 0) == 0);
	/* a file spanning many clusters, with a zero hole in the middle */
	size_t big = 300000;
	uint8_t *data = dk_calloc(1, big);
	for (size_t i = 0; i < big; i++)
		if (i < 100000 || i > 200000)
			data[i] = (uint8_t)(i * 7 + 3);
	CHECK(dk_fat_add_data(b, "com.apple.recovery.boot/BaseSystem.dmg", data, big) == 0);
	free(data);
	char *path = t_path(t_tmpdir(), name);
	struct dk_disk_opts o = {.size = size, .reproducible = true, .qcow2 = qcow2, .force = true};
	CHECK(dk_disk_write(b, path, &o, info) == 0);
	dk_fat_free(b);
	return path;
}

TEST(gpt_headers_and_crcs)
{
	struct dk_disk_info info;
	char *img = write_test_image("gpt.img", 0, false, &info);
	int fd = open(img, O_RDONLY);
	CHECK(fd >= 0);
	struct stat st;
	fstat(fd, &st);
	CHECK_INT(st.st_size, info.disk_bytes);
	CHECK_INT(st.st_size % (1 << 20), 0);
	uint64_t nsec = st.st_size / 512;
	uint8_t mbr[512], ph[512], bh[512];
	uint8_t pe[128 * 128], be[128 * 128];
	CHECK(dk_pread_all(fd, mbr, 512, 0) == 0);
	CHECK_INT(mbr[510], 0x55);
	CHECK_INT(mbr[511], 0xAA);
	CHECK_INT(mbr[446 + 4], 0xEE);
	CHECK_INT(rd32(mbr + 446 + 8), 1);
	CHECK_INT(rd32(mbr + 446 + 12), nsec - 1);
	CHECK(dk_pread_all(fd, ph, 512, 512) == 0);
	CHECK(dk_pread_all(fd, bh, 512, (nsec - 1) * 512) == 0);
	CHECK(dk_pread_all(fd, pe, sizeof pe, 2 * 512) == 0);
	CHECK(dk_pread_all(fd, be, sizeof be, (nsec - 33) * 512) == 0);
	for (int w = 0; w < 2; w++) {
		uint8_t *h = w ? bh : ph;
		CHECK(!memcmp(h, "EFI PART", 8));
		CHECK_INT(rd32(h + 8), 0x00010000);
		CHECK_INT(rd32(h + 12), 92);
		uint8_t tmp[92];
		memcpy(tmp, h, 92);
		memset(tmp + 16, 0, 4);
		CHECK_INT(my_crc32(tmp, 92), rd32(h + 16));
		CHECK_INT(rd64(h + 24), w ? nsec - 1 : 1);
		CHECK_INT(rd64(h + 32), w ? 1 : nsec - 1);
		CHECK_INT(rd64(h + 40), 34);
		CHECK_INT(rd64(h + 48), nsec - 34);
		CHECK_INT(rd64(h + 72), w ? nsec - 33 : 2);
		CHECK_INT(rd32(h + 80), 128);
		CHECK_INT(rd32(h + 84), 128);
		CHECK_INT(my_crc32(w ? be : pe, sizeof pe), rd32(h + 88));
	}
	CHECK(!memcmp(ph + 56, bh + 56, 16)); /* same disk GUID */
	CHECK(!memcmp(pe, be, sizeof pe));
	static const uint8_t esp[16] = {0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
					0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B};
	CHECK(!memcmp(pe, esp, 16));
	CHECK_INT(rd64(pe + 32), 2048);
	CHECK_INT((rd64(pe + 40) + 1) % 2048, 0);
	CHECK(rd64(pe + 40) <= nsec - 34);
	CHECK_INT(pe[56], 'O');
	CHECK_INT(pe[57], 0);
	/* version-4 GUIDs */
	CHECK_INT(pe[16 + 7] >> 4, 4);
	CHECK_INT(ph[56 + 7] >> 4, 4);
	CHECK(dk_gpt_check_header(fd, st.st_size, false, img) == 0);
	CHECK(dk_gpt_check_header(fd, st.st_size, true, img) == 0);
	close(fd);
	free(img);
}

TEST(gpt_damaged_primary_uses_backup)
{
	struct dk_disk_info info;
	char *img = write_test_image("dmg.img", 0, false, &info);
	int fd = open(img, O_RDWR);
	uint8_t junk[4] = {1, 2, 3, 4};
	CHECK(dk_pwrite_all(fd, junk, 4, 512 + 100 - 8) == 0); /* inside the header CRC range */
	CHECK(dk_pwrite_all(fd, junk, 4, 512 + 60) == 0);
	struct stat st;
	fstat(fd, &st);
	CHECK(dk_gpt_check_header(fd, st.st_size, false, img) < 0);
	CHECK_CONTAINS(dk_errmsg(), "CRC32 mismatch");
	struct dk_gpt_part p;
	CHECK(dk_gpt_find(fd, st.st_size, dk_gpt_type_esp, &p, img) == 0);
	CHECK_INT(p.first_lba, 2048);
	CHECK_STR(p.name, "OPENCORE");
	close(fd);
	struct dk_fat_vol *v;
	CHECK(dk_fat_open(img, &v) == 0);
	if (v)
		dk_fat_close(v);
	free(img);
}

TEST(geometry)
{
	struct dk_fat_geometry g;
	CHECK(dk_fat_geometry(62ull << 20, &g) == 0);
	CHECK_INT(g.spc, 1);
	CHECK(g.clusters >= 65525);
	CHECK((uint64_t)g.fat_sectors * 128 >= g.clusters + 2);
	CHECK_INT((g.reserved + 2 * g.fat_sectors) % 8, 0);
	CHECK(dk_fat_geometry(2046ull << 20, &g) == 0);
	CHECK_INT(g.spc, 8);
	CHECK(g.clusters >= 65525);
	CHECK_INT((g.reserved + 2 * g.fat_sectors) % 8, 0);
	CHECK(g.reserved + 2ull * g.fat_sectors + (uint64_t)g.clusters * g.spc <= g.sectors);
	CHECK(dk_fat_geometry(20ull << 20, &g) < 0);
	CHECK_CONTAINS(dk_errmsg(), "too small");
}

TEST(roundtrip_reader)
{
	struct dk_disk_info info;
	char *img = write_test_image("rt.img", 300ull << 20, false, &info);
	CHECK_INT(info.disk_bytes, 300ull << 20);
	CHECK_INT(info.cluster_size, 4096);
	struct dk_fat_vol *v = NULL;
	CHECK(dk_fat_open(img, &v) == 0);
	if (!v)
		return;
	CHECK_STR(dk_fat_label(v), "OPENCORE");
	CHECK_INT(dk_fat_offset(v), 1 << 20);
	char *d;
	size_t len;
	CHECK(dk_fat_read(v, "EFI/BOOT/BOOTx64.efi", &d, &len, 1 << 20) == 0);
	CHECK_INT(len, 6);
	CHECK(!memcmp(d, "MZboot", 6));
	free(d);
	CHECK(dk_fat_read(v, "/efi/boot/bootx64.EFI", &d, &len, 1 << 20) == 0);
	free(d);
	CHECK(dk_fat_read(v, "EMPTY", &d, &len, 1 << 20) == 0);
	CHECK_INT(len, 0);
	free(d);
	CHECK(dk_fat_read(v, "com.apple.recovery.boot/BaseSystem.dmg", &d, &len, 1 << 20) == 0);
	CHECK_INT(len, 300000);
	bool ok = true;
	for (size_t i = 0; i < len && d; i++)
		ok &= (uint8_t)d[i] == ((i < 100000 || i > 200000) ? (uint8_t)(i * 7 + 3) : 0);
	CHECK(ok);
	free(d);
	CHECK(dk_fat_read(v, "EFI/OC/config.plist", &d, &len, 4) < 0);
	CHECK_CONTAINS(dk_errmsg(), "too large");
	CHECK_INT(dk_fat_stat(v, "EFI/OC/nope", NULL), 1);
	struct dk_fat_dirent *e;
	size_t n;
	CHECK(dk_fat_list(v, "EFI/OC", &e, &n) == 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(e[0].name, "config.plist");
		CHECK_STR(e[0].short_name, "CONFIG~1.PLI");
		CHECK_STR(e[1].name, "Kexts");
		CHECK(e[1].is_dir);
		/* 2000-01-01 00:00 (reproducible) */
		CHECK_INT(e[0].wdate, (20 << 9) | (1 << 5) | 1);
		CHECK_INT(e[0].wtime, 0);
	}
	dk_fat_dirents_free(e, n);
	CHECK(dk_fat_list(v, "", &e, &n) == 0);
	CHECK_INT(n, 3);
	if (n == 3)
		CHECK_STR(e[2].short_name, "COMAPP~1.BOO");
	dk_fat_dirents_free(e, n);
	dk_fat_close(v);
	/* sparse: far fewer blocks than the size */
	struct stat st;
	stat(img, &st);
	CHECK((uint64_t)st.st_blocks * 512 < (8ull << 20));
	free(img);
}

TEST(short_names)
{
	struct dk_fat_builder *b = dk_fat_new();
	const char *names[] = {"README.TXT", "readme.txt.bak", "Long File Name.txt", "Long File Name 2.txt",
			       "x+y=z.c", ".hidden", "ABCDEFGHIJ.K", "ABCDEFGHXY.K", "ñandú.txt", "Mixed.Efi"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char p[64];
		snprintf(p, sizeof p, "D/%s", names[i]);
		CHECK(dk_fat_add_data(b, p, names[i], strlen(names[i])) == 0);
	}
	/* case-insensitive duplicate and bad names */
	CHECK(dk_fat_add_data(b, "D/readme.TXT", "x", 1) < 0);
	CHECK_CONTAINS(dk_errmsg(), "already in the image");
	CHECK(dk_fat_add_data(b, "D/a:b", "x", 1) < 0);
	CHECK(dk_fat_add_data(b, "D/trailing.", "x", 1) < 0);
	CHECK(dk_fat_add_data(b, "D/README.TXT/x", "x", 1) < 0);
	for (int i = 1; i <= 12; i++) {
		char p[64];
		snprintf(p, sizeof p, "D/longfilename%d.txt", i);
		CHECK(dk_fat_add_data(b, p, p, strlen(p)) == 0);
	}
	char *img = t_path(t_tmpdir(), "sn.img");
	struct dk_disk_opts o = {.reproducible = true, .force = true};
	CHECK(dk_disk_write(b, img, &o, NULL) == 0);
	dk_fat_free(b);
	struct dk_fat_vol *v = NULL;
	CHECK(dk_fat_open(img, &v) == 0);
	if (!v)
		return;
	struct dk_fat_dirent *e;
	size_t n;
	CHECK(dk_fat_list(v, "D", &e, &n) == 0);
	CHECK_INT(n, 22);
	const char *want[] = {"README.TXT", "README~1.BAK", "LONGFI~1.TXT", "LONGFI~2.TXT", "X_Y_Z~1.C",
			      "HIDDEN~1", "ABCDEF~1.K", "ABCDEF~2.K", "_AND_~1.TXT", "MIXED.EFI"};
	for (size_t i = 0; i < 10 && i < n; i++) {
		CHECK_STR(e[i].name, names[i]);
		CHECK_STR(e[i].short_name, want[i]);
	}
	if (n == 22) {
		CHECK_STR(e[10].short_name, "LONGFI~3.TXT");
		CHECK_STR(e[21].short_name, "LONGF~14.TXT");
		CHECK_STR(e[21].name, "longfilename12.txt");
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			CHECK(strcmp(e[i].short_name, e[k].short_name) != 0);
	dk_fat_dirents_free(e, n);
	char *d;
	size_t len;
	CHECK(dk_fat_read(v, "D/ñandú.txt", &d, &len, 100) == 0);
	CHECK_INT(len, strlen("ñandú.txt"));
	free(d);
	CHECK(dk_fat_read(v, "D/LONGFI~2.TXT", &d, &len, 100) == 0);
	CHECK_STR(d, "Long File Name 2.txt");
	free(d);
	dk_fat_close(v);
	free(img);
}

TEST(refuse_existing_and_too_small)
{
	struct dk_fat_builder *b = dk_fat_new();
	CHECK(dk_fat_add_data(b, "A", "a", 1) == 0);
	char *img = t_path(t_tmpdir(), "ex.img");
	CHECK(dk_write_file_atomic(img, "keep", 4, true, 0644) == 0);
	struct dk_disk_opts o = {0};
	CHECK(dk_disk_write(b, img, &o, NULL) < 0);
	CHECK_CONTAINS(dk_errmsg(), "already exists");
	char *data;
	size_t len;
	CHECK(dk_read_file(img, &data, &len, 100) == 0);
	CHECK_STR(data, "keep");
	free(data);
	o.force = true;
	o.size = 16 << 20;
	CHECK(dk_disk_write(b, img, &o, NULL) < 0);
	CHECK_CONTAINS(dk_errmsg(), "too small");
	CHECK(dk_read_file(img, &data, &len, 100) == 0);
	CHECK_STR(data, "keep");
	free(data);
	/* content larger than a fixed size */
	uint8_t *big = dk_calloc(1, 70 << 20);
	big[0] = 1;
	CHECK(dk_fat_add_data(b, "BIG", big, 70 << 20) == 0);
	free(big);
	o.size = 64 << 20;
	CHECK(dk_disk_write(b, img, &o, NULL) < 0);
	CHECK_CONTAINS(dk_errmsg(), "clusters");
	dk_fat_free(b);
	free(img);
}

/* Flip bytes in the FAT, directories and boot sector: the reader must fail
 * cleanly or succeed, never crash (run under ASan). */
TEST(reader_survives_damage)
{
	struct dk_disk_info info;
	char *img = write_test_image("fuzz.img", 0, false, &info);
	int fd = open(img, O_RDWR);
	CHECK(fd >= 0);
	uint64_t base = info.part_offset;
	uint8_t bs[512];
	CHECK(dk_pread_all(fd, bs, 512, base) == 0);
	uint32_t res = bs[14] | bs[15] << 8;
	uint32_t fs = bs[36] | bs[37] << 8 | bs[38] << 16 | (uint32_t)bs[39] << 24;
	uint64_t data_off = base + (uint64_t)(res + 2 * fs) * 512;
	/* boot sector, the start of FAT 1, the first data clusters (directories) */
	const uint64_t region[3][2] = {{base, 512}, {base + (uint64_t)res * 512, 4096}, {data_off, 4096}};
	uint32_t seed = 12345;
	for (int round = 0; round < 400; round++) {
		uint64_t offs[8];
		uint8_t orig[8];
		for (int k = 0; k < 8; k++) {
			seed = seed * 1103515245 + 12345;
			int r = (seed >> 16) % 3;
			offs[k] = region[r][0] + ((seed >> 3) % region[r][1]);
			CHECK(dk_pread_all(fd, &orig[k], 1, offs[k]) == 0);
			uint8_t m = orig[k] ^ (uint8_t)(1 + (seed >> 24) % 255);
			CHECK(dk_pwrite_all(fd, &m, 1, offs[k]) == 0);
		}
		struct dk_fat_vol *v;
		if (dk_fat_open(img, &v) == 0) {
			struct dk_fat_dirent *e;
			size_t n;
			if (dk_fat_list(v, "", &e, &n) == 0)
				dk_fat_dirents_free(e, n);
			if (dk_fat_list(v, "EFI/OC", &e, &n) == 0)
				dk_fat_dirents_free(e, n);
			char *d;
			size_t dl;
			if (dk_fat_read(v, "com.apple.recovery.boot/BaseSystem.dmg", &d, &dl, 1 << 20) == 0)
				free(d);
			if (dk_fat_read(v, "EFI/BOOT/BOOTx64.efi", &d, &dl, 1 << 20) == 0)
				free(d);
			dk_fat_close(v);
		}
		/* restore, in reverse (offsets may repeat) */
		for (int k = 7; k >= 0; k--)
			CHECK(dk_pwrite_all(fd, &orig[k], 1, offs[k]) == 0);
	}
	/* intact again */
	struct dk_fat_vol *v;
	CHECK(dk_fat_open(img, &v) == 0);
	char *d;
	size_t dl;
	CHECK(v && dk_fat_read(v, "EFI/BOOT/BOOTx64.efi", &d, &dl, 100) == 0);
	if (v) {
		free(d);
		dk_fat_close(v);
	}
	close(fd);
	free(img);
}

/* The reader on volumes other tools made: mkfs.fat superfloppy (what the
 * guide's DiskProvision writes) and sfdisk + mformat GPT disks, files put
 * there by mcopy (long names, subfolders, fragmented-looking chains). */
TEST(reader_reads_mkfs_and_mtools_volumes)
{
	if (system("PATH=\"$PATH:/usr/sbin:/sbin\"; command -v mkfs.fat >/dev/null 2>&1 && command -v mcopy >/dev/null 2>&1 && "
		   "command -v sfdisk >/dev/null 2>&1") != 0) {
		printf("skip reader_reads_mkfs_and_mtools_volumes (no dosfstools/mtools/fdisk)\n");
		return;
	}
	const char *tmp = t_tmpdir();
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "set -e; cd '%s'; export MTOOLS_SKIP_CHECK=1 PATH=\"$PATH:/usr/sbin:/sbin\"; rm -rf ext; mkdir -p ext/sub;"
		 "head -c 200000 /dev/urandom > 'ext/A long name with spaces.bin';"
		 "printf small > ext/sub/config.plist; printf x > ext/UP.TXT;"
		 "rm -f sf.img; mkfs.fat -F 32 -n DKVMTEST -C sf.img 65536 >/dev/null;"
		 "mcopy -s -i sf.img ext/* ::/;"
		 "rm -f gpt.img; truncate -s 80M gpt.img;"
		 "printf 'label: gpt\\nstart=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\\n' | sfdisk -q gpt.img;"
		 "mformat -i gpt.img@@1M -F -v OTHER -T 157696 -h 64 -s 32 -H 2048 ::;"
		 "mcopy -s -i gpt.img@@1M ext/* ::/",
		 tmp);
	CHECK(system(cmd) == 0);
	char *ext = t_path(tmp, "ext/A long name with spaces.bin");
	char *want;
	size_t wlen;
	CHECK(dk_read_file(ext, &want, &wlen, 1 << 20) == 0);
	const char *imgs[2] = {"sf.img", "gpt.img"}, *labels[2] = {"DKVMTEST", "OTHER"};
	for (int i = 0; i < 2; i++) {
		char *p = t_path(tmp, imgs[i]);
		struct dk_fat_vol *v = NULL;
		CHECK(dk_fat_open(p, &v) == 0);
		if (v) {
			CHECK_STR(dk_fat_label(v), labels[i]);
			char *d;
			size_t len;
			CHECK(dk_fat_read(v, "A long name with spaces.bin", &d, &len, 1 << 20) == 0);
			CHECK(len == wlen && !memcmp(d, want, wlen));
			free(d);
			CHECK(dk_fat_read(v, "SUB/CONFIG.PLIST", &d, &len, 100) == 0);
			CHECK_STR(d, "small");
			free(d);
			struct dk_fat_dirent *e;
			size_t n;
			CHECK(dk_fat_list(v, "sub", &e, &n) == 0);
			CHECK_INT(n, 1);
			if (n == 1)
				CHECK_STR(e[0].name, "config.plist");
			dk_fat_dirents_free(e, n);
			dk_fat_close(v);
		}
		free(p);
	}
	free(want);
	free(ext);
}

TEST(not_fat)
{
	char *p = t_path(t_tmpdir(), "zero.img");
	uint8_t *z = dk_calloc(1, 1 << 20);
	CHECK(dk_write_file_atomic(p, z, 1 << 20, true, 0644) == 0);
	free(z);
	struct dk_fat_vol *v;
	CHECK(dk_fat_open(p, &v) < 0);
	CHECK_CONTAINS(dk_errmsg(), "zero.img");
	CHECK(dk_fat_open("/nonexistent/x.img", &v) < 0);
	struct dk_disk_info info;
	char *q = write_test_image("q.qcow2", 0, true, &info);
	CHECK(dk_fat_open(q, &v) < 0);
	CHECK_CONTAINS(dk_errmsg(), "a qcow2 image");
	free(q);
	free(p);
}

/* What a stream read hands to its sink: the bytes, the number of calls, the
 * largest piece. */
struct sink_rec {
	uint8_t *buf;
	size_t len, cap, calls, max_piece;
};

static int rec_sink(void *ctx, const void *data, size_t len)
{
	struct sink_rec *r = ctx;
	r->calls++;
	if (len > r->max_piece)
		r->max_piece = len;
	if (len > r->cap - r->len)
		return dk_fail("sink: more bytes than the file");
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

/* Stream the file at path with the given chunk; 0 when the bytes are want's. */
static int stream_check(struct dk_fat_vol *v, const char *path, size_t chunk, const uint8_t *want, size_t wlen,
			struct sink_rec *r)
{
	memset(r, 0, sizeof *r);
	r->buf = dk_malloc(wlen + 1);
	r->cap = wlen;
	int rc = dk_fat_read_stream(v, path, DK_FAT_MAX_FILE, chunk, rec_sink, r);
	if (rc == 0 && (r->len != wlen || memcmp(r->buf, want, wlen)))
		rc = 1;
	free(r->buf);
	r->buf = NULL;
	return rc;
}

static void poke_fat(const char *img, uint32_t cluster, uint32_t val)
{
	int fd = open(img, O_RDWR);
	CHECK(fd >= 0);
	uint8_t bs[512], e[4];
	CHECK(dk_pread_all(fd, bs, 512, 0) == 0);
	uint64_t fat = (uint64_t)(bs[14] | bs[15] << 8) * 512;
	for (int i = 0; i < 4; i++)
		e[i] = (uint8_t)(val >> (8 * i));
	CHECK(dk_pwrite_all(fd, e, 4, fat + 4ull * cluster) == 0);
	close(fd);
}

/* A file of several MiB read in bounded pieces, byte-exact (and the same as
 * mtools reads it); a fragmented chain mtools made; damaged chains (a loop,
 * a cluster out of range, an early end) fail with one error and nothing
 * handed to the sink. */
TEST(stream_reader)
{
	const char *tmp = t_tmpdir();
	size_t big = (5u << 20) + 123;
	uint8_t *data = dk_malloc(big);
	uint32_t seed = 12345;
	for (size_t i = 0; i < big; i++) {
		seed = seed * 1103515245 + 12345;
		data[i] = (uint8_t)(seed >> 16);
	}
	struct dk_fat_builder *b = dk_fat_new();
	CHECK(dk_fat_add_data(b, "small.txt", "hello", 5) == 0);
	CHECK(dk_fat_add_data(b, "com.apple.recovery.boot/BaseSystem.dmg", data, big) == 0);
	char *img = t_path(tmp, "stream.img");
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && ftruncate(fd, 64 << 20) == 0);
	struct dk_fat_write_opts wo = {.label = "STREAM", .fixed_time = true};
	CHECK(dk_fat_write(b, fd, 0, 64 << 20, &wo) == 0);
	close(fd);
	dk_fat_free(b);
	char *bin = t_path(tmp, "big.bin");
	CHECK(dk_write_file_atomic(bin, data, big, true, 0644) == 0);
	struct dk_fat_vol *v = NULL;
	CHECK(dk_fat_open(img, &v) == 0);
	if (!v)
		return;
	struct sink_rec r;
	/* 64 KiB pieces: many calls, none larger */
	CHECK_INT(stream_check(v, "com.apple.recovery.boot/BaseSystem.dmg", 65536, data, big, &r), 0);
	CHECK(r.calls >= big / 65536);
	CHECK(r.max_piece <= 65536);
	/* pieces smaller than a cluster */
	CHECK_INT(stream_check(v, "small.txt", 2, (const uint8_t *)"hello", 5, &r), 0);
	CHECK_INT(r.calls, 3);
	/* the default chunk (1 MiB) */
	CHECK_INT(stream_check(v, "com.apple.recovery.boot/BaseSystem.dmg", 0, data, big, &r), 0);
	CHECK(r.calls >= 5 && r.max_piece <= (1u << 20));
	/* into a file descriptor */
	char *out = t_path(tmp, "out.bin");
	int ofd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(dk_fat_read_fd(v, "/COM.APPLE.RECOVERY.BOOT/basesystem.dmg", DK_FAT_MAX_FILE, ofd, out) == 0);
	close(ofd);
	char *got = NULL;
	size_t glen = 0;
	CHECK(dk_read_file(out, &got, &glen, 16 << 20) == 0);
	CHECK(got && glen == big && !memcmp(got, data, big));
	free(got);
	/* dk_fat_read, built on it */
	CHECK(dk_fat_read(v, "com.apple.recovery.boot/BaseSystem.dmg", &got, &glen, 16 << 20) == 0);
	CHECK(glen == big && !memcmp(got, data, big) && got[big] == 0);
	free(got);
	CHECK(dk_fat_read_stream(v, "com.apple.recovery.boot/BaseSystem.dmg", 1000, 0, rec_sink, &r) < 0);
	CHECK_CONTAINS(dk_errmsg(), "too large");
	CHECK(dk_fat_read_stream(v, "com.apple.recovery.boot", DK_FAT_MAX_FILE, 0, rec_sink, &r) < 0);
	CHECK_CONTAINS(dk_errmsg(), "is a directory");
	struct dk_fat_dirent d;
	CHECK(dk_fat_stat(v, "com.apple.recovery.boot/BaseSystem.dmg", &d) == 0);
	free(d.name);
	uint32_t first = d.cluster;
	dk_fat_close(v);
	/* mtools reads the same bytes */
	char cmd[4096];
	int sys_ok = system("command -v mcopy >/dev/null 2>&1") == 0;
	if (sys_ok) {
		snprintf(cmd, sizeof cmd,
			 "cd '%s' && MTOOLS_SKIP_CHECK=1 mcopy -n -i stream.img ::/com.apple.recovery.boot/BaseSystem.dmg mt.bin"
			 " && cmp -s mt.bin big.bin",
			 tmp);
		CHECK(system(cmd) == 0);
	}
	/* damaged chains: the sink is never called, the error names the file */
	struct { uint32_t at, val; const char *msg; } dmg[] = {
		{first + 40, first + 3, "loops"},
		{first + 40, 0x0FFFFFF0, "out of range"},
		{first + 40, 1, "out of range"},
		{first + 40, 0x0FFFFFFF, "ends after 41 of"},
	};
	for (size_t i = 0; i < sizeof dmg / sizeof *dmg; i++) {
		poke_fat(img, dmg[i].at, dmg[i].val);
		CHECK(dk_fat_open(img, &v) == 0);
		if (!v)
			continue;
		memset(&r, 0, sizeof r);
		CHECK(dk_fat_read_stream(v, "com.apple.recovery.boot/BaseSystem.dmg", DK_FAT_MAX_FILE, 0, rec_sink, &r) < 0);
		CHECK_CONTAINS(dk_errmsg(), dmg[i].msg);
		CHECK_CONTAINS(dk_errmsg(), "stream.img: com.apple.recovery.boot/BaseSystem.dmg:");
		CHECK_INT(r.calls, 0);
		CHECK(dk_fat_read(v, "com.apple.recovery.boot/BaseSystem.dmg", &got, &glen, 16 << 20) < 0);
		CHECK_CONTAINS(dk_errmsg(), dmg[i].msg);
		/* the other file is fine */
		CHECK_INT(stream_check(v, "small.txt", 0, (const uint8_t *)"hello", 5, &r), 0);
		dk_fat_close(v);
		poke_fat(img, dmg[i].at, dmg[i].at + 1);
	}
	/* a fragmented chain: the volume nearly full, mtools puts the file at
	 * the end and in the hole a deleted file left */
	if (sys_ok) {
		snprintf(cmd, sizeof cmd,
			 "set -e; cd '%s'; export MTOOLS_SKIP_CHECK=1; rm -f frag.img; head -c 100000 big.bin > a.bin;"
			 "mkfs.fat -F 32 -C frag.img 65536 >/dev/null 2>&1 || PATH=\"$PATH:/usr/sbin:/sbin\" mkfs.fat -F 32 -C "
			 "frag.img 65536 >/dev/null; mcopy -i frag.img a.bin ::/A.BIN; mcopy -i frag.img a.bin ::/B.BIN;"
			 "free=$(mdir -i frag.img ::/ | sed -n 's/ bytes free//p' | tr -dc 0-9);"
			 "head -c $((free - $(stat -c %%s big.bin) + 50000)) /dev/zero > fill.bin; mcopy -i frag.img fill.bin ::/FILL.BIN;"
			 "mdel -i frag.img ::/A.BIN; mcopy -i frag.img big.bin ::/BIG.BIN;"
			 "mshowfat -i frag.img ::/BIG.BIN | grep -q '> <'",
			 tmp);
		if (system(cmd) == 0) {
			char *frag = t_path(tmp, "frag.img");
			CHECK(dk_fat_open(frag, &v) == 0);
			free(frag);
			if (v) {
				CHECK_INT(stream_check(v, "BIG.BIN", 65536, data, big, &r), 0);
				dk_fat_close(v);
			}
		} else {
			printf("skip the fragmented chain (no mkfs.fat, or mtools did not fragment it)\n");
		}
	}
	free(out);
	free(bin);
	free(img);
	free(data);
}

int main(void)
{
	RUN(gpt_headers_and_crcs);
	RUN(gpt_damaged_primary_uses_backup);
	RUN(geometry);
	RUN(roundtrip_reader);
	RUN(short_names);
	RUN(refuse_existing_and_too_small);
	RUN(reader_survives_damage);
	RUN(reader_reads_mkfs_and_mtools_volumes);
	RUN(not_fat);
	RUN(stream_reader);
	return t_done();
}
