/* Chunk decoders: ADC (ours), LZFSE/LZVN (lzfse.c), zlib (libdeflate),
 * bzip2 (libbz2), LZMA (liblzma: .xz or .lzma container). */
#include "dmg/dmg.h"
#include "util/error.h"
#include "util/mem.h"

#include <bzlib.h>
#include <libdeflate.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>

/* ADC: three kinds of code. 1xxxxxxx: (x + 1) literal bytes follow.
 * 01LLLLLL DDDDDDDD DDDDDDDD: copy L + 4 bytes from distance D + 1.
 * 00LLLLDD DDDDDDDD: copy L + 3 bytes from distance D + 1. */
int dmg_adc_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	size_t i = 0, o = 0;
	while (i < in_len) {
		unsigned b = in[i++];
		if (b & 0x80) {
			size_t n = (b & 0x7f) + 1;
			if (n > in_len - i)
				return dk_fail("adc: literal runs past the input");
			if (n > out_len - o)
				return dk_fail("adc: decodes to more than %zu bytes", out_len);
			memcpy(out + o, in + i, n);
			i += n;
			o += n;
			continue;
		}
		size_t n, d;
		if (b & 0x40) {
			if (in_len - i < 2)
				return dk_fail("adc: truncated code");
			n = (b & 0x3f) + 4;
			d = ((size_t)in[i] << 8 | in[i + 1]) + 1;
			i += 2;
		} else {
			if (in_len - i < 1)
				return dk_fail("adc: truncated code");
			n = ((b >> 2) & 0xf) + 3;
			d = ((size_t)(b & 3) << 8 | in[i]) + 1;
			i += 1;
		}
		if (d > o)
			return dk_fail("adc: back-reference of %zu bytes reaches before the start", d);
		if (n > out_len - o)
			return dk_fail("adc: decodes to more than %zu bytes", out_len);
		if (d >= n) {
			memcpy(out + o, out + o - d, n);
		} else {
			for (size_t k = 0; k < n; k++)
				out[o + k] = out[o + k - d];
		}
		o += n;
	}
	if (o != out_len)
		return dk_fail("adc: decodes to %zu bytes, expected %zu", o, out_len);
	return 0;
}

struct dmg_codec {
	struct libdeflate_decompressor *z;
	lzma_stream xz;
	bool xz_init;
};

struct dmg_codec *dmg_codec_new(void)
{
	struct dmg_codec *c = dk_calloc(1, sizeof *c);
	c->z = libdeflate_alloc_decompressor();
	if (!c->z)
		abort();
	lzma_stream init = LZMA_STREAM_INIT;
	c->xz = init;
	return c;
}

void dmg_codec_free(struct dmg_codec *c)
{
	if (!c)
		return;
	libdeflate_free_decompressor(c->z);
	if (c->xz_init)
		lzma_end(&c->xz);
	free(c);
}

static int decode_zlib(struct dmg_codec *c, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	size_t got = 0;
	enum libdeflate_result r = libdeflate_zlib_decompress(c->z, in, in_len, out, out_len, &got);
	if (r == LIBDEFLATE_INSUFFICIENT_SPACE)
		return dk_fail("zlib: decodes to more than %zu bytes", out_len);
	if (r != LIBDEFLATE_SUCCESS)
		return dk_fail("zlib: corrupt compressed data");
	if (got != out_len)
		return dk_fail("zlib: decodes to %zu bytes, expected %zu", got, out_len);
	return 0;
}

static int decode_bz2(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	if (in_len > UINT32_MAX || out_len > UINT32_MAX)
		return dk_fail("bzip2: chunk too large");
	unsigned int got = (unsigned int)out_len;
	int r = BZ2_bzBuffToBuffDecompress((char *)out, &got, (char *)(uintptr_t)in, (unsigned int)in_len, 0, 0);
	if (r == BZ_OUTBUFF_FULL)
		return dk_fail("bzip2: decodes to more than %zu bytes", out_len);
	if (r == BZ_UNEXPECTED_EOF)
		return dk_fail("bzip2: compressed data truncated");
	if (r == BZ_MEM_ERROR)
		return dk_fail("bzip2: out of memory");
	if (r != BZ_OK)
		return dk_fail("bzip2: corrupt compressed data (error %d)", r);
	if (got != out_len)
		return dk_fail("bzip2: decodes to %u bytes, expected %zu", got, out_len);
	return 0;
}

static int decode_lzma(struct dmg_codec *c, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	/* .xz (what Apple's LZMA writes) or legacy .lzma; memory capped. */
	lzma_ret r = lzma_auto_decoder(&c->xz, 256u << 20, 0);
	if (r != LZMA_OK)
		return dk_fail("lzma: cannot initialise decoder (%d)", (int)r);
	c->xz_init = true;
	c->xz.next_in = in;
	c->xz.avail_in = in_len;
	c->xz.next_out = out;
	c->xz.avail_out = out_len;
	r = lzma_code(&c->xz, LZMA_FINISH);
	size_t got = out_len - c->xz.avail_out;
	if (r == LZMA_STREAM_END) {
		if (got != out_len)
			return dk_fail("lzma: decodes to %zu bytes, expected %zu", got, out_len);
		return 0;
	}
	if (r == LZMA_OK || r == LZMA_BUF_ERROR) {
		if (c->xz.avail_out == 0)
			return dk_fail("lzma: decodes to more than %zu bytes", out_len);
		return dk_fail("lzma: compressed data truncated");
	}
	if (r == LZMA_MEMLIMIT_ERROR)
		return dk_fail("lzma: dictionary too large");
	if (r == LZMA_FORMAT_ERROR)
		return dk_fail("lzma: not .xz or .lzma data");
	return dk_fail("lzma: corrupt compressed data (%d)", (int)r);
}

int dmg_decode_chunk(struct dmg_codec *c, uint32_t type, const uint8_t *in, size_t in_len,
		     uint8_t *out, size_t out_len)
{
	switch (type) {
	case DMG_CHUNK_ZERO:
	case DMG_CHUNK_IGNORE:
		memset(out, 0, out_len);
		return 0;
	case DMG_CHUNK_RAW:
		if (in_len != out_len)
			return dk_fail("raw: %zu stored bytes for %zu", in_len, out_len);
		memcpy(out, in, out_len);
		return 0;
	case DMG_CHUNK_ADC:
		return dmg_adc_decode(in, in_len, out, out_len);
	case DMG_CHUNK_ZLIB:
		return decode_zlib(c, in, in_len, out, out_len);
	case DMG_CHUNK_BZIP2:
		return decode_bz2(in, in_len, out, out_len);
	case DMG_CHUNK_LZFSE:
		return dmg_lzfse_decode(in, in_len, out, out_len);
	case DMG_CHUNK_LZMA:
		return decode_lzma(c, in, in_len, out, out_len);
	}
	return dk_fail("unknown chunk type 0x%08x", type);
}
