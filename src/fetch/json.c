/* JSON documents for dkvm fetch list|recovery|installer (the CLI prints them). */
#include "fetch/chunklist.h"
#include "fetch/fetch.h"
#include "smbios/macos.h"
#include "util/output.h"

json_object *dk_fetch_recovery_to_json(const struct dk_fetch_recovery_opts *o, const struct dk_fetch_recovery_result *r)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "product", dk_json_str(r->product));
	json_object_object_add(j, "image", dk_json_str(r->image_path));
	json_object_object_add(j, "chunklist", dk_json_str(r->chunklist_path));
	json_object_object_add(j, "image_url", dk_json_str(r->image_url));
	json_object_object_add(j, "image_size", json_object_new_int64((int64_t)r->image_size));
	json_object_object_add(j, "chunks", json_object_new_int64((int64_t)r->chunks));
	json_object_object_add(j, "chunks_resumed", json_object_new_int64((int64_t)r->chunks_resumed));
	json_object_object_add(j, "chunks_refetched", json_object_new_int64((int64_t)r->chunks_refetched));
	json_object_object_add(j, "bytes_downloaded", json_object_new_int64((int64_t)r->bytes_downloaded));
	json_object_object_add(j, "already_complete", json_object_new_boolean(r->already_complete));
	json_object_object_add(j, "verified", json_object_new_boolean(!o->no_verify));
	return j;
}

json_object *dk_fetch_list_to_json(const struct dk_catalog *cat, const char *url, bool reachable, const char *error)
{
	json_object *o = json_object_new_object(), *rec = json_object_new_array();
	for (int i = 0; i < dk_macos_count; i++) {
		const struct dk_macos *m = &dk_macos_table[i];
		json_object *r = json_object_new_object();
		json_object_object_add(r, "name", dk_json_str(m->name));
		json_object_object_add(r, "marketing", dk_json_str(m->marketing));
		json_object_object_add(r, "version", dk_json_str(m->version));
		json_object_object_add(r, "board_id", dk_json_str(m->board_id));
		json_object_object_add(r, "mlb", dk_json_str(m->mlb));
		json_object_object_add(r, "os", dk_json_str(m->os));
		json_object_array_add(rec, r);
	}
	json_object_object_add(o, "recovery", rec);
	json_object *co = json_object_new_object();
	json_object_object_add(co, "url", dk_json_str(url));
	json_object_object_add(co, "reachable", json_object_new_boolean(reachable));
	json_object_object_add(co, "error", dk_json_str(error));
	json_object *inst = json_object_new_array();
	for (int i = 0; i < cat->count; i++) {
		const struct dk_sw_product *p = &cat->products[i];
		json_object *r = json_object_new_object();
		json_object_object_add(r, "product", dk_json_str(p->id));
		json_object_object_add(r, "title", dk_json_str(p->title));
		json_object_object_add(r, "version", dk_json_str(p->version));
		json_object_object_add(r, "build", dk_json_str(p->build));
		json_object_object_add(r, "size", json_object_new_int64((int64_t)p->size));
		json_object_object_add(r, "post_date", dk_json_str(p->post_date));
		json_object_object_add(r, "beta", json_object_new_boolean(p->beta));
		json_object_object_add(r, "packages", json_object_new_int(p->npkgs));
		json_object_array_add(inst, r);
	}
	json_object_object_add(co, "installers", inst);
	json_object_object_add(o, "catalog", co);
	return o;
}

json_object *dk_fetch_installer_to_json(const struct dk_fetch_installer_result *r)
{
	json_object *j = json_object_new_object(), *arr = json_object_new_array();
	json_object_object_add(j, "product", dk_json_str(r->product));
	json_object_object_add(j, "version", dk_json_str(r->version));
	json_object_object_add(j, "build", dk_json_str(r->build));
	json_object_object_add(j, "dir", dk_json_str(r->dir));
	for (int i = 0; i < r->npkgs; i++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "path", dk_json_str(r->pkgs[i].path));
		json_object_object_add(p, "size", json_object_new_int64((int64_t)r->pkgs[i].size));
		json_object_object_add(p, "verification", dk_json_str(r->pkgs[i].verification));
		json_object_object_add(p, "already_complete", json_object_new_boolean(r->pkgs[i].already_complete));
		json_object_array_add(arr, p);
	}
	json_object_object_add(j, "packages", arr);
	return j;
}

json_object *dk_chunklist_error_to_json(const char *path, const char *error)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "chunklist", dk_json_str(path));
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", dk_json_str(error));
	return o;
}

json_object *dk_chunklist_verify_to_json(const struct dk_chunklist *cl, const struct dk_chunklist_verdict *v)
{
	const char *sig_word = v->sig_rc < 0 ? "failed" : cl->sig_method == 1 ? "verified" : v->sig_status;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "chunklist", dk_json_str(v->chunklist));
	json_object_object_add(o, "chunks", json_object_new_int64((int64_t)cl->count));
	json_object_object_add(o, "image_size", json_object_new_int64((int64_t)cl->image_size));
	json_object_object_add(o, "signature_method", json_object_new_int(cl->sig_method));
	json_object_object_add(o, "signature", dk_json_str(sig_word));
	json_object_object_add(o, "key", dk_json_str(cl->sig_method != 1 ? NULL : v->trust_key ? v->trust_key : "apple"));
	char hex[65];
	dk_hex(cl->digest, 32, hex);
	json_object_object_add(o, "digest", dk_json_str(hex));
	json_object_object_add(o, "image", dk_json_str(v->image));
	json_object_object_add(o, "image_verified",
			       v->image && v->sig_rc == 0 ? json_object_new_boolean(v->img_rc == 0) : NULL);
	json_object_object_add(o, "bad_chunk", v->bad_chunk >= 0 ? json_object_new_int64(v->bad_chunk) : NULL);
	json_object_object_add(o, "ok", json_object_new_boolean(v->sig_rc == 0 && v->img_rc == 0));
	json_object_object_add(o, "error", dk_json_str(v->error));
	return o;
}
