/* Parallel, verified, resumable download of one file.
 *
 * The file is split into pieces: the chunks of its chunklist when there is one
 * (each piece's SHA-256 is checked as its bytes arrive, no second pass), else
 * 1 MiB pieces (size checked only). N workers, each with its own libcurl
 * handle, start with one balanced run of consecutive pieces each and fetch it
 * with one ranged GET, writing with pwrite into "<dir>/.<name>.dkvm-part".
 * A worker that runs out of work takes over the second half (whole pieces) of
 * the largest range still in flight, whose owner stops at the new end, so no
 * connection idles while another has more than two pieces to go. A piece that
 * fails its hash, or is cut short by a dropped connection, is re-fetched alone
 * by range (bounded retries, exponential backoff); the others are kept.
 * "<dir>/.<name>.dkvm-state" records the finished pieces, so an interrupted run
 * resumes (finished pieces are re-hashed from disk, not downloaded again).
 * The final path appears only when every piece is complete and verified. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "fetch/chunklist.h"

struct dk_download {
	const char *url;
	const char *cookie;     /* Cookie header value ("AssetToken=..."), or NULL */
	const char *user_agent; /* NULL: dkvm/VERSION */
	bool allow_http;
	const char *path;              /* final path */
	const struct dk_chunklist *cl; /* piece hashes, or NULL */
	uint64_t size;                 /* without cl: expected size, 0 = ask the server */
	int connections;               /* default 4 */
	int max_retries;               /* per piece; default 5 */
	bool resume;                   /* require an interrupted download to resume */
	bool force;                    /* replace an existing final file */
	bool no_verify;                /* (bench) do not hash */
	const char *label;             /* progress label */
	uint64_t reserve;              /* bytes the caller writes beside it afterwards
					  (counted in the up-front free-space check) */
	/* results */
	uint64_t bytes_downloaded; /* body bytes received in this run */
	uint64_t pieces, pieces_resumed, pieces_refetched;
	bool already_complete;     /* final path existed and verified */
};

int dk_download_run(struct dk_download *d);

/* Before any network work: an output directory must be a directory when it
 * exists (it is created later when it does not). */
int dk_fetch_check_outdir(const char *dir);
