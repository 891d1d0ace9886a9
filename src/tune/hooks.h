/* Single-GPU passthrough: libvirt qemu hooks (https://libvirt.org/hooks.html).
 *
 * libvirt runs /etc/libvirt/hooks/qemu GUEST OPERATION SUB-OPERATION EXTRA
 * (domain XML on stdin). dkvm installs its own dispatcher there, which runs
 * every executable file in /etc/libvirt/hooks/qemu.d/GUEST/OPERATION/SUB/,
 * and per VM two scripts:
 *   qemu.d/NAME/prepare/begin/dkvm-single-gpu.sh: stop the display manager,
 *     unbind the framebuffer consoles and the firmware framebuffer, unload
 *     (nvidia) or unbind the GPU's drivers, detach every named function to
 *     vfio-pci (virsh nodedev-detach). Each step done is recorded in a state
 *     file (${DKVM_HOOK_RUN:-/run}/dkvm-hooks/NAME.state).
 *   qemu.d/NAME/release/end/dkvm-single-gpu.sh: undoes exactly the recorded
 *     steps, in reverse order, best effort (a failed step does not stop the
 *     others: the display manager comes back).
 * The scripts read and write sysfs under ${DKVM_HOOK_SYSFS:-/sys} (tests).
 *
 * The generators are pure; dk_hooks_plan_* read the files under --root and
 * dk_hooks_apply writes them (dk_edit_system_file rules: backups of foreign
 * files, atomic writes). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define DK_HOOK_MAX_FN 16
#define DK_HOOK_DISPATCHER "/etc/libvirt/hooks/qemu"
#define DK_HOOK_DIR "/etc/libvirt/hooks/qemu.d"
#define DK_HOOK_SCRIPT "dkvm-single-gpu.sh"

struct dk_hook_fn {
	char bdf[16];    /* "0000:0b:00.0" */
	char driver[64]; /* driver bound when installed ("" none) */
	uint32_t class_code;
};

struct dk_hook_cfg {
	char vm[256];
	char dm_unit[128]; /* "gdm3.service"; "" = no display manager step */
	int n;
	struct dk_hook_fn fn[DK_HOOK_MAX_FN];
};

/* The script texts (malloc'd). */
char *dk_hook_dispatcher_script(void);
char *dk_hook_begin_script(const struct dk_hook_cfg *c);
char *dk_hook_end_script(const struct dk_hook_cfg *c);

/* The display manager's unit from the host facts (through --sysroot): the
 * target of /etc/systemd/system/display-manager.service, e.g. "gdm3.service".
 * NULL (no error) when there is none. malloc'd. */
char *dk_hook_detect_dm(void);
/* A unit name from --display-manager NAME ("gdm" -> "gdm.service"); NULL +
 * dk_fail when NAME is not a plain unit name. */
char *dk_hook_dm_unit(const char *name);

/* Fill c from the host (through --sysroot): each BDF must be a PCI device
 * there; its driver and class are recorded. dm_unit: NULL = detect (error
 * when none), "" = none. */
int dk_hook_cfg_from_host(const char *vm, char *const *bdfs, const char *dm_unit, struct dk_hook_cfg *c);

enum dk_hook_act {
	DK_HOOK_SAME,    /* already as wanted */
	DK_HOOK_CREATE,  /* new file */
	DK_HOOK_UPDATE,  /* ours, other content: replaced (no backup) */
	DK_HOOK_REPLACE, /* foreign: backed up, then replaced (--force) */
	DK_HOOK_REMOVE,  /* ours: deleted */
	DK_HOOK_RESTORE, /* ours: replaced by its backup (the foreign original) */
	DK_HOOK_KEEP,    /* left alone (reason in note) */
};

struct dk_hook_change {
	char *path;    /* absolute, without --root */
	enum dk_hook_act act;
	char *old;     /* current content (NULL: absent) */
	char *want;    /* new content (CREATE/UPDATE/REPLACE; RESTORE: the backup's) */
	char *backup;  /* RESTORE: the backup file (with --root) */
	char *note;
};

struct dk_hook_plan {
	struct dk_hook_change *c;
	int n;
	char **rmdirs; /* directories (without --root) to remove when empty, after the changes */
};

/* What install would do. A foreign file (not written by dkvm) at one of the
 * paths is an error unless force. */
int dk_hooks_plan_install(const struct dk_hook_cfg *c, bool force, struct dk_hook_plan *p);
/* What remove would do (n == 0: nothing installed for vm). */
int dk_hooks_plan_remove(const char *vm, struct dk_hook_plan *p);
/* Do it (under --root). */
int dk_hooks_apply(const struct dk_hook_plan *p);
void dk_hook_plan_free(struct dk_hook_plan *p);
const char *dk_hook_act_name(enum dk_hook_act a);
/* `dkvm --json hooks install|remove`'s {vm, applied, root, files: [{path,
 * action, content?, backup?, note?}]} (see dkvm-hooks(1)). */
struct json_object *dk_hook_plan_to_json(const char *vm, const struct dk_hook_plan *p, bool applied);

/* Unified diff of two texts ("--- a/PATH" / "+++ b/PATH", 3 lines of context);
 * "" when equal. malloc'd. */
char *dk_text_diff(const char *path, const char *old, const char *want);
