/* vfio-pci binding (the guide's §7.2 "bind at boot", and live binds).
 *
 * The edits of each system file are pure functions, text in and text out
 * (NULL in: the file is absent); they return the input unchanged when what
 * they add is already there, so applying twice changes nothing. The I/O
 * (sysfs writes through the sysroot, system files under --root, the
 * manifest) is in dk_vfio_bind(), dk_vfio_persist_*() and dk_vfio_undo_*(). */
#pragma once
#include <stdbool.h>
#include "host/host.h"
#include "host/pci.h"

#include <json-c/json.h>

/* ---- pure edits ---- */

/* Kernel parameters for vfio at boot on this CPU vendor: "intel_iommu=on"
 * (Intel only; the AMD IOMMU is on by default), "iommu=pt",
 * "vfio-pci.ids=<ids>" (ids: "1002:73ff,1002:ab28"). strv, malloc'd. */
char **dk_vfio_kernel_params(enum dk_cpu_vendor v, const char *ids);
/* A space-separated command line with params merged in: a parameter whose key
 * is present with another value gets our value (vfio-pci.ids: the union of
 * both lists; intel_iommu: kept when its values include "on"), a missing one
 * is appended. The input itself (a copy) when nothing changes. */
char *dk_vfio_cmdline_merge(const char *cmdline, char *const *params);
/* /etc/default/grub: params into GRUB_CMDLINE_LINUX_DEFAULT (else
 * GRUB_CMDLINE_LINUX; else a new GRUB_CMDLINE_LINUX_DEFAULT line); a
 * parameter already satisfied by GRUB_CMDLINE_LINUX is not repeated. */
char *dk_vfio_edit_grub(const char *text, char *const *params);
/* A systemd-boot loader entry: params into its last "options" line (a new
 * one when there is none). */
char *dk_vfio_edit_loader_entry(const char *text, char *const *params);
/* /etc/kernel/cmdline (one line). */
char *dk_vfio_edit_kernel_cmdline(const char *text, char *const *params);
/* /etc/kernelstub/configuration: params into "user"."kernel_options".
 * NULL + dk_fail when the JSON has no such array. */
char *dk_vfio_edit_kernelstub(const char *text, char *const *params);
/* /etc/modprobe.d/dkvm-vfio.conf: "options vfio-pci ids=..." (ids merged
 * with those already there) and "softdep <driver> pre: vfio-pci" per driver. */
char *dk_vfio_edit_modprobe(const char *text, const char *ids, char *const *drivers);
/* /etc/initramfs-tools/modules: the lines vfio, vfio_iommu_type1, vfio_pci. */
char *dk_vfio_edit_initramfs_tools(const char *text);
/* /etc/dracut.conf.d/dkvm-vfio.conf: force_drivers+=" vfio vfio_iommu_type1 vfio_pci ". */
char *dk_vfio_edit_dracut(const char *text);
/* /etc/mkinitcpio.conf: vfio_pci vfio vfio_iommu_type1 first in MODULES=(...). */
char *dk_vfio_edit_mkinitcpio(const char *text);

/* ---- device selection ---- */

/* Resolve the named devices: "0b:00.0" / "0000:0b:00.0", or a slot without a
 * function ("0b:00") for every function of it. Unless force, refuses the boot
 * VGA device, a device in no IOMMU group, and one whose group holds another
 * device that is not a bridge and not named. idx (malloc'd, -1 ended) gets
 * indices into pci->devs. -1 + dk_fail with a one-line reason. */
int dk_vfio_select(const struct dk_pci *pci, char *const *names, bool check_groups, bool force, int **idx);

/* ---- live bind / unbind through the sysroot ---- */

struct dk_vfio_write {
	char *path;  /* the sysfs file (without the sysroot) */
	char *value; /* what was written */
};
struct dk_vfio_dev_result {
	char bdf[16];
	char ids[16];          /* "1002:73ff" */
	char driver_before[64];
	const char *note;      /* "already bound to vfio-pci" etc., or NULL */
	struct dk_vfio_write w[4];
	int nw;
};
struct dk_vfio_result {
	struct dk_vfio_dev_result *dev;
	int n;
};
/* Bind (or with unbind, release) the named devices: driver_override, the
 * current driver's unbind, drivers_probe. Every check is done before the
 * first write; a write error stops (result holds what was done). */
int dk_vfio_bind(const struct dk_pci *pci, char *const *names, bool unbind, bool force, struct dk_vfio_result *out);
void dk_vfio_result_free(struct dk_vfio_result *r);

/* ---- persist / undo under --root ---- */

#define DK_VFIO_MANIFEST "/var/lib/dkvm/vfio-persist.json"

struct dk_vfio_file {
	char *path;  /* absolute, without --root */
	char *old;   /* current content, NULL when absent */
	char *new;   /* planned content, NULL: remove the file */
	char *diff;  /* unified diff old -> new */
	char *backup;/* undo: the backup restored from (without --root); persist: after apply */
	unsigned mode; /* the mode to write it with; 0: the file's own (a new file 0644) */
};
struct dk_vfio_plan {
	struct dk_vfio_file *files; /* only the files that change */
	int n;
	char **params;   /* kernel parameters */
	char *ids;       /* "1002:73ff,1002:ab28" */
	char **drivers;  /* softdep drivers */
	char bootloader[32];
	char initramfs[32]; /* "initramfs-tools", "dracut", "mkinitcpio" */
	char **commands; /* to run afterwards */
};
/* bootloader: "auto" (the host's), "grub", "systemd-boot" or "kernelstub". */
int dk_vfio_persist_plan(const struct dk_host *h, const struct dk_pci *pci, char *const *names, const char *bootloader,
			 bool force, struct dk_vfio_plan *out);
/* Write the plan's files (backups by dk_edit_system_file) and record them in
 * the manifest (the first backup of a file is kept across runs). */
int dk_vfio_persist_apply(struct dk_vfio_plan *p);
/* The restore the manifest under --root describes (error when there is none). */
int dk_vfio_undo_plan(struct dk_vfio_plan *out);
/* Restore, remove created files and the backups, then the manifest. */
int dk_vfio_undo_apply(struct dk_vfio_plan *p);
void dk_vfio_plan_free(struct dk_vfio_plan *p);

/* ---- the boot loader's kernel command line (shared with other write-ups) ---- */

/* Merge out->params into the kernel command line of the boot loader
 * ("auto": the host's; "grub", "systemd-boot", "kernelstub"): the edited
 * files are added to out->files, out->bootloader is set. */
int dk_vfio_plan_bootloader(const struct dk_host *h, const char *bootloader, struct dk_vfio_plan *out);
/* The command that regenerates the boot loader's configuration after an edit
 * ("update-grub"...), NULL when none is needed. */
const char *dk_vfio_bootloader_regen(const struct dk_host *h, const char *bootloader);
/* Whether path is one of the boot loader files dk_vfio_plan_bootloader edits. */
bool dk_vfio_bootloader_file(const char *path);

/* ---- system files with a manifest of backups (vfio persist, tune's host side) ---- */

struct dk_sysfile_set {
	const char *manifest;   /* "/var/lib/dkvm/vfio-persist.json" */
	const char *what;       /* "vfio persist": the manifest's "dkvm" and messages */
	const char *short_name; /* "vfio": "not a dkvm vfio manifest" */
	bool (*allowed)(const char *path); /* the only files it writes and restores */
};
extern const struct dk_sysfile_set dk_vfio_set;
/* Add a file to a plan unless old == new; the diff is made here (takes old and new). */
void dk_sysfile_plan_add(struct dk_vfio_plan *p, const char *abs, char *old, char *new);
/* dk_vfio_persist_apply / dk_vfio_undo_plan / dk_vfio_undo_apply for a set. */
int dk_sysfiles_apply(const struct dk_sysfile_set *set, struct dk_vfio_plan *p);
int dk_sysfiles_undo_plan(const struct dk_sysfile_set *set, struct dk_vfio_plan *out);
int dk_sysfiles_undo_apply(const struct dk_sysfile_set *set, struct dk_vfio_plan *p);

/* The documents `dkvm --json vfio ...` print (see dkvm-vfio(1)): bind/unbind
 * results ({"action","devices"}), and persist/undo plans ({"applied",
 * persist only: "ids","params","drivers","bootloader","initramfs"; "files";
 * persist only: "commands"}). */
json_object *dk_vfio_result_to_json(const struct dk_vfio_result *r, bool unbind);
json_object *dk_vfio_plan_to_json(const struct dk_vfio_plan *p, bool applied, bool undo);
