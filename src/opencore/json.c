/* The JSON documents the opencore commands print (the CLI prints them):
 * fetch, the staged set, config, validate. */
#include "opencore/opencore.h"
#include "util/mem.h"
#include "util/output.h"

#include <stdlib.h>

json_object *dk_oc_fetched_to_json(const struct dk_oc_fetched *f)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", dk_json_str(f->name));
	json_object_object_add(o, "repo", dk_json_str(f->repo));
	json_object_object_add(o, "version", dk_json_str(f->version));
	json_object_object_add(o, "asset", dk_json_str(f->asset));
	json_object_object_add(o, "path", dk_json_str(f->path));
	json_object_object_add(o, "url", dk_json_str(f->url));
	json_object_object_add(o, "sha256", dk_json_str(f->sha256));
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
		json_object *e = json_object_new_object();
		json_object_object_add(e, "name", dk_json_str(k->name));
		json_object_object_add(e, "version", dk_json_str(k->version));
		json_object_object_add(e, "source", dk_json_str(k->source));
		json_object_object_add(e, "sha256", dk_json_str(k->sha256));
		json_object_object_add(e, "path", dk_json_str(path));
		json_object_object_add(e, "reason", dk_json_str(k->reason));
		json_object_array_add(arr, e);
		free(path);
	}
	for (char **a = d->st.acpi_names; a && *a; a++) {
		char *path = dk_asprintf("%s/ACPI/%s", d->dir, *a);
		json_object *e = json_object_new_object();
		json_object_object_add(e, "name", dk_json_str(*a));
		json_object_object_add(e, "path", dk_json_str(path));
		json_object_array_add(arr, e);
		free(path);
	}
	return arr;
}

json_object *dk_oc_config_to_json(const struct dk_oc_config_opts *o, const char *output, const char *release,
				  const struct dk_oc_changes *ch)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "output", json_object_new_string(output));
	json_object_object_add(j, "sample", json_object_new_string(o->sample_path));
	json_object_object_add(j, "release", json_object_new_string(release));
	json_object_object_add(j, "model", json_object_new_string(o->model->name));
	json_object_object_add(j, "macos", json_object_new_string(o->macos->name));
	json_object_object_add(j, "smbios", dk_smbios_to_json(o->smbios));
	json_object *a = json_object_new_array();
	for (int i = 0; i < ch->n; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "path", json_object_new_string(ch->v[i].path));
		json_object_object_add(e, "value", json_object_new_string(ch->v[i].value));
		json_object_object_add(e, "reason", json_object_new_string(ch->v[i].reason));
		json_object_object_add(e, "active", json_object_new_string(ch->v[i].active));
		json_object_array_add(a, e);
	}
	json_object_object_add(j, "changes", a);
	return j;
}

json_object *dk_oc_findings_to_json(const struct dk_oc_validate_opts *o, const struct dk_oc_findings *f)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "config", dk_json_str(o->config_path ? o->config_path : "EFI/OC/config.plist"));
	json_object_object_add(j, "image", dk_json_str(o->image));
	json_object_object_add(j, "sample", dk_json_str(o->sample_path));
	json_object_object_add(j, "efi", dk_json_str(o->efi_dir));
	json_object_object_add(j, "errors", json_object_new_int(f->errors));
	json_object_object_add(j, "warnings", json_object_new_int(f->warnings));
	json_object_object_add(j, "valid", json_object_new_boolean(f->errors == 0));
	json_object *a = json_object_new_array();
	for (int i = 0; i < f->n; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "severity",
				       json_object_new_string(f->v[i].severity == DK_OC_ERROR ? "error" : "warning"));
		json_object_object_add(e, "path", json_object_new_string(f->v[i].path));
		json_object_object_add(e, "rule", json_object_new_string(f->v[i].rule));
		json_object_object_add(e, "message", json_object_new_string(f->v[i].message));
		json_object_array_add(a, e);
	}
	json_object_object_add(j, "findings", a);
	return j;
}
