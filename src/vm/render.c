/* Renderers: plan -> QEMU argv, plan -> libvirt domain XML (libxml2). */
#include "vm/render.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/cleanup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>

const char *dk_display_name(enum dk_display d)
{
	switch (d) {
	case DK_DISPLAY_GTK: return "gtk";
	case DK_DISPLAY_SPICE: return "spice";
	case DK_DISPLAY_VNC: return "vnc";
	default: return "none";
	}
}

int dk_display_parse(const char *s, enum dk_display *d)
{
	static const enum dk_display all[] = {DK_DISPLAY_NONE, DK_DISPLAY_GTK, DK_DISPLAY_SPICE, DK_DISPLAY_VNC};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (s && !strcmp(s, dk_display_name(all[i]))) {
			*d = all[i];
			return 0;
		}
	return dk_fail("display '%s': unknown (gtk, spice, vnc, none)", s ? s : "");
}

void dk_argv_add(struct dk_argv *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = dk_realloc(a->v, (size_t)a->cap * sizeof *a->v);
	}
	a->v[a->n++] = dk_strdup(s);
	a->v[a->n] = NULL;
}

void dk_argv_addf(struct dk_argv *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *s = dk_vasprintf(fmt, ap);
	va_end(ap);
	dk_argv_add(a, s);
}

void dk_argv_free(struct dk_argv *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof *a);
}

void dk_shell_quote(struct dk_buf *b, const char *s)
{
	bool plain = *s != '\0';
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,:/@%", *p))
			plain = false;
	if (plain) {
		dk_buf_puts(b, s);
		return;
	}
	dk_buf_puts(b, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			dk_buf_puts(b, "'\\''");
		else
			dk_buf_append(b, p, 1);
	}
	dk_buf_puts(b, "'");
}

char *dk_argv_to_shell(const struct dk_argv *a)
{
	struct dk_buf b = {0};
	for (int i = 0; i < a->n; i++) {
		/* an option and its value on one line */
		if (i > 0)
			dk_buf_puts(&b, a->v[i][0] == '-' ? " \\\n  " : " ");
		dk_shell_quote(&b, a->v[i]);
	}
	dk_buf_puts(&b, "\n");
	return b.data;
}

/* QEMU option values are comma-separated: a literal comma is doubled. */
char *dk_qemu_escape(const char *s)
{
	struct dk_buf b = {0};
	for (const char *p = s; *p; p++)
		dk_buf_puts(&b, *p == ',' ? ",," : (char[]){*p, 0});
	if (!b.data)
		return dk_strdup("");
	return b.data;
}

void dk_qemu_argv_head(struct dk_argv *a, const char *qemu, const char *name, const char *uuid)
{
	_cleanup_free_ char *n = dk_qemu_escape(name);
	dk_argv_add(a, qemu);
	dk_argv_add(a, "-name");
	dk_argv_addf(a, "guest=%s,debug-threads=on", n);
	dk_argv_add(a, "-uuid");
	dk_argv_add(a, uuid);
	dk_argv_add(a, "-nodefaults");
}

/* Display, serial console, QMP socket and pidfile: the end of every argv. */
void dk_qemu_argv_tail(struct dk_argv *a, const struct dk_vm_files *f, const struct dk_qemu_opts *o)
{
	_cleanup_free_ char *dir = dk_qemu_escape(f->dir);
	switch (o->display) {
	case DK_DISPLAY_GTK:
		dk_argv_add(a, "-display");
		dk_argv_add(a, "gtk");
		break;
	case DK_DISPLAY_SPICE:
		dk_argv_add(a, "-display");
		dk_argv_add(a, "none");
		dk_argv_add(a, "-spice");
		dk_argv_addf(a, "unix=on,addr=%s/spice.sock,disable-ticketing=on", dir);
		break;
	case DK_DISPLAY_VNC:
		dk_argv_add(a, "-display");
		dk_argv_add(a, "none");
		dk_argv_add(a, "-vnc");
		dk_argv_add(a, "127.0.0.1:0,to=99");
		break;
	default:
		dk_argv_add(a, "-display");
		dk_argv_add(a, "none");
	}
	if (o->serial_file) {
		dk_argv_add(a, "-serial");
		/* "file:" takes the rest of the value verbatim (no option parsing) */
		dk_argv_addf(a, "file:%s/serial.log", f->dir);
	}
	if (o->daemonize) {
		dk_argv_add(a, "-qmp");
		dk_argv_addf(a, "unix:%s/qmp.sock,server=on,wait=off", dir);
		dk_argv_add(a, "-pidfile");
		dk_argv_addf(a, "%s/qemu.pid", f->dir);
	}
}

/* A passthrough root port at its fixed address on pcie.0 (vm/plan.h), so
 * that the guest path of the device behind it is known. */
static void qemu_root_port(struct dk_argv *a, const struct dk_plan *p, int port)
{
	int slot, fn;
	dk_plan_port_addr(port, &slot, &fn);
	dk_argv_add(a, "-device");
	dk_argv_addf(a, "pcie-root-port,id=dkpt%d,bus=pcie.0,chassis=%d,addr=%02x.%x%s", port, port, (unsigned)slot,
		     (unsigned)fn, dk_plan_port_multifunction(p, port) ? ",multifunction=on" : "");
}

/* The evdev write-up: host input devices read by QEMU (input-linux); the
 * first (the keyboard) grabs all of them, toggled by grab_toggle. */
static void qemu_evdev(struct dk_argv *a, const struct dk_plan *p)
{
	for (int i = 0; i < p->n_evdev; i++) {
		dk_argv_add(a, "-object");
		if (i == 0)
			dk_argv_addf(a, "input-linux,id=evdev%d,evdev=%s,repeat=on,grab_all=on,grab-toggle=%s", i, p->evdev[i],
				     p->grab_toggle);
		else
			dk_argv_addf(a, "input-linux,id=evdev%d,evdev=%s", i, p->evdev[i]);
	}
}

/* A host PCI function as vfio-pci in its root port (dkpt<port>), which is
 * created before its function 0. */
/* Guest RAM as a memory backend (ram0): from hugetlbfs (hugepages) and/or
 * bound to the NUMA node the vCPUs are pinned to. Nothing when neither. */
static void qemu_memory_backend(struct dk_argv *a, const struct dk_plan *p)
{
	if (!p->hugepages && !p->numa_bind)
		return;
	char numa[48] = "";
	if (p->numa_bind)
		snprintf(numa, sizeof numa, ",host-nodes=%d,policy=bind", p->numa_node);
	dk_argv_add(a, "-object");
	if (p->hugepages)
		dk_argv_addf(a, "memory-backend-file,id=ram0,size=%lluM,mem-path=/dev/hugepages,prealloc=on%s%s",
			     (unsigned long long)p->memory_mib, numa, p->nosharepages ? ",merge=off" : "");
	else
		dk_argv_addf(a, "memory-backend-ram,id=ram0,size=%lluM%s%s", (unsigned long long)p->memory_mib, numa,
			     p->nosharepages ? ",merge=off" : "");
}

static void qemu_hostdev(struct dk_argv *a, const struct dk_plan *p, const struct dk_plan_hostdev *h)
{
	if (h->func == 0)
		qemu_root_port(a, p, h->port);
	_cleanup_free_ char *rom = dk_qemu_escape(h->rom);
	dk_argv_add(a, "-device");
	dk_argv_addf(a, "vfio-pci,host=%s,bus=dkpt%d,addr=00.%d%s%s%s", h->host, h->port, h->func,
		     h->multifunction ? ",multifunction=on" : "", h->rom[0] ? ",romfile=" : "", rom);
}

int dk_qemu_argv(const struct dk_plan *p, const struct dk_vm_files *f, const struct dk_qemu_opts *o,
		 struct dk_argv *a)
{
	memset(a, 0, sizeof *a);
	if (p->accel == DK_ACCEL_TCG && p->cpu_mode == DK_CPU_HOST)
		return dk_fail("%s: --cpu host needs KVM; TCG cannot pass the host CPU through", p->name);
	_cleanup_free_ char *code = dk_qemu_escape(p->ovmf_code);
	_cleanup_free_ char *vars = dk_qemu_escape(f->vars);
	_cleanup_free_ char *oc = dk_qemu_escape(f->opencore);
	_cleanup_free_ char *disk = dk_qemu_escape(f->disk);
	const char *cache = o->direct_io ? "none" : "writeback";

	dk_qemu_argv_head(a, p->qemu_path, p->name, p->uuid);
	dk_argv_add(a, "-machine");
	if (p->hugepages || p->numa_bind) /* guest RAM from a backend: it carries merge=off */
		dk_argv_addf(a, "q35,accel=%s,memory-backend=ram0", dk_accel_name(p->accel));
	else
		dk_argv_addf(a, "q35,accel=%s%s", dk_accel_name(p->accel), p->nosharepages ? ",mem-merge=off" : "");
	dk_argv_add(a, "-cpu");
	dk_argv_add(a, p->cpu_arg);
	dk_argv_add(a, "-smp");
	if (p->vcpus_current)
		dk_argv_addf(a, "%d,maxcpus=%d,sockets=%d,dies=%d,cores=%d,threads=%d", p->vcpus_current, p->vcpus,
			     p->sockets, p->dies, p->cores, p->threads);
	else
		dk_argv_addf(a, "%d,sockets=%d,dies=%d,cores=%d,threads=%d", p->vcpus, p->sockets, p->dies, p->cores,
			     p->threads);
	dk_argv_add(a, "-m");
	dk_argv_addf(a, "%lluM", (unsigned long long)p->memory_mib);
	qemu_memory_backend(a, p);
	if (p->iothreads) {
		dk_argv_add(a, "-object");
		dk_argv_add(a, "iothread,id=iothread1");
	}
	dk_argv_add(a, "-rtc");
	dk_argv_add(a, "base=utc,driftfix=slew");
	if (p->accel == DK_ACCEL_KVM) {
		dk_argv_add(a, "-global");
		dk_argv_add(a, "kvm-pit.lost_tick_policy=delay");
	}
	dk_argv_add(a, "-global");
	dk_argv_add(a, "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off");
	dk_argv_add(a, "-device");
	dk_argv_add(a, "isa-applesmc,osk=" DK_APPLESMC_OSK);
	dk_argv_add(a, "-drive");
	dk_argv_addf(a, "if=pflash,format=raw,unit=0,readonly=on,file=%s", code);
	dk_argv_add(a, "-drive");
	dk_argv_addf(a, "if=pflash,format=raw,unit=1,file=%s", vars);
	dk_argv_add(a, "-device");
	dk_argv_add(a, "qemu-xhci,id=xhci");
	dk_argv_add(a, "-device");
	dk_argv_add(a, "usb-kbd,bus=xhci.0");
	dk_argv_add(a, "-device");
	dk_argv_add(a, "usb-tablet,bus=xhci.0");
	qemu_evdev(a, p);
	dk_argv_add(a, "-drive");
	dk_argv_addf(a, "id=opencore,if=none,format=raw,file=%s,cache=%s,discard=unmap", oc, cache);
	/* the OpenCore image rides on the main disk's bus (SATA before Catalina, as the guide's MacPro5,1) */
	if (p->disk_bus == DK_BUS_VIRTIO) {
		dk_argv_add(a, "-device");
		dk_argv_add(a, p->iothreads ? "virtio-blk-pci,drive=opencore,bootindex=1,iothread=iothread1"
					    : "virtio-blk-pci,drive=opencore,bootindex=1");
	}
	dk_argv_add(a, "-drive");
	dk_argv_addf(a, "id=disk,if=none,format=qcow2,file=%s,cache=%s,discard=unmap", disk, cache);
	if (p->disk_bus == DK_BUS_VIRTIO) {
		dk_argv_add(a, "-device");
		dk_argv_add(a, p->iothreads ? "virtio-blk-pci,drive=disk,bootindex=2,iothread=iothread1"
					    : "virtio-blk-pci,drive=disk,bootindex=2");
	} else {
		dk_argv_add(a, "-device");
		dk_argv_add(a, "ich9-ahci,id=sata");
		dk_argv_add(a, "-device");
		dk_argv_add(a, "ide-hd,bus=sata.0,drive=opencore,bootindex=1");
		dk_argv_add(a, "-device");
		dk_argv_add(a, "ide-hd,bus=sata.1,drive=disk,bootindex=2");
	}
	dk_argv_add(a, "-netdev");
	if (p->bridge[0])
		dk_argv_addf(a, "bridge,id=net0,br=%s", p->bridge); /* through qemu-bridge-helper (/etc/qemu/bridge.conf) */
	else
		dk_argv_add(a, "user,id=net0");
	dk_argv_add(a, "-device");
	dk_argv_addf(a, "%s,netdev=net0,mac=%s", p->nic_model, p->mac);
	if (strcmp(p->video, "none") != 0) {
		dk_argv_add(a, "-device");
		dk_argv_add(a, p->video);
	}
	for (int i = 0; i < p->n_hostdev; i++)
		qemu_hostdev(a, p, &p->hostdev[i]);
	if (p->watchdog) {
		dk_argv_add(a, "-action");
		dk_argv_add(a, "watchdog=none");
	}
	dk_argv_add(a, "-boot");
	dk_argv_add(a, "menu=on");
	dk_qemu_argv_tail(a, f, o);
	return 0;
}

/* ---- libvirt XML ---- */

void dk_virt_caps_for_version(unsigned long version, struct dk_virt_caps *c)
{
	memset(c, 0, sizeof *c);
	c->version = version;
	c->kvm = true;
	c->itco_watchdog = version >= 9001000;
	/* Explicit loader + nvram without firmware='efi' is accepted by every
	 * libvirt we target; firmware autoselection is never combined with it. */
	c->firmware_efi_with_loader = false;
	c->video_vmvga = true;
	c->spice = true;
	c->has_default_network = false;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, NULL, BAD_CAST name, text ? BAD_CAST text : NULL);
}
static void prop(xmlNodePtr n, const char *k, const char *v)
{
	xmlNewProp(n, BAD_CAST k, BAD_CAST v);
}
static void propf(xmlNodePtr n, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void propf(xmlNodePtr n, const char *k, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	prop(n, k, buf);
}

/* The evdev write-up: <input type='evdev'>, the first grabbing all with the toggle (guide 8.6). */
static void xml_evdev(xmlNodePtr devs, const struct dk_plan *p)
{
	for (int i = 0; i < p->n_evdev; i++) {
		xmlNodePtr in = child(devs, "input", NULL);
		prop(in, "type", "evdev");
		xmlNodePtr src = child(in, "source", NULL);
		prop(src, "dev", p->evdev[i]);
		if (i == 0) {
			prop(src, "grab", "all");
			prop(src, "grabToggle", p->grab_toggle);
			prop(src, "repeat", "on");
		}
	}
}

/* <hugepages/>, with the page size when it is not the default 2 MiB. */
static void xml_hugepages(xmlNodePtr mb, const struct dk_plan *p)
{
	xmlNodePtr h = child(mb, "hugepages", NULL);
	if (p->hugepage_mib) {
		xmlNodePtr pg = child(h, "page", NULL);
		propf(pg, "size", "%d", p->hugepage_mib);
		prop(pg, "unit", "MiB");
	}
}

/* <numatune><memory mode='strict' nodeset='N'/></numatune>: guest RAM on the
 * NUMA node the vCPUs are pinned to. */
static void xml_numatune(xmlNodePtr dom, const struct dk_plan *p)
{
	if (!p->numa_bind)
		return;
	xmlNodePtr m = child(child(dom, "numatune", NULL), "memory", NULL);
	prop(m, "mode", "strict");
	propf(m, "nodeset", "%d", p->numa_node);
}

static void disk(xmlNodePtr devs, const char *format, const char *file, const char *dev, const char *bus, int boot,
		 bool direct_io, int iothread)
{
	xmlNodePtr d = child(devs, "disk", NULL);
	prop(d, "type", "file");
	prop(d, "device", "disk");
	xmlNodePtr drv = child(d, "driver", NULL);
	prop(drv, "name", "qemu");
	prop(drv, "type", format);
	prop(drv, "cache", direct_io ? "none" : "writeback");
	prop(drv, "discard", "unmap");
	if (iothread)
		propf(drv, "iothread", "%d", iothread);
	xmlNodePtr src = child(d, "source", NULL);
	prop(src, "file", file);
	xmlNodePtr t = child(d, "target", NULL);
	prop(t, "dev", dev);
	prop(t, "bus", bus);
	xmlNodePtr b = child(d, "boot", NULL);
	propf(b, "order", "%d", boot);
}

/* A host PCI function: <hostdev> (managed: libvirt binds it to vfio-pci) in
 * the root port whose <controller> precedes its function 0. */
/* A passthrough root port at its fixed address on pcie.0 (vm/plan.h). */
static void xml_root_port(xmlNodePtr devs, const struct dk_plan *p, int port)
{
	int slot, fn;
	dk_plan_port_addr(port, &slot, &fn);
	xmlNodePtr ctl = child(devs, "controller", NULL);
	prop(ctl, "type", "pci");
	propf(ctl, "index", "%d", port);
	prop(ctl, "model", "pcie-root-port");
	xmlNodePtr ad = child(ctl, "address", NULL);
	prop(ad, "type", "pci");
	prop(ad, "domain", "0x0000");
	prop(ad, "bus", "0x00");
	propf(ad, "slot", "0x%02x", (unsigned)slot);
	propf(ad, "function", "0x%x", (unsigned)fn);
	if (dk_plan_port_multifunction(p, port))
		prop(ad, "multifunction", "on");
}

static void xml_hostdev(xmlNodePtr devs, const struct dk_plan *p, const struct dk_plan_hostdev *h)
{
	unsigned dom = 0, bus = 0, slot = 0, fn = 0;
	sscanf(h->host, "%x:%x:%x.%x", &dom, &bus, &slot, &fn);
	if (h->func == 0)
		xml_root_port(devs, p, h->port);
	xmlNodePtr hd = child(devs, "hostdev", NULL);
	prop(hd, "mode", "subsystem");
	prop(hd, "type", "pci");
	prop(hd, "managed", "yes");
	xmlNodePtr src = child(hd, "source", NULL);
	xmlNodePtr sa = child(src, "address", NULL);
	propf(sa, "domain", "0x%04x", dom);
	propf(sa, "bus", "0x%02x", bus);
	propf(sa, "slot", "0x%02x", slot);
	propf(sa, "function", "0x%x", fn);
	if (!strcmp(h->role, "gpu") && h->func == 0) {
		xmlNodePtr rom = child(hd, "rom", NULL);
		if (h->rom[0])
			prop(rom, "file", h->rom);
		else
			prop(rom, "bar", "on");
	}
	xmlNodePtr ga = child(hd, "address", NULL);
	prop(ga, "type", "pci");
	prop(ga, "domain", "0x0000");
	propf(ga, "bus", "0x%02x", h->port);
	prop(ga, "slot", "0x00");
	propf(ga, "function", "0x%x", h->func);
	if (h->multifunction)
		prop(ga, "multifunction", "on");
}

int dk_libvirt_xml(const struct dk_plan *p, const struct dk_vm_files *f, const struct dk_virt_caps *c, char **out)
{
	*out = NULL;
	bool kvm = p->accel == DK_ACCEL_KVM;
	if (kvm && !c->kvm)
		return dk_fail("%s: the libvirt connection offers no KVM domains", p->name);
	if (!kvm && p->cpu_mode == DK_CPU_HOST)
		return dk_fail("%s: --cpu host needs KVM; TCG cannot pass the host CPU through", p->name);
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain");
	xmlDocSetRootElement(doc, dom);
	prop(dom, "type", kvm ? "kvm" : "qemu");
	xmlNsPtr qns = xmlNewNs(dom, BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0", BAD_CAST "qemu");
	child(dom, "name", p->name);
	child(dom, "uuid", p->uuid);
	char desc[256];
	snprintf(desc, sizeof desc, "dkvm: %s running macOS %s (%s)", p->model, p->macos_version, p->macos);
	child(dom, "description", desc);
	char mem[32];
	snprintf(mem, sizeof mem, "%llu", (unsigned long long)p->memory_mib * 1024);
	prop(child(dom, "memory", mem), "unit", "KiB");
	prop(child(dom, "currentMemory", mem), "unit", "KiB");
	if (p->nosharepages || p->hugepages) {
		xmlNodePtr mb = child(dom, "memoryBacking", NULL);
		if (p->hugepages)
			xml_hugepages(mb, p);
		if (p->nosharepages)
			child(mb, "nosharepages", NULL);
	}
	char vc[16];
	snprintf(vc, sizeof vc, "%d", p->vcpus);
	xmlNodePtr vcpu = child(dom, "vcpu", vc);
	prop(vcpu, "placement", "static");
	if (p->vcpus_current) {
		/* the guide's fake core count: the first ones enabled, the rest hot-pluggable */
		propf(vcpu, "current", "%d", p->vcpus_current);
		xmlNodePtr vs = child(dom, "vcpus", NULL);
		for (int i = 0; i < p->vcpus; i++) {
			xmlNodePtr v = child(vs, "vcpu", NULL);
			propf(v, "id", "%d", i);
			prop(v, "enabled", i < p->vcpus_current ? "yes" : "no");
			prop(v, "hotpluggable", i == 0 ? "no" : "yes");
			if (i < p->vcpus_current)
				propf(v, "order", "%d", i + 1);
		}
	}
	if (p->iothreads)
		child(dom, "iothreads", "1");
	if (p->n_pin || (p->iothreads && p->iothread_pin[0])) {
		xmlNodePtr ct = child(dom, "cputune", NULL);
		for (int i = 0; i < p->n_pin; i++) {
			xmlNodePtr vp = child(ct, "vcpupin", NULL);
			propf(vp, "vcpu", "%d", i);
			propf(vp, "cpuset", "%d", p->pin[i]);
		}
		if (p->emulator_pin[0])
			prop(child(ct, "emulatorpin", NULL), "cpuset", p->emulator_pin);
		if (p->iothreads && p->iothread_pin[0]) {
			xmlNodePtr ip = child(ct, "iothreadpin", NULL);
			prop(ip, "iothread", "1");
			prop(ip, "cpuset", p->iothread_pin);
		}
	}
	xml_numatune(dom, p);

	xmlNodePtr os = child(dom, "os", NULL);
	if (c->firmware_efi_with_loader)
		prop(os, "firmware", "efi");
	xmlNodePtr type = child(os, "type", "hvm");
	prop(type, "arch", "x86_64");
	prop(type, "machine", "q35");
	xmlNodePtr loader = child(os, "loader", p->ovmf_code);
	prop(loader, "readonly", "yes");
	prop(loader, "type", "pflash");
	xmlNodePtr nv = child(os, "nvram", f->vars);
	prop(nv, "template", p->ovmf_vars);
	prop(child(os, "bootmenu", NULL), "enable", "yes");

	xmlNodePtr feat = child(dom, "features", NULL);
	child(feat, "acpi", NULL);
	child(feat, "apic", NULL);

	xmlNodePtr cpu = child(dom, "cpu", NULL);
	if (kvm) {
		prop(cpu, "mode", "host-passthrough");
		prop(cpu, "check", "none");
		prop(cpu, "migratable", "on");
	} else {
		prop(cpu, "mode", "custom");
		prop(cpu, "match", "exact");
		prop(cpu, "check", "none");
		/* libvirt's CPU map knows the unversioned names ("Westmere", not
		 * "Westmere-v2"); the -cpu below sets the exact model anyway. */
		char model[48];
		snprintf(model, sizeof model, "%s", p->cpu_model);
		char *v = strrchr(model, '-');
		if (v && v[1] == 'v' && v[2] >= '0' && v[2] <= '9')
			*v = '\0';
		prop(child(cpu, "model", model), "fallback", "allow");
	}
	xmlNodePtr topo = child(cpu, "topology", NULL);
	propf(topo, "sockets", "%d", p->sockets);
	propf(topo, "dies", "%d", p->dies);
	propf(topo, "cores", "%d", p->cores);
	propf(topo, "threads", "%d", p->threads);
	if (kvm)
		prop(child(cpu, "cache", NULL), "mode", "passthrough");
	if (kvm && p->topoext) {
		xmlNodePtr fe = child(cpu, "feature", NULL);
		prop(fe, "policy", "require");
		prop(fe, "name", "topoext");
	}

	xmlNodePtr clock = child(dom, "clock", NULL);
	prop(clock, "offset", "utc");
	xmlNodePtr t;
	t = child(clock, "timer", NULL);
	prop(t, "name", "rtc");
	prop(t, "tickpolicy", "catchup");
	t = child(clock, "timer", NULL);
	prop(t, "name", "pit");
	prop(t, "tickpolicy", "delay");
	t = child(clock, "timer", NULL);
	prop(t, "name", "hpet");
	prop(t, "present", "yes");
	if (kvm) {
		t = child(clock, "timer", NULL);
		prop(t, "name", "tsc");
		prop(t, "present", "yes");
		prop(t, "mode", "native");
	}
	child(dom, "on_poweroff", "destroy");
	child(dom, "on_reboot", "restart");
	child(dom, "on_crash", "restart");

	xmlNodePtr devs = child(dom, "devices", NULL);
	child(devs, "emulator", p->qemu_path);
	if (p->disk_bus == DK_BUS_VIRTIO) {
		disk(devs, "raw", f->opencore, "vda", "virtio", 1, true, p->iothreads ? 1 : 0);
		disk(devs, "qcow2", f->disk, "vdb", "virtio", 2, true, p->iothreads ? 1 : 0);
	} else {
		disk(devs, "raw", f->opencore, "sda", "sata", 1, true, 0);
		disk(devs, "qcow2", f->disk, "sdb", "sata", 2, true, 0);
	}
	xml_evdev(devs, p);
	xmlNodePtr usb = child(devs, "controller", NULL);
	prop(usb, "type", "usb");
	prop(usb, "model", "qemu-xhci");
	xmlNodePtr in = child(devs, "input", NULL);
	prop(in, "type", "keyboard");
	prop(in, "bus", "usb");
	in = child(devs, "input", NULL);
	prop(in, "type", "tablet");
	prop(in, "bus", "usb");
	xmlNodePtr nic = child(devs, "interface", NULL);
	if (p->bridge[0]) {
		prop(nic, "type", "bridge");
		prop(child(nic, "source", NULL), "bridge", p->bridge);
	} else if (c->has_default_network) {
		prop(nic, "type", "network");
		prop(child(nic, "source", NULL), "network", "default");
	} else {
		prop(nic, "type", "user");
	}
	prop(child(nic, "mac", NULL), "address", p->mac);
	const char *nm = !strcmp(p->nic_model, "virtio-net-pci") ? "virtio" : p->nic_model;
	prop(child(nic, "model", NULL), "type", nm);
	if (strcmp(p->video, "none") != 0) {
		xmlNodePtr g = child(devs, "graphics", NULL);
		if (c->spice) {
			prop(g, "type", "spice");
			prop(child(g, "listen", NULL), "type", "none");
		} else {
			prop(g, "type", "vnc");
			prop(g, "autoport", "yes");
			prop(g, "listen", "127.0.0.1");
		}
		xmlNodePtr v = child(devs, "video", NULL);
		xmlNodePtr m = child(v, "model", NULL);
		bool vmvga = !strcmp(p->video, "vmware-svga") && c->video_vmvga;
		prop(m, "type", vmvga ? "vmvga" : "vga");
		prop(m, "vram", "16384");
		prop(m, "heads", "1");
		prop(m, "primary", "yes");
	} else {
		prop(child(child(devs, "video", NULL), "model", NULL), "type", "none");
	}
	for (int i = 0; i < p->n_hostdev; i++)
		xml_hostdev(devs, p, &p->hostdev[i]);
	xmlNodePtr ser = child(devs, "serial", NULL);
	prop(ser, "type", "pty");
	if (p->watchdog && c->itco_watchdog) {
		xmlNodePtr w = child(devs, "watchdog", NULL);
		prop(w, "model", "itco");
		prop(w, "action", "none");
	}
	prop(child(devs, "memballoon", NULL), "model", "none");

	/* What libvirt cannot express natively. */
	xmlNodePtr qc = xmlNewChild(dom, qns, BAD_CAST "commandline", NULL);
	const char *args[] = {"-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
			      "-device", "isa-applesmc,osk=" DK_APPLESMC_OSK,
			      "-cpu", p->cpu_arg};
	for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
		prop(xmlNewChild(qc, qns, BAD_CAST "arg", NULL), "value", args[i]);

	xmlChar *buf = NULL;
	int len = 0;
	xmlDocDumpFormatMemoryEnc(doc, &buf, &len, "UTF-8", 1);
	xmlFreeDoc(doc);
	if (!buf)
		return dk_fail("%s: cannot serialize the domain XML", p->name);
	/* Drop the XML declaration: libvirt's own files have none. */
	const char *s = (const char *)buf;
	if (!strncmp(s, "<?xml", 5)) {
		const char *e = strchr(s, '\n');
		s = e ? e + 1 : s;
	}
	*out = dk_strdup(s);
	xmlFree(buf);
	return 0;
}
