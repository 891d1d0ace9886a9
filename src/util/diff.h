/* A small unified diff (LCS over lines) for showing planned edits. */
#pragma once

/* The unified diff (3 lines of context) turning a into b, headed by
 * "--- label_a" / "+++ label_b"; a or b NULL means an absent file (shown as
 * /dev/null). "" when the texts are equal. Texts over DK_DIFF_MAX_LINES lines
 * are shown as one hunk replacing everything. malloc'd. */
#define DK_DIFF_MAX_LINES 20000
char *dk_udiff(const char *a, const char *b, const char *label_a, const char *label_b);
