/* The host side of dkvm tune's write-ups: system files under --root (the
 * vfio persist rules: a plan of diffs, written with backups and a manifest,
 * restored byte-exact) and host facts read through the sysroot.
 *
 *   hugepages --reserve   /etc/sysctl.d/60-dkvm-hugepages.conf (2 MiB pages),
 *                         or the kernel command line (--size 1G)
 *   bridge                systemd-networkd files or NetworkManager keyfiles
 *                         for br0 and its uplink; /etc/qemu/bridge.conf
 *   pin --isolate         isolcpus/nohz_full/rcu_nocbs for the pinned CPUs on
 *                         the kernel command line
 *   cpu-governor          a script that sets the performance governor and
 *                         restores the previous one, run by a libvirt hook
 *                         (libvirt VMs) or a systemd unit (dkvm start)
 *
 * The text of each file is a pure function; the plans read the current
 * files under --root. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "host/host.h"
#include "tune/vfio.h"

#define DK_HUGEPAGES_SYSCTL "/etc/sysctl.d/60-dkvm-hugepages.conf"
#define DK_BRIDGE_CONF "/etc/qemu/bridge.conf"
#define DK_GOVERNOR_SCRIPT "/usr/local/libexec/dkvm-cpu-governor"
#define DK_GOVERNOR_UNIT "/etc/systemd/system/dkvm-cpu-governor@.service"
#define DK_GOVERNOR_HOOK_DIR "/etc/libvirt/hooks/qemu.d/"

extern const struct dk_sysfile_set dk_tune_set_hugepages;
extern const struct dk_sysfile_set dk_tune_set_bridge;
extern const struct dk_sysfile_set dk_tune_set_governor;
extern const struct dk_sysfile_set dk_tune_set_isolate;

/* Hugepages for mib of guest RAM: 2 MiB pages through sysctl, or (gig) 1 GiB
 * pages on the kernel command line of the boot loader ("auto": the host's). */
uint64_t dk_hugepages_needed(uint64_t mib, bool gig);
int dk_hugepages_files(const struct dk_host *h, const char *vm, uint64_t mib, bool gig, const char *bootloader,
		       struct dk_vfio_plan *out);

/* CPU isolation for the host CPUs the vCPUs are pinned to (cpus[n]):
 * isolcpus=, nohz_full= and rcu_nocbs= with that list merged into the kernel
 * command line of the boot loader ("auto": the host's), as hugepages --size
 * 1G does. -1 + dk_fail when nothing is pinned or the boot loader's file is
 * missing. */
int dk_isolate_files(const struct dk_host *h, const int *cpus, int n, const char *bootloader, struct dk_vfio_plan *out);

/* The interface of the default route (/proc/net/route through the sysroot,
 * the lowest metric). -1 + dk_fail when there is none. */
int dk_default_uplink(char out[16]);
/* Add "allow BR" to a qemu-bridge-helper ACL (the input when it is there). */
char *dk_bridge_conf_edit(const char *text, const char *br);
/* br's files: networkd (.netdev, .network for br and for the uplink) or
 * NetworkManager keyfiles (nm), and the bridge helper's ACL. Refuses a
 * wireless uplink (it cannot be bridged). */
int dk_bridge_files(const char *br, const char *uplink, bool nm, struct dk_vfio_plan *out);

/* The governor script, its systemd template unit and (libvirt) the VM's hook. */
char *dk_governor_script(void);
int dk_governor_files(const char *vm, bool libvirt, struct dk_vfio_plan *out);
/* dkvm start/stop of a VM that opted in: systemctl start|stop
 * dkvm-cpu-governor@VM.service. -1 + dk_fail when it did not run or failed. */
int dk_governor_run(const char *vm, bool start);

/* The first keyboard (*-event-kbd) and mouse (*-event-mouse) under
 * /dev/input/by-id (through the sysroot), "" when there is none. */
void dk_evdev_find(char kbd[160], char mouse[160]);
