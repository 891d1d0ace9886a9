/* The JSON document `dkvm --json opencore image` prints (the CLI prints it). */
#include "opencore/opencore.h"

static json_object *strv_json(char **v)
{
	json_object *a = json_object_new_array();
	for (; v && *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

json_object *dk_oc_image_to_json(const struct dk_oc_image_opts *o, const struct dk_oc_image_result *r)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "output", json_object_new_string(o->output));
	json_object_object_add(j, "format", json_object_new_string(o->qcow2 ? "qcow2" : "raw"));
	json_object_object_add(j, "disk_bytes", json_object_new_int64((int64_t)r->disk_bytes));
	json_object_object_add(j, "file_bytes", json_object_new_int64((int64_t)r->file_size));
	json_object_object_add(j, "disk_guid", json_object_new_string(r->disk_guid));
	json_object *p = json_object_new_object();
	json_object_object_add(p, "type", json_object_new_string("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"));
	json_object_object_add(p, "guid", json_object_new_string(r->part_guid));
	json_object_object_add(p, "name", json_object_new_string("OPENCORE"));
	json_object_object_add(p, "offset", json_object_new_int64((int64_t)r->part_offset));
	json_object_object_add(p, "bytes", json_object_new_int64((int64_t)r->part_bytes));
	json_object_object_add(p, "filesystem", json_object_new_string("FAT32"));
	json_object_object_add(p, "label", json_object_new_string("OPENCORE"));
	json_object_object_add(p, "cluster_size", json_object_new_int64(r->cluster_size));
	json_object_object_add(j, "partition", p);
	json_object_object_add(j, "payload_bytes", json_object_new_int64((int64_t)r->payload_bytes));
	json_object_object_add(j, "entries", json_object_new_int64((int64_t)r->nfiles));
	json_object_object_add(j, "drivers", strv_json(r->drivers));
	json_object_object_add(j, "tools", strv_json(r->tools));
	json_object_object_add(j, "kexts", strv_json(r->kexts));
	json_object_object_add(j, "acpi", strv_json(r->acpi));
	json_object_object_add(j, "recovery", json_object_new_boolean(r->recovery));
	json_object_object_add(j, "reproducible", json_object_new_boolean(o->reproducible));
	return j;
}
