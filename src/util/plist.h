/* Parsing plists from outside (config.plist, Info.plist, Sample.plist,
 * software-update catalogs) with a bound on their nesting.
 *
 * libplist builds and frees trees recursively, with no depth limit: a
 * document of 100k nested <array>s or a binary plist of 100k nested arrays
 * overflows the stack (SIGSEGV). Every plist given by the user or downloaded
 * is checked here before libplist sees it. */
#pragma once
#include <plist/plist.h>
#include <stddef.h>

/* Containers (array, dict) inside each other, the root included. Far above
 * any real config.plist (about 6), far below a stack overflow. */
#define DK_PLIST_MAX_DEPTH 128

/* Check the nesting of an XML or binary plist without building it (linear
 * time, no recursion): -1 after dk_fail("NAME: plist nested deeper than 128
 * levels"), or, for a binary plist whose object table cannot be followed
 * (references out of range, a container that contains itself),
 * "NAME: not a valid property list (...)". */
int dk_plist_check_depth(const void *data, size_t len, const char *name);

/* dk_plist_check_depth(), then plist_from_memory(). -1 after dk_fail; a
 * document libplist refuses gives "NAME: not a valid property list". The
 * root may be of any type. */
int dk_plist_parse(const void *data, size_t len, const char *name, plist_t *out);
