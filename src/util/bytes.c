#include "util/bytes.h"
#include "util/error.h"

#include <errno.h>
#include <openssl/evp.h>
#include <sys/random.h>

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
