/* The JSON documents the opencore commands print (the CLI prints them):
 * fetch, the staged set, config, validate. */
#include "opencore/opencore.h"
#include "util/mem.h"
#include "util/output.h"

#include <stdlib.h>

/* An object of string members: kv is key, value, key, value, ..., NULL (a
 * NULL value is null). */
static json_object *strs(const char *const *kv)
{
	json_object *o = json_object_new_object();
	for (; kv[0]; kv += 2)
		json_object_object_add(o, kv[0], dk_json_str(kv[1]));
	return o;
}
#define STRS(...) strs((const char *const[]){__VA_ARGS__, NULL})

json_object *dk_oc_fetched_to_json(const struct dk_oc_fetched *f)
{
	json_object *o = STRS("name", f->name, "repo", f->repo, "version", f->version, "asset", f->asset, "path",
			      f->path, "url", f->url, "sha256", f->sha256);
	json_object_object_add(o, "size", json_object_new_int64((int64_t)f->size));
	json_object_object_add(o, "cached", json_object_new_boolean(f->cached));
	json_object_object_add(o, "verified", json_object_new_boolean(f->verified));
	return o;
}

json_object *dk_oc_staged_to_json(const struct dk_oc_staged_dir *d)
{
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < d->st.ninfo; i++) {
		const struct dk_oc_staged_kext *k = &d->st.info[i];
		char *path = dk_asprintf("%s/%s.kext", d->kexts_dir, k->name);
		json_object_array_add(arr, STRS("name", k->name, "version", k->version, "source", k->source, "sha256",
						k->sha256, "path", path, "reason", k->reason));
		free(path);
	}
	for (char **a = d->st.acpi_names; a && *a; a++) {
		char *path = dk_asprintf("%s/ACPI/%s", d->dir, *a);
		json_object_array_add(arr, STRS("name", *a, "path", path));
		free(path);
	}
	return arr;
}

json_object *dk_oc_config_to_json(const struct dk_oc_config_opts *o, const char *output, const char *release,
				  const struct dk_oc_changes *ch)
{
	json_object *j = STRS("output", output, "sample", o->sample_path, "release", release, "model", o->model->name,
			      "macos", o->macos->name);
	json_object_object_add(j, "smbios", dk_smbios_to_json(o->smbios));
	json_object *a = json_object_new_array();
	for (int i = 0; i < ch->n; i++)
		json_object_array_add(a, STRS("path", ch->v[i].path, "value", ch->v[i].value, "reason", ch->v[i].reason,
					      "active", ch->v[i].active));
	json_object_object_add(j, "changes", a);
	return j;
}

json_object *dk_oc_findings_to_json(const struct dk_oc_validate_opts *o, const struct dk_oc_findings *f)
{
	json_object *j = STRS("config", o->config_path ? o->config_path : "EFI/OC/config.plist", "image", o->image,
			      "sample", o->sample_path, "efi", o->efi_dir);
	json_object_object_add(j, "errors", json_object_new_int(f->errors));
	json_object_object_add(j, "warnings", json_object_new_int(f->warnings));
	json_object_object_add(j, "valid", json_object_new_boolean(f->errors == 0));
	json_object *a = json_object_new_array();
	for (int i = 0; i < f->n; i++)
		json_object_array_add(a, STRS("severity", f->v[i].severity == DK_OC_ERROR ? "error" : "warning", "path",
					      f->v[i].path, "rule", f->v[i].rule, "message", f->v[i].message));
	json_object_object_add(j, "findings", a);
	return j;
}
