/* Unified diff: split into lines, longest common subsequence by dynamic
 * programming (suffix lengths), then hunks with 3 lines of context. */
#include "util/diff.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct lines {
	const char **p; /* start of each line */
	size_t *len;    /* length including its '\n' (if any) */
	size_t n;
};

static void split(const char *s, struct lines *l)
{
	l->n = 0;
	l->p = NULL;
	l->len = NULL;
	if (!s || !*s)
		return;
	size_t cap = 0;
	for (const char *q = s; *q;) {
		const char *e = strchr(q, '\n');
		size_t n = e ? (size_t)(e - q) + 1 : strlen(q);
		if (l->n == cap) {
			cap = cap ? cap * 2 : 64;
			l->p = dk_realloc(l->p, cap * sizeof *l->p);
			l->len = dk_realloc(l->len, cap * sizeof *l->len);
		}
		l->p[l->n] = q;
		l->len[l->n++] = n;
		q += n;
	}
}

static int line_eq(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
	return a->len[i] == b->len[j] && !memcmp(a->p[i], b->p[j], a->len[i]);
}

enum { OP_EQ, OP_DEL, OP_ADD };

static void put_line(struct dk_buf *o, char c, const char *p, size_t n)
{
	dk_buf_append(o, &c, 1);
	dk_buf_append(o, p, n);
	if (!n || p[n - 1] != '\n')
		dk_buf_puts(o, "\n\\ No newline at end of file\n");
}

char *dk_udiff(const char *a, const char *b, const char *label_a, const char *label_b)
{
	if ((a ? a : "")[0] == 0 && (b ? b : "")[0] == 0 && !a == !b)
		return dk_strdup("");
	if (a && b && !strcmp(a, b))
		return dk_strdup("");
	struct lines A, B;
	split(a, &A);
	split(b, &B);
	/* ops: the edit script as a sequence */
	size_t nops = 0;
	unsigned char *ops = dk_malloc(A.n + B.n + 1);
	size_t *ai = dk_malloc((A.n + B.n + 1) * sizeof *ai), *bj = dk_malloc((A.n + B.n + 1) * sizeof *bj);
	if (A.n > DK_DIFF_MAX_LINES || B.n > DK_DIFF_MAX_LINES) {
		for (size_t i = 0; i < A.n; i++)
			ops[nops] = OP_DEL, ai[nops] = i, bj[nops++] = 0;
		for (size_t j = 0; j < B.n; j++)
			ops[nops] = OP_ADD, ai[nops] = A.n, bj[nops++] = j;
	} else {
		size_t w = B.n + 1;
		uint32_t *t = dk_calloc((A.n + 1) * w, sizeof *t);
		for (size_t i = A.n; i-- > 0;)
			for (size_t j = B.n; j-- > 0;)
				t[i * w + j] = line_eq(&A, i, &B, j) ? t[(i + 1) * w + j + 1] + 1
					: (t[(i + 1) * w + j] >= t[i * w + j + 1] ? t[(i + 1) * w + j] : t[i * w + j + 1]);
		size_t i = 0, j = 0;
		while (i < A.n || j < B.n) {
			if (i < A.n && j < B.n && line_eq(&A, i, &B, j))
				ops[nops] = OP_EQ, ai[nops] = i++, bj[nops++] = j++;
			else if (i < A.n && (j == B.n || t[(i + 1) * w + j] >= t[i * w + j + 1]))
				ops[nops] = OP_DEL, ai[nops] = i++, bj[nops++] = j;
			else
				ops[nops] = OP_ADD, ai[nops] = i, bj[nops++] = j++;
		}
		free(t);
	}
	struct dk_buf o = {0};
	dk_buf_printf(&o, "--- %s\n+++ %s\n", a ? label_a : "/dev/null", b ? label_b : "/dev/null");
	const size_t ctx = 3;
	size_t k = 0;
	while (k < nops) {
		while (k < nops && ops[k] == OP_EQ)
			k++;
		if (k == nops)
			break;
		size_t start = k > ctx ? k - ctx : 0;
		/* extend the hunk while the next change is within 2*ctx equal lines */
		size_t end = k;
		for (;;) {
			while (end < nops && ops[end] != OP_EQ)
				end++;
			size_t eq = end;
			while (eq < nops && ops[eq] == OP_EQ)
				eq++;
			if (eq < nops && eq - end <= 2 * ctx) {
				end = eq;
				continue;
			}
			end = end + ctx < nops ? end + ctx : nops;
			if (end > eq)
				end = eq;
			break;
		}
		size_t na = 0, nb = 0;
		for (size_t x = start; x < end; x++) {
			if (ops[x] != OP_ADD)
				na++;
			if (ops[x] != OP_DEL)
				nb++;
		}
		size_t sa = ai[start] + (na ? 1 : 0), sb = bj[start] + (nb ? 1 : 0);
		dk_buf_printf(&o, "@@ -%zu", sa);
		if (na != 1)
			dk_buf_printf(&o, ",%zu", na);
		dk_buf_printf(&o, " +%zu", sb);
		if (nb != 1)
			dk_buf_printf(&o, ",%zu", nb);
		dk_buf_puts(&o, " @@\n");
		for (size_t x = start; x < end; x++) {
			if (ops[x] == OP_EQ)
				put_line(&o, ' ', A.p[ai[x]], A.len[ai[x]]);
			else if (ops[x] == OP_DEL)
				put_line(&o, '-', A.p[ai[x]], A.len[ai[x]]);
			else
				put_line(&o, '+', B.p[bj[x]], B.len[bj[x]]);
		}
		k = end;
	}
	free(ops);
	free(ai);
	free(bj);
	free(A.p);
	free(A.len);
	free(B.p);
	free(B.len);
	return o.data ? o.data : dk_strdup("");
}
