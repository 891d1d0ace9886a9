/* Apple chunklists (CNKL): the per-chunk SHA-256 list that accompanies a
 * recoveryOS image (signed, RSA-2048) or an installer package (integrity data,
 * usually unsigned).
 *
 * Layout (little-endian): a 36-byte header ("CNKL", header size 0x24, version 1,
 * chunk method 1 = SHA-256, signature method, pad, u64 chunk count, u64 chunk
 * offset, u64 signature offset), then count entries of {u32 size, u8 sha256[32]},
 * then the signature: method 1 = 256-byte RSA-2048 PKCS#1 v1.5 signature of
 * SHA-256(header + entries), stored as a little-endian integer; method 2 = the
 * 32-byte SHA-256 itself; method 0 = nothing. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"

#include <json-c/json.h>

#define DK_CNKL_HEADER_SIZE 36
#define DK_CNKL_ENTRY_SIZE 36

struct dk_chunk {
	uint64_t offset; /* in the image, sum of the previous sizes */
	uint32_t size;
	uint8_t sha256[32];
};

struct dk_chunklist {
	uint8_t version, chunk_method, sig_method;
	uint64_t count;
	uint64_t image_size; /* sum of all chunk sizes */
	struct dk_chunk *chunks;
	uint8_t digest[32];   /* SHA-256 over header + entries */
	uint8_t file_sha256[32]; /* SHA-256 of the whole file (identity) */
	uint8_t *sig;         /* signature bytes as stored (NULL for method 0) */
	size_t sig_len;
};

/* Parse a chunklist from memory. name is used in error messages. */
int dk_chunklist_parse(const void *data, size_t len, const char *name, struct dk_chunklist *cl);
int dk_chunklist_load(const char *path, struct dk_chunklist *cl);
void dk_chunklist_free(struct dk_chunklist *cl);

/* Verify the signature. Method 1: with the RSA public key in the PEM file
 * trust_key (a "PUBLIC KEY" or "RSA PUBLIC KEY"), or Apple's key when NULL.
 * Method 2: the stored digest must match. Method 0: fails unless allow_unsigned.
 * *status (optional) receives "signed", "digest" or "unsigned". */
int dk_chunklist_verify_sig(const struct dk_chunklist *cl, const char *name, const char *trust_key,
			    bool allow_unsigned, const char **status);

/* Check up front that trust_key is a usable PEM RSA public key (the error
 * dk_chunklist_verify_sig() would give later). */
int dk_chunklist_check_key(const char *trust_key);

/* Verify an image file chunk by chunk. On a mismatch, *bad_chunk (optional)
 * receives the failing chunk's index (or count when the size is wrong) and
 * the error names it. */
int dk_chunklist_verify_image(const struct dk_chunklist *cl, const char *image, int64_t *bad_chunk);

/* What `dkvm chunklist verify` found, for its JSON document. */
struct dk_chunklist_verdict {
	const char *chunklist;  /* the path as given */
	const char *image;      /* --image as given, or NULL */
	const char *trust_key;  /* --trust-key, or NULL for Apple's key */
	int sig_rc;             /* dk_chunklist_verify_sig()'s return */
	const char *sig_status; /* and its *status */
	int img_rc;             /* dk_chunklist_verify_image()'s return (0 when not run) */
	int64_t bad_chunk;      /* its *bad_chunk, or -1 */
	const char *error;      /* the failure message, or NULL */
};
/* The document `dkvm --json chunklist verify` prints (see dkvm-fetch(1)); the
 * second when the chunklist (or the trust key) could not be loaded at all. */
json_object *dk_chunklist_verify_to_json(const struct dk_chunklist *cl, const struct dk_chunklist_verdict *v);
json_object *dk_chunklist_error_to_json(const char *path, const char *error);

/* Apple's chunklist signing key, modulus as big-endian bytes (exponent 65537). */
extern const uint8_t dk_apple_chunklist_modulus[256];

/* dk_hex() (lower-case hex of n bytes) lives in util/bytes.h. */
