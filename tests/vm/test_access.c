/* Another user's access (mode + POSIX ACL, as the kernel decides it), the
 * grants dkvm gives libvirt's QEMU user, and taking them back byte-exact. */
#include "t.h"
#include "util/acl.h"
#include "util/error.h"
#include "util/mem.h"
#include "vm/access.h"

#include <sys/acl.h>
#include <acl/libacl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#define QEMU_UID 64055 /* Debian's libvirt-qemu; needs not exist here */

static struct dk_ident other(void)
{
	struct dk_ident id = {.uid = QEMU_UID, .gid = QEMU_UID};
	snprintf(id.name, sizeof id.name, "libvirt-qemu");
	return id;
}

static char *mkfile(const char *name, mode_t mode)
{
	char *p = t_path(t_tmpdir(), name);
	unlink(p);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, mode);
	close(fd);
	chmod(p, mode);
	return p;
}

static bool may(const struct dk_ident *id, const char *p, int want)
{
	bool ok = false;
	CHECK(dk_may_access(id, p, want, &ok) == 0);
	return ok;
}

static mode_t mode_of(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? st.st_mode & 07777 : 0;
}

TEST(mode_bits_owner_group_other)
{
	struct dk_ident q = other();
	char *f = mkfile("plain", 0600);
	CHECK(!may(&q, f, DK_PERM_R));
	chmod(f, 0604);
	CHECK(may(&q, f, DK_PERM_R));
	CHECK(!may(&q, f, DK_PERM_W));
	/* a member of the owning group gets the group bits, not others' */
	struct stat st;
	stat(f, &st);
	q.groups[q.ngroups++] = st.st_gid;
	chmod(f, 0640);
	CHECK(may(&q, f, DK_PERM_R));
	CHECK(!may(&q, f, DK_PERM_W));
	chmod(f, 0406); /* group ---: a group member is denied even though others may */
	CHECK(!may(&q, f, DK_PERM_R));
	/* the owner gets the owner bits only */
	struct dk_ident me = {.uid = geteuid(), .gid = getegid()};
	chmod(f, 0400);
	if (me.uid != 0) {
		CHECK(may(&me, f, DK_PERM_R));
		CHECK(!may(&me, f, DK_PERM_W));
	}
	/* root: everything but executing a file with no x bit */
	struct dk_ident root = {0};
	CHECK(may(&root, f, DK_PERM_R | DK_PERM_W));
	CHECK(!may(&root, f, DK_PERM_X));
	free(f);
}

TEST(named_user_entry_and_mask)
{
	struct dk_ident q = other();
	char *f = mkfile("acl", 0600);
	CHECK_INT(dk_acl_user_get(f, QEMU_UID), -1);
	CHECK(dk_acl_user_set(f, QEMU_UID, DK_PERM_R | DK_PERM_W) == 0);
	CHECK_INT(dk_acl_user_get(f, QEMU_UID), DK_PERM_R | DK_PERM_W);
	CHECK(may(&q, f, DK_PERM_R | DK_PERM_W));
	CHECK_INT(mode_of(f), 0660); /* the group bits show the mask */
	/* the mask limits the named entry */
	chmod(f, 0640);
	CHECK(may(&q, f, DK_PERM_R));
	CHECK(!may(&q, f, DK_PERM_W));
	chmod(f, 0660);
	/* removed: back to the plain mode, no extended ACL left */
	CHECK(dk_acl_user_set(f, QEMU_UID, -1) == 0);
	CHECK_INT(mode_of(f), 0600);
	CHECK_INT(acl_extended_file(f), 0);
	CHECK(!may(&q, f, DK_PERM_R));
	/* removing what is not there is fine */
	CHECK(dk_acl_user_set(f, QEMU_UID, -1) == 0);
	CHECK(dk_acl_user_set("/nonexistent/x", QEMU_UID, DK_PERM_X) < 0);
	CHECK_CONTAINS(dk_errmsg(), "/nonexistent/x");
	free(f);
}

TEST(grants_reach_a_private_tree_and_go_back_exactly)
{
	struct dk_ident q = other();
	char *top = t_path(t_tmpdir(), "home");
	char *mid = t_path(top, "vms");
	char *bun = t_path(mid, "v1");
	char *disk = t_path(bun, "disk.qcow2");
	mkdir(top, 0700);
	mkdir(mid, 0750);
	mkdir(bun, 0700);
	close(open(disk, O_CREAT | O_WRONLY, 0600));
	chmod(t_tmpdir(), 0700);
	/* an entry that was there before is widened, then put back as it was */
	CHECK(dk_acl_user_set(mid, QEMU_UID, DK_PERM_R) == 0);

	const char *files[] = {disk, NULL};
	struct dk_grants g = {0};
	CHECK(dk_access_missing(&q, files, DK_PERM_R | DK_PERM_W, &g) == 0);
	/* the tmpdir, home, vms, v1 (search) and the disk (rw); never "/" or /tmp */
	CHECK((size_t)g.n >= 5);
	bool saw_disk = false;
	for (size_t i = 0; i < g.n; i++) {
		CHECK(strcmp(g.v[i].path, "/") != 0);
		if (!strcmp(g.v[i].path, disk))
			saw_disk = g.v[i].perm == (DK_PERM_R | DK_PERM_W);
		else
			CHECK_INT(g.v[i].perm, DK_PERM_X);
	}
	CHECK(saw_disk);
	char *fix = dk_access_fix(&g);
	CHECK_CONTAINS(fix, "setfacl -m u:libvirt-qemu:x ");
	CHECK_CONTAINS(fix, top);
	CHECK_CONTAINS(fix, "setfacl -m u:libvirt-qemu:rw- ");
	free(fix);

	CHECK(dk_access_grant(&g) == 0);
	CHECK(may(&q, top, DK_PERM_X));
	CHECK(may(&q, disk, DK_PERM_R | DK_PERM_W));
	CHECK(!may(&q, top, DK_PERM_R)); /* search only: names stay private */
	struct dk_grants none = {0};
	CHECK(dk_access_missing(&q, files, DK_PERM_R | DK_PERM_W, &none) == 0);
	CHECK_INT(none.n, 0);

	/* recorded as JSON in the manifest and read back */
	json_object *j = dk_grants_to_json(&g);
	struct dk_grants back;
	CHECK(dk_grants_from_json(j, &back) == 0);
	CHECK_INT(back.n, g.n);
	CHECK_INT(back.uid, QEMU_UID);
	json_object_put(j);

	CHECK(dk_access_revoke(&back, NULL, NULL) == 0);
	CHECK_INT(mode_of(top), 0700);
	CHECK_INT(mode_of(bun), 0700);
	CHECK_INT(mode_of(disk), 0600);
	CHECK_INT(acl_extended_file(top), 0);
	CHECK_INT(acl_extended_file(disk), 0);
	CHECK_INT(dk_acl_user_get(mid, QEMU_UID), DK_PERM_R); /* as before */
	CHECK(!may(&q, top, DK_PERM_X));
	dk_grants_free(&back);
	dk_grants_free(&g);
	dk_acl_user_set(mid, QEMU_UID, -1);
	free(disk);
	free(bun);
	free(mid);
	free(top);
}

TEST(malformed_recorded_grants_are_refused)
{
	struct dk_grants g;
	json_object *j = json_tokener_parse("{\"uid\":64055,\"entries\":[{\"path\":\"relative\",\"perm\":\"--x\"}]}");
	CHECK(dk_grants_from_json(j, &g) < 0);
	json_object_put(j);
	j = json_tokener_parse("{\"uid\":0,\"entries\":[]}");
	CHECK(dk_grants_from_json(j, &g) < 0); /* never root */
	json_object_put(j);
	j = json_tokener_parse("{\"uid\":5,\"entries\":[{\"path\":\"/x\",\"perm\":\"rwz\"}]}");
	CHECK(dk_grants_from_json(j, &g) < 0);
	json_object_put(j);
}

TEST(local_and_remote_uris)
{
	CHECK(dk_virt_uri_is_local("qemu:///system"));
	CHECK(dk_virt_uri_is_local("qemu:///system?socket=/tmp/x/libvirt-sock"));
	CHECK(dk_virt_uri_is_local("qemu+unix:///system"));
	CHECK(dk_virt_uri_is_local("qemu:///session"));
	CHECK(!dk_virt_uri_is_local("qemu+ssh://host/system"));
	CHECK(!dk_virt_uri_is_local("qemu+tls://host/system"));
	CHECK(!dk_virt_uri_is_local("qemu://host/system"));
}

int main(void)
{
	RUN(mode_bits_owner_group_other);
	RUN(named_user_entry_and_mask);
	RUN(grants_reach_a_private_tree_and_go_back_exactly);
	RUN(malformed_recorded_grants_are_refused);
	RUN(local_and_remote_uris);
	return t_done();
}
