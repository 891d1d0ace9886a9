/* libFuzzer target for the FAT32/GPT reader (src/image). The input is a list
 * of 4-byte edits (region, offset hi, offset lo, xor) applied to a valid GPT
 * disk with a FAT32 volume built once in memory; the reader then lists and
 * reads everything it can. Edits are undone after each run. Meant for
 * tests/fuzz/ (target name "fat"). */
#include "image/fat32.h"
#include "image/gpt.h"
#include "util/fs.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MiB (1u << 20)
#define DISK (70u * MiB)

static int fd = -1;
static uint64_t regions[5];

static void setup(void)
{
	fd = memfd_create("fuzz-fat", 0);
	if (fd < 0 || ftruncate(fd, DISK) < 0)
		abort();
	struct dk_fat_builder *b = dk_fat_new();
	dk_fat_add_data(b, "EFI/BOOT/BOOTx64.efi", "MZ", 2);
	dk_fat_add_data(b, "EFI/OC/config.plist", "<plist/>", 8);
	static uint8_t big[20000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)i;
	dk_fat_add_data(b, "EFI/OC/Kexts/A long kext name.kext/Contents/Info.plist", big, sizeof big);
	for (int i = 0; i < 20; i++) {
		char p[64];
		snprintf(p, sizeof p, "com.apple.recovery.boot/file number %d.bin", i);
		dk_fat_add_data(b, p, big, 100 * (size_t)i);
	}
	struct dk_gpt g = {.disk_sectors = DISK / 512};
	memcpy(g.part.type, dk_gpt_type_esp, 16);
	g.part.first_lba = 2048;
	g.part.last_lba = 2048 + (DISK - 2 * MiB) / 512 - 1;
	strcpy(g.part.name, "OPENCORE");
	struct dk_fat_write_opts o = {.label = "OPENCORE", .fixed_time = true, .when = 946684800,
				      .hidden_sectors = 2048};
	if (dk_gpt_write(fd, &g) < 0 || dk_fat_write(b, fd, MiB, DISK - 2 * MiB, &o) < 0)
		abort();
	dk_fat_free(b);
	uint8_t bs[512];
	if (dk_pread_all(fd, bs, 512, MiB) < 0)
		abort();
	uint32_t res = bs[14] | bs[15] << 8;
	uint32_t fat = bs[36] | bs[37] << 8 | bs[38] << 16 | (uint32_t)bs[39] << 24;
	regions[0] = 0;                                    /* MBR + GPT header + entries */
	regions[1] = MiB;                                  /* boot sector, FSInfo */
	regions[2] = MiB + (uint64_t)res * 512;            /* FAT 1 */
	regions[3] = MiB + (uint64_t)(res + 2 * fat) * 512; /* root dir and the other dirs */
	regions[4] = DISK - 33 * 512;                      /* backup GPT */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fd < 0)
		setup();
	size_t n = size / 4;
	if (n > 256)
		n = 256;
	uint64_t offs[256];
	uint8_t orig[256];
	for (size_t i = 0; i < n; i++) {
		const uint8_t *r = data + 4 * i;
		offs[i] = regions[r[0] % 5] + ((uint32_t)r[1] << 8 | r[2]) % 16896;
		if (offs[i] >= DISK)
			offs[i] = DISK - 1;
		dk_pread_all(fd, &orig[i], 1, offs[i]);
		uint8_t v = orig[i] ^ r[3];
		dk_pwrite_all(fd, &v, 1, offs[i]);
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct dk_fat_vol *v;
	if (dk_fat_open(path, &v) == 0) {
		static const char *const dirs[] = {"", "EFI", "EFI/OC", "EFI/OC/Kexts/A long kext name.kext/Contents",
						   "com.apple.recovery.boot"};
		for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
			struct dk_fat_dirent *e;
			size_t ne;
			if (dk_fat_list(v, dirs[d], &e, &ne) == 0) {
				for (size_t k = 0; k < ne && k < 32; k++) {
					if (e[k].is_dir)
						continue;
					char *p = malloc(strlen(dirs[d]) + strlen(e[k].name) + 2);
					sprintf(p, "%s/%s", dirs[d], e[k].name);
					char *buf;
					size_t len;
					if (dk_fat_read(v, p, &buf, &len, 1 << 20) == 0)
						free(buf);
					free(p);
				}
				dk_fat_dirents_free(e, ne);
			}
		}
		dk_fat_close(v);
	}
	for (size_t i = n; i-- > 0;)
		dk_pwrite_all(fd, &orig[i], 1, offs[i]);
	return 0;
}
