/* Two renderers of one plan: the QEMU argv and the libvirt domain XML. */
#pragma once
#include <stdbool.h>
#include "vm/plan.h"

struct dk_buf;

/* The isa-applesmc OSK every macOS VM needs (QEMU, libvirt and Proxmox renderings). */
#define DK_APPLESMC_OSK "ourhardworkbythesewordsguardedpleasedontsteal(c)AppleComputerInc"

/* Paths of a bundle's files (vm/bundle.h fills them). */
struct dk_vm_files {
	const char *dir;        /* bundle directory */
	const char *opencore;   /* OpenCore.img */
	const char *disk;       /* disk.qcow2 */
	const char *vars;       /* OVMF_VARS.fd (per-VM copy) */
};

/* ---- QEMU ---- */
enum dk_display { DK_DISPLAY_NONE = 0, DK_DISPLAY_GTK, DK_DISPLAY_SPICE, DK_DISPLAY_VNC };
const char *dk_display_name(enum dk_display d);
int dk_display_parse(const char *s, enum dk_display *d);

struct dk_qemu_opts {
	enum dk_display display;
	bool daemonize;         /* -daemonize, QMP socket and pidfile in the bundle */
	bool direct_io;         /* cache=none (O_DIRECT); false when the bundle's FS lacks it */
	bool serial_file;       /* serial console to <dir>/serial.log */
};

struct dk_argv {
	char **v;
	int n, cap;
};
void dk_argv_add(struct dk_argv *a, const char *s);
void dk_argv_addf(struct dk_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dk_argv_free(struct dk_argv *a);
/* Shell-quoted, one argument per line continuation ("\\\n  "): the qemu.argv file. */
char *dk_argv_to_shell(const struct dk_argv *a);
/* Append s to b as one shell word: as is when plain, else in single quotes. */
void dk_shell_quote(struct dk_buf *b, const char *s);

/* QEMU option values are comma-separated: a literal comma doubled. malloc'd. */
char *dk_qemu_escape(const char *s);
/* Display, serial console, QMP socket and pidfile: the end of every argv. */
/* The start of every argv: the binary, -name, -uuid, -nodefaults. */
void dk_qemu_argv_head(struct dk_argv *a, const char *qemu, const char *name, const char *uuid);
void dk_qemu_argv_tail(struct dk_argv *a, const struct dk_vm_files *f, const struct dk_qemu_opts *o);
int dk_qemu_argv(const struct dk_plan *p, const struct dk_vm_files *f, const struct dk_qemu_opts *o,
		 struct dk_argv *out);

/* ---- libvirt ---- */
/* Capabilities by version alone (tests; the live path reads domain capabilities). */
void dk_virt_caps_for_version(unsigned long version, struct dk_virt_caps *c);

/* The domain XML (libxml2), as a malloc'd NUL-terminated string. */
int dk_libvirt_xml(const struct dk_plan *p, const struct dk_vm_files *f, const struct dk_virt_caps *c,
		   char **xml);

/* ---- Proxmox VE ---- */
#define DK_PVE_VMID_MIN 100UL
#define DK_PVE_VMID_MAX 999999999UL
struct dk_pve_opts {
	unsigned long vmid;     /* DK_PVE_VMID_MIN..DK_PVE_VMID_MAX */
	const char *storage;    /* Proxmox storage the images and the EFI vars go to */
	const char *bridge;     /* NULL: vmbr0 */
};
/* A Proxmox storage ID (letters, digits, '-', '_', '.'; a letter first): 0, or -1 + dk_fail. */
int dk_pve_storage_check(const char *storage);
/* The qemu-server config (/etc/pve/qemu-server/<vmid>.conf) of the plan: the
 * plan's decisions as the leading '#' lines (Proxmox's notes), then sorted
 * "key: value" lines. *commands: the shell lines to run on the Proxmox host
 * once the config is in place (EFI vars disk, qm importdisk of the OpenCore
 * image and the disk, qm set to attach each), NULL-terminated, free with
 * dk_strv_free() (vm/vm.h). Pure: no I/O. -1 + dk_fail for a plan field
 * Proxmox cannot take (the plan comes from a manifest: hostile). */
int dk_proxmox_conf(const struct dk_plan *p, const struct dk_vm_files *f, const struct dk_pve_opts *o, char **conf,
		    char ***commands);
