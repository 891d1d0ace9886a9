/* Output conventions shared by the CLI and the library's reporters.
 * stdout carries results (text, or one JSON document with --json); stderr
 * carries errors, warnings and progress. */
#pragma once
#include <stdbool.h>
#include <json-c/json.h>

extern bool dk_json_output;

/* Print a JSON document to stdout (pretty, slashes unescaped) and release it. */
void dk_json_print(json_object *o);
/* The same on one line (no spaces). */
void dk_json_print_plain(json_object *o);
/* Small builders that tolerate NULL strings (-> JSON null). */
json_object *dk_json_str(const char *s);
/* The string value of o[key], or NULL when o is NULL, the key is missing or
 * the value is not a string. */
const char *dk_json_get_str(json_object *o, const char *key);
/* o's member key of any type, or NULL (o may be NULL). */
json_object *dk_json_get(json_object *o, const char *key);
/* Terminal colors (honours --no-color / NO_COLOR / non-TTY). */
const char *dk_c_green(void);
const char *dk_c_yellow(void);
const char *dk_c_red(void);
const char *dk_c_bold(void);
const char *dk_c_reset(void);
