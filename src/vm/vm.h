/* VM bundles and their life cycle: create, start, stop, list, show, destroy.
 *
 * A bundle is a directory <parent>/<NAME>/ (parent: $XDG_DATA_HOME/dkvm, or
 * --dir) holding manifest.json (plan + versions + SMBIOS + libvirt binding),
 * OpenCore.img, disk.qcow2, OVMF_VARS.fd, domain.xml, qemu.argv and start.sh;
 * while QEMU runs directly also qmp.sock, qemu.pid, qemu.log, serial.log. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include <plist/plist.h>

#include "vm/plan.h"
#include "vm/render.h"
#include "vm/ppc.h"
#include "util/strv.h"

struct dk_bundle {
	char *parent, *dir, *name;
	char *opencore, *disk, *vars;  /* file paths */
	json_object *manifest;
	struct dk_plan plan;
	char *uri;                     /* libvirt connection, NULL when QEMU runs directly */
	char *pool, *volume;           /* the disk is a libvirt storage volume (else NULL) */
	bool ppc;                      /* manifest "arch": "ppc": ppc_plan rules, plan holds
					  its common fields (vm/ppc.h) */
	struct dk_ppc_plan ppc_plan;
	/* create --pool: the OpenCore image and the NVRAM are volumes of pool too;
	 * their paths as libvirt reports them (else NULL: the bundle's files,
	 * which stay in the bundle as local copies either way). */
	char *vol_opencore, *vol_vars;
	char **volumes;                /* every volume of the VM in pool, disk included (NULL: none) */
};
/* The parent directory: override, else dk_data_dir(). malloc'd. */
char *dk_bundle_parent(const char *override);
/* Fill the file paths of a bundle at dir. */
void dk_bundle_paths(struct dk_bundle *b, const char *parent, const char *name);
int dk_bundle_open(const char *parent, const char *name, struct dk_bundle *b);
void dk_bundle_close(struct dk_bundle *b);
struct dk_vm_files dk_bundle_files(const struct dk_bundle *b);
/* The name of a VM's volume in a pool for a role: "disk" NAME.qcow2,
 * "opencore" NAME-OpenCore.img, "vars" NAME-VARS.fd; NULL for another role. */
char *dk_vm_volume_name(const char *name, const char *role);
/* The files the libvirt domain uses: the volumes where there are, else the bundle's. */
struct dk_vm_files dk_bundle_domain_files(const struct dk_bundle *b);
/* One dkvm command at a time on a VM: create, update, tune, start and destroy
 * take an exclusive flock on <parent>/.NAME.lock (removed by its holder)
 * for their whole run; a second one is refused at once with "NAME: another
 * dkvm command is working on this VM ...". Nested in one process (tune
 * rebuilding the EFI) it is taken once: the inner lock is a no-op. */
struct dk_vm_lock {
	int fd;            /* -1: nested or not held */
	char *path;
};
int dk_vm_lock(const char *parent, const char *name, struct dk_vm_lock *l);
void dk_vm_unlock(struct dk_vm_lock *l);
/* Write b->manifest to <dir>/manifest.json (atomic). */
int dk_bundle_write_manifest(const struct dk_bundle *b);

/* Runtime state: "running", "paused", "stopped" (+ pid / libvirt state). */
struct dk_vm_state {
	char state[32];
	int pid;            /* direct QEMU, 0 if none */
	bool libvirt;
	char detail[256];
};
int dk_vm_state(const struct dk_bundle *b, struct dk_vm_state *s);

/* ---- QMP ---- */
struct dk_qmp {
	int fd;
	char buf[65536];
	size_t len;
};
int dk_qmp_connect(struct dk_qmp *q, const char *sock_path, int timeout_ms);
/* Execute a command (args may be NULL); *ret receives "return" (may be NULL). */
int dk_qmp_exec(struct dk_qmp *q, const char *cmd, json_object *args, json_object **ret, int timeout_ms);
void dk_qmp_close(struct dk_qmp *q);
/* The pid of the process listening on a unix socket (SO_PEERCRED), 0 if none. */
int dk_unix_peer_pid(const char *sock_path);
/* Ask QEMU which features of a CPU model the accelerator cannot provide
 * (query-cpu-definitions on `-machine none -accel A`). NULL-terminated list. */
int dk_qemu_cpu_unavailable(const char *qemu, const char *accel, const char *model, char ***out);

/* ---- start / stop ---- */
struct dk_start_opts {
	enum dk_display display;
	bool display_set;
	enum dk_accel_choice accel;
	int kvm_probe_ms;   /* how long to watch a KVM start for an internal error (default 2500) */
	bool no_grant;      /* libvirt: no ACL grants above the bundle (refuse instead) */
};
struct dk_start_result {
	int pid;
	enum dk_accel accel;
	bool fell_back;     /* KVM could not run the firmware: TCG */
	char display[128];  /* how to reach the display */
};
int dk_vm_start(struct dk_bundle *b, const struct dk_start_opts *o, struct dk_start_result *r);
int dk_vm_stop(struct dk_bundle *b, int timeout_s, bool force, bool *forced);

/* ---- libvirt ---- */
/* Open a connection (errors are one line, no libvirt stderr noise). Returns a
 * virConnectPtr as void* to keep libvirt out of this header. */
void *dk_virt_open(const char *uri);
void dk_virt_close(void *conn);
int dk_virt_caps(void *conn, struct dk_virt_caps *c);
int dk_virt_define(void *conn, const char *xml);
int dk_virt_undefine(void *conn, const char *name); /* absent: 0 */
bool dk_virt_defined(void *conn, const char *name);
/* The UUID of a defined domain; -1 when absent. */
int dk_virt_uuid(void *conn, const char *name, char *out, size_t n);
/* The storage pool exists and is active; else -1, one line. */
int dk_virt_pool_check(void *conn, const char *pool);
/* A new (sparse) volume NAME of bytes, format ("raw", "qcow2") in a storage
 * pool; a volume of that name already there is an error. *path receives its
 * path as libvirt reports it (malloc'd). */
int dk_virt_vol_create(void *conn, const char *pool, const char *name, uint64_t bytes, const char *format,
		       char **path);
/* Fill volume NAME with the contents of the local file src through libvirt's
 * storage API (virStorageVolUpload, streamed in chunks; progress labelled
 * NAME through the reporter): works on a remote libvirt too. */
int dk_virt_vol_upload(void *conn, const char *pool, const char *name, const char *src);
int dk_virt_vol_delete(void *conn, const char *pool, const char *name); /* absent: 0 */

/* ---- destroy, list ---- */
int dk_vm_destroy(struct dk_bundle *b, bool delete_disks);
/* Array of {name, model, macos, state, dir, libvirt} objects. */
int dk_vm_list(const char *parent, json_object **out);
json_object *dk_vm_show_json(const struct dk_bundle *b);
/* The documents `dkvm --json start|stop|destroy` print (see dkvm-vm(1)). */
json_object *dk_vm_start_to_json(const struct dk_bundle *b, const struct dk_start_result *r);
json_object *dk_vm_stop_to_json(const struct dk_bundle *b, bool was_running, bool forced);
json_object *dk_vm_destroy_to_json(const struct dk_bundle *b, bool disks_deleted);
/* `dkvm --json export --proxmox`'s {vmid, config, output (NULL: null), commands}
 * (see dkvm-export(1)); commands NULL-terminated. */
json_object *dk_proxmox_to_json(unsigned long vmid, const char *conf, const char *output, char *const *commands);

/* ---- create ---- */
struct dk_create_opts {
	const char *name;
	const char *parent;        /* NULL: dk_data_dir() */
	struct dk_plan_opts plan;
	const char *opencore;      /* OpenCorePkg release zip or dir; NULL: fetch */
	const char *opencore_image;/* a ready OpenCore disk image to use as is */
	const char *const *drivers;/* extra UEFI driver .efi files (--driver), NULL-terminated, or NULL */
	const char *kexts;         /* --kexts DIR: its *.kext added (replacing fetched ones of that name) */
	const char *const *kext_list; /* --kext .kext folders or kext zips, NULL-terminated, or NULL */
	const char *const *acpi;   /* --acpi SSDT files, or NULL */
	const char *const *kext_pins; /* --kext-version NAME=VER, or NULL */
	const char *const *boot_args; /* --boot-args (opencore.h dk_oc_config_opts.boot_args), or NULL */
	const char *picker;        /* --picker gui|text, NULL: text */
	const char *memory_map;    /* --memory-map: PlatformInfo/Memory from "auto", "dmi" or "guide"; NULL none */
	bool offline;              /* OpenCorePkg and kexts from the cache only */
	const char *recovery;      /* dir with com.apple.recovery.boot; NULL + !no_recovery: fetch */
	bool no_recovery;
	const char *uri;           /* libvirt connection, NULL: bundle only */
	const char *pool;          /* libvirt storage pool (needs uri): the disk, the OpenCore image and
				      the NVRAM are uploaded into it as volumes; NULL: the bundle's files */
	bool dry_run, force, explain;
	bool no_host_check;        /* tests: skip refusing on host check failures */
	int accel;                 /* enum dk_accel_choice (plan.accel is set from it) */
	bool no_grant;             /* libvirt: no ACL grants above the bundle (refuse instead) */
	/* --arch ppc: a PowerPC guest (vm/ppc.h) planned from plan.name/macos/
	 * memory_bytes/disk_bytes and iso; the x86-only options are not used */
	bool ppc;
	const char *iso;           /* install media (CD-ROM), NULL: none */
};
struct dk_create_result {
	struct dk_plan plan;       /* ppc: the common fields of ppc_plan */
	bool ppc;
	struct dk_ppc_plan ppc_plan;
	char *dir;
	bool defined;
	char **warnings;           /* NULL-terminated, in order, also on failure: what the
				      user should hear (the CLI prints each as a warning) */
	json_object *manifest;
	json_object *efi;          /* the guide's EFI set: {"kexts":[{name,repo,reason}],"acpi":[...]} */
};
int dk_vm_create(const struct dk_create_opts *o, struct dk_create_result *r);
/* A VM name: dk_name_is_safe(), and for a new VM no leading '-' or '.' (an
 * option, a hidden bundle); else -1, one line (control characters shown as '?'). */
int dk_vm_name_check(const char *name, bool new_vm);
void dk_create_result_free(struct dk_create_result *r);
/* The document `dkvm --json create` prints (see dkvm-vm(1)). */
json_object *dk_create_to_json(const struct dk_create_opts *o, const struct dk_create_result *r);

/* ---- update: rebuild a bundle's OpenCore EFI (update.c) ----
 *
 * One rebuild for every change of the EFI: a newer (or the same) OpenCorePkg
 * release and kext versions (`dkvm update`), or an edit of config.plist (a
 * callback, e.g. a tune write-up). The guide's kext set is staged again; the
 * bundle's config.plist is migrated through the release's Sample.plist with
 * the recipes applied: the user's value is kept for every key both have
 * (PlatformInfo identity included, byte for byte), keys new in the Sample are
 * added, keys it no longer has are dropped, the EFI lists (ACPI/Add,
 * Kernel/Add, UEFI/Drivers, Misc/Tools) are regenerated for the new set;
 * maps (DeviceProperties, NVRAM) keep the user's entries. Drivers and kexts
 * the user added, and recoveryOS, are carried over from the current image.
 * The new config is validated, the image built beside the bundle and
 * validated, and only then renamed in: the previous image and config stay as
 * OpenCore.img.prev and config.plist.prev; manifest "efi"/"opencore" are
 * rewritten atomically. A running VM is refused; the domain is untouched
 * (same image path). Nothing changes when the result equals what is there. */
typedef int (*dk_efi_edit_fn)(plist_t config, void *ctx); /* -1 + dk_fail: the rebuild stops */
struct dk_efi_rebuild_opts {
	const char *opencore;          /* OpenCorePkg release zip or dir; NULL: fetched (or current) */
	const char *opencore_version;  /* fetch this version; NULL: the latest (or current) */
	bool current;                  /* the bundle's own release and kext versions (no upgrade) */
	const char *const *kext_pins;  /* "Lilu=1.7.1", or NULL */
	const char *mirror;            /* NULL: $DKVM_GITHUB_MIRROR or GitHub */
	bool offline;                  /* the cache only */
	bool dry_run;                  /* compute and report; write nothing in the bundle */
	dk_efi_edit_fn edit;           /* after the migration, before validation; NULL: none */
	void *edit_ctx;
};
struct dk_cfg_change {
	char *path;        /* "Misc/Security/ScanPolicy" */
	const char *kind;  /* "kept" (the user's value, not the new default), "added", "dropped",
			      "regenerated" (an EFI list), "retyped" (the Sample changed its type: new value) */
};
struct dk_kext_change {
	char *name, *old_version, *new_version; /* versions NULL: absent */
};
struct dk_efi_rebuild_result {
	char *old_opencore, *new_opencore;   /* release versions (NULL: unknown) */
	char *release;                       /* the release used (path) */
	struct dk_kext_change *kexts;
	size_t nkexts;
	struct dk_cfg_change *changes;
	size_t nchanges;
	char *diff;                          /* unified diff config.plist -> new ("" equal) */
	bool changed;                        /* anything differs */
	bool applied;                        /* the new image is in place */
	char **warnings;                     /* validator warnings on the new config, NULL-terminated */
};
int dk_vm_efi_rebuild(struct dk_bundle *b, const struct dk_efi_rebuild_opts *o, struct dk_efi_rebuild_result *r);
void dk_efi_rebuild_result_free(struct dk_efi_rebuild_result *r);
/* The document `dkvm --json update` prints (see dkvm-vm(1)). */
json_object *dk_efi_rebuild_to_json(const struct dk_bundle *b, const struct dk_efi_rebuild_result *r, bool dry_run);

/* Run a program (no shell) and wait; output to /dev/null unless capture. */
int dk_run(char *const argv[], char **capture, int timeout_ms);
