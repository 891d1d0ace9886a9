/* PowerPC guests: the per-release table, the pure planner, its renderers. */
#include "vm/ppc.h"
#include "vm/vm.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"
#include "util/cleanup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/tree.h>

#define G4_WHY "PowerMac3,1 (mac99) is a Power Mac G4; the guide's templates run QEMU's mac99 default CPU, a G4 (7400)"
#define CUDA_WHY "the guide's template: mac99 with its default VIA (CUDA: ADB keyboard and mouse), USB off"

/* The guide's extras/DarwinPPC/Template-<Release>.sh, one row each. */
const struct dk_ppc_release dk_ppc_releases[] = {
	{"10.0", "cheetah", "Cheetah", "G4", G4_WHY, 128, "mac99,usb=off", CUDA_WHY, false, false, "sungem",
	 "1280x720x32", 128},
	{"10.1", "puma", "Puma", "G4", G4_WHY, 128, "mac99,usb=off", CUDA_WHY, false, true, "sungem", "1280x720x32",
	 128},
	{"10.2", "jaguar", "Jaguar", "G4", G4_WHY, 128, "mac99,usb=off", CUDA_WHY, false, true, "sungem",
	 "1280x720x32", 0},
	{"10.3", "panther", "Panther", "G4", G4_WHY, 128, "mac99,usb=off", CUDA_WHY, false, false, "sungem",
	 "1280x720x32", 0},
	{"10.4", "tiger", "Tiger", "G4", G4_WHY, 256, "mac99,usb=off", CUDA_WHY, false, true, "sungem", "1280x720x32",
	 0},
	{"10.5", "leopard", "Leopard", "G4", G4_WHY "; Leopard requires a G4", 512, "mac99,via=pmu,usb=on",
	 "the guide's Leopard template: mac99 with the PMU (via=pmu) and USB on, for a USB tablet and keyboard", true,
	 false, "sungem", "1280x720x32", 0},
};
const int dk_ppc_release_count = (int)(sizeof dk_ppc_releases / sizeof dk_ppc_releases[0]);

const struct dk_ppc_release *dk_ppc_release_find(const char *s)
{
	if (!s)
		return NULL;
	for (int i = 0; i < dk_ppc_release_count; i++) {
		const struct dk_ppc_release *r = &dk_ppc_releases[i];
		size_t n = strlen(r->version);
		if (!strcasecmp(s, r->name) || !strcmp(s, r->version) ||
		    (!strncmp(s, r->version, n) && s[n] == '.' && s[n + 1] && strspn(s + n + 1, "0123456789") == strlen(s + n + 1)))
			return r;
	}
	return NULL;
}

/* ---- facts (the only part that looks outside) ---- */

int dk_ppc_facts_gather(const char *name, void *conn, const char *uri, struct dk_ppc_facts *f)
{
	memset(f, 0, sizeof *f);
	static const char *qemus[] = {"/usr/bin/qemu-system-ppc", "/usr/local/bin/qemu-system-ppc"};
	static const char *bios[] = {"/usr/share/qemu/openbios-ppc", "/usr/share/openbios/openbios-ppc",
				     "/usr/local/share/qemu/openbios-ppc"};
	snprintf(f->qemu_path, sizeof f->qemu_path, "%s", qemus[0]);
	bool live = dk_sysroot_is_live();
	bool found = false;
	for (size_t i = 0; i < sizeof qemus / sizeof qemus[0] && !found; i++) {
		_cleanup_free_ char *hp = dk_host_path(qemus[i]);
		if (access(hp, X_OK) == 0) {
			snprintf(f->qemu_path, sizeof f->qemu_path, "%s", qemus[i]);
			found = true;
		}
	}
	f->qemu_missing = live && !found;
	for (size_t i = 0; i < sizeof bios / sizeof bios[0] && !f->openbios[0]; i++) {
		_cleanup_free_ char *hp = dk_host_path(bios[i]);
		if (access(hp, R_OK) == 0)
			snprintf(f->openbios, sizeof f->openbios, "%s", bios[i]);
	}
	if (!live && !f->openbios[0])
		snprintf(f->openbios, sizeof f->openbios, "%s", bios[0]); /* a sysroot: assume QEMU's */
	if (dk_random_bytes(f->random, sizeof f->random) < 0)
		return -1;
	if (conn) {
		f->connected = true;
		snprintf(f->uri, sizeof f->uri, "%s", uri ? uri : "");
		char *caps = virConnectGetDomainCapabilities(conn, NULL, "ppc", "mac99", "qemu", 0);
		f->libvirt_mac99 = caps != NULL;
		free(caps);
		virResetLastError();
		f->domain_defined = name && dk_virt_defined(conn, name);
	}
	return 0;
}

/* ---- the plan ---- */

static void why(struct dk_ppc_plan *p, const char *key, const char *reason, const char *value_fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void why(struct dk_ppc_plan *p, const char *key, const char *reason, const char *value_fmt, ...)
{
	if (p->n_why >= DK_PPC_MAX_EXPLAIN)
		return;
	struct dk_plan_decision *d = &p->why[p->n_why++];
	snprintf(d->key, sizeof d->key, "%s", key);
	va_list ap;
	va_start(ap, value_fmt);
	vsnprintf(d->value, sizeof d->value, value_fmt, ap);
	va_end(ap);
	snprintf(d->reason, sizeof d->reason, "%s", reason);
}

static int plan_release(const struct dk_ppc_plan_opts *o, struct dk_ppc_plan *p, const struct dk_ppc_release **out)
{
	if (!o->macos)
		return dk_fail("--arch ppc needs --macos: 10.0, 10.1, 10.2, 10.3, 10.4 or 10.5");
	const struct dk_ppc_release *r = dk_ppc_release_find(o->macos);
	if (!r)
		return dk_fail("--macos '%s': not a PowerPC release (--arch ppc runs Mac OS X 10.0 to 10.5: cheetah, puma, "
			       "jaguar, panther, tiger, leopard)",
			       o->macos);
	*out = r;
	snprintf(p->macos, sizeof p->macos, "%s", r->name);
	snprintf(p->version, sizeof p->version, "%s", r->version);
	why(p, "release", "the guide's DarwinPPC template for this release (extras/DarwinPPC)", "Mac OS X %s %s",
	    r->version, r->title);
	snprintf(p->machine, sizeof p->machine, "%s", r->machine);
	why(p, "machine", r->machine_why, "%s", r->machine);
	snprintf(p->cpu, sizeof p->cpu, "%s", r->cpu);
	why(p, "cpu", r->cpu_why, "%s", r->cpu);
	why(p, "topology", "one CPU, as the guide's templates and XML (-smp 1)", "1 vCPU");
	why(p, "accel", "KVM runs PowerPC guests only on PowerPC hosts (guide): TCG emulation", "tcg");
	return 0;
}

static int plan_memory(const struct dk_ppc_plan_opts *o, const struct dk_ppc_release *r, struct dk_ppc_plan *p)
{
	if (!o->memory_bytes) {
		p->memory_mib = DK_PPC_MAX_MIB;
		why(p, "memory", "the guide's templates (-m 2G), also the most mac99 takes", "%u MiB", DK_PPC_MAX_MIB);
		return 0;
	}
	uint64_t mib = o->memory_bytes >> 20;
	if (o->memory_bytes % (1 << 20) || mib > DK_PPC_MAX_MIB)
		return dk_fail("--memory: QEMU's mac99 takes at most %u MiB (2 GiB), in whole MiB", DK_PPC_MAX_MIB);
	if (mib < r->min_mib)
		return dk_fail("--memory: Mac OS X %s needs at least %u MiB", r->version, r->min_mib);
	p->memory_mib = mib;
	why(p, "memory", "--memory (within mac99's 2 GiB and the release's minimum)", "%llu MiB", (unsigned long long)mib);
	return 0;
}

static int plan_disks(const struct dk_ppc_plan_opts *o, const struct dk_ppc_release *r, struct dk_ppc_plan *p)
{
	uint64_t max = (uint64_t)r->max_disk_gib << 30;
	p->disk_bytes = o->disk_bytes ? o->disk_bytes : (uint64_t)32 << 30;
	if (max && p->disk_bytes > max)
		return dk_fail("--disk: Mac OS X %s addresses at most %u GiB of an ATA disk (28-bit LBA before 10.2)",
			       r->version, r->max_disk_gib);
	why(p, "disk", o->disk_bytes ? "--disk; qcow2 on the IDE bus the guide uses (ide.0, master)"
				     : "room for any PowerPC release; qcow2 on the IDE bus the guide uses (ide.0, master)",
	    "%llu GiB qcow2, ide", (unsigned long long)(p->disk_bytes >> 30));
	if (o->iso) {
		if (o->iso[0] != '/' || strlen(o->iso) >= sizeof p->iso)
			return dk_fail("--iso '%s': not an absolute path", o->iso);
		snprintf(p->iso, sizeof p->iso, "%s", o->iso);
		why(p, "cdrom", "the install media as an IDE CD-ROM (ide.0, slave), read-only, as the guide's templates",
		    "%s", p->iso);
		snprintf(p->boot, sizeof p->boot, "d");
		why(p, "boot", "OpenBIOS boots the install CD while the disk is blank", "cd (-boot d)");
	} else {
		snprintf(p->boot, sizeof p->boot, "c");
		why(p, "boot", "no install media: OpenBIOS boots the disk (the guide's -boot c)", "disk (-boot c)");
	}
	return 0;
}

static void plan_devices(const struct dk_ppc_facts *f, const struct dk_ppc_plan_opts *o, const struct dk_ppc_release *r,
			 struct dk_ppc_plan *p)
{
	snprintf(p->nic, sizeof p->nic, "%s", r->nic);
	why(p, "nic", "Apple's GMAC (sungem), which Mac OS X drives natively; user networking (guide)", "%s", r->nic);
	if (o->mac)
		snprintf(p->mac, sizeof p->mac, "%s", o->mac);
	else
		snprintf(p->mac, sizeof p->mac, "52:54:00:%02x:%02x:%02x", f->random[0], f->random[1], f->random[2]);
	why(p, "nic.mac", "locally administered QEMU prefix, fixed at creation so the guest keeps its identity", "%s", p->mac);
	snprintf(p->resolution, sizeof p->resolution, "%s", r->resolution);
	why(p, "display", "VGA with EDID and the OpenBIOS NDRV (vga-ndrv?=true), resolution and depth from -g (guide)",
	    "VGA %s", r->resolution);
	p->pci_testdev = r->pci_testdev;
	if (r->pci_testdev)
		why(p, "pci-testdev", "the guide's Puma, Jaguar and Tiger templates add it", "yes");
	p->usb_input = r->usb_input;
	if (r->usb_input)
		why(p, "input", "USB tablet and keyboard on mac99's USB (guide, Leopard)", "usb-tablet, usb-kbd");
	else
		why(p, "input", "ADB keyboard and mouse through the VIA (USB off, guide)", "adb");
	why(p, "prom-env", "verbose boot, OpenBIOS's display driver, boot without waiting (guide)",
	    "boot-args=-v vga-ndrv?=true auto-boot?=true");
	dk_plan_uuid(NULL, o->uuid, f->random + 3, p->uuid);
}

int dk_ppc_plan_build(const struct dk_ppc_facts *f, const struct dk_ppc_plan_opts *o, struct dk_ppc_plan *p)
{
	memset(p, 0, sizeof *p);
	if (!o->name || !dk_name_is_safe(o->name))
		return dk_fail("VM name '%s': not a safe name", o->name ? o->name : "");
	snprintf(p->name, sizeof p->name, "%s", o->name);
	const struct dk_ppc_release *r = NULL;
	if (plan_release(o, p, &r) < 0 || plan_memory(o, r, p) < 0 || plan_disks(o, r, p) < 0)
		return -1;
	plan_devices(f, o, r, p);
	if (f->qemu_missing)
		return dk_fail("host: %s not found: install qemu-system-ppc (the guide: PowerPC only needs qemu-system-ppc)",
			       f->qemu_path);
	if (!f->openbios[0])
		return dk_fail("host: no OpenBIOS for PowerPC (/usr/share/qemu/openbios-ppc): install qemu-system-ppc (Debian: qemu-system-data has it)");
	snprintf(p->qemu_path, sizeof p->qemu_path, "%s", f->qemu_path);
	why(p, "firmware", "OpenBIOS, QEMU's Open Firmware for mac99 (no OpenCore, no OVMF, no SMBIOS)", "%s", f->openbios);
	if (f->connected) {
		if (!f->libvirt_mac99)
			return dk_fail("--connect %s: this libvirt offers no ppc mac99 domains (its QEMU has no qemu-system-ppc?); "
				       "leave out --connect to run QEMU directly",
				       f->uri);
		why(p, "libvirt", "the connection offers ppc mac99 domains (type qemu)", "%s", f->uri);
	}
	return 0;
}

void dk_ppc_plan_common(const struct dk_ppc_plan *pp, struct dk_plan *p)
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", pp->name);
	snprintf(p->model, sizeof p->model, "PowerMac3,1");
	snprintf(p->macos, sizeof p->macos, "%s", pp->macos);
	snprintf(p->macos_version, sizeof p->macos_version, "%s", pp->version);
	p->cpu_mode = DK_CPU_MODEL;
	snprintf(p->cpu_model, sizeof p->cpu_model, "%s", pp->cpu);
	snprintf(p->cpu_arg, sizeof p->cpu_arg, "%s", pp->cpu);
	p->sockets = p->dies = p->cores = p->threads = p->vcpus = 1;
	p->memory_mib = pp->memory_mib;
	p->disk_bytes = pp->disk_bytes;
	p->disk_bus = DK_BUS_IDE;
	snprintf(p->nic_model, sizeof p->nic_model, "%s", pp->nic);
	snprintf(p->mac, sizeof p->mac, "%s", pp->mac);
	snprintf(p->video, sizeof p->video, "VGA");
	snprintf(p->qemu_path, sizeof p->qemu_path, "%s", pp->qemu_path);
	p->accel = DK_ACCEL_TCG;
	snprintf(p->uuid, sizeof p->uuid, "%s", pp->uuid);
	for (int i = 0; i < pp->n_why && i < DK_PLAN_MAX_EXPLAIN; i++)
		p->why[p->n_why++] = pp->why[i];
}

/* ---- QEMU argv ---- */

int dk_ppc_qemu_argv(const struct dk_ppc_plan *p, const struct dk_vm_files *f, const struct dk_qemu_opts *o,
		     struct dk_argv *a)
{
	memset(a, 0, sizeof *a);
	_cleanup_free_ char *disk = dk_qemu_escape(f->disk);
	_cleanup_free_ char *iso = dk_qemu_escape(p->iso);
	const char *cache = o->direct_io ? "none" : "writeback";
	dk_qemu_argv_head(a, p->qemu_path, p->name, p->uuid);
	dk_argv_add(a, "-no-user-config");
	dk_argv_add(a, "-machine");
	dk_argv_add(a, p->machine);
	dk_argv_add(a, "-accel");
	dk_argv_add(a, "tcg");
	dk_argv_add(a, "-cpu");
	dk_argv_add(a, p->cpu);
	dk_argv_add(a, "-smp");
	dk_argv_add(a, "1,sockets=1,cores=1,threads=1");
	dk_argv_add(a, "-m");
	dk_argv_addf(a, "%lluM", (unsigned long long)p->memory_mib);
	dk_argv_add(a, "-rtc");
	dk_argv_add(a, "base=utc");
	dk_argv_add(a, "-drive");
	dk_argv_addf(a, "id=disk,if=none,format=qcow2,file=%s,cache=%s,discard=unmap,detect-zeroes=unmap", disk, cache);
	dk_argv_add(a, "-device");
	dk_argv_add(a, "ide-hd,bus=ide.0,unit=0,drive=disk");
	if (p->iso[0]) {
		dk_argv_add(a, "-drive");
		dk_argv_addf(a, "id=installer,if=none,format=raw,media=cdrom,readonly=on,file=%s", iso);
		dk_argv_add(a, "-device");
		dk_argv_add(a, "ide-cd,bus=ide.0,unit=1,drive=installer");
	}
	if (p->pci_testdev) {
		dk_argv_add(a, "-device");
		dk_argv_add(a, "pci-testdev");
	}
	if (p->usb_input) {
		dk_argv_add(a, "-device");
		dk_argv_add(a, "usb-tablet");
		dk_argv_add(a, "-device");
		dk_argv_add(a, "usb-kbd");
	}
	dk_argv_add(a, "-netdev");
	dk_argv_add(a, "user,id=net0");
	dk_argv_add(a, "-device");
	dk_argv_addf(a, "%s,netdev=net0,mac=%s", p->nic, p->mac);
	dk_argv_add(a, "-device");
	dk_argv_add(a, "VGA,edid=on");
	dk_argv_add(a, "-prom-env");
	dk_argv_add(a, "boot-args=-v");
	dk_argv_add(a, "-prom-env");
	dk_argv_add(a, "vga-ndrv?=true");
	dk_argv_add(a, "-prom-env");
	dk_argv_add(a, "auto-boot?=true");
	dk_argv_add(a, "-g");
	dk_argv_add(a, p->resolution);
	dk_argv_add(a, "-boot");
	dk_argv_addf(a, "order=%s", p->boot);
	dk_qemu_argv_tail(a, f, o);
	return 0;
}

/* ---- libvirt XML ---- */

static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, NULL, BAD_CAST name, text ? BAD_CAST text : NULL);
}
static void prop(xmlNodePtr n, const char *k, const char *v) { xmlNewProp(n, BAD_CAST k, BAD_CAST v); }

static void qarg(xmlNodePtr cl, xmlNsPtr ns, const char *v)
{
	xmlNodePtr a = xmlNewChild(cl, ns, BAD_CAST "arg", NULL);
	prop(a, "value", v);
}

int dk_ppc_libvirt_xml(const struct dk_ppc_plan *p, const struct dk_vm_files *f, char **out)
{
	*out = NULL;
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain");
	xmlDocSetRootElement(doc, dom);
	prop(dom, "type", "qemu");
	xmlNsPtr qns = xmlNewNs(dom, BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0", BAD_CAST "qemu");
	child(dom, "name", p->name);
	child(dom, "uuid", p->uuid);
	char desc[128];
	snprintf(desc, sizeof desc, "dkvm: PowerMac3,1 (mac99) running Mac OS X %s (%s)", p->version, p->macos);
	child(dom, "description", desc);
	char mem[32];
	snprintf(mem, sizeof mem, "%llu", (unsigned long long)p->memory_mib * 1024);
	prop(child(dom, "memory", mem), "unit", "KiB");
	prop(child(dom, "currentMemory", mem), "unit", "KiB");
	prop(child(dom, "vcpu", "1"), "placement", "static");
	xmlNodePtr os = child(dom, "os", NULL);
	xmlNodePtr ty = child(os, "type", "hvm");
	prop(ty, "arch", "ppc");
	prop(ty, "machine", "mac99");
	prop(child(os, "boot", NULL), "dev", !strcmp(p->boot, "d") ? "cdrom" : "hd");
	prop(child(dom, "clock", NULL), "offset", "utc");
	child(dom, "on_poweroff", "destroy");
	child(dom, "on_reboot", "restart");
	child(dom, "on_crash", "destroy");
	xmlNodePtr devs = child(dom, "devices", NULL);
	child(devs, "emulator", p->qemu_path);
	xmlNodePtr d = child(devs, "disk", NULL);
	prop(d, "type", "file");
	prop(d, "device", "disk");
	xmlNodePtr drv = child(d, "driver", NULL);
	prop(drv, "name", "qemu");
	prop(drv, "type", "qcow2");
	prop(drv, "discard", "unmap");
	prop(child(d, "source", NULL), "file", f->disk);
	xmlNodePtr t = child(d, "target", NULL);
	prop(t, "dev", "hda");
	prop(t, "bus", "ide");
	if (p->iso[0]) {
		d = child(devs, "disk", NULL);
		prop(d, "type", "file");
		prop(d, "device", "cdrom");
		drv = child(d, "driver", NULL);
		prop(drv, "name", "qemu");
		prop(drv, "type", "raw");
		prop(child(d, "source", NULL), "file", p->iso);
		t = child(d, "target", NULL);
		prop(t, "dev", "hdb");
		prop(t, "bus", "ide");
		child(d, "readonly", NULL);
	}
	xmlNodePtr nic = child(devs, "interface", NULL);
	prop(nic, "type", "user");
	prop(child(nic, "mac", NULL), "address", p->mac);
	prop(child(nic, "model", NULL), "type", p->nic);
	prop(child(child(devs, "video", NULL), "model", NULL), "type", "none");
	prop(child(devs, "memballoon", NULL), "model", "none");
	/* what libvirt has no element for: the template's machine options, CPU,
	 * display and OpenBIOS settings (the guide's DarwinPPC.xml does the same) */
	xmlNodePtr cl = xmlNewChild(dom, qns, BAD_CAST "commandline", NULL);
	char mach[96];
	snprintf(mach, sizeof mach, "%s", p->machine);
	qarg(cl, qns, "-machine");
	qarg(cl, qns, mach);
	qarg(cl, qns, "-cpu");
	qarg(cl, qns, p->cpu);
	qarg(cl, qns, "-device");
	qarg(cl, qns, "VGA,edid=on");
	if (p->pci_testdev) {
		qarg(cl, qns, "-device");
		qarg(cl, qns, "pci-testdev");
	}
	if (p->usb_input) {
		qarg(cl, qns, "-device");
		qarg(cl, qns, "usb-tablet");
		qarg(cl, qns, "-device");
		qarg(cl, qns, "usb-kbd");
	}
	const char *envs[] = {"boot-args=-v", "vga-ndrv?=true", "auto-boot?=true"};
	for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
		qarg(cl, qns, "-prom-env");
		qarg(cl, qns, envs[i]);
	}
	qarg(cl, qns, "-g");
	qarg(cl, qns, p->resolution);
	xmlChar *buf = NULL;
	int len = 0;
	xmlDocDumpFormatMemoryEnc(doc, &buf, &len, "UTF-8", 1);
	xmlFreeDoc(doc);
	if (!buf)
		return dk_fail("%s: cannot render the domain XML", p->name);
	/* without the XML declaration, as the x86 renderer */
	const char *s = (const char *)buf;
	const char *body = strncmp(s, "<?xml", 5) == 0 && strchr(s, '\n') ? strchr(s, '\n') + 1 : s;
	*out = dk_strdup(body);
	xmlFree(buf);
	return 0;
}

/* ---- JSON ---- */

json_object *dk_ppc_plan_to_json(const struct dk_ppc_plan *p)
{
	json_object *o = json_object_new_object();
#define S(k, v) json_object_object_add(o, k, json_object_new_string(v))
	S("name", p->name);
	S("arch", "ppc");
	S("model", "PowerMac3,1");
	S("macos", p->macos);
	S("macos_version", p->version);
	S("uuid", p->uuid);
	S("accel", "tcg");
	S("cpu", p->cpu);
	S("machine", p->machine);
	json_object_object_add(o, "usb_input", json_object_new_boolean(p->usb_input));
	json_object_object_add(o, "pci_testdev", json_object_new_boolean(p->pci_testdev));
	json_object_object_add(o, "memory_mib", json_object_new_int64((int64_t)p->memory_mib));
	json_object_object_add(o, "disk_bytes", json_object_new_int64((int64_t)p->disk_bytes));
	S("disk_bus", "ide");
	json_object_object_add(o, "iso", p->iso[0] ? json_object_new_string(p->iso) : NULL);
	S("boot", p->boot);
	S("nic", p->nic);
	S("mac", p->mac);
	S("resolution", p->resolution);
	S("qemu", p->qemu_path);
#undef S
	json_object *w = json_object_new_array();
	for (int i = 0; i < p->n_why; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "key", json_object_new_string(p->why[i].key));
		json_object_object_add(e, "value", json_object_new_string(p->why[i].value));
		json_object_object_add(e, "reason", json_object_new_string(p->why[i].reason));
		json_object_array_add(w, e);
	}
	json_object_object_add(o, "decisions", w);
	return o;
}

/* A string field: present, fits, and only characters from allowed (NULL: any
 * but control characters). */
static int jstr(json_object *o, const char *k, char *dst, size_t n, const char *allowed)
{
	const char *s = dk_json_get_str(o, k);
	if (!s)
		return dk_fail("plan: missing or malformed field '%s'", k);
	if (strlen(s) >= n)
		return dk_fail("plan: field '%s' too long", k);
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || (allowed && !strchr(allowed, *c)))
			return dk_fail("plan: field '%s' has a bad character", k);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int jnum(json_object *o, const char *k, int64_t *v)
{
	json_object *j;
	if (!json_object_object_get_ex(o, k, &j) || !json_object_is_type(j, json_type_int))
		return dk_fail("plan: missing or malformed field '%s'", k);
	*v = json_object_get_int64(j);
	return 0;
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

int dk_ppc_plan_from_json(json_object *o, struct dk_ppc_plan *p)
{
	memset(p, 0, sizeof *p);
	if (!o || !json_object_is_type(o, json_type_object))
		return dk_fail("plan: not a JSON object");
	const char *arch = dk_json_get_str(o, "arch");
	if (!arch || strcmp(arch, "ppc") != 0)
		return dk_fail("plan: not a PowerPC plan");
	if (jstr(o, "name", p->name, sizeof p->name, NULL) < 0)
		return -1;
	if (!dk_name_is_safe(p->name))
		return dk_fail("plan: unsafe VM name");
	if (jstr(o, "macos", p->macos, sizeof p->macos, ALNUM) < 0 ||
	    jstr(o, "macos_version", p->version, sizeof p->version, "0123456789.") < 0 ||
	    jstr(o, "uuid", p->uuid, sizeof p->uuid, "0123456789abcdefABCDEF-") < 0 ||
	    jstr(o, "cpu", p->cpu, sizeof p->cpu, ALNUM "_.") < 0 ||
	    jstr(o, "machine", p->machine, sizeof p->machine, ALNUM "=,") < 0 ||
	    jstr(o, "boot", p->boot, sizeof p->boot, "cd") < 0 || jstr(o, "nic", p->nic, sizeof p->nic, ALNUM "-") < 0 ||
	    jstr(o, "mac", p->mac, sizeof p->mac, "0123456789abcdefABCDEF:") < 0 ||
	    jstr(o, "resolution", p->resolution, sizeof p->resolution, "0123456789x") < 0 ||
	    jstr(o, "qemu", p->qemu_path, sizeof p->qemu_path, NULL) < 0)
		return -1;
	if (!dk_ppc_release_find(p->version) || strlen(p->boot) != 1 || p->qemu_path[0] != '/')
		return dk_fail("plan: bad release, boot device or QEMU path");
	json_object *j;
	p->usb_input = json_object_object_get_ex(o, "usb_input", &j) && json_object_get_boolean(j);
	p->pci_testdev = json_object_object_get_ex(o, "pci_testdev", &j) && json_object_get_boolean(j);
	int64_t v;
	if (jnum(o, "memory_mib", &v) < 0)
		return -1;
	if (v < 64 || v > DK_PPC_MAX_MIB)
		return dk_fail("plan: memory_mib out of range");
	p->memory_mib = (uint64_t)v;
	if (jnum(o, "disk_bytes", &v) < 0)
		return -1;
	if (v <= 0)
		return dk_fail("plan: disk_bytes out of range");
	p->disk_bytes = (uint64_t)v;
	if (json_object_object_get_ex(o, "iso", &j) && j) {
		if (jstr(o, "iso", p->iso, sizeof p->iso, NULL) < 0)
			return -1;
		if (p->iso[0] != '/')
			return dk_fail("plan: iso is not an absolute path");
	}
	if (json_object_object_get_ex(o, "decisions", &j) && json_object_is_type(j, json_type_array)) {
		size_t n = json_object_array_length(j);
		for (size_t i = 0; i < n && p->n_why < DK_PPC_MAX_EXPLAIN; i++) {
			json_object *e = json_object_array_get_idx(j, i);
			const char *k = dk_json_get_str(e, "key"), *val = dk_json_get_str(e, "value"),
				   *r = dk_json_get_str(e, "reason");
			if (!k || !val || !r)
				continue;
			struct dk_plan_decision *d = &p->why[p->n_why++];
			snprintf(d->key, sizeof d->key, "%s", k);
			snprintf(d->value, sizeof d->value, "%s", val);
			snprintf(d->reason, sizeof d->reason, "%s", r);
		}
	}
	return 0;
}
