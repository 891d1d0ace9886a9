/* Renderer: plan -> Proxmox VE qemu-server config (/etc/pve/qemu-server/<vmid>.conf)
 * and the qm commands that import the bundle's images. No I/O.
 *
 * The format: leading "#" lines are the VM's notes (Proxmox decodes them as
 * URI-escaped text: controls, bytes >= 0x7f, ':' and '%' are escaped here);
 * then "key: value" lines, sorted by key as Proxmox writes them. What Proxmox
 * has no key for (isa-applesmc, the exact -cpu, the xHCI keyboard and tablet)
 * goes into "args:", which Proxmox appends to the QEMU command line (split as
 * shell words). Disks are not in the file: their volume names are given by the
 * storage at import time, so the commands import each image (qm importdisk
 * leaves it as unused0) and attach it by the name qm config then shows. */
#include "vm/render.h"
#include "vm/vm.h"
#include "util/error.h"
#include "util/mem.h"
#include "tune/pin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PVE_NOTES_MAX 8192 /* Proxmox's maxLength of a VM description */

static bool all_in(const char *s, const char *set)
{
	return *s && strspn(s, set) == strlen(s);
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

int dk_pve_storage_check(const char *s)
{
	/* Proxmox's pve-storage-id: [a-z][a-z0-9\-\_\.]*[a-z0-9], case-insensitive */
	size_t n = s ? strlen(s) : 0;
	if (n < 2 || n > 64 || !strchr(ALNUM, s[0]) || (s[0] >= '0' && s[0] <= '9') || !strchr(ALNUM, s[n - 1]) ||
	    !all_in(s, ALNUM "-_."))
		return dk_fail("storage '%s': not a Proxmox storage ID (a letter, then letters, digits, '-', '_', '.')",
			       s ? s : "");
	return 0;
}

/* One notes line: '#' + the text escaped as Proxmox's encode_text does (plus '%',
 * which its decode_text would otherwise take for an escape). */
static void note(struct dk_buf *b, const char *text)
{
	dk_buf_puts(b, "#");
	for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
		if (*s >= 0x20 && *s <= 0x7e && *s != ':' && *s != '%')
			dk_buf_append(b, s, 1);
		else
			dk_buf_printf(b, "%%%02X", *s);
	}
	dk_buf_puts(b, "\n");
}

/* A Proxmox VM name (a DNS name): letters, digits and inner '-'; other characters
 * become '-', runs of them one. */
static void pve_name(const char *in, char *out, size_t n)
{
	size_t k = 0;
	bool dash = false;
	for (const char *s = in; *s && k + 1 < n && k < 63; s++) {
		if (strchr(ALNUM, *s)) {
			if (dash && k)
				out[k++] = '-';
			if (k + 1 < n && k < 63)
				out[k++] = *s;
			dash = false;
		} else {
			dash = true;
		}
	}
	out[k] = '\0';
	if (!k)
		snprintf(out, n, "macos");
}

static bool mac_ok(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? m[i] != ':' : !strchr("0123456789abcdefABCDEF", m[i]))
			return false;
	}
	/* Proxmox refuses multicast addresses (bit 0 of the first octet) */
	return (strtoul(m, NULL, 16) & 1) == 0;
}

static bool uuid_ok(const char *u)
{
	if (strlen(u) != 36)
		return false;
	for (int i = 0; i < 36; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23 ? u[i] != '-' : !strchr("0123456789abcdefABCDEF", u[i]))
			return false;
	return true;
}

static int path_ok(const char *what, const char *path)
{
	if (!path || !*path)
		return dk_fail("%s: no path", what);
	for (const unsigned char *s = (const unsigned char *)path; *s; s++)
		if (*s < 0x20 || *s == 0x7f)
			return dk_fail("%s: a control character in the path", what);
	return 0;
}

static void add_cmd(char ***v, int *n, char *s)
{
	*v = dk_realloc(*v, (size_t)(*n + 2) * sizeof **v);
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

/* qm importdisk of one image, then qm set of the volume it became (unused0). */
static void import_cmds(char ***v, int *n, unsigned long vmid, const char *path, const char *storage,
			const char *slot, const char *opts)
{
	struct dk_buf b = {0};
	dk_buf_printf(&b, "qm importdisk %lu ", vmid);
	dk_shell_quote(&b, path);
	dk_buf_printf(&b, " %s --format qcow2", storage);
	add_cmd(v, n, b.data);
	add_cmd(v, n,
		dk_asprintf("qm set %lu --%s \"$(qm config %lu | sed -n 's/^unused0: //p')\"%s", vmid, slot, vmid, opts));
}

int dk_proxmox_conf(const struct dk_plan *p, const struct dk_vm_files *f, const struct dk_pve_opts *o, char **conf,
		    char ***commands)
{
	*conf = NULL;
	*commands = NULL;
	if (o->vmid < DK_PVE_VMID_MIN || o->vmid > DK_PVE_VMID_MAX)
		return dk_fail("vmid %lu: Proxmox VM IDs are %lu..%lu", o->vmid, DK_PVE_VMID_MIN, DK_PVE_VMID_MAX);
	if (dk_pve_storage_check(o->storage) < 0)
		return -1;
	const char *bridge = o->bridge ? o->bridge : "vmbr0";
	if (!all_in(bridge, ALNUM "-_.") || strlen(bridge) > 15)
		return dk_fail("bridge '%s': not a network interface name", bridge);
	if (path_ok("OpenCore image", f->opencore) < 0 || path_ok("disk", f->disk) < 0)
		return -1;

	/* The plan comes from manifest.json: every field that reaches a value is checked. */
	if (p->accel == DK_ACCEL_TCG && p->cpu_mode == DK_CPU_HOST)
		return dk_fail("%s: --cpu host needs KVM; TCG cannot pass the host CPU through", p->name);
	if (!all_in(p->cpu_arg, ALNUM ",=+-_.") || p->cpu_arg[0] == '-' || p->cpu_arg[0] == ',')
		return dk_fail("plan: -cpu value '%s': not a QEMU CPU model with features", p->cpu_arg);
	if (!mac_ok(p->mac))
		return dk_fail("plan: MAC '%s': not a unicast MAC address", p->mac);
	if (!uuid_ok(p->uuid))
		return dk_fail("plan: UUID '%s': not a UUID", p->uuid);
	const char *nic = !strcmp(p->nic_model, "virtio-net-pci")  ? "virtio"
			  : !strcmp(p->nic_model, "vmxnet3")       ? "vmxnet3"
			  : !strcmp(p->nic_model, "e1000-82545em") ? "e1000-82545em"
			  : !strcmp(p->nic_model, "e1000")         ? "e1000"
			  : !strcmp(p->nic_model, "e1000e")        ? "e1000e"
								   : NULL;
	if (!nic)
		return dk_fail("plan: NIC '%s': no Proxmox network model for it", p->nic_model);
	const char *vga = !strcmp(p->video, "vmware-svga") ? "vmware"
			  : !strcmp(p->video, "VGA")       ? "std"
			  : !strcmp(p->video, "none")      ? "none"
							   : NULL;
	if (!vga)
		return dk_fail("plan: video '%s': no Proxmox display for it", p->video);
	bool topo_ok = p->sockets >= 1 && p->sockets <= 4 && p->dies >= 1 && p->dies <= 1024 && p->cores >= 1 &&
		       p->cores <= 1024 && p->threads >= 1 && p->threads <= 1024;
	long long all = topo_ok ? (long long)p->sockets * p->dies * p->cores * p->threads : 0;
	if (!topo_ok || all > 1024 || all != p->vcpus)
		return dk_fail("plan: topology %d sockets x %d dies x %d cores x %d threads for %d vCPUs", p->sockets,
			       p->dies, p->cores, p->threads, p->vcpus);
	if (p->memory_mib < 16 || p->memory_mib > ((uint64_t)4 << 30))
		return dk_fail("plan: memory %llu MiB", (unsigned long long)p->memory_mib);
	int cores = (int)(all / p->sockets);
	char name[64];
	pve_name(p->name, name, sizeof name);

	struct dk_buf b = {0}, line = {0};
	/* ---- notes: what this VM is and why, one line per decision ---- */
	dk_buf_printf(&line, "%s - %s, macOS %s (%s), exported by dkvm", p->name, p->model, p->macos, p->macos_version);
	note(&b, line.data);
	note(&b, "");
	note(&b, "The plan's decisions (dkvm show), then what Proxmox changes:");
	size_t used = line.len + 64; /* the notes' decoded length so far, roughly */
	for (int i = 0; i < p->n_why; i++) {
		line.len = 0;
		dk_buf_printf(&line, "- %s = %s (%s)", p->why[i].key, p->why[i].value, p->why[i].reason);
		if (used + line.len + 1 > PVE_NOTES_MAX - 1024) {
			note(&b, "- (more decisions: dkvm show)");
			break;
		}
		used += line.len + 1;
		note(&b, line.data);
	}
	if (p->threads > 1 || p->dies > 1) {
		line.len = 0;
		dk_buf_printf(&line, "- pve.topology = %d socket%s x %d cores (Proxmox has no threads setting: the plan's "
				     "%d cores x %d threads are given as cores)",
			      p->sockets, p->sockets == 1 ? "" : "s", cores, p->cores * p->dies, p->threads);
		note(&b, line.data);
	}
	if (p->n_pin) {
		line.len = 0;
		dk_buf_printf(&line, "- pve.affinity = the vCPUs' host CPUs (Proxmox pins the whole VM to them, not "
				     "each vCPU to one; the emulator pin %s is not expressible)",
			      p->emulator_pin[0] ? p->emulator_pin : "-");
		note(&b, line.data);
	}
	for (int i = 0; i < p->n_hostdev; i++)
		if (p->hostdev[i].rom[0]) {
			line.len = 0;
			dk_buf_printf(&line, "- pve.romfile = Proxmox reads ROM files from /usr/share/kvm only: copy %s there "
					     "and add romfile=<name> to the GPU's hostpci line", p->hostdev[i].rom);
			note(&b, line.data);
		}
	if (!strcmp(p->video, "none") && !p->n_hostdev)
		note(&b, "- pve.hostpci = the passed-through GPU is not in the plan: add it as hostpci0: "
			 "<host PCI address>,pcie=1,x-vga=1");
	note(&b, "- pve.disks = OpenCore.img on virtio0 (boot 1), the disk on the planned bus (boot 2), an EFI vars "
		 "disk with no pre-enrolled keys (Secure Boot off), all imported by the qm commands dkvm export prints");

	/* ---- keys, sorted ---- */
	if (p->n_pin) {
		char aff[1024];
		dk_cpuset_format(p->pin, p->n_pin, aff, sizeof aff);
		dk_buf_printf(&b, "affinity: %s\n", aff);
	}
	if (p->nosharepages)
		dk_buf_puts(&b, "allow-ksm: 0\n");
	dk_buf_printf(&b,
		      "args: -device isa-applesmc,osk=\"" DK_APPLESMC_OSK "\" -smbios type=2 -cpu %s"
		      " -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"
		      " -device qemu-xhci,id=dkxhci -device usb-kbd,bus=dkxhci.0 -device usb-tablet,bus=dkxhci.0%s\n",
		      p->cpu_arg, p->watchdog ? " -action watchdog=none" : "");
	dk_buf_puts(&b, "balloon: 0\n");
	dk_buf_puts(&b, "bios: ovmf\n");
	const char *disk_slot = p->disk_bus == DK_BUS_SATA ? "sata0" : "virtio1";
	dk_buf_printf(&b, "boot: order=virtio0;%s\n", disk_slot);
	dk_buf_printf(&b, "cores: %d\n", cores);
	/* one hostpci per guest slot: a card's functions go together (no ".F") */
	for (int i = 0, n = 0; i < p->n_hostdev; i++) {
		const struct dk_plan_hostdev *h = &p->hostdev[i];
		if (h->func != 0)
			continue;
		bool multi = i + 1 < p->n_hostdev && p->hostdev[i + 1].port == h->port;
		dk_buf_printf(&b, "hostpci%d: %.*s,pcie=1%s\n", n++, multi ? 10 : 16, h->host,
			      !strcmp(h->role, "gpu") ? ",x-vga=1" : "");
	}
	if (p->accel == DK_ACCEL_TCG)
		dk_buf_puts(&b, "kvm: 0\n");
	dk_buf_puts(&b, "machine: q35\n");
	dk_buf_printf(&b, "memory: %llu\n", (unsigned long long)p->memory_mib);
	dk_buf_printf(&b, "name: %s\n", name);
	dk_buf_printf(&b, "net0: %s=%s,bridge=%s\n", nic, p->mac, bridge);
	dk_buf_puts(&b, "numa: 0\n");
	dk_buf_puts(&b, "ostype: other\n");
	dk_buf_printf(&b, "smbios1: uuid=%s\n", p->uuid);
	dk_buf_printf(&b, "sockets: %d\n", p->sockets);
	dk_buf_puts(&b, "tablet: 0\n");
	dk_buf_printf(&b, "vga: %s\n", vga);
	dk_buf_free(&line);

	/* ---- commands ---- */
	char **v = NULL;
	int n = 0;
	add_cmd(&v, &n, dk_asprintf("qm set %lu --efidisk0 %s:1,efitype=4m,pre-enrolled-keys=0", o->vmid, o->storage));
	import_cmds(&v, &n, o->vmid, f->opencore, o->storage, "virtio0", "");
	import_cmds(&v, &n, o->vmid, f->disk, o->storage, disk_slot,
		    p->disk_bus == DK_BUS_SATA ? ",discard=on,ssd=1" : ",discard=on");
	*conf = b.data;
	*commands = v;
	return 0;
}
