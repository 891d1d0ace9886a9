#include "util/output.h"
#include "util/log.h"

#include <stdio.h>

bool dk_json_output = false;

void dk_json_print(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void dk_json_print_plain(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

json_object *dk_json_str(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

const char *dk_json_get_str(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

json_object *dk_json_get(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

const char *dk_c_green(void) { return dk_color ? "\033[32m" : ""; }
const char *dk_c_yellow(void) { return dk_color ? "\033[33m" : ""; }
const char *dk_c_red(void) { return dk_color ? "\033[31m" : ""; }
const char *dk_c_bold(void) { return dk_color ? "\033[1m" : ""; }
const char *dk_c_reset(void) { return dk_color ? "\033[0m" : ""; }
