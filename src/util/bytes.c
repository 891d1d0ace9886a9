#include "util/bytes.h"
#include "util/error.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <string.h>
#include <unistd.h>

int dk_random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return dk_fail_errno("getrandom");
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

void dk_hex(const uint8_t *b, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int dk_sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;
	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		return dk_fail("SHA-256: OpenSSL failure");
	return 0;
}

/* what: the name in a read error ("path: why"). */
static int sha256_fd(int fd, uint8_t out[32], const char *what)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return dk_fail("SHA-256: OpenSSL failure");
	}
	size_t bn = 1 << 16;
	uint8_t *buf = dk_malloc(bn);
	for (;;) {
		ssize_t r = read(fd, buf, bn);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			EVP_MD_CTX_free(md);
			free(buf);
			errno = e;
			return dk_fail_errno("%s", what);
		}
		if (r == 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)r);
	}
	free(buf);
	unsigned int n = 32;
	int ok = EVP_DigestFinal_ex(md, out, &n);
	EVP_MD_CTX_free(md);
	return ok == 1 ? 0 : dk_fail("SHA-256: OpenSSL failure");
}

int dk_sha256_fd(int fd, uint8_t out[32])
{
	return sha256_fd(fd, out, "read");
}

int dk_sha256_file(const char *path, uint8_t out[32])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dk_fail_errno("%s", path);
	int r = sha256_fd(fd, out, path);
	close(fd);
	return r;
}

char *dk_uuid_format(const uint8_t u[16], char out[37], unsigned flags)
{
	/* the bytes in text order */
	static const uint8_t be[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	static const uint8_t le[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
	const uint8_t *ord = flags & DK_UUID_GUID ? le : be;
	const char *hx = flags & DK_UUID_UPPER ? "0123456789ABCDEF" : "0123456789abcdef";
	char *o = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hx[u[ord[i]] >> 4];
		*o++ = hx[u[ord[i]] & 15];
	}
	*o = '\0';
	return out;
}

void dk_uuid_v4(const uint8_t bytes[16], uint8_t u[16])
{
	memcpy(u, bytes, 16);
	u[6] = (uint8_t)((u[6] & 0x0F) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3F) | 0x80);
}

int dk_uuid_random(uint8_t u[16])
{
	uint8_t r[16];
	if (dk_random_bytes(r, 16) < 0)
		return -1;
	dk_uuid_v4(r, u);
	return 0;
}
