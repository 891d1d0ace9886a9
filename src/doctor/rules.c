/* The doctor's rules: a data table and pure checks over the parsed inputs. */
#include "doctor/doctor.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OSK "ourhardworkbythesewordsguardedpleasedontsteal(c)AppleComputerInc"

const struct dk_doctor_rule dk_doctor_rules[] = {
	/* VM definition */
	{"topology-cores", DK_DOC_ERROR, "the core count is a power of two (guide: the guest won't boot otherwise)",
	 "use a power-of-two core count: <topology sockets=\"1\" cores=\"4\" threads=\"2\"/> or -smp 8,sockets=1,cores=4,threads=2"},
	{"topology-threads", DK_DOC_ERROR, "at most 2 threads per core",
	 "set threads to 1 or 2 (<topology ... threads=\"2\"/>, -smp ...,threads=2)"},
	{"topology-sockets", DK_DOC_ERROR, "one socket",
	 "put every core on one socket: <topology sockets=\"1\" .../>, -smp N,sockets=1,..."},
	{"amd-vendor", DK_DOC_ERROR, "on an AMD host the guest CPU says vendor=GenuineIntel",
	 "add vendor=GenuineIntel to -cpu (libvirt: <qemu:arg value=\"-cpu\"/><qemu:arg value=\"MODEL,vendor=GenuineIntel,...\"/>)"},
	{"amd-topoext", DK_DOC_WARNING, "on an AMD host with 2 threads per core the CPU has topoext",
	 "add <feature policy=\"require\" name=\"topoext\"/> to <cpu> (or +topoext to -cpu)"},
	{"cpu-isa", DK_DOC_ERROR, "the CPU model has the instructions the release needs (src/smbios/macos.c: SSE4.2 from Mojave, AVX2 from Ventura)",
	 "use a CPU model with them (Haswell-noTSX or newer for Ventura+), or add the flag: -cpu MODEL,+avx2"},
	{"applesmc", DK_DOC_ERROR, "an isa-applesmc device with Apple's OSK",
	 "-device isa-applesmc,osk=" OSK " (libvirt: two <qemu:arg> in <qemu:commandline>)"},
	{"memballoon", DK_DOC_WARNING, "no memory balloon (macOS has no balloon driver)",
	 "<memballoon model=\"none\"/> (QEMU: drop -device virtio-balloon*)"},
	{"nic-model", DK_DOC_WARNING, "a NIC macOS has a driver for: virtio-net Big Sur+, vmxnet3 El Capitan+, e1000-82545em always",
	 "<model type=\"virtio\"/> (Big Sur+), vmxnet3 (Catalina), e1000-82545em (older)"},
	{"pci-hotplug", DK_DOC_WARNING, "ACPI PCI hotplug with bridges off (guide: boot problems on QEMU >= 6.1)",
	 "-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off (libvirt: two <qemu:arg> in <qemu:commandline>)"},
	/* config.plist */
	{"secureboot-model", DK_DOC_ERROR, "Misc/Security/SecureBootModel is Disabled for releases before High Sierra (Apple Secure Boot needs 10.13.6+)",
	 "config.plist: Misc/Security/SecureBootModel = Disabled (or dkvm opencore config --macos RELEASE)"},
	{"dmgloading-any", DK_DOC_ERROR, "DmgLoading Any only with SecureBootModel Disabled (OpenCore refuses it otherwise)",
	 "config.plist: Misc/Security/SecureBootModel = Disabled, or DmgLoading = Signed"},
	{"dmgloading-signed", DK_DOC_WARNING, "Sonoma+ recovery on KVM: DmgLoading Any with SecureBootModel Disabled (OS.dmg.root_hash fails otherwise)",
	 "config.plist: Misc/Security/DmgLoading = Any and SecureBootModel = Disabled (dkvm opencore config --macos RELEASE does this)"},
	{"kext-kernel-range", DK_DOC_WARNING, "enabled Kernel/Add entries whose MinKernel/MaxKernel include the release's kernel",
	 "config.plist: widen Kernel/Add MaxKernel (e.g. 29.99.99) or use a newer kext"},
	{"shared-serial", DK_DOC_ERROR, "PlatformInfo/Generic serial and MLB are not the well-known shared ones (OSX-KVM, Docker-OSX, ULTMOS, Sample.plist)",
	 "dkvm smbios generate --model MODEL, then set PlatformInfo/Generic SystemSerialNumber, MLB, ROM, SystemUUID"},
	/* host */
	{"ignore-msrs", DK_DOC_ERROR, "kvm ignore_msrs is on (macOS reads MSRs KVM does not emulate)",
	 "echo 1 | sudo tee /sys/module/kvm/parameters/ignore_msrs; persist: options kvm ignore_msrs=1 report_ignored_msrs=0 in /etc/modprobe.d/kvm.conf"},
	{"clocksource", DK_DOC_WARNING, "AMD host + Ventura or later: the host clocksource is tsc (else the guest freezes)",
	 "echo tsc | sudo tee /sys/devices/system/clocksource/clocksource0/current_clocksource; persist: tsc=reliable clocksource=tsc on the kernel command line"},
	/* OpenCore log */
	{"log-security-violation", DK_DOC_ERROR, "OpenCore log: LoadImage failed - Security Violation (Apple Secure Boot refused the image)",
	 "config.plist: Misc/Security/SecureBootModel = Disabled (and DmgLoading = Any for a Sonoma+ recovery)"},
	{"log-driver-missing", DK_DOC_ERROR, "OpenCore log: a UEFI/Drivers entry whose file is not in EFI/OC/Drivers",
	 "copy the driver into EFI/OC/Drivers/ or remove its UEFI/Drivers entry (dkvm opencore validate --image IMG lists them)"},
	{"log-kext-inject", DK_DOC_ERROR, "OpenCore log: a Kernel/Add kext failed to inject",
	 "check the kext's BundlePath/ExecutablePath and that it is in EFI/OC/Kexts/ (dkvm opencore validate)"},
	{"log-schema", DK_DOC_WARNING, "OpenCore log: config.plist keys this OpenCore version does not know",
	 "rebuild config.plist from this release's Sample.plist: dkvm opencore config --sample Docs/Sample.plist ..."},
	{"log-halt", DK_DOC_ERROR, "OpenCore log: halted on a critical error (a config.plist OpenCore refuses)",
	 "dkvm opencore validate --image IMG (or --config config.plist) and fix what it reports"},
	{"log-root-hash", DK_DOC_ERROR, "OpenCore log: OS.dmg.root_hash (a Sonoma+ recovery with DmgLoading Signed)",
	 "config.plist: Misc/Security/DmgLoading = Any and SecureBootModel = Disabled"},
};
const size_t dk_doctor_n_rules = sizeof dk_doctor_rules / sizeof dk_doctor_rules[0];

const char *dk_doctor_sev_name(enum dk_doctor_sev s)
{
	return s == DK_DOC_ERROR ? "error" : s == DK_DOC_WARNING ? "warning" : "info";
}

const struct dk_doctor_rule *dk_doctor_rule(const char *id)
{
	for (size_t i = 0; id && i < dk_doctor_n_rules; i++)
		if (!strcmp(dk_doctor_rules[i].id, id))
			return &dk_doctor_rules[i];
	return NULL;
}

/* fix NULL: the rule's own. */
static void add(struct dk_findings *f, const char *id, const char *source, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void add(struct dk_findings *f, const char *id, const char *source, const char *fix, const char *fmt, ...)
{
	const struct dk_doctor_rule *r = dk_doctor_rule(id);
	if (!r)
		abort(); /* a check naming a rule the table lacks: a bug caught by the unit test */
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->v = dk_realloc(f->v, f->cap * sizeof *f->v);
	}
	va_list ap;
	va_start(ap, fmt);
	struct dk_finding *x = &f->v[f->n++];
	x->id = r->id;
	x->severity = r->severity;
	x->source = dk_strdup(source);
	x->evidence = dk_vasprintf(fmt, ap);
	x->fix = dk_strdup(fix ? fix : r->fix);
	va_end(ap);
	if (r->severity == DK_DOC_ERROR)
		f->errors++;
	else if (r->severity == DK_DOC_WARNING)
		f->warnings++;
}

void dk_findings_free(struct dk_findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].source);
		free(f->v[i].evidence);
		free(f->v[i].fix);
	}
	free(f->v);
	memset(f, 0, sizeof *f);
}

json_object *dk_findings_to_json(const struct dk_findings *f)
{
	json_object *j = json_object_new_object(), *a = json_object_new_array();
	for (size_t i = 0; i < f->n; i++) {
		const struct dk_finding *x = &f->v[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(x->id));
		json_object_object_add(o, "severity", json_object_new_string(dk_doctor_sev_name(x->severity)));
		json_object_object_add(o, "source", dk_json_str(x->source));
		json_object_object_add(o, "evidence", dk_json_str(x->evidence));
		json_object_object_add(o, "fix", dk_json_str(x->fix));
		json_object_array_add(a, o);
	}
	json_object_object_add(j, "findings", a);
	json_object_object_add(j, "errors", json_object_new_int(f->errors));
	json_object_object_add(j, "warnings", json_object_new_int(f->warnings));
	return j;
}

/* ---- VM definition ---- */

static bool pow2(int n) { return n > 0 && (n & (n - 1)) == 0; }
static int pow2_floor(int n)
{
	int p = 1;
	while (p * 2 <= n)
		p *= 2;
	return p;
}

/* ISA level of QEMU's named CPU models: 0 none of the release ISA, 1 SSSE3,
 * 2 +SSE4.1, 3 +SSE4.2, 4 +AVX2; -1 unknown (not judged). */
static int model_level(const char *m)
{
	static const struct { const char *prefix; int level; } t[] = {
		{"host", 9}, {"max", 9},
		{"qemu64", 0}, {"kvm64", 0}, {"qemu32", 0}, {"kvm32", 0}, {"pentium", 0}, {"486", 0},
		{"athlon", 0}, {"phenom", 0}, {"coreduo", 0}, {"n270", 1},
		{"Opteron_G1", 0}, {"Opteron_G2", 0}, {"Opteron_G3", 0}, {"Opteron_G4", 3}, {"Opteron_G5", 3},
		{"core2duo", 1}, {"Conroe", 1}, {"Penryn", 2}, {"Nehalem", 3}, {"Westmere", 3},
		{"SandyBridge", 3}, {"IvyBridge", 3}, {"Snowridge", 3},
		{"Haswell", 4}, {"Broadwell", 4}, {"Skylake", 4}, {"Cascadelake", 4}, {"Cooperlake", 4},
		{"Icelake", 4}, {"SapphireRapids", 4}, {"GraniteRapids", 4}, {"SierraForest", 4},
		{"EPYC", 4}, {"Dhyana", 4}, {"YongFeng", 4},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (!strncasecmp(m, t[i].prefix, strlen(t[i].prefix)))
			return t[i].level;
	return -1;
}

static int isa_level(const char *flag)
{
	static const char *const lv[] = {"lm", "ssse3", "sse4_1", "sse4_2", "avx2"};
	for (int i = 0; i < 5; i++)
		if (!strcmp(flag, lv[i]))
			return i == 0 ? 0 : i;
	return -1;
}

static void check_cpu_isa(const struct dk_doctor_vm *vm, const struct dk_macos *os, struct dk_findings *f)
{
	if (!vm->cpu_model || !os)
		return;
	int lvl = model_level(vm->cpu_model);
	if (lvl < 0 || lvl == 9)
		return;
	struct dk_strv miss = {0};
	for (int i = 0; i < 6 && os->isa[i]; i++) {
		const char *flag = os->isa[i];
		int need = isa_level(flag);
		if (need < 0)
			continue;
		bool have = need <= lvl;
		if (dk_strv_contains(vm->cpu_on.v, flag))
			have = true;
		if (dk_strv_contains(vm->cpu_off.v, flag))
			have = false;
		if (!have)
			dk_strv_push(&miss, flag);
	}
	if (miss.n) {
		char *m = dk_strv_join(miss.v, ", ");
		add(f, "cpu-isa", vm->source, NULL, "CPU %s lacks %s, which macOS %s (%s) needs", vm->cpu_evidence, m,
		    os->version, os->name);
		free(m);
	}
	dk_strv_clear(&miss);
}

static void check_nic(const struct dk_doctor_vm *vm, const struct dk_macos *os, struct dk_findings *f)
{
	if (!os)
		return;
	const char *want = os->darwin >= 20 ? "virtio" : os->darwin >= 19 ? "vmxnet3" : "e1000-82545em";
	for (size_t i = 0; i < vm->nics.n; i++) {
		const char *m = vm->nics.v[i];
		bool ok = !strcmp(m, "e1000-82545em") || (!strcmp(m, "vmxnet3") && os->darwin >= 15) ||
			  (!strcmp(m, "virtio") && os->darwin >= 20);
		if (ok)
			continue;
		char *fix = vm->xml ? dk_asprintf("<interface>: <model type=\"%s\"/>", want)
				    : dk_asprintf("-device %s,netdev=...", !strcmp(want, "virtio") ? "virtio-net-pci" : want);
		add(f, "nic-model", vm->source, fix, "NIC model %s: macOS %s (%s) has no driver for it", m, os->version,
		    os->name);
		free(fix);
	}
}

static void check_vm(const struct dk_doctor_vm *vm, const struct dk_doctor_input *in, struct dk_findings *f)
{
	const struct dk_macos *os = in->macos;
	if (vm->sockets > 0 && vm->cores > 0 && vm->threads > 0) {
		int t = vm->threads > 2 ? 2 : vm->threads;
		int c = pow2_floor(vm->sockets * vm->cores);
		char *fix = vm->xml ? dk_asprintf("<topology sockets=\"1\" dies=\"1\" cores=\"%d\" threads=\"%d\"/> and <vcpu>%d</vcpu>",
						  c, t, c * t)
				    : dk_asprintf("-smp %d,sockets=1,cores=%d,threads=%d", c * t, c, t);
		if (!pow2(vm->cores))
			add(f, "topology-cores", vm->source, fix, "%d cores (%s): not a power of two", vm->cores,
			    vm->topo_evidence);
		if (vm->threads > 2)
			add(f, "topology-threads", vm->source, fix, "%d threads per core (%s)", vm->threads,
			    vm->topo_evidence);
		if (vm->sockets > 1)
			add(f, "topology-sockets", vm->source, fix, "%d sockets (%s)", vm->sockets, vm->topo_evidence);
		free(fix);
	}
	if (in->host.known && in->host.amd) {
		if (!vm->cpu_vendor_intel)
			add(f, "amd-vendor", vm->source, NULL, "AMD host, CPU %s without vendor=GenuineIntel",
			    vm->cpu_evidence ? vm->cpu_evidence : "(default)");
		if (vm->threads == 2 && !dk_strv_contains(vm->cpu_on.v, "topoext"))
			add(f, "amd-topoext", vm->source, NULL, "AMD host, 2 threads per core, CPU %s without topoext",
			    vm->cpu_evidence ? vm->cpu_evidence : "(default)");
	}
	check_cpu_isa(vm, os, f);
	if (!vm->applesmc)
		add(f, "applesmc", vm->source, NULL, "no isa-applesmc device");
	else if (!vm->osk)
		add(f, "applesmc", vm->source, NULL, "isa-applesmc without osk=");
	else if (strcmp(vm->osk, OSK) != 0)
		add(f, "applesmc", vm->source, NULL, "isa-applesmc osk=%s is not Apple's key", vm->osk);
	if (vm->balloon)
		add(f, "memballoon", vm->source, NULL, "%s", vm->balloon);
	check_nic(vm, os, f);
	if (!vm->pci_hotplug_off)
		add(f, "pci-hotplug", vm->source, NULL, "no -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off");
}

/* ---- config.plist ---- */

static plist_t pl_get(plist_t root, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	plist_t cur = root;
	for (char *save = NULL, *k = strtok_r(buf, "/", &save); k && cur; k = strtok_r(NULL, "/", &save)) {
		if (plist_get_node_type(cur) != PLIST_DICT)
			return NULL;
		cur = plist_dict_get_item(cur, k);
	}
	return cur;
}

/* The string at path (copied into buf), NULL when absent or not a string. */
static const char *pl_str(plist_t root, const char *path, char *buf, size_t n)
{
	plist_t p = pl_get(root, path);
	if (!p || plist_get_node_type(p) != PLIST_STRING)
		return NULL;
	char *s = NULL;
	plist_get_string_val(p, &s);
	if (!s)
		return NULL;
	snprintf(buf, n, "%s", s);
	free(s);
	return buf;
}

static bool pl_true(plist_t dict, const char *key)
{
	plist_t p = plist_get_node_type(dict) == PLIST_DICT ? plist_dict_get_item(dict, key) : NULL;
	uint8_t b = 0;
	if (p && plist_get_node_type(p) == PLIST_BOOLEAN)
		plist_get_bool_val(p, &b);
	return b != 0;
}

/* Darwin major of "22.99.99"; -1 for "" or junk. */
static int kernel_major(const char *s)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	long v = strtol(s, NULL, 10);
	return v > 99 ? 99 : (int)v;
}

static const struct { const char *value, *what; } shared_ids[] = {
	{"C02FPBZPHX87", "OSX-KVM's shared serial"},
	{"C02119700QXJG36JC", "OSX-KVM's shared MLB"},
	{"C02TM2ZBHX87", "Docker-OSX's stock image serial"},
	{"C07W10D9JYVX", "ULTMOS/OneClick's shared serial"},
	{"W00000000001", "OpenCore Sample.plist's placeholder serial"},
	{"M0000000000000001", "OpenCore Sample.plist's placeholder MLB"},
};

static void check_config(const struct dk_doctor_config *c, const struct dk_macos *os, struct dk_findings *f)
{
	char sbm_b[64], dl_b[64];
	const char *sbm = pl_str(c->root, "Misc/Security/SecureBootModel", sbm_b, sizeof sbm_b);
	const char *dl = pl_str(c->root, "Misc/Security/DmgLoading", dl_b, sizeof dl_b);
	bool sb_on = sbm && strcmp(sbm, "Disabled") != 0;
	if (os && sb_on && os->darwin < 17)
		add(f, "secureboot-model", c->source, NULL, "Misc/Security/SecureBootModel = %s with macOS %s (%s)", sbm,
		    os->version, os->name);
	if (dl && !strcmp(dl, "Any") && sb_on)
		add(f, "dmgloading-any", c->source, NULL, "Misc/Security/DmgLoading = Any with SecureBootModel = %s", sbm);
	else if (os && os->darwin >= 23 && dl && strcmp(dl, "Any") != 0)
		add(f, "dmgloading-signed", c->source, NULL, "Misc/Security/DmgLoading = %s with macOS %s (%s)", dl,
		    os->version, os->name);

	plist_t kadd = pl_get(c->root, "Kernel/Add");
	if (os && kadd && plist_get_node_type(kadd) == PLIST_ARRAY) {
		uint32_t n = plist_array_get_size(kadd);
		for (uint32_t i = 0; i < n; i++) {
			plist_t e = plist_array_get_item(kadd, i);
			if (!e || plist_get_node_type(e) != PLIST_DICT || !pl_true(e, "Enabled"))
				continue;
			char bp[256], mx[64], mn[64];
			const char *path = pl_str(e, "BundlePath", bp, sizeof bp);
			const char *maxk = pl_str(e, "MaxKernel", mx, sizeof mx);
			const char *mink = pl_str(e, "MinKernel", mn, sizeof mn);
			int hi = kernel_major(maxk), lo = kernel_major(mink);
			if (hi >= 0 && hi < os->darwin)
				add(f, "kext-kernel-range", c->source, NULL,
				    "Kernel/Add[%u] %s: MaxKernel %s excludes macOS %s (%s, kernel %d)", i,
				    path ? path : "?", maxk, os->version, os->name, os->darwin);
			else if (lo > os->darwin)
				add(f, "kext-kernel-range", c->source, NULL,
				    "Kernel/Add[%u] %s: MinKernel %s excludes macOS %s (%s, kernel %d)", i,
				    path ? path : "?", mink, os->version, os->name, os->darwin);
		}
	}

	static const char *const keys[] = {"PlatformInfo/Generic/SystemSerialNumber", "PlatformInfo/Generic/MLB"};
	for (size_t k = 0; k < 2; k++) {
		char b[128];
		const char *v = pl_str(c->root, keys[k], b, sizeof b);
		for (size_t i = 0; v && i < sizeof shared_ids / sizeof shared_ids[0]; i++)
			if (!strcasecmp(v, shared_ids[i].value))
				add(f, "shared-serial", c->source, NULL, "%s = %s (%s)", keys[k], v, shared_ids[i].what);
	}
}

/* ---- OpenCore log ---- */

#define LOG_MAX_PER_RULE 5

static const char *log_rule(const char *line)
{
	if (strstr(line, " - Security Violation"))
		return "log-security-violation";
	const char *d = strstr(line, "OC: Driver ");
	if (d && strstr(d, " cannot be found"))
		return "log-driver-missing";
	const char *p = strstr(line, "OC: Prelinked injection ");
	if (!p)
		p = strstr(line, "OC: Cacheless injection ");
	if (!p)
		p = strstr(line, "OC: Mkext injection ");
	if (p && strstr(p, ") - ") && !strstr(p, " - Success"))
		return "log-kext-inject";
	if (strstr(line, "OCS: No schema for "))
		return "log-schema";
	if (strstr(line, "Halting on critical error"))
		return "log-halt";
	if (strstr(line, "root_hash"))
		return "log-root-hash";
	return NULL;
}

static void check_log(const struct dk_doctor_log *l, struct dk_findings *f)
{
	int count[64] = {0};
	const char *s = l->text;
	while (s && *s) {
		const char *e = strchr(s, '\n');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		char line[512];
		size_t n = len < sizeof line - 1 ? len : sizeof line - 1;
		memcpy(line, s, n);
		line[n] = 0;
		while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
			line[--n] = 0;
		const char *id = log_rule(line);
		if (id) {
			size_t ri = (size_t)(dk_doctor_rule(id) - dk_doctor_rules);
			bool dup = false;
			for (size_t i = 0; i < f->n; i++)
				if (f->v[i].id == dk_doctor_rules[ri].id && !strcmp(f->v[i].source, l->source) &&
				    !strcmp(f->v[i].evidence, line))
					dup = true;
			if (!dup && ri < 64 && count[ri]++ < LOG_MAX_PER_RULE)
				add(f, id, l->source, NULL, "%s", line);
		}
		s = e ? e + 1 : NULL;
	}
}

/* ---- host ---- */

static void check_host(const struct dk_doctor_input *in, struct dk_findings *f)
{
	const struct dk_doctor_host *h = &in->host;
	if (!h->known)
		return;
	if (h->ignore_msrs == 0)
		add(f, "ignore-msrs", "host", NULL, "/sys/module/kvm/parameters/ignore_msrs = N");
	if (h->amd && in->macos && in->macos->darwin >= 22 && h->clocksource[0] && strcmp(h->clocksource, "tsc") != 0)
		add(f, "clocksource", "host", NULL,
		    "AMD host, macOS %s (%s), /sys/devices/system/clocksource/clocksource0/current_clocksource = %s",
		    in->macos->version, in->macos->name, h->clocksource);
}

int dk_doctor_run(const struct dk_doctor_input *in, struct dk_findings *out)
{
	memset(out, 0, sizeof *out);
	if (!in)
		return dk_fail("doctor: no input");
	for (size_t i = 0; i < in->n_vms; i++)
		check_vm(&in->vms[i], in, out);
	for (size_t i = 0; i < in->n_configs; i++)
		check_config(&in->configs[i], in->macos, out);
	for (size_t i = 0; i < in->n_logs; i++)
		check_log(&in->logs[i], out);
	check_host(in, out);
	return 0;
}
