#include "t.h"
#include "fetch/chunklist.h"
#include "fetch/fetch.h"
#include "fetch/http.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#include <fcntl.h>
#include <unistd.h>
#include <openssl/evp.h>

static char *apple_cl_path(void)
{
	return t_path(t_shared(), "fixtures/chunklist/BaseSystem.chunklist");
}

TEST(apple_chunklist_parses)
{
	char *p = apple_cl_path();
	struct dk_chunklist cl;
	CHECK(dk_chunklist_load(p, &cl) == 0);
	CHECK_INT(cl.count, 76);
	CHECK_INT(cl.image_size, 789568598);
	CHECK_INT(cl.sig_method, 1);
	CHECK_INT(cl.sig_len, 256);
	CHECK_INT(cl.chunks[0].offset, 0);
	CHECK_INT(cl.chunks[1].offset, cl.chunks[0].size);
	uint64_t sum = 0;
	for (uint64_t i = 0; i < cl.count; i++)
		sum += cl.chunks[i].size;
	CHECK_INT(sum, 789568598);
	dk_chunklist_free(&cl);
	free(p);
}

TEST(apple_chunklist_signature_verifies)
{
	char *p = apple_cl_path();
	struct dk_chunklist cl;
	CHECK(dk_chunklist_load(p, &cl) == 0);
	const char *st = NULL;
	CHECK(dk_chunklist_verify_sig(&cl, p, NULL, false, &st) == 0);
	CHECK_STR(st, "signed");
	dk_chunklist_free(&cl);
	free(p);
}

/* The embedded modulus is the one in the fixture directory. */
TEST(embedded_modulus_matches_fixture)
{
	char *p = t_path(t_shared(), "fixtures/chunklist/apple-chunklist-rsa2048-modulus.hex");
	char *hex;
	size_t n;
	CHECK(dk_read_file(p, &hex, &n, 4096) == 0);
	char mine[513];
	dk_hex(dk_apple_chunklist_modulus, 256, mine);
	CHECK(strncasecmp(dk_strstrip(hex), mine, 512) == 0);
	free(hex);
	free(p);
}

/* Flip one byte at every offset: parsing or verification must fail. */
TEST(every_flipped_byte_fails)
{
	char *p = apple_cl_path();
	char *data;
	size_t n;
	CHECK(dk_read_file(p, &data, &n, 1 << 20) == 0);
	CHECK_INT(n, 3028);
	int accepted = 0;
	for (size_t off = 0; off < n; off++) {
		for (int bit = 0; bit < 8; bit += 7) { /* low and high bit */
			data[off] ^= (char)(1 << bit);
			struct dk_chunklist cl;
			if (dk_chunklist_parse(data, n, "flip", &cl) == 0) {
				if (dk_chunklist_verify_sig(&cl, "flip", NULL, false, NULL) == 0) {
					accepted++;
					fprintf(stderr, "  accepted a flip at offset %zu bit %d\n", off, bit);
				}
				dk_chunklist_free(&cl);
			}
			data[off] ^= (char)(1 << bit);
		}
	}
	CHECK_INT(accepted, 0);
	/* the original still verifies (the loop restored every byte) */
	struct dk_chunklist cl;
	CHECK(dk_chunklist_parse(data, n, "orig", &cl) == 0);
	CHECK(dk_chunklist_verify_sig(&cl, "orig", NULL, false, NULL) == 0);
	dk_chunklist_free(&cl);
	/* truncation and trailing bytes */
	CHECK(dk_chunklist_parse(data, n - 1, "short", &cl) < 0);
	CHECK_CONTAINS(dk_errmsg(), "short");
	char *big = dk_malloc(n + 1);
	memcpy(big, data, n);
	big[n] = 0;
	CHECK(dk_chunklist_parse(big, n + 1, "long", &cl) < 0);
	CHECK(dk_chunklist_parse(data, 10, "tiny", &cl) < 0);
	CHECK_CONTAINS(dk_errmsg(), "truncated header");
	free(big);
	free(data);
	free(p);
}

/* Build a method-2 chunklist for a small image in memory. */
static size_t build_cl(const uint8_t *img, size_t len, uint32_t chunk, uint8_t method, uint8_t *out)
{
	uint64_t count = (len + chunk - 1) / chunk;
	uint8_t *p = out;
	memcpy(p, "CNKL", 4);
	uint32_t hs = 36;
	memcpy(p + 4, &hs, 4);
	p[8] = 1;
	p[9] = 1;
	p[10] = method;
	p[11] = 0;
	uint64_t coff = 36, soff = 36 + 36 * count;
	memcpy(p + 12, &count, 8);
	memcpy(p + 20, &coff, 8);
	memcpy(p + 28, &soff, 8);
	for (uint64_t i = 0; i < count; i++) {
		uint32_t sz = (uint32_t)(len - i * chunk < chunk ? len - i * chunk : chunk);
		memcpy(p + 36 + 36 * i, &sz, 4);
		unsigned int hl = 32;
		EVP_Digest(img + i * chunk, sz, p + 40 + 36 * i, &hl, EVP_sha256(), NULL);
	}
	size_t end = (size_t)soff;
	if (method == 2) {
		unsigned int hl = 32;
		EVP_Digest(out, end, out + end, &hl, EVP_sha256(), NULL);
		end += 32;
	}
	return end;
}

TEST(image_verification_names_bad_chunk)
{
	size_t len = 10000;
	uint8_t *img = dk_malloc(len);
	for (size_t i = 0; i < len; i++)
		img[i] = (uint8_t)(i * 31 + 7);
	uint8_t clb[36 + 36 * 10 + 32];
	size_t cll = build_cl(img, len, 1024, 2, clb);
	struct dk_chunklist cl;
	CHECK(dk_chunklist_parse(clb, cll, "t", &cl) == 0);
	CHECK_INT(cl.count, 10);
	CHECK_INT(cl.image_size, 10000);
	/* digest-only: refused unless unsigned is allowed */
	CHECK(dk_chunklist_verify_sig(&cl, "t", NULL, false, NULL) < 0);
	const char *st;
	CHECK(dk_chunklist_verify_sig(&cl, "t", NULL, true, &st) == 0);
	CHECK_STR(st, "digest");
	char *path = t_path(t_tmpdir(), "img.bin");
	CHECK(dk_write_file_atomic(path, img, len, true, 0644) == 0);
	int64_t bad = -2;
	CHECK(dk_chunklist_verify_image(&cl, path, &bad) == 0);
	CHECK_INT(bad, -1);
	img[5000] ^= 1; /* chunk 4 */
	CHECK(dk_write_file_atomic(path, img, len, true, 0644) == 0);
	CHECK(dk_chunklist_verify_image(&cl, path, &bad) < 0);
	CHECK_INT(bad, 4);
	CHECK_CONTAINS(dk_errmsg(), "chunk 4");
	img[5000] ^= 1;
	CHECK(dk_write_file_atomic(path, img, len - 1, true, 0644) == 0);
	CHECK(dk_chunklist_verify_image(&cl, path, &bad) < 0);
	CHECK_INT(bad, 9);
	CHECK(dk_write_file_atomic(path, img, len, true, 0644) == 0);
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "x", 1) == 1);
	close(fd);
	CHECK(dk_chunklist_verify_image(&cl, path, &bad) < 0);
	CHECK_CONTAINS(dk_errmsg(), "trailing");
	/* a wrong stored digest */
	clb[cll - 1] ^= 1;
	struct dk_chunklist cl2;
	CHECK(dk_chunklist_parse(clb, cll, "t2", &cl2) == 0);
	CHECK(dk_chunklist_verify_sig(&cl2, "t2", NULL, true, NULL) < 0);
	dk_chunklist_free(&cl2);
	dk_chunklist_free(&cl);
	free(path);
	free(img);
}

TEST(every_truncation_fails)
{
	char *p = apple_cl_path();
	char *data;
	size_t n;
	CHECK(dk_read_file(p, &data, &n, 1 << 20) == 0);
	int accepted = 0;
	for (size_t len = 0; len < n; len++) {
		/* a fresh heap copy of exactly len bytes so ASan sees any over-read */
		char *c = dk_malloc(len ? len : 1);
		memcpy(c, data, len);
		struct dk_chunklist cl;
		if (dk_chunklist_parse(c, len, "trunc", &cl) == 0) {
			accepted++;
			dk_chunklist_free(&cl);
		}
		free(c);
	}
	CHECK_INT(accepted, 0);
	free(data);
	free(p);
}

static const char catalog_xml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>Products</key><dict>"
	"<key>001-1</key><dict><key>PostDate</key><date>2024-08-07T17:02:00Z</date>"
	"<key>ExtendedMetaInfo</key><dict><key>InstallAssistantPackageIdentifiers</key><dict>"
	"<key>SharedSupport</key><string>com.apple.pkg.InstallAssistant.macOSSonoma</string></dict></dict>"
	"<key>Packages</key><array><dict><key>Size</key><integer>100</integer><key>URL</key>"
	"<string>https://x/a/InstallAssistant.pkg</string><key>IntegrityDataURL</key>"
	"<string>https://x/a/InstallAssistant.pkg.integrityDataV1</string></dict>"
	"<dict><key>Size</key><integer>5</integer><key>URL</key><string>https://x/a/Info.plist</string></dict></array>"
	"<key>BuildVersion</key><string>23G93</string><key>DisplayVersion</key><string>14.6.1</string></dict>"
	"<key>001-2</key><dict><key>PostDate</key><date>2024-10-01T00:00:00Z</date>"
	"<key>ExtendedMetaInfo</key><dict><key>InstallAssistantPackageIdentifiers</key><dict/></dict>"
	"<key>Packages</key><array><dict><key>Size</key><integer>7</integer><key>URL</key>"
	"<string>https://x/b/InstallAssistant.pkg</string></dict></array>"
	"<key>BuildVersion</key><string>24A5264n</string><key>DisplayVersion</key><string>15.0</string></dict>"
	"<key>001-3</key><dict><key>Packages</key><array><dict><key>URL</key><string>https://x/c.pkg</string>"
	"</dict></array></dict>"
	"</dict></dict></plist>";

TEST(catalog_parse)
{
	struct dk_catalog cat;
	CHECK(dk_catalog_parse(catalog_xml, sizeof catalog_xml - 1, "cat", &cat) == 0);
	CHECK_INT(cat.count, 2);
	if (cat.count == 2) {
		CHECK_STR(cat.products[0].version, "15.0");
		CHECK(cat.products[0].beta);
		CHECK_STR(cat.products[1].id, "001-1");
		CHECK_STR(cat.products[1].build, "23G93");
		CHECK_STR(cat.products[1].post_date, "2024-08-07T17:02:00Z");
		CHECK_INT(cat.products[1].size, 105);
		CHECK_INT(cat.products[1].npkgs, 2);
		CHECK_STR(cat.products[1].pkgs[0].integrity_url, "https://x/a/InstallAssistant.pkg.integrityDataV1");
		CHECK(!cat.products[1].beta);
		/* newest non-beta first; a beta only when nothing else matches */
		CHECK(dk_catalog_find(&cat, "14") == &cat.products[1]);
		CHECK(dk_catalog_find(&cat, "14.6") == &cat.products[1]);
		CHECK(dk_catalog_find(&cat, "14.6.1") == &cat.products[1]);
		CHECK(dk_catalog_find(&cat, "15") == &cat.products[0]);
		CHECK(dk_catalog_find(&cat, "1") == NULL);
		CHECK(dk_catalog_find(&cat, "14.6.2") == NULL);
	}
	dk_catalog_free(&cat);
	CHECK(dk_catalog_parse("garbage", 7, "junk", &cat) < 0);
	CHECK_CONTAINS(dk_errmsg(), "junk");
	CHECK(dk_catalog_parse("\x1f\x8b\x08\x00", 4, "badgz", &cat) < 0);
	CHECK_CONTAINS(dk_errmsg(), "badgz");
	CHECK(dk_catalog_parse("<plist><array/></plist>", 23, "arr", &cat) < 0);
}

TEST(version_cmp)
{
	CHECK(dk_version_cmp("14.6.1", "14.6") > 0);
	CHECK(dk_version_cmp("10.15.7", "11") < 0);
	CHECK(dk_version_cmp("15.1", "15.1") == 0);
	CHECK(dk_version_cmp("26", "15.7") > 0);
}

TEST(url_basename)
{
	char *b = dk_url_basename("http://oscdn.apple.com/content/downloads/x/BaseSystem.dmg?a=b");
	CHECK_STR(b, "BaseSystem.dmg");
	free(b);
	b = dk_url_basename("http://h/");
	CHECK_STR(b, "");
	free(b);
}

int main(void)
{
	RUN(apple_chunklist_parses);
	RUN(apple_chunklist_signature_verifies);
	RUN(embedded_modulus_matches_fixture);
	RUN(every_flipped_byte_fails);
	RUN(image_verification_names_bad_chunk);
	RUN(every_truncation_fails);
	RUN(catalog_parse);
	RUN(version_cmp);
	RUN(url_basename);
	return t_done();
}
