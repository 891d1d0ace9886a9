/* Parallel decode of a UDIF image: one reader (this thread) reads the stored
 * chunks in disk order into a bounded ring, N workers decode them, one writer
 * writes them in order (holes for zero runs) and folds the per-chunk CRCs into
 * the per-table checksums. Memory is bounded by the ring and a byte budget,
 * independent of the image size. */
#include "dmg/dmg.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define RAW_PIECE (1u << 20)
#define IO_PIECE (1u << 20)
#define HOLE_BLOCK (64u << 10)
#define KEEP_BUF (4u << 20)
#define KICK_BYTES (32u << 20)

enum { J_FREE, J_READ, J_DECODING, J_DONE };

struct job {
	int state;
	const struct dmg_chunk *c;
	uint32_t type;
	uint64_t out_off;
	size_t out_len;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_cap;
	const uint8_t *data; /* decoded bytes: out, or in for raw chunks */
	size_t cost;
	uint32_t crc;
};

struct engine {
	struct dmg_image *img;
	const struct dmg_convert_opts *o;
	bool verify;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *ring;
	size_t q;
	uint64_t next_read, next_decode, next_write;
	bool reader_done;
	bool failed;
	char err[DK_ERRMSG_MAX];
	size_t inflight, budget;
	int out_fd;
	uint32_t *crc_incl, *crc_excl; /* per blkx: with / without zero-fill runs */
	uint64_t written, read_bytes;
	uint64_t kick_from; /* start of the output range not yet handed to writeback */
	struct dk_progress prog;
	bool progress;
};

static void set_failed(struct engine *e, const char *msg)
{
	pthread_mutex_lock(&e->mu);
	if (!e->failed) {
		e->failed = true;
		snprintf(e->err, sizeof e->err, "%s", msg);
	}
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

static void chunk_fail(struct engine *e, const struct dmg_chunk *c)
{
	char msg[DK_ERRMSG_MAX];
	const struct dmg_blkx *b = &e->img->blkx[c->blkx];
	snprintf(msg, sizeof msg, "%s: blkx %" PRIu32 " (%s): %s chunk at sector %" PRIu64 ": %s", e->img->path,
		 c->blkx, b->name, dmg_chunk_type_name(c->type), c->sector, dk_errmsg());
	set_failed(e, msg);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	if (n == 0)
		return true;
	if (p[0])
		return false;
	/* compare in steps that stay cache friendly */
	while (n >= 16) {
		uint64_t a, b;
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		if (a | b)
			return false;
		p += 16;
		n -= 16;
	}
	while (n--)
		if (*p++)
			return false;
	return true;
}

static void *worker(void *arg)
{
	struct engine *e = arg;
	struct dmg_codec *codec = dmg_codec_new();
	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!e->failed && e->next_decode >= e->next_read && !e->reader_done)
			pthread_cond_wait(&e->cv, &e->mu);
		if (e->failed || e->next_decode >= e->next_read)
			break;
		struct job *j = &e->ring[e->next_decode % e->q];
		e->next_decode++;
		j->state = J_DECODING;
		pthread_mutex_unlock(&e->mu);

		int rc = 0;
		j->data = NULL;
		if (j->type == DMG_CHUNK_RAW) {
			j->data = j->in;
		} else if (j->type != DMG_CHUNK_ZERO && j->type != DMG_CHUNK_IGNORE) {
			if (j->out_cap < j->out_len) {
				free(j->out);
				j->out = dk_malloc(j->out_len);
				j->out_cap = j->out_len;
			}
			rc = dmg_decode_chunk(codec, j->type, j->in, j->in_len, j->out, j->out_len);
			j->data = j->out;
		}
		if (rc < 0) {
			chunk_fail(e, j->c);
			pthread_mutex_lock(&e->mu);
			break;
		}
		if (e->verify && j->data)
			j->crc = (uint32_t)libdeflate_crc32(0, j->data, j->out_len);

		pthread_mutex_lock(&e->mu);
		j->state = J_DONE;
		pthread_cond_broadcast(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	dmg_codec_free(codec);
	return NULL;
}

/* CRC-32 of crc's message followed by n zero bytes, in O(log n) (a zero
 * run may describe terabytes). */
static uint32_t crc_zeros(uint32_t crc, uint64_t n)
{
	static const uint8_t zero;
	uint32_t run = 0;                                         /* CRC of the zeros so far */
	uint32_t block = (uint32_t)libdeflate_crc32(0, &zero, 1); /* CRC of 2^i zeros */
	for (uint64_t bit = 1; bit && bit <= n; bit <<= 1) {
		if (n & bit) {
			run = (uint32_t)crc32_combine(run, block, (z_off_t)bit);
		}
		block = (uint32_t)crc32_combine(block, block, (z_off_t)bit);
	}
	return (uint32_t)crc32_combine(crc, run, (z_off_t)n);
}

static int write_job(struct engine *e, struct job *j)
{
	if (e->verify) {
		uint32_t b = j->c->blkx;
		if (j->type == DMG_CHUNK_ZERO) {
			e->crc_incl[b] = crc_zeros(e->crc_incl[b], j->out_len);
		} else if (j->type != DMG_CHUNK_IGNORE) {
			e->crc_incl[b] = (uint32_t)crc32_combine(e->crc_incl[b], j->crc, (z_off_t)j->out_len);
			e->crc_excl[b] = (uint32_t)crc32_combine(e->crc_excl[b], j->crc, (z_off_t)j->out_len);
		}
	}
	if (e->out_fd < 0 || j->type == DMG_CHUNK_ZERO || j->type == DMG_CHUNK_IGNORE)
		return 0;
	/* write the non-zero stretches; all-zero blocks stay holes */
	size_t pos = 0, run = 0, run_start = 0;
	while (pos < j->out_len) {
		size_t n = j->out_len - pos < HOLE_BLOCK ? j->out_len - pos : HOLE_BLOCK;
		bool z = all_zero(j->data + pos, n);
		if (!z) {
			if (!run)
				run_start = pos;
			run += n;
		}
		pos += n;
		if ((z || pos == j->out_len) && run) {
			if (dk_pwrite_all(e->out_fd, j->data + run_start, run, (off_t)(j->out_off + run_start)) < 0)
				return -1;
			e->written += run;
			run = 0;
		}
	}
	return 0;
}

static void *writer(void *arg)
{
	struct engine *e = arg;
	pthread_mutex_lock(&e->mu);
	for (;;) {
		struct job *j = &e->ring[e->next_write % e->q];
		while (!e->failed && !(e->next_write < e->next_read && j->state == J_DONE) &&
		       !(e->reader_done && e->next_write >= e->next_read))
			pthread_cond_wait(&e->cv, &e->mu);
		if (e->failed || e->next_write >= e->next_read)
			break;
		pthread_mutex_unlock(&e->mu);
		int rc = write_job(e, j);
		if (rc < 0) {
			char msg[DK_ERRMSG_MAX];
			snprintf(msg, sizeof msg, "%s: writing output: %s", e->img->path, dk_errmsg());
			set_failed(e, msg);
			pthread_mutex_lock(&e->mu);
			break;
		}
		if (e->progress)
			dk_progress_add(&e->prog, j->out_len);
		/* start writeback early so the final fsync has little left to do */
		if (e->out_fd >= 0 && j->out_off + j->out_len - e->kick_from >= KICK_BYTES) {
			sync_file_range(e->out_fd, (off_t)e->kick_from, (off_t)(j->out_off + j->out_len - e->kick_from),
					SYNC_FILE_RANGE_WRITE);
			e->kick_from = j->out_off + j->out_len;
		}
		if (j->in_cap > KEEP_BUF) {
			free(j->in);
			j->in = NULL;
			j->in_cap = 0;
		}
		if (j->out_cap > KEEP_BUF) {
			free(j->out);
			j->out = NULL;
			j->out_cap = 0;
		}
		pthread_mutex_lock(&e->mu);
		e->inflight -= j->cost;
		j->state = J_FREE;
		e->next_write++;
		pthread_cond_broadcast(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* ---- reader side ---- */

struct dfcrc {
	bool on, inc;
	uint64_t pos, end;
	uint32_t crc;
	uint8_t *scratch;
};

static int df_span(struct engine *e, struct dfcrc *d, uint64_t from, uint64_t to)
{
	while (from < to) {
		size_t n = to - from > IO_PIECE ? IO_PIECE : (size_t)(to - from);
		if (dk_pread_all(e->img->fd, d->scratch, n, (off_t)from) < 0)
			return dk_fail_prefix("%s: data fork", e->img->path);
		d->crc = (uint32_t)libdeflate_crc32(d->crc, d->scratch, n);
		from += n;
	}
	return 0;
}

/* Account for stored bytes [off, off+len) just read into buf. */
static int df_feed(struct engine *e, struct dfcrc *d, uint64_t off, const uint8_t *buf, size_t len)
{
	if (!d->on || !d->inc || len == 0)
		return 0;
	if (off < d->pos) {
		d->inc = false; /* out of order: a separate pass at the end */
		return 0;
	}
	if (off > d->pos && df_span(e, d, d->pos, off) < 0)
		return -1;
	d->crc = (uint32_t)libdeflate_crc32(d->crc, buf, len);
	d->pos = off + len;
	return 0;
}

/* Wait for a free slot with room in the budget; returns the job or NULL on failure. */
static struct job *claim(struct engine *e, size_t cost)
{
	pthread_mutex_lock(&e->mu);
	struct job *j = &e->ring[e->next_read % e->q];
	while (!e->failed && (j->state != J_FREE || (e->inflight > 0 && e->inflight + cost > e->budget)))
		pthread_cond_wait(&e->cv, &e->mu);
	if (e->failed) {
		pthread_mutex_unlock(&e->mu);
		return NULL;
	}
	e->inflight += cost;
	pthread_mutex_unlock(&e->mu);
	j->cost = cost;
	return j;
}

static void publish(struct engine *e, struct job *j)
{
	pthread_mutex_lock(&e->mu);
	j->state = J_READ;
	e->next_read++;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

static int read_job(struct engine *e, struct job *j, uint64_t off, size_t len)
{
	if (j->in_cap < len) {
		free(j->in);
		j->in = dk_malloc(len);
		j->in_cap = len;
	}
	j->in_len = len;
	if (dk_pread_all(e->img->fd, j->in, len, (off_t)off) < 0)
		return dk_fail_prefix("%s", e->img->path);
	e->read_bytes += len;
	return 0;
}

/* Claim a job for chunk c with the given budget cost and output range. */
static struct job *claim_chunk(struct engine *e, const struct dmg_chunk *c, size_t cost, uint64_t out_off,
			       size_t out_len)
{
	struct job *j = claim(e, cost);
	if (!j)
		return NULL;
	j->c = c;
	j->type = c->type;
	j->out_off = out_off;
	j->out_len = out_len;
	return j;
}

/* Read len stored bytes at off into j, feed them to the CRC of the file, and publish j. */
static int read_publish(struct engine *e, struct dfcrc *d, struct job *j, uint64_t off, size_t len)
{
	if (read_job(e, j, off, len) < 0 || df_feed(e, d, off, j->in, len) < 0) {
		set_failed(e, dk_errmsg());
		return -1;
	}
	publish(e, j);
	return 0;
}

static int reader(struct engine *e, size_t c0, size_t c1, uint64_t base_sector, struct dfcrc *d)
{
	for (size_t ci = c0; ci < c1; ci++) {
		const struct dmg_chunk *c = &e->img->chunks[ci];
		uint64_t out_off = (c->sector - base_sector) * DMG_SECTOR;
		uint64_t total = c->nsect * DMG_SECTOR;
		if (c->type == DMG_CHUNK_RAW) {
			for (uint64_t done = 0; done < total; done += RAW_PIECE) {
				size_t n = total - done > RAW_PIECE ? RAW_PIECE : (size_t)(total - done);
				struct job *j = claim_chunk(e, c, n, out_off + done, n);
				if (!j || read_publish(e, d, j, c->off + done, n) < 0)
					return -1;
			}
		} else if (c->type == DMG_CHUNK_ZERO || c->type == DMG_CHUNK_IGNORE) {
			struct job *j = claim_chunk(e, c, 0, out_off, total);
			if (!j)
				return -1;
			j->in_len = 0;
			publish(e, j);
		} else {
			struct job *j = claim_chunk(e, c, c->len + total, out_off, total);
			if (!j || read_publish(e, d, j, c->off, c->len) < 0)
				return -1;
		}
	}
	return 0;
}

static void add_check(struct dmg_report *r, const char *what, uint32_t type, enum dmg_check_state st,
		      uint32_t expected, uint32_t actual, const char *note)
{
	r->checks = dk_realloc(r->checks, (r->nchecks + 1) * sizeof *r->checks);
	r->checks[r->nchecks++] = (struct dmg_check){
		.what = dk_strdup(what), .state = st, .type = type,
		.expected = expected, .actual = actual, .note = note ? dk_strdup(note) : NULL,
	};
}

static void check_one(struct dmg_report *r, const char *what, const struct dmg_checksum *ck, bool computed,
		      uint32_t a1, uint32_t a2, bool verify)
{
	if (ck->type == DMG_CKSUM_NONE) {
		add_check(r, what, ck->type, DMG_CHECK_ABSENT, 0, 0, "no checksum stored");
		return;
	}
	if (ck->type != DMG_CKSUM_CRC32 || ck->bits != 32) {
		_cleanup_free_ char *n = dk_asprintf("unsupported checksum type %" PRIu32 " (%" PRIu32 " bits)", ck->type, ck->bits);
		add_check(r, what, ck->type, DMG_CHECK_SKIPPED, 0, 0, n);
		return;
	}
	if (!verify || !computed) {
		add_check(r, what, ck->type, DMG_CHECK_SKIPPED, dmg_cksum_crc32(ck), 0,
			  !verify ? "not verified (--no-verify)" : "not decoded");
		return;
	}
	uint32_t want = dmg_cksum_crc32(ck);
	bool ok = want == a1 || want == a2;
	add_check(r, what, ck->type, ok ? DMG_CHECK_OK : DMG_CHECK_FAILED, want, want == a2 ? a2 : a1, NULL);
}

void dmg_report_free(struct dmg_report *r)
{
	for (size_t i = 0; i < r->nchecks; i++) {
		free(r->checks[i].what);
		free(r->checks[i].note);
	}
	free(r->checks);
	memset(r, 0, sizeof *r);
}

bool dmg_report_failed(const struct dmg_report *r)
{
	for (size_t i = 0; i < r->nchecks; i++)
		if (r->checks[i].state == DMG_CHECK_FAILED)
			return true;
	return false;
}

/* What to decode: a chunk range, its first sector and the output size. */
struct span {
	size_t c0, c1;
	uint64_t base, out_size;
};

static int pick_span(const struct dmg_image *img, long partition, struct span *s)
{
	*s = (struct span){.c1 = img->nchunks, .out_size = img->sector_count * DMG_SECTOR};
	if (partition < 0)
		return 0;
	if ((size_t)partition >= img->nblkx)
		return dk_fail("%s: no partition %ld (the image has %zu blkx tables, 0..%zu)", img->path, partition,
			       img->nblkx, img->nblkx - 1);
	const struct dmg_blkx *b = &img->blkx[partition];
	s->c0 = b->first_chunk;
	s->c1 = b->first_chunk + b->nchunks;
	s->base = b->first_sector;
	s->out_size = b->nsect * DMG_SECTOR;
	return 0;
}

static int thread_count(int want)
{
	int n = want > 0 ? want : (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : n;
}

static void engine_init(struct engine *e, struct dmg_image *img, const struct dmg_convert_opts *o, int nthreads)
{
	*e = (struct engine){.img = img, .o = o, .verify = o->verify, .out_fd = -1, .progress = o->progress};
	/* a few chunks per thread, capped so cached buffers stay within the budget */
	e->q = (size_t)nthreads * 2 + 4;
	if (e->q > 16)
		e->q = 16;
	e->ring = dk_calloc(e->q, sizeof *e->ring);
	e->budget = o->mem_budget ? o->mem_budget : (size_t)24 << 20;
	e->crc_incl = dk_calloc(img->nblkx, sizeof *e->crc_incl);
	e->crc_excl = dk_calloc(img->nblkx, sizeof *e->crc_excl);
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
}

static void engine_free(struct engine *e)
{
	for (size_t i = 0; i < e->q; i++) {
		free(e->ring[i].in);
		free(e->ring[i].out);
	}
	free(e->ring);
	free(e->crc_incl);
	free(e->crc_excl);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
}

/* OUT, as a temporary file beside it (removed on SIGINT/SIGTERM too), of its final size. */
static int open_output(struct engine *e, const char *out, bool force, uint64_t size, struct dk_atomic *at)
{
	struct stat ost, ist;
	if (stat(out, &ost) == 0 && fstat(e->img->fd, &ist) == 0 && ost.st_dev == ist.st_dev &&
	    ost.st_ino == ist.st_ino)
		return dk_fail("%s: is the image being converted; write the raw image elsewhere", out);
	if (dk_atomic_open(at, out, force, 0644) < 0)
		return -1;
	e->out_fd = at->fd;
	if (ftruncate(e->out_fd, (off_t)size) < 0) {
		dk_fail_errno("%s: cannot size output to %" PRIu64 " bytes", out, size);
		dk_atomic_abort(at);
		return -1;
	}
	return 0;
}

/* Start the workers and the writer, read on this thread, then join them. When
 * a thread cannot be started, the engine fails with that one error and the
 * threads already started stop and are joined. */
static void run_threads(struct engine *e, int nthreads, const struct span *s, struct dfcrc *d)
{
	pthread_t *th = dk_calloc((size_t)nthreads + 1, sizeof *th);
	int started = 0, err = 0;
	for (; started <= nthreads; started++) {
		err = pthread_create(&th[started], NULL, started < nthreads ? worker : writer, e);
		if (err)
			break;
	}
	if (err) {
		errno = err;
		dk_fail_errno("%s: cannot start a decoder thread", e->img->path);
		set_failed(e, dk_errmsg());
	} else {
		reader(e, s->c0, s->c1, s->base, d); /* a failure is in e->failed */
	}
	pthread_mutex_lock(&e->mu);
	e->reader_done = true;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
}

/* The data fork CRC: finish the incremental pass, or read the fork again. */
static int finish_data_crc(struct engine *e, struct dfcrc *d)
{
	if (!d->on)
		return 0;
	if (d->inc)
		return df_span(e, d, d->pos, d->end);
	d->crc = 0;
	return df_span(e, d, e->img->data_fork_offset, d->end);
}

static void fill_report(const struct engine *e, const struct span *s, const struct dfcrc *d, int nthreads,
			struct dmg_report *rep)
{
	const struct dmg_image *img = e->img;
	rep->threads = nthreads;
	rep->bytes_out = s->out_size;
	rep->bytes_written = e->written;
	rep->bytes_read = e->read_bytes;
	check_one(rep, "data fork", &img->data_cksum, true, d->crc, d->crc, e->verify);
	for (size_t i = 0; i < img->nblkx; i++) {
		const struct dmg_blkx *b = &img->blkx[i];
		_cleanup_free_ char *what = dk_asprintf("blkx %zu (%s)", i, b->name);
		bool decoded = e->o->partition < 0 || (size_t)e->o->partition == i;
		check_one(rep, what, &b->cksum, decoded, e->crc_incl[i], e->crc_excl[i], e->verify);
	}
	/* master: CRC32 over the tables' CRC32 values, big-endian, in order */
	uint32_t m = 0;
	for (size_t i = 0; i < img->nblkx; i++)
		m = (uint32_t)libdeflate_crc32(m, img->blkx[i].cksum.data, 4);
	check_one(rep, "master", &img->master_cksum, true, m, m, e->verify);
}

/* One error naming every failed check. */
static int mismatch_error(const struct dmg_image *img, const struct dmg_report *rep)
{
	struct dk_buf msg = {0};
	for (size_t i = 0; i < rep->nchecks; i++) {
		const struct dmg_check *c = &rep->checks[i];
		if (c->state != DMG_CHECK_FAILED)
			continue;
		dk_buf_printf(&msg, "%s%s CRC32 is 0x%08" PRIx32 ", expected 0x%08" PRIx32, msg.len ? "; " : "",
			      c->what, c->actual, c->expected);
	}
	dk_fail("%s: checksum mismatch: %s", img->path, msg.data);
	dk_buf_free(&msg);
	return -1;
}

/* Rename the finished output into place, or remove it when rc < 0. */
static int finish_output(struct engine *e, struct dk_atomic *at, const char *out, uint64_t size, int rc)
{
	if (rc == 0 && ftruncate(e->out_fd, (off_t)size) < 0)
		rc = dk_fail_errno("%s: cannot size output", out);
	if (rc == 0 && dk_atomic_commit(at) < 0)
		rc = -1;
	else if (rc < 0)
		dk_atomic_abort(at);
	return rc;
}

int dmg_run(struct dmg_image *img, const struct dmg_convert_opts *o, struct dmg_report *rep)
{
	memset(rep, 0, sizeof *rep);
	double t0 = dk_now();
	struct span s;
	if (pick_span(img, o->partition, &s) < 0)
		return -1;
	int nthreads = thread_count(o->threads);
	struct engine e;
	engine_init(&e, img, o, nthreads);
	struct dk_atomic at = {.fd = -1};
	if (o->out && open_output(&e, o->out, o->force, s.out_size, &at) < 0) {
		engine_free(&e);
		return -1;
	}
	struct dfcrc d = {
		.on = e.verify && img->data_cksum.type == DMG_CKSUM_CRC32,
		.inc = true,
		.pos = img->data_fork_offset,
		.end = img->data_fork_offset + img->data_fork_length,
	};
	if (d.on)
		d.scratch = dk_malloc(IO_PIECE);

	if (e.progress)
		dk_progress_start(&e.prog, o->out ? "converting" : "verifying", s.out_size);
	run_threads(&e, nthreads, &s, &d);
	if (e.progress)
		dk_progress_finish(&e.prog);

	int rc = e.failed ? dk_fail("%s", e.err) : finish_data_crc(&e, &d);
	if (rc == 0) {
		fill_report(&e, &s, &d, nthreads, rep);
		if (o->out && e.verify && dmg_report_failed(rep))
			rc = mismatch_error(img, rep);
	}
	if (o->out)
		rc = finish_output(&e, &at, o->out, s.out_size, rc);
	rep->seconds = dk_now() - t0;
	free(d.scratch);
	engine_free(&e);
	if (rc < 0)
		dmg_report_free(rep);
	return rc;
}
