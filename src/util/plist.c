#include "util/plist.h"
#include "util/error.h"
#include "util/mem.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int too_deep(const char *name)
{
	return dk_fail("%s: plist nested deeper than %d levels", name, DK_PLIST_MAX_DEPTH);
}

/* The position after the first occurrence of s at or after p, or end. */
static const char *skip_past(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);
	const char *q = (size_t)(end - p) >= n ? memmem(p, (size_t)(end - p), s, n) : NULL;
	return q ? q + n : end;
}

static bool at(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(end - p) >= n && !memcmp(p, s, n);
}

static bool is_tag_end(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '<' || c == '>'; }

/* XML: count open <array>/<dict> tags (not <array/>) minus their closing
 * tags, skipping what an XML plist parser skips: <?...?>, comments, the
 * DOCTYPE (with an internal subset) and CDATA sections. A tag ends at the
 * first '>' (plist tags have no attributes worth quoting). */
static int xml_depth(const char *p, const char *end, const char *name)
{
	long depth = 0;
	while ((p = memchr(p, '<', (size_t)(end - p)))) {
		p++;
		if (at(p, end, "?")) {
			p = skip_past(p, end, "?>");
		} else if (at(p, end, "!--")) {
			p = skip_past(p + 3, end, "-->");
		} else if (at(p, end, "![CDATA[")) {
			p = skip_past(p, end, "]]>");
		} else if (at(p, end, "!DOCTYPE")) {
			while (p < end && *p != '[' && *p != '>')
				p++;
			p = p < end && *p == '[' ? skip_past(p, end, "]>") : p;
		} else if (p < end && *p != '!') {
			bool closing = *p == '/';
			const char *s = p + closing;
			const char *e = s;
			while (e < end && !is_tag_end(*e))
				e++;
			const char *gt = e;
			while (gt < end && *gt != '<' && *gt != '>')
				gt++;
			bool empty = gt < end && *gt == '>' && gt[-1] == '/';
			size_t n = (size_t)(e - s);
			if (empty && n && s[n - 1] == '/')
				n--;
			bool container = (n == 5 && !memcmp(s, "array", 5)) || (n == 4 && !memcmp(s, "dict", 4));
			if (container && closing) {
				if (depth > 0)
					depth--;
			} else if (container && !empty) {
				if (++depth > DK_PLIST_MAX_DEPTH)
					return too_deep(name);
			}
			p = gt;
		}
		if (p >= end)
			break;
	}
	return 0;
}

/* ---- binary plists ("bplist00") ---- */

struct bpl {
	const uint8_t *d;
	size_t len;         /* up to the trailer */
	unsigned off_size;  /* bytes per offset table entry */
	unsigned ref_size;  /* bytes per object reference */
	uint64_t nobj;
	const uint8_t *offsets;
};

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Object i: whether it is a container, and then its references. */
static int bpl_object(const struct bpl *b, uint64_t i, bool *container, const uint8_t **refs, uint64_t *nrefs)
{
	uint64_t off = be(b->offsets + i * b->off_size, b->off_size);
	if (off < 8 || off >= b->len)
		return -1;
	uint8_t m = b->d[off];
	unsigned type = m >> 4;
	/* 0xA array, 0xB ordered set, 0xC set, 0xD dict */
	*container = type >= 0xA && type <= 0xD;
	if (!*container)
		return 0;
	uint64_t count = m & 0xF, pos = off + 1;
	if (count == 0xF) {
		if (pos >= b->len || b->d[pos] >> 4 != 0x1 || (b->d[pos] & 0xF) > 3)
			return -1;
		unsigned n = 1u << (b->d[pos] & 0xF);
		if (b->len - pos - 1 < n)
			return -1;
		count = be(b->d + pos + 1, n);
		pos += 1 + n;
	}
	if (type == 0xD) {
		if (count > UINT64_MAX / 2)
			return -1;
		count *= 2; /* keys, then values */
	}
	if (count > (b->len - pos) / b->ref_size)
		return -1;
	*refs = b->d + pos;
	*nrefs = count;
	return 0;
}

struct frame {
	uint64_t obj, next, nrefs;
	const uint8_t *refs;
	unsigned height; /* of the tallest child so far */
};

static int bin_depth(const uint8_t *d, size_t len, const char *name)
{
	if (len < 8 + 32)
		return dk_fail("%s: not a valid property list (truncated binary plist)", name);
	const uint8_t *t = d + len - 32;
	struct bpl b = {.d = d, .len = len - 32, .off_size = t[6], .ref_size = t[7], .nobj = be(t + 8, 8)};
	uint64_t root = be(t + 16, 8), table = be(t + 24, 8);
	if (b.off_size < 1 || b.off_size > 8 || b.ref_size < 1 || b.ref_size > 8 || b.nobj == 0 || root >= b.nobj ||
	    table < 8 || table > b.len || b.nobj > (b.len - table) / b.off_size)
		return dk_fail("%s: not a valid property list (bad binary plist trailer)", name);
	b.offsets = d + table;

	/* depth-first, each object once: 0 unseen, 1 on the path, 2 done */
	uint8_t *state = dk_calloc((size_t)b.nobj, 1);
	uint8_t *height = dk_calloc((size_t)b.nobj, 1);
	struct frame st[DK_PLIST_MAX_DEPTH];
	size_t sp = 0;
	int r = 0;
	bool c, bad = false;
	if (bpl_object(&b, root, &c, &st[0].refs, &st[0].nrefs) < 0) {
		bad = true;
		goto out;
	}
	if (!c)
		goto out;
	st[0].obj = root;
	st[0].next = st[0].height = 0;
	state[root] = 1;
	sp = 1;
	while (sp) {
		struct frame *f = &st[sp - 1];
		if (f->next == f->nrefs) {
			unsigned h = f->height + 1;
			state[f->obj] = 2;
			height[f->obj] = (uint8_t)h;
			if (--sp)
				st[sp - 1].height = h > st[sp - 1].height ? h : st[sp - 1].height;
			continue;
		}
		uint64_t child = be(f->refs + f->next * b.ref_size, b.ref_size);
		f->next++;
		if (child >= b.nobj) {
			bad = true;
			break;
		}
		if (state[child] == 2) {
			f->height = height[child] > f->height ? height[child] : f->height;
			continue;
		}
		if (state[child] == 1) {
			r = dk_fail("%s: not a valid property list (binary plist container inside itself)", name);
			break;
		}
		struct frame nf = {.obj = child};
		if (bpl_object(&b, child, &c, &nf.refs, &nf.nrefs) < 0) {
			bad = true;
			break;
		}
		if (!c) {
			state[child] = 2;
			continue;
		}
		if (sp == DK_PLIST_MAX_DEPTH) {
			r = too_deep(name);
			break;
		}
		state[child] = 1;
		st[sp++] = nf;
	}
out:
	free(state);
	free(height);
	if (bad)
		return dk_fail("%s: not a valid property list (bad binary plist object table)", name);
	return r;
}

int dk_plist_check_depth(const void *data, size_t len, const char *name)
{
	if (len >= 8 && !memcmp(data, "bplist00", 8))
		return bin_depth(data, len, name);
	return xml_depth(data, (const char *)data + len, name);
}

int dk_plist_parse(const void *data, size_t len, const char *name, plist_t *out)
{
	*out = NULL;
	if (len == 0 || len > UINT32_MAX)
		return dk_fail("%s: not a valid property list (%s)", name, len ? "too large" : "empty");
	if (dk_plist_check_depth(data, len, name) < 0)
		return -1;
	plist_from_memory(data, (uint32_t)len, out);
	if (!*out)
		return dk_fail("%s: not a valid property list", name);
	return 0;
}
