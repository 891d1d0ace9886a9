/* JSON documents for dkvm smbios generate|decode|check-mlb (the CLI prints them;
 * one identity is dk_smbios_to_json in smbios.c). */
#include "smbios/smbios.h"

json_object *dk_mac_models_to_json(void)
{
	json_object *a = json_object_new_array();
	for (int i = 0; i < dk_mac_model_count; i++) {
		const struct dk_mac_model *m = &dk_mac_models[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(m->name));
		json_object_object_add(o, "board_id", json_object_new_string(m->board_id));
		json_object *y = json_object_new_array();
		for (int k = 0; k < 8 && m->years[k]; k++)
			json_object_array_add(y, json_object_new_int(m->years[k]));
		json_object_object_add(o, "years", y);
		json_object_object_add(o, "preferred_year", m->preferred_year ? json_object_new_int(m->preferred_year) : NULL);
		json_object_object_add(o, "macos_min", json_object_new_string(m->macos_min));
		json_object_object_add(o, "macos_max", json_object_new_string(m->macos_max));
		json_object_array_add(a, o);
	}
	return a;
}

json_object *dk_smbios_set_to_json(const struct dk_mac_model *m, const struct dk_smbios *ids, size_t n)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, dk_smbios_to_json(&ids[i]));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "model", json_object_new_string(m->name));
	json_object_object_add(o, "board_id", json_object_new_string(m->board_id));
	json_object_object_add(o, "identities", a);
	return o;
}

json_object *dk_serial_info_to_json(const char *serial, const struct dk_serial_info *si)
{
	json_object *o = json_object_new_object();
	/* a bad-length serial is shown as given (si->serial holds at most 15 bytes) */
	json_object_object_add(o, "serial", json_object_new_string(si->length == 11 || si->length == 12 ? si->serial : serial));
	json_object_object_add(o, "format",
			       si->length == 11   ? json_object_new_string("legacy")
			       : si->length == 12 ? json_object_new_string("new")
						  : NULL);
	json_object *loc = json_object_new_object();
	json_object_object_add(loc, "code", json_object_new_string(si->location));
	json_object_object_add(loc, "name", json_object_new_string(si->location_name));
	json_object_object_add(loc, "known", json_object_new_boolean(si->location_known));
	json_object_object_add(o, "location", loc);
	json_object_object_add(o, "year", si->year ? json_object_new_int(si->year) : NULL);
	json_object_object_add(o, "week", si->week ? json_object_new_int(si->week) : NULL);
	json_object_object_add(o, "line", json_object_new_int(si->line));
	json_object_object_add(o, "copy", json_object_new_int(si->copy));
	json_object_object_add(o, "model_code", json_object_new_string(si->model_code));
	json_object_object_add(o, "model", si->model ? json_object_new_string(si->model->name) : NULL);
	json_object_object_add(o, "valid", json_object_new_boolean(si->valid));
	json_object_object_add(o, "verdict", json_object_new_string(si->valid ? "valid" : "unlikely"));
	json_object_object_add(o, "reason", si->valid ? NULL : json_object_new_string(si->reason));
	return o;
}

json_object *dk_mlb_info_to_json(const char *mlb, const struct dk_mlb_info *mi)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "mlb", json_object_new_string(mlb));
	json_object_object_add(o, "length", json_object_new_int(mi->length));
	json_object_object_add(o, "kind", json_object_new_string(mi->kind));
	json_object_object_add(o, "checksum", json_object_new_boolean(mi->checksum_ok));
	json_object_object_add(o, "valid", json_object_new_boolean(mi->valid));
	json_object_object_add(o, "reason", mi->valid ? NULL : json_object_new_string(mi->reason));
	return o;
}
