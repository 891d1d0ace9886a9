/* vfio-pci binding: pure file edits, device selection, live sysfs writes
 * through the sysroot, persistent configuration under --root with a manifest
 * of backups for undo. */
#include "tune/vfio.h"
#include "util/cleanup.h"
#include "util/diff.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"
#include "util/strv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- tokens */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void split_ws(const char *s, struct dk_strv *out)
{
	while (s && *s) {
		while (is_ws(*s))
			s++;
		size_t n = 0;
		while (s[n] && !is_ws(s[n]))
			n++;
		if (n) {
			char *t = dk_strndup(s, n);
			dk_strv_push_take(out, t);
		}
		s += n;
	}
}

static size_t key_len(const char *tok)
{
	return strcspn(tok, "=");
}

static bool same_key(const char *a, const char *b)
{
	size_t la = key_len(a), lb = key_len(b);
	return la == lb && !strncmp(a, b, la);
}

static bool csv_has(const char *csv, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = csv; p && *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && !strncmp(p, item, n))
			return true;
		p += l;
		if (*p == ',')
			p++;
	}
	return false;
}

/* The token that should replace `have` for the wanted `p`, or NULL when
 * `have` already satisfies it. malloc'd. */
static char *merged_token(const char *have, const char *p)
{
	if (!strcmp(have, p))
		return NULL;
	const char *hv = strchr(have, '='), *pv = strchr(p, '=');
	if (!pv)
		return dk_strdup(p);
	size_t k = key_len(p);
	/* vfio-pci.ids= (command line) and ids= (modprobe options): lists */
	if ((k == strlen("vfio-pci.ids") && !strncmp(p, "vfio-pci.ids", k)) || (k == 3 && !strncmp(p, "ids", 3))) {
		struct dk_buf b = {0};
		dk_buf_append(&b, p, k + 1);
		bool first = true, changed = false;
		if (hv && hv[1]) {
			dk_buf_puts(&b, hv + 1);
			first = false;
		}
		for (const char *q = pv + 1; *q;) {
			size_t l = strcspn(q, ",");
			char *id = dk_strndup(q, l);
			if (l && !(hv && csv_has(hv + 1, id))) {
				dk_buf_printf(&b, "%s%s", first ? "" : ",", id);
				first = false;
				changed = true;
			}
			free(id);
			q += l;
			if (*q == ',')
				q++;
		}
		if (!changed) {
			dk_buf_free(&b);
			return NULL;
		}
		return b.data;
	}
	if (k == strlen("intel_iommu") && !strncmp(p, "intel_iommu", k) && hv && csv_has(hv + 1, "on"))
		return NULL;
	return dk_strdup(p);
}

/* Merge params into a token list; true when it changed. `also` (may be NULL)
 * are tokens elsewhere that already count (GRUB_CMDLINE_LINUX). */
static bool merge_list(struct dk_strv *t, char *const *params, char *const *also)
{
	bool changed = false;
	for (char *const *p = params; p && *p; p++) {
		bool satisfied = false;
		for (char *const *a = also; a && *a && !satisfied; a++)
			if (same_key(*a, *p)) {
				char *m = merged_token(*a, *p);
				satisfied = !m;
				free(m);
			}
		if (satisfied)
			continue;
		bool found = false;
		for (size_t i = 0; i < t->n; i++) {
			if (!same_key(t->v[i], *p))
				continue;
			found = true;
			char *m = merged_token(t->v[i], *p);
			if (m) {
				free(t->v[i]);
				t->v[i] = m;
				changed = true;
			}
			break;
		}
		if (!found) {
			dk_strv_push(t, *p);
			changed = true;
		}
	}
	return changed;
}

char **dk_vfio_kernel_params(enum dk_cpu_vendor v, const char *ids)
{
	struct dk_strv l = {0};
	if (v == DK_VENDOR_INTEL)
		dk_strv_push(&l, "intel_iommu=on");
	dk_strv_push(&l, "iommu=pt");
	if (ids && *ids)
		dk_strv_push_take(&l, dk_asprintf("vfio-pci.ids=%s", ids));
	return dk_strv_take(&l);
}

static char *merge_str(const char *cmdline, char *const *params, char *const *also, bool *changed)
{
	struct dk_strv t = {0};
	split_ws(cmdline, &t);
	*changed = merge_list(&t, params, also);
	char *r = *changed ? dk_strv_join(t.v, " ") : dk_strdup(cmdline ? cmdline : "");
	dk_strv_clear(&t);
	return r;
}

char *dk_vfio_cmdline_merge(const char *cmdline, char *const *params)
{
	bool ch;
	return merge_str(cmdline, params, NULL, &ch);
}

/* ---------------------------------------------------------------- lines */

/* Start of the last line (not commented) whose first word is `key` followed
 * by one of `seps`; NULL if none. */
static const char *find_line(const char *text, const char *key, const char *seps)
{
	const char *found = NULL;
	size_t kl = strlen(key);
	for (const char *p = text; p && *p;) {
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		if (!strncmp(q, key, kl) && q[kl] && strchr(seps, q[kl]))
			found = p;
		const char *e = strchr(p, '\n');
		p = e ? e + 1 : NULL;
	}
	return found;
}

static size_t line_len(const char *p)
{
	return strcspn(p, "\n");
}

/* text with [at, at+n) replaced by rep. */
static char *text_splice(const char *text, const char *at, size_t n, const char *rep)
{
	return dk_asprintf("%.*s%s%s", (int)(at - text), text, rep, at + n);
}

/* text + line (adding the missing newline before it). */
static char *append_line(const char *text, const char *line)
{
	const char *t = text ? text : "";
	size_t l = strlen(t);
	return dk_asprintf("%s%s%s\n", t, l && t[l - 1] != '\n' ? "\n" : "", line);
}

/* The value of a shell assignment line KEY=value / "value" / 'value':
 * [*vs, *vs + *vn) and its quote character (0 none). */
static void shell_value(const char *line, const char **vs, size_t *vn, char *quote)
{
	const char *v = strchr(line, '=') + 1;
	size_t l = line_len(v);
	*quote = 0;
	if (l && (*v == '"' || *v == '\'')) {
		*quote = *v;
		const char *e = memchr(v + 1, *v, l - 1);
		*vs = v + 1;
		*vn = e ? (size_t)(e - v - 1) : l - 1;
		return;
	}
	*vs = v;
	*vn = l;
	/* unquoted: up to a comment */
	const char *h = memchr(v, '#', l);
	if (h)
		*vn = (size_t)(h - v);
	while (*vn && is_ws(v[*vn - 1]))
		(*vn)--;
}

char *dk_vfio_edit_grub(const char *text, char *const *params)
{
	const char *t = text ? text : "";
	const char *ld = find_line(t, "GRUB_CMDLINE_LINUX_DEFAULT", "=");
	const char *ll = find_line(t, "GRUB_CMDLINE_LINUX", "=");
	struct dk_strv also = {0};
	if (ll && ld) {
		const char *vs;
		size_t vn;
		char q;
		shell_value(ll, &vs, &vn, &q);
		char *v = dk_strndup(vs, vn);
		split_ws(v, &also);
		free(v);
	}
	const char *line = ld ? ld : ll;
	char *r;
	if (!line) {
		struct dk_strv t2 = {0};
		merge_list(&t2, params, NULL);
		char *j = dk_strv_join(t2.v, " ");
		char *l2 = dk_asprintf("GRUB_CMDLINE_LINUX_DEFAULT=\"%s\"", j);
		r = append_line(text, l2);
		free(l2);
		free(j);
		dk_strv_clear(&t2);
	} else {
		const char *vs;
		size_t vn;
		char q;
		shell_value(line, &vs, &vn, &q);
		char *v = dk_strndup(vs, vn);
		bool changed;
		char *m = merge_str(v, params, also.v, &changed);
		if (!changed) {
			r = dk_strdup(t);
		} else if (q) {
			r = text_splice(t, vs, vn, m);
		} else {
			char *quoted = dk_asprintf("\"%s\"", m);
			r = text_splice(t, vs, vn, quoted);
			free(quoted);
		}
		free(m);
		free(v);
	}
	dk_strv_clear(&also);
	return r;
}

char *dk_vfio_edit_loader_entry(const char *text, char *const *params)
{
	const char *t = text ? text : "";
	/* every options line counts (systemd-boot joins them); edit the last */
	struct dk_strv all = {0};
	const char *last = NULL;
	for (const char *p = t; *p;) {
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		if (!strncmp(q, "options", 7) && (q[7] == ' ' || q[7] == '\t' || q[7] == '\n' || !q[7])) {
			last = p;
			char *v = dk_strndup(q + 7, line_len(q + 7));
			split_ws(v, &all);
			free(v);
		}
		const char *e = strchr(p, '\n');
		if (!e)
			break;
		p = e + 1;
	}
	struct dk_strv want = {0};
	struct dk_strv cur = {0};
	/* the parameters not satisfied anywhere yet */
	for (char *const *p = params; p && *p; p++) {
		bool ok = false;
		for (size_t i = 0; i < all.n && !ok; i++)
			if (same_key(all.v[i], *p)) {
				char *m = merged_token(all.v[i], *p);
				ok = !m;
				free(m);
			}
		if (!ok)
			dk_strv_push(&want, *p);
	}
	char *r;
	if (!want.n) {
		r = dk_strdup(t);
	} else if (!last) {
		char *j = dk_strv_join(want.v, " ");
		char *l = dk_asprintf("options %s", j);
		r = append_line(t, l);
		free(l);
		free(j);
	} else {
		const char *q = last;
		while (*q == ' ' || *q == '\t')
			q++;
		const char *vs = q + 7;
		while (*vs == ' ' || *vs == '\t')
			vs++;
		size_t vn = line_len(vs);
		char *v = dk_strndup(vs, vn);
		bool changed;
		char *m = merge_str(v, want.v, NULL, &changed);
		char *rep = dk_asprintf("options %s", m);
		r = text_splice(t, last, (size_t)(vs - last) + vn, rep);
		free(rep);
		free(m);
		free(v);
	}
	dk_strv_clear(&all);
	dk_strv_clear(&want);
	dk_strv_clear(&cur);
	return r;
}

char *dk_vfio_edit_kernel_cmdline(const char *text, char *const *params)
{
	const char *t = text ? text : "";
	size_t n = line_len(t);
	char *v = dk_strndup(t, n);
	bool changed;
	char *m = merge_str(v, params, NULL, &changed);
	char *r = changed ? dk_asprintf("%s\n", m) : dk_strdup(t);
	free(m);
	free(v);
	return r;
}

char *dk_vfio_edit_kernelstub(const char *text, char *const *params)
{
	json_object *root = json_tokener_parse(text ? text : "");
	json_object *user = NULL, *opts = NULL;
	if (!root || !json_object_object_get_ex(root, "user", &user) ||
	    !json_object_object_get_ex(user, "kernel_options", &opts) || !json_object_is_type(opts, json_type_array)) {
		json_object_put(root);
		return dk_fail("/etc/kernelstub/configuration: no \"user\".\"kernel_options\" array"), NULL;
	}
	struct dk_strv t = {0};
	size_t n = json_object_array_length(opts);
	for (size_t i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(opts, i));
		dk_strv_push(&t, s ? s : "");
	}
	char *r;
	if (!merge_list(&t, params, NULL)) {
		r = dk_strdup(text);
	} else {
		json_object *a = json_object_new_array();
		for (size_t i = 0; i < t.n; i++)
			json_object_array_add(a, json_object_new_string(t.v[i]));
		json_object_object_add(user, "kernel_options", a);
		r = dk_asprintf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
										JSON_C_TO_STRING_SPACED |
										JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	dk_strv_clear(&t);
	json_object_put(root);
	return r;
}

char *dk_vfio_edit_modprobe(const char *text, const char *ids, char *const *drivers)
{
	char *r = text ? dk_strdup(text)
		       : dk_strdup("# dkvm vfio persist: the passthrough devices go to vfio-pci before their drivers\n");
	const char *ol = find_line(r, "options", " \t");
	/* the options line must be for vfio-pci / vfio_pci */
	const char *opt = NULL;
	for (const char *p = r; p && *p;) {
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		if (!strncmp(q, "options", 7) && (q[7] == ' ' || q[7] == '\t')) {
			const char *m = q + 7;
			while (*m == ' ' || *m == '\t')
				m++;
			if ((!strncmp(m, "vfio-pci", 8) || !strncmp(m, "vfio_pci", 8)) && (m[8] == ' ' || m[8] == '\t'))
				opt = p;
		}
		const char *e = strchr(p, '\n');
		p = e ? e + 1 : NULL;
	}
	(void)ol;
	if (ids && *ids) {
		if (!opt) {
			char *l = dk_asprintf("options vfio-pci ids=%s", ids);
			char *n = append_line(r, l);
			free(l);
			free(r);
			r = n;
		} else {
			const char *q = opt;
			while (*q == ' ' || *q == '\t')
				q++;
			const char *args = q + 7;
			while (*args == ' ' || *args == '\t')
				args++;
			args += 8;
			size_t an = line_len(args);
			char *v = dk_strndup(args, an);
			/* ids=... merges like vfio-pci.ids= on the command line */
			char *want = dk_asprintf("ids=%s", ids);
			char *pv[] = {want, NULL};
			bool changed;
			char *m = merge_str(v, pv, NULL, &changed);
			if (changed) {
				char *rep = dk_asprintf(" %s", m);
				char *n = text_splice(r, args, an, rep);
				free(rep);
				free(r);
				r = n;
			}
			free(m);
			free(want);
			free(v);
		}
	}
	for (char *const *d = drivers; d && *d; d++) {
		bool have = false;
		for (const char *p = r; p && *p && !have;) {
			const char *q = p;
			while (*q == ' ' || *q == '\t')
				q++;
			size_t dl = strlen(*d);
			if (!strncmp(q, "softdep", 7) && (q[7] == ' ' || q[7] == '\t')) {
				const char *m = q + 7;
				while (*m == ' ' || *m == '\t')
					m++;
				if (!strncmp(m, *d, dl) && (m[dl] == ' ' || m[dl] == '\t')) {
					char *l = dk_strndup(m, line_len(m));
					have = strstr(l, "pre:") && (strstr(l, " vfio-pci") || strstr(l, " vfio_pci"));
					free(l);
				}
			}
			const char *e = strchr(p, '\n');
			p = e ? e + 1 : NULL;
		}
		if (!have) {
			char *l = dk_asprintf("softdep %s pre: vfio-pci", *d);
			char *n = append_line(r, l);
			free(l);
			free(r);
			r = n;
		}
	}
	return r;
}

static const char *const vfio_mods[] = {"vfio", "vfio_iommu_type1", "vfio_pci", NULL};

char *dk_vfio_edit_initramfs_tools(const char *text)
{
	char *r = dk_strdup(text ? text : "");
	for (const char *const *m = vfio_mods; *m; m++) {
		bool have = false;
		size_t ml = strlen(*m);
		for (const char *p = r; p && *p && !have;) {
			const char *q = p;
			while (*q == ' ' || *q == '\t')
				q++;
			have = !strncmp(q, *m, ml) && (!q[ml] || is_ws(q[ml]));
			const char *e = strchr(p, '\n');
			p = e ? e + 1 : NULL;
		}
		if (!have) {
			char *n = append_line(r, *m);
			free(r);
			r = n;
		}
	}
	return r;
}

char *dk_vfio_edit_dracut(const char *text)
{
	const char *t = text ? text : "";
	for (const char *p = t; p && *p;) {
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		if (!strncmp(q, "force_drivers+=", 15)) {
			char *l = dk_strndup(q, line_len(q));
			struct dk_strv w = {0};
			for (char *c = l + 15; *c; c++)
				if (*c == '"')
					*c = ' ';
			split_ws(l + 15, &w);
			bool all = true;
			for (const char *const *m = vfio_mods; *m; m++)
				all = all && dk_strv_contains(w.v, *m);
			dk_strv_clear(&w);
			free(l);
			if (all)
				return dk_strdup(t);
		}
		const char *e = strchr(p, '\n');
		p = e ? e + 1 : NULL;
	}
	if (!text)
		return dk_strdup("# dkvm vfio persist: vfio-pci in the initramfs, before the GPU drivers\n"
				 "force_drivers+=\" vfio vfio_iommu_type1 vfio_pci \"\n");
	return append_line(t, "force_drivers+=\" vfio vfio_iommu_type1 vfio_pci \"");
}

char *dk_vfio_edit_mkinitcpio(const char *text)
{
	const char *t = text ? text : "";
	const char *line = find_line(t, "MODULES", "=");
	static const char *const order[] = {"vfio_pci", "vfio", "vfio_iommu_type1", NULL};
	if (!line)
		return append_line(t, "MODULES=(vfio_pci vfio vfio_iommu_type1)");
	const char *open = strchr(line, '(');
	if (!open || open - line > (ptrdiff_t)line_len(line)) {
		/* MODULES="..." (old style): treat the quotes like parens */
		open = memchr(line, '"', line_len(line));
		if (!open)
			return append_line(t, "MODULES=(vfio_pci vfio vfio_iommu_type1)");
	}
	const char *close = strpbrk(open + 1, ")\"");
	char *inside = close ? dk_strndup(open + 1, (size_t)(close - open - 1)) : dk_strdup(open + 1);
	struct dk_strv have = {0};
	split_ws(inside, &have);
	free(inside);
	struct dk_buf add = {0};
	for (const char *const *m = order; *m; m++)
		if (!dk_strv_contains(have.v, *m))
			dk_buf_printf(&add, "%s ", *m);
	char *r;
	if (!add.len) {
		r = dk_strdup(t);
	} else {
		bool empty = have.n == 0;
		if (empty) /* "()" -> "(vfio_pci vfio vfio_iommu_type1)", no trailing space */
			add.data[--add.len] = 0;
		r = dk_asprintf("%.*s%s%s", (int)(open + 1 - t), t, add.data, open + 1 + (empty && close ? strspn(open + 1, " \t") : 0));
	}
	dk_buf_free(&add);
	dk_strv_clear(&have);
	return r;
}

/* ---------------------------------------------------------------- selection */

static int hexfield(const char **s, int maxdig, unsigned *out)
{
	unsigned v = 0;
	int n = 0;
	while (n < maxdig && ((**s >= '0' && **s <= '9') || (**s >= 'a' && **s <= 'f') || (**s >= 'A' && **s <= 'F'))) {
		char c = **s;
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
		(*s)++;
		n++;
	}
	*out = v;
	return n;
}

/* "[dddd:]bb:ss[.f]": 0 with *f = -1 for a whole slot, -1 when malformed. */
static int parse_name(const char *s, unsigned *d, unsigned *b, unsigned *sl, int *f)
{
	unsigned x[3];
	int nx = 0;
	const char *p = s;
	for (;;) {
		int n = hexfield(&p, 4, &x[nx]);
		if (!n)
			return -1;
		nx++;
		if (*p == ':' && nx < 3) {
			p++;
			continue;
		}
		break;
	}
	if (nx < 2)
		return -1;
	*d = nx == 3 ? x[0] : 0;
	*b = x[nx - 2];
	*sl = x[nx - 1];
	*f = -1;
	if (*p == '.') {
		p++;
		unsigned fv;
		if (hexfield(&p, 1, &fv) != 1 || fv > 7)
			return -1;
		*f = (int)fv;
	}
	if (*p || *b > 0xff || *sl > 0x1f)
		return -1;
	return 0;
}

int dk_vfio_select(const struct dk_pci *pci, char *const *names, bool check_groups, bool force, int **idx)
{
	*idx = NULL;
	int *sel = dk_malloc(((size_t)pci->ndev + 1) * sizeof *sel);
	int n = 0;
	if (!names || !*names) {
		free(sel);
		return dk_fail("no device named");
	}
	for (char *const *nm = names; *nm; nm++) {
		unsigned d, b, s;
		int f;
		if (parse_name(*nm, &d, &b, &s, &f) < 0) {
			free(sel);
			return dk_fail("%s: not a PCI address (0b:00.0, 0000:0b:00.0, or 0b:00 for every function)", dk_esc(*nm));
		}
		int found = 0;
		for (int i = 0; i < pci->ndev; i++) {
			const struct dk_pci_dev *x = &pci->devs[i];
			if (x->domain != d || x->bus != b || x->slot != s || (f >= 0 && x->func != (unsigned)f))
				continue;
			found++;
			bool dup = false;
			for (int k = 0; k < n; k++)
				dup = dup || sel[k] == i;
			if (!dup)
				sel[n++] = i;
		}
		if (!found) {
			free(sel);
			return dk_fail("%s: no such PCI device", dk_esc(*nm));
		}
	}
	sel[n] = -1;
	for (int k = 0; k < n && !force; k++) {
		const struct dk_pci_dev *x = &pci->devs[sel[k]];
		if (x->boot_vga == 1) {
			free(sel);
			return dk_fail("%s: the boot VGA device (the host's display); --force to take it anyway", x->bdf);
		}
		if (x->group < 0) {
			free(sel);
			return dk_fail("%s: in no IOMMU group (is the IOMMU on?); --force to try anyway", x->bdf);
		}
		if (!check_groups)
			continue;
		for (int i = 0; i < pci->ndev; i++) {
			const struct dk_pci_dev *o = &pci->devs[i];
			if (o->group != x->group || o->ignored)
				continue;
			bool named = false;
			for (int j = 0; j < n; j++)
				named = named || sel[j] == i;
			if (!named) {
				free(sel);
				return dk_fail("%s: IOMMU group %d also holds %s, not named (name every device of the group, or --force)",
					       x->bdf, x->group, o->bdf);
			}
		}
	}
	*idx = sel;
	return 0;
}

/* ---------------------------------------------------------------- live */

/* The sysfs file abs under the sysroot, refused when it resolves outside the
 * sysroot (a symlink planted in a copied tree), is not a regular file, or
 * cannot be written. */
static int sysfs_write(const char *abs, const char *value)
{
	_cleanup_free_ char *path = dk_host_path(abs);
	_cleanup_free_ char *dir = dk_strdup(path);
	char *slash = strrchr(dir, '/');
	*slash = 0;
	char rdir[PATH_MAX], rroot[PATH_MAX];
	const char *sr = dk_sysroot();
	if (!realpath(*dir ? dir : "/", rdir))
		return dk_fail_errno("%s", abs);
	if (!realpath(*sr ? sr : "/", rroot))
		return dk_fail_errno("%s", *sr ? sr : "/");
	size_t rl = strlen(rroot);
	if (strcmp(rroot, "/") && (strncmp(rdir, rroot, rl) || (rdir[rl] && rdir[rl] != '/')))
		return dk_fail("%s: resolves outside the sysroot (%s)", abs, rdir);
	int fd = open(path, O_WRONLY | O_TRUNC | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES || errno == EPERM)
			return dk_fail("%s: %s (run as root)", abs, strerror(errno));
		return dk_fail_errno("%s", abs);
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return dk_fail("%s: not a regular file", abs);
	}
	size_t n = strlen(value);
	ssize_t w = write(fd, value, n);
	int e = errno;
	close(fd);
	if (w < 0 || (size_t)w != n) {
		errno = w < 0 ? e : EIO;
		return dk_fail_errno("%s: write '%s'", abs, value[0] == '\n' ? "\\n" : value);
	}
	return 0;
}

static int do_write(struct dk_vfio_dev_result *r, const char *abs, const char *value)
{
	if (sysfs_write(abs, value) < 0)
		return -1;
	r->w[r->nw].path = dk_strdup(abs);
	r->w[r->nw].value = dk_strdup(value);
	r->nw++;
	return 0;
}

int dk_vfio_bind(const struct dk_pci *pci, char *const *names, bool unbind, bool force, struct dk_vfio_result *out)
{
	memset(out, 0, sizeof *out);
	int *sel;
	if (dk_vfio_select(pci, names, !unbind, force || unbind, &sel) < 0)
		return -1;
	int n = 0;
	while (sel[n] >= 0)
		n++;
	out->dev = dk_calloc((size_t)n, sizeof *out->dev);
	int rc = 0;
	for (int k = 0; k < n && rc == 0; k++) {
		const struct dk_pci_dev *x = &pci->devs[sel[k]];
		struct dk_vfio_dev_result *r = &out->dev[out->n++];
		snprintf(r->bdf, sizeof r->bdf, "%s", x->bdf);
		snprintf(r->ids, sizeof r->ids, "%04x:%04x", x->vendor, x->device);
		snprintf(r->driver_before, sizeof r->driver_before, "%s", x->driver);
		char dev[64], a[128];
		snprintf(dev, sizeof dev, "/sys/bus/pci/devices/%s", x->bdf);
		bool on_vfio = !strcmp(x->driver, "vfio-pci");
		if (!unbind) {
			if (on_vfio) {
				r->note = "already bound to vfio-pci";
				continue;
			}
			snprintf(a, sizeof a, "%s/driver_override", dev);
			if (do_write(r, a, "vfio-pci") < 0) {
				rc = -1;
				break;
			}
			if (x->driver[0]) {
				snprintf(a, sizeof a, "%s/driver/unbind", dev);
				if (do_write(r, a, x->bdf) < 0) {
					rc = -1;
					break;
				}
			}
		} else {
			snprintf(a, sizeof a, "%s/driver_override", dev);
			_cleanup_free_ char *ov = dk_read_host_str(a);
			bool override = ov && !strcmp(ov, "vfio-pci");
			if (!on_vfio && !override) {
				r->note = "not bound to vfio-pci";
				continue;
			}
			if (do_write(r, a, "\n") < 0) {
				rc = -1;
				break;
			}
			if (on_vfio) {
				snprintf(a, sizeof a, "%s/driver/unbind", dev);
				if (do_write(r, a, x->bdf) < 0) {
					rc = -1;
					break;
				}
			}
		}
		if (do_write(r, "/sys/bus/pci/drivers_probe", x->bdf) < 0)
			rc = -1;
	}
	free(sel);
	return rc;
}

void dk_vfio_result_free(struct dk_vfio_result *r)
{
	for (int i = 0; i < r->n; i++)
		for (int k = 0; k < r->dev[i].nw; k++) {
			free(r->dev[i].w[k].path);
			free(r->dev[i].w[k].value);
		}
	free(r->dev);
	memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- persist */

#define MODPROBE_FILE "/etc/modprobe.d/dkvm-vfio.conf"
#define DRACUT_FILE "/etc/dracut.conf.d/dkvm-vfio.conf"
static const char *const entry_dirs[] = {"/boot/loader/entries/", "/efi/loader/entries/", "/boot/efi/loader/entries/"};
static const char *const boot_files[] = {"/etc/default/grub", "/etc/kernel/cmdline", "/etc/kernelstub/configuration", NULL};
static const char *const fixed_files[] = {MODPROBE_FILE, "/etc/initramfs-tools/modules", DRACUT_FILE, "/etc/mkinitcpio.conf",
					  NULL};

bool dk_vfio_bootloader_file(const char *p)
{
	for (const char *const *f = boot_files; *f; f++)
		if (!strcmp(p, *f))
			return true;
	for (size_t i = 0; i < DK_ARRAY_SIZE(entry_dirs); i++) {
		size_t l = strlen(entry_dirs[i]);
		if (!strncmp(p, entry_dirs[i], l) && dk_name_is_safe(p + l) && dk_endswith(p + l, ".conf"))
			return true;
	}
	return false;
}

/* The only files persist writes and undo restores. */
static bool allowed_path(const char *p)
{
	for (const char *const *f = fixed_files; *f; f++)
		if (!strcmp(p, *f))
			return true;
	return dk_vfio_bootloader_file(p);
}

const struct dk_sysfile_set dk_vfio_set = {DK_VFIO_MANIFEST, "vfio persist", "vfio", allowed_path};

/* A system file under --root: 0 with *out NULL when absent; -1 when it is
 * not a regular text file. */
static int read_root(const char *abs, char **out)
{
	return dk_read_system_text(abs, out, NULL) < 0 ? -1 : 0;
}

void dk_sysfile_plan_add(struct dk_vfio_plan *p, const char *abs, char *old, char *new)
{
	if ((old && new && !strcmp(old, new)) || (!old && !new)) {
		free(old);
		free(new);
		return;
	}
	p->files = dk_realloc(p->files, ((size_t)p->n + 1) * sizeof *p->files);
	struct dk_vfio_file *f = &p->files[p->n++];
	memset(f, 0, sizeof *f);
	f->path = dk_strdup(abs);
	f->old = old;
	f->new = new;
	_cleanup_free_ char *la = dk_asprintf("a%s", abs), *lb = dk_asprintf("b%s", abs);
	f->diff = dk_udiff(old, new, la, lb);
}

/* Edit one existing file with fn (params); absent files are an error. */
static int plan_cmdline_file(struct dk_vfio_plan *p, const char *abs, char *(*fn)(const char *, char *const *),
			     bool must_exist)
{
	char *old;
	if (read_root(abs, &old) < 0)
		return -1;
	if (!old) {
		if (!must_exist)
			return 0;
		_cleanup_free_ char *rp = dk_root_path(abs);
		return dk_fail("%s: absent (the bootloader's configuration)", rp);
	}
	char *new = fn(old, p->params);
	if (!new) {
		free(old);
		return -1;
	}
	dk_sysfile_plan_add(p, abs, old, new);
	return 0;
}

static int plan_loader_entries(struct dk_vfio_plan *p)
{
	int found = 0;
	for (size_t i = 0; i < DK_ARRAY_SIZE(entry_dirs); i++) {
		_cleanup_free_ char *dir = dk_root_path(entry_dirs[i]);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dk_strv names = {0};
		struct dirent *e;
		while ((e = readdir(d)))
			if (dk_name_is_safe(e->d_name) && dk_endswith(e->d_name, ".conf"))
				dk_strv_push(&names, e->d_name);
		closedir(d);
		/* stable order */
		for (size_t a = 1; a < names.n; a++)
			for (size_t b = a; b > 0 && strcmp(names.v[b - 1], names.v[b]) > 0; b--) {
				char *t = names.v[b];
				names.v[b] = names.v[b - 1];
				names.v[b - 1] = t;
			}
		for (size_t k = 0; k < names.n; k++) {
			_cleanup_free_ char *abs = dk_asprintf("%s%s", entry_dirs[i], names.v[k]);
			if (plan_cmdline_file(p, abs, dk_vfio_edit_loader_entry, true) < 0) {
				dk_strv_clear(&names);
				return -1;
			}
			found++;
		}
		dk_strv_clear(&names);
	}
	if (plan_cmdline_file(p, "/etc/kernel/cmdline", dk_vfio_edit_kernel_cmdline, false) < 0)
		return -1;
	if (!found)
		return dk_fail("no systemd-boot loader entries under %s/boot/loader/entries", dk_root());
	return 0;
}

/* The module behind a device's driver (driver/module), else the driver name. */
static char *driver_module(const struct dk_pci_dev *x)
{
	char abs[128];
	snprintf(abs, sizeof abs, "/sys/bus/pci/devices/%s/driver/module", x->bdf);
	_cleanup_free_ char *p = dk_host_path(abs);
	char buf[PATH_MAX];
	ssize_t n = readlink(p, buf, sizeof buf - 1);
	if (n > 0) {
		buf[n] = 0;
		const char *b = strrchr(buf, '/');
		b = b ? b + 1 : buf;
		if (dk_name_is_safe(b))
			return dk_strdup(b);
	}
	return dk_strdup(x->driver);
}

int dk_vfio_plan_bootloader(const struct dk_host *h, const char *bootloader, struct dk_vfio_plan *out)
{
	const char *bl = bootloader && strcmp(bootloader, "auto") ? bootloader : h->bootloader;
	snprintf(out->bootloader, sizeof out->bootloader, "%s", bl);
	if (!strcmp(bl, "grub"))
		return plan_cmdline_file(out, "/etc/default/grub", dk_vfio_edit_grub, true);
	if (!strcmp(bl, "systemd-boot"))
		return plan_loader_entries(out);
	if (!strcmp(bl, "kernelstub"))
		return plan_cmdline_file(out, "/etc/kernelstub/configuration", dk_vfio_edit_kernelstub, true);
	return dk_fail("no bootloader found (GRUB, systemd-boot or kernelstub): say which with --bootloader");
}

const char *dk_vfio_bootloader_regen(const struct dk_host *h, const char *bl)
{
	if (strcmp(bl, "grub") != 0)
		return NULL;
	if (!strcmp(h->distro_family, "debian"))
		return "update-grub";
	if (!strcmp(h->distro_family, "fedora"))
		return "grub2-mkconfig -o /boot/grub2/grub.cfg";
	return "grub-mkconfig -o /boot/grub/grub.cfg";
}

int dk_vfio_persist_plan(const struct dk_host *h, const struct dk_pci *pci, char *const *names, const char *bootloader,
			 bool force, struct dk_vfio_plan *out)
{
	memset(out, 0, sizeof *out);
	int *sel;
	if (dk_vfio_select(pci, names, true, force, &sel) < 0)
		return -1;
	struct dk_strv ids = {0}, drv = {0};
	for (int k = 0; sel[k] >= 0; k++) {
		const struct dk_pci_dev *x = &pci->devs[sel[k]];
		char id[16];
		snprintf(id, sizeof id, "%04x:%04x", x->vendor, x->device);
		if (!dk_strv_contains(ids.v, id))
			dk_strv_push(&ids, id);
		if (x->driver[0] && strcmp(x->driver, "vfio-pci") && dk_name_is_safe(x->driver)) {
			char *m = driver_module(x);
			if (!dk_strv_contains(drv.v, m))
				dk_strv_push(&drv, m);
			free(m);
		}
	}
	free(sel);
	out->ids = dk_strv_join(ids.v, ",");
	dk_strv_clear(&ids);
	out->drivers = dk_strv_take(&drv);
	out->params = dk_vfio_kernel_params(h->cpu.vendor, out->ids);

	const char *fam = h->distro_family;
	if (dk_vfio_plan_bootloader(h, bootloader, out) < 0)
		return -1;
	const char *bl = out->bootloader;
	bool boot_changed = out->n > 0;

	char *old;
	if (read_root(MODPROBE_FILE, &old) < 0)
		return -1;
	dk_sysfile_plan_add(out, MODPROBE_FILE, old, dk_vfio_edit_modprobe(old, out->ids, out->drivers));

	const char *initfile, *regen;
	char *(*initfn)(const char *);
	if (!strcmp(fam, "debian")) {
		snprintf(out->initramfs, sizeof out->initramfs, "initramfs-tools");
		initfile = "/etc/initramfs-tools/modules", initfn = dk_vfio_edit_initramfs_tools, regen = "update-initramfs -u";
	} else if (!strcmp(fam, "fedora")) {
		snprintf(out->initramfs, sizeof out->initramfs, "dracut");
		initfile = DRACUT_FILE, initfn = dk_vfio_edit_dracut, regen = "dracut -f";
	} else if (!strcmp(fam, "arch")) {
		snprintf(out->initramfs, sizeof out->initramfs, "mkinitcpio");
		initfile = "/etc/mkinitcpio.conf", initfn = dk_vfio_edit_mkinitcpio, regen = "mkinitcpio -P";
	} else {
		return dk_fail("distro '%s' not known (Arch, Debian or Fedora families): cannot tell its initramfs tool",
			       h->distro_id[0] ? h->distro_id : "?");
	}
	if (read_root(initfile, &old) < 0)
		return -1;
	if (!old && !strcmp(fam, "arch")) {
		_cleanup_free_ char *rp = dk_root_path(initfile);
		return dk_fail("%s: absent", rp);
	}
	dk_sysfile_plan_add(out, initfile, old, initfn(old));

	struct dk_strv cmds = {0};
	if (out->n > (boot_changed ? 1 : 0) || boot_changed)
		dk_strv_push(&cmds, regen);
	if (boot_changed && dk_vfio_bootloader_regen(h, bl))
		dk_strv_push(&cmds, dk_vfio_bootloader_regen(h, bl));
	if (!out->n)
		dk_strv_clear(&cmds);
	out->commands = dk_strv_take(&cmds);
	return 0;
}

/* ---------------------------------------------------------------- manifest */

static const char *strip_root(const char *p)
{
	size_t l = strlen(dk_root());
	return l && !strncmp(p, dk_root(), l) ? p + l : p;
}

static bool backup_ok(const char *path, const char *bak)
{
	size_t l = strlen(path);
	if (strncmp(bak, path, l) || strncmp(bak + l, ".dkvm-bak.", 10))
		return false;
	const char *s = bak + l + 10;
	if (strlen(s) != 16)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || *s == 'T' || *s == 'Z'))
			return false;
	return true;
}

/* The manifest's entries: -1 on a bad manifest, 0 (n = 0) when absent. */
static int manifest_load(const struct dk_sysfile_set *set, json_object **files)
{
	*files = json_object_new_array();
	char *text;
	if (read_root(set->manifest, &text) < 0)
		return -1;
	if (!text)
		return 0;
	_cleanup_free_ char *rp = dk_root_path(set->manifest);
	json_object *root = json_tokener_parse(text);
	free(text);
	json_object *arr;
	if (!root || !json_object_object_get_ex(root, "files", &arr) || !json_object_is_type(arr, json_type_array)) {
		json_object_put(root);
		return dk_fail("%s: not a dkvm %s manifest", rp, set->short_name);
	}
	size_t n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v;
		const char *path = dk_json_get_str(e, "path"), *bak = dk_json_get_str(e, "backup");
		bool created = json_object_object_get_ex(e, "created", &v) && json_object_get_boolean(v);
		if (!path || !set->allowed(path) || (!created && (!bak || !backup_ok(path, bak)))) {
			json_object_put(root);
			return dk_fail("%s: entry %zu: not a file dkvm %s edits", rp, i, set->what);
		}
		json_object *c = json_object_new_object();
		json_object_object_add(c, "path", json_object_new_string(path));
		if (created)
			json_object_object_add(c, "created", json_object_new_boolean(1));
		else
			json_object_object_add(c, "backup", json_object_new_string(bak));
		json_object_array_add(*files, c);
	}
	json_object_put(root);
	return 0;
}

static int manifest_save(const struct dk_sysfile_set *set, json_object *files)
{
	json_object *root = json_object_new_object();
	json_object_object_add(root, "dkvm", json_object_new_string(set->what));
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "files", json_object_get(files));
	char *s = dk_asprintf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
									       JSON_C_TO_STRING_SPACED |
									       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	_cleanup_free_ char *p = dk_root_path(set->manifest);
	_cleanup_free_ char *d = dk_root_path("/var/lib/dkvm");
	int rc = dk_mkdir_p(d, 0755);
	if (rc == 0)
		rc = dk_write_file_atomic(p, s, strlen(s), true, 0644);
	free(s);
	return rc;
}

static json_object *manifest_find(json_object *files, const char *path)
{
	size_t n = json_object_array_length(files);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(files, i);
		const char *p = dk_json_get_str(e, "path");
		if (p && !strcmp(p, path))
			return e;
	}
	return NULL;
}

int dk_vfio_persist_apply(struct dk_vfio_plan *p)
{
	return dk_sysfiles_apply(&dk_vfio_set, p);
}

int dk_sysfiles_apply(const struct dk_sysfile_set *set, struct dk_vfio_plan *p)
{
	json_object *files;
	if (manifest_load(set, &files) < 0) {
		json_object_put(files);
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < p->n && rc == 0; i++) {
		struct dk_vfio_file *f = &p->files[i];
		if (!set->allowed(f->path) || !f->new) {
			rc = dk_fail("%s: not a file %s writes", f->path, set->what);
			break;
		}
		if (manifest_find(files, f->path)) {
			/* edited before: the manifest keeps the first backup */
			_cleanup_free_ char *rp = dk_root_path(f->path);
			struct stat st;
			mode_t mode = f->mode ? f->mode : stat(rp, &st) == 0 ? st.st_mode & 07777 : 0644;
			_cleanup_free_ char *d = dk_strdup(rp);
			rc = dk_mkdir_p(dirname(d), 0755);
			if (rc == 0)
				rc = dk_write_file_atomic(rp, f->new, strlen(f->new), true, mode);
			continue;
		}
		char *bak = NULL;
		rc = dk_edit_system_file_mode(f->path, f->new, strlen(f->new), f->mode ? f->mode : (mode_t)-1, &bak);
		if (rc < 0) {
			free(bak);
			break;
		}
		json_object *e = json_object_new_object();
		json_object_object_add(e, "path", json_object_new_string(f->path));
		if (bak) {
			f->backup = dk_strdup(strip_root(bak));
			json_object_object_add(e, "backup", json_object_new_string(f->backup));
		} else {
			json_object_object_add(e, "created", json_object_new_boolean(1));
		}
		free(bak);
		json_object_array_add(files, e);
	}
	if (json_object_array_length(files) > 0 && manifest_save(set, files) < 0)
		rc = -1;
	json_object_put(files);
	return rc;
}

int dk_vfio_undo_plan(struct dk_vfio_plan *out)
{
	return dk_sysfiles_undo_plan(&dk_vfio_set, out);
}

int dk_sysfiles_undo_plan(const struct dk_sysfile_set *set, struct dk_vfio_plan *out)
{
	memset(out, 0, sizeof *out);
	json_object *files;
	if (manifest_load(set, &files) < 0) {
		json_object_put(files);
		return -1;
	}
	size_t n = json_object_array_length(files);
	if (!n) {
		json_object_put(files);
		_cleanup_free_ char *rp = dk_root_path(set->manifest);
		return dk_fail("%s: absent: nothing to undo", rp);
	}
	out->files = dk_calloc(n, sizeof *out->files);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_object *e = json_object_array_get_idx(files, i);
		const char *path = dk_json_get_str(e, "path"), *bak = dk_json_get_str(e, "backup");
		struct dk_vfio_file *f = &out->files[out->n++];
		f->path = dk_strdup(path);
		if (read_root(path, &f->old) < 0) {
			rc = -1;
			break;
		}
		if (bak) {
			f->backup = dk_strdup(bak);
			if (read_root(bak, &f->new) < 0) {
				rc = -1;
				break;
			}
			if (!f->new) {
				_cleanup_free_ char *rp = dk_root_path(bak);
				rc = dk_fail("%s: the backup is gone: cannot restore %s", rp, path);
				break;
			}
		}
		_cleanup_free_ char *la = dk_asprintf("a%s", path), *lb = dk_asprintf("b%s", path);
		f->diff = dk_udiff(f->old, f->new, la, lb);
	}
	json_object_put(files);
	return rc;
}

int dk_vfio_undo_apply(struct dk_vfio_plan *p)
{
	return dk_sysfiles_undo_apply(&dk_vfio_set, p);
}

int dk_sysfiles_undo_apply(const struct dk_sysfile_set *set, struct dk_vfio_plan *p)
{
	for (int i = 0; i < p->n; i++) {
		struct dk_vfio_file *f = &p->files[i];
		if (!set->allowed(f->path))
			return dk_fail("%s: not a file %s writes", f->path, set->what);
		_cleanup_free_ char *rp = dk_root_path(f->path);
		if (!f->backup) {
			if (unlink(rp) < 0 && errno != ENOENT)
				return dk_fail_errno("%s", rp);
			continue;
		}
		/* byte-exact: the backup's bytes and mode */
		_cleanup_free_ char *bp = dk_root_path(f->backup);
		char *data;
		size_t len;
		struct stat st;
		if (stat(bp, &st) < 0)
			return dk_fail_errno("%s", bp);
		if (dk_read_file(bp, &data, &len, 1u << 20) < 0)
			return -1;
		int rc = dk_write_file_atomic(rp, data, len, true, st.st_mode & 07777);
		free(data);
		if (rc < 0)
			return -1;
		if (unlink(bp) < 0 && errno != ENOENT)
			return dk_fail_errno("%s", bp);
	}
	_cleanup_free_ char *mp = dk_root_path(set->manifest);
	if (unlink(mp) < 0 && errno != ENOENT)
		return dk_fail_errno("%s", mp);
	return 0;
}

void dk_vfio_plan_free(struct dk_vfio_plan *p)
{
	for (int i = 0; i < p->n; i++) {
		free(p->files[i].path);
		free(p->files[i].old);
		free(p->files[i].new);
		free(p->files[i].diff);
		free(p->files[i].backup);
	}
	free(p->files);
	free(p->ids);
	dk_strv_free(p->params);
	dk_strv_free(p->drivers);
	dk_strv_free(p->commands);
	memset(p, 0, sizeof *p);
}
