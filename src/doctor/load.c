/* The doctor's loaders: inputs from files, bundles, libvirt and the host into
 * struct dk_doctor_input. */
#include "doctor/doctor.h"
#include "image/fat32.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/plist.h"
#include "vm/vm.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DOC_MAX_INPUT (16u << 20)

void dk_doctor_vm_free(struct dk_doctor_vm *vm)
{
	free(vm->source);
	free(vm->topo_evidence);
	free(vm->cpu_model);
	dk_strv_clear(&vm->cpu_on);
	dk_strv_clear(&vm->cpu_off);
	free(vm->cpu_evidence);
	free(vm->osk);
	free(vm->balloon);
	dk_strv_clear(&vm->nics);
	free(vm->macos);
	memset(vm, 0, sizeof *vm);
}

/* QEMU feature names: "sse4.2" and "sse4-2" are "sse4_2". */
static char *feature_name(const char *s, size_t n)
{
	char *f = dk_strndup(s, n);
	for (char *p = f; *p; p++)
		if (*p == '.' || *p == '-')
			*p = '_';
	return f;
}

/* A -cpu string: "Penryn,vendor=GenuineIntel,+avx2,-rtm,topoext=on". */
static void parse_cpu(struct dk_doctor_vm *vm, const char *s)
{
	free(vm->cpu_model);
	free(vm->cpu_evidence);
	dk_strv_clear(&vm->cpu_on);
	dk_strv_clear(&vm->cpu_off);
	vm->cpu_vendor_intel = false;
	vm->cpu_evidence = dk_strdup(s);
	size_t n = strcspn(s, ",");
	vm->cpu_model = dk_strndup(s, n);
	for (const char *p = s + n; *p;) {
		p++;
		size_t len = strcspn(p, ",");
		if (len) {
			const char *eq = memchr(p, '=', len);
			if (*p == '+' || *p == '-') {
				char *f = feature_name(p + 1, len - 1);
				dk_strv_push_take(*p == '+' ? &vm->cpu_on : &vm->cpu_off, f);
			} else if (eq) {
				char *key = dk_strndup(p, (size_t)(eq - p));
				char *val = dk_strndup(eq + 1, len - (size_t)(eq - p) - 1);
				if (!strcmp(key, "vendor"))
					vm->cpu_vendor_intel = !strcmp(val, "GenuineIntel");
				else if (!strcasecmp(val, "on") || !strcasecmp(val, "true") || !strcmp(val, "1"))
					dk_strv_push_take(&vm->cpu_on, feature_name(key, strlen(key)));
				else if (!strcasecmp(val, "off") || !strcasecmp(val, "false") || !strcmp(val, "0"))
					dk_strv_push_take(&vm->cpu_off, feature_name(key, strlen(key)));
				free(key);
				free(val);
			}
		}
		p += len;
	}
}

/* Value of key= in a comma-separated option string, malloc'd; NULL absent. */
static char *opt_value(const char *s, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = s; p && *p;) {
		size_t len = strcspn(p, ",");
		if (len > kl && !strncmp(p, key, kl) && p[kl] == '=')
			return dk_strndup(p + kl + 1, len - kl - 1);
		p += len;
		if (*p == ',')
			p++;
	}
	return NULL;
}

static const char *nic_name(const char *driver)
{
	if (!strcmp(driver, "virtio-net-pci") || !strcmp(driver, "virtio-net") || !strcmp(driver, "virtio"))
		return "virtio";
	if (!strcmp(driver, "vmxnet3") || !strcmp(driver, "e1000-82545em") || !strcmp(driver, "e1000") ||
	    !strcmp(driver, "e1000e") || !strcmp(driver, "rtl8139") || !strcmp(driver, "ne2k_pci") ||
	    !strcmp(driver, "pcnet") || !strcmp(driver, "i82559er") || !strcmp(driver, "igb"))
		return driver;
	return NULL;
}

/* One QEMU option and its argument (from an argv or <qemu:commandline>). */
static void apply_arg(struct dk_doctor_vm *vm, const char *opt, const char *arg)
{
	if (!strcmp(opt, "-cpu")) {
		parse_cpu(vm, arg);
	} else if (!strcmp(opt, "-smp")) {
		char *v;
		int total = atoi(arg), s = 1, c = 0, t = 1;
		if ((v = opt_value(arg, "sockets")))
			s = atoi(v), free(v);
		if ((v = opt_value(arg, "threads")))
			t = atoi(v), free(v);
		if ((v = opt_value(arg, "cores")))
			c = atoi(v), free(v);
		if (s < 1 || t < 1)
			return;
		if (!c)
			c = total / (s * t);
		vm->sockets = s, vm->cores = c, vm->threads = t;
		free(vm->topo_evidence);
		vm->topo_evidence = dk_asprintf("-smp %s", arg);
	} else if (!strcmp(opt, "-device")) {
		size_t n = strcspn(arg, ",");
		char *drv = dk_strndup(arg, n);
		if (!strcmp(drv, "isa-applesmc")) {
			vm->applesmc = true;
			free(vm->osk);
			vm->osk = opt_value(arg, "osk");
		} else if (dk_startswith(drv, "virtio-balloon")) {
			free(vm->balloon);
			vm->balloon = dk_asprintf("-device %s", arg);
		} else if (nic_name(drv)) {
			dk_strv_push(&vm->nics, nic_name(drv));
		}
		free(drv);
	} else if (!strcmp(opt, "-balloon") && strcmp(arg, "none") != 0) {
		free(vm->balloon);
		vm->balloon = dk_asprintf("-balloon %s", arg);
	} else if (!strcmp(opt, "-nic") || (!strcmp(opt, "-net") && dk_startswith(arg, "nic"))) {
		char *m = opt_value(arg, "model");
		dk_strv_push(&vm->nics, m ? (nic_name(m) ? nic_name(m) : m) : "default");
		free(m);
	} else if (!strcmp(opt, "-global")) {
		if (!strcasecmp(arg, "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"))
			vm->pci_hotplug_off = true;
	}
}

/* Shell words of a qemu.argv file: quotes, backslashes, line continuations, # comments. */
static int split_words(const char *s, const char *source, struct dk_strv *out)
{
	struct dk_buf w = {0};
	bool in_word = false;
	while (*s) {
		char ch = *s;
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			if (in_word) {
				dk_strv_push(out, w.data ? w.data : "");
				w.len = 0;
				if (w.data)
					w.data[0] = 0;
			}
			in_word = false;
			s++;
		} else if (ch == '#' && !in_word) {
			while (*s && *s != '\n')
				s++;
		} else if (ch == '\\') {
			if (s[1] == '\n') {
				s += 2;
				continue;
			}
			if (!s[1])
				break;
			dk_buf_append(&w, s + 1, 1);
			in_word = true;
			s += 2;
		} else if (ch == '\'' || ch == '"') {
			const char *e = s + 1;
			in_word = true;
			while (*e && *e != ch) {
				if (ch == '"' && *e == '\\' && e[1])
					e++;
				dk_buf_append(&w, e, 1);
				e++;
			}
			if (!*e) {
				dk_buf_free(&w);
				return dk_fail("%s: unterminated %c quote", source, ch);
			}
			s = e + 1;
		} else {
			dk_buf_append(&w, s, 1);
			in_word = true;
			s++;
		}
	}
	if (in_word)
		dk_strv_push(out, w.data ? w.data : "");
	dk_buf_free(&w);
	return 0;
}

int dk_doctor_parse_argv(const char *text, const char *source, struct dk_doctor_vm *vm)
{
	memset(vm, 0, sizeof *vm);
	vm->source = dk_strdup(source);
	struct dk_strv w = {0};
	if (split_words(text, source, &w) < 0) {
		dk_strv_clear(&w);
		dk_doctor_vm_free(vm);
		return -1;
	}
	/* skip "exec", "env", VAR=value before the program */
	size_t start = 0;
	while (start < w.n && (!strcmp(w.v[start], "exec") || !strcmp(w.v[start], "env") ||
			       (strchr(w.v[start], '=') && w.v[start][0] != '-')))
		start++;
	const char *prog = start < w.n ? w.v[start] : "";
	const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
	if (!dk_startswith(base, "qemu-system-") && !dk_startswith(base, "qemu-kvm") && strcmp(base, "kvm") != 0) {
		dk_strv_clear(&w);
		dk_doctor_vm_free(vm);
		return dk_fail("%s: not a QEMU command line (no qemu-system-* program)", source);
	}
	for (size_t i = start + 1; i + 1 < w.n; i++)
		if (w.v[i][0] == '-') {
			apply_arg(vm, w.v[i], w.v[i + 1]);
		}
	dk_strv_clear(&w);
	return 0;
}

/* ---- libvirt XML ---- */

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
			return c;
	return NULL;
}

static char *attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
	char *r = v ? dk_strdup((const char *)v) : NULL;
	xmlFree(v);
	return r;
}

static char *text_of(xmlNodePtr n)
{
	xmlChar *v = n ? xmlNodeGetContent(n) : NULL;
	char *r = v ? dk_strdup((const char *)v) : NULL;
	xmlFree(v);
	return r ? dk_strstrip(r) : NULL;
}

static int attr_int(xmlNodePtr n, const char *name, int def)
{
	char *v = attr(n, name);
	int r = def;
	if (v) {
		long x = strtol(v, NULL, 10);
		r = x < 0 ? 0 : x > 100000 ? 100000 : (int)x;
		free(v);
	}
	return r;
}

/* "macOS 15 (sequoia)" -> "sequoia"; "macOS Sonoma" -> "sonoma". */
static char *release_from_description(const char *d)
{
	const char *p = d ? strstr(d, "macOS ") : NULL;
	if (!p)
		return NULL;
	p += 6;
	const char *par = strchr(p, '(');
	if (par) {
		size_t n = strcspn(par + 1, ")");
		char *name = dk_strndup(par + 1, n);
		if (dk_macos_find(name))
			return name;
		free(name);
	}
	for (int words = 2; words >= 1; words--) {
		const char *e = p;
		for (int k = 0; k < words && *e; k++) {
			e += strcspn(e, " ,;()");
			if (k + 1 < words && *e == ' ')
				e++;
		}
		char *name = dk_strndup(p, (size_t)(e - p));
		const struct dk_macos *m = dk_macos_find(name);
		free(name);
		if (m)
			return dk_strdup(m->name);
	}
	return NULL;
}

int dk_doctor_parse_xml(const char *xml, size_t len, const char *source, struct dk_doctor_vm *vm)
{
	memset(vm, 0, sizeof *vm);
	if (len > INT_MAX)
		return dk_fail("%s: too large", source);
	xmlDocPtr d = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!d) {
		const xmlError *e = xmlGetLastError();
		return dk_fail("%s: not well-formed XML (line %d)", source, e ? e->line : 0);
	}
	xmlNodePtr dom = xmlDocGetRootElement(d);
	if (!dom || strcmp((const char *)dom->name, "domain") != 0) {
		xmlFreeDoc(d);
		return dk_fail("%s: not a libvirt domain (the root element is not <domain>)", source);
	}
	vm->source = dk_strdup(source);
	vm->xml = true;
	char *desc = text_of(child(dom, "description"));
	vm->macos = release_from_description(desc);
	free(desc);

	/* topology: <cpu><topology>, else <vcpu> sockets of one core */
	xmlNodePtr cpu = child(dom, "cpu"), topo = child(cpu, "topology");
	if (topo) {
		vm->sockets = attr_int(topo, "sockets", 1);
		vm->cores = attr_int(topo, "cores", 1);
		vm->threads = attr_int(topo, "threads", 1);
		vm->topo_evidence = dk_asprintf("<topology sockets=\"%d\" cores=\"%d\" threads=\"%d\"/>", vm->sockets,
						vm->cores, vm->threads);
	} else {
		char *v = text_of(child(dom, "vcpu"));
		long n = v ? strtol(v, NULL, 10) : 0;
		free(v);
		if (n > 0 && n <= 100000) {
			vm->sockets = (int)n, vm->cores = 1, vm->threads = 1;
			vm->topo_evidence = dk_asprintf("<vcpu>%ld</vcpu> without <topology>: %ld sockets", n, n);
		}
	}
	/* CPU model and features */
	if (cpu) {
		char *mode = attr(cpu, "mode");
		struct dk_buf ev = {0};
		if (mode && (!strcmp(mode, "host-passthrough") || !strcmp(mode, "host-model") || !strcmp(mode, "maximum"))) {
			vm->cpu_model = dk_strdup("host");
			dk_buf_printf(&ev, "<cpu mode=\"%s\">", mode);
		} else {
			char *m = text_of(child(cpu, "model"));
			if (m && *m) {
				vm->cpu_model = dk_strdup(m);
				dk_buf_printf(&ev, "<model>%s</model>", m);
			}
			free(m);
		}
		for (xmlNodePtr c = cpu->children; c; c = c->next) {
			if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "feature") != 0)
				continue;
			char *pol = attr(c, "policy"), *name = attr(c, "name");
			if (name) {
				bool on = !pol || !strcmp(pol, "require") || !strcmp(pol, "force");
				bool off = pol && (!strcmp(pol, "disable") || !strcmp(pol, "forbid"));
				if (on || off)
					dk_strv_push_take(on ? &vm->cpu_on : &vm->cpu_off, feature_name(name, strlen(name)));
				dk_buf_printf(&ev, "%s%s", on ? " +" : off ? " -" : " ", name);
			}
			free(pol);
			free(name);
		}
		if (ev.len)
			vm->cpu_evidence = dk_strdup(ev.data);
		dk_buf_free(&ev);
		free(mode);
	}
	/* devices */
	xmlNodePtr devs = child(dom, "devices");
	bool balloon_seen = false;
	for (xmlNodePtr c = devs ? devs->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!strcmp((const char *)c->name, "memballoon")) {
			balloon_seen = true;
			char *m = attr(c, "model");
			if (m && strcmp(m, "none") != 0)
				vm->balloon = dk_asprintf("<memballoon model=\"%s\"/>", m);
			free(m);
		} else if (!strcmp((const char *)c->name, "interface")) {
			char *m = attr(child(c, "model"), "type");
			dk_strv_push(&vm->nics, m ? m : "default");
			free(m);
		}
	}
	if (devs && !balloon_seen)
		vm->balloon = dk_strdup("no <memballoon> element: libvirt adds a virtio balloon");
	/* libvirt's own switch for the ACPI bridge hotplug */
	for (xmlNodePtr f = child(child(dom, "features"), "pci") ? child(child(dom, "features"), "pci")->children : NULL;
	     f; f = f->next)
		if (f->type == XML_ELEMENT_NODE && !strcmp((const char *)f->name, "acpi-bridge-hotplug")) {
			char *st = attr(f, "state");
			if (st && !strcmp(st, "off"))
				vm->pci_hotplug_off = true;
			free(st);
		}
	/* <qemu:commandline>: QEMU arguments that override the above */
	for (xmlNodePtr c = dom->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "commandline") != 0)
			continue;
		struct dk_strv args = {0};
		for (xmlNodePtr a = c->children; a; a = a->next)
			if (a->type == XML_ELEMENT_NODE && !strcmp((const char *)a->name, "arg")) {
				char *v = attr(a, "value");
				dk_strv_push(&args, v ? v : "");
				free(v);
			}
		for (size_t i = 0; i + 1 < args.n; i++)
			if (args.v[i][0] == '-')
				apply_arg(vm, args.v[i], args.v[i + 1]);
		dk_strv_clear(&args);
	}
	xmlFreeDoc(d);
	return 0;
}

/* ---- inputs ---- */

static int add_vm_text(struct dk_doctor_input *in, const char *text, size_t len, const char *source, bool xml)
{
	struct dk_doctor_vm vm;
	if ((xml ? dk_doctor_parse_xml(text, len, source, &vm) : dk_doctor_parse_argv(text, source, &vm)) < 0)
		return -1;
	in->vms = dk_realloc(in->vms, (in->n_vms + 1) * sizeof *in->vms);
	in->vms[in->n_vms++] = vm;
	return 0;
}

static int add_vm_file(struct dk_doctor_input *in, const char *path, bool xml)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (dk_read_file(path, &data, &len, DOC_MAX_INPUT) < 0)
		return -1;
	return add_vm_text(in, data, len, path, xml);
}

static char *plist_xml(plist_t p)
{
	char *x = NULL;
	uint32_t n = 0;
	plist_to_xml(p, &x, &n);
	return x;
}

static int add_config_data(struct dk_doctor_input *in, const char *data, size_t len, const char *source)
{
	plist_t root = NULL;
	if (dk_plist_parse(data, len, source, &root) < 0)
		return -1;
	if (plist_get_node_type(root) != PLIST_DICT) {
		plist_free(root);
		return dk_fail("%s: not a config.plist (the root is not a dictionary)", source);
	}
	/* the bundle's copy of the image's config: check it once */
	char *mine = plist_xml(root);
	for (size_t i = 0; mine && i < in->n_configs; i++) {
		char *other = plist_xml(in->configs[i].root);
		bool same = other && !strcmp(mine, other);
		if (other)
			plist_to_xml_free(other);
		if (same) {
			plist_to_xml_free(mine);
			plist_free(root);
			return 0;
		}
	}
	if (mine)
		plist_to_xml_free(mine);
	in->configs = dk_realloc(in->configs, (in->n_configs + 1) * sizeof *in->configs);
	in->configs[in->n_configs++] = (struct dk_doctor_config){dk_strdup(source), root};
	return 0;
}

static int add_config_file(struct dk_doctor_input *in, const char *path)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (dk_read_file(path, &data, &len, DOC_MAX_INPUT) < 0)
		return -1;
	return add_config_data(in, data, len, path);
}

static void add_log(struct dk_doctor_input *in, const char *source, char *text)
{
	in->logs = dk_realloc(in->logs, (in->n_logs + 1) * sizeof *in->logs);
	in->logs[in->n_logs++] = (struct dk_doctor_log){dk_strdup(source), text};
}

static int add_log_file(struct dk_doctor_input *in, const char *path)
{
	char *data = NULL;
	size_t len = 0;
	if (dk_read_file(path, &data, &len, DOC_MAX_INPUT) < 0)
		return -1;
	add_log(in, path, data);
	return 0;
}

/* EFI/OC/config.plist and the opencore-*.txt logs at the root of an OpenCore image. */
static int add_image(struct dk_doctor_input *in, const char *img)
{
	struct dk_fat_vol *vol = NULL;
	if (dk_fat_open(img, &vol) < 0)
		return -1;
	int r = -1;
	char *data = NULL;
	size_t len = 0;
	int st = dk_fat_stat(vol, "EFI/OC/config.plist", NULL);
	if (st < 0)
		goto out;
	if (st == 0) {
		if (dk_fat_read(vol, "EFI/OC/config.plist", &data, &len, DOC_MAX_INPUT) < 0) {
			dk_fail_prefix("%s", img);
			goto out;
		}
		_cleanup_free_ char *what = dk_asprintf("%s:EFI/OC/config.plist", img);
		if (add_config_data(in, data, len, what) < 0)
			goto out;
		free(data);
		data = NULL;
	}
	struct dk_fat_dirent *e = NULL;
	size_t n = 0;
	if (dk_fat_list(vol, "", &e, &n) < 0) {
		dk_fail_prefix("%s", img);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (e[i].is_dir || strncasecmp(e[i].name, "opencore-", 9) != 0 || !dk_endswith(e[i].name, ".txt"))
			continue;
		char *text = NULL;
		size_t tl = 0;
		if (dk_fat_read(vol, e[i].name, &text, &tl, DOC_MAX_INPUT) < 0) {
			dk_fail_prefix("%s", img);
			dk_fat_dirents_free(e, n);
			goto out;
		}
		_cleanup_free_ char *what = dk_asprintf("%s:%s", img, e[i].name);
		add_log(in, what, text);
	}
	dk_fat_dirents_free(e, n);
	r = 0;
out:
	free(data);
	dk_fat_close(vol);
	return r;
}

static int add_bundle(struct dk_doctor_input *in, const struct dk_doctor_opts *o, const char **macos)
{
	char *parent = dk_bundle_parent(o->dir);
	struct dk_bundle b;
	int r = dk_bundle_open(parent, o->name, &b);
	free(parent);
	if (r < 0)
		return -1;
	const struct dk_macos *os = dk_macos_find(b.plan.macos);
	*macos = os ? os->name : NULL;
	r = -1;
	_cleanup_free_ char *xml = dk_asprintf("%s/domain.xml", b.dir);
	_cleanup_free_ char *argv = dk_asprintf("%s/qemu.argv", b.dir);
	_cleanup_free_ char *cfg = dk_asprintf("%s/config.plist", b.dir);
	if (dk_path_exists(xml) && add_vm_file(in, xml, true) < 0)
		goto out;
	if (dk_path_exists(argv) && add_vm_file(in, argv, false) < 0)
		goto out;
	if (b.opencore && dk_path_exists(b.opencore) && add_image(in, b.opencore) < 0)
		goto out;
	if (dk_path_exists(cfg) && add_config_file(in, cfg) < 0)
		goto out;
	r = 0;
out:
	dk_bundle_close(&b);
	return r;
}

static int add_domain(struct dk_doctor_input *in, const char *uri, const char *name)
{
	virConnectPtr c = dk_virt_open(uri);
	if (!c)
		return -1;
	int r = -1;
	virDomainPtr d = virDomainLookupByName(c, name);
	if (!d) {
		dk_fail("libvirt %s: no domain '%s'", uri, dk_esc(name));
		goto out;
	}
	char *xml = virDomainGetXMLDesc(d, 0);
	virDomainFree(d);
	if (!xml) {
		const char *m = virGetLastErrorMessage();
		dk_fail("libvirt %s: %s: %s", uri, name, m && *m ? m : "cannot read the domain XML");
		goto out;
	}
	char *src = dk_asprintf("libvirt domain %s", name);
	r = add_vm_text(in, xml, strlen(xml), src, true);
	free(src);
	free(xml);
out:
	dk_virt_close(c);
	return r;
}

static void read_host(struct dk_doctor_host *h)
{
	memset(h, 0, sizeof *h);
	h->ignore_msrs = -1;
	char *path = dk_host_path("/proc/cpuinfo");
	char *ci = NULL;
	size_t len = 0;
	if (dk_read_file(path, &ci, &len, DOC_MAX_INPUT) == 0) {
		h->known = true;
		const char *v = strstr(ci, "vendor_id");
		if (v) {
			v += strcspn(v, ":\n");
			h->amd = *v == ':' && (strstr(v, "AuthenticAMD") == v + strspn(v, ": \t") ||
						strstr(v, "HygonGenuine") == v + strspn(v, ": \t"));
		}
	} else {
		dk_errclear();
	}
	free(ci);
	free(path);
	char *m = dk_read_host_str("/sys/module/kvm/parameters/ignore_msrs");
	if (m) {
		h->known = true;
		h->ignore_msrs = (m[0] == 'Y' || m[0] == 'y' || m[0] == '1') ? 1 : (m[0] == 'N' || m[0] == 'n' || m[0] == '0') ? 0 : -1;
		free(m);
	}
	char *cs = dk_read_host_str("/sys/devices/system/clocksource/clocksource0/current_clocksource");
	if (cs) {
		snprintf(h->clocksource, sizeof h->clocksource, "%s", cs);
		free(cs);
	}
}

int dk_doctor_load(const struct dk_doctor_opts *o, struct dk_doctor_input *in)
{
	memset(in, 0, sizeof *in);
	const char *macos = NULL;
	if (o->macos) {
		in->macos = dk_macos_find(o->macos);
		if (!in->macos)
			return dk_fail("--macos %s: not a macOS release dkvm knows", dk_esc(o->macos));
	}
	if (o->name && add_bundle(in, o, &macos) < 0)
		goto fail;
	if (o->domain && add_domain(in, o->uri, o->domain) < 0)
		goto fail;
	if (o->xml && add_vm_file(in, o->xml, true) < 0)
		goto fail;
	if (o->argv && add_vm_file(in, o->argv, false) < 0)
		goto fail;
	if (o->config && add_config_file(in, o->config) < 0)
		goto fail;
	if (o->log && add_log_file(in, o->log) < 0)
		goto fail;
	for (size_t i = 0; !macos && i < in->n_vms; i++)
		macos = in->vms[i].macos;
	if (!in->macos && macos)
		in->macos = dk_macos_find(macos);
	if (!o->no_host && (o->name || o->domain || o->xml || o->argv))
		read_host(&in->host);
	return 0;
fail:
	dk_doctor_input_free(in);
	return -1;
}

void dk_doctor_input_free(struct dk_doctor_input *in)
{
	for (size_t i = 0; i < in->n_vms; i++)
		dk_doctor_vm_free(&in->vms[i]);
	free(in->vms);
	for (size_t i = 0; i < in->n_configs; i++) {
		free(in->configs[i].source);
		plist_free(in->configs[i].root);
	}
	free(in->configs);
	for (size_t i = 0; i < in->n_logs; i++) {
		free(in->logs[i].source);
		free(in->logs[i].text);
	}
	free(in->logs);
	memset(in, 0, sizeof *in);
}
