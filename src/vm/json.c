/* JSON documents for dkvm create|start|stop|destroy|export (the CLI prints them; show and
 * list are dk_vm_show_json and dk_vm_list in bundle.c). */
#include "vm/vm.h"

json_object *dk_vm_start_to_json(const struct dk_bundle *b, const struct dk_start_result *r)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "name", json_object_new_string(b->name));
	json_object_object_add(j, "pid", r->pid ? json_object_new_int(r->pid) : NULL);
	json_object_object_add(j, "accel", json_object_new_string(dk_accel_name(r->accel)));
	json_object_object_add(j, "fell_back", json_object_new_boolean(r->fell_back));
	json_object_object_add(j, "libvirt_uri", b->uri ? json_object_new_string(b->uri) : NULL);
	json_object_object_add(j, "display", json_object_new_string(r->display));
	return j;
}

json_object *dk_vm_stop_to_json(const struct dk_bundle *b, bool was_running, bool forced)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "name", json_object_new_string(b->name));
	json_object_object_add(j, "was_running", json_object_new_boolean(was_running));
	json_object_object_add(j, "forced", json_object_new_boolean(forced));
	return j;
}

json_object *dk_vm_destroy_to_json(const struct dk_bundle *b, bool disks_deleted)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "name", json_object_new_string(b->name));
	json_object_object_add(j, "disk_kept", disks_deleted ? NULL : json_object_new_string(b->disk));
	json_object_object_add(j, "volume", b->volume ? json_object_new_string(b->volume) : NULL);
	return j;
}

json_object *dk_create_to_json(const struct dk_create_opts *o, const struct dk_create_result *r)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "name", json_object_new_string(o->name));
	json_object_object_add(j, "dir", r->dir ? json_object_new_string(r->dir) : NULL);
	json_object_object_add(j, "dry_run", json_object_new_boolean(o->dry_run));
	json_object_object_add(j, "defined", json_object_new_boolean(r->defined));
	json_object_object_add(j, "libvirt_uri", o->uri ? json_object_new_string(o->uri) : NULL);
	json_object_object_add(j, "arch", json_object_new_string(r->ppc ? "ppc" : "x86_64"));
	json_object_object_add(j, "plan", r->ppc ? dk_ppc_plan_to_json(&r->ppc_plan) : dk_plan_to_json(&r->plan));
	json_object_object_add(j, "efi", r->efi ? json_object_get(r->efi) : NULL);
	return j;
}

json_object *dk_proxmox_to_json(unsigned long vmid, const char *conf, const char *output, char *const *commands)
{
	json_object *j = json_object_new_object();
	json_object_object_add(j, "vmid", json_object_new_int64((int64_t)vmid));
	json_object_object_add(j, "config", json_object_new_string(conf));
	json_object_object_add(j, "output", output ? json_object_new_string(output) : NULL);
	json_object *a = json_object_new_array();
	for (char *const *p = commands; p && *p; p++)
		json_object_array_add(a, json_object_new_string(*p));
	json_object_object_add(j, "commands", a);
	return j;
}
