/* JSON documents for dkvm vfio bind|unbind|persist|undo (the CLI prints them). */
#include "tune/vfio.h"
#include "util/output.h"

json_object *dk_vfio_result_to_json(const struct dk_vfio_result *r, bool unbind)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "action", json_object_new_string(unbind ? "unbind" : "bind"));
	json_object *a = json_object_new_array();
	for (int i = 0; i < r->n; i++) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "bdf", json_object_new_string(r->dev[i].bdf));
		json_object_object_add(d, "ids", json_object_new_string(r->dev[i].ids));
		json_object_object_add(d, "driver_before", dk_json_str(r->dev[i].driver_before[0] ? r->dev[i].driver_before : NULL));
		json_object_object_add(d, "note", dk_json_str(r->dev[i].note));
		json_object *w = json_object_new_array();
		for (int k = 0; k < r->dev[i].nw; k++) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "path", json_object_new_string(r->dev[i].w[k].path));
			json_object_object_add(o, "value", json_object_new_string(r->dev[i].w[k].value));
			json_object_array_add(w, o);
		}
		json_object_object_add(d, "writes", w);
		json_object_array_add(a, d);
	}
	json_object_object_add(j, "devices", a);
	return j;
}

json_object *dk_vfio_plan_to_json(const struct dk_vfio_plan *p, bool applied, bool undo)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "applied", json_object_new_boolean(applied));
	if (!undo) {
		json_object_object_add(j, "ids", dk_json_str(p->ids));
		json_object *a = json_object_new_array();
		for (char **s = p->params; s && *s; s++)
			json_object_array_add(a, json_object_new_string(*s));
		json_object_object_add(j, "params", a);
		a = json_object_new_array();
		for (char **s = p->drivers; s && *s; s++)
			json_object_array_add(a, json_object_new_string(*s));
		json_object_object_add(j, "drivers", a);
		json_object_object_add(j, "bootloader", json_object_new_string(p->bootloader));
		json_object_object_add(j, "initramfs", json_object_new_string(p->initramfs));
	}
	json_object *f = json_object_new_array();
	for (int i = 0; i < p->n; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "path", json_object_new_string(p->files[i].path));
		json_object_object_add(o, "diff", json_object_new_string(p->files[i].diff));
		json_object_object_add(o, "backup", dk_json_str(p->files[i].backup));
		json_object_array_add(f, o);
	}
	json_object_object_add(j, "files", f);
	if (!undo) {
		json_object *a = json_object_new_array();
		for (char **s = p->commands; s && *s; s++)
			json_object_array_add(a, json_object_new_string(*s));
		json_object_object_add(j, "commands", a);
	}
	return j;
}
