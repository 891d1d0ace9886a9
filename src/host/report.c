/* Host report: record what the probes read, sanitize it, write a ustar. */
#include "host/report.h"
#include "host/internal.h"
#include "host/pci.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long keep_gid = -1;
static char keep_user[64]; /* libvirt's QEMU user: its passwd line is kept */

bool dk_report_path_denied(const char *abs)
{
	static const char *bad[] = {"serial", "product_uuid", "machine-id", "/address", "board_asset_tag",
				    "chassis_asset_tag", "/etc/shadow", "/etc/gshadow", "ssh", "/uuid"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(bad); i++)
		if (strstr(abs, bad[i]))
			return true;
	return false;
}

static bool is_hex_run(const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (!isxdigit((unsigned char)p[i]))
			return false;
	return true;
}

/* Zero UUIDs, MAC addresses (':' or '-' separated) and IPv4 addresses in
 * place (same length). */
static void redact(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && isxdigit((unsigned char)s[i - 1]))
			continue;
		char *p = s + i;
		size_t left = len - i;
		if (left >= 36 && is_hex_run(p, 8) && p[8] == '-' && is_hex_run(p + 9, 4) && p[13] == '-' &&
		    is_hex_run(p + 14, 4) && p[18] == '-' && is_hex_run(p + 19, 4) && p[23] == '-' &&
		    is_hex_run(p + 24, 12) && (left == 36 || !isxdigit((unsigned char)p[36]))) {
			for (int k = 0; k < 36; k++)
				if (p[k] != '-')
					p[k] = '0';
			i += 35;
			continue;
		}
		if (left >= 17 && (p[2] == ':' || p[2] == '-')) {
			char sep = p[2];
			bool mac = true;
			for (int k = 0; k < 6 && mac; k++)
				mac = is_hex_run(p + 3 * k, 2) && (k == 5 || p[3 * k + 2] == sep);
			if (mac && (left == 17 || !isxdigit((unsigned char)p[17]))) {
				for (int k = 0; k < 17; k++)
					if (p[k] != sep)
						p[k] = '0';
				i += 16;
				continue;
			}
		}
		/* a.b.c.d, each 0-255, not part of a longer dotted number */
		if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.'))
			continue;
		size_t k = 0;
		int parts = 0;
		bool ip = true;
		while (ip && parts < 4) {
			size_t d = 0;
			unsigned v = 0;
			while (k + d < left && d < 4 && isdigit((unsigned char)p[k + d]))
				v = v * 10 + (unsigned)(p[k + d++] - '0');
			ip = d >= 1 && d <= 3 && v <= 255;
			k += d;
			parts++;
			if (ip && parts < 4) {
				ip = k < left && p[k] == '.';
				k++;
			}
		}
		if (ip && !(k < left && (isalnum((unsigned char)p[k]) || (p[k] == '.' && k + 1 < left &&
										 isdigit((unsigned char)p[k + 1]))))) {
			for (size_t m = 0; m < k; m++)
				if (p[m] != '.')
					p[m] = '0';
			i += k - 1;
		}
	}
}

/* Kernel parameters (and fstab-style tags) whose values identify the machine,
 * its disks or its network. */
static const char *const secret_keys[] = {
	"root", "resume", "ip", "hostname", "systemd.hostname", "nfsroot", "netroot", "cryptdevice", "cryptkey",
	"rd.luks.uuid", "rd.luks.name", "rd.luks.key", "luks.uuid", "luks.name", "luks.key", "rd.lvm.lv",
	"rd.lvm.vg", "rd.md.uuid", "rd.dm.uuid", "BOOTIF", "ifname", "rd.route", "nameserver", "bond", "vlan",
	"bridge", "UUID", "PARTUUID", "LABEL", "PARTLABEL", "resume_offset", "rd.iscsi.initiator",
	"iscsi_initiator", "zfs", "rootflags", "systemd.machine_id", "rd.znet", "rd.zfcp", "rd.dasd",
};

static bool tok_end(char c)
{
	return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '\\';
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

char *dk_report_scrub(const struct dk_scrub *sc, const char *text, size_t len, size_t *out_len)
{
	struct dk_buf b = {0};
	size_t i = 0;
	while (i < len) {
		char prev = i ? text[i - 1] : ' ';
		bool boundary = prev == ' ' || prev == '\t' || prev == '\n' || prev == '"' || prev == '\'' || prev == '=';
		size_t hit = 0;
		for (size_t k = 0; boundary && !hit && k < DK_ARRAY_SIZE(secret_keys); k++) {
			size_t kl = strlen(secret_keys[k]);
			if (kl < len - i && !memcmp(text + i, secret_keys[k], kl) && text[i + kl] == '=')
				hit = kl + 1;
		}
		if (hit) {
			dk_buf_append(&b, text + i, hit);
			i += hit;
			size_t v = i;
			while (v < len && !tok_end(text[v]))
				v++;
			if (v > i)
				dk_buf_puts(&b, "REDACTED");
			i = v;
			continue;
		}
		size_t wl = 0;
		for (int w = 0; sc && !wl && w < sc->n; w++) {
			size_t l = strlen(sc->words[w]);
			if (l && l <= len - i && !memcmp(text + i, sc->words[w], l) && !(i && word_char(text[i - 1])) &&
			    !(i + l < len && word_char(text[i + l])))
				wl = l;
		}
		if (wl) {
			dk_buf_puts(&b, "HOSTNAME");
			i += wl;
			continue;
		}
		dk_buf_append(&b, text + i, 1);
		i++;
	}
	dk_buf_append(&b, "", 1);
	b.len--;
	redact(b.data, b.len);
	if (out_len)
		*out_len = b.len;
	return b.data;
}

static void add_word(struct dk_scrub *sc, const struct dk_host *h, const char *w, size_t l)
{
	while (l && isspace((unsigned char)w[l - 1]))
		l--;
	while (l && isspace((unsigned char)*w))
		w++, l--;
	if (l < 3 || sc->n >= (int)DK_ARRAY_SIZE(sc->words) || memchr(w, '\n', l))
		return;
	char *x = dk_strndup(w, l);
	static const char *const benign[] = {"localhost", "localhost.localdomain", "(none)", "REDACTED", "HOSTNAME"};
	bool skip = false;
	for (size_t i = 0; i < DK_ARRAY_SIZE(benign); i++)
		skip |= !strcmp(x, benign[i]);
	/* a host named like its distro keeps os-release readable */
	skip |= h && (!strcmp(x, h->distro_id) || !strcmp(x, h->distro_family));
	for (int i = 0; i < sc->n; i++)
		skip |= !strcmp(x, sc->words[i]);
	if (skip) {
		free(x);
		return;
	}
	sc->words[sc->n++] = x;
	/* the short name of an FQDN too */
	const char *dot = strchr(x, '.');
	if (dot)
		add_word(sc, h, x, (size_t)(dot - x));
}

static void add_cmdline_names(struct dk_scrub *sc, const struct dk_host *h, const char *cmd)
{
	for (const char *p = cmd; p && *p;) {
		p += strspn(p, " \t\"'");
		size_t l = strcspn(p, " \t\"'");
		if (!strncmp(p, "hostname=", 9) && l > 9)
			add_word(sc, h, p + 9, l - 9);
		else if (!strncmp(p, "systemd.hostname=", 17) && l > 17)
			add_word(sc, h, p + 17, l - 17);
		else if (!strncmp(p, "ip=", 3)) {
			/* ip=<client>:<server>:<gw>:<netmask>:<hostname>:<device>:... */
			const char *f = p + 3, *e = p + l;
			for (int k = 0; k < 4 && f && f < e; k++) {
				f = memchr(f, ':', (size_t)(e - f));
				f = f ? f + 1 : NULL;
			}
			if (f && f < e) {
				const char *c = memchr(f, ':', (size_t)(e - f));
				add_word(sc, h, f, (size_t)((c ? c : e) - f));
			}
		}
		p += l;
	}
}

void dk_report_scrub_init(struct dk_scrub *sc, const struct dk_host *h)
{
	memset(sc, 0, sizeof *sc);
	static const char *const files[] = {"/etc/hostname", "/proc/sys/kernel/hostname"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = dk_host_path(files[i]);
		char *d = NULL;
		size_t l;
		if (dk_host_read_regular(p, files[i], 4096, &d, &l) < 0) {
			dk_errclear();
			continue;
		}
		/* first non-comment line */
		for (char *q = d; q && *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : NULL)
			if (*q != '#' && *q != '\n') {
				add_word(sc, h, q, strcspn(q, "\n"));
				break;
			}
		free(d);
	}
	if (h && h->live) {
		char name[256];
		if (gethostname(name, sizeof name) == 0) {
			name[sizeof name - 1] = '\0';
			add_word(sc, h, name, strlen(name));
		}
	}
	if (h) {
		add_cmdline_names(sc, h, h->cmdline);
		add_cmdline_names(sc, h, h->grub_cmdline);
		add_cmdline_names(sc, h, h->grub_cmdline_default);
	}
}

void dk_report_scrub_free(struct dk_scrub *sc)
{
	for (int i = 0; i < sc->n; i++)
		free(sc->words[i]);
	sc->n = 0;
}

static bool keep_line(const char *abs, const char *line, size_t l)
{
	if (!strcmp(abs, "/etc/default/grub")) {
		const char *q = line;
		while (*q == ' ' || *q == '\t')
			q++;
		return !strncmp(q, "GRUB_CMDLINE_LINUX", 18);
	}
	if (strstr(abs, "/loader/entries/"))
		return !strncmp(line, "title", 5) || !strncmp(line, "options", 7) || !strncmp(line, "version", 7);
	if (strstr(abs, "/loader/loader.conf"))
		return !strncmp(line, "default", 7);
	if (!strcmp(abs, "/etc/passwd")) /* only libvirt's QEMU user, never people's accounts */
		return keep_user[0] && l > strlen(keep_user) && !strncmp(line, keep_user, strlen(keep_user)) &&
		       line[strlen(keep_user)] == ':';
	if (!strcmp(abs, "/etc/group")) {
		static const char *keep[] = {"kvm:", "libvirt:", "libvirt-qemu:"};
		for (size_t i = 0; i < DK_ARRAY_SIZE(keep); i++)
			if (l >= strlen(keep[i]) && !strncmp(line, keep[i], strlen(keep[i])))
				return true;
		const char *c1 = memchr(line, ':', l);
		const char *c2 = c1 ? memchr(c1 + 1, ':', l - (size_t)(c1 + 1 - line)) : NULL;
		return c2 && keep_gid >= 0 && strtol(c2 + 1, NULL, 10) == keep_gid;
	}
	return true;
}

char *dk_report_sanitize(const struct dk_scrub *sc, const char *abs, const char *data, size_t len, size_t *out_len)
{
	struct dk_buf b = {0};
	const char *p = data, *end = data + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if (keep_line(abs, p, l))
			dk_buf_append(&b, p, l);
		p += l;
	}
	char *r = dk_report_scrub(sc, b.data ? b.data : "", b.len, out_len);
	dk_buf_free(&b);
	return r;
}

/* ---- entries ---- */

struct entry {
	char *path; /* relative: "sys/devices/..." */
	char type;  /* '0' file, '2' symlink, '5' dir */
	unsigned mode, uid, gid;
	char *data;
	size_t len;
	char *link;
};

struct entries {
	struct entry *v;
	size_t n;
	struct dk_report_stats *st;
	const struct dk_scrub *sc;
};

static struct entry *find(struct entries *e, const char *path)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->v[i].path, path))
			return &e->v[i];
	return NULL;
}

static struct entry *add(struct entries *e, const char *abs, char type, unsigned mode)
{
	const char *rel = abs[0] == '/' ? abs + 1 : abs;
	if (!*rel)
		return NULL;
	struct entry *x = find(e, rel);
	if (x)
		return NULL;
	e->v = dk_realloc(e->v, (e->n + 1) * sizeof *e->v);
	x = &e->v[e->n++];
	memset(x, 0, sizeof *x);
	x->path = dk_strdup(rel);
	x->type = type;
	x->mode = mode;
	return x;
}

/* Normalize an absolute path: collapse //, ., .. */
static char *normalize(const char *abs)
{
	char *tmp = dk_strdup(abs), *save = NULL;
	const char *parts[256];
	int n = 0;
	for (char *t = strtok_r(tmp, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (!strcmp(t, "."))
			continue;
		if (!strcmp(t, "..")) {
			if (n)
				n--;
			continue;
		}
		if (n < 256)
			parts[n++] = t;
	}
	struct dk_buf b = {0};
	for (int i = 0; i < n; i++)
		dk_buf_printf(&b, "/%s", parts[i]);
	if (!n)
		dk_buf_puts(&b, "/");
	free(tmp);
	return b.data;
}

/* Relative link text from directory `from_dir` to absolute `to`. */
static char *relpath(const char *from_dir, const char *to)
{
	/* count common prefix components */
	size_t i = 0, last = 0;
	while (from_dir[i] && to[i] && from_dir[i] == to[i]) {
		if (from_dir[i] == '/')
			last = i;
		i++;
	}
	if (!from_dir[i] && (to[i] == '/' || !to[i]))
		last = i;
	else if (!strcmp(from_dir, "/"))
		last = 0;
	struct dk_buf b = {0};
	for (const char *p = from_dir + last; *p; p++)
		if (*p == '/')
			dk_buf_puts(&b, "../");
	const char *rest = to + last;
	while (*rest == '/')
		rest++;
	dk_buf_puts(&b, *rest ? rest : ".");
	return b.data;
}

static void add_link(struct entries *e, const char *abs, const char *target)
{
	char *t;
	if (target[0] == '/') {
		char *dir = dk_strdup(abs);
		*strrchr(dir, '/') = '\0';
		t = relpath(dir[0] ? dir : "/", target);
		free(dir);
	} else {
		t = dk_strdup(target);
	}
	struct entry *x = add(e, abs, '2', 0777);
	if (x) {
		x->link = t;
		e->st->links++;
	} else {
		free(t);
	}
}

/* Resolve abs within the sysroot, adding a symlink entry for every symlink met
 * on the way; returns the real path (malloc'd), or NULL when it does not exist.
 * The last component is not followed when nofollow_last. */
static char *resolve(struct entries *e, const char *abs, bool nofollow_last)
{
	char *cur = normalize(abs);
	for (int hops = 0; hops < 40; hops++) {
		bool restarted = false;
		size_t len = strlen(cur);
		for (size_t i = 1; i <= len && !restarted; i++) {
			if (cur[i] != '/' && cur[i] != '\0')
				continue;
			bool last = cur[i] == '\0';
			if (last && nofollow_last)
				break;
			char *prefix = dk_strndup(cur, i);
			_cleanup_free_ char *hp = dk_host_path(prefix);
			struct stat st;
			if (lstat(hp, &st) < 0) {
				free(prefix);
				free(cur);
				return NULL;
			}
			if (S_ISLNK(st.st_mode)) {
				char target[4096];
				ssize_t n = readlink(hp, target, sizeof target - 1);
				if (n <= 0) {
					free(prefix);
					free(cur);
					return NULL;
				}
				target[n] = '\0';
				add_link(e, prefix, target);
				char *dir = dk_strdup(prefix);
				*strrchr(dir, '/') = '\0';
				char *joined = target[0] == '/' ? dk_asprintf("%s%s", target, cur + i)
								: dk_asprintf("%s/%s%s", dir, target, cur + i);
				free(dir);
				free(cur);
				cur = normalize(joined);
				free(joined);
				restarted = true;
			}
			free(prefix);
		}
		if (!restarted)
			return cur;
	}
	free(cur);
	return NULL;
}

static void add_file(struct entries *e, const char *abs)
{
	_cleanup_free_ char *real = resolve(e, abs, false);
	if (!real)
		return;
	if (dk_report_path_denied(real) || dk_report_path_denied(abs)) {
		e->st->skipped++;
		return;
	}
	_cleanup_free_ char *hp = dk_host_path(real);
	struct stat st;
	if (stat(hp, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	char *d = NULL;
	size_t len = 0;
	if (dk_host_read_regular(hp, real, HREAD_RAW_MAX, &d, &len) < 0) {
		dk_errclear();
		return;
	}
	size_t olen;
	char *s = dk_report_sanitize(e->sc, real, d, len, &olen);
	free(d);
	struct entry *x = add(e, real, '0', st.st_mode & 0777);
	if (!x) {
		free(s);
		return;
	}
	x->data = s;
	x->len = olen;
	x->uid = 0;
	x->gid = 0;
	e->st->files++;
	e->st->bytes += olen;
}

static void add_dir(struct entries *e, const char *abs, bool children)
{
	_cleanup_free_ char *real = resolve(e, abs, false);
	if (!real)
		return;
	_cleanup_free_ char *hp = dk_host_path(real);
	struct stat st;
	if (stat(hp, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	if (strcmp(real, "/") && add(e, real, '5', 0755))
		e->st->dirs++;
	if (!children)
		return;
	char **names;
	int n = hlist(real, &names);
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *child = dk_asprintf("%s/%s", strcmp(real, "/") ? real : "", names[i]);
		_cleanup_free_ char *chp = dk_host_path(child);
		struct stat cs;
		if (lstat(chp, &cs) < 0 || dk_report_path_denied(child))
			continue;
		if (S_ISLNK(cs.st_mode)) {
			char target[4096];
			ssize_t k = readlink(chp, target, sizeof target - 1);
			if (k > 0) {
				target[k] = '\0';
				add_link(e, child, target);
			}
		} else if (S_ISDIR(cs.st_mode)) {
			if (add(e, child, '5', 0755))
				e->st->dirs++;
		}
	}
	hlist_free(names, n);
}

static void add_stat(struct entries *e, const char *abs)
{
	_cleanup_free_ char *real = resolve(e, abs, false);
	if (!real)
		return;
	_cleanup_free_ char *hp = dk_host_path(real);
	struct stat st;
	if (stat(hp, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		add_dir(e, real, false);
		return;
	}
	struct entry *x = add(e, real, '0', st.st_mode & 07777);
	if (x) {
		x->gid = st.st_gid;
		x->uid = 0;
		e->st->placeholders++;
	}
}

static void add_link_only(struct entries *e, const char *abs)
{
	char *dir = dk_strdup(abs);
	char *slash = strrchr(dir, '/');
	_cleanup_free_ char *base = dk_strdup(slash ? slash + 1 : abs);
	if (slash)
		*slash = '\0';
	_cleanup_free_ char *rdir = resolve(e, dir[0] ? dir : "/", false);
	free(dir);
	if (!rdir)
		return;
	_cleanup_free_ char *full = dk_asprintf("%s/%s", strcmp(rdir, "/") ? rdir : "", base);
	_cleanup_free_ char *hp = dk_host_path(full);
	char target[4096];
	ssize_t n = readlink(hp, target, sizeof target - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	add_link(e, full, target);
}

/* ---- ustar ---- */

static int octal(char *dst, size_t n, unsigned long long v)
{
	char tmp[32];
	snprintf(tmp, sizeof tmp, "%0*llo", (int)n - 1, v);
	if (strlen(tmp) > n - 1)
		return -1;
	memcpy(dst, tmp, n);
	return 0;
}

static void pax_record(struct dk_buf *b, const char *key, const char *val)
{
	size_t base = strlen(key) + strlen(val) + 3; /* ' ' '=' '\n' */
	size_t len = base + 1;
	while (len != base + (size_t)snprintf(NULL, 0, "%zu", len))
		len = base + (size_t)snprintf(NULL, 0, "%zu", len);
	dk_buf_printf(b, "%zu %s=%s\n", len, key, val);
}

static int raw_header(int fd, const char *name, const char *prefix, char type, unsigned mode, unsigned uid,
		      unsigned gid, unsigned long long size, time_t mtime, const char *link)
{
	unsigned char h[512];
	memset(h, 0, sizeof h);
	memcpy(h, name, strnlen(name, 100));
	if (prefix)
		memcpy(h + 345, prefix, strnlen(prefix, 155));
	octal((char *)h + 100, 8, mode);
	octal((char *)h + 108, 8, uid);
	octal((char *)h + 116, 8, gid);
	if (octal((char *)h + 124, 12, size) < 0)
		return dk_fail("%s: too large for ustar", name);
	octal((char *)h + 136, 12, (unsigned long long)mtime);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	if (link)
		memcpy(h + 157, link, strnlen(link, 100));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return dk_write_all(fd, h, 512);
}

/* One entry: a ustar header, preceded by a POSIX pax header when the path or
 * the link target does not fit the ustar fields. */
static int tar_header(int fd, const struct entry *x, time_t mtime)
{
	char path[4096];
	snprintf(path, sizeof path, "%s%s", x->path, x->type == '5' ? "/" : "");
	size_t pl = strlen(path);
	char name[101] = "", prefix[156] = "";
	bool fits = false;
	if (pl <= 100) {
		memcpy(name, path, pl + 1);
		fits = true;
	} else {
		for (size_t i = 0; i < pl && i <= 155; i++)
			if (path[i] == '/' && pl - i - 1 <= 100 && pl - i - 1 > 0) {
				memcpy(prefix, path, i);
				prefix[i] = '\0';
				memcpy(name, path + i + 1, pl - i);
				fits = true;
				break;
			}
	}
	bool long_link = x->link && strlen(x->link) > 100;
	if (!fits || long_link) {
		struct dk_buf b = {0};
		if (!fits)
			pax_record(&b, "path", path);
		if (long_link)
			pax_record(&b, "linkpath", x->link);
		char pname[101];
		snprintf(pname, sizeof pname, "PaxHeaders/%.80s", strrchr(path, '/') && strrchr(path, '/')[1] ? strrchr(path, '/') + 1 : path);
		static const unsigned char zero[512];
		int r = raw_header(fd, pname, NULL, 'x', 0644, 0, 0, b.len, mtime, NULL);
		if (r == 0)
			r = dk_write_all(fd, b.data, b.len);
		if (r == 0 && b.len % 512)
			r = dk_write_all(fd, zero, 512 - b.len % 512);
		dk_buf_free(&b);
		if (r < 0)
			return -1;
		if (!fits)
			snprintf(name, sizeof name, "%.100s", path + pl - (pl > 100 ? 100 : pl));
	}
	return raw_header(fd, name, fits ? prefix : NULL, x->type, x->mode, x->uid, x->gid, x->type == '0' ? x->len : 0,
			  mtime, x->link);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static int write_tar(int fd, struct entries *e)
{
	qsort(e->v, e->n, sizeof *e->v, cmp_entry);
	time_t now = time(NULL);
	static const unsigned char zero[1024];
	for (size_t i = 0; i < e->n; i++) {
		const struct entry *x = &e->v[i];
		if (tar_header(fd, x, now) < 0)
			return -1;
		if (x->type == '0' && x->len) {
			if (dk_write_all(fd, x->data, x->len) < 0)
				return -1;
			size_t pad = (512 - x->len % 512) % 512;
			if (pad && dk_write_all(fd, zero, pad) < 0)
				return -1;
		}
	}
	return dk_write_all(fd, zero, 1024);
}

json_object *dk_report_stats_json(const char *path, const struct dk_report_stats *st)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "output", dk_json_str(path));
	json_object_object_add(o, "files", json_object_new_int64((int64_t)st->files));
	json_object_object_add(o, "symlinks", json_object_new_int64((int64_t)st->links));
	json_object_object_add(o, "directories", json_object_new_int64((int64_t)st->dirs));
	json_object_object_add(o, "placeholders", json_object_new_int64((int64_t)st->placeholders));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)st->bytes));
	return o;
}

char *dk_host_report_default_name(void)
{
	char host[256] = "host";
	if (gethostname(host, sizeof host) < 0 || !host[0])
		snprintf(host, sizeof host, "host");
	host[sizeof host - 1] = '\0';
	for (char *p = host; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			*p = '_';
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char date[16];
	strftime(date, sizeof date, "%Y-%m-%d", &tm);
	return dk_asprintf("host-report-%s-%s.tar", host, date);
}

int dk_host_report_write(const char *out_path, bool force, struct dk_report_stats *stats)
{
	struct dk_report_stats local = {0};
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof *stats);
	if (dk_output_check(out_path, force) < 0)
		return -1;

	hrec_reset();
	hrec_start();
	struct dk_host *h = dk_calloc(1, sizeof *h);
	dk_host_probe(h); /* a broken cpuinfo is still worth reporting */
	dk_errclear();
	struct dk_pci pci;
	dk_pci_scan(&pci);
	hrec_stop();
	struct dk_checks cs;
	dk_host_checks(h, &cs);
	json_object *doc = dk_host_check_json(h, &cs);
	json_object_object_add(doc, "report_version", json_object_new_int(1));
	const char *js = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

	struct stat kst;
	_cleanup_free_ char *kp = dk_host_path("/dev/kvm");
	keep_gid = stat(kp, &kst) == 0 ? (long)kst.st_gid : -1;
	snprintf(keep_user, sizeof keep_user, "%s", h->libvirt.qemu_user);

	struct dk_scrub sc;
	dk_report_scrub_init(&sc, h);
	struct entries e = {.st = stats, .sc = &sc};
	size_t n;
	const struct hrec *r = hrec_list(&n);
	for (size_t i = 0; i < n; i++) {
		if (dk_report_path_denied(r[i].path)) {
			stats->skipped++;
			continue;
		}
		switch (r[i].kind) {
		case HREC_FILE:
			add_file(&e, r[i].path);
			break;
		case HREC_DIR:
			add_dir(&e, r[i].path, true);
			break;
		case HREC_STAT:
			add_stat(&e, r[i].path);
			break;
		case HREC_LINK:
			add_link_only(&e, r[i].path);
			break;
		}
	}
	struct entry *x = add(&e, "/dkvm-host-check.json", '0', 0644);
	if (x) {
		/* the check result quotes the command line and files: scrubbed alike */
		_cleanup_free_ char *j = dk_strjoin(js, "\n");
		x->data = dk_report_scrub(&sc, j, strlen(j), &x->len);
	}
	dk_report_scrub_free(&sc);
	json_object_put(doc);
	dk_checks_free(&cs);
	dk_pci_free(&pci);
	dk_host_free(h);
	free(h);
	hrec_reset();

	struct dk_atomic a;
	int rc = dk_atomic_open(&a, out_path, force, 0644);
	if (rc == 0) {
		if (write_tar(a.fd, &e) < 0) {
			dk_fail_prefix("%s", out_path);
			dk_atomic_abort(&a);
			rc = -1;
		} else {
			rc = dk_atomic_commit(&a);
		}
	}
	for (size_t i = 0; i < e.n; i++) {
		free(e.v[i].path);
		free(e.v[i].data);
		free(e.v[i].link);
	}
	free(e.v);
	return rc;
}
