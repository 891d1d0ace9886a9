/* What libvirt's QEMU may open, and the search/read-write permissions dkvm
 * grants it on a bundle's paths (POSIX ACL entries for that one user, as
 * virt-manager does), recorded in the manifest and undone by destroy. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "util/acl.h"

/* One ACL entry dkvm added (or widened): path, the permissions given, and
 * what the entry was before (-1: no entry). */
struct dk_grant {
	char *path;
	int perm;
	int prev;
};
struct dk_grants {
	uid_t uid;
	char user[64]; /* for messages, "" if unknown */
	struct dk_grant *v;
	size_t n;
};
void dk_grants_free(struct dk_grants *g);

/* A libvirt URI whose QEMU runs on this machine (no host part, no remote
 * transport). */
bool dk_virt_uri_is_local(const char *uri);
/* The user and group libvirt runs QEMU as for this connection: the DAC base
 * label of the host capabilities ("+64055:+64055"); uid 0 when no DAC driver
 * confines it. Supplementary groups from the user database. */
int dk_virt_qemu_ident(void *conn, struct dk_ident *id);

/* What id lacks to open each of files with file_perm: search (x) on every
 * directory above them, file_perm on the files (0: they are directories to
 * search). Adds to g (deduplicated). */
int dk_access_missing(const struct dk_ident *id, const char *const *files, int file_perm, struct dk_grants *g);
/* Add the entries of g (each widened to at least its perm); on failure the
 * ones already added are taken back. */
int dk_access_grant(struct dk_grants *g);
/* Put every entry of g back as it was (prev). Paths that are gone are skipped.
 * keep(path) true: leave that one (another VM still needs it). */
int dk_access_revoke(const struct dk_grants *g, bool (*keep)(const char *path, void *ud), void *ud);
/* "setfacl -m u:64055:x /home/me && setfacl -m u:64055:rw FILE ..." for a message. */
char *dk_access_fix(const struct dk_grants *g);
/* {"uid":N,"entries":[{"path":..,"perm":"x","prev":null|"r-x"}]} and back. */
json_object *dk_grants_to_json(const struct dk_grants *g);
int dk_grants_from_json(json_object *o, struct dk_grants *g);

/* ---- bundles under a libvirt on this machine ---- */
struct dk_bundle;
struct dk_access_result {
	struct dk_ident qemu;   /* who libvirt runs QEMU as */
	bool kvm_ok;            /* that user can open /dev/kvm read/write */
	char kvm_why[160];      /* "/dev/kvm is crw------- root:root" when !kvm_ok */
	size_t granted;         /* ACL entries added now */
};
/* Make sure libvirt's QEMU can reach the bundle's files: search on every
 * directory down to the bundle, read/write on its images and NVRAM. Missing
 * entries are granted (ACL for that one user) and recorded in the manifest
 * under "access" (saved); with no_grant, missing entries above the bundle are
 * an error that gives the setfacl command (the bundle's own files are dkvm's
 * and always granted). Also tells whether that user can open /dev/kvm.
 * Remote URIs: nothing is checked (0, kvm_ok true). Volumes of a libvirt
 * storage pool (create --pool) are libvirt's: never granted on. */
int dk_bundle_access(struct dk_bundle *b, void *conn, bool no_grant, struct dk_access_result *r);
/* Take back the grants recorded in the bundle's manifest, except on paths
 * another VM under the same parent still has recorded. */
int dk_bundle_access_revoke(struct dk_bundle *b);
/* Whether the QEMU user of a connection can open /dev/kvm (local, live). */
bool dk_ident_kvm_ok(const struct dk_ident *id, char *why, size_t n);
