/* Diagnostics: the library's warnings and notes go to the reporter
 * (util/report.h) set by the program; dk_verbosity (-v / -q) and dk_color are
 * the CLI's settings, read by the CLI's reporter and output helpers. */
#pragma once
#include <stdbool.h>

enum dk_verbosity { DK_QUIET = 0, DK_NORMAL = 1, DK_VERBOSE = 2, DK_DEBUG = 3 };

extern int dk_verbosity;
extern bool dk_color;

void dk_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dk_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dk_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
