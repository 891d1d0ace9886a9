/* Small libplist helpers for config building and validation. */
#include "opencore/oc_internal.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/plist.h"
#include "util/cleanup.h"

#include <ctype.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

int dk_pl_parse(const char *data, size_t len, const char *name, plist_t *out)
{
	return dk_plist_parse(data, len, name, out);
}

int dk_pl_load(const char *path, plist_t *out)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	*out = NULL;
	if (dk_read_file(path, &data, &len, 64u << 20) < 0)
		return -1;
	if (len == 0)
		return dk_fail("%s: empty file (expected a property list)", path);
	plist_t p;
	if (dk_pl_parse(data, len, path, &p) < 0)
		return -1;
	if (plist_get_node_type(p) != PLIST_DICT) {
		plist_free(p);
		return dk_fail("%s: the property list root is not a dictionary", path);
	}
	*out = p;
	return 0;
}

plist_t dk_pl_get(plist_t root, const char *path)
{
	plist_t cur = root;
	const char *p = path;
	while (cur && *p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (plist_get_node_type(cur) != PLIST_DICT)
			return NULL;
		_cleanup_free_ char *key = dk_strndup(p, n);
		cur = plist_dict_get_item(cur, key);
		p += n;
		if (*p == '/')
			p++;
	}
	return cur;
}

const char *dk_pl_type_name(plist_type t)
{
	switch (t) {
	case PLIST_BOOLEAN: return "boolean";
	case PLIST_UINT: return "integer";
	case PLIST_REAL: return "real";
	case PLIST_STRING: return "string";
	case PLIST_ARRAY: return "array";
	case PLIST_DICT: return "dictionary";
	case PLIST_DATE: return "date";
	case PLIST_DATA: return "data";
	case PLIST_KEY: return "key";
	case PLIST_UID: return "uid";
	default: return "none";
	}
}

char *dk_pl_render(plist_t n)
{
	if (!n)
		return dk_strdup("(none)");
	switch (plist_get_node_type(n)) {
	case PLIST_BOOLEAN: {
		uint8_t b = 0;
		plist_get_bool_val(n, &b);
		return dk_strdup(b ? "true" : "false");
	}
	case PLIST_UINT: {
		uint64_t v = 0;
		plist_get_uint_val(n, &v);
		return dk_asprintf("%" PRId64, (int64_t)v);
	}
	case PLIST_REAL: {
		double d = 0;
		plist_get_real_val(n, &d);
		return dk_asprintf("%g", d);
	}
	case PLIST_STRING: {
		const char *s = plist_get_string_ptr(n, NULL);
		return dk_asprintf("\"%s\"", s ? s : "");
	}
	case PLIST_DATA: {
		uint64_t len = 0;
		const char *d = plist_get_data_ptr(n, &len);
		struct dk_buf b = {0};
		dk_buf_puts(&b, "<");
		for (uint64_t i = 0; i < len && i < 64; i++)
			dk_buf_printf(&b, "%02X", (uint8_t)d[i]);
		if (len > 64)
			dk_buf_puts(&b, "...");
		dk_buf_puts(&b, ">");
		bool printable = len > 0;
		for (uint64_t i = 0; i < len; i++)
			if (!isprint((unsigned char)d[i]))
				printable = false;
		if (printable && len <= 64)
			dk_buf_printf(&b, " (\"%.*s\")", (int)len, d);
		return b.data;
	}
	case PLIST_ARRAY:
		return dk_asprintf("array of %u", plist_array_get_size(n));
	case PLIST_DICT:
		return dk_asprintf("dictionary of %u", plist_dict_get_size(n));
	default:
		return dk_strdup(dk_pl_type_name(plist_get_node_type(n)));
	}
}

bool dk_pl_is(plist_t node, plist_type t)
{
	return node && plist_get_node_type(node) == t;
}

void dk_pl_iter_end(struct dk_pl_iter *i)
{
	free(i->key);
	free(i->it);
	i->key = NULL;
	i->it = NULL;
	i->val = NULL;
	i->dict = NULL;
}

bool dk_pl_next(struct dk_pl_iter *i)
{
	if (!i->dict)
		return false;
	if (!i->it)
		plist_dict_new_iter(i->dict, &i->it);
	free(i->key);
	i->key = NULL;
	i->val = NULL;
	plist_dict_next_item(i->dict, i->it, &i->key, &i->val);
	if (!i->key) {
		dk_pl_iter_end(i);
		return false;
	}
	return true;
}

char *dk_pl_join(const char *parent, const char *key)
{
	return *parent ? dk_asprintf("%s/%s", parent, key) : dk_strdup(key);
}

bool dk_pl_bool(plist_t dict, const char *key, bool def)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	if (!dk_pl_is(n, PLIST_BOOLEAN))
		return def;
	uint8_t b = 0;
	plist_get_bool_val(n, &b);
	return b != 0;
}

int64_t dk_pl_int(plist_t dict, const char *key, int64_t def)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	if (!dk_pl_is(n, PLIST_UINT))
		return def;
	uint64_t v = 0;
	plist_get_uint_val(n, &v);
	return (int64_t)v;
}

const char *dk_pl_str(plist_t dict, const char *key)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	if (!dk_pl_is(n, PLIST_STRING))
		return NULL;
	return plist_get_string_ptr(n, NULL);
}

const uint8_t *dk_pl_data(plist_t dict, const char *key, size_t *len)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	*len = 0;
	if (!dk_pl_is(n, PLIST_DATA))
		return NULL;
	uint64_t l = 0;
	const char *d = plist_get_data_ptr(n, &l);
	*len = (size_t)l;
	return (const uint8_t *)(d ? d : "");
}

long dk_oc_kernel_version(const char *s)
{
	/* "A[.B[.C]]" with A 0-99, B and C 0-99 */
	long part[3] = {0, 0, 0};
	int np = 0;
	const char *p = s;
	if (!s || !*s)
		return -1;
	while (np < 3) {
		if (!isdigit((unsigned char)*p))
			return -1;
		long v = 0;
		int digits = 0;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p++ - '0');
			if (++digits > 2)
				return -1;
		}
		part[np++] = v;
		if (*p == 0)
			break;
		if (*p != '.')
			return -1;
		p++;
	}
	if (*p)
		return -1;
	return part[0] * 10000 + part[1] * 100 + part[2];
}

const char *dk_oc_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

bool dk_oc_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool dk_oc_is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
