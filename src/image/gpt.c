#include "image/gpt.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

const uint8_t dk_gpt_type_esp[16] = {0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
				     0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B};

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (8 * i); }
static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint32_t crc(const void *p, size_t n) { return (uint32_t)crc32(0L, p, (uInt)n); }

const char *dk_guid_str(const uint8_t g[16], char *buf)
{
	return dk_uuid_format(g, buf, DK_UUID_UPPER | DK_UUID_GUID);
}

void dk_guid_from_bytes(uint8_t g[16], const uint8_t rnd[16])
{
	memcpy(g, rnd, 16);
	/* version 4 in the high nibble of time_hi (stored little-endian: byte 7) */
	g[7] = (g[7] & 0x0F) | 0x40;
	g[8] = (g[8] & 0x3F) | 0x80;
}

static void fill_header(uint8_t *h, const struct dk_gpt *g, bool backup, uint32_t entries_crc)
{
	uint64_t last = g->disk_sectors - 1;
	memset(h, 0, DK_GPT_SECTOR);
	memcpy(h, "EFI PART", 8);
	put32(h + 8, 0x00010000);
	put32(h + 12, 92);
	put64(h + 24, backup ? last : 1);
	put64(h + 32, backup ? 1 : last);
	put64(h + 40, 2 + DK_GPT_ENTRY_LBAS);
	put64(h + 48, last - 1 - DK_GPT_ENTRY_LBAS);
	memcpy(h + 56, g->disk_guid, 16);
	put64(h + 72, backup ? last - DK_GPT_ENTRY_LBAS : 2);
	put32(h + 80, DK_GPT_ENTRIES);
	put32(h + 84, DK_GPT_ENTRY_SIZE);
	put32(h + 88, entries_crc);
	put32(h + 16, crc(h, 92));
}

int dk_gpt_write(int fd, const struct dk_gpt *g)
{
	if (g->disk_sectors < 2 * (2 + DK_GPT_ENTRY_LBAS) + 1 || g->part.first_lba < 2 + DK_GPT_ENTRY_LBAS ||
	    g->part.last_lba > g->disk_sectors - 2 - DK_GPT_ENTRY_LBAS || g->part.last_lba < g->part.first_lba)
		return dk_fail("GPT: partition %" PRIu64 "..%" PRIu64 " does not fit a disk of %" PRIu64
			       " sectors",
			       g->part.first_lba, g->part.last_lba, g->disk_sectors);
	uint8_t mbr[DK_GPT_SECTOR] = {0};
	uint8_t *pe = mbr + 446;
	pe[1] = 0x00; pe[2] = 0x02; pe[3] = 0x00; /* CHS 0/0/2 */
	pe[4] = 0xEE;
	pe[5] = 0xFF; pe[6] = 0xFF; pe[7] = 0xFF;
	put32(pe + 8, 1);
	uint64_t n = g->disk_sectors - 1;
	put32(pe + 12, n > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)n);
	mbr[510] = 0x55;
	mbr[511] = 0xAA;

	uint8_t entries[DK_GPT_ENTRIES * DK_GPT_ENTRY_SIZE] = {0};
	memcpy(entries, g->part.type, 16);
	memcpy(entries + 16, g->part.guid, 16);
	put64(entries + 32, g->part.first_lba);
	put64(entries + 40, g->part.last_lba);
	put64(entries + 48, g->part.attrs);
	for (int i = 0; i < 36 && g->part.name[i]; i++)
		put16(entries + 56 + 2 * i, (uint8_t)g->part.name[i]);
	uint32_t ecrc = crc(entries, sizeof entries);

	uint8_t hdr[DK_GPT_SECTOR];
	uint64_t last = g->disk_sectors - 1;
	if (dk_pwrite_all(fd, mbr, sizeof mbr, 0) < 0)
		return -1;
	fill_header(hdr, g, false, ecrc);
	if (dk_pwrite_all(fd, hdr, sizeof hdr, DK_GPT_SECTOR) < 0)
		return -1;
	/* Only the first entry sector is non-zero. */
	if (dk_pwrite_all(fd, entries, DK_GPT_SECTOR, 2 * DK_GPT_SECTOR) < 0)
		return -1;
	if (dk_pwrite_all(fd, entries, DK_GPT_SECTOR, (last - DK_GPT_ENTRY_LBAS) * DK_GPT_SECTOR) < 0)
		return -1;
	fill_header(hdr, g, true, ecrc);
	return dk_pwrite_all(fd, hdr, sizeof hdr, last * DK_GPT_SECTOR);
}

static int read_header(int fd, uint64_t disk_bytes, bool backup, const char *what, uint8_t *h,
		       uint8_t **entries_out)
{
	uint64_t nsec = disk_bytes / DK_GPT_SECTOR;
	if (nsec < 2 * (2 + DK_GPT_ENTRY_LBAS) + 1)
		return dk_fail("%s: too small for a GPT (%" PRIu64 " bytes)", what, disk_bytes);
	uint64_t lba = backup ? nsec - 1 : 1;
	const char *which = backup ? "backup GPT header" : "GPT header";
	if (dk_pread_all(fd, h, DK_GPT_SECTOR, lba * DK_GPT_SECTOR) < 0)
		return dk_fail_prefix("%s", what);
	if (memcmp(h, "EFI PART", 8) != 0)
		return dk_fail("%s: %s: no EFI PART signature", what, which);
	uint32_t hsize = get32(h + 12);
	if (hsize < 92 || hsize > DK_GPT_SECTOR)
		return dk_fail("%s: %s: bad header size %u", what, which, hsize);
	uint32_t want = get32(h + 16);
	uint8_t tmp[DK_GPT_SECTOR];
	memcpy(tmp, h, DK_GPT_SECTOR);
	memset(tmp + 16, 0, 4);
	if (crc(tmp, hsize) != want)
		return dk_fail("%s: %s: CRC32 mismatch", what, which);
	if (get64(h + 24) != lba)
		return dk_fail("%s: %s: MyLBA is %" PRIu64 ", expected %" PRIu64, what, which, get64(h + 24), lba);
	uint32_t ne = get32(h + 80), es = get32(h + 84);
	uint64_t elba = get64(h + 72);
	if (es < 128 || es > 4096 || es % 8 || ne == 0 || ne > 4096 ||
	    elba * DK_GPT_SECTOR + (uint64_t)ne * es > disk_bytes)
		return dk_fail("%s: %s: bad partition entry array (%u x %u at LBA %" PRIu64 ")", what, which, ne,
			       es, elba);
	size_t elen = (size_t)ne * es;
	_cleanup_free_ uint8_t *e = dk_malloc(elen);
	if (dk_pread_all(fd, e, elen, elba * DK_GPT_SECTOR) < 0)
		return dk_fail_prefix("%s", what);
	if (crc(e, elen) != get32(h + 88))
		return dk_fail("%s: %s: partition entries CRC32 mismatch", what, which);
	if (entries_out)
		*entries_out = DK_TAKE_PTR(e);
	return 0;
}

int dk_gpt_check_header(int fd, uint64_t disk_bytes, bool backup, const char *what)
{
	uint8_t h[DK_GPT_SECTOR];
	return read_header(fd, disk_bytes, backup, what, h, NULL);
}

int dk_gpt_find(int fd, uint64_t disk_bytes, const uint8_t *type, struct dk_gpt_part *out, const char *what)
{
	uint8_t h[DK_GPT_SECTOR];
	_cleanup_free_ uint8_t *e = NULL;
	if (read_header(fd, disk_bytes, false, what, h, &e) < 0) {
		if (read_header(fd, disk_bytes, true, what, h, &e) < 0)
			return -1;
	}
	uint32_t ne = get32(h + 80), es = get32(h + 84);
	static const uint8_t zero[16];
	for (uint32_t i = 0; i < ne; i++) {
		const uint8_t *p = e + (size_t)i * es;
		if (!memcmp(p, zero, 16))
			continue;
		if (type && memcmp(p, type, 16))
			continue;
		memset(out, 0, sizeof *out);
		memcpy(out->type, p, 16);
		memcpy(out->guid, p + 16, 16);
		out->first_lba = get64(p + 32);
		out->last_lba = get64(p + 40);
		out->attrs = get64(p + 48);
		for (int k = 0; k < 36; k++) {
			uint16_t c = p[56 + 2 * k] | p[57 + 2 * k] << 8;
			if (!c)
				break;
			out->name[k] = c < 0x80 ? (char)c : '?';
		}
		if (out->last_lba < out->first_lba || (out->last_lba + 1) * DK_GPT_SECTOR > disk_bytes)
			return dk_fail("%s: GPT partition %u lies outside the disk", what, i + 1);
		return 0;
	}
	return dk_fail("%s: no %s partition in the GPT", what, type ? "EFI System" : "used");
}
