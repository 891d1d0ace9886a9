/* Fetching macOS from Apple: recoveryOS over the osrecovery protocol (signed
 * chunklists, parallel verified download) and full installers from the
 * software-update catalog. Library API used by `dkvm fetch` and `dkvm create`. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define DK_OSRECOVERY_URL "http://osrecovery.apple.com"
/* Software-update catalog that lists every release up to Tahoe (macOS 26). */
#define DK_SUCATALOG_URL                                                                                  \
	"https://swscan.apple.com/content/catalogs/others/"                                               \
	"index-26-15-14-13-12-10.16-10.15-10.14-10.13-10.12-10.11-10.10-10.9-mountainlion-lion-snowleopard-" \
	"leopard.merged-1.sucatalog.gz"

struct dk_fetch_recovery_opts {
	const char *macos;    /* release ("sonoma", "14", "Sonoma"); or NULL with board_id */
	const char *board_id; /* overrides the release's board-id */
	const char *mlb;      /* 17 characters; default: the release's, else all zeros */
	const char *os;       /* "default" / "latest"; default: the release's, else "default" */
	const char *outdir;   /* files go to <outdir>/com.apple.recovery.boot/; default "." */
	const char *server;   /* default DK_OSRECOVERY_URL */
	const char *trust_key; /* PEM RSA public key replacing Apple's (mirrors, tests) */
	int connections;      /* default 4 */
	bool resume;          /* require a partial download to continue */
	bool force;           /* replace existing files */
	bool diag;            /* Apple Diagnostics instead of recoveryOS */
	bool no_verify;       /* bench only: skip chunk hashing */
};

struct dk_fetch_recovery_result {
	char *product;        /* AP */
	char *image_url, *chunklist_url;
	char *image_path, *chunklist_path;
	uint64_t image_size, chunks, chunks_resumed, chunks_refetched, bytes_downloaded;
	bool already_complete;
};

/* Download and verify; 0 on success (the two files exist, verified), -1 with
 * dk_errmsg() otherwise (no final image file). r may be NULL. */
int dk_fetch_recovery(const struct dk_fetch_recovery_opts *o, struct dk_fetch_recovery_result *r);
void dk_fetch_recovery_result_free(struct dk_fetch_recovery_result *r);

/* ---- software-update catalog ---- */

struct dk_sw_package {
	char *url;
	uint64_t size;
	char *integrity_url; /* IntegrityDataURL, or NULL */
	uint64_t integrity_size;
};

struct dk_sw_product {
	char *id;        /* "072-12345" */
	char *title;     /* from the distribution, when known */
	char *version;   /* "14.5" */
	char *build;     /* "23F79" */
	char *post_date; /* ISO 8601 UTC */
	char *dist_url;  /* English distribution */
	uint64_t size;   /* sum of package sizes */
	bool beta;
	struct dk_sw_package *pkgs;
	int npkgs;
};

struct dk_catalog {
	struct dk_sw_product *products; /* InstallAssistant products, newest version first */
	int count;
};

/* Fetch (gzip or plain) and parse a catalog, then each product's English
 * distribution for version/build/title. timeout_s bounds every request. */
int dk_catalog_fetch(const char *url, long timeout_s, struct dk_catalog *cat);
/* Parse catalog bytes (gzip'd or not); does not fetch distributions. */
int dk_catalog_parse(const void *data, size_t len, const char *name, struct dk_catalog *cat);
void dk_catalog_free(struct dk_catalog *cat);
/* Product matching "X[.Y[.Z]]" (newest non-beta first, beta if nothing else). */
const struct dk_sw_product *dk_catalog_find(const struct dk_catalog *cat, const char *version);
/* Compare dotted versions numerically. */
int dk_version_cmp(const char *a, const char *b);

struct dk_fetch_installer_opts {
	const char *version;
	const char *catalog; /* default DK_SUCATALOG_URL */
	const char *outdir;  /* default "." ; files go to <outdir>/<version>_<build>/ */
	int connections;
	bool resume, force;
};

struct dk_fetch_installer_pkg {
	char *path;
	uint64_t size;
	const char *verification; /* "chunklist" / "size-only" */
	bool already_complete;
};

struct dk_fetch_installer_result {
	char *dir, *version, *build, *product;
	struct dk_fetch_installer_pkg *pkgs;
	int npkgs;
};

int dk_fetch_installer(const struct dk_fetch_installer_opts *o, struct dk_fetch_installer_result *r);
void dk_fetch_installer_result_free(struct dk_fetch_installer_result *r);

/* The documents `dkvm --json fetch recovery|list|installer` print (see
 * dkvm-fetch(1)). For list: url is the catalog asked (NULL when offline),
 * error why it was unavailable (or NULL); the recovery releases come from
 * dk_macos_table. */
json_object *dk_fetch_recovery_to_json(const struct dk_fetch_recovery_opts *o, const struct dk_fetch_recovery_result *r);
json_object *dk_fetch_list_to_json(const struct dk_catalog *cat, const char *url, bool reachable, const char *error);
json_object *dk_fetch_installer_to_json(const struct dk_fetch_installer_result *r);
