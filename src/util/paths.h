/* Where dkvm reads the host and writes system files.
 *
 * Every read of host state (/proc, /sys, /dev, /etc, /usr/share, /run) goes
 * through dk_host_path(): it prefixes the sysroot (--sysroot / DKVM_SYSROOT,
 * default "/"). Every write of a system file goes through dk_root_path(): it
 * prefixes --root (default "/"). User data (bundles, caches) uses the XDG
 * helpers and is never prefixed.
 */
#pragma once
#include <stddef.h>

void dk_set_sysroot(const char *dir); /* NULL or "" resets to "/" */
void dk_set_root(const char *dir);
const char *dk_sysroot(void);         /* "" when "/" */
const char *dk_root(void);            /* "" when "/" */
int dk_sysroot_is_live(void);         /* 1 when reading the real host */

/* malloc'd "<sysroot><abs>"; abs must start with '/'. Never NULL (aborts on OOM). */
char *dk_host_path(const char *abs);
char *dk_root_path(const char *abs);

/* $XDG_DATA_HOME/dkvm (default ~/.local/share/dkvm), $XDG_CACHE_HOME/dkvm. malloc'd. */
char *dk_data_dir(void);
char *dk_cache_dir(void);

/* A file name is safe when it is non-empty, not "." or "..", has no '/', no
 * control characters and no quotes or backslashes. */
int dk_name_is_safe(const char *name);
