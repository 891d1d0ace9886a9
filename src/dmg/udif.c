/* UDIF reader: koly trailer, XML property list, 'mish' block tables. */
#include "dmg/dmg.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/plist.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <plist/plist.h>

#define XML_MAX (64u << 20)
#define MAX_SECTORS (UINT64_C(1) << 41) /* 1 PiB */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

uint32_t dmg_cksum_crc32(const struct dmg_checksum *c)
{
	return be32(c->data);
}

static void read_cksum(struct dmg_checksum *c, const uint8_t *p)
{
	c->type = be32(p);
	c->bits = be32(p + 4);
	memcpy(c->data, p + 8, 128);
}

const char *dmg_chunk_type_name(uint32_t type)
{
	switch (type) {
	case DMG_CHUNK_ZERO: return "zero";
	case DMG_CHUNK_RAW: return "raw";
	case DMG_CHUNK_IGNORE: return "ignore";
	case DMG_CHUNK_COMMENT: return "comment";
	case DMG_CHUNK_ADC: return "adc";
	case DMG_CHUNK_ZLIB: return "zlib";
	case DMG_CHUNK_BZIP2: return "bzip2";
	case DMG_CHUNK_LZFSE: return "lzfse";
	case DMG_CHUNK_LZMA: return "lzma";
	case DMG_CHUNK_TERM: return "terminator";
	}
	return NULL;
}

const char *dmg_variant_name(uint32_t variant)
{
	switch (variant) {
	case 1: return "device image";
	case 2: return "partition image";
	}
	return "unknown";
}

static bool is_compressed(uint32_t t)
{
	return t == DMG_CHUNK_ADC || t == DMG_CHUNK_ZLIB || t == DMG_CHUNK_BZIP2 ||
	       t == DMG_CHUNK_LZFSE || t == DMG_CHUNK_LZMA;
}

int dmg_parse_koly(struct dmg_image *img, const uint8_t *k)
{
	const char *p = img->path ? img->path : "image";
	if (memcmp(k, "koly", 4) != 0)
		return dk_fail("%s: not a UDIF image (no 'koly' trailer in the last 512 bytes)", p);
	img->version = be32(k + 0x04);
	img->header_size = be32(k + 0x08);
	img->flags = be32(k + 0x0c);
	img->running_data_fork_offset = be64(k + 0x10);
	img->data_fork_offset = be64(k + 0x18);
	img->data_fork_length = be64(k + 0x20);
	img->rsrc_fork_offset = be64(k + 0x28);
	img->rsrc_fork_length = be64(k + 0x30);
	img->segment_number = be32(k + 0x38);
	img->segment_count = be32(k + 0x3c);
	memcpy(img->segment_id, k + 0x40, 16);
	read_cksum(&img->data_cksum, k + 0x50);
	img->xml_offset = be64(k + 0xd8);
	img->xml_length = be64(k + 0xe0);
	read_cksum(&img->master_cksum, k + 0x160);
	img->image_variant = be32(k + 0x1e8);
	img->sector_count = be64(k + 0x1ec);

	if (img->version != 4)
		return dk_fail("%s: koly trailer: unsupported version %" PRIu32 " (expected 4)", p, img->version);
	if (img->header_size != 512)
		return dk_fail("%s: koly trailer: bad header size %" PRIu32 " (expected 512)", p, img->header_size);
	if (img->segment_count > 1)
		return dk_fail("%s: segmented UDIF image (segment %" PRIu32 " of %" PRIu32 "): not supported, join the segments first",
			       p, img->segment_number, img->segment_count);
	if (img->image_variant > 2)
		return dk_fail("%s: unknown UDIF image variant %" PRIu32, p, img->image_variant);
	uint64_t body = img->file_size >= 512 ? img->file_size - 512 : 0;
	if (img->data_fork_offset > body || img->data_fork_length > body - img->data_fork_offset)
		return dk_fail("%s: koly trailer: data fork (offset %" PRIu64 ", length %" PRIu64 ") lies outside the file (%" PRIu64 " bytes)",
			       p, img->data_fork_offset, img->data_fork_length, img->file_size);
	if (img->xml_length == 0) {
		if (img->rsrc_fork_length)
			return dk_fail("%s: UDIF image with a resource fork but no XML property list: not supported", p);
		return dk_fail("%s: koly trailer: no XML property list (partition map missing)", p);
	}
	if (img->xml_offset > body || img->xml_length > body - img->xml_offset)
		return dk_fail("%s: koly trailer: XML property list (offset %" PRIu64 ", length %" PRIu64 ") lies outside the file (%" PRIu64 " bytes)",
			       p, img->xml_offset, img->xml_length, img->file_size);
	if (img->xml_length > XML_MAX)
		return dk_fail("%s: koly trailer: XML property list of %" PRIu64 " bytes is absurdly large", p, img->xml_length);
	if (img->sector_count > MAX_SECTORS)
		return dk_fail("%s: koly trailer: sector count %" PRIu64 " is absurd", p, img->sector_count);
	return 0;
}

/* ---- plist ---- */

/* What an XML parser refuses and libplist does not check: bytes that are not
 * UTF-8, and characters XML 1.0 does not allow (controls other than tab, LF
 * and CR; surrogates; U+FFFE, U+FFFF). A raw ESC in a partition name is
 * refused here, not passed on. */
static int check_xml_chars(const char *p, const uint8_t *s, size_t len)
{
	size_t line = 1;
	for (size_t i = 0; i < len;) {
		uint8_t c = s[i];
		if (c < 0x80) {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				return dk_fail("%s: XML property list: line %zu: character 0x%02x is not allowed in XML", p,
					       line, c);
			line += c == '\n';
			i++;
			continue;
		}
		size_t n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		uint32_t cp = c & (0x7fu >> n);
		bool ok = c >= 0xc2 && c <= 0xf4 && len - i >= n;
		for (size_t k = 1; ok && k < n; k++) {
			ok = (s[i + k] & 0xc0) == 0x80;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if (!ok || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return dk_fail("%s: XML property list: line %zu: not valid UTF-8", p, line);
		if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
			return dk_fail("%s: XML property list: line %zu: character U+%04" PRIX32 " is not allowed in XML", p,
				       line, cp);
		i += n;
	}
	return 0;
}

/* The text of a string or integer value, "" for other types, NULL when absent. */
static char *value_text(plist_t v)
{
	if (!v)
		return NULL;
	if (plist_get_node_type(v) == PLIST_UINT) {
		uint64_t u = 0;
		plist_get_uint_val(v, &u);
		return dk_asprintf("%" PRId64, (int64_t)u);
	}
	char *s = NULL;
	if (plist_get_node_type(v) == PLIST_STRING)
		plist_get_string_val(v, &s);
	return s ? s : dk_strdup("");
}

/* Entry idx of the blkx array: its 'mish' table (Data), Name (or CFName),
 * Attributes and ID. */
static int parse_blkx_entry(struct dmg_image *img, const char *p, plist_t e, long long idx)
{
	if (plist_get_node_type(e) != PLIST_DICT)
		return dk_fail("%s: XML property list: blkx entry %lld is not a dict", p, idx);
	plist_t data = plist_dict_get_item(e, "Data");
	if (!data || plist_get_node_type(data) != PLIST_DATA)
		return dk_fail("%s: XML property list: blkx entry %lld has no Data", p, idx);
	_cleanup_free_ char *name = value_text(plist_dict_get_item(e, "Name"));
	if (!name || !*name) {
		free(name);
		name = value_text(plist_dict_get_item(e, "CFName"));
	}
	_cleanup_free_ char *attr = value_text(plist_dict_get_item(e, "Attributes"));
	_cleanup_free_ char *ids = value_text(plist_dict_get_item(e, "ID"));
	long long id = ids ? strtoll(ids, NULL, 0) : idx;
	uint64_t blen = 0;
	const char *bin = plist_get_data_ptr(data, &blen);
	if (!bin)
		blen = 0;
	return dmg_parse_mish(img, (const uint8_t *)bin, (size_t)blen, name, attr, id);
}

static int parse_blkx_array(struct dmg_image *img, const char *p, plist_t root)
{
	plist_t rf = plist_get_node_type(root) == PLIST_DICT ? plist_dict_get_item(root, "resource-fork") : NULL;
	plist_t blkx = rf && plist_get_node_type(rf) == PLIST_DICT ? plist_dict_get_item(rf, "blkx") : NULL;
	if (!blkx || plist_get_node_type(blkx) != PLIST_ARRAY)
		return dk_fail("%s: XML property list: no resource-fork/blkx array (not a UDIF partition map)", p);
	uint32_t n = plist_array_get_size(blkx);
	for (uint32_t i = 0; i < n; i++)
		if (parse_blkx_entry(img, p, plist_array_get_item(blkx, i), i) < 0)
			return -1;
	if (img->nblkx == 0)
		return dk_fail("%s: XML property list: blkx array is empty (no partitions)", p);
	return dmg_finish_layout(img);
}

int dmg_parse_plist(struct dmg_image *img, const char *xml, size_t len)
{
	const char *p = img->path ? img->path : "image";
	if (len > XML_MAX)
		return dk_fail("%s: XML property list too large", p);
	if (len == 0)
		return dk_fail("%s: XML property list: not a valid property list (empty)", p);
	if (check_xml_chars(p, (const uint8_t *)xml, len) < 0)
		return -1;
	_cleanup_free_ char *what = dk_asprintf("%s: XML property list", p);
	if (dk_plist_check_depth(xml, len, what) < 0)
		return -1;
	plist_t root = NULL;
	plist_from_xml(xml, (uint32_t)len, &root);
	if (!root)
		return dk_fail("%s: not a valid property list", what);
	int rc = parse_blkx_array(img, p, root);
	plist_free(root);
	return rc;
}

int dmg_parse_mish(struct dmg_image *img, const uint8_t *d, size_t len, const char *name,
		   const char *attributes, long long id)
{
	const char *p = img->path ? img->path : "image";
	size_t bi = img->nblkx;
	if (len < 0xcc)
		return dk_fail("%s: blkx %zu: block table of %zu bytes is truncated", p, bi, len);
	if (memcmp(d, "mish", 4) != 0)
		return dk_fail("%s: blkx %zu: bad block table magic (expected 'mish')", p, bi);
	struct dmg_blkx b = {0};
	b.version = be32(d + 4);
	b.first_sector = be64(d + 8);
	b.nsect = be64(d + 0x10);
	b.data_offset = be64(d + 0x18);
	b.buffers_needed = be32(d + 0x20);
	b.block_descriptors = be32(d + 0x24);
	read_cksum(&b.cksum, d + 0x40);
	b.nchunks_raw = be32(d + 0xc8);
	if (b.version != 1)
		return dk_fail("%s: blkx %zu: unsupported block table version %" PRIu32, p, bi, b.version);
	if ((uint64_t)b.nchunks_raw * 40 > len - 0xcc)
		return dk_fail("%s: blkx %zu: chunk count %" PRIu32 " exceeds the table (%zu bytes)", p, bi, b.nchunks_raw, len);
	if (b.first_sector > MAX_SECTORS || b.nsect > MAX_SECTORS - b.first_sector)
		return dk_fail("%s: blkx %zu: sector range %" PRIu64 "+%" PRIu64 " overflows", p, bi, b.first_sector, b.nsect);
	if (b.first_sector + b.nsect > img->sector_count)
		return dk_fail("%s: blkx %zu: sectors %" PRIu64 "..%" PRIu64 " extend past the image's %" PRIu64 " sectors",
			       p, bi, b.first_sector, b.first_sector + b.nsect, img->sector_count);
	uint64_t dstart = img->data_fork_offset, dend = img->data_fork_offset + img->data_fork_length;
	if (b.data_offset > img->data_fork_length)
		return dk_fail("%s: blkx %zu: data offset %" PRIu64 " lies outside the data fork", p, bi, b.data_offset);

	size_t added = 0;
	img->chunks = dk_realloc(img->chunks, (img->nchunks + b.nchunks_raw + 1) * sizeof *img->chunks);
	for (uint32_t i = 0; i < b.nchunks_raw; i++) {
		const uint8_t *e = d + 0xcc + (size_t)i * 40;
		struct dmg_chunk c = {
			.type = be32(e),
			.blkx = (uint32_t)bi,
			.sector = be64(e + 8),
			.nsect = be64(e + 0x10),
			.off = be64(e + 0x18),
			.len = be64(e + 0x20),
		};
		if (c.type == DMG_CHUNK_TERM)
			break;
		if (c.type == DMG_CHUNK_COMMENT)
			continue;
		if (!dmg_chunk_type_name(c.type))
			return dk_fail("%s: blkx %zu: chunk %" PRIu32 ": unknown chunk type 0x%08" PRIx32, p, bi, i, c.type);
		if (c.sector > b.nsect || c.nsect > b.nsect - c.sector)
			return dk_fail("%s: blkx %zu: chunk %" PRIu32 ": sectors %" PRIu64 "+%" PRIu64 " extend past the table's %" PRIu64 " sectors",
				       p, bi, i, c.sector, c.nsect, b.nsect);
		if (c.nsect == 0)
			continue;
		c.sector += b.first_sector;
		if (c.type == DMG_CHUNK_RAW || is_compressed(c.type)) {
			uint64_t base = dstart + b.data_offset;
			if (c.off > dend - base || c.len > dend - base - c.off)
				return dk_fail("%s: blkx %zu: chunk %" PRIu32 ": data (offset %" PRIu64 ", length %" PRIu64 ") lies outside the data fork",
					       p, bi, i, c.off, c.len);
			c.off += base;
			if (c.type == DMG_CHUNK_RAW) {
				if (c.len != c.nsect * DMG_SECTOR)
					return dk_fail("%s: blkx %zu: chunk %" PRIu32 ": raw length %" PRIu64 " does not match %" PRIu64 " sectors",
						       p, bi, i, c.len, c.nsect);
			} else {
				if (c.nsect > DMG_MAX_CHUNK_OUT / DMG_SECTOR)
					return dk_fail("%s: blkx %zu: chunk %" PRIu32 ": %" PRIu64 " sectors in one compressed chunk is absurd",
						       p, bi, i, c.nsect);
				if (c.len == 0 || c.len > DMG_MAX_CHUNK_IN)
					return dk_fail("%s: blkx %zu: chunk %" PRIu32 ": compressed length %" PRIu64 " is absurd",
						       p, bi, i, c.len);
			}
		} else {
			c.off = c.len = 0;
		}
		img->chunks[img->nchunks + added++] = c;
	}
	img->nchunks += added;
	b.name = dk_strdup(name ? name : "");
	dk_strstrip(b.name);
	b.attributes = attributes ? dk_strdup(attributes) : NULL;
	b.id = id;
	img->blkx = dk_realloc(img->blkx, (img->nblkx + 1) * sizeof *img->blkx);
	img->blkx[img->nblkx++] = b;
	return 0;
}

static int cmp_chunk(const void *a, const void *b)
{
	const struct dmg_chunk *x = a, *y = b;
	if (x->sector != y->sector)
		return x->sector < y->sector ? -1 : 1;
	if (x->blkx != y->blkx)
		return x->blkx < y->blkx ? -1 : 1;
	return 0;
}

int dmg_finish_layout(struct dmg_image *img)
{
	const char *p = img->path ? img->path : "image";
	if (img->nchunks)
		qsort(img->chunks, img->nchunks, sizeof *img->chunks, cmp_chunk);
	for (size_t i = 1; i < img->nchunks; i++) {
		const struct dmg_chunk *a = &img->chunks[i - 1], *b = &img->chunks[i];
		if (b->sector < a->sector + a->nsect)
			return dk_fail("%s: overlapping runs: sectors %" PRIu64 "+%" PRIu64 " (blkx %" PRIu32 ") and %" PRIu64 "+%" PRIu64 " (blkx %" PRIu32 ")",
				       p, a->sector, a->nsect, a->blkx, b->sector, b->nsect, b->blkx);
	}
	for (size_t i = 0; i < img->nblkx; i++)
		img->blkx[i].nchunks = 0;
	size_t *last = dk_calloc(img->nblkx ? img->nblkx : 1, sizeof *last);
	int rc = 0;
	for (size_t i = 0; i < img->nchunks; i++) {
		struct dmg_blkx *b = &img->blkx[img->chunks[i].blkx];
		if (b->nchunks == 0) {
			b->first_chunk = i;
		} else if (last[img->chunks[i].blkx] != i - 1) {
			rc = dk_fail("%s: overlapping runs: the sector ranges of blkx %" PRIu32 " and another table interleave",
				     p, img->chunks[i].blkx);
			break;
		}
		last[img->chunks[i].blkx] = i;
		b->nchunks++;
	}
	free(last);
	return rc;
}

static int refuse_kind(const char *path, int fd, uint64_t size)
{
	uint8_t head[8] = {0}, tail[8] = {0};
	if (size >= 8) {
		if (dk_pread_all(fd, head, 8, 0) < 0 || dk_pread_all(fd, tail, 8, (off_t)size - 8) < 0)
			return dk_fail_prefix("%s", path);
		if (memcmp(head, "encrcdsa", 8) == 0)
			return dk_fail("%s: encrypted disk image (encrcdsa, version 2): not supported; decrypt it with hdiutil convert first", path);
		if (memcmp(tail, "cdsaencr", 8) == 0)
			return dk_fail("%s: encrypted disk image (cdsaencr, version 1): not supported; decrypt it with hdiutil convert first", path);
		if (memcmp(head, "sprs", 4) == 0)
			return dk_fail("%s: sparse disk image (.sparseimage, 'sprs'): not supported; convert it to UDZO or UDRW with hdiutil first", path);
	}
	return 0;
}

int dmg_open(const char *path, struct dmg_image **out)
{
	*out = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return dk_fail_errno("%s: cannot open", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return dk_fail_errno("%s: cannot stat", path);
	if (S_ISDIR(st.st_mode)) {
		_cleanup_free_ char *bands = dk_asprintf("%s/bands", path);
		if (dk_path_exists(bands))
			return dk_fail("%s: sparse bundle (.sparsebundle directory): not supported; convert it to UDZO with hdiutil first", path);
		return dk_fail("%s: is a directory, not a disk image", path);
	}
	if (!S_ISREG(st.st_mode))
		return dk_fail("%s: not a regular file", path);
	uint64_t size = (uint64_t)st.st_size;
	if (refuse_kind(path, fd, size) < 0)
		return -1;
	if (size < 512)
		return dk_fail("%s: not a UDIF image (%" PRIu64 " bytes, too small for a koly trailer)", path, size);
	uint8_t k[512];
	if (dk_pread_all(fd, k, sizeof k, (off_t)(size - 512)) < 0)
		return dk_fail_prefix("%s", path);
	struct dmg_image *img = dk_calloc(1, sizeof *img);
	img->path = dk_strdup(path);
	img->fd = -1;
	img->file_size = size;
	if (dmg_parse_koly(img, k) < 0) {
		dmg_close(img);
		return -1;
	}
	char *xml = dk_malloc(img->xml_length + 1);
	if (dk_pread_all(fd, xml, img->xml_length, (off_t)img->xml_offset) < 0) {
		dk_fail_prefix("%s: XML property list", path);
		free(xml);
		dmg_close(img);
		return -1;
	}
	xml[img->xml_length] = 0;
	int rc = dmg_parse_plist(img, xml, img->xml_length);
	free(xml);
	if (rc < 0) {
		dmg_close(img);
		return -1;
	}
	img->fd = DK_TAKE_FD(fd);
	*out = img;
	return 0;
}

void dmg_close(struct dmg_image *img)
{
	if (!img)
		return;
	if (img->fd >= 0)
		close(img->fd);
	for (size_t i = 0; i < img->nblkx; i++) {
		free(img->blkx[i].name);
		free(img->blkx[i].attributes);
	}
	free(img->blkx);
	free(img->chunks);
	free(img->path);
	free(img);
}
