/* Another user's access to paths, and named-user ACL entries (libacl). */
#include "util/acl.h"
#include "util/error.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/acl.h>
#include <acl/libacl.h>
#include <sys/stat.h>

void dk_ident_groups(struct dk_ident *id)
{
	struct passwd *pw = getpwuid(id->uid);
	id->ngroups = 0;
	if (pw) {
		snprintf(id->name, sizeof id->name, "%s", pw->pw_name);
		int n = (int)(sizeof id->groups / sizeof id->groups[0]);
		if (getgrouplist(pw->pw_name, id->gid, id->groups, &n) >= 0)
			id->ngroups = n;
	}
	struct group *g = getgrgid(id->gid);
	if (g)
		snprintf(id->group, sizeof id->group, "%s", g->gr_name);
}

const char *dk_ident_str(const struct dk_ident *id)
{
	static __thread char buf[192];
	snprintf(buf, sizeof buf, "%s (uid %u, gid %u)", id->name[0] ? id->name : "?", (unsigned)id->uid,
		 (unsigned)id->gid);
	return buf;
}

static bool in_group(const struct dk_ident *id, gid_t g)
{
	if (g == id->gid)
		return true;
	for (int i = 0; i < id->ngroups; i++)
		if (id->groups[i] == g)
			return true;
	return false;
}

static int perm_bits(acl_entry_t e)
{
	acl_permset_t ps;
	if (acl_get_permset(e, &ps) < 0)
		return 0;
	return (acl_get_perm(ps, ACL_READ) == 1 ? DK_PERM_R : 0) | (acl_get_perm(ps, ACL_WRITE) == 1 ? DK_PERM_W : 0) |
	       (acl_get_perm(ps, ACL_EXECUTE) == 1 ? DK_PERM_X : 0);
}

/* The kernel's rule (posix_acl_permission) over an access ACL. */
static bool acl_grants(acl_t acl, const struct stat *st, const struct dk_ident *id, int want)
{
	int owner = -1, named_user = -1, other = 0, mask = 7;
	bool has_mask = false, group_found = false, group_ok = false;
	int group_perms[64];
	int ngp = 0;
	acl_entry_t e;
	for (int r = acl_get_entry(acl, ACL_FIRST_ENTRY, &e); r == 1; r = acl_get_entry(acl, ACL_NEXT_ENTRY, &e)) {
		acl_tag_t tag;
		if (acl_get_tag_type(e, &tag) < 0)
			continue;
		int p = perm_bits(e);
		switch (tag) {
		case ACL_USER_OBJ: owner = p; break;
		case ACL_USER: {
			uid_t *q = acl_get_qualifier(e);
			if (q && *q == id->uid)
				named_user = p;
			acl_free(q);
			break;
		}
		case ACL_GROUP_OBJ:
			if (in_group(id, st->st_gid) && ngp < 64)
				group_perms[ngp++] = p;
			break;
		case ACL_GROUP: {
			gid_t *q = acl_get_qualifier(e);
			if (q && in_group(id, *q) && ngp < 64)
				group_perms[ngp++] = p;
			acl_free(q);
			break;
		}
		case ACL_MASK: mask = p; has_mask = true; break;
		case ACL_OTHER: other = p; break;
		default: break;
		}
	}
	if (id->uid == st->st_uid)
		return owner >= 0 && (owner & want) == want;
	if (named_user >= 0)
		return (named_user & mask & want) == want;
	for (int i = 0; i < ngp; i++) {
		group_found = true;
		if ((group_perms[i] & (has_mask ? mask : 7) & want) == want)
			group_ok = true;
	}
	if (group_found)
		return group_ok;
	return (other & want) == want;
}

static bool mode_grants(const struct stat *st, const struct dk_ident *id, int want)
{
	int p;
	if (id->uid == st->st_uid)
		p = (st->st_mode >> 6) & 7;
	else if (in_group(id, st->st_gid))
		p = (st->st_mode >> 3) & 7;
	else
		p = st->st_mode & 7;
	return (p & want) == want;
}

int dk_may_access(const struct dk_ident *id, const char *path, int want, bool *ok)
{
	struct stat st;
	*ok = false;
	if (stat(path, &st) < 0)
		return dk_fail_errno("%s", path);
	if (id->uid == 0) {
		*ok = !(want & DK_PERM_X) || S_ISDIR(st.st_mode) || (st.st_mode & 0111);
		return 0;
	}
	acl_t acl = acl_get_file(path, ACL_TYPE_ACCESS);
	if (!acl) {
		*ok = mode_grants(&st, id, want);
		return 0;
	}
	*ok = acl_grants(acl, &st, id, want);
	acl_free(acl);
	return 0;
}

int dk_acl_user_get(const char *path, uid_t uid)
{
	acl_t acl = acl_get_file(path, ACL_TYPE_ACCESS);
	if (!acl) {
		if (errno == ENOTSUP)
			return -1;
		dk_fail_errno("%s: ACL", path);
		return -2;
	}
	int found = -1;
	acl_entry_t e;
	for (int r = acl_get_entry(acl, ACL_FIRST_ENTRY, &e); r == 1 && found < 0; r = acl_get_entry(acl, ACL_NEXT_ENTRY, &e)) {
		acl_tag_t tag;
		if (acl_get_tag_type(e, &tag) < 0 || tag != ACL_USER)
			continue;
		uid_t *q = acl_get_qualifier(e);
		if (q && *q == uid)
			found = perm_bits(e);
		acl_free(q);
	}
	acl_free(acl);
	return found;
}

static int set_perms(acl_entry_t e, int perm)
{
	acl_permset_t ps;
	if (acl_get_permset(e, &ps) < 0 || acl_clear_perms(ps) < 0)
		return -1;
	if ((perm & DK_PERM_R) && acl_add_perm(ps, ACL_READ) < 0)
		return -1;
	if ((perm & DK_PERM_W) && acl_add_perm(ps, ACL_WRITE) < 0)
		return -1;
	if ((perm & DK_PERM_X) && acl_add_perm(ps, ACL_EXECUTE) < 0)
		return -1;
	return acl_set_permset(e, ps);
}

static bool has_named(acl_t acl)
{
	acl_entry_t e;
	for (int r = acl_get_entry(acl, ACL_FIRST_ENTRY, &e); r == 1; r = acl_get_entry(acl, ACL_NEXT_ENTRY, &e)) {
		acl_tag_t tag;
		if (acl_get_tag_type(e, &tag) == 0 && (tag == ACL_USER || tag == ACL_GROUP))
			return true;
	}
	return false;
}

int dk_acl_user_set(const char *path, uid_t uid, int perm)
{
	acl_t acl = acl_get_file(path, ACL_TYPE_ACCESS);
	if (!acl) {
		if (errno == ENOTSUP)
			return dk_fail("%s: the filesystem does not support ACLs", path);
		return dk_fail_errno("%s: ACL", path);
	}
	int rc = -1;
	acl_entry_t e, mine = NULL;
	for (int r = acl_get_entry(acl, ACL_FIRST_ENTRY, &e); r == 1 && !mine; r = acl_get_entry(acl, ACL_NEXT_ENTRY, &e)) {
		acl_tag_t tag;
		if (acl_get_tag_type(e, &tag) < 0 || tag != ACL_USER)
			continue;
		uid_t *q = acl_get_qualifier(e);
		if (q && *q == uid)
			mine = e;
		acl_free(q);
	}
	if (perm < 0) {
		if (!mine) {
			rc = 0;
			goto out;
		}
		if (acl_delete_entry(acl, mine) < 0)
			goto fail;
	} else {
		if (!mine && (acl_create_entry(&acl, &mine) < 0 || acl_set_tag_type(mine, ACL_USER) < 0 ||
			      acl_set_qualifier(mine, &uid) < 0))
			goto fail;
		if (set_perms(mine, perm) < 0)
			goto fail;
	}
	/* The mask covers the group class: recompute it as setfacl does; with no
	 * named entries left, drop it so the file is back to its plain mode. */
	if (!has_named(acl)) {
		acl_entry_t m = NULL;
		for (int r = acl_get_entry(acl, ACL_FIRST_ENTRY, &e); r == 1 && !m; r = acl_get_entry(acl, ACL_NEXT_ENTRY, &e)) {
			acl_tag_t tag;
			if (acl_get_tag_type(e, &tag) == 0 && tag == ACL_MASK)
				m = e;
		}
		if (m && acl_delete_entry(acl, m) < 0)
			goto fail;
	} else if (acl_calc_mask(&acl) < 0) {
		goto fail;
	}
	if (acl_valid(acl) < 0 || acl_set_file(path, ACL_TYPE_ACCESS, acl) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	if (errno == ENOTSUP || errno == EOPNOTSUPP)
		dk_fail("%s: the filesystem does not support ACLs", path);
	else
		dk_fail_errno("%s: set ACL", path);
out:
	acl_free(acl);
	return rc;
}
