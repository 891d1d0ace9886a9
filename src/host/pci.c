/* PCI devices, IOMMU groups and passthrough viability. */
#include "host/pci.h"
#include "host/internal.h"
#include "host/gpu.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"

#include <json-c/json.h>
#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool dk_pci_class_ignored(uint32_t cc)
{
	uint32_t sub = cc >> 8;
	return sub == 0x0600 || sub == 0x0601 || sub == 0x0604 || sub == 0x1300 || sub == 0x1080;
}

static int parse_bdf(const char *s, unsigned *d, unsigned *b, unsigned *sl, unsigned *f)
{
	unsigned dd = 0, bb, ss, ff;
	int n = 0;
	if (sscanf(s, "%x:%x:%x.%x%n", &dd, &bb, &ss, &ff, &n) == 4 && s[n] == '\0')
		goto ok;
	dd = 0;
	n = 0;
	if (sscanf(s, "%x:%x.%x%n", &bb, &ss, &ff, &n) == 3 && s[n] == '\0')
		goto ok;
	return -1;
ok:
	if (dd > 0xffff || bb > 0xff || ss > 0x1f || ff > 7)
		return -1;
	*d = dd, *b = bb, *sl = ss, *f = ff;
	return 0;
}

int dk_pci_find(const struct dk_pci *p, const char *bdf)
{
	unsigned d, b, s, f;
	if (parse_bdf(bdf, &d, &b, &s, &f) < 0)
		return -1;
	for (int i = 0; i < p->ndev; i++) {
		const struct dk_pci_dev *x = &p->devs[i];
		if (x->domain == d && x->bus == b && x->slot == s && x->func == f)
			return i;
	}
	return -1;
}

static unsigned hexf(const char *dev, const char *attr, unsigned def)
{
	_cleanup_free_ char *s = hreadf("/sys/bus/pci/devices/%s/%s", dev, attr);
	unsigned v;
	return s && hex_u32(s, &v) == 0 ? v : def;
}

/* libpci reports fatal errors through a non-returning callback */
static jmp_buf pci_jmp;
static void pci_err(char *msg, ...) __attribute__((noreturn));
static void pci_err(char *msg, ...)
{
	(void)msg;
	longjmp(pci_jmp, 1);
}
static void pci_warn(char *msg, ...) { (void)msg; }

static char *lookup(struct pci_access *pa, int flags, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, flags);
	int a = va_arg(ap, int), b = va_arg(ap, int), c = va_arg(ap, int), d = va_arg(ap, int);
	va_end(ap);
	char *r = pci_lookup_name(pa, buf, sizeof buf, flags | PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB, a, b, c, d);
	return r ? dk_strdup(r) : NULL;
}

/* libpci opens the name list itself (blocking): only a readable regular file
 * of sane size is handed to it, never a FIFO or device. */
static bool ids_usable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (64 << 20) && access(path, R_OK) == 0;
}

static void name_devices(struct dk_pci *p)
{
	const char *cands[] = {"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids"};
	free(p->ids_file);
	p->ids_file = NULL;
	for (size_t i = 0; i < DK_ARRAY_SIZE(cands) && !p->ids_file; i++) {
		char *sp = dk_host_path(cands[i]);
		if (ids_usable(sp))
			p->ids_file = sp;
		else
			free(sp);
	}
	for (size_t i = 0; i < DK_ARRAY_SIZE(cands) && !p->ids_file; i++)
		if (ids_usable(cands[i]))
			p->ids_file = dk_strdup(cands[i]);
	if (!p->ids_file)
		return;
	struct pci_access *pa = pci_alloc();
	if (!pa)
		return;
	pa->error = pci_err;
	pa->warning = pci_warn;
	pa->debug = pci_warn;
	pci_set_name_list_path(pa, p->ids_file, 0);
	if (setjmp(pci_jmp) == 0) {
		for (int i = 0; i < p->ndev; i++) {
			struct dk_pci_dev *d = &p->devs[i];
			d->vendor_name = lookup(pa, PCI_LOOKUP_VENDOR, d->vendor, 0, 0, 0);
			d->name = lookup(pa, PCI_LOOKUP_DEVICE, d->vendor, d->device, 0, 0);
			d->class_name = lookup(pa, PCI_LOOKUP_CLASS, (int)(d->class_code >> 8), 0, 0, 0);
			if (d->sub_vendor || d->sub_device)
				d->sub_name = lookup(pa, PCI_LOOKUP_SUBSYSTEM | PCI_LOOKUP_DEVICE, d->vendor, d->device,
						     d->sub_vendor, d->sub_device);
		}
	}
	pci_cleanup(pa);
}

static void judge(struct dk_pci *p, struct dk_iommu_group *g)
{
	int first = -1;
	struct dk_buf others = {0};
	int n_ign = 0;
	for (int i = 0; i < g->ndev; i++) {
		const struct dk_pci_dev *d = &p->devs[g->devs[i]];
		if (d->ignored) {
			n_ign++;
			continue;
		}
		if (first < 0) {
			first = g->devs[i];
			continue;
		}
		const struct dk_pci_dev *f = &p->devs[first];
		if (d->domain != f->domain || d->bus != f->bus || d->slot != f->slot)
			dk_buf_printf(&others, "%s%s [%04x]", others.len ? ", " : "", d->bdf, d->class_code >> 8);
	}
	dk_buf_puts(&others, "");
	if (first < 0) {
		g->viable = false;
		snprintf(g->reason, sizeof g->reason, "only bridges: nothing to pass through");
	} else if (others.len) {
		g->viable = false;
		snprintf(g->reason, sizeof g->reason, "shared with other devices: %s; they would all go to the guest together",
			 others.data);
	} else {
		g->viable = true;
		snprintf(g->reason, sizeof g->reason, "isolated%s", n_ign ? " (bridges beside it are ignored)" : "");
	}
	dk_buf_free(&others);
}

int dk_pci_scan(struct dk_pci *p)
{
	memset(p, 0, sizeof *p);
	char **names;
	int n = hlist("/sys/bus/pci/devices", &names);
	if (n < 0)
		n = 0;
	p->devs = dk_calloc((size_t)n + 1, sizeof *p->devs);
	for (int i = 0; i < n; i++) {
		struct dk_pci_dev *d = &p->devs[p->ndev];
		if (parse_bdf(names[i], &d->domain, &d->bus, &d->slot, &d->func) < 0)
			continue;
		snprintf(d->bdf, sizeof d->bdf, "%04x:%02x:%02x.%x", d->domain, d->bus, d->slot, d->func);
		d->class_code = hexf(names[i], "class", 0xffffff) & 0xffffff;
		d->vendor = (uint16_t)hexf(names[i], "vendor", 0xffff);
		d->device = (uint16_t)hexf(names[i], "device", 0xffff);
		d->sub_vendor = (uint16_t)hexf(names[i], "subsystem_vendor", 0);
		d->sub_device = (uint16_t)hexf(names[i], "subsystem_device", 0);
		char path[256];
		snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver", names[i]);
		_cleanup_free_ char *drv = hreadlink_base(path);
		snprintf(d->driver, sizeof d->driver, "%s", drv ? drv : "");
		snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/boot_vga", names[i]);
		d->boot_vga = (int)hread_llf(-1, "%s", path);
		_cleanup_free_ char *rm = hreadf("/sys/bus/pci/devices/%s/reset_method", names[i]);
		snprintf(d->reset_method, sizeof d->reset_method, "%s", rm ? rm : "");
		snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/iommu_group", names[i]);
		_cleanup_free_ char *grp = hreadlink_base(path);
		d->group = grp ? atoi(grp) : -1;
		d->ignored = dk_pci_class_ignored(d->class_code);
		d->audio_pair = -1;
		p->ndev++;
	}
	hlist_free(names, n);
	/* the group directory is authoritative when a device lacks its link */
	n = hlist("/sys/kernel/iommu_groups", &names);
	for (int i = 0; i < n; i++) {
		char *end;
		long id = strtol(names[i], &end, 10);
		if (*end || id < 0)
			continue;
		char dir[128], **devs;
		snprintf(dir, sizeof dir, "/sys/kernel/iommu_groups/%s/devices", names[i]);
		int nd = hlist(dir, &devs);
		for (int k = 0; k < nd; k++) {
			int idx = dk_pci_find(p, devs[k]);
			if (idx >= 0 && p->devs[idx].group < 0)
				p->devs[idx].group = (int)id;
		}
		hlist_free(devs, nd);
		p->groups = dk_realloc(p->groups, (size_t)(p->ngroups + 1) * sizeof *p->groups);
		struct dk_iommu_group *g = &p->groups[p->ngroups++];
		memset(g, 0, sizeof *g);
		g->id = (int)id;
	}
	hlist_free(names, n);
	for (int gi = 0; gi < p->ngroups; gi++) {
		struct dk_iommu_group *g = &p->groups[gi];
		g->devs = dk_calloc((size_t)p->ndev + 1, sizeof(int));
		for (int i = 0; i < p->ndev; i++)
			if (p->devs[i].group == g->id)
				g->devs[g->ndev++] = i;
		judge(p, g);
	}
	for (int i = 0; i < p->ndev; i++) {
		struct dk_pci_dev *d = &p->devs[i];
		if ((d->class_code >> 16) != 0x03)
			continue;
		for (int k = 0; k < p->ndev; k++) {
			struct dk_pci_dev *a = &p->devs[k];
			if (a->domain == d->domain && a->bus == d->bus && a->slot == d->slot && a->func == 1 &&
			    (a->class_code >> 8) == 0x0403)
				d->audio_pair = k;
		}
	}
	name_devices(p);
	return 0;
}

void dk_pci_free(struct dk_pci *p)
{
	for (int i = 0; i < p->ndev; i++) {
		free(p->devs[i].name);
		free(p->devs[i].vendor_name);
		free(p->devs[i].class_name);
		free(p->devs[i].sub_name);
	}
	for (int i = 0; i < p->ngroups; i++)
		free(p->groups[i].devs);
	free(p->devs);
	free(p->groups);
	free(p->ids_file);
	memset(p, 0, sizeof *p);
}

static void add_id(struct dk_buf *b, const struct dk_pci_dev *d)
{
	char id[16];
	snprintf(id, sizeof id, "%04x:%04x", d->vendor, d->device);
	/* no duplicates (identical functions share an ID) */
	const char *list = b->data ? b->data + strlen("vfio-pci.ids=") : "";
	for (const char *q = list; b->data && (q = strstr(q, id)); q += 9)
		if ((q == list || q[-1] == ',') && (q[9] == ',' || q[9] == '\0'))
			return;
	if (!b->len)
		dk_buf_puts(b, "vfio-pci.ids=");
	else
		dk_buf_puts(b, ",");
	dk_buf_puts(b, id);
}

char *dk_pci_vfio_ids(const struct dk_pci *p, const char *bdf)
{
	int i = dk_pci_find(p, bdf);
	if (i < 0) {
		dk_fail("%s: no such PCI device", bdf);
		return NULL;
	}
	const struct dk_pci_dev *d = &p->devs[i];
	if (d->ignored) {
		dk_fail("%s: a bridge (class %04x) is never passed through", d->bdf, d->class_code >> 8);
		return NULL;
	}
	struct dk_buf b = {0};
	/* the device's own functions in function order, then the rest of its group */
	for (unsigned fn = 0; fn < 8; fn++)
		for (int k = 0; k < p->ndev; k++) {
			const struct dk_pci_dev *o = &p->devs[k];
			if (o->domain == d->domain && o->bus == d->bus && o->slot == d->slot && o->func == fn && !o->ignored)
				add_id(&b, o);
		}
	for (int k = 0; k < p->ndev; k++) {
		const struct dk_pci_dev *o = &p->devs[k];
		bool same_slot = o->domain == d->domain && o->bus == d->bus && o->slot == d->slot;
		bool same_group = d->group >= 0 && o->group == d->group;
		if (k != i && !o->ignored && (same_slot || same_group))
			add_id(&b, o);
	}
	dk_buf_puts(&b, "");
	return b.data;
}

static json_object *dev_json(const struct dk_pci *p, const struct dk_pci_dev *d)
{
	char s[32];
	json_object *o = json_object_new_object();
	json_object_object_add(o, "bdf", dk_json_str(d->bdf));
	snprintf(s, sizeof s, "0x%06x", d->class_code);
	json_object_object_add(o, "class", dk_json_str(s));
	snprintf(s, sizeof s, "0x%04x", d->vendor);
	json_object_object_add(o, "vendor", dk_json_str(s));
	snprintf(s, sizeof s, "0x%04x", d->device);
	json_object_object_add(o, "device", dk_json_str(s));
	snprintf(s, sizeof s, "0x%04x", d->sub_vendor);
	json_object_object_add(o, "subsystem_vendor", dk_json_str(s));
	snprintf(s, sizeof s, "0x%04x", d->sub_device);
	json_object_object_add(o, "subsystem_device", dk_json_str(s));
	json_object_object_add(o, "driver", dk_json_str(d->driver[0] ? d->driver : NULL));
	json_object_object_add(o, "name", dk_json_str(d->name));
	json_object_object_add(o, "vendor_name", dk_json_str(d->vendor_name));
	json_object_object_add(o, "class_name", dk_json_str(d->class_name));
	json_object_object_add(o, "subsystem_name", dk_json_str(d->sub_name));
	json_object_object_add(o, "boot_vga", d->boot_vga < 0 ? NULL : json_object_new_boolean(d->boot_vga));
	json_object *rm = json_object_new_array();
	char tmp[128];
	snprintf(tmp, sizeof tmp, "%s", d->reset_method);
	char *save = NULL;
	for (char *t = strtok_r(tmp, " ", &save); t; t = strtok_r(NULL, " ", &save))
		json_object_array_add(rm, json_object_new_string(t));
	json_object_object_add(o, "reset_methods", rm);
	json_object_object_add(o, "ignored", json_object_new_boolean(d->ignored));
	json_object_object_add(o, "audio_function", d->audio_pair >= 0 ? dk_json_str(p->devs[d->audio_pair].bdf) : NULL);
	if ((d->class_code >> 16) == 0x03)
		json_object_object_add(o, "gpu", dk_gpu_json(d->vendor, d->device));
	return o;
}

json_object *dk_gpu_json(uint16_t vendor, uint16_t device)
{
	const struct dk_gpu_family *g = dk_gpu_lookup(vendor, device);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "family", dk_json_str(g ? g->family : NULL));
	json_object_object_add(o, "supported", json_object_new_boolean(g && g->supported));
	json_object_object_add(o, "macos_range", dk_json_str(g ? g->range : "not in the guide's GPU chart"));
	json_object_object_add(o, "macos_min", dk_json_str(g && g->supported ? g->min_macos : NULL));
	json_object_object_add(o, "macos_max", dk_json_str(g && g->supported ? g->max_macos : NULL));
	json_object_object_add(o, "kext", dk_json_str(dk_gpu_kext(g)));
	json_object_object_add(o, "boot_args", dk_json_str(g && g->supported ? g->boot_args : ""));
	json_object_object_add(o, "device_id_spoof", dk_json_str(dk_gpu_spoof(g, device)));
	json_object_object_add(o, "notes", dk_json_str(g ? g->notes : NULL));
	return o;
}

json_object *dk_pci_device_json(const struct dk_pci *p, int i, const char *ids)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "device", dk_json_str(p->devs[i].bdf));
	json_object_object_add(o, "group", p->devs[i].group >= 0 ? json_object_new_int(p->devs[i].group) : NULL);
	bool viable = false;
	for (int g = 0; g < p->ngroups; g++)
		if (p->groups[g].id == p->devs[i].group)
			viable = p->groups[g].viable;
	json_object_object_add(o, "viable", json_object_new_boolean(viable));
	json_object_object_add(o, "vfio_pci_ids", dk_json_str(ids));
	return o;
}

json_object *dk_pci_json(const struct dk_pci *p)
{
	json_object *root = json_object_new_object();
	json_object *gs = json_object_new_array();
	for (int gi = 0; gi < p->ngroups; gi++) {
		const struct dk_iommu_group *g = &p->groups[gi];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int(g->id));
		json_object_object_add(o, "viable", json_object_new_boolean(g->viable));
		json_object_object_add(o, "reason", dk_json_str(g->reason));
		json_object *ds = json_object_new_array();
		for (int i = 0; i < g->ndev; i++)
			json_object_array_add(ds, dev_json(p, &p->devs[g->devs[i]]));
		json_object_object_add(o, "devices", ds);
		json_object_array_add(gs, o);
	}
	json_object_object_add(root, "groups", gs);
	json_object *un = json_object_new_array();
	for (int i = 0; i < p->ndev; i++)
		if (p->devs[i].group < 0)
			json_object_array_add(un, dev_json(p, &p->devs[i]));
	json_object_object_add(root, "ungrouped", un);
	json_object_object_add(root, "iommu_enabled", json_object_new_boolean(p->ngroups > 0));
	json_object_object_add(root, "ids_file", dk_json_str(p->ids_file));
	return root;
}
