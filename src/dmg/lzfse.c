/* LZFSE and LZVN decoders, written from the format description:
 *
 * An LZFSE stream is a sequence of blocks, each starting with a 4-byte magic:
 * "bvx$" end of stream, "bvx-" stored bytes, "bvxn" LZVN-compressed bytes,
 * "bvx1"/"bvx2" LZFSE-compressed bytes (literals and L/M/D triples coded with
 * finite-state entropy; v1 stores the symbol frequency tables as plain 16-bit
 * values, v2 packs the header fields into three 64-bit words and the tables
 * into a variable-length bit code). Matches may reach back into earlier blocks
 * of the same stream.
 *
 * Every length, state and distance is checked before it is used: corrupt input
 * yields an error, never an out-of-bounds access.
 */
#include "dmg/dmg.h"
#include "util/bytes.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#define MAGIC_EOS 0x24787662u  /* bvx$ */
#define MAGIC_RAW 0x2d787662u  /* bvx- */
#define MAGIC_V1 0x31787662u   /* bvx1 */
#define MAGIC_V2 0x32787662u   /* bvx2 */
#define MAGIC_LZVN 0x6e787662u /* bvxn */

enum { L_SYMS = 20, M_SYMS = 20, D_SYMS = 64, LIT_SYMS = 256 };
enum { L_STATES = 64, M_STATES = 64, D_STATES = 256, LIT_STATES = 1024 };
enum { MAX_MATCHES = 10000, MAX_LITERALS = 4 * MAX_MATCHES };
#define NFREQ (L_SYMS + M_SYMS + D_SYMS + LIT_SYMS)
#define V1_HEADER_SIZE 772 /* 7 u32, i32, 4 u16, i32, 3 u16, 360 u16 freqs, padded to 4 */

/* Extra bits per L/M/D symbol; base values are the running sums of 1 << bits. */
static const uint8_t l_bits[L_SYMS] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 5, 8};
static const uint8_t m_bits[M_SYMS] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 8, 11};

static void bases(const uint8_t *bits, int n, int32_t *base)
{
	int32_t v = 0;
	for (int i = 0; i < n; i++) {
		base[i] = v;
		v += (int32_t)1 << bits[i];
	}
}

/* ---- backward bit reader ---- */
struct bits {
	uint64_t acc;
	int n;             /* valid bits in acc */
	const uint8_t *p;  /* next byte to consume is p[-1] */
	const uint8_t *lo; /* lower bound */
};

static int bits_init(struct bits *b, int extra, const uint8_t *end, const uint8_t *lo)
{
	int bytes = extra ? 8 : 7;
	if (extra < -7 || extra > 0 || end - lo < bytes)
		return -1;
	b->p = end - bytes;
	b->lo = lo;
	b->acc = 0;
	for (int i = bytes - 1; i >= 0; i--)
		b->acc = b->acc << 8 | b->p[i];
	b->n = extra + bytes * 8;
	if (b->n < 56 || b->n >= 64 || (b->acc >> b->n) != 0)
		return -1;
	return 0;
}

static inline int bits_fill(struct bits *b)
{
	int add = (63 - b->n) & ~7;
	int bytes = add >> 3;
	if (bytes == 0)
		return 0;
	if (b->p - b->lo < bytes)
		return -1;
	b->p -= bytes;
	uint64_t in = 0;
	for (int i = bytes - 1; i >= 0; i--)
		in = in << 8 | b->p[i];
	b->acc = b->acc << add | in;
	b->n += add;
	return 0;
}

static inline uint32_t bits_pull(struct bits *b, int k)
{
	b->n -= k;
	uint32_t r = (uint32_t)(b->acc >> b->n);
	b->acc &= (UINT64_C(1) << b->n) - 1;
	return r;
}

/* ---- FSE tables ---- */
struct sym_entry {
	uint8_t k, sym;
	int16_t delta;
};
struct val_entry {
	uint8_t total, vbits;
	int16_t delta;
	int32_t vbase;
};

static int check_freq(const uint16_t *freq, int nsym, int nstates)
{
	int sum = 0;
	for (int i = 0; i < nsym; i++)
		sum += freq[i];
	return sum > nstates ? -1 : 0;
}

/* For each symbol with frequency f, f consecutive states: the first j0 of
 * them read k bits, the rest k-1 bits, where k makes f << k land in
 * [nstates, 2 * nstates). Returns the number of states filled; the rest
 * (when the frequencies sum to less than nstates) are zero. */
static int build_sym(int nstates, int nsym, const uint16_t *freq, struct sym_entry *t)
{
	memset(t, 0, sizeof *t * (size_t)nstates);
	int nclz = __builtin_clz((unsigned)nstates), pos = 0;
	for (int s = 0; s < nsym; s++) {
		int f = freq[s];
		if (!f)
			continue;
		int k = __builtin_clz((unsigned)f) - nclz;
		int j0 = ((2 * nstates) >> k) - f;
		for (int j = 0; j < f; j++, pos++) {
			struct sym_entry *e = &t[pos];
			e->sym = (uint8_t)s;
			if (j < j0) {
				e->k = (uint8_t)k;
				e->delta = (int16_t)(((f + j) << k) - nstates);
			} else {
				e->k = (uint8_t)(k - 1);
				e->delta = (int16_t)((j - j0) << (k - 1));
			}
		}
	}
	return pos;
}

/* A value table is a symbol table whose symbol indexes the extra-bit count
 * and base of the value. */
static void build_val(int nstates, int nsym, const uint16_t *freq, const uint8_t *vbits,
		      const int32_t *vbase, struct val_entry *t)
{
	struct sym_entry s[D_STATES]; /* the largest value table */
	int filled = build_sym(nstates, nsym, freq, s);
	memset(t, 0, sizeof *t * (size_t)nstates);
	for (int i = 0; i < filled; i++) {
		uint8_t sym = s[i].sym;
		t[i] = (struct val_entry){.total = (uint8_t)(s[i].k + vbits[sym]),
					  .vbits = vbits[sym],
					  .delta = s[i].delta,
					  .vbase = vbase[sym]};
	}
}

static inline uint8_t dec_sym(unsigned *state, const struct sym_entry *t, unsigned mask, struct bits *b)
{
	const struct sym_entry e = t[*state];
	*state = ((unsigned)(e.delta + (int)bits_pull(b, e.k))) & mask;
	return e.sym;
}

static inline int32_t dec_val(unsigned *state, const struct val_entry *t, unsigned mask, struct bits *b)
{
	const struct val_entry e = t[*state];
	uint32_t v = bits_pull(b, e.total);
	*state = ((unsigned)(e.delta + (int)(v >> e.vbits))) & mask;
	return e.vbase + (int32_t)(v & ((1u << e.vbits) - 1));
}

/* ---- headers ---- */
struct hdr {
	uint32_t n_raw, n_literals, n_matches, n_lit_payload, n_lmd_payload;
	int literal_bits, lmd_bits;
	uint16_t lit_state[4], l_state, m_state, d_state;
	uint16_t freq[NFREQ]; /* L, M, D, literal */
};

static int parse_v1(const uint8_t *p, size_t avail, struct hdr *h, size_t *hsize)
{
	if (avail < V1_HEADER_SIZE)
		return dk_fail("lzfse: truncated v1 block header");
	h->n_raw = dk_le32(p + 4);
	h->n_literals = dk_le32(p + 12);
	h->n_matches = dk_le32(p + 16);
	h->n_lit_payload = dk_le32(p + 20);
	h->n_lmd_payload = dk_le32(p + 24);
	h->literal_bits = (int32_t)dk_le32(p + 28);
	for (int i = 0; i < 4; i++)
		h->lit_state[i] = dk_le16(p + 32 + 2 * i);
	h->lmd_bits = (int32_t)dk_le32(p + 40);
	h->l_state = dk_le16(p + 44);
	h->m_state = dk_le16(p + 46);
	h->d_state = dk_le16(p + 48);
	for (size_t i = 0; i < NFREQ; i++)
		h->freq[i] = dk_le16(p + 50 + 2 * i);
	*hsize = V1_HEADER_SIZE;
	return 0;
}

/* v2 frequency code, read LSB first: x0 -> 0..1 (2 bits), 01 -> 2..3 (3 bits),
 * 011 -> 4..7 (5 bits), 0111 -> 8..23 (8 bits), 1111 -> 24..1047 (14 bits). */
static unsigned freq_code(uint32_t v, int *nbits)
{
	if ((v & 1) == 0) {
		*nbits = 2;
		return (v >> 1) & 1;
	}
	if ((v & 3) == 1) {
		*nbits = 3;
		return 2 + ((v >> 2) & 1);
	}
	if ((v & 7) == 3) {
		*nbits = 5;
		return 4 + ((v >> 3) & 3);
	}
	if ((v & 15) == 7) {
		*nbits = 8;
		return 8 + ((v >> 4) & 15);
	}
	*nbits = 14;
	return 24 + ((v >> 4) & 0x3ff);
}

static int parse_v2(const uint8_t *p, size_t avail, struct hdr *h, size_t *hsize)
{
	if (avail < 32)
		return dk_fail("lzfse: truncated v2 block header");
	h->n_raw = dk_le32(p + 4);
	uint64_t f0 = dk_le64(p + 8), f1 = dk_le64(p + 16), f2 = dk_le64(p + 24);
	h->n_literals = (uint32_t)(f0 & 0xfffff);
	h->n_lit_payload = (uint32_t)((f0 >> 20) & 0xfffff);
	h->n_matches = (uint32_t)((f0 >> 40) & 0xfffff);
	h->literal_bits = (int)((f0 >> 60) & 7) - 7;
	for (int i = 0; i < 4; i++)
		h->lit_state[i] = (uint16_t)((f1 >> (10 * i)) & 0x3ff);
	h->n_lmd_payload = (uint32_t)((f1 >> 40) & 0xfffff);
	h->lmd_bits = (int)((f1 >> 60) & 7) - 7;
	uint32_t size = (uint32_t)(f2 & 0xffffffff);
	h->l_state = (uint16_t)((f2 >> 32) & 0x3ff);
	h->m_state = (uint16_t)((f2 >> 42) & 0x3ff);
	h->d_state = (uint16_t)((f2 >> 52) & 0x3ff);
	if (size < 32 || size > avail)
		return dk_fail("lzfse: v2 block header size %u is invalid", size);
	memset(h->freq, 0, sizeof h->freq);
	size_t pos = 32;
	if (size > 32) {
		uint32_t acc = 0;
		int nacc = 0;
		for (int i = 0; i < NFREQ; i++) {
			while (pos < size && nacc + 8 <= 32) {
				acc |= (uint32_t)p[pos++] << nacc;
				nacc += 8;
			}
			int nb;
			unsigned v = freq_code(acc, &nb);
			if (nb > nacc)
				return dk_fail("lzfse: v2 frequency tables truncated");
			h->freq[i] = (uint16_t)v;
			acc = nb >= 32 ? 0 : acc >> nb;
			nacc -= nb;
		}
		if (nacc >= 8 || pos != size)
			return dk_fail("lzfse: v2 frequency tables do not fill the header");
	}
	*hsize = size;
	return 0;
}

struct tables {
	struct sym_entry lit[LIT_STATES];
	struct val_entry l[L_STATES], m[M_STATES], d[D_STATES];
	uint8_t literals[MAX_LITERALS + 64];
};

/* Decode one bvx1/bvx2 block whose header is h, payload at pl; output at
 * out[*opos .. *opos + n_raw), matches may reach back to out[0]. */
static int decode_fse_block(const struct hdr *h, const uint8_t *in, const uint8_t *pl, uint8_t *out,
			    size_t *opos, size_t out_len, struct tables *t)
{
	if (h->n_literals > MAX_LITERALS || h->n_matches > MAX_MATCHES)
		return dk_fail("lzfse: block with %u literals and %u matches exceeds the format's limits",
			       h->n_literals, h->n_matches);
	for (int i = 0; i < 4; i++)
		if (h->lit_state[i] >= LIT_STATES)
			return dk_fail("lzfse: bad literal state");
	if (h->l_state >= L_STATES || h->m_state >= M_STATES || h->d_state >= D_STATES)
		return dk_fail("lzfse: bad L/M/D state");
	const uint16_t *lf = h->freq, *mf = lf + L_SYMS, *df = mf + M_SYMS, *litf = df + D_SYMS;
	if (check_freq(lf, L_SYMS, L_STATES) || check_freq(mf, M_SYMS, M_STATES) ||
	    check_freq(df, D_SYMS, D_STATES) || check_freq(litf, LIT_SYMS, LIT_STATES))
		return dk_fail("lzfse: frequency table exceeds its state count");
	if (h->n_raw > out_len - *opos)
		return dk_fail("lzfse: block of %u bytes overflows the chunk", h->n_raw);

	uint8_t dbits[D_SYMS];
	int32_t lbase[L_SYMS], mbase[M_SYMS], dbase[D_SYMS];
	for (int i = 0; i < D_SYMS; i++)
		dbits[i] = (uint8_t)(i / 4);
	bases(l_bits, L_SYMS, lbase);
	bases(m_bits, M_SYMS, mbase);
	bases(dbits, D_SYMS, dbase);
	build_sym(LIT_STATES, LIT_SYMS, litf, t->lit);
	build_val(L_STATES, L_SYMS, lf, l_bits, lbase, t->l);
	build_val(M_STATES, M_SYMS, mf, m_bits, mbase, t->m);
	build_val(D_STATES, D_SYMS, df, dbits, dbase, t->d);

	/* literals: four interleaved states, read backwards from the end of
	 * the literal payload */
	struct bits b;
	const uint8_t *lit_end = pl + h->n_lit_payload;
	if (bits_init(&b, h->literal_bits, lit_end, in) < 0)
		return dk_fail("lzfse: bad literal stream");
	unsigned s[4] = {h->lit_state[0], h->lit_state[1], h->lit_state[2], h->lit_state[3]};
	uint32_t nlit = (h->n_literals + 3) & ~3u;
	for (uint32_t i = 0; i < nlit; i += 4) {
		if (bits_fill(&b) < 0)
			return dk_fail("lzfse: literal stream truncated");
		for (int j = 0; j < 4; j++)
			t->literals[i + j] = dec_sym(&s[j], t->lit, LIT_STATES - 1, &b);
	}

	/* L, M, D triples, read backwards from the end of the LMD payload */
	const uint8_t *lmd_end = lit_end + h->n_lmd_payload;
	if (bits_init(&b, h->lmd_bits, lmd_end, lit_end) < 0)
		return dk_fail("lzfse: bad match stream");
	unsigned ls = h->l_state, ms = h->m_state, ds = h->d_state;
	const uint8_t *lit = t->literals, *lit_stop = t->literals + h->n_literals;
	size_t o = *opos, end = *opos + h->n_raw;
	int64_t D = -1;
	for (uint32_t i = 0; i < h->n_matches; i++) {
		if (bits_fill(&b) < 0)
			return dk_fail("lzfse: match stream truncated");
		int32_t L = dec_val(&ls, t->l, L_STATES - 1, &b);
		int32_t M = dec_val(&ms, t->m, M_STATES - 1, &b);
		int32_t nd = dec_val(&ds, t->d, D_STATES - 1, &b);
		if (nd)
			D = nd;
		if ((size_t)L > (size_t)(lit_stop - lit))
			return dk_fail("lzfse: match uses more literals than the block has");
		if ((size_t)L + (size_t)M > end - o)
			return dk_fail("lzfse: match runs past the end of the block");
		memcpy(out + o, lit, (size_t)L);
		o += (size_t)L;
		lit += L;
		if (M) {
			if (D <= 0 || (uint64_t)D > o)
				return dk_fail("lzfse: match distance %lld reaches before the start", (long long)D);
			size_t d = (size_t)D;
			if (d >= (size_t)M) {
				memcpy(out + o, out + o - d, (size_t)M);
			} else {
				for (int32_t k = 0; k < M; k++)
					out[o + (size_t)k] = out[o + (size_t)k - d];
			}
			o += (size_t)M;
		}
	}
	if (o != end)
		return dk_fail("lzfse: block decodes to %zu bytes, header says %u", o - *opos, h->n_raw);
	*opos = o;
	return 0;
}

/* ---- LZVN ---- */

/* Decode LZVN from in into out[*opos .. out_end); matches may reach back to
 * out[0]. Stops at the end-of-stream opcode or when out_end is reached.
 * *ipos receives the input consumed. */
static int lzvn_run(const uint8_t *in, size_t in_len, size_t *ipos, uint8_t *out, size_t *opos, size_t out_end)
{
	size_t i = 0, o = *opos, D = 0;
	while (o < out_end) {
		if (i >= in_len)
			return dk_fail("lzvn: input ends after %zu bytes of output", o - *opos);
		unsigned op = in[i];
		size_t L = 0, M = 0, oplen = 1;
		bool newd = false;
		size_t nd = 0;
		if (op >= 0xe0) {
			if (op == 0xe0 || op == 0xf0) {
				if (in_len - i < 2)
					return dk_fail("lzvn: truncated opcode");
				oplen = 2;
				if (op == 0xe0)
					L = (size_t)in[i + 1] + 16;
				else
					M = (size_t)in[i + 1] + 16;
			} else if (op < 0xf0) {
				L = op & 0xf;
			} else {
				M = op & 0xf;
			}
		} else if (op >= 0xa0 && op < 0xc0) { /* medium distance: 101LLMMM DDDDDDMM DDDDDDDD */
			if (in_len - i < 3)
				return dk_fail("lzvn: truncated opcode");
			oplen = 3;
			unsigned w = in[i + 1] | (unsigned)in[i + 2] << 8;
			L = (op >> 3) & 3;
			M = (((op & 7) << 2) | (w & 3)) + 3;
			nd = w >> 2;
			newd = true;
		} else if ((op >= 0x70 && op < 0x80) || (op >= 0xd0 && op < 0xe0)) {
			return dk_fail("lzvn: undefined opcode 0x%02x", op);
		} else if ((op & 7) == 6) { /* LLMMM110: previous distance; L=0 forms are special */
			if (op < 0x40) {
				if (op == 0x06)
					break; /* end of stream */
				if (op == 0x0e || op == 0x16) {
					i++;
					continue; /* nop */
				}
				return dk_fail("lzvn: undefined opcode 0x%02x", op);
			}
			L = op >> 6;
			M = ((op >> 3) & 7) + 3;
		} else if ((op & 7) == 7) { /* LLMMM111 DDDDDDDD DDDDDDDD */
			if (in_len - i < 3)
				return dk_fail("lzvn: truncated opcode");
			oplen = 3;
			L = op >> 6;
			M = ((op >> 3) & 7) + 3;
			nd = in[i + 1] | (size_t)in[i + 2] << 8;
			newd = true;
		} else { /* LLMMMDDD DDDDDDDD */
			if (in_len - i < 2)
				return dk_fail("lzvn: truncated opcode");
			oplen = 2;
			L = op >> 6;
			M = ((op >> 3) & 7) + 3;
			nd = (size_t)(op & 7) << 8 | in[i + 1];
			newd = true;
		}
		i += oplen;
		if (L > in_len - i)
			return dk_fail("lzvn: literal runs past the input");
		if (L + M > out_end - o)
			return dk_fail("lzvn: output runs past the end of the block");
		memcpy(out + o, in + i, L);
		i += L;
		o += L;
		if (newd)
			D = nd;
		if (M) {
			if (D == 0 || D > o)
				return dk_fail("lzvn: match distance %zu reaches before the start", D);
			if (D >= M) {
				memcpy(out + o, out + o - D, M);
			} else {
				for (size_t k = 0; k < M; k++)
					out[o + k] = out[o + k - D];
			}
			o += M;
		}
	}
	*ipos = i;
	*opos = o;
	return 0;
}

int dmg_lzvn_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, size_t *in_used)
{
	size_t ip = 0, op = 0;
	if (lzvn_run(in, in_len, &ip, out, &op, out_len) < 0)
		return -1;
	if (op != out_len)
		return dk_fail("lzvn: stream ends after %zu of %zu bytes", op, out_len);
	if (in_used)
		*in_used = ip;
	return 0;
}

int dmg_lzfse_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	size_t ip = 0, op = 0;
	struct tables *t = NULL;
	int rc = -1;
	for (;;) {
		if (in_len - ip < 4) {
			dk_fail("lzfse: stream truncated (no end-of-stream block)");
			goto out;
		}
		uint32_t magic = dk_le32(in + ip);
		size_t avail = in_len - ip;
		if (magic == MAGIC_EOS)
			break;
		if (magic == MAGIC_RAW) {
			if (avail < 8) {
				dk_fail("lzfse: truncated block header");
				goto out;
			}
			size_t n = dk_le32(in + ip + 4);
			if (n > avail - 8) {
				dk_fail("lzfse: stored block runs past the input");
				goto out;
			}
			if (n > out_len - op) {
				dk_fail("lzfse: stored block overflows the chunk");
				goto out;
			}
			memcpy(out + op, in + ip + 8, n);
			op += n;
			ip += 8 + n;
		} else if (magic == MAGIC_LZVN) {
			if (avail < 12) {
				dk_fail("lzfse: truncated block header");
				goto out;
			}
			size_t nraw = dk_le32(in + ip + 4), npay = dk_le32(in + ip + 8);
			if (npay > avail - 12) {
				dk_fail("lzfse: lzvn block runs past the input");
				goto out;
			}
			if (nraw > out_len - op) {
				dk_fail("lzfse: lzvn block overflows the chunk");
				goto out;
			}
			size_t used = 0, o = op;
			if (lzvn_run(in + ip + 12, npay, &used, out, &o, op + nraw) < 0)
				goto out;
			if (o != op + nraw) {
				dk_fail("lzfse: lzvn block decodes to %zu bytes, header says %zu", o - op, nraw);
				goto out;
			}
			op = o;
			ip += 12 + npay;
		} else if (magic == MAGIC_V1 || magic == MAGIC_V2) {
			struct hdr h = {0};
			size_t hs = 0;
			if ((magic == MAGIC_V1 ? parse_v1(in + ip, avail, &h, &hs) : parse_v2(in + ip, avail, &h, &hs)) < 0)
				goto out;
			if ((uint64_t)h.n_lit_payload + h.n_lmd_payload > avail - hs) {
				dk_fail("lzfse: compressed block runs past the input");
				goto out;
			}
			if (!t)
				t = malloc(sizeof *t);
			if (!t) {
				dk_fail("lzfse: out of memory");
				goto out;
			}
			if (decode_fse_block(&h, in, in + ip + hs, out, &op, out_len, t) < 0)
				goto out;
			ip += hs + h.n_lit_payload + h.n_lmd_payload;
		} else {
			dk_fail("lzfse: bad block magic 0x%08x at offset %zu", magic, ip);
			goto out;
		}
	}
	if (op != out_len) {
		dk_fail("lzfse: stream decodes to %zu bytes, expected %zu", op, out_len);
		goto out;
	}
	rc = 0;
out:
	free(t);
	return rc;
}
