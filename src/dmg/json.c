/* JSON documents for dkvm dmg info|verify|convert (the CLI prints them). */
#include "dmg/dmg.h"
#include "util/bytes.h"
#include "util/output.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const uint32_t dmg_hist_types[DMG_NHIST] = {DMG_CHUNK_ZERO, DMG_CHUNK_RAW, DMG_CHUNK_IGNORE, DMG_CHUNK_ADC,
					    DMG_CHUNK_ZLIB, DMG_CHUNK_BZIP2, DMG_CHUNK_LZFSE, DMG_CHUNK_LZMA};

void dmg_histogram(const struct dmg_image *img, struct dmg_hist *h)
{
	memset(h, 0, sizeof *h);
	for (size_t i = 0; i < img->nchunks; i++)
		for (size_t t = 0; t < DMG_NHIST; t++)
			if (img->chunks[i].type == dmg_hist_types[t]) {
				h->cnt[t]++;
				h->sect[t] += img->chunks[i].nsect;
				h->stored[t] += img->chunks[i].len;
				h->total_stored += img->chunks[i].len;
			}
}

const char *dmg_cksum_type_name(uint32_t t)
{
	return t == DMG_CKSUM_CRC32 ? "crc32" : t == DMG_CKSUM_NONE ? "none" : "other";
}

const char *dmg_check_state_name(enum dmg_check_state s)
{
	switch (s) {
	case DMG_CHECK_OK: return "ok";
	case DMG_CHECK_FAILED: return "FAILED";
	case DMG_CHECK_SKIPPED: return "skipped";
	case DMG_CHECK_ABSENT: return "absent";
	}
	return "?";
}

static json_object *jhex(uint32_t v)
{
	char b[16];
	snprintf(b, sizeof b, "0x%08" PRIx32, v);
	return json_object_new_string(b);
}

static json_object *jcksum(const struct dmg_checksum *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(dmg_cksum_type_name(c->type)));
	json_object_object_add(o, "type_code", json_object_new_int64(c->type));
	json_object_object_add(o, "bits", json_object_new_int64(c->bits));
	json_object_object_add(o, "value", c->type == DMG_CKSUM_NONE ? NULL : jhex(dmg_cksum_crc32(c)));
	return o;
}

static json_object *joffset(uint64_t offset, uint64_t length)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "offset", json_object_new_int64((int64_t)offset));
	json_object_object_add(o, "length", json_object_new_int64((int64_t)length));
	return o;
}

static json_object *jhistogram(const struct dmg_hist *h)
{
	json_object *o = json_object_new_object();
	for (size_t t = 0; t < DMG_NHIST; t++) {
		if (!h->cnt[t])
			continue;
		json_object *e = json_object_new_object();
		json_object_object_add(e, "chunks", json_object_new_int64((int64_t)h->cnt[t]));
		json_object_object_add(e, "sectors", json_object_new_int64((int64_t)h->sect[t]));
		json_object_object_add(e, "stored_bytes", json_object_new_int64((int64_t)h->stored[t]));
		json_object_object_add(o, dmg_chunk_type_name(dmg_hist_types[t]), e);
	}
	return o;
}

static json_object *jpartitions(const struct dmg_image *img)
{
	json_object *parts = json_object_new_array();
	for (size_t i = 0; i < img->nblkx; i++) {
		const struct dmg_blkx *b = &img->blkx[i];
		json_object *p = json_object_new_object();
		json_object_object_add(p, "index", json_object_new_int64((int64_t)i));
		json_object_object_add(p, "name", json_object_new_string(b->name));
		json_object_object_add(p, "id", json_object_new_int64(b->id));
		json_object_object_add(p, "attributes", dk_json_str(b->attributes));
		json_object_object_add(p, "first_sector", json_object_new_int64((int64_t)b->first_sector));
		json_object_object_add(p, "sectors", json_object_new_int64((int64_t)b->nsect));
		json_object_object_add(p, "chunks", json_object_new_int64((int64_t)b->nchunks));
		json_object_object_add(p, "checksum", jcksum(&b->cksum));
		json_object_array_add(parts, p);
	}
	return parts;
}

json_object *dk_dmg_info_to_json(const struct dmg_image *img)
{
	struct dmg_hist h;
	dmg_histogram(img, &h);
	char uuid[40];
	dk_uuid_format(img->segment_id, uuid, 0);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "file", json_object_new_string(img->path));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)img->file_size));
	json_object_object_add(o, "format", json_object_new_string("UDIF"));
	json_object_object_add(o, "encrypted", json_object_new_boolean(0));
	json_object_object_add(o, "version", json_object_new_int64(img->version));
	json_object_object_add(o, "flags", json_object_new_int64(img->flags));
	json_object_object_add(o, "variant", json_object_new_int64(img->image_variant));
	json_object_object_add(o, "variant_name", json_object_new_string(dmg_variant_name(img->image_variant)));
	json_object_object_add(o, "sector_count", json_object_new_int64((int64_t)img->sector_count));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)(img->sector_count * DMG_SECTOR)));
	json_object_object_add(o, "stored_bytes", json_object_new_int64((int64_t)h.total_stored));
	json_object_object_add(o, "data_fork", joffset(img->data_fork_offset, img->data_fork_length));
	json_object_object_add(o, "xml_plist", joffset(img->xml_offset, img->xml_length));
	json_object_object_add(o, "rsrc_fork", joffset(img->rsrc_fork_offset, img->rsrc_fork_length));
	json_object *sg = json_object_new_object();
	json_object_object_add(sg, "number", json_object_new_int64(img->segment_number));
	json_object_object_add(sg, "count", json_object_new_int64(img->segment_count));
	json_object_object_add(sg, "id", json_object_new_string(uuid));
	json_object_object_add(o, "segment", sg);
	json_object *ck = json_object_new_object();
	json_object_object_add(ck, "data_fork", jcksum(&img->data_cksum));
	json_object_object_add(ck, "master", jcksum(&img->master_cksum));
	json_object_object_add(o, "checksums", ck);
	json_object_object_add(o, "chunk_types", jhistogram(&h));
	json_object_object_add(o, "partitions", jpartitions(img));
	return o;
}

static json_object *jchecks(const struct dmg_report *r)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct dmg_check *c = &r->checks[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "what", json_object_new_string(c->what));
		json_object_object_add(o, "state", json_object_new_string(dmg_check_state_name(c->state)));
		json_object_object_add(o, "type", json_object_new_string(dmg_cksum_type_name(c->type)));
		bool vals = c->state == DMG_CHECK_OK || c->state == DMG_CHECK_FAILED;
		json_object_object_add(o, "expected", vals ? jhex(c->expected) : NULL);
		json_object_object_add(o, "actual", vals ? jhex(c->actual) : NULL);
		json_object_object_add(o, "note", dk_json_str(c->note));
		json_object_array_add(a, o);
	}
	return a;
}

json_object *dk_dmg_verify_to_json(const struct dmg_image *img, const struct dmg_report *r)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "file", json_object_new_string(img->path));
	json_object_object_add(j, "ok", json_object_new_boolean(!dmg_report_failed(r)));
	json_object_object_add(j, "bytes", json_object_new_int64((int64_t)r->bytes_out));
	json_object_object_add(j, "seconds", json_object_new_double(r->seconds));
	json_object_object_add(j, "checks", jchecks(r));
	return j;
}

json_object *dk_dmg_convert_to_json(const char *file, const struct dmg_convert_opts *o, const struct dmg_report *r)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "file", json_object_new_string(file));
	json_object_object_add(j, "output", json_object_new_string(o->out));
	json_object_object_add(j, "partition", o->partition >= 0 ? json_object_new_int64(o->partition) : NULL);
	json_object_object_add(j, "bytes", json_object_new_int64((int64_t)r->bytes_out));
	json_object_object_add(j, "bytes_written", json_object_new_int64((int64_t)r->bytes_written));
	json_object_object_add(j, "bytes_read", json_object_new_int64((int64_t)r->bytes_read));
	json_object_object_add(j, "threads", json_object_new_int(r->threads));
	json_object_object_add(j, "seconds", json_object_new_double(r->seconds));
	json_object_object_add(j, "verified", json_object_new_boolean(o->verify));
	json_object_object_add(j, "checks", jchecks(r));
	return j;
}
