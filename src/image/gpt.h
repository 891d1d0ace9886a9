/* GUID Partition Table: a protective MBR, the primary header and entries at
 * LBA 1..33, the backup entries and header at the end of the disk, CRC32s.
 * One partition is all dkvm writes (the EFI System Partition). 512-byte
 * logical sectors. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define DK_GPT_SECTOR 512u
#define DK_GPT_ENTRIES 128u
#define DK_GPT_ENTRY_SIZE 128u
/* LBAs the entry array takes (128 * 128 / 512). */
#define DK_GPT_ENTRY_LBAS 32u

/* C12A7328-F81F-11D2-BA4B-00A0C93EC93B in on-disk (mixed-endian) order. */
extern const uint8_t dk_gpt_type_esp[16];

struct dk_gpt_part {
	uint8_t type[16];  /* on-disk byte order */
	uint8_t guid[16];  /* on-disk byte order */
	uint64_t first_lba, last_lba;
	uint64_t attrs;
	char name[73];     /* UTF-8 (ASCII written), at most 36 UTF-16 units */
};

struct dk_gpt {
	uint64_t disk_sectors;   /* whole disk in 512-byte sectors */
	uint8_t disk_guid[16];
	struct dk_gpt_part part; /* the one partition */
};

/* Write the protective MBR, both headers and both entry arrays into fd (a
 * disk of g->disk_sectors sectors; only non-zero sectors are written). */
int dk_gpt_write(int fd, const struct dk_gpt *g);

/* Read the GPT of fd (disk_bytes long): verifies the primary header and entry
 * CRCs (falls back to the backup when the primary is damaged) and returns the
 * first partition whose type is `type` (NULL = any used entry). what names the
 * file in errors. */
int dk_gpt_find(int fd, uint64_t disk_bytes, const uint8_t *type, struct dk_gpt_part *out,
		const char *what);

/* Verify one header (primary at LBA 1 or backup at the last LBA) and its
 * entry array; 0 when both CRCs and the self-LBA are right. */
int dk_gpt_check_header(int fd, uint64_t disk_bytes, bool backup, const char *what);

/* Format a GUID stored in on-disk order as text. buf >= 37 bytes. */
const char *dk_guid_str(const uint8_t g[16], char *buf);
/* Make a version-4 GUID (on-disk order) from 16 bytes of randomness. */
void dk_guid_from_bytes(uint8_t g[16], const uint8_t rnd[16]);
