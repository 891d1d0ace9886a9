/* `dkvm host report`: a sanitized tar snapshot of exactly the host files the
 * probes read, usable as a --sysroot. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "host/host.h"

struct dk_report_stats {
	size_t files, links, dirs, placeholders, skipped;
	size_t bytes;
};

/* Probe the host (recording every read), then write the snapshot tar to
 * out_path atomically (refuses an existing file unless force). The tar also
 * holds dkvm-host-check.json: the full check result at the time, live checks
 * included. 0, or -1 + dk_fail. */
int dk_host_report_write(const char *out_path, bool force, struct dk_report_stats *st);
/* `dkvm --json host report`'s {output, files, symlinks, directories,
 * placeholders, bytes}. */
struct json_object *dk_report_stats_json(const char *path, const struct dk_report_stats *st);
/* Default file name: host-report-<hostname>-<YYYY-MM-DD>.tar (malloc'd). */
char *dk_host_report_default_name(void);
/* What the scrubber removes besides the fixed patterns: literal words (the
 * host name) replaced wherever they appear as a whole word. */
struct dk_scrub {
	char *words[8];
	int n;
};
/* The one scrubbing function applied to every text that goes into a report
 * (file contents and dkvm-host-check.json): values of identifying kernel
 * parameters (root=, resume=, ip=, hostname=, UUID=, cryptdevice=, ...)
 * become "REDACTED"; UUIDs, MAC addresses and IPv4 addresses are zeroed;
 * the words in sc (may be NULL) become "HOSTNAME". malloc'd, NUL-terminated. */
char *dk_report_scrub(const struct dk_scrub *sc, const char *text, size_t len, size_t *out_len);
/* One file's content for the snapshot: per file, only the lines dkvm reads
 * are kept (/etc/default/grub, /etc/group, loader entries), then
 * dk_report_scrub(). malloc'd. */
char *dk_report_sanitize(const struct dk_scrub *sc, const char *abs, const char *data, size_t len, size_t *out_len);
/* The scrub words for this host: its host name (/etc/hostname,
 * /proc/sys/kernel/hostname, the running host's name when live) and the
 * names given by hostname= / ip= on its command lines. */
void dk_report_scrub_init(struct dk_scrub *sc, const struct dk_host *h);
void dk_report_scrub_free(struct dk_scrub *sc);
/* Paths never put in a report (serials, machine ids, MACs). */
bool dk_report_path_denied(const char *abs);
