/* Raw (sparse) disk -> qcow2 version 2, 64 KiB clusters, written in one
 * sequential pass: header, L1 table, refcount table, refcount blocks, L2
 * tables, then the non-zero data clusters in guest order. */
#include "image/qcow2.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#define CB 16
#define CS (1u << CB)
#define L2_ENTRIES (CS / 8)
#define RC_PER_BLOCK (CS / 2)
#define OFLAG_COPIED (1ull << 63)

static void be32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i)); }
static void be64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i)); }
static void be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

static bool zero_buf(const uint8_t *p, size_t n) { return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1)); }

int dk_qcow2_from_raw(int in, uint64_t size, int out, const char *what)
{
	uint64_t nclusters = div_up(size, CS);
	/* which guest clusters hold data */
	_cleanup_free_ uint8_t *used = dk_calloc(nclusters ? nclusters : 1, 1);
	_cleanup_free_ uint8_t *buf = dk_malloc(CS);
	uint64_t ndata = 0;
	off_t pos = 0;
	while ((uint64_t)pos < size) {
		off_t d = lseek(in, pos, SEEK_DATA);
		if (d < 0) {
			if (errno == ENXIO)
				break;
			return dk_fail_errno("%s: seek", what);
		}
		off_t h = lseek(in, d, SEEK_HOLE);
		if (h < 0)
			return dk_fail_errno("%s: seek", what);
		for (uint64_t c = (uint64_t)d / CS; c * CS < (uint64_t)h && c < nclusters; c++) {
			if (used[c])
				continue;
			size_t len = size - c * CS < CS ? (size_t)(size - c * CS) : CS;
			if (dk_pread_all(in, buf, len, (off_t)(c * CS)) < 0)
				return dk_fail_prefix("%s", what);
			if (!zero_buf(buf, len)) {
				used[c] = 1;
				ndata++;
			}
		}
		pos = h;
	}
	uint64_t l1_size = div_up(nclusters, L2_ENTRIES);
	uint64_t nl2 = 0;
	for (uint64_t i = 0; i < l1_size; i++)
		for (uint64_t c = i * L2_ENTRIES; c < (i + 1) * L2_ENTRIES && c < nclusters; c++)
			if (used[c]) {
				nl2++;
				break;
			}
	uint64_t l1c = div_up(l1_size * 8, CS);
	if (!l1c)
		l1c = 1;
	uint64_t rbc = 1, rtc = 1, total;
	for (;;) {
		total = 1 + l1c + rtc + rbc + nl2 + ndata;
		uint64_t rbc2 = div_up(total, RC_PER_BLOCK), rtc2 = div_up(rbc2 * 8, CS);
		if (rbc2 <= rbc && rtc2 <= rtc)
			break;
		rbc = rbc2 > rbc ? rbc2 : rbc;
		rtc = rtc2 > rtc ? rtc2 : rtc;
	}
	uint64_t l1_off = CS, rt_off = l1_off + l1c * CS, rb_off = rt_off + rtc * CS, l2_off = rb_off + rbc * CS,
		 data_off = l2_off + nl2 * CS;
	if (ftruncate(out, 0) < 0 || ftruncate(out, (off_t)(total * CS)) < 0)
		return dk_fail_errno("%s: set size", what);
	/* header */
	uint8_t hdr[72] = {0};
	memcpy(hdr, "QFI\xfb", 4);
	be32(hdr + 4, 2);
	be32(hdr + 20, CB);
	be64(hdr + 24, size);
	be32(hdr + 36, (uint32_t)l1_size);
	be64(hdr + 40, l1_off);
	be64(hdr + 48, rt_off);
	be32(hdr + 56, (uint32_t)rtc);
	if (dk_pwrite_all(out, hdr, sizeof hdr, 0) < 0)
		return dk_fail_prefix("%s", what);
	/* refcount table and blocks: every cluster up to `total` is used once */
	_cleanup_free_ uint8_t *rt = dk_calloc(rtc, CS);
	for (uint64_t i = 0; i < rbc; i++)
		be64(rt + 8 * i, rb_off + i * CS);
	if (dk_pwrite_all(out, rt, rtc * CS, (off_t)rt_off) < 0)
		return dk_fail_prefix("%s", what);
	_cleanup_free_ uint8_t *rb = dk_calloc(rbc, CS);
	for (uint64_t i = 0; i < total; i++)
		be16(rb + 2 * i, 1);
	if (dk_pwrite_all(out, rb, rbc * CS, (off_t)rb_off) < 0)
		return dk_fail_prefix("%s", what);
	/* L1, L2 and data */
	_cleanup_free_ uint8_t *l1 = dk_calloc(l1c, CS);
	_cleanup_free_ uint8_t *l2 = dk_malloc(CS);
	uint64_t next_l2 = l2_off, next_data = data_off;
	for (uint64_t i = 0; i < l1_size; i++) {
		bool any = false;
		memset(l2, 0, CS);
		for (uint64_t k = 0; k < L2_ENTRIES; k++) {
			uint64_t c = i * L2_ENTRIES + k;
			if (c >= nclusters || !used[c])
				continue;
			size_t len = size - c * CS < CS ? (size_t)(size - c * CS) : CS;
			memset(buf, 0, CS);
			if (dk_pread_all(in, buf, len, (off_t)(c * CS)) < 0 ||
			    dk_pwrite_all(out, buf, CS, (off_t)next_data) < 0)
				return dk_fail_prefix("%s", what);
			be64(l2 + 8 * k, next_data | OFLAG_COPIED);
			next_data += CS;
			any = true;
		}
		if (!any)
			continue;
		if (dk_pwrite_all(out, l2, CS, (off_t)next_l2) < 0)
			return dk_fail_prefix("%s", what);
		be64(l1 + 8 * i, next_l2 | OFLAG_COPIED);
		next_l2 += CS;
	}
	if (dk_pwrite_all(out, l1, l1c * CS, (off_t)l1_off) < 0)
		return dk_fail_prefix("%s", what);
	if (next_data != total * CS || next_l2 != data_off)
		return dk_fail("%s: qcow2 layout mismatch (internal error)", what);
	return 0;
}
