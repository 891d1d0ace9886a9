#include "fetch/chunklist.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

/* Apple's chunklist key (Apple_EFI_ROM_public_key_1): a public key, e = 65537. */
const uint8_t dk_apple_chunklist_modulus[256] = {
	0xc3, 0xe7, 0x48, 0xca, 0xd9, 0xcd, 0x38, 0x43, 0x29, 0xe1, 0x0e, 0x25,
	0xa9, 0x1e, 0x43, 0xe1, 0xa7, 0x62, 0xff, 0x52, 0x9a, 0xde, 0x57, 0x8c,
	0x93, 0x5b, 0xdd, 0xf9, 0xb1, 0x3f, 0x21, 0x79, 0xd4, 0x85, 0x5e, 0x6f,
	0xc8, 0x9e, 0x9e, 0x29, 0xca, 0x12, 0x51, 0x7d, 0x17, 0xdf, 0xa1, 0xed,
	0xce, 0x0b, 0xeb, 0xf0, 0xea, 0x7b, 0x46, 0x1f, 0xfe, 0x61, 0xd9, 0x4e,
	0x2b, 0xdf, 0x72, 0xc1, 0x96, 0xf8, 0x9a, 0xcd, 0x35, 0x36, 0xb6, 0x44,
	0x06, 0x40, 0x14, 0xda, 0xe2, 0x5a, 0x15, 0xdb, 0x6b, 0xb0, 0x85, 0x2e,
	0xcb, 0xd1, 0x20, 0x91, 0x63, 0x18, 0xd1, 0xcc, 0xde, 0xa3, 0xc8, 0x4c,
	0x92, 0xed, 0x74, 0x3f, 0xc1, 0x76, 0xd0, 0xba, 0xca, 0x92, 0x0d, 0x3f,
	0xcf, 0x31, 0x58, 0xaf, 0xf7, 0x31, 0xf8, 0x8c, 0xe0, 0x62, 0x31, 0x82,
	0xa8, 0xed, 0x67, 0xe6, 0x50, 0x51, 0x5f, 0x75, 0x74, 0x59, 0x09, 0xf0,
	0x7d, 0x41, 0x5f, 0x55, 0xfc, 0x15, 0xa3, 0x56, 0x54, 0xd1, 0x18, 0xc5,
	0x5a, 0x46, 0x2d, 0x37, 0xa3, 0xac, 0xda, 0x08, 0x61, 0x2f, 0x3f, 0x3f,
	0x65, 0x71, 0x76, 0x1e, 0xfc, 0xcb, 0xcc, 0x29, 0x9a, 0xee, 0x99, 0xb3,
	0xa4, 0xfd, 0x62, 0x12, 0xcc, 0xff, 0xf5, 0xef, 0x37, 0xa2, 0xc3, 0x34,
	0xe8, 0x71, 0x19, 0x1f, 0x7e, 0x1c, 0x31, 0x96, 0x0e, 0x01, 0x0a, 0x54,
	0xe8, 0x6f, 0xa3, 0xf6, 0x2e, 0x6d, 0x69, 0x05, 0xe1, 0xcd, 0x57, 0x73,
	0x24, 0x10, 0xa3, 0xeb, 0x0c, 0x6b, 0x4d, 0xef, 0xda, 0xbe, 0x9f, 0x59,
	0xbf, 0x16, 0x18, 0x75, 0x8c, 0x75, 0x1c, 0xd5, 0x6c, 0xef, 0x85, 0x1d,
	0x1c, 0x0e, 0xaa, 0x1c, 0x55, 0x8e, 0x37, 0xac, 0x10, 0x8d, 0xa9, 0x08,
	0x98, 0x63, 0xd2, 0x0e, 0x2e, 0x7e, 0x4b, 0xf4, 0x75, 0xec, 0x66, 0xfe,
	0x6b, 0x3e, 0xfd, 0xcf,
};

int dk_chunklist_parse(const void *data, size_t len, const char *name, struct dk_chunklist *cl)
{
	const uint8_t *p = data;
	memset(cl, 0, sizeof *cl);
	if (len < DK_CNKL_HEADER_SIZE)
		return dk_fail("%s: chunklist: truncated header (%zu bytes)", name, len);
	if (memcmp(p, "CNKL", 4) != 0)
		return dk_fail("%s: chunklist: bad magic (not a chunklist)", name);
	uint32_t hsize = dk_le32(p + 4);
	if (hsize != DK_CNKL_HEADER_SIZE)
		return dk_fail("%s: chunklist: header size %u, expected 36", name, hsize);
	cl->version = p[8];
	cl->chunk_method = p[9];
	cl->sig_method = p[10];
	if (cl->version != 1)
		return dk_fail("%s: chunklist: unsupported version %u", name, cl->version);
	if (cl->chunk_method != 1)
		return dk_fail("%s: chunklist: unsupported chunk method %u (only 1, SHA-256)", name, cl->chunk_method);
	if (cl->sig_method > 2)
		return dk_fail("%s: chunklist: unknown signature method %u", name, cl->sig_method);
	uint64_t count = dk_le64(p + 12), coff = dk_le64(p + 20), soff = dk_le64(p + 28);
	if (count == 0)
		return dk_fail("%s: chunklist: no chunks", name);
	if (coff != DK_CNKL_HEADER_SIZE)
		return dk_fail("%s: chunklist: chunk offset %llu, expected 36", name, (unsigned long long)coff);
	if (count > (len - DK_CNKL_HEADER_SIZE) / DK_CNKL_ENTRY_SIZE)
		return dk_fail("%s: chunklist: %llu chunks do not fit in %zu bytes", name, (unsigned long long)count,
			       len);
	uint64_t end = DK_CNKL_HEADER_SIZE + count * DK_CNKL_ENTRY_SIZE;
	if (soff != end)
		return dk_fail("%s: chunklist: signature offset %llu, expected %llu", name, (unsigned long long)soff,
			       (unsigned long long)end);
	size_t want_sig = cl->sig_method == 1 ? 256 : cl->sig_method == 2 ? 32 : 0;
	if (len - end != want_sig)
		return dk_fail("%s: chunklist: %zu bytes after the entries, expected %zu for signature method %u", name,
			       (size_t)(len - end), want_sig, cl->sig_method);
	cl->count = count;
	cl->chunks = dk_calloc(count, sizeof *cl->chunks);
	uint64_t off = 0;
	for (uint64_t i = 0; i < count; i++) {
		const uint8_t *e = p + DK_CNKL_HEADER_SIZE + i * DK_CNKL_ENTRY_SIZE;
		cl->chunks[i].offset = off;
		cl->chunks[i].size = dk_le32(e);
		if (cl->chunks[i].size == 0) {
			dk_chunklist_free(cl);
			return dk_fail("%s: chunklist: chunk %llu has size 0", name, (unsigned long long)i);
		}
		memcpy(cl->chunks[i].sha256, e + 4, 32);
		off += cl->chunks[i].size;
	}
	cl->image_size = off;
	if (dk_sha256(p, end, cl->digest) < 0 || dk_sha256(p, len, cl->file_sha256) < 0) {
		dk_chunklist_free(cl);
		return -1;
	}
	if (want_sig) {
		cl->sig = dk_malloc(want_sig);
		memcpy(cl->sig, p + end, want_sig);
		cl->sig_len = want_sig;
	}
	return 0;
}

int dk_chunklist_load(const char *path, struct dk_chunklist *cl)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	memset(cl, 0, sizeof *cl);
	if (dk_read_file(path, &data, &len, 64u << 20) < 0)
		return -1;
	return dk_chunklist_parse(data, len, path, cl);
}

void dk_chunklist_free(struct dk_chunklist *cl)
{
	free(cl->chunks);
	free(cl->sig);
	memset(cl, 0, sizeof *cl);
}

static EVP_PKEY *apple_key(void)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *n = BN_bin2bn(dk_apple_chunklist_modulus, sizeof dk_apple_chunklist_modulus, NULL);
	BIGNUM *e = BN_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!bld || !n || !e || !ctx || !BN_set_word(e, 65537) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) || !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		pkey = NULL;
		dk_fail("Apple chunklist key: OpenSSL could not build the RSA key");
	}
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *pem_key(const char *path)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (dk_read_file(path, &data, &len, 1 << 20) < 0)
		return NULL;
	EVP_PKEY *pkey = NULL;
	OSSL_DECODER_CTX *dctx =
		OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, "RSA", EVP_PKEY_PUBLIC_KEY, NULL, NULL);
	const unsigned char *ptr = (const unsigned char *)data;
	size_t left = len;
	if (!dctx || OSSL_DECODER_from_data(dctx, &ptr, &left) != 1 || !pkey) {
		OSSL_DECODER_CTX_free(dctx);
		EVP_PKEY_free(pkey);
		dk_fail("%s: not a PEM RSA public key (make one with 'openssl rsa -pubout')", path);
		return NULL;
	}
	OSSL_DECODER_CTX_free(dctx);
	if (EVP_PKEY_get_bits(pkey) < 1024) {
		EVP_PKEY_free(pkey);
		dk_fail("%s: RSA key too small", path);
		return NULL;
	}
	return pkey;
}

int dk_chunklist_check_key(const char *trust_key)
{
	EVP_PKEY *k = pem_key(trust_key);
	if (!k)
		return -1;
	EVP_PKEY_free(k);
	return 0;
}

int dk_chunklist_verify_sig(const struct dk_chunklist *cl, const char *name, const char *trust_key,
			    bool allow_unsigned, const char **status)
{
	if (status)
		*status = cl->sig_method == 1 ? "signed" : cl->sig_method == 2 ? "digest" : "unsigned";
	if (cl->sig_method == 0) {
		if (allow_unsigned)
			return 0;
		return dk_fail("%s: chunklist is not signed", name);
	}
	if (cl->sig_method == 2) {
		if (memcmp(cl->sig, cl->digest, 32) != 0)
			return dk_fail("%s: chunklist: stored digest does not match its content", name);
		if (!allow_unsigned)
			return dk_fail("%s: chunklist has no signature (digest only)", name);
		return 0;
	}
	EVP_PKEY *pkey = trust_key ? pem_key(trust_key) : apple_key();
	if (!pkey)
		return -1;
	size_t klen = (size_t)EVP_PKEY_get_size(pkey);
	if (klen != cl->sig_len) {
		EVP_PKEY_free(pkey);
		return dk_fail("%s: chunklist: %zu-byte signature, but the %s key is %zu bytes", name, cl->sig_len,
			       trust_key ? trust_key : "Apple", klen);
	}
	/* stored little-endian: reverse to the big-endian PKCS#1 octet string */
	uint8_t sig[512];
	for (size_t i = 0; i < cl->sig_len; i++)
		sig[i] = cl->sig[cl->sig_len - 1 - i];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	int ok = ctx && EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		 EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
		 EVP_PKEY_verify(ctx, sig, cl->sig_len, cl->digest, 32) == 1;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	if (!ok)
		return dk_fail("%s: chunklist signature does not verify with %s%s", name,
			       trust_key ? "the key in " : "Apple's key", trust_key ? trust_key : "");
	return 0;
}

int dk_chunklist_verify_image(const struct dk_chunklist *cl, const char *image, int64_t *bad_chunk)
{
	_cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dk_fail_errno("%s", image);
	struct stat st;
	if (bad_chunk)
		*bad_chunk = -1;
	if (fstat(fd, &st) < 0)
		return dk_fail_errno("%s", image);
	if (S_ISDIR(st.st_mode))
		return dk_fail("%s: is a directory", image);
	uint32_t maxsz = 0;
	for (uint64_t i = 0; i < cl->count; i++)
		if (cl->chunks[i].size > maxsz)
			maxsz = cl->chunks[i].size;
	_cleanup_free_ uint8_t *buf = dk_malloc(maxsz);
	for (uint64_t i = 0; i < cl->count; i++) {
		const struct dk_chunk *c = &cl->chunks[i];
		if ((uint64_t)st.st_size < c->offset + c->size) {
			if (bad_chunk)
				*bad_chunk = (int64_t)i;
			return dk_fail("%s: chunk %llu: image ends at %llu bytes, chunklist expects %llu", image,
				       (unsigned long long)i, (unsigned long long)st.st_size,
				       (unsigned long long)cl->image_size);
		}
		if (dk_pread_all(fd, buf, c->size, (off_t)c->offset) < 0)
			return dk_fail_prefix("%s", image);
		uint8_t h[32];
		if (dk_sha256(buf, c->size, h) < 0)
			return -1;
		if (memcmp(h, c->sha256, 32) != 0) {
			if (bad_chunk)
				*bad_chunk = (int64_t)i;
			return dk_fail("%s: chunk %llu (bytes %llu-%llu): SHA-256 mismatch", image, (unsigned long long)i,
				       (unsigned long long)c->offset, (unsigned long long)(c->offset + c->size - 1));
		}
	}
	if ((uint64_t)st.st_size != cl->image_size) {
		if (bad_chunk)
			*bad_chunk = (int64_t)cl->count;
		return dk_fail("%s: %llu bytes, chunklist expects %llu (trailing data)", image,
			       (unsigned long long)st.st_size, (unsigned long long)cl->image_size);
	}
	return 0;
}
