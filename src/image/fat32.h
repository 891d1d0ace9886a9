/* FAT32, entirely in userspace: a writer that lays out a whole volume (boot
 * sector, FSInfo, backup boot sector, two FATs, directories with VFAT long
 * names, files in contiguous clusters) into a file at an offset, writing only
 * non-zero data; and a reader that lists and reads files of a FAT32 volume in
 * a raw image (a GPT disk's EFI System Partition, or a bare "superfloppy"). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/progress.h"

#define DK_FAT32_MIN_CLUSTERS 65525u
#define DK_FAT_MAX_FILE 0xFFFFFFFFull

/* ---- writer ---- */
struct dk_fat_builder;

struct dk_fat_builder *dk_fat_new(void);
void dk_fat_free(struct dk_fat_builder *b);
/* Paths inside the volume use '/' ("EFI/OC/config.plist"); parents are made
 * as needed. Names are UTF-8 (BMP only), compared case-insensitively; a name
 * that exists already is an error. */
int dk_fat_add_dir(struct dk_fat_builder *b, const char *path);
/* A host file, copied at write time (its size is taken now). */
int dk_fat_add_file(struct dk_fat_builder *b, const char *path, const char *src);
/* In-memory content (copied). */
int dk_fat_add_data(struct dk_fat_builder *b, const char *path, const void *data, size_t len);
/* A host directory tree, recursively, under path (which is created). */
int dk_fat_add_tree(struct dk_fat_builder *b, const char *path, const char *src_dir);
/* One line per entry ("/EFI/OC/config.plist f 1234"), in tree order: what
 * --reproducible derives GUIDs from. */
struct dk_buf;
void dk_fat_manifest(const struct dk_fat_builder *b, struct dk_buf *out);
/* Number of files and directories added; total file bytes. */
size_t dk_fat_count(const struct dk_fat_builder *b);
uint64_t dk_fat_file_bytes(const struct dk_fat_builder *b);
/* Bytes the content occupies with the given cluster size (directories and
 * files, rounded to clusters). */
uint64_t dk_fat_content_bytes(struct dk_fat_builder *b, uint32_t cluster_size);

struct dk_fat_geometry {
	uint64_t sectors;       /* volume size in 512-byte sectors */
	uint32_t spc;           /* sectors per cluster */
	uint32_t reserved;      /* reserved sectors (boot, FSInfo, backup) */
	uint32_t fat_sectors;   /* per FAT */
	uint32_t clusters;      /* data clusters */
};
/* The geometry dkvm uses for a volume of `bytes` (cluster size as Microsoft's
 * table: 512 B up to 260 MiB, 4 KiB up to 8 GiB, ...; data region aligned to
 * 4 KiB). Error when the volume cannot hold 65525 clusters. */
int dk_fat_geometry(uint64_t bytes, struct dk_fat_geometry *g);
/* Smallest volume size (MiB multiple, >= 64 MiB) holding the content plus
 * slack_bytes free. */
uint64_t dk_fat_auto_size(struct dk_fat_builder *b, uint64_t slack_bytes);

struct dk_fat_write_opts {
	const char *label;        /* volume label, <= 11 chars, e.g. "OPENCORE" */
	uint32_t volume_id;
	bool fixed_time;          /* use `when` for every timestamp */
	time_t when;              /* with fixed_time (UTC) */
	uint32_t hidden_sectors;  /* LBA of the partition (BPB field) */
	struct dk_progress *progress; /* optional: advanced by file bytes */
};
/* Write the volume into fd at byte offset off, `bytes` long. The range must
 * read as zeros already (a fresh ftruncate'd file): only non-zero sectors are
 * written. */
int dk_fat_write(struct dk_fat_builder *b, int fd, uint64_t off, uint64_t bytes,
		 const struct dk_fat_write_opts *o);

/* ---- reader ---- */
struct dk_fat_vol;

struct dk_fat_dirent {
	char *name;             /* long name if any, else the 8.3 name (UTF-8) */
	char short_name[13];    /* "BOOTX64.EFI" */
	bool is_dir;
	uint8_t attr;
	uint32_t size;
	uint32_t cluster;
	uint16_t wdate, wtime;  /* FAT-encoded write date and time */
};

/* Open an image file: a GPT disk (its EFI System Partition) or a bare FAT32
 * volume. Errors name the file. */
int dk_fat_open(const char *image, struct dk_fat_vol **out);
/* Open the FAT32 volume at [off, off+len) of fd (not closed by dk_fat_close). */
int dk_fat_open_fd(int fd, uint64_t off, uint64_t len, const char *what, struct dk_fat_vol **out);
void dk_fat_close(struct dk_fat_vol *v);
/* Volume label from the boot sector ("OPENCORE"), trailing spaces trimmed. */
const char *dk_fat_label(const struct dk_fat_vol *v);
uint32_t dk_fat_cluster_size(const struct dk_fat_vol *v);
uint32_t dk_fat_clusters(const struct dk_fat_vol *v);
/* Byte offset of the volume inside the image file. */
uint64_t dk_fat_offset(const struct dk_fat_vol *v);

/* Look a path up (case-insensitive; "" or "/" is the root). 0 found, 1 absent,
 * -1 error. out may be NULL; out->name must be freed. */
int dk_fat_stat(struct dk_fat_vol *v, const char *path, struct dk_fat_dirent *out);
/* List a directory (without "." and ".." and the volume label). */
int dk_fat_list(struct dk_fat_vol *v, const char *dir, struct dk_fat_dirent **out, size_t *n);
void dk_fat_dirents_free(struct dk_fat_dirent *e, size_t n);
/* Read a whole file (at most max bytes). The buffer is NUL-terminated.
 * Built on dk_fat_read_stream. */
int dk_fat_read(struct dk_fat_vol *v, const char *path, char **data, size_t *len, size_t max);
/* Stream a file (at most max bytes, else an error naming its size) to sink
 * in pieces of at most chunk bytes (0: 1 MiB), in order: memory stays
 * bounded by the chunk whatever the file's size. The cluster chain is checked
 * before the first byte goes out: a cluster out of range, a chain that loops
 * or ends before the file's size fail with an error naming the file, and the
 * sink is not called. A sink returning -1 (after dk_fail) stops the read. */
typedef int (*dk_fat_sink)(void *ctx, const void *data, size_t len);
int dk_fat_read_stream(struct dk_fat_vol *v, const char *path, uint64_t max, size_t chunk, dk_fat_sink sink,
		       void *ctx);
/* dk_fat_read_stream into fd at its current position (short writes and
 * EINTR handled; errors name `what`, the fd's file). */
int dk_fat_read_fd(struct dk_fat_vol *v, const char *path, uint64_t max, int fd, const char *what);
