/* UDIF (.dmg) disk images: reader, codecs, verification and conversion.
 *
 * A UDIF image is a data fork (the chunks), an XML property list whose
 * resource-fork/blkx array holds one 'mish' block table per partition, and a
 * 512-byte big-endian 'koly' trailer at the end of the file. Every number read
 * from the file is validated against the file size before use; bad input is
 * refused with one "<file>: <what>: <why>" message (dk_fail).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/progress.h"

#include <json-c/json.h>

#define DMG_SECTOR 512u

enum dmg_chunk_type {
	DMG_CHUNK_ZERO = 0x00000000,
	DMG_CHUNK_RAW = 0x00000001,
	DMG_CHUNK_IGNORE = 0x00000002,
	DMG_CHUNK_COMMENT = 0x7ffffffe,
	DMG_CHUNK_ADC = 0x80000004,
	DMG_CHUNK_ZLIB = 0x80000005,
	DMG_CHUNK_BZIP2 = 0x80000006,
	DMG_CHUNK_LZFSE = 0x80000007,
	DMG_CHUNK_LZMA = 0x80000008,
	DMG_CHUNK_TERM = 0xffffffff,
};

#define DMG_CKSUM_NONE 0
#define DMG_CKSUM_CRC32 2

/* Largest decoded size of one compressed chunk we accept (hdiutil writes
 * 1 MiB chunks); larger ones are refused as absurd. */
#define DMG_MAX_CHUNK_OUT (64u << 20)
#define DMG_MAX_CHUNK_IN (128u << 20)

struct dmg_checksum {
	uint32_t type, bits;
	uint8_t data[128];
};

struct dmg_chunk {
	uint32_t type;
	uint32_t blkx;   /* index of the owning blkx table */
	uint64_t sector; /* absolute first sector in the disk */
	uint64_t nsect;
	uint64_t off;    /* absolute file offset of the stored data */
	uint64_t len;    /* stored length */
};

struct dmg_blkx {
	char *name;
	char *attributes;
	long long id;
	uint32_t version;
	uint64_t first_sector, nsect, data_offset;
	uint32_t buffers_needed, block_descriptors;
	struct dmg_checksum cksum;
	uint32_t nchunks_raw;   /* entries in the table, comments/terminator included */
	size_t first_chunk, nchunks; /* range in dmg_image.chunks (sorted by sector) */
};

struct dmg_image {
	char *path;
	int fd;
	uint64_t file_size;
	/* koly */
	uint32_t version, header_size, flags;
	uint64_t running_data_fork_offset;
	uint64_t data_fork_offset, data_fork_length;
	uint64_t rsrc_fork_offset, rsrc_fork_length;
	uint32_t segment_number, segment_count;
	uint8_t segment_id[16];
	struct dmg_checksum data_cksum;
	uint64_t xml_offset, xml_length;
	struct dmg_checksum master_cksum;
	uint32_t image_variant;
	uint64_t sector_count;
	/* plist */
	size_t nblkx;
	struct dmg_blkx *blkx;
	size_t nchunks;
	struct dmg_chunk *chunks; /* sorted by sector; comment/terminator entries dropped */
};

/* Open and parse an image; refuses encrypted, sparse, segmented and unknown
 * images with a message saying what the file is. */
int dmg_open(const char *path, struct dmg_image **out);
void dmg_close(struct dmg_image *img);

/* Parse from memory (fuzzing, tests): the 512-byte trailer, the plist text and
 * the size of the file they came from. img must be zeroed; free with dmg_close. */
int dmg_parse_koly(struct dmg_image *img, const uint8_t *trailer512);
int dmg_parse_plist(struct dmg_image *img, const char *xml, size_t len);
/* Parse one 'mish' block table into img (appends a blkx and its chunks). */
int dmg_parse_mish(struct dmg_image *img, const uint8_t *data, size_t len, const char *name,
		   const char *attributes, long long id);
/* Sort chunks, check overlaps and bounds. Called by dmg_parse_plist. */
int dmg_finish_layout(struct dmg_image *img);

const char *dmg_chunk_type_name(uint32_t type);
const char *dmg_variant_name(uint32_t variant);
/* Value of a UDIF CRC32 checksum (first 4 bytes, big-endian). */
uint32_t dmg_cksum_crc32(const struct dmg_checksum *c);

/* Codecs. Each decodes exactly out_len bytes or fails (dk_fail, message
 * without file name). */
int dmg_adc_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len);
int dmg_lzfse_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len);
int dmg_lzvn_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, size_t *in_used);

struct dmg_codec; /* per-thread decoder state (libdeflate, liblzma) */
struct dmg_codec *dmg_codec_new(void);
void dmg_codec_free(struct dmg_codec *c);
/* Decode one chunk of any type into out (out_len = sectors * 512). */
int dmg_decode_chunk(struct dmg_codec *c, uint32_t type, const uint8_t *in, size_t in_len,
		     uint8_t *out, size_t out_len);

/* Verification results. */
enum dmg_check_state { DMG_CHECK_OK, DMG_CHECK_FAILED, DMG_CHECK_SKIPPED, DMG_CHECK_ABSENT };
struct dmg_check {
	char *what;        /* "data fork", "master", "blkx 2 (Apple_HFS : 2)" */
	enum dmg_check_state state;
	uint32_t type;
	uint32_t expected, actual;
	char *note;        /* why skipped */
};
struct dmg_report {
	size_t nchecks;
	struct dmg_check *checks;
	uint64_t bytes_out;     /* logical output size */
	uint64_t bytes_written; /* non-hole bytes written */
	uint64_t bytes_read;    /* compressed bytes read */
	double seconds;
	int threads;
};
void dmg_report_free(struct dmg_report *r);
/* 1 when any check failed. */
bool dmg_report_failed(const struct dmg_report *r);

struct dmg_convert_opts {
	const char *out;   /* NULL: verify only */
	long partition;    /* -1: whole disk; else blkx index */
	int threads;       /* 0: online CPUs */
	bool verify;       /* checksums checked (convert fails on mismatch) */
	bool force;
	bool progress;
	size_t mem_budget; /* 0: default */
};
/* Decode the image (or one partition) in parallel; writes OUT atomically when
 * out is set. With out == NULL, verifies only: returns 0 when decoding worked
 * (check the report for checksum results). With out set, any checksum
 * mismatch fails (unless !verify) and nothing is left at out. */
int dmg_run(struct dmg_image *img, const struct dmg_convert_opts *o, struct dmg_report *rep);

/* Names shared by the text and JSON output: "crc32"/"none"/"other", and
 * "ok"/"FAILED"/"skipped"/"absent". */
const char *dmg_cksum_type_name(uint32_t type);
const char *dmg_check_state_name(enum dmg_check_state s);

/* Chunk counts, sectors and stored bytes by chunk type (dmg_hist_types order). */
#define DMG_NHIST 8
extern const uint32_t dmg_hist_types[DMG_NHIST];
struct dmg_hist {
	uint64_t cnt[DMG_NHIST], sect[DMG_NHIST], stored[DMG_NHIST], total_stored;
};
void dmg_histogram(const struct dmg_image *img, struct dmg_hist *h);

/* The documents `dkvm --json dmg info|verify|convert` print (see dkvm-dmg(1)).
 * file is the FILE operand as given; o->out must be set for convert. */
json_object *dk_dmg_info_to_json(const struct dmg_image *img);
json_object *dk_dmg_verify_to_json(const struct dmg_image *img, const struct dmg_report *r);
json_object *dk_dmg_convert_to_json(const char *file, const struct dmg_convert_opts *o, const struct dmg_report *r);
