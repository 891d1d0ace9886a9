/* config.plist = the release's Sample.plist + the recipes (recipes.c) + the
 * entries for what the EFI image holds (drivers, kexts, SSDTs) + the SMBIOS. */
#include "opencore/oc_internal.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strv.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void dk_oc_changes_free(struct dk_oc_changes *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++) {
		free(c->v[i].path);
		free(c->v[i].value);
		free(c->v[i].reason);
		free(c->v[i].active);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

/* SHA-256 of the Docs/Sample.plist of known releases (1.0.6 and 1.0.7 ship
 * the same file). */
static const struct {
	const char *sha256, *release;
} known_samples[] = {
	{"81e498e89c42c6b150880e6e35fb8e7df961bd37ae85308f672eb27ae302640c", "1.0.5"},
	{"1bd3a503d2d71b531249e9d52fb1b8307e61547f6e593743da4969e5e2574203", "1.0.6/1.0.7"},
};

static const char *sample_fingerprint(const char *path)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (!path || dk_read_file(path, &data, &len, 64u << 20) < 0) {
		dk_errclear();
		return "unknown";
	}
	uint8_t md[32];
	if (dk_sha256(data, len, md) < 0) {
		dk_errclear();
		return "unknown";
	}
	char hex[65];
	dk_hex(md, sizeof md, hex);
	for (size_t i = 0; i < DK_ARRAY_SIZE(known_samples); i++)
		if (!strcmp(hex, known_samples[i].sha256))
			return known_samples[i].release;
	return "unknown";
}

const char *dk_oc_sample_release(const char *sample_path, const char *given)
{
	static _Thread_local char buf[32];
	if (given && *given)
		return given;
	const char *best = NULL;
	size_t bestlen = 0;
	for (const char *p = sample_path ? sample_path : ""; *p; p++) {
		if (!isdigit((unsigned char)*p) || (p > sample_path && (isdigit((unsigned char)p[-1]) || p[-1] == '.')))
			continue;
		const char *q = p;
		int dots = 0;
		while (isdigit((unsigned char)*q) || (*q == '.' && isdigit((unsigned char)q[1]))) {
			if (*q == '.')
				dots++;
			q++;
		}
		if (dots == 2 && (size_t)(q - p) < sizeof buf) {
			best = p;
			bestlen = (size_t)(q - p);
		}
	}
	if (!best)
		return sample_fingerprint(sample_path);
	memcpy(buf, best, bestlen);
	buf[bestlen] = 0;
	return buf;
}

struct ctx {
	const struct dk_oc_config_opts *o;
	plist_t root, pristine;
	const char *sample_name;
	const char *release;
	enum dk_host_cpu_kind cpu;
	struct dk_kext *kexts;
	int nkexts;
	struct dk_oc_changes *changes;
	const char *active;   /* for which releases the entry being applied acts (record()) */
	char **bootargs;      /* tokens to add */
	const char **bootarg_reasons;
	char **bootarg_active;
	int nbootargs;
};

const struct dk_macos *dk_oc_macos_of_kernel(const char *kernel)
{
	long v = kernel && *kernel ? dk_oc_kernel_version(kernel) : -1;
	if (v < 0)
		return NULL;
	for (int i = 0; i < dk_macos_count; i++)
		if (dk_macos_table[i].darwin >= v / 10000)
			return &dk_macos_table[i];
	return NULL;
}

char *dk_oc_active_text(const struct dk_macos *lo, const struct dk_macos *hi, const char *min_kernel,
			const char *max_kernel)
{
	struct dk_buf b = {0};
	if (lo && hi)
		dk_buf_printf(&b, "macOS %s %s to %s %s", lo->version, lo->marketing, hi->version, hi->marketing);
	else if (lo)
		dk_buf_printf(&b, "macOS %s %s and later", lo->version, lo->marketing);
	else if (hi)
		dk_buf_printf(&b, "up to macOS %s %s", hi->version, hi->marketing);
	else
		dk_buf_puts(&b, "all releases");
	bool mn = min_kernel && *min_kernel, mx = max_kernel && *max_kernel;
	if (mn || mx)
		dk_buf_printf(&b, " (%s%s%s%s%s)", mn ? "MinKernel " : "", mn ? min_kernel : "", mn && mx ? ", " : "",
			      mx ? "MaxKernel " : "", mx ? max_kernel : "");
	return b.data ? b.data : dk_strdup("");
}

static const char *field_value(const struct dk_oc_field *f, const char *key)
{
	for (; f && f->key; f++)
		if (!strcmp(f->key, key))
			return f->value;
	return NULL;
}

/* The active text of a recipe: its macOS range; for an upgrade-safe entry
 * the kernel range its fields carry (present for every release of the model). */
static char *recipe_active(const struct dk_oc_recipe *r)
{
	const struct dk_macos *lo = r->os_min ? dk_macos_find(r->os_min) : NULL;
	const struct dk_macos *hi = r->os_max ? dk_macos_find(r->os_max) : NULL;
	char *t = dk_oc_active_text(lo, hi, field_value(r->fields, "MinKernel"), field_value(r->fields, "MaxKernel"));
	if (!r->upgrade)
		return t;
	char *u = dk_asprintf("%s; kept for every release of the model, the kernel range gates it", t);
	free(t);
	return u;
}

static int missing(struct ctx *c, const char *path)
{
	return dk_fail("%s (OpenCore %s): missing key %s", c->sample_name, c->release, path);
}

static void record(struct ctx *c, const char *path, const char *value, const char *reason, bool merge)
{
	if (!c->changes)
		return;
	if (merge)
		for (int i = 0; i < c->changes->n; i++)
			if (!strcmp(c->changes->v[i].path, path)) {
				free(c->changes->v[i].value);
				free(c->changes->v[i].reason);
				c->changes->v[i].value = dk_strdup(value);
				c->changes->v[i].reason = dk_strdup(reason);
				free(c->changes->v[i].active);
				c->changes->v[i].active = dk_strdup(c->active ? c->active : "all releases");
				return;
			}
	c->changes->v = dk_realloc(c->changes->v, sizeof *c->changes->v * (size_t)(c->changes->n + 1));
	struct dk_oc_change *ch = &c->changes->v[c->changes->n++];
	ch->path = dk_strdup(path);
	ch->value = dk_strdup(value);
	ch->reason = dk_strdup(reason ? reason : "");
	ch->active = dk_strdup(c->active ? c->active : "all releases");
}

static int hexnib(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* A node from a typed textual value; NULL + dk_fail on a bad table value. */
static plist_t make_node(char type, const char *value)
{
	switch (type) {
	case 'b':
		return plist_new_bool(!strcmp(value, "true"));
	case 'i': {
		char *end;
		long long v = strtoll(value, &end, 0);
		if (*end) {
			dk_fail("recipe value '%s' is not an integer", value);
			return NULL;
		}
		return plist_new_uint((uint64_t)v);
	}
	case 's':
		return plist_new_string(value);
	case 'a':
		return plist_new_data(value, strlen(value));
	case 'x': {
		size_t n = strlen(value);
		if (n % 2) {
			dk_fail("recipe value '%s' is not hex", value);
			return NULL;
		}
		uint8_t buf[64];
		if (n / 2 > sizeof buf) {
			dk_fail("recipe value '%s' too long", value);
			return NULL;
		}
		for (size_t i = 0; i < n / 2; i++) {
			int h = hexnib(value[2 * i]), l = hexnib(value[2 * i + 1]);
			if (h < 0 || l < 0) {
				dk_fail("recipe value '%s' is not hex", value);
				return NULL;
			}
			buf[i] = (uint8_t)(h << 4 | l);
		}
		return plist_new_data((const char *)buf, n / 2);
	}
	}
	dk_fail("recipe type '%c' unknown", type);
	return NULL;
}

/* '$' values from the context; *skip when the value is not given. */
static plist_t context_node(struct ctx *c, const char *what, bool *skip)
{
	const struct dk_smbios *s = c->o->smbios;
	*skip = false;
	if (!strcmp(what, "product"))
		return plist_new_string(s->product);
	if (!strcmp(what, "serial"))
		return plist_new_string(s->serial);
	if (!strcmp(what, "mlb"))
		return plist_new_string(s->mlb);
	if (!strcmp(what, "uuid"))
		return plist_new_string(s->uuid);
	if (!strcmp(what, "rom"))
		return plist_new_data((const char *)s->rom, 6);
	if (!strcmp(what, "resolution")) {
		if (!c->o->resolution) {
			*skip = true;
			return NULL;
		}
		return plist_new_string(c->o->resolution);
	}
	dk_fail("recipe context value '%s' unknown", what);
	return NULL;
}

static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && !strncasecmp(p, name, n))
			return true;
		p += len;
		if (*p == '|')
			p++;
	}
	return false;
}

static bool kext_present(struct ctx *c, const char *id)
{
	for (int i = 0; i < c->nkexts; i++)
		if (!strcmp(c->kexts[i].identifier, id))
			return true;
	return false;
}

static bool applies(struct ctx *c, const struct dk_oc_recipe *r)
{
	const struct dk_oc_config_opts *o = c->o;
	if (r->models && !list_has(r->models, o->model->name))
		return false;
	/* upgrade-safe: any release of the model's range in the recipe's range */
	const struct dk_macos *newest = o->macos, *oldest = o->macos;
	if (r->upgrade) {
		const struct dk_macos *hi = dk_macos_find(o->model->macos_max), *lo = dk_macos_find(o->model->macos_min);
		newest = hi && dk_macos_cmp(hi, o->macos) > 0 ? hi : o->macos;
		oldest = lo && dk_macos_cmp(lo, o->macos) < 0 ? lo : o->macos;
	}
	if (r->os_min && dk_macos_cmp(newest, dk_macos_find(r->os_min)) < 0)
		return false;
	if (r->os_max && dk_macos_cmp(oldest, dk_macos_find(r->os_max)) > 0)
		return false;
	if (r->gpus && !(r->gpus & (1u << o->gpu)))
		return false;
	if (r->cpus && !(r->cpus & (1u << c->cpu)))
		return false;
	if (r->kext) {
		bool neg = r->kext[0] == '!';
		if (kext_present(c, r->kext + neg) == neg)
			return false;
	}
	for (int i = 0; r->without && i < c->nkexts; i++)
		if (c->kexts[i].parent < 0 && !strcasecmp(c->kexts[i].name, r->without))
			return false;
	return true;
}

static bool is_map_parent(const char *parent)
{
	return dk_startswith(parent, "NVRAM/Add/") || dk_startswith(parent, "DeviceProperties/Add/");
}

static int set_node(struct ctx *c, const char *path, plist_t node, const char *reason)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *parent_path = dk_strndup(path, (size_t)(slash - path));
	const char *key = slash + 1;
	plist_t parent = dk_pl_get(c->root, parent_path);
	if (!dk_pl_is(parent, PLIST_DICT)) {
		plist_free(node);
		return missing(c, parent_path);
	}
	plist_t old = plist_dict_get_item(parent, key);
	if (!old && !is_map_parent(parent_path)) {
		plist_free(node);
		return missing(c, path);
	}
	if (old && plist_get_node_type(old) != plist_get_node_type(node)) {
		plist_type ot = plist_get_node_type(old), nt = plist_get_node_type(node);
		plist_free(node);
		return dk_fail("%s (OpenCore %s): %s is a %s, the recipe expects a %s", c->sample_name, c->release,
			       path, dk_pl_type_name(ot), dk_pl_type_name(nt));
	}
	_cleanup_free_ char *before = dk_pl_render(old);
	_cleanup_free_ char *after = dk_pl_render(node);
	bool same = old && !strcmp(before, after);
	_cleanup_free_ char *why = same ? dk_asprintf("%s [Sample value kept]", reason) : dk_strdup(reason);
	record(c, path, after, why, true);
	plist_dict_set_item(parent, key, node);
	return 0;
}

static int do_clear(struct ctx *c, const char *path, const char *reason)
{
	plist_t n = dk_pl_get(c->root, path);
	if (!n)
		return missing(c, path);
	uint32_t before = 0;
	if (dk_pl_is(n, PLIST_ARRAY)) {
		before = plist_array_get_size(n);
		while (plist_array_get_size(n) > 0)
			plist_array_remove_item(n, plist_array_get_size(n) - 1);
	} else if (dk_pl_is(n, PLIST_DICT)) {
		before = plist_dict_get_size(n);
		for (;;) {
			plist_dict_iter it = NULL;
			plist_dict_new_iter(n, &it);
			char *key = NULL;
			plist_t v = NULL;
			plist_dict_next_item(n, it, &key, &v);
			free(it);
			if (!key)
				break;
			plist_dict_remove_item(n, key);
			free(key);
		}
	} else {
		return dk_fail("%s (OpenCore %s): %s is a %s, expected an array or dictionary", c->sample_name,
			       c->release, path, dk_pl_type_name(plist_get_node_type(n)));
	}
	if (before) {
		_cleanup_free_ char *v = dk_asprintf("emptied (%u Sample entries removed)", before);
		record(c, path, v, reason, true);
	}
	return 0;
}

/* Append an entry built on the Sample's own entry schema. */
static int do_append(struct ctx *c, const char *path, const struct dk_oc_field *fields, const char *reason)
{
	plist_t arr = dk_pl_get(c->root, path);
	if (!dk_pl_is(arr, PLIST_ARRAY))
		return missing(c, path);
	plist_t tarr = dk_pl_get(c->pristine, path);
	plist_t tmpl = dk_pl_is(tarr, PLIST_ARRAY) && plist_array_get_size(tarr) > 0 ? plist_array_get_item(tarr, 0) : NULL;
	if (tmpl && !dk_pl_is(tmpl, PLIST_DICT))
		tmpl = NULL;
	plist_t e = tmpl ? plist_copy(tmpl) : plist_new_dict();
	const char *label = NULL;
	for (const struct dk_oc_field *f = fields; f->key; f++) {
		plist_t v = make_node(f->type, f->value);
		if (!v) {
			plist_free(e);
			return -1;
		}
		plist_t t = tmpl ? plist_dict_get_item(tmpl, f->key) : NULL;
		if (tmpl && !t) {
			plist_free(v);
			plist_free(e);
			_cleanup_free_ char *p = dk_asprintf("%s[]/%s", path, f->key);
			return missing(c, p);
		}
		if (t && plist_get_node_type(t) != plist_get_node_type(v)) {
			plist_type tt = plist_get_node_type(t), vt = plist_get_node_type(v);
			plist_free(v);
			plist_free(e);
			return dk_fail("%s (OpenCore %s): %s[]/%s is a %s, dkvm writes a %s", c->sample_name,
				       c->release, path, f->key, dk_pl_type_name(tt), dk_pl_type_name(vt));
		}
		plist_dict_set_item(e, f->key, v);
		if (!label && (!strcmp(f->key, "Path") || !strcmp(f->key, "BundlePath") || !strcmp(f->key, "Comment")))
			label = f->value;
	}
	uint32_t idx = plist_array_get_size(arr);
	plist_array_append_item(arr, e);
	_cleanup_free_ char *p = dk_asprintf("%s[%u]", path, idx);
	_cleanup_free_ char *v = dk_asprintf("+ %s", label ? label : "entry");
	record(c, p, v, reason, false);
	return 0;
}

static int apply_recipe(struct ctx *c, const struct dk_oc_recipe *r)
{
	switch (r->op) {
	case DK_OC_CLEAR:
		return do_clear(c, r->path, r->reason);
	case DK_OC_APPEND:
		return do_append(c, r->path, r->fields, r->reason);
	case DK_OC_BOOTARG:
		c->bootargs = dk_realloc(c->bootargs, sizeof *c->bootargs * (size_t)(c->nbootargs + 1));
		c->bootarg_reasons = dk_realloc(c->bootarg_reasons, sizeof *c->bootarg_reasons * (size_t)(c->nbootargs + 1));
		c->bootarg_active = dk_realloc(c->bootarg_active, sizeof *c->bootarg_active * (size_t)(c->nbootargs + 1));
		c->bootargs[c->nbootargs] = dk_strdup(r->value);
		c->bootarg_active[c->nbootargs] = dk_strdup(c->active);
		c->bootarg_reasons[c->nbootargs++] = r->reason;
		return 0;
	case DK_OC_SET: {
		plist_t n;
		if (r->type == '$') {
			bool skip;
			n = context_node(c, r->value, &skip);
			if (skip)
				return 0;
		} else {
			n = make_node(r->type, r->value);
		}
		if (!n)
			return -1;
		return set_node(c, r->path, n, r->reason);
	}
	}
	return 0;
}

static bool has_token(const char *args, const char *tok)
{
	size_t n = strlen(tok);
	for (const char *p = args; (p = strstr(p, tok)); p += n)
		if ((p == args || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
			return true;
	return false;
}

#define BOOTARGS_PATH "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82/boot-args"

/* The config's boot-args string node, its value copied into b. */
static int bootargs_node(struct ctx *c, plist_t *n, struct dk_buf *b)
{
	*n = dk_pl_get(c->root, BOOTARGS_PATH);
	if (!*n)
		return missing(c, BOOTARGS_PATH);
	if (!dk_pl_is(*n, PLIST_STRING))
		return dk_fail("%s (OpenCore %s): %s is not a string", c->sample_name, c->release, BOOTARGS_PATH);
	dk_buf_puts(b, plist_get_string_ptr(*n, NULL));
	return 0;
}

static int apply_bootargs(struct ctx *c)
{
	if (c->nbootargs == 0)
		return 0;
	const char *path = BOOTARGS_PATH;
	plist_t n;
	struct dk_buf b = {0};
	if (bootargs_node(c, &n, &b) < 0)
		return -1;
	for (int i = 0; i < c->nbootargs; i++) {
		if (has_token(b.data, c->bootargs[i]))
			continue;
		if (b.len)
			dk_buf_puts(&b, " ");
		dk_buf_puts(&b, c->bootargs[i]);
		_cleanup_free_ char *v = dk_asprintf("+ %s", c->bootargs[i]);
		c->active = c->bootarg_active[i];
		record(c, path, v, c->bootarg_reasons[i], false);
	}
	c->active = NULL;
	plist_set_string_val(n, b.data);
	_cleanup_free_ char *v = dk_asprintf("\"%s\"", b.data);
	record(c, path, v, "resulting boot-args (Sample's \"-v keepsyms=1\" plus the tokens above)", false);
	dk_buf_free(&b);
	return 0;
}

/* The space-separated tokens of s, each once. */
static void tokens(const char *s, struct dk_strv *out)
{
	char *copy = dk_strdup(s ? s : "");
	for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
		if (!dk_strv_contains(out->v, t))
			dk_strv_push(out, t);
	free(copy);
}

char *dk_oc_bootargs_merge(const char *old, const char *fresh)
{
	char **managed = dk_oc_recipe_bootargs();
	struct dk_strv o = {0}, f = {0}, out = {0};
	tokens(old, &o);
	tokens(fresh, &f);
	for (size_t i = 0; i < o.n; i++)
		if (dk_strv_contains(f.v, o.v[i]) || !dk_strv_contains(managed, o.v[i]))
			dk_strv_push(&out, o.v[i]);
	for (size_t i = 0; i < f.n; i++)
		if (!dk_strv_contains(out.v, f.v[i]))
			dk_strv_push(&out, f.v[i]);
	char *s = dk_strv_join(out.v, " ");
	dk_strv_clear(&o);
	dk_strv_clear(&f);
	dk_strv_clear(&out);
	dk_strv_free(managed);
	return s;
}

static bool token_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("-_=.,:/+@%", ch);
}

int dk_oc_boot_args_check(const char *const *boot_args)
{
	size_t total = 0;
	for (size_t i = 0; boot_args && boot_args[i]; i++) {
		const char *v = boot_args[i];
		bool any = false;
		for (const char *p = v; *p; p++) {
			if (*p == ' ' || *p == '\t')
				continue;
			if (!token_char_ok(*p))
				return dk_fail("--boot-args '%s': character '%c' is not allowed in boot-args (letters, digits, "
					       "-_=.,:/+@%%)", v, isprint((unsigned char)*p) ? *p : '?');
			any = true;
		}
		if (!any)
			return dk_fail("--boot-args '%s': no boot-arg in it", v);
		total += strlen(v) + 1;
		if (total > 1000)
			return dk_fail("--boot-args: longer than boot-args can hold (1024 bytes in NVRAM)");
		if (v[0] == '-' && !strpbrk(v, " \t") && (v[1] == 0 || v[1] == '+'))
			return dk_fail("--boot-args '%s': nothing to remove", v);
		if ((v[0] == '+' && (v[1] == 0 || v[1] == ' ')))
			return dk_fail("--boot-args '%s': nothing to add", v);
	}
	return 0;
}

/* Remove token tok from the space-separated string in b; false if absent. */
static bool remove_token(struct dk_buf *b, const char *tok)
{
	size_t n = strlen(tok);
	for (char *p = b->data; p && (p = strstr(p, tok)); p++) {
		if ((p != b->data && p[-1] != ' ') || (p[n] && p[n] != ' '))
			continue;
		char *end = p + n;
		while (*end == ' ')
			end++;
		if (!*end && p > b->data)
			while (p > b->data && p[-1] == ' ')
				p--; /* the last token: drop the space before it */
		memmove(p, end, strlen(end) + 1);
		b->len = strlen(b->data);
		return true;
	}
	return false;
}

/* The user's --boot-args on top of the result (opts.boot_args). */
static int apply_user_bootargs(struct ctx *c)
{
	const char *const *ua = c->o->boot_args;
	if (!ua || !ua[0])
		return 0;
	if (dk_oc_boot_args_check(ua) < 0)
		return -1;
	const char *path = BOOTARGS_PATH;
	plist_t n;
	struct dk_buf b = {0};
	if (bootargs_node(c, &n, &b) < 0)
		return -1;
	c->active = NULL;
	for (size_t i = 0; ua[i]; i++) {
		const char *v = ua[i];
		if (v[0] == '-' && !strpbrk(v, " \t")) {
			if (!remove_token(&b, v + 1)) {
				if (c->o->boot_args_rebuild)
					continue; /* the plan no longer adds it */
				_cleanup_free_ char *have = dk_strdup(b.data ? b.data : "");
				dk_buf_free(&b);
				return dk_fail("--boot-args %s: '%s' is not in boot-args (\"%s\"); to add '%s' write +%s", v,
					       v + 1, have, v, v);
			}
			_cleanup_free_ char *rv = dk_asprintf("- %s", v + 1);
			record(c, path, rv, "removed by --boot-args", false);
			continue;
		}
		_cleanup_free_ char *copy = dk_strdup(v);
		for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
			const char *tok = t[0] == '+' ? t + 1 : t;
			if (!*tok || has_token(b.data ? b.data : "", tok))
				continue;
			if (b.len)
				dk_buf_puts(&b, " ");
			dk_buf_puts(&b, tok);
			_cleanup_free_ char *rv = dk_asprintf("+ %s", tok);
			record(c, path, rv, "added by --boot-args", false);
		}
	}
	plist_set_string_val(n, b.data ? b.data : "");
	_cleanup_free_ char *rv = dk_asprintf("\"%s\"", b.data ? b.data : "");
	record(c, path, rv, "resulting boot-args after --boot-args", false);
	dk_buf_free(&b);
	return 0;
}

static int add_kexts(struct ctx *c)
{
	for (int i = 0; i < c->nkexts; i++) {
		const struct dk_kext *k = &c->kexts[i];
		_cleanup_free_ char *comment = k->version ? dk_asprintf("%s %s", k->name, k->version) : dk_strdup(k->name);
		struct dk_oc_field f[] = {
			{"Arch", 's', "Any"},
			{"BundlePath", 's', k->bundle_path},
			{"Comment", 's', comment},
			{"Enabled", 'b', "true"},
			{"ExecutablePath", 's', k->executable},
			{"MaxKernel", 's', k->max_kernel},
			{"MinKernel", 's', k->min_kernel},
			{"PlistPath", 's', "Contents/Info.plist"},
			{NULL, 0, NULL},
		};
		struct dk_buf why = {0};
		dk_buf_printf(&why, "kext %s (%s) from %s", k->identifier, k->executable[0] ? k->executable : "plist-only",
			      c->o->kexts_dir);
		if (k->parent >= 0)
			dk_buf_printf(&why, "; plugin of %s, placed after it", c->kexts[k->parent].bundle_path);
		for (int d = 0; d < k->ndeps; d++)
			for (int j = 0; j < i; j++)
				if (!strcmp(c->kexts[j].identifier, k->deps[d]))
					dk_buf_printf(&why, "; after %s (OSBundleLibraries)", c->kexts[j].name);
		if (k->kernel_reason)
			dk_buf_printf(&why, "; MinKernel %s%s%s: %s", k->min_kernel, k->max_kernel[0] ? " MaxKernel " : "",
				      k->max_kernel, k->kernel_reason);
		_cleanup_free_ char *active = dk_oc_active_text(dk_oc_macos_of_kernel(k->min_kernel),
								 k->max_kernel[0] ? dk_oc_macos_of_kernel(k->max_kernel) : NULL,
								 k->min_kernel, k->max_kernel);
		c->active = active;
		int r = do_append(c, "Kernel/Add", f, why.data);
		c->active = NULL;
		dk_buf_free(&why);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* An HFS+ driver given: the one the family allows, in place of the
 * recipes' (exactly one HFS driver, at the same load position). 1 replaced,
 * 0 none to replace, -1 refused. */
static int replace_hfs(struct ctx *c, plist_t arr, const char *n)
{
	if (!dk_oc_hfs_allowed(c->o->macos, n))
		return dk_fail("UEFI/Drivers: %s cannot be used with macOS %s: the guide allows only %s there "
			       "(never mix OpenHfsPlus/HfsPlus with HfsPlusLegacy)",
			       n, c->o->macos->marketing,
			       dk_macos_cmp(c->o->macos, dk_macos_find("catalina")) < 0 ? "HfsPlusLegacy.efi"
											 : "OpenHfsPlus.efi or HfsPlus.efi");
	for (uint32_t j = 0; dk_pl_is(arr, PLIST_ARRAY) && j < plist_array_get_size(arr); j++) {
		plist_t e = plist_array_get_item(arr, j);
		const char *p = dk_pl_str(e, "Path");
		if (!p || !dk_oc_is_hfs_driver(p))
			continue;
		_cleanup_free_ char *was = dk_strdup(p);
		plist_dict_set_item(e, "Path", plist_new_string(n));
		if (dk_pl_str(e, "Comment"))
			plist_dict_set_item(e, "Comment", plist_new_string(n));
		_cleanup_free_ char *at = dk_asprintf("UEFI/Drivers[%u]", j);
		_cleanup_free_ char *v = dk_asprintf("%s (was %s)", n, was);
		record(c, at, v, "extra UEFI driver requested: replaces the other HFS+ driver (exactly one HFS+ driver)",
		       true);
		return 1;
	}
	return 0;
}

static int add_named(struct ctx *c, const char *path, const char *const *names, const char *suffix1,
		     const char *suffix2, bool driver)
{
	for (int i = 0; names && names[i]; i++) {
		const char *n = names[i];
		if (!dk_name_is_safe(n) || !(dk_endswith(n, suffix1) || (suffix2 && dk_endswith(n, suffix2))))
			return dk_fail("%s: '%s' is not a plain %s%s%s file name", path, n, suffix1, suffix2 ? " or " : "",
				       suffix2 ? suffix2 : "");
		/* skip duplicates of what the recipes already added */
		plist_t arr = dk_pl_get(c->root, path);
		bool dup = false;
		for (uint32_t j = 0; dk_pl_is(arr, PLIST_ARRAY) && j < plist_array_get_size(arr); j++) {
			const char *p = dk_pl_str(plist_array_get_item(arr, j), "Path");
			if (p && !strcasecmp(p, n))
				dup = true;
		}
		if (dup)
			continue;
		int k = driver && dk_oc_is_hfs_driver(n) ? replace_hfs(c, arr, n) : 0;
		if (k < 0)
			return -1;
		if (k > 0)
			continue;
		struct dk_oc_field fd[] = {
			{"Path", 's', n}, {"Enabled", 'b', "true"}, {"LoadEarly", 'b', "false"},
			{"Arguments", 's', ""}, {"Comment", 's', n}, {NULL, 0, NULL},
		};
		struct dk_oc_field fa[] = {
			{"Path", 's', n}, {"Enabled", 'b', "true"}, {"Comment", 's', n}, {NULL, 0, NULL},
		};
		if (do_append(c, path, driver ? fd : fa, driver ? "extra UEFI driver requested" : "SSDT placed in EFI/OC/ACPI") < 0)
			return -1;
	}
	return 0;
}

/* A device path as OpenCore's DeviceProperties keys it: PciRoot(...)/Pci(...)... */
static bool devpath_ok(const char *s)
{
	if (!dk_startswith(s, "PciRoot(") || strlen(s) > 256)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("(),/", *p))
			return false;
	return true;
}

/* The DeviceProperties table (recipes.c) for the passed-through devices. */
static int apply_devprops(struct ctx *c)
{
	const struct dk_oc_passthrough *pt = c->o->passthrough;
	if (!pt)
		return 0;
	plist_t add = dk_pl_get(c->root, "DeviceProperties/Add");
	if (!dk_pl_is(add, PLIST_DICT))
		return missing(c, "DeviceProperties/Add");
	for (int i = 0; i < dk_oc_devprop_count; i++) {
		const struct dk_oc_devprop *d = &dk_oc_devprops[i];
		const char *path = d->when == 'a' ? pt->audio_path : pt->gpu_path;
		if (!path || (d->when == 'g' && d->vendor && (d->vendor != pt->gpu_vendor || d->device != pt->gpu_device)))
			continue;
		if (!devpath_ok(path))
			return dk_fail("DeviceProperties: '%s' is not a device path (PciRoot(0x0)/Pci(0x2,0x0))", path);
		plist_t node;
		if (d->type == '$') {
			unsigned long id = pt->layout_id > 0 ? (unsigned long)pt->layout_id : 1;
			if (!strcmp(d->value, "spoof")) {
				if (!pt->gpu_spoof)
					continue;
				char *end = NULL;
				errno = 0;
				id = strtoul(pt->gpu_spoof, &end, 16);
				if (!dk_startswith(pt->gpu_spoof, "0x") || errno || !end || *end || id == 0 || id > 0xffff)
					return dk_fail("DeviceProperties: device-id spoof '%s' is not a PCI device id (0x73ff)",
						       pt->gpu_spoof);
			}
			uint8_t le[4] = {(uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16), (uint8_t)(id >> 24)};
			node = plist_new_data((const char *)le, 4);
		} else if (!(node = make_node(d->type, d->value))) {
			return -1;
		}
		plist_t dev = plist_dict_get_item(add, path);
		if (!dk_pl_is(dev, PLIST_DICT)) {
			dev = plist_new_dict();
			plist_dict_set_item(add, path, dev);
		}
		plist_dict_set_item(dev, d->key, node);
		_cleanup_free_ char *at = dk_asprintf("DeviceProperties/Add/%s/%s", path, d->key);
		_cleanup_free_ char *v = dk_pl_render(node);
		record(c, at, v, d->reason, true);
	}
	return 0;
}

static bool resolution_ok(const char *s)
{
	if (!strcmp(s, "Max"))
		return true;
	const char *p = s;
	int parts = 0;
	while (parts < 3) {
		if (!isdigit((unsigned char)*p) || *p == '0')
			return false;
		while (isdigit((unsigned char)*p))
			p++;
		parts++;
		if (parts == 1 && *p == 'x') {
			p++;
			continue;
		}
		if (parts == 2 && *p == '@') {
			p++;
			continue;
		}
		break;
	}
	return *p == 0 && parts >= 2;
}

/* Run the validator on the result (schema against the pristine sample); what
 * it finds comes from the inputs (an extra driver, a kext), so warn. */
static void self_check(struct ctx *c, const char *xml, uint32_t len)
{
	char *sx = NULL;
	uint32_t slen = 0;
	plist_to_xml(c->pristine, &sx, &slen);
	struct dk_oc_findings f;
	if (dk_oc_validate_xml(xml, len, sx, slen, NULL, &f) == 0) {
		for (int i = 0; i < f.n; i++)
			if (f.v[i].severity == DK_OC_ERROR)
				dk_warn("config.plist: %s: %s [%s]", f.v[i].path, f.v[i].message, f.v[i].rule);
		dk_oc_findings_free(&f);
	} else {
		dk_errclear();
	}
	if (sx)
		plist_to_xml_free(sx);
}

/* The GUI picker (guide 4.6): OpenCanopy.efi loaded, PickerMode External and
 * the guide's picker settings; also when OpenCanopy.efi is given as a driver
 * (OpenCanopy does nothing with the builtin picker). */
static int apply_picker(struct ctx *c)
{
	const struct dk_oc_config_opts *o = c->o;
	bool canopy = false;
	for (size_t i = 0; o->drivers && o->drivers[i]; i++)
		canopy |= !strcasecmp(o->drivers[i], "OpenCanopy.efi");
	bool gui = o->picker && !strcmp(o->picker, "gui");
	if (o->picker && !gui && strcmp(o->picker, "text"))
		return dk_fail("picker '%s': gui or text", o->picker);
	if (o->picker && !gui && canopy)
		return dk_fail("--picker text with the OpenCanopy.efi driver: OpenCanopy is the GUI picker (--picker gui)");
	if (!gui && !canopy)
		return 0;
	if (!canopy) {
		const char *const names[] = {"OpenCanopy.efi", NULL};
		c->active = NULL;
		struct dk_oc_field fd[] = {
			{"Path", 's', names[0]}, {"Enabled", 'b', "true"}, {"LoadEarly", 'b', "false"},
			{"Arguments", 's', ""}, {"Comment", 's', names[0]}, {NULL, 0, NULL},
		};
		if (do_append(c, "UEFI/Drivers", fd,
			      "guide 4.6 (--picker gui): OpenCanopy.efi, the graphical picker (the release's X64/EFI/OC/Drivers)") < 0)
			return -1;
	}
	const char *why = gui ? "guide 4.6 (--picker gui)" : "guide 4.6 (OpenCanopy.efi given)";
	struct {
		const char *key;
		char type;
		const char *value, *reason;
	} set[] = {
		{"Misc/Boot/PickerMode", 's', "External", "OpenCanopy draws the picker (External; OpenCore's validator requires it)"},
		{"Misc/Boot/PickerAttributes", 'i', "17", "custom icons + mouse (17)"},
		{"Misc/Boot/PickerVariant", 's', "Acidanthera\\GoldenGate", "the GoldenGate theme from OcBinaryData's Resources"},
		{"Misc/Boot/PickerAudioAssist", 'b', "false",
		 "off: dkvm fetches OcBinaryData's fonts, GoldenGate images and labels, not its Audio"},
	};
	for (size_t i = 0; i < DK_ARRAY_SIZE(set); i++) {
		plist_t n = make_node(set[i].type, set[i].value);
		_cleanup_free_ char *r = dk_asprintf("%s: %s", why, set[i].reason);
		if (!n || set_node(c, set[i].key, n, r) < 0)
			return -1;
	}
	return 0;
}

static bool kext_named(struct ctx *c, const char *name)
{
	for (int i = 0; i < c->nkexts; i++)
		if (!strcasecmp(c->kexts[i].name, name))
			return true;
	return false;
}

/* What the guide requires or forbids around the kexts and the GPU: a refusal
 * (VirtualSMC, unless forced) or warnings naming what breaks. */
static int guide_checks(struct ctx *c)
{
	const struct dk_oc_config_opts *o = c->o;
	if (o->kexts_dir && (kext_named(c, "VirtualSMC") || kext_present(c, "as.vit9696.VirtualSMC"))) {
		if (!o->force)
			return dk_fail("VirtualSMC.kext in %s: the guide never loads VirtualSMC on QEMU: QEMU's applesmc "
				       "device already is the SMC (with its OSK), and two SMCs conflict; remove it "
				       "(or --force to keep it)",
				       o->kexts_dir);
		dk_warn("VirtualSMC.kext kept (--force): it conflicts with QEMU's applesmc device, which already is the SMC");
	}
	if (o->kexts_dir) {
		if (!kext_present(c, "as.vit9696.Lilu"))
			dk_warn("Lilu.kext missing from %s: the guide loads it always; WhateverGreen, AppleALC, VMHide, "
				"RestrictEvents and the other Lilu plugins do nothing without it",
				o->kexts_dir);
		if (dk_macos_cmp(o->macos, dk_macos_find("sonoma")) >= 0 && !kext_named(c, "VMHide"))
			dk_warn("VMHide.kext missing from %s: the guide requires it from Sonoma (without it macOS sees "
				"the hypervisor: Bluetooth fails on 14, Apple ID / iCloud sign-in on 15 and later)",
				o->kexts_dir);
		if (dk_macos_cmp(o->macos, dk_macos_find("monterey")) >= 0 && !kext_named(c, "AppleMCEReporterDisabler"))
			dk_warn("AppleMCEReporterDisabler.kext missing from %s: the guide requires it on KVM from macOS "
				"12.3 (without it AppleMCEReporter panics the guest at boot)",
				o->kexts_dir);
	}
	if (o->gpu == DK_GPU_KEPLER && dk_macos_cmp(o->macos, dk_macos_find("bigsur")) > 0)
		dk_warn("Kepler (legacy NVIDIA) has no macOS driver past Big Sur: macOS %s follows the guide's legacy "
			"NVIDIA / OCLP route (csr-active-config 03080000 = SIP partly off, amfi_get_out_of_my_way=1 = AMFI "
			"off); after installing, run OpenCore Legacy Patcher's Post-Install Root Patch, else the card "
			"has no acceleration",
			o->macos->marketing);
	return 0;
}

int dk_oc_config_build(const struct dk_oc_config_opts *o, char **xml, uint32_t *len,
		       struct dk_oc_changes *changes)
{
	*xml = NULL;
	*len = 0;
	if (changes)
		memset(changes, 0, sizeof *changes);
	if (!o || !o->sample_path || !o->model || !o->macos || !o->smbios)
		return dk_fail("opencore config: sample, model, macOS release and SMBIOS are required");
	if (!dk_mac_model_supports(o->model, o->macos)) {
		const struct dk_macos *lo = dk_macos_find(o->model->macos_min), *hi = dk_macos_find(o->model->macos_max);
		return dk_fail("%s does not run macOS %s (%s): it supports %s to %s", o->model->name, o->macos->marketing,
			       o->macos->version, lo ? lo->marketing : "?", hi ? hi->marketing : "?");
	}
	if (strcasecmp(o->smbios->product, o->model->name) != 0)
		return dk_fail("SMBIOS identity is for %s, not %s", o->smbios->product, o->model->name);
	if (o->host_cpu != DK_HOSTCPU_INTEL && o->host_cpu != DK_HOSTCPU_AMD)
		return dk_fail("opencore config: the host CPU kind (intel or amd) is required");
	if (o->resolution && !resolution_ok(o->resolution))
		return dk_fail("resolution '%s': expected WxH, WxH@BPP or Max", o->resolution);

	struct ctx c = {.o = o, .changes = changes};
	const char *slash = strrchr(o->sample_path, '/');
	c.sample_name = slash ? slash + 1 : o->sample_path;
	c.release = dk_oc_sample_release(o->sample_path, o->release);
	c.cpu = o->host_cpu;
	int r = -1;
	if (dk_pl_load(o->sample_path, &c.root) < 0)
		goto out;
	c.pristine = plist_copy(c.root);
	if (o->kexts_dir && dk_kexts_scan(o->kexts_dir, &c.kexts, &c.nkexts) < 0)
		goto out;
	if (guide_checks(&c) < 0)
		goto out;
	for (int i = 0; i < dk_oc_recipe_count; i++) {
		if (!applies(&c, &dk_oc_recipes[i]))
			continue;
		_cleanup_free_ char *active = recipe_active(&dk_oc_recipes[i]);
		c.active = active;
		int ar = apply_recipe(&c, &dk_oc_recipes[i]);
		c.active = NULL;
		if (ar < 0)
			goto out;
	}
	if (apply_bootargs(&c) < 0 || apply_user_bootargs(&c) < 0 || apply_devprops(&c) < 0)
		goto out;
	if (add_named(&c, "UEFI/Drivers", o->drivers, ".efi", NULL, true) < 0)
		goto out;
	if (apply_picker(&c) < 0)
		goto out;
	if (add_named(&c, "ACPI/Add", o->acpi, ".aml", ".bin", false) < 0)
		goto out;
	if (add_kexts(&c) < 0)
		goto out;
	char *out = NULL;
	uint32_t olen = 0;
	plist_to_xml(c.root, &out, &olen);
	if (!out) {
		dk_fail("%s: cannot serialize the configuration", c.sample_name);
		goto out;
	}
	*xml = dk_malloc((size_t)olen + 1);
	memcpy(*xml, out, olen);
	(*xml)[olen] = 0;
	*len = olen;
	plist_to_xml_free(out);
	self_check(&c, *xml, olen);
	r = 0;
out:
	if (r < 0 && changes)
		dk_oc_changes_free(changes);
	if (c.root)
		plist_free(c.root);
	if (c.pristine)
		plist_free(c.pristine);
	dk_kexts_free(c.kexts, c.nkexts);
	for (int i = 0; i < c.nbootargs; i++) {
		free(c.bootargs[i]);
		free(c.bootarg_active[i]);
	}
	free(c.bootargs);
	free(c.bootarg_active);
	free(c.bootarg_reasons);
	return r;
}
