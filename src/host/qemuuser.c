/* libvirt's QEMU user, read through the sysroot: who qemu.conf (or the
 * distro's default) names, its ids and groups from /etc/passwd and
 * /etc/group, and whether it may open /dev/kvm. */
#include "host/internal.h"
#include "host/users.h"
#include "util/acl.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of `key = "value"` in qemu.conf (comments skipped), or NULL. */
static char *conf_value(const char *conf, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = conf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		p += strspn(p, " \t");
		if (strncmp(p, key, kl) != 0)
			continue;
		const char *q = p + kl;
		q += strspn(q, " \t");
		if (*q != '=')
			continue;
		q += 1 + strspn(q + 1, " \t");
		if (*q != '"')
			continue;
		size_t n = strcspn(q + 1, "\"\n");
		if (q[1 + n] != '"')
			continue;
		return dk_strndup(q + 1, n);
	}
	return NULL;
}

static bool parse_id(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || v > 0x7fffffffUL)
		return false;
	*out = (unsigned)v;
	return true;
}

static const char *default_user(const struct dk_host *h)
{
	if (!strcmp(h->distro_family, "debian"))
		return "libvirt-qemu";
	if (!strcmp(h->distro_family, "fedora"))
		return "qemu";
	return NULL;
}

void dk_host_probe_qemu_user(struct dk_host *h)
{
	struct dk_host_libvirt *l = &h->libvirt;
	_cleanup_free_ char *conf = hread("/etc/libvirt/qemu.conf");
	_cleanup_free_ char *user = conf ? conf_value(conf, "user") : NULL;
	if (!user && default_user(h))
		user = dk_strdup(default_user(h));
	if (!user)
		return;
	_cleanup_free_ char *passwd = hread("/etc/passwd");
	_cleanup_free_ char *group = hread("/etc/group");
	struct dk_users_ent pw = {0}, g = {0};
	struct dk_ident id = {0};
	if (!passwd)
		return;
	/* "+N" is a uid; a bare number is a name first, else a uid (qemu.conf's rule) */
	unsigned num;
	bool found = false;
	if (user[0] == '+' && parse_id(user + 1, &num))
		found = dk_users_find(passwd, 2, user + 1, &pw);
	else if (!(found = dk_users_find(passwd, 0, user, &pw)) && parse_id(user, &num))
		found = dk_users_find(passwd, 2, user, &pw);
	if (!found || !parse_id(pw.f[2], &l->qemu_uid) || !parse_id(pw.f[3], &l->qemu_gid)) {
		dk_users_ent_free(&pw);
		return;
	}
	snprintf(l->qemu_user, sizeof l->qemu_user, "%s", pw.f[0]);
	dk_users_ent_free(&pw);
	l->qemu_user_exists = true;
	id.uid = l->qemu_uid;
	id.gid = l->qemu_gid;
	snprintf(id.name, sizeof id.name, "%s", l->qemu_user);
	/* its groups: the primary one and every group that lists it */
	struct dk_buf names = {0};
	for (const char *p = group; dk_users_next(&p, &g);) {
		unsigned gid;
		if (g.n < 3 || !parse_id(g.f[2], &gid))
			continue;
		if (gid != id.gid && !dk_users_list_has(g.f[3], l->qemu_user))
			continue;
		if (gid != id.gid && id.ngroups < (int)(sizeof id.groups / sizeof id.groups[0]))
			id.groups[id.ngroups++] = gid;
		dk_buf_printf(&names, "%s%s", names.len ? "," : "", g.f[0]);
	}
	dk_buf_puts(&names, "");
	snprintf(l->qemu_groups, sizeof l->qemu_groups, "%s", names.data);
	dk_buf_free(&names);
	if (!h->kvm.dev_present)
		return;
	if (h->live) {
		_cleanup_free_ char *p = dk_host_path("/dev/kvm");
		bool acc = false;
		if (dk_may_access(&id, p, DK_PERM_R | DK_PERM_W, &acc) < 0)
			dk_errclear();
		l->qemu_kvm_access = acc;
	} else {
		/* a snapshot keeps the mode, not the owner: the udev default group kvm */
		l->qemu_kvm_access = (h->kvm.dev_mode & 06) == 06 ||
				     ((h->kvm.dev_mode & 060) == 060 && dk_users_list_has(l->qemu_groups, "kvm"));
	}
}
