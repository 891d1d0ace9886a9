/* libvirt's QEMU user and the ACL grants that let it reach a bundle. */
#include "vm/access.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/cleanup.h"
#include "util/output.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

void dk_grants_free(struct dk_grants *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i].path);
	free(g->v);
	g->v = NULL;
	g->n = 0;
}

bool dk_virt_uri_is_local(const char *uri)
{
	const char *sep = strstr(uri, "://");
	if (!sep)
		return true; /* an alias or a bare driver name: the local daemon */
	const char *plus = memchr(uri, '+', (size_t)(sep - uri));
	if (plus && strncmp(plus, "+unix", 5) != 0)
		return false; /* ssh, tcp, tls, libssh... */
	return sep[3] == '/';  /* qemu:///system: no host part */
}

/* "+64055:+64055" or "64055:64055" (libvirt writes the numeric form). */
static int parse_label(const char *s, struct dk_ident *id)
{
	unsigned long u, g;
	char c;
	if (sscanf(s, " +%lu:+%lu %c", &u, &g, &c) != 2 && sscanf(s, " %lu:%lu %c", &u, &g, &c) != 2)
		return -1;
	id->uid = (uid_t)u;
	id->gid = (gid_t)g;
	return 0;
}

int dk_virt_qemu_ident(void *conn, struct dk_ident *id)
{
	memset(id, 0, sizeof *id);
	char *caps = virConnectGetCapabilities(conn);
	if (!caps)
		return dk_fail("libvirt: capabilities: %s", virGetLastErrorMessage());
	xmlDocPtr d = xmlReadMemory(caps, (int)strlen(caps), "capabilities.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	free(caps);
	if (!d)
		return dk_fail("libvirt: capabilities: not XML");
	int rc = 0;
	xmlXPathContextPtr ctx = xmlXPathNewContext(d);
	xmlXPathObjectPtr r = ctx ? xmlXPathEvalExpression(
		BAD_CAST "/capabilities/host/secmodel[model='dac']/baselabel[@type='kvm' or @type='qemu']", ctx) : NULL;
	if (r && r->nodesetval && r->nodesetval->nodeNr > 0) {
		xmlChar *t = xmlNodeGetContent(r->nodesetval->nodeTab[0]);
		if (!t || parse_label((const char *)t, id) < 0)
			rc = dk_fail("libvirt: capabilities: DAC label '%s' not understood", t ? (const char *)t : "");
		xmlFree(t);
	}
	/* no DAC driver: QEMU keeps libvirtd's identity (root) */
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(d);
	if (rc == 0)
		dk_ident_groups(id);
	return rc;
}

static struct dk_grant *find(struct dk_grants *g, const char *path)
{
	for (size_t i = 0; i < g->n; i++)
		if (!strcmp(g->v[i].path, path))
			return &g->v[i];
	return NULL;
}

static void need(struct dk_grants *g, const char *path, int perm)
{
	struct dk_grant *e = find(g, path);
	if (e) {
		e->perm |= perm;
		return;
	}
	g->v = dk_realloc(g->v, (g->n + 1) * sizeof *g->v);
	g->v[g->n++] = (struct dk_grant){ dk_strdup(path), perm, -1 };
}

static int check(const struct dk_ident *id, const char *path, int perm, struct dk_grants *g)
{
	bool ok;
	if (dk_may_access(id, path, perm, &ok) < 0)
		return -1;
	if (!ok)
		need(g, path, perm);
	return 0;
}

int dk_access_missing(const struct dk_ident *id, const char *const *files, int file_perm, struct dk_grants *g)
{
	g->uid = id->uid;
	snprintf(g->user, sizeof g->user, "%s", id->name);
	for (size_t i = 0; files[i]; i++) {
		if (files[i][0] != '/')
			return dk_fail("%s: not an absolute path", files[i]);
		_cleanup_free_ char *p = dk_strdup(files[i]);
		/* every directory from the root down */
		for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
			*s = '\0';
			int r = check(id, p, DK_PERM_X, g);
			*s = '/';
			if (r < 0)
				return -1;
		}
		if (check(id, "/", DK_PERM_X, g) < 0 || check(id, p, file_perm ? file_perm : DK_PERM_X, g) < 0)
			return -1;
	}
	return 0;
}

int dk_access_grant(struct dk_grants *g)
{
	for (size_t i = 0; i < g->n; i++) {
		struct dk_grant *e = &g->v[i];
		int prev = dk_acl_user_get(e->path, g->uid);
		if (prev < -1 || dk_acl_user_set(e->path, g->uid, (prev > 0 ? prev : 0) | e->perm) < 0) {
			struct dk_grants done = *g;
			done.n = i;
			dk_access_revoke(&done, NULL, NULL);
			return -1;
		}
		e->prev = prev;
	}
	return 0;
}

int dk_access_revoke(const struct dk_grants *g, bool (*keep)(const char *path, void *ud), void *ud)
{
	int rc = 0;
	for (size_t i = g->n; i-- > 0;) {
		const struct dk_grant *e = &g->v[i];
		struct stat st;
		if (lstat(e->path, &st) < 0 || (keep && keep(e->path, ud)))
			continue;
		/* only an entry that still has what we gave is ours to take back */
		int now = dk_acl_user_get(e->path, g->uid);
		if (now < 0 || (now & e->perm) != e->perm)
			continue;
		if (dk_acl_user_set(e->path, g->uid, e->prev) < 0)
			rc = -1;
	}
	return rc;
}

static const char *perm_str(int p, char b[4])
{
	b[0] = p & DK_PERM_R ? 'r' : '-';
	b[1] = p & DK_PERM_W ? 'w' : '-';
	b[2] = p & DK_PERM_X ? 'x' : '-';
	b[3] = '\0';
	return b;
}

static int perm_parse(const char *s)
{
	if (!s || strlen(s) != 3)
		return -2;
	int p = 0;
	if (s[0] == 'r') p |= DK_PERM_R; else if (s[0] != '-') return -2;
	if (s[1] == 'w') p |= DK_PERM_W; else if (s[1] != '-') return -2;
	if (s[2] == 'x') p |= DK_PERM_X; else if (s[2] != '-') return -2;
	return p;
}

char *dk_access_fix(const struct dk_grants *g)
{
	struct dk_buf b = {0};
	char who[96];
	if (g->user[0])
		snprintf(who, sizeof who, "%s", g->user);
	else
		snprintf(who, sizeof who, "%u", (unsigned)g->uid);
	for (int pass = 0; pass < 2; pass++) {
		int want = pass == 0 ? DK_PERM_X : DK_PERM_R | DK_PERM_W;
		bool any = false;
		for (size_t i = 0; i < g->n; i++) {
			if ((pass == 0) != (g->v[i].perm == DK_PERM_X))
				continue;
			if (!any) {
				char pb[4];
				dk_buf_printf(&b, "%ssetfacl -m u:%s:%s", b.len ? " && " : "", who,
					      pass == 0 ? "x" : perm_str(want, pb));
				any = true;
			}
			dk_buf_printf(&b, " %s", g->v[i].path);
		}
	}
	dk_buf_puts(&b, "");
	return b.data;
}

json_object *dk_grants_to_json(const struct dk_grants *g)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "uid", json_object_new_int64(g->uid));
	json_object_object_add(o, "user", json_object_new_string(g->user));
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < g->n; i++) {
		char pb[4];
		json_object *e = json_object_new_object();
		json_object_object_add(e, "path", json_object_new_string(g->v[i].path));
		json_object_object_add(e, "perm", json_object_new_string(perm_str(g->v[i].perm, pb)));
		json_object_object_add(e, "prev", g->v[i].prev < 0 ? NULL : json_object_new_string(perm_str(g->v[i].prev, pb)));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "entries", a);
	return o;
}

int dk_grants_from_json(json_object *o, struct dk_grants *g)
{
	memset(g, 0, sizeof *g);
	json_object *uid, *a;
	if (!o || !json_object_object_get_ex(o, "uid", &uid) || !json_object_object_get_ex(o, "entries", &a) ||
	    !json_object_is_type(a, json_type_array))
		return dk_fail("manifest: grants: malformed");
	int64_t u = json_object_get_int64(uid);
	if (u <= 0 || u > 0x7fffffff)
		return dk_fail("manifest: grants: bad uid");
	g->uid = (uid_t)u;
	const char *user = dk_json_get_str(o, "user");
	snprintf(g->user, sizeof g->user, "%s", user ? user : "");
	size_t n = json_object_array_length(a);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i), *pv = NULL;
		const char *path = dk_json_get_str(e, "path");
		int perm = perm_parse(dk_json_get_str(e, "perm"));
		json_object_object_get_ex(e, "prev", &pv);
		int prev = pv ? perm_parse(json_object_get_string(pv)) : -1;
		if (!path || path[0] != '/' || perm < 0 || prev < -1) {
			dk_grants_free(g);
			return dk_fail("manifest: grants: entry %zu malformed", i);
		}
		need(g, path, perm);
		g->v[g->n - 1].prev = prev;
	}
	return 0;
}

/* ---- bundles ---- */

#include "vm/vm.h"
#include "util/log.h"
#include "util/paths.h"
#include "util/fs.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>

bool dk_ident_kvm_ok(const struct dk_ident *id, char *why, size_t n)
{
	if (why && n)
		why[0] = '\0';
	if (!dk_sysroot_is_live())
		return true;
	struct stat st;
	bool ok = false;
	if (stat("/dev/kvm", &st) < 0) {
		snprintf(why, n, "/dev/kvm is missing");
		return false;
	}
	if (dk_may_access(id, "/dev/kvm", DK_PERM_R | DK_PERM_W, &ok) < 0) {
		dk_errclear();
		ok = false;
	}
	if (!ok && why) {
		struct passwd *pw = getpwuid(st.st_uid);
		struct group *gr = getgrgid(st.st_gid);
		char ou[32], og[32];
		snprintf(ou, sizeof ou, "%u", (unsigned)st.st_uid);
		snprintf(og, sizeof og, "%u", (unsigned)st.st_gid);
		snprintf(why, n, "/dev/kvm is mode %04o %s:%s", (unsigned)(st.st_mode & 07777), pw ? pw->pw_name : ou,
			 gr ? gr->gr_name : og);
	}
	return ok;
}

static bool inside(const char *path, const char *dir)
{
	size_t l = strlen(dir);
	return !strncmp(path, dir, l) && (path[l] == '/' || path[l] == '\0');
}

/* The grants recorded in a manifest (empty when none). */
static int recorded(json_object *man, struct dk_grants *g)
{
	json_object *a;
	memset(g, 0, sizeof *g);
	if (!man || !json_object_object_get_ex(man, "access", &a) || !a)
		return 0;
	return dk_grants_from_json(a, g);
}

int dk_bundle_access(struct dk_bundle *b, void *conn, bool no_grant, struct dk_access_result *r)
{
	memset(r, 0, sizeof *r);
	r->kvm_ok = true;
	if (!b->uri || !dk_virt_uri_is_local(b->uri))
		return 0;
	if (dk_virt_qemu_ident(conn, &r->qemu) < 0)
		return -1;
	r->kvm_ok = dk_ident_kvm_ok(&r->qemu, r->kvm_why, sizeof r->kvm_why);
	/* The domain's files; volumes of a pool are libvirt's own (in the pool's
	 * directory, which libvirt labels): no grants there. */
	const char *files[4];
	size_t nf = 0;
	if (!b->vol_opencore)
		files[nf++] = b->opencore;
	if (!b->vol_vars)
		files[nf++] = b->vars;
	if (!b->volume && dk_path_exists(b->disk))
		files[nf++] = b->disk;
	files[nf] = NULL;
	if (!nf)
		return 0;
	struct dk_grants miss = {0};
	if (dk_access_missing(&r->qemu, files, DK_PERM_R | DK_PERM_W, &miss) < 0)
		return dk_fail_prefix("%s", b->name);
	if (!miss.n)
		return 0;
	/* Above the bundle: the user's own directories. */
	struct dk_grants outside = {.uid = miss.uid};
	snprintf(outside.user, sizeof outside.user, "%s", miss.user);
	for (size_t i = 0; i < miss.n; i++)
		if (!inside(miss.v[i].path, b->dir)) {
			outside.v = dk_realloc(outside.v, (outside.n + 1) * sizeof *outside.v);
			outside.v[outside.n++] = miss.v[i];
		}
	if (no_grant && outside.n) {
		_cleanup_free_ char *fix = dk_access_fix(&outside);
		dk_fail("%s: libvirt's QEMU runs as %s and cannot reach the VM's files; run: %s "
			"(or create the VM with --dir under /var/lib/libvirt/images, or leave out --no-grant)",
			b->name, dk_ident_str(&r->qemu), fix);
		free(outside.v);
		dk_grants_free(&miss);
		return -1;
	}
	free(outside.v);
	if (dk_access_grant(&miss) < 0) {
		dk_fail_prefix("%s: cannot give libvirt's QEMU user %s access", b->name, dk_ident_str(&r->qemu));
		dk_grants_free(&miss);
		return -1;
	}
	r->granted = miss.n;
	/* record them (merged with earlier grants) so destroy can take them back */
	struct dk_grants all;
	if (recorded(b->manifest, &all) < 0 || (all.n && all.uid != miss.uid)) {
		dk_errclear();
		memset(&all, 0, sizeof all);
	}
	all.uid = miss.uid;
	snprintf(all.user, sizeof all.user, "%s", miss.user);
	for (size_t i = 0; i < miss.n; i++) {
		all.v = dk_realloc(all.v, (all.n + 1) * sizeof *all.v);
		all.v[all.n++] = (struct dk_grant){dk_strdup(miss.v[i].path), miss.v[i].perm, miss.v[i].prev};
	}
	struct dk_buf dirs = {0};
	size_t nd = 0;
	for (size_t i = 0; i < miss.n; i++)
		if (miss.v[i].perm == DK_PERM_X && !inside(miss.v[i].path, b->dir))
			dk_buf_printf(&dirs, "%s%s", nd++ ? ", " : "", miss.v[i].path);
	dk_buf_puts(&dirs, "");
	dk_warn("%s: gave libvirt's QEMU user %s access by ACL: search on %s%sthe VM's files (dkvm destroy takes it back)",
		b->name, dk_ident_str(&r->qemu), nd ? dirs.data : "", nd ? " and " : "");
	dk_buf_free(&dirs);
	json_object_object_add(b->manifest, "access", dk_grants_to_json(&all));
	dk_grants_free(&all);
	dk_grants_free(&miss);
	return dk_bundle_write_manifest(b);
}

/* Another VM under parent bound to a libvirt on this machine (it reaches its
 * files through the same directories). */
static bool other_local_vm(const char *parent, const char *self)
{
	DIR *d = opendir(parent);
	if (!d)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, self) || !dk_name_is_safe(e->d_name))
			continue;
		_cleanup_free_ char *m = dk_asprintf("%s/%s/manifest.json", parent, e->d_name);
		char *data = NULL;
		size_t len;
		if (!dk_path_exists(m) || dk_read_file(m, &data, &len, 16 << 20) < 0) {
			dk_errclear();
			continue;
		}
		json_object *man = json_tokener_parse(data), *lv = NULL;
		free(data);
		const char *uri = json_object_object_get_ex(man, "libvirt", &lv) ? dk_json_get_str(lv, "uri") : NULL;
		found = uri && dk_virt_uri_is_local(uri);
		json_object_put(man);
	}
	closedir(d);
	return found;
}

struct keep_ctx {
	const char *dir;
	bool shared;
};

/* Directories above the bundle stay open while another VM under the same
 * parent is bound to a libvirt on this machine. Each start checks again, so
 * nothing stays shut for long. */
static bool keep_shared(const char *path, void *ud)
{
	const struct keep_ctx *k = ud;
	return k->shared && !inside(path, k->dir);
}

int dk_bundle_access_revoke(struct dk_bundle *b)
{
	struct dk_grants g;
	if (recorded(b->manifest, &g) < 0)
		return dk_fail_prefix("%s", b->name);
	if (!g.n)
		return 0;
	struct keep_ctx k = {b->dir, other_local_vm(b->parent, b->name)}; /* scanned once, not per path */
	int rc = dk_access_revoke(&g, keep_shared, &k);
	dk_grants_free(&g);
	return rc;
}
