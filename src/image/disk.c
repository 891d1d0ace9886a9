#include "image/disk.h"
#include "util/sigclean.h"
#include "image/gpt.h"
#include "image/qcow2.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1ull << 20)

long long dk_disk_reproducible_time(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	uint64_t v;
	if (s && *s && dk_parse_u64(s, &v) == 0 && v >= 315532800ull && v < 4354819200ull)
		return (long long)v;
	return 946684800; /* 2000-01-01T00:00:00Z */
}

static void derive(const char *what, const char *seed, uint8_t out[16])
{
	uint8_t md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, "dkvm-image\0", 11);
	EVP_DigestUpdate(c, what, strlen(what) + 1);
	EVP_DigestUpdate(c, seed, strlen(seed));
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	memcpy(out, md, 16);
}

static void random_bytes(uint8_t *p, size_t n)
{
	if (dk_random_bytes(p, n) < 0) {
		dk_errclear();
		/* last resort: time and pid based, still unique enough for a GUID */
		for (size_t i = 0; i < n; i++)
			p[i] = (uint8_t)(rand() ^ getpid() ^ time(NULL));
	}
}

int dk_disk_write(struct dk_fat_builder *b, const char *output, const struct dk_disk_opts *o,
		  struct dk_disk_info *info)
{
	const char *label = o->label ? o->label : "OPENCORE";
	uint64_t slack = o->slack ? o->slack : 16 * MiB;
	uint64_t disk;
	if (o->size) {
		disk = (o->size + MiB - 1) / MiB * MiB;
		if (disk < 3 * MiB)
			return dk_fail("%s: image size %" PRIu64 " bytes is too small", output, o->size);
	} else {
		uint64_t fat = dk_fat_auto_size(b, slack);
		if (!fat)
			return dk_fail_prefix("%s", output);
		disk = fat + 2 * MiB;
	}
	uint64_t sectors = disk / DK_GPT_SECTOR;
	uint64_t part_first = MiB / DK_GPT_SECTOR;
	uint64_t part_sectors = (sectors - 34 - part_first) / 2048 * 2048;
	uint64_t part_bytes = part_sectors * DK_GPT_SECTOR;
	struct dk_fat_geometry geo;
	if (dk_fat_geometry(part_bytes, &geo) < 0)
		return dk_fail_prefix("%s", output);
	if (part_first + part_sectors > 0xFFFFFFFFull)
		return dk_fail("%s: image too large", output);

	struct dk_gpt g = {.disk_sectors = sectors};
	memcpy(g.part.type, dk_gpt_type_esp, 16);
	g.part.first_lba = part_first;
	g.part.last_lba = part_first + part_sectors - 1;
	snprintf(g.part.name, sizeof g.part.name, "%s", o->part_name ? o->part_name : "OPENCORE");
	uint8_t rnd[16];
	uint32_t volid;
	if (o->reproducible) {
		struct dk_buf m = {0};
		dk_buf_printf(&m, "%s/%" PRIu64 "\n", label, disk);
		dk_fat_manifest(b, &m);
		dk_buf_append(&m, "", 1);
		_cleanup_free_ char *seed = m.data;
		derive("disk", seed, rnd);
		dk_guid_from_bytes(g.disk_guid, rnd);
		derive("part", seed, rnd);
		dk_guid_from_bytes(g.part.guid, rnd);
		derive("volid", seed, rnd);
		memcpy(&volid, rnd, 4);
	} else {
		random_bytes(rnd, 16);
		dk_guid_from_bytes(g.disk_guid, rnd);
		random_bytes(rnd, 16);
		dk_guid_from_bytes(g.part.guid, rnd);
		random_bytes((uint8_t *)&volid, 4);
	}

	struct dk_atomic out = {.fd = -1};
	if (dk_atomic_open(&out, output, o->force, 0600) < 0)
		return -1;
	/* the atomic temp and the raw temp are both removed on SIGINT/SIGTERM */
	int raw_guard = -1;
	int rawfd = out.fd;
	_cleanup_free_ char *rawtmp = NULL;
	if (o->qcow2) {
		_cleanup_free_ char *d1 = dk_strdup(output);
		rawtmp = dk_asprintf("%s/.dkvm-raw.XXXXXX", dirname(d1));
		rawfd = dk_sigclean_mkstemp(rawtmp, &raw_guard);
		if (rawfd < 0) {
			int e = errno;
			dk_atomic_abort(&out);
			errno = e;
			return dk_fail_errno("%s", rawtmp);
		}
	}
	int r = 0;
	if (ftruncate(rawfd, (off_t)disk) < 0)
		r = dk_fail_errno("%s: set size", output);
	if (r == 0 && dk_gpt_write(rawfd, &g) < 0)
		r = dk_fail_prefix("%s", output);
	struct dk_progress prog;
	if (o->progress)
		dk_progress_start(&prog, "image", dk_fat_file_bytes(b));
	struct dk_fat_write_opts fo = {
		.label = label,
		.volume_id = volid,
		.fixed_time = o->reproducible,
		.when = (time_t)dk_disk_reproducible_time(),
		.hidden_sectors = (uint32_t)part_first,
		.progress = o->progress ? &prog : NULL,
	};
	if (r == 0 && dk_fat_write(b, rawfd, part_first * DK_GPT_SECTOR, part_bytes, &fo) < 0)
		r = dk_fail_prefix("%s", output);
	if (o->progress)
		dk_progress_finish(&prog);
	if (o->qcow2) {
		if (r == 0)
			r = dk_qcow2_from_raw(rawfd, disk, out.fd, output);
		close(rawfd);
		unlink(rawtmp);
		dk_sigclean_del(raw_guard);
	}
	if (r < 0) {
		dk_atomic_abort(&out);
		return -1;
	}
	struct stat st;
	if (fstat(out.fd, &st) < 0)
		st.st_size = 0;
	r = dk_atomic_commit(&out);
	if (r < 0)
		return -1;
	if (info) {
		memset(info, 0, sizeof *info);
		info->disk_bytes = disk;
		info->part_offset = part_first * DK_GPT_SECTOR;
		info->part_bytes = part_bytes;
		info->cluster_size = geo.spc * 512;
		info->clusters = geo.clusters;
		dk_guid_str(g.disk_guid, info->disk_guid);
		dk_guid_str(g.part.guid, info->part_guid);
		info->volume_id = volid;
		info->file_bytes = dk_fat_file_bytes(b);
		info->file_size = st.st_size;
	}
	return 0;
}
