/* Host area internals: sysroot reads that are recorded, so `host report` can
 * snapshot exactly the files the probes read. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "host/host.h"

enum hrec_kind {
	HREC_FILE = 1, /* content read */
	HREC_LINK,     /* symlink read (readlink), not followed */
	HREC_DIR,      /* directory listed */
	HREC_STAT,     /* existence / mode looked at (placeholder in a report) */
};

struct hrec {
	char *path; /* absolute, as the probe asked for it */
	enum hrec_kind kind;
};

/* Recording on/off; the list accumulates across probes until reset. */
void hrec_start(void);
void hrec_stop(void);
const struct hrec *hrec_list(size_t *n);
void hrec_reset(void);

/* Bounds on one host file read (text files; /proc/cpuinfo may be larger). */
#define HREAD_MAX ((size_t)1 << 20)
#define HREAD_RAW_MAX ((size_t)16 << 20)

/* Read a host file at `path` (named `name` in messages) without ever blocking:
 * opened O_NONBLOCK, fstat'ed, refused unless a regular file, read up to max
 * bytes. 0; -1 + dk_fail for open/read errors (e.g. absent); -2 + dk_fail
 * "<name>: a FIFO, not a regular file" / "<name>: larger than N bytes". */
int dk_host_read_regular(const char *path, const char *name, size_t max, char **data, size_t *len);
/* Files the probes refused (type or size) since the last reset: "<abs>: why". */
void hbad_reset(void);
char *const *hbad_list(size_t *n);
const char *hbad_find(const char *abs);

/* Recorded reads under the sysroot (all through dk_host_read_regular). */
char *hread(const char *abs);                               /* trimmed text or NULL */
char *hreadf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long long hread_llf(long long def, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *hread_raw(const char *abs, size_t *len);              /* untrimmed, NULL if absent */
char *hreadlink_base(const char *abs);                      /* basename of the link target */
/* Sorted entry names (no . and ..); returns count, -1 if the directory is absent. */
int hlist(const char *abs, char ***names);
void hlist_free(char **names, int n);
bool hexists(const char *abs);
int hstat(const char *abs, struct stat *st);                /* stat() under the sysroot */

/* Parse helpers. */
int hex_u32(const char *s, unsigned *out);

/* libvirt's QEMU user and its access to /dev/kvm (qemuuser.c). */
void dk_host_probe_qemu_user(struct dk_host *h);

/* Live probes (live.c). */
void dk_host_probe_live(struct dk_host *h);
void dk_host_probe_qemu_live(struct dk_host *h);
void dk_host_probe_libvirt_live(struct dk_host *h);
void dk_host_probe_disk(struct dk_host *h);
