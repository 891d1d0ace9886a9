/* A whole disk image: GPT with one EFI System Partition (1 MiB aligned)
 * holding a FAT32 volume, written sparse into a temp file and renamed into
 * place; optionally as qcow2 (written directly, see qcow2.h). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "image/fat32.h"

struct dk_disk_opts {
	uint64_t size;          /* disk bytes (rounded up to 1 MiB); 0 = auto */
	uint64_t slack;         /* auto: free space to leave (default 16 MiB) */
	const char *label;      /* FAT volume label (default "OPENCORE") */
	const char *part_name;  /* GPT partition name (default "OPENCORE") */
	bool reproducible;      /* fixed timestamps, GUIDs and volume id */
	bool qcow2;
	bool force;
	bool progress;          /* show a progress bar for the data copy */
};

struct dk_disk_info {
	uint64_t disk_bytes;    /* raw disk size */
	uint64_t part_offset, part_bytes;
	uint32_t cluster_size;
	uint32_t clusters;
	char disk_guid[37], part_guid[37];
	uint32_t volume_id;
	uint64_t file_bytes;    /* payload bytes */
	uint64_t file_size;     /* size of the output file (qcow2: its length) */
};

/* Write the disk image of the builder's content to output. Refuses an
 * existing output without force; leaves nothing behind on failure. */
int dk_disk_write(struct dk_fat_builder *b, const char *output, const struct dk_disk_opts *o,
		  struct dk_disk_info *info);

/* The fixed timestamp of --reproducible: $SOURCE_DATE_EPOCH, else 2000-01-01. */
long long dk_disk_reproducible_time(void);
