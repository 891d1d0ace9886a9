/* Error reporting for libdkvm.
 *
 * Library functions that fail return -1 (or NULL) and record one message with
 * dk_fail(). The message reads "<what>: <why>", e.g.
 * "base.dmg: koly trailer: bad magic"; the CLI prints it as "dkvm: <message>".
 * The message is per thread.
 */
#pragma once
#include <stdarg.h>

#define DK_ERRMSG_MAX 1024

/* Record an error message (printf format) and return -1. */
int dk_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like dk_fail() and append ": strerror(errno)". Saves errno. */
int dk_fail_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefix the current message with "<prefix>: " (context from a caller). */
int dk_fail_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *dk_errmsg(void);
void dk_errclear(void);
