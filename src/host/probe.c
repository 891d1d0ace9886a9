/* Host probes through the sysroot: CPU, topology, memory, KVM, IOMMU, distro,
 * bootloader, QEMU and firmware files, libvirt groups. */
#include "host/internal.h"
#include "host/users.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/paths.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

bool dk_host_has_flag(const struct dk_host *h, const char *flag)
{
	const char *f = h->cpu.flags;
	size_t l = strlen(flag);
	if (!f || !l)
		return false;
	for (const char *p = f; (p = strstr(p, flag)); p += l)
		if ((p == f || p[-1] == ' ') && (p[l] == '\0' || p[l] == ' '))
			return true;
	return false;
}

int dk_parse_cpulist(const char *s, int *out, int max)
{
	int n = 0;
	if (!s)
		return -1;
	const char *p = s;
	while (*p && isspace((unsigned char)*p))
		p++;
	if (!*p)
		return 0;
	while (*p) {
		char *end;
		if (!isdigit((unsigned char)*p))
			return -1;
		long a = strtol(p, &end, 10), b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			b = strtol(p, &end, 10);
			p = end;
		}
		if (a < 0 || b < a || b >= 65536)
			return -1;
		for (long i = a; i <= b; i++) {
			if (n >= max)
				return -1;
			out[n++] = (int)i;
		}
		if (*p == ',')
			p++;
		else if (*p && !isspace((unsigned char)*p))
			return -1;
		else
			break;
	}
	return n;
}

/* ---- /proc/cpuinfo ---- */

static void probe_cpuinfo(struct dk_host *h, int *pkg_ci, int *core_ci, int *nci)
{
	struct dk_host_cpu *c = &h->cpu;
	size_t len = 0;
	_cleanup_free_ char *d = hread_raw("/proc/cpuinfo", &len);
	*nci = 0;
	c->family = c->model = c->stepping = -1;
	if (!d) {
		const char *why = hbad_find("/proc/cpuinfo");
		copy(c->error, sizeof c->error, why ? why : "/proc/cpuinfo: missing or unreadable");
		return;
	}
	if (memchr(d, '\0', len)) {
		copy(c->error, sizeof c->error, "/proc/cpuinfo: binary data (not a cpuinfo file)");
		return;
	}
	int cur = -1;
	char *save = NULL;
	for (char *line = strtok_r(d, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *k = dk_strstrip(line), *v = dk_strstrip(colon + 1);
		if (!strcmp(k, "processor")) {
			cur = c->logical_present++;
			if (cur < DK_MAX_CPUS) {
				pkg_ci[cur] = -1;
				core_ci[cur] = -1;
				*nci = cur + 1;
			}
			continue;
		}
		if (cur < 0)
			continue;
		if (cur < DK_MAX_CPUS && !strcmp(k, "physical id"))
			pkg_ci[cur] = atoi(v);
		else if (cur < DK_MAX_CPUS && !strcmp(k, "core id"))
			core_ci[cur] = atoi(v);
		if (cur != 0)
			continue;
		if (!strcmp(k, "vendor_id"))
			copy(c->vendor_id, sizeof c->vendor_id, v);
		else if (!strcmp(k, "model name"))
			copy(c->model_name, sizeof c->model_name, v);
		else if (!strcmp(k, "cpu family"))
			c->family = atoi(v);
		else if (!strcmp(k, "model"))
			c->model = atoi(v);
		else if (!strcmp(k, "stepping"))
			c->stepping = atoi(v);
		else if (!strcmp(k, "flags") && !c->flags)
			c->flags = dk_strdup(v);
	}
	if (!strcmp(c->vendor_id, "GenuineIntel"))
		c->vendor = DK_VENDOR_INTEL;
	else if (!strcmp(c->vendor_id, "AuthenticAMD"))
		c->vendor = DK_VENDOR_AMD;
	if (c->logical_present == 0)
		copy(c->error, sizeof c->error, "/proc/cpuinfo: no 'processor' entries (truncated or not a cpuinfo file)");
	else if (!c->vendor_id[0] || !c->flags)
		copy(c->error, sizeof c->error, "/proc/cpuinfo: no vendor_id or flags line (truncated?)");
	if (!c->flags)
		c->flags = dk_strdup("");
	c->vmx = dk_host_has_flag(h, "vmx");
	c->svm = dk_host_has_flag(h, "svm");
	h->hypervisor = dk_host_has_flag(h, "hypervisor");
}

/* ---- topology ---- */

static bool is_cpu_dir(const char *n)
{
	if (strncmp(n, "cpu", 3) || !n[3])
		return false;
	for (const char *p = n + 3; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

static bool same_list(const int *a, const int *b)
{
	for (;; a++, b++) {
		if (*a != *b)
			return false;
		if (*a < 0)
			return true;
	}
}

/* NUMA nodes, and each online CPU's node from nodeN/cpulist. */
static void probe_numa(struct dk_host_cpu *c, const int *cpus, int ncpus)
{
	char **names;
	int nn = hlist("/sys/devices/system/node", &names);
	static bool seen[DK_MAX_CPUS];
	memset(seen, 0, sizeof seen);
	c->numa_nodes = 0;
	for (int i = 0; i < nn; i++) {
		const char *d = names[i] + 4;
		if (strncmp(names[i], "node", 4) || !*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 6)
			continue;
		c->numa_nodes++;
		if (atoi(d) >= DK_MAX_NUMA_NODE) /* its CPUs stay unknown */
			continue;
		_cleanup_free_ char *l = hreadf("/sys/devices/system/node/%s/cpulist", names[i]);
		static int tmp[DK_MAX_CPUS];
		int n = l && l[0] ? dk_parse_cpulist(l, tmp, DK_MAX_CPUS) : 0;
		for (int k = 0; k < n; k++)
			if (tmp[k] >= 0 && tmp[k] < DK_MAX_CPUS) {
				c->numa_node_of[tmp[k]] = atoi(d);
				seen[tmp[k]] = true;
			}
	}
	hlist_free(names, nn);
	if (c->numa_nodes == 0)
		c->numa_nodes = 1;
	c->numa_cpus_known = ncpus > 0;
	for (int i = 0; i < ncpus; i++)
		c->numa_cpus_known &= seen[cpus[i]];
	if (!c->numa_cpus_known)
		memset(c->numa_node_of, 0, sizeof c->numa_node_of);
}

static void probe_topology(struct dk_host *h, const int *pkg_ci, const int *core_ci, int nci)
{
	struct dk_host_cpu *c = &h->cpu;
	static int cpus[DK_MAX_CPUS];
	int ncpus = 0;
	char **names;
	int nn = hlist("/sys/devices/system/cpu", &names);
	for (int i = 0; i < nn; i++) {
		if (!is_cpu_dir(names[i]))
			continue;
		int id = atoi(names[i] + 3);
		if (id >= DK_MAX_CPUS)
			continue;
		/* offline CPUs have no topology */
		long long pk = hread_llf(-1, "/sys/devices/system/cpu/%s/topology/physical_package_id", names[i]);
		long long co = hread_llf(-1, "/sys/devices/system/cpu/%s/topology/core_id", names[i]);
		if (pk < 0 || co < 0)
			continue;
		c->package_id[id] = (int)pk;
		c->core_id[id] = (int)co;
		cpus[ncpus++] = id;
	}
	hlist_free(names, nn);
	c->topo_from_sysfs = ncpus > 0;
	if (!ncpus) {
		/* fall back to cpuinfo's physical id / core id, else one core per CPU */
		for (int i = 0; i < nci; i++) {
			c->package_id[i] = pkg_ci[i] >= 0 ? pkg_ci[i] : 0;
			c->core_id[i] = core_ci[i] >= 0 ? core_ci[i] : i;
			cpus[ncpus++] = i;
		}
	}
	c->logical = ncpus;
	/* cpus[] is in version order (cpu2 < cpu10) so ascending */
	int npk = 0, pks[256];
	c->cores = 0;
	c->threads_per_core = ncpus ? 1 : 0;
	for (int i = 0; i < ncpus; i++) {
		int id = cpus[i];
		bool seen = false;
		for (int k = 0; k < npk; k++)
			seen |= pks[k] == c->package_id[id];
		if (!seen && npk < 256)
			pks[npk++] = c->package_id[id];
		int first = id, count = 0;
		for (int j = 0; j < ncpus; j++) {
			int o = cpus[j];
			if (c->package_id[o] == c->package_id[id] && c->core_id[o] == c->core_id[id]) {
				if (count++ == 0)
					first = o;
			}
		}
		c->sibling_of[id] = first;
		if (first == id)
			c->cores++;
		if (count > c->threads_per_core)
			c->threads_per_core = count;
	}
	c->sockets = npk;
	c->smt = c->threads_per_core > 1;

	/* L3 domains */
	for (int i = 0; i < ncpus && c->n_l3 < 64; i++) {
		int id = cpus[i];
		char **idx, cdir[96];
		snprintf(cdir, sizeof cdir, "/sys/devices/system/cpu/cpu%d/cache", id);
		int ni = hlist(cdir, &idx);
		for (int k = 0; k < ni; k++) {
			if (strncmp(idx[k], "index", 5))
				continue;
			long long lvl = hread_llf(-1, "/sys/devices/system/cpu/cpu%d/cache/%s/level", id, idx[k]);
			if (lvl != 3)
				continue;
			_cleanup_free_ char *l = hreadf("/sys/devices/system/cpu/cpu%d/cache/%s/shared_cpu_list", id, idx[k]);
			int tmp[DK_MAX_CPUS];
			int n = dk_parse_cpulist(l, tmp, DK_MAX_CPUS - 1);
			if (n <= 0)
				continue;
			tmp[n] = -1;
			bool dup = false;
			for (int d = 0; d < c->n_l3; d++)
				dup |= same_list(c->l3_cpus[d], tmp);
			if (!dup && c->n_l3 < 64) {
				c->l3_cpus[c->n_l3] = dk_malloc(sizeof(int) * (size_t)(n + 1));
				memcpy(c->l3_cpus[c->n_l3], tmp, sizeof(int) * (size_t)(n + 1));
				c->n_l3++;
			}
		}
		hlist_free(idx, ni);
	}

	probe_numa(c, cpus, ncpus);

	/* hybrid */
	_cleanup_free_ char *pc = hread("/sys/devices/cpu_core/cpus");
	_cleanup_free_ char *ec = hread("/sys/devices/cpu_atom/cpus");
	if (pc && ec) {
		static int pl[DK_MAX_CPUS], el[DK_MAX_CPUS];
		int np = dk_parse_cpulist(pc, pl, DK_MAX_CPUS), ne = dk_parse_cpulist(ec, el, DK_MAX_CPUS);
		if (np > 0 && ne > 0) {
			c->hybrid = true;
			c->n_p_cpus = np;
			memcpy(c->p_cpus, pl, sizeof(int) * (size_t)np);
			for (int i = 0; i < np; i++) {
				if (pl[i] < DK_MAX_CPUS && c->sibling_of[pl[i]] == pl[i])
					c->p_cores++;
				else
					c->p_smt = true;
			}
			for (int i = 0; i < ne; i++)
				if (el[i] < DK_MAX_CPUS && c->sibling_of[el[i]] == el[i])
					c->e_cores++;
		}
	}
}

/* ---- cmdline, distro, bootloader ---- */

static bool cmdline_has(const char *cmd, const char *key, const char **val)
{
	/* find token "key" or "key=..." */
	size_t kl = strlen(key);
	for (const char *p = cmd; p && *p;) {
		while (*p == ' ')
			p++;
		const char *e = strchr(p, ' ');
		size_t tl = e ? (size_t)(e - p) : strlen(p);
		if (tl >= kl && !strncmp(p, key, kl) && (tl == kl || p[kl] == '=')) {
			if (val)
				*val = tl > kl ? p + kl + 1 : "";
			return true;
		}
		p = e;
	}
	return false;
}

static size_t tokval(const char *v, char *out, size_t n)
{
	size_t l = strcspn(v, " ");
	snprintf(out, n, "%.*s", (int)l, v);
	return l;
}

static void probe_cmdline(struct dk_host *h)
{
	_cleanup_free_ char *c = hread("/proc/cmdline");
	copy(h->cmdline, sizeof h->cmdline, c);
	const char *v;
	char val[256];
	if (cmdline_has(h->cmdline, "intel_iommu", &v)) {
		tokval(v, val, sizeof val);
		if (strstr(val, "on"))
			h->iommu.cmdline_intel_iommu_on = true;
		if (strstr(val, "off"))
			h->iommu.cmdline_intel_iommu_off = true;
	}
	if (cmdline_has(h->cmdline, "amd_iommu", &v)) {
		h->iommu.cmdline_amd_iommu = true;
		tokval(v, val, sizeof val);
		if (strstr(val, "off"))
			h->iommu.cmdline_amd_iommu_off = true;
	}
	if (cmdline_has(h->cmdline, "iommu", &v)) {
		tokval(v, val, sizeof val);
		if (!strcmp(val, "pt"))
			h->iommu.cmdline_iommu_pt = true;
		if (!strcmp(val, "off"))
			h->iommu.cmdline_iommu_off = true;
	}
	h->iommu.cmdline_acs_override = cmdline_has(h->cmdline, "pcie_acs_override", NULL);
	if (cmdline_has(h->cmdline, "isolcpus", &v))
		tokval(v, h->cpu.isolcpus, sizeof h->cpu.isolcpus);
}

static void os_release_get(const char *d, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);
	for (const char *p = d; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t l = strcspn(v, "\n");
			if (l && (*v == '"' || *v == '\'')) {
				v++;
				l -= (l >= 2 && (v[l - 2] == '"' || v[l - 2] == '\'')) ? 2 : 1;
			}
			snprintf(out, n, "%.*s", (int)l, v);
			return;
		}
	}
}

static bool word_in(const char *list, const char *w)
{
	const char *dummy;
	return cmdline_has(list, w, &dummy);
}

static void probe_distro(struct dk_host *h)
{
	_cleanup_free_ char *d = hread("/etc/os-release");
	if (!d)
		d = hread("/usr/lib/os-release");
	if (d) {
		os_release_get(d, "ID", h->distro_id, sizeof h->distro_id);
		os_release_get(d, "ID_LIKE", h->distro_like, sizeof h->distro_like);
		os_release_get(d, "PRETTY_NAME", h->distro_name, sizeof h->distro_name);
	}
	const char *id = h->distro_id;
	const char *fam = "";
	if (!strcmp(id, "arch") || word_in(h->distro_like, "arch"))
		fam = "arch";
	else if (!strcmp(id, "fedora") || !strcmp(id, "nobara") || word_in(h->distro_like, "fedora"))
		fam = "fedora";
	else if (!strcmp(id, "debian") || !strcmp(id, "ubuntu") || !strcmp(id, "linuxmint") ||
		 word_in(h->distro_like, "debian") || word_in(h->distro_like, "ubuntu"))
		fam = "debian";
	copy(h->distro_family, sizeof h->distro_family, fam);
}

static void grub_value(const char *d, const char *key, char *out, size_t n)
{
	/* last uncommented KEY=... line wins, like the shell sourcing it */
	size_t kl = strlen(key);
	for (const char *p = d; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, key, kl) || q[kl] != '=')
			continue;
		const char *v = q + kl + 1;
		size_t l = strcspn(v, "\n");
		if (l && (*v == '"' || *v == '\'')) {
			char quote = *v++;
			const char *e = memchr(v, quote, l - 1);
			l = e ? (size_t)(e - v) : l - 1;
		}
		snprintf(out, n, "%.*s", (int)l, v);
	}
}

static void probe_bootloader(struct dk_host *h)
{
	if (hexists("/etc/kernelstub/configuration")) {
		copy(h->bootloader, sizeof h->bootloader, "kernelstub");
		copy(h->bootloader_file, sizeof h->bootloader_file, "/etc/kernelstub/configuration");
		return;
	}
	_cleanup_free_ char *g = hread("/etc/default/grub");
	if (g) {
		copy(h->bootloader, sizeof h->bootloader, "grub");
		copy(h->bootloader_file, sizeof h->bootloader_file, "/etc/default/grub");
		grub_value(g, "GRUB_CMDLINE_LINUX", h->grub_cmdline, sizeof h->grub_cmdline);
		grub_value(g, "GRUB_CMDLINE_LINUX_DEFAULT", h->grub_cmdline_default, sizeof h->grub_cmdline_default);
		return;
	}
	static const char *dirs[] = {"/boot/loader", "/efi/loader", "/boot/efi/loader"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(dirs); i++) {
		char ent[128];
		snprintf(ent, sizeof ent, "%s/entries", dirs[i]);
		char **names;
		int n = hlist(ent, &names);
		if (n <= 0) {
			hlist_free(names, n);
			continue;
		}
		/* loader.conf "default" names the entry (may be a glob; match prefix) */
		_cleanup_free_ char *lc = hreadf("%s/loader.conf", dirs[i]);
		char def[128] = "";
		if (lc) {
			for (char *p = lc; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
				if (!strncmp(p, "default", 7) && (p[7] == ' ' || p[7] == '\t')) {
					const char *v = p + 7;
					while (*v == ' ' || *v == '\t')
						v++;
					snprintf(def, sizeof def, "%.*s", (int)strcspn(v, "\n*"), v);
				}
		}
		const char *pick = NULL;
		for (int k = 0; k < n; k++) {
			if (!dk_endswith(names[k], ".conf"))
				continue;
			if (!pick)
				pick = names[k];
			if (def[0] && !strncmp(names[k], def, strlen(def))) {
				pick = names[k];
				break;
			}
		}
		if (pick) {
			copy(h->bootloader, sizeof h->bootloader, "systemd-boot");
			snprintf(h->bootloader_file, sizeof h->bootloader_file, "%s/%s", ent, pick);
			_cleanup_free_ char *e = hread(h->bootloader_file);
			(void)e;
		}
		hlist_free(names, n);
		if (pick)
			return;
	}
	copy(h->bootloader, sizeof h->bootloader, "unknown");
}

/* ---- memory ---- */

/* Linux maps at most 4 PiB of physical memory (52-bit addresses, 5-level
 * paging): anything above is not a real machine. */
#define MEM_MAX_KIB (1ULL << 42)

/* A "Key: <number> kB" line of /proc/meminfo: 1 found (value in *out, its
 * text in raw), 0 absent, -1 the number is malformed or overflows. */
static int meminfo_field(const char *d, const char *key, uint64_t *out, char *raw, size_t rawn)
{
	size_t kl = strlen(key);
	*out = 0;
	snprintf(raw, rawn, "?");
	for (const char *p = d; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) || p[kl] != ':')
			continue;
		const char *v = p + kl + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t l = strcspn(v, " \t\n");
		snprintf(raw, rawn, "%.*s", (int)(l > 40 ? 40 : l), v);
		if (!l || l > 20 || strspn(v, "0123456789") != l)
			return -1;
		errno = 0;
		unsigned long long x = strtoull(v, NULL, 10);
		if (errno)
			return -1;
		*out = x;
		return 1;
	}
	return 0;
}

/* A sysfs hugepage count: 0 absent (count 0), 1 fine, -1 malformed. */
static int hp_count(const char *abs, uint64_t *out, char *raw, size_t rawn)
{
	*out = 0;
	_cleanup_free_ char *s = hread(abs);
	if (!s)
		return 0;
	snprintf(raw, rawn, "%.40s", s);
	size_t l = strlen(s);
	if (!l || l > 20 || strspn(s, "0123456789") != l)
		return -1;
	errno = 0;
	unsigned long long x = strtoull(s, NULL, 10);
	if (errno)
		return -1;
	*out = x;
	return 1;
}

static void probe_hugepages(struct dk_host *h, const char *meminfo)
{
	struct dk_host_memory *m = &h->mem;
	static const struct {
		const char *dir;
		uint64_t kib;
	} sz[] = {{"hugepages-2048kB", 2048}, {"hugepages-1048576kB", 1048576}};
	uint64_t limit = m->total_kib ? m->total_kib : MEM_MAX_KIB;
	char lim[32];
	dk_format_size(limit * 1024, lim, sizeof lim);
	bool from_sysfs = false;
	for (size_t i = 0; i < DK_ARRAY_SIZE(sz); i++) {
		uint64_t *nr = i ? &m->hugepages_1g : &m->hugepages_2m, *fr = i ? &m->hugepages_1g_free : &m->hugepages_2m_free;
		const char *names[2] = {"nr_hugepages", "free_hugepages"};
		uint64_t *vals[2] = {nr, fr};
		for (int k = 0; k < 2; k++) {
			char abs[128], raw[48];
			snprintf(abs, sizeof abs, "/sys/kernel/mm/hugepages/%s/%s", sz[i].dir, names[k]);
			int r = hp_count(abs, vals[k], raw, sizeof raw);
			from_sysfs |= r != 0;
			if (r < 0 && !m->hp_error[0])
				snprintf(m->hp_error, sizeof m->hp_error, "%s: '%s' is not a page count", abs, raw);
			else if (r > 0 && *vals[k] > limit / sz[i].kib && !m->hp_error[0])
				snprintf(m->hp_error, sizeof m->hp_error, "%s: %llu pages is not plausible (more than the %s of %s)",
					 abs, (unsigned long long)*vals[k], lim, m->total_kib ? "RAM" : "memory Linux can address");
		}
		if (*fr > *nr && !m->hp_error[0])
			snprintf(m->hp_error, sizeof m->hp_error, "/sys/kernel/mm/hugepages/%s: %llu free pages of %llu is not plausible",
				 sz[i].dir, (unsigned long long)*fr, (unsigned long long)*nr);
	}
	if (!from_sysfs && meminfo) {
		/* no sysfs: the default hugepage size's pool from /proc/meminfo */
		uint64_t tot, fr, psz;
		char rt[48], rf[48], rs[48];
		int a = meminfo_field(meminfo, "HugePages_Total", &tot, rt, sizeof rt);
		int b = meminfo_field(meminfo, "HugePages_Free", &fr, rf, sizeof rf);
		int c = meminfo_field(meminfo, "Hugepagesize", &psz, rs, sizeof rs);
		if (a < 0 || b < 0 || c < 0)
			snprintf(m->hp_error, sizeof m->hp_error, "meminfo: %s '%s' is not a number",
				 a < 0 ? "HugePages_Total" : b < 0 ? "HugePages_Free" : "Hugepagesize",
				 a < 0 ? rt : b < 0 ? rf : rs);
		else if (a > 0 && tot && (c <= 0 || (psz != 2048 && psz != 1048576)))
			snprintf(m->hp_error, sizeof m->hp_error, "meminfo: Hugepagesize %s kB is not 2048 or 1048576", c > 0 ? rs : "(missing)");
		else if (a > 0 && tot > limit / psz)
			snprintf(m->hp_error, sizeof m->hp_error,
				 "meminfo: HugePages_Total %llu is not plausible (more than the %s of %s)",
				 (unsigned long long)tot, lim, m->total_kib ? "RAM" : "memory Linux can address");
		else if (a > 0 && b > 0 && fr > tot)
			snprintf(m->hp_error, sizeof m->hp_error, "meminfo: HugePages_Free %llu is more than HugePages_Total %llu",
				 (unsigned long long)fr, (unsigned long long)tot);
		else if (a > 0 && tot) {
			*(psz == 2048 ? &m->hugepages_2m : &m->hugepages_1g) = tot;
			*(psz == 2048 ? &m->hugepages_2m_free : &m->hugepages_1g_free) = b > 0 ? fr : 0;
		}
	}
	if (m->hp_error[0])
		m->hugepages_2m = m->hugepages_2m_free = m->hugepages_1g = m->hugepages_1g_free = 0;
}

static void probe_memory(struct dk_host *h)
{
	struct dk_host_memory *m = &h->mem;
	_cleanup_free_ char *d = hread("/proc/meminfo");
	if (d) {
		char rt[48], ra[48];
		int t = meminfo_field(d, "MemTotal", &m->total_kib, rt, sizeof rt);
		int a = meminfo_field(d, "MemAvailable", &m->available_kib, ra, sizeof ra);
		if (t < 0)
			snprintf(m->error, sizeof m->error, "meminfo: MemTotal '%s' is not a number of kB", rt);
		else if (t > 0 && (m->total_kib == 0 || m->total_kib > MEM_MAX_KIB))
			snprintf(m->error, sizeof m->error, "meminfo: MemTotal %llu kB is not plausible",
				 (unsigned long long)m->total_kib);
		else if (a < 0)
			snprintf(m->error, sizeof m->error, "meminfo: MemAvailable '%s' is not a number of kB", ra);
		else if (a > 0 && t > 0 && m->available_kib > m->total_kib)
			snprintf(m->error, sizeof m->error, "meminfo: MemAvailable %llu kB is more than MemTotal %llu kB",
				 (unsigned long long)m->available_kib, (unsigned long long)m->total_kib);
		if (m->error[0])
			m->total_kib = m->available_kib = 0;
	} else if (hbad_find("/proc/meminfo")) {
		snprintf(m->error, sizeof m->error, "%s", hbad_find("/proc/meminfo"));
	}
	probe_hugepages(h, d);
}

/* ---- KVM ---- */

static int yn(const char *abs)
{
	_cleanup_free_ char *s = hread(abs);
	if (!s || !*s)
		return -1;
	if (*s == 'Y' || *s == 'y' || *s == '1')
		return 1;
	if (*s == 'N' || *s == 'n' || *s == '0')
		return 0;
	return -1;
}

static void probe_user(struct dk_host *h)
{
	const char *u = getenv("DKVM_USER");
	if (!u || !*u)
		u = getenv("SUDO_USER");
	if (!u || !*u) {
		struct passwd *pw = getpwuid(getuid());
		u = pw ? pw->pw_name : "";
	}
	copy(h->libvirt.user, sizeof h->libvirt.user, u);
	h->libvirt.user_in_libvirt = dk_users_group_lists("libvirt", u, &h->libvirt.group_libvirt_exists);
	h->libvirt.user_in_kvm = dk_users_group_lists("kvm", u, &h->libvirt.group_kvm_exists);
	/* the primary group counts too (live only: passwd is not read from snapshots) */
	if (h->live) {
		struct passwd *pw = getpwnam(u);
		if (pw) {
			struct group *g = getgrgid(pw->pw_gid);
			if (g && !strcmp(g->gr_name, "kvm"))
				h->libvirt.user_in_kvm = true;
			if (g && !strcmp(g->gr_name, "libvirt"))
				h->libvirt.user_in_libvirt = true;
		}
	}
}

static void probe_kvm(struct dk_host *h)
{
	struct dk_host_kvm *k = &h->kvm;
	k->module_loaded = hexists("/sys/module/kvm");
	k->ignore_msrs = yn("/sys/module/kvm/parameters/ignore_msrs");
	k->report_ignored_msrs = yn("/sys/module/kvm/parameters/report_ignored_msrs");
	k->nested = -1;
	if (hexists("/sys/module/kvm_intel")) {
		copy(k->vendor_module, sizeof k->vendor_module, "kvm_intel");
		k->nested = yn("/sys/module/kvm_intel/parameters/nested");
	} else if (hexists("/sys/module/kvm_amd")) {
		copy(k->vendor_module, sizeof k->vendor_module, "kvm_amd");
		k->nested = yn("/sys/module/kvm_amd/parameters/nested");
	}
	struct stat st;
	if (hstat("/dev/kvm", &st) == 0) {
		k->dev_present = true;
		k->dev_mode = st.st_mode & 07777;
		k->dev_is_chr = S_ISCHR(st.st_mode);
		if (h->live) {
			_cleanup_free_ char *p = dk_host_path("/dev/kvm");
			k->dev_access = access(p, R_OK | W_OK) == 0;
			char gname[64] = "";
			struct group *g = getgrgid(st.st_gid);
			if (g)
				copy(gname, sizeof gname, g->gr_name);
			copy(k->dev_group, sizeof k->dev_group, gname);
		} else {
			/* a snapshot: judge by the mode bits and the kvm group membership */
			/* snapshots lose device ownership: assume the udev default (group kvm) */
			copy(k->dev_group, sizeof k->dev_group, "kvm");
			bool other = (k->dev_mode & 06) == 06;
			bool grp = (k->dev_mode & 060) == 060 && h->libvirt.user_in_kvm;
			bool root = !strcmp(h->libvirt.user, "root") && (k->dev_mode & 0600) == 0600;
			k->dev_access = other || grp || root;
		}
	}
	if (!h->live)
		snprintf(k->detail, sizeof k->detail, "not run: reading a snapshot (--sysroot), not this machine");
	else if (!k->dev_present)
		snprintf(k->detail, sizeof k->detail, "not run: /dev/kvm is missing");
	else if (!k->dev_access)
		snprintf(k->detail, sizeof k->detail, "not run: /dev/kvm is not accessible to this user");
}

/* ---- IOMMU ---- */

static void probe_iommu(struct dk_host *h)
{
	char **names;
	int n = hlist("/sys/class/iommu", &names);
	h->iommu.units = n > 0 ? n : 0;
	h->iommu.irq_remapping = -1;
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *ecap = hreadf("/sys/class/iommu/%s/intel-iommu/ecap", names[i]);
		unsigned long long e;
		if (ecap && sscanf(ecap, "%llx", &e) == 1) {
			int ir = (e >> 3) & 1;
			h->iommu.irq_remapping = h->iommu.irq_remapping == 0 ? 0 : ir;
		}
	}
	hlist_free(names, n);
	if (cmdline_has(h->cmdline, "intremap", NULL) || cmdline_has(h->cmdline, "nointremap", NULL)) {
		const char *v;
		if (cmdline_has(h->cmdline, "nointremap", NULL) ||
		    (cmdline_has(h->cmdline, "intremap", &v) && !strncmp(v, "off", 3)))
			h->iommu.irq_remapping = 0;
	}
	n = hlist("/sys/kernel/iommu_groups", &names);
	h->iommu.groups = 0;
	for (int i = 0; i < n; i++)
		if (isdigit((unsigned char)names[i][0]))
			h->iommu.groups++;
	hlist_free(names, n);
	h->iommu.enabled = h->iommu.groups > 0;
}

/* ---- clocksource ---- */

static void probe_clock(struct dk_host *h)
{
	_cleanup_free_ char *c = hread("/sys/devices/system/clocksource/clocksource0/current_clocksource");
	copy(h->clocksource, sizeof h->clocksource, c);
	_cleanup_free_ char *a = hread("/sys/devices/system/clocksource/clocksource0/available_clocksource");
	copy(h->clocksource_avail, sizeof h->clocksource_avail, a);
}

/* ---- QEMU binary, OVMF ---- */

static const char *qemu_paths[] = {
	"/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64",
	"/usr/libexec/qemu-kvm", "/bin/qemu-system-x86_64",
};

static bool name_is_4m(const char *p)
{
	const char *b = strrchr(p, '/');
	b = b ? b + 1 : p;
	return strstr(b, "4M") || strstr(b, "4m");
}

static bool json_has_str(json_object *arr, const char *s)
{
	if (!arr || !json_object_is_type(arr, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		const char *v = json_object_get_string(json_object_array_get_idx(arr, i));
		if (v && !strcmp(v, s))
			return true;
	}
	return false;
}

static const char *jstr(json_object *o, const char *a, const char *b)
{
	json_object *x;
	if (!json_object_object_get_ex(o, a, &x))
		return NULL;
	if (b && !json_object_object_get_ex(x, b, &x))
		return NULL;
	return json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
}

static void probe_ovmf(struct dk_host *h)
{
	struct dk_host_qemu *q = &h->qemu;
	int best = -1;
	static const char *fwdirs[] = {"/etc/qemu/firmware", "/usr/share/qemu/firmware"};
	for (size_t di = 0; di < DK_ARRAY_SIZE(fwdirs); di++) {
		char **names;
		int n = hlist(fwdirs[di], &names);
		for (int i = 0; i < n; i++) {
			if (!dk_endswith(names[i], ".json"))
				continue;
			char path[512];
			snprintf(path, sizeof path, "%s/%s", fwdirs[di], names[i]);
			_cleanup_free_ char *d = hread(path);
			if (!d)
				continue;
			json_object *o = json_tokener_parse(d);
			if (!o || !json_object_is_type(o, json_type_object)) {
				json_object_put(o);
				continue;
			}
			json_object *it = NULL, *mp = NULL, *tg = NULL, *ft = NULL;
			json_object_object_get_ex(o, "interface-types", &it);
			json_object_object_get_ex(o, "mapping", &mp);
			json_object_object_get_ex(o, "targets", &tg);
			json_object_object_get_ex(o, "features", &ft);
			const char *dev = mp ? jstr(mp, "device", NULL) : NULL;
			const char *code = mp ? jstr(mp, "executable", "filename") : NULL;
			const char *vars = mp ? jstr(mp, "nvram-template", "filename") : NULL;
			bool x86q35 = false;
			for (size_t t = 0; tg && json_object_is_type(tg, json_type_array) &&
					   t < json_object_array_length(tg); t++) {
				json_object *tt = json_object_array_get_idx(tg, t);
				const char *arch = jstr(tt, "architecture", NULL);
				json_object *m = NULL;
				json_object_object_get_ex(tt, "machines", &m);
				if (arch && !strcmp(arch, "x86_64") && m && json_object_is_type(m, json_type_array))
					for (size_t k = 0; k < json_object_array_length(m); k++) {
						const char *mm = json_object_get_string(json_object_array_get_idx(m, k));
						if (mm && strstr(mm, "q35"))
							x86q35 = true;
					}
			}
			bool ok = json_has_str(it, "uefi") && dev && !strcmp(dev, "flash") && code && vars && x86q35;
			if (ok && (!hexists(code) || !hexists(vars)))
				ok = false;
			if (ok) {
				bool sb = json_has_str(ft, "secure-boot") || json_has_str(ft, "enrolled-keys");
				bool m4 = name_is_4m(code);
				int score = (sb ? 0 : 2) + (m4 ? 1 : 0);
				if (score > best) {
					best = score;
					copy(q->ovmf_code, sizeof q->ovmf_code, code);
					copy(q->ovmf_vars, sizeof q->ovmf_vars, vars);
					copy(q->ovmf_source, sizeof q->ovmf_source, path);
					q->ovmf_4m = m4;
					q->ovmf_secboot = sb;
				}
			}
			json_object_put(o);
		}
		hlist_free(names, n);
		if (best == 3)
			return;
	}
	if (best >= 0)
		return;
	/* the guide's known paths */
	static const char *dirs[] = {"/usr/share/OVMF", "/usr/share/ovmf", "/usr/share/edk2/ovmf",
				     "/usr/share/edk2-ovmf", "/usr/share/edk2/x64", "/usr/share/qemu",
				     "/var/lib/libvirt/qemu"};
	static const char *pairs[][2] = {
		{"OVMF_CODE.4m.fd", "OVMF_VARS.4m.fd"}, {"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"},
		{"OVMF_CODE.fd", "OVMF_VARS.fd"}, {"OVMF_CODE.secboot.fd", "OVMF_VARS.fd"},
		{"OVMF_CODE.ms.fd", "OVMF_VARS.ms.fd"}, {"ovmf-x86_64-code.bin", "ovmf-x86_64-vars.bin"},
		{"ovmf-x86_64-ms-code.bin", "ovmf-x86_64-ms-vars.bin"},
	};
	for (size_t p = 0; p < DK_ARRAY_SIZE(pairs); p++)
		for (size_t d = 0; d < DK_ARRAY_SIZE(dirs); d++) {
			char c[512], v[512];
			snprintf(c, sizeof c, "%s/%s", dirs[d], pairs[p][0]);
			snprintf(v, sizeof v, "%s/%s", dirs[d], pairs[p][1]);
			if (hexists(c) && hexists(v)) {
				copy(q->ovmf_code, sizeof q->ovmf_code, c);
				copy(q->ovmf_vars, sizeof q->ovmf_vars, v);
				copy(q->ovmf_source, sizeof q->ovmf_source, "fallback path");
				q->ovmf_4m = name_is_4m(c);
				q->ovmf_secboot = strstr(c, "secboot") || strstr(c, "ms");
				return;
			}
		}
}

static void probe_qemu(struct dk_host *h)
{
	for (size_t i = 0; i < DK_ARRAY_SIZE(qemu_paths); i++)
		if (hexists(qemu_paths[i])) {
			copy(h->qemu.path, sizeof h->qemu.path, qemu_paths[i]);
			break;
		}
	probe_ovmf(h);
}

static void probe_libvirt_files(struct dk_host *h)
{
	h->libvirt.present = hexists("/usr/sbin/libvirtd") || hexists("/usr/sbin/virtqemud") ||
			     hexists("/usr/bin/libvirtd");
	h->libvirt.virt_manager = hexists("/usr/bin/virt-manager");
}

int dk_host_probe(struct dk_host *h)
{
	memset(h, 0, sizeof *h);
	hbad_reset();
	h->live = dk_sysroot_is_live();
	static int pkg_ci[DK_MAX_CPUS], core_ci[DK_MAX_CPUS];
	int nci = 0;
	probe_cpuinfo(h, pkg_ci, core_ci, &nci);
	probe_cmdline(h);
	probe_topology(h, pkg_ci, core_ci, nci);
	probe_memory(h);
	probe_distro(h);
	probe_bootloader(h);
	probe_user(h);
	probe_kvm(h);
	probe_iommu(h);
	probe_clock(h);
	probe_qemu(h);
	probe_libvirt_files(h);
	dk_host_probe_qemu_user(h);
	if (h->live)
		dk_host_probe_live(h);
	size_t nb;
	char *const *bad = hbad_list(&nb);
	struct dk_buf b = {0};
	for (size_t i = 0; i < nb; i++)
		dk_buf_printf(&b, "%s%s", i ? "\n" : "", bad[i]);
	copy(h->refused, sizeof h->refused, b.data);
	dk_buf_free(&b);
	h->n_refused = (int)nb;
	if (h->cpu.error[0])
		return dk_fail("%s", h->cpu.error);
	return 0;
}

int dk_host_probe_cpu(struct dk_host *h)
{
	memset(h, 0, sizeof *h);
	hbad_reset();
	h->live = dk_sysroot_is_live();
	static int pkg_ci[DK_MAX_CPUS], core_ci[DK_MAX_CPUS];
	int nci = 0;
	probe_cpuinfo(h, pkg_ci, core_ci, &nci);
	if (h->cpu.error[0])
		return dk_fail("%s", h->cpu.error);
	return 0;
}

void dk_host_free(struct dk_host *h)
{
	free(h->cpu.flags);
	h->cpu.flags = NULL;
	free(h->vm_dir);
	h->vm_dir = NULL;
	for (int i = 0; i < h->cpu.n_l3; i++) {
		free(h->cpu.l3_cpus[i]);
		h->cpu.l3_cpus[i] = NULL;
	}
	h->cpu.n_l3 = 0;
}
