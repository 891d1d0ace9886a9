/* `dkvm host report`: a sanitized tar snapshot of exactly the host files the
 * probes read, usable as a --sysroot. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct dk_report_stats {
	size_t files, links, dirs, placeholders, skipped;
	size_t bytes;
};

/* Probe the host (recording every read), then write the snapshot tar to
 * out_path atomically (refuses an existing file unless force). The tar also
 * holds dkvm-host-check.json: the full check result at the time, live checks
 * included. 0, or -1 + dk_fail. */
int dk_host_report_write(const char *out_path, bool force, struct dk_report_stats *st);
/* Default file name: host-report-<hostname>-<YYYY-MM-DD>.tar (malloc'd). */
char *dk_host_report_default_name(void);
/* Sanitize one file's content for the snapshot (exposed for tests): removes
 * UUIDs, MAC addresses and, per file, lines dkvm does not read. malloc'd. */
char *dk_report_sanitize(const char *abs, const char *data, size_t len, size_t *out_len);
/* Paths never put in a report (serials, machine ids, MACs). */
bool dk_report_path_denied(const char *abs);
