/* Full installers from the software-update catalog: every package of the
 * chosen product, each verified against its integrity chunklist
 * (IntegrityDataURL) when Apple publishes one, else by size only. */
#include "fetch/chunklist.h"
#include "fetch/download.h"
#include "fetch/fetch.h"
#include "fetch/http.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/paths.h"

#include <stdlib.h>
#include <string.h>

void dk_fetch_installer_result_free(struct dk_fetch_installer_result *r)
{
	if (!r)
		return;
	free(r->dir);
	free(r->version);
	free(r->build);
	free(r->product);
	for (int i = 0; i < r->npkgs; i++)
		free(r->pkgs[i].path);
	free(r->pkgs);
	memset(r, 0, sizeof *r);
}

/* Apple's CDN serves the catalog's http:// package URLs over https as well. */
static char *secure_url(const char *url, bool catalog_http)
{
	if (catalog_http || !dk_url_is_http(url))
		return dk_strdup(url);
	return dk_asprintf("https://%s", url + 7);
}

static int fetch_pkg(const struct dk_fetch_installer_opts *o, const struct dk_sw_package *pk, const char *dir,
		     bool http, struct dk_fetch_installer_pkg *out)
{
	_cleanup_free_ char *url = secure_url(pk->url, http);
	_cleanup_free_ char *name = dk_url_basename(url);
	if (!dk_name_is_safe(name))
		return dk_fail("%s: package URL has no usable file name", url);
	out->path = dk_asprintf("%s/%s", dir, name);
	out->size = pk->size;
	struct dk_chunklist cl;
	bool have_cl = false;
	struct dk_http_resp a = {0};
	_cleanup_free_ char *cl_path = NULL, *label = dk_strdup(name);
	if (pk->integrity_url) {
		_cleanup_free_ char *iurl = secure_url(pk->integrity_url, http);
		_cleanup_free_ char *iname = dk_url_basename(iurl);
		struct dk_http_req q = {.url = iurl, .allow_http = http, .timeout_s = 120, .max_body = 64u << 20};
		if (dk_http_get(&q, &a) < 0)
			return -1;
		if (dk_chunklist_parse(a.body.data, a.body.len, iurl, &cl) < 0) {
			dk_http_resp_free(&a);
			return -1;
		}
		have_cl = true;
		const char *st = NULL;
		/* integrity data is usually unsigned (method 0, or 2 = digest):
		 * the chunk hashes still tie every byte to the catalog entry */
		if (dk_chunklist_verify_sig(&cl, iurl, NULL, true, &st) < 0)
			goto fail;
		if (pk->size && cl.image_size != pk->size) {
			dk_fail("%s: integrity data covers %llu bytes, catalog says %llu", iurl,
				(unsigned long long)cl.image_size, (unsigned long long)pk->size);
			goto fail;
		}
		out->verification = !strcmp(st, "signed") ? "signed chunklist" : "chunklist (unsigned)";
		if (dk_name_is_safe(iname))
			cl_path = dk_asprintf("%s/%s", dir, iname);
	} else {
		out->verification = "size only (no integrity data published)";
	}
	struct dk_download d = {.url = url, .allow_http = http, .path = out->path, .cl = have_cl ? &cl : NULL,
				.size = pk->size, .connections = o->connections, .resume = false, .force = o->force,
				.label = label};
	if (dk_download_run(&d) < 0)
		goto fail;
	out->already_complete = d.already_complete;
	if (cl_path && dk_write_file_atomic(cl_path, a.body.data, a.body.len, true, 0644) < 0)
		goto fail;
	if (have_cl)
		dk_chunklist_free(&cl);
	dk_http_resp_free(&a);
	return 0;
fail:
	if (have_cl)
		dk_chunklist_free(&cl);
	dk_http_resp_free(&a);
	return -1;
}

int dk_fetch_installer(const struct dk_fetch_installer_opts *o, struct dk_fetch_installer_result *r)
{
	memset(r, 0, sizeof *r);
	const char *curl = o->catalog ? o->catalog : DK_SUCATALOG_URL;
	if (dk_fetch_check_outdir(o->outdir ? o->outdir : ".") < 0)
		return -1;
	struct dk_catalog cat;
	if (dk_catalog_fetch(curl, 60, &cat) < 0)
		return -1;
	const struct dk_sw_product *p = dk_catalog_find(&cat, o->version);
	if (!p) {
		dk_catalog_free(&cat);
		return dk_fail("%s: no full installer for macOS %s in the catalog (see 'dkvm fetch list')", curl,
			       o->version);
	}
	r->version = dk_strdup(p->version);
	r->build = dk_strdup(p->build ? p->build : "unknown");
	r->product = dk_strdup(p->id);
	_cleanup_free_ char *sub = dk_asprintf("%s_%s", r->version, r->build);
	if (!dk_name_is_safe(sub)) {
		dk_catalog_free(&cat);
		return dk_fail("%s: unusable version/build '%s' in the catalog", curl, sub);
	}
	r->dir = dk_asprintf("%s/%s", o->outdir ? o->outdir : ".", sub);
	int ret = -1;
	if (dk_mkdir_p(r->dir, 0755) < 0)
		goto out;
	bool http = dk_url_is_http(curl);
	r->pkgs = dk_calloc((size_t)p->npkgs + 1, sizeof *r->pkgs);
	/* InstallAssistant first: the one that matters most */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < p->npkgs; i++) {
			_cleanup_free_ char *b = dk_url_basename(p->pkgs[i].url);
			bool ia = dk_startswith(b, "InstallAssistant");
			if (ia != (pass == 0))
				continue;
			struct dk_fetch_installer_pkg *out = &r->pkgs[r->npkgs++];
			if (fetch_pkg(o, &p->pkgs[i], r->dir, http, out) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	dk_catalog_free(&cat);
	return ret;
}
