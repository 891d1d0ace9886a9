/* Access of another user to paths: the kernel's permission rule (owner,
 * POSIX ACL named users, groups, mask, others) evaluated for a given identity,
 * and named-user ACL entries added or removed (libacl), the way virt-manager
 * grants libvirt's QEMU user search permission on a path. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#define DK_PERM_R 4
#define DK_PERM_W 2
#define DK_PERM_X 1

/* A user as the kernel sees it when that user opens a file. */
struct dk_ident {
	uid_t uid;
	gid_t gid;
	gid_t groups[64]; /* supplementary groups */
	int ngroups;
	char name[64];    /* user name, "" if unknown */
	char group[64];   /* primary group name, "" if unknown */
};

/* Fill the supplementary groups of id->uid from the user database (live). */
void dk_ident_groups(struct dk_ident *id);
/* "libvirt-qemu (uid 64055, gid 64055)". Static buffer per thread. */
const char *dk_ident_str(const struct dk_ident *id);

/* Would id be granted the permissions want (DK_PERM_* bits) on path, by the
 * file's mode and access ACL? Root (uid 0) is granted everything. 0 and *ok
 * set, or -1 (path cannot be examined: error names it). */
int dk_may_access(const struct dk_ident *id, const char *path, int want, bool *ok);

/* The permissions of the named-user entry for uid in path's access ACL, or -1
 * when there is none. -2 (error set) when the ACL cannot be read. */
int dk_acl_user_get(const char *path, uid_t uid);
/* Set the named-user entry for uid to perm (DK_PERM_* bits), or remove it
 * (perm < 0); the mask is recomputed as setfacl does. Errors name the path
 * (EOPNOTSUPP: "the filesystem does not support ACLs"). */
int dk_acl_user_set(const char *path, uid_t uid, int perm);
