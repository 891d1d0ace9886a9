#include "util/paths.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char sysroot[4096];
static char rootdir[4096];

static void set_prefix(char *dst, size_t n, const char *dir)
{
	if (!dir || !*dir || strcmp(dir, "/") == 0) {
		dst[0] = '\0';
		return;
	}
	snprintf(dst, n, "%s", dir);
	size_t l = strlen(dst);
	while (l > 1 && dst[l - 1] == '/')
		dst[--l] = '\0';
}

void dk_set_sysroot(const char *dir) { set_prefix(sysroot, sizeof sysroot, dir); }
void dk_set_root(const char *dir) { set_prefix(rootdir, sizeof rootdir, dir); }
const char *dk_sysroot(void) { return sysroot; }
const char *dk_root(void) { return rootdir; }
int dk_sysroot_is_live(void) { return sysroot[0] == '\0'; }

char *dk_host_path(const char *abs) { return dk_strjoin(sysroot, abs); }
char *dk_root_path(const char *abs) { return dk_strjoin(rootdir, abs); }

static char *xdg_dir(const char *var, const char *fallback)
{
	const char *v = getenv(var);
	if (v && v[0] == '/')
		return dk_strjoin(v, "/dkvm");
	const char *home = getenv("HOME");
	if (!home || !*home)
		home = "/tmp";
	char *base = dk_strjoin(home, fallback);
	char *r = dk_strjoin(base, "/dkvm");
	free(base);
	return r;
}

char *dk_data_dir(void) { return xdg_dir("XDG_DATA_HOME", "/.local/share"); }
char *dk_cache_dir(void) { return xdg_dir("XDG_CACHE_HOME", "/.cache"); }

int dk_name_is_safe(const char *name)
{
	if (!name || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	if (strlen(name) > 200)
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\' || *p == '"' || *p == '\'' ||
		    *p == '`' || *p == '$')
			return 0;
	return 1;
}
