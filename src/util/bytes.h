/* Byte helpers shared by several areas: random bytes, hex, SHA-256, UUIDs. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Cryptographic random bytes (getrandom, retried on EINTR). 0 or -1 (dk_fail). */
int dk_random_bytes(void *buf, size_t n);

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void dk_hex(const uint8_t *b, size_t n, char *out);

/* SHA-256 of a buffer. 0 or -1 (dk_fail). */
int dk_sha256(const void *data, size_t len, uint8_t out[32]);
/* SHA-256 of what fd reads from its offset to the end. 0 or -1 (dk_fail). */
int dk_sha256_fd(int fd, uint8_t out[32]);
/* SHA-256 of a file's contents. 0 or -1 (dk_fail naming path). */
int dk_sha256_file(const char *path, uint8_t out[32]);

/* UUID text "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" of 16 bytes into out
 * (37 bytes); returns out. Flags: */
#define DK_UUID_UPPER 1u /* upper-case hex */
#define DK_UUID_GUID 2u  /* EFI GUID byte order: the first three fields stored little-endian */
char *dk_uuid_format(const uint8_t u[16], char out[37], unsigned flags);
/* 16 random bytes made a version 4 (RFC 4122 variant) UUID. 0 or -1 (dk_fail). */
int dk_uuid_random(uint8_t u[16]);
/* A version-4 UUID from 16 given random bytes (a planner's entropy). */
void dk_uuid_v4(const uint8_t bytes[16], uint8_t u[16]);

/* Little-endian loads from unaligned bytes. */
static inline uint16_t dk_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t dk_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t dk_le64(const uint8_t *p)
{
	return (uint64_t)dk_le32(p) | (uint64_t)dk_le32(p + 4) << 32;
}
