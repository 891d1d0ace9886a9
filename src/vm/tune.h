/* dkvm tune: the guide's write-ups (§8) as edits of an existing VM.
 *
 * One framework for every write-up: a table of write-ups (name, options,
 * apply(plan, ctx, args)), each an edit of the stored plan; the bundle's
 * domain.xml and qemu.argv are re-rendered from the edited plan, and the
 * libvirt domain is redefined from the new XML when the bundle is defined in
 * libvirt. The OpenCore-side write-ups and the passthrough ones (gpu,
 * usb-controller, audio) also rebuild the EFI for the edited plan
 * (dk_vm_efi_rebuild). The previous version (manifest.json, domain.xml,
 * qemu.argv, and then OpenCore.img and config.plist) is kept byte-exact in
 * <bundle>/.tune/<n>/ and `undo` restores it. Files edited
 * by hand since dkvm wrote them (SHA-256 in the manifest's "files") are never
 * overwritten without force. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "vm/plan.h"
#include "vm/render.h"
#include "tune/vfio.h"
#include <plist/plist.h>

struct dk_tune_ctx {
	const struct dk_host *host;   /* topology for pinning */
	const struct dk_facts *facts; /* every fact (PCI devices and IOMMU groups for passthrough) */
	bool force;                   /* --force: pass devices the checks refuse */
	bool libvirt;                 /* the VM is defined in libvirt (hooks rather than dkvm start) */
};

/* A write-up's arguments: the generic ones and its own operands. */
struct dk_tune_args {
	bool off;                     /* undo the write-up's effect (turn the lever off) */
	int cpus;                     /* fake-cores: vCPUs enabled at boot */
	char **pos;                   /* the write-up's operands (e.g. a PCI address), NULL-terminated or NULL */
	bool reserve;                 /* hugepages: the host reservation (system files) too */
	bool gig;                     /* hugepages --size 1G: 1 GiB pages (kernel command line) */
	const char *bootloader;       /* hugepages --size 1G, pin --isolate: "auto" (NULL), grub, systemd-boot, kernelstub */
	bool isolate;                 /* pin --isolate: isolcpus/nohz_full/rcu_nocbs for the pinned CPUs (system files) */
	const char *toggle;           /* evdev: the grab toggle (NULL: ctrl-ctrl) */
	const char *devices[DK_PLAN_MAX_EVDEV]; /* evdev --device PATH: instead of the by-id keyboard/mouse */
	int n_devices;
	const char *uplink;           /* bridge: the interface to bridge (NULL: the default route's) */
	bool nm;                      /* bridge: NetworkManager keyfiles instead of systemd-networkd */
	const char *from;             /* memory-map: "auto" (NULL), "dmi" or "guide" */
	const char *edid;             /* display-override: an EDID file */
	const char *connector;        /* display-override: a DRM connector (/sys/class/drm/NAME/edid) */
};
struct dk_cfgedit;
struct dk_tune_result;

struct dk_writeup {
	const char *name;             /* "pin" */
	const char *options;          /* its options for --help ("[--off]") */
	const char *summary;
	bool next_start_only;         /* may be applied while the VM runs: takes effect at its next start */
	/* Edit the plan; -1 + dk_fail when it cannot apply. */
	int (*apply)(struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a);
	/* The host side (NULL: none): the system files the edited plan needs,
	 * recorded under set's manifest; --off restores them from it. */
	int (*host)(const struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a,
		    struct dk_vfio_plan *out);
	const struct dk_sysfile_set *set;
	/* OpenCore side (NULL: none): prepare reads what the edit needs (host
	 * DMI, CPU brand); edit changes config.plist inside dk_vm_efi_rebuild(),
	 * which builds the image again (the previous image and config are kept
	 * in the tune version, undo puts them back). */
	int (*prepare)(const struct dk_plan *p, const struct dk_tune_ctx *c, const struct dk_tune_args *a,
		       struct dk_cfgedit *ce, struct dk_tune_result *r);
	int (*edit)(plist_t config, const struct dk_cfgedit *ce);
	/* display-override: a file in the bundle, not the VM */
	bool bundle_file;
};
extern const struct dk_writeup dk_writeups[];
extern const int dk_writeup_count;
const struct dk_writeup *dk_writeup_find(const char *name);

struct dk_tune_opts {
	const char *parent;           /* NULL: dk_data_dir() */
	const char *name;
	const char *writeup;          /* a dk_writeups name, or "undo" */
	struct dk_tune_args args;
	bool dry_run;                 /* show the diff, change nothing */
	bool force;                   /* over hand edits, and while the VM runs */
	bool apply;                   /* write the host side's system files (under --root) */
};

struct dk_tune_result {
	bool changed;                 /* false: the bundle already is so (nothing written) */
	char *diff;                   /* unified diff of domain.xml and qemu.argv ("" none) */
	int version;                  /* the .tune/<n> kept (apply) or restored (undo); 0 none */
	bool redefined;               /* the libvirt domain was redefined */
	bool running;                 /* the VM runs: the change takes effect at its next start */
	char note[512];               /* what the user should do (hugepages: reserve them) */
	bool host_changed;            /* the host side has system files to write (their diffs are in diff) */
	bool host_applied;            /* ... and they were written (--apply) */
	char **commands;              /* to run after the system files are written */
};
int dk_vm_tune(const struct dk_tune_opts *o, struct dk_tune_result *r);
void dk_tune_result_free(struct dk_tune_result *r);

/* The qemu.argv file of a plan (what create writes). malloc'd. */
char *dk_vm_argv_file(const struct dk_plan *p, const struct dk_vm_files *f);
/* Unified diff (3 lines of context) of two texts under the names a/NAME, b/NAME,
 * appended to *out (malloc'd, grown). Pure. */
void dk_unified_diff(const char *name, const char *a, const char *b, char **out);
