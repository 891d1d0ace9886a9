/* dkvm wizard: the DarwinKVM.sh main menu's walk (host report, IOMMU table,
 * create, passthrough, start) as numbered questions read one plain line at a
 * time. UI only: every fact, check, plan and the create itself come from
 * libdkvm, exactly as the commands they stand for.
 *
 * Terminal rules: no line wider than 79 columns (long lines wrap), output
 * longer than a 24-line screen pauses ("-- more --") when stdin is a
 * terminal, `q` quits at any prompt and end of input aborts (exit 1). */
#include "cli/cli.h"
#include "host/host.h"
#include "host/pci.h"
#include "smbios/macos.h"
#include "vm/vm.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define WZ_COLS 79  /* widest line */
#define WZ_PAGE 21  /* lines between pauses: a 24-line screen less the prompt */
#define WZ_STEPS 5

static const struct dk_opt wizard_opts[] = {
	{"dry-run", 'n', NULL, "walk every step and print the commands; create nothing", NULL, 0},
	{"dir", 'D', "DIR", "parent directory of bundles (default $XDG_DATA_HOME/dkvm)", DK_C_DIR, 0},
	{"sysroot", 0, "DIR", "host facts from DIR (global; e.g. an unpacked host report)", DK_C_DIR,
	 DK_OPT_GLOBAL},
	{"no-color", 0, NULL, "no colors (global option; also NO_COLOR=1)", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_wizard = {
	.head = "usage: dkvm wizard [--dry-run] [--dir DIR] [--sysroot DIR]\n"
		"\n"
		"Walk the DarwinKVM guide's main menu interactively: 1) the host check's\n"
		"summary (failures with their fixes), 2) the IOMMU table (GPUs and their\n"
		"groups), 3) the VM: name, macOS release and Mac model among those this host\n"
		"can run, vCPUs and memory (the plan's defaults), disk size, QEMU directly or\n"
		"libvirt, 4) a GPU to pass through (recorded: prints the 'dkvm host iommu\n"
		"--device' command), 5) start it or not. Then it prints the equivalent command\n"
		"lines and asks before creating. Answers are numbers (or values) on a line;\n"
		"Enter takes the default shown in brackets, q quits at any prompt. 'dkvm'\n"
		"alone on a terminal starts the wizard.\n",
	.opts = wizard_opts,
	.tail = "Examples:\n"
		"  dkvm wizard\n"
		"  dkvm wizard --dry-run --sysroot ./host-report-box-2026-01-01\n"
		"\n"
		"Exit status: 0 done (or declined at the end), 1 failure, quit or end of input,\n"
		"2 usage error.\n",
	.operands = NULL,
};

struct wz {
	bool tty;     /* stdin is a terminal: pause long output */
	bool quit;    /* q, or end of input */
	int lines;    /* printed since the last prompt */
	bool dry_run;
	const char *dir;
	/* what the host is */
	struct dk_facts facts;
	bool have_facts;
	char *facts_error;
	struct dk_pci pci;
	bool have_pci;
	int gpus[64], n_gpus; /* indices into pci.devs */
	/* the answers */
	char name[201];
	const struct dk_macos *os;
	const struct dk_vm_profile *prof;
	int cpus;
	uint64_t memory, disk;
	const char *uri; /* NULL: QEMU directly */
	int gpu;         /* index into pci.devs, -1 none */
	bool start;
};

/* ---- output ---- */

/* Columns a string takes: escape sequences none, UTF-8 one per character. */
static size_t cols_of(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\033') {
			while (i < n && s[i] != 'm')
				i++;
			continue;
		}
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	}
	return c;
}

/* "-- more --" between screens of output; sets w->quit on q or end of input. */
static void more(struct wz *w)
{
	fputs("-- more: Enter goes on, q quits --", stdout);
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof line, stdin)) {
		w->quit = true;
		fputs("\n", stdout);
		return;
	}
	if (!strchr(line, '\n')) {
		int c;
		while ((c = getchar()) != EOF && c != '\n')
			;
	}
	if (line[0] == 'q' || line[0] == 'Q')
		w->quit = true;
	w->lines = 0;
}

static void emit(struct wz *w, const char *s, size_t n)
{
	if (w->quit)
		return;
	if (w->tty && w->lines >= WZ_PAGE) {
		more(w);
		if (w->quit)
			return;
	}
	fwrite(s, 1, n, stdout);
	fputc('\n', stdout);
	w->lines++;
}

/* One line of text, wrapped at WZ_COLS at spaces; continuation lines are
 * indented two more than the line. */
static void emit_wrapped(struct wz *w, const char *s, size_t n)
{
	size_t indent = strspn(s, " ");
	if (indent > 40 || indent >= n)
		indent = 0;
	indent += 2;
	char pad[64];
	memset(pad, ' ', indent);
	if (!n)
		emit(w, "", 0);
	bool first = true;
	while (n) {
		struct dk_buf line = {0};
		if (!first)
			dk_buf_append(&line, pad, indent);
		size_t room = WZ_COLS - (first ? 0 : indent);
		if (cols_of(s, n) <= room) {
			dk_buf_append(&line, s, n);
			emit(w, line.data, line.len);
			dk_buf_free(&line);
			return;
		}
		/* the longest prefix that fits, cut at its last space if there is one */
		size_t i = 0, c = 0, cut = 0;
		while (i < n) {
			size_t j = i + 1;
			if (s[i] == '\033') {
				while (j < n && s[j - 1] != 'm')
					j++;
			} else {
				while (j < n && ((unsigned char)s[j] & 0xc0) == 0x80)
					j++;
				if (c + 1 > room)
					break;
				c++;
			}
			if (s[i] == ' ' && i > indent)
				cut = i;
			i = j;
		}
		size_t take = cut ? cut : i;
		dk_buf_append(&line, s, take);
		emit(w, line.data, line.len);
		dk_buf_free(&line);
		s += take;
		n -= take;
		while (n && *s == ' ') {
			s++;
			n--;
		}
		first = false;
	}
}

static void say(struct wz *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct wz *w, const char *fmt, ...)
{
	if (w->quit)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *text = dk_vasprintf(fmt, ap);
	va_end(ap);
	const char *p = text;
	while (*p) {
		size_t l = strcspn(p, "\n");
		emit_wrapped(w, p, l);
		p += l;
		if (*p == '\n')
			p++;
	}
	free(text);
}

/* A multi-line text (a check's fix) under a label, each line escaped. */
static void say_block(struct wz *w, const char *label, const char *text)
{
	const char *p = text;
	bool first = true;
	while (*p) {
		size_t l = strcspn(p, "\n");
		char *line = dk_strndup(p, l);
		say(w, "         %s%s\n", first ? label : "     ", dk_esc(line));
		free(line);
		first = false;
		p += l;
		if (*p == '\n')
			p++;
	}
}

static void header(struct wz *w, int step, const char *title)
{
	say(w, "\n%sStep %d of %d: %s%s\n", dk_c_bold(), step, WZ_STEPS, title, dk_c_reset());
}

/* ---- input ---- */

/* Ask: the trimmed answer in out. -1 (w->quit) on q or end of input. */
static int ask(struct wz *w, const char *prompt, char *out, size_t n)
{
	for (;;) {
		if (w->quit)
			return -1;
		fputs(prompt, stdout);
		fflush(stdout);
		w->lines = 0;
		char line[256];
		if (!fgets(line, sizeof line, stdin)) {
			fputs("\n", stdout);
			w->quit = true;
			return -1;
		}
		size_t l = strlen(line);
		if (l && line[l - 1] == '\n') {
			line[--l] = '\0';
		} else if (!feof(stdin)) {
			int c;
			while ((c = getchar()) != EOF && c != '\n')
				;
			if (!w->tty)
				fputs("\n", stdout);
			w->lines++;
			say(w, "  That answer is too long (%zu characters at most); again.\n", sizeof line - 2);
			continue;
		}
		char *a = line;
		while (*a == ' ' || *a == '\t')
			a++;
		l = strlen(a);
		while (l && (a[l - 1] == ' ' || a[l - 1] == '\t' || a[l - 1] == '\r'))
			a[--l] = '\0';
		if (!w->tty) /* a transcript reads as on a terminal */
			printf("%s\n", dk_esc(a));
		w->lines++;
		if (!strcasecmp(a, "q") || !strcasecmp(a, "quit")) {
			w->quit = true;
			return -1;
		}
		snprintf(out, n, "%s", a);
		return 0;
	}
}

/* The answer, shortened for an error message. */
static const char *shown(const char *a)
{
	static char s[32];
	snprintf(s, sizeof s, "%.20s%s", a, strlen(a) > 20 ? "..." : "");
	return dk_esc(s);
}

/* A small decimal number (no sign, no hex), or -1. */
static long small_number(const char *a, long max)
{
	size_t l = strlen(a);
	if (!l || l > 6 || strspn(a, "0123456789") != l)
		return -1;
	long v = strtol(a, NULL, 10);
	return v > max ? -1 : v;
}

/* A numbered menu: the chosen index (0-based), def on Enter; -1 on quit. */
static int menu(struct wz *w, const char *question, const char *const *items, int n, int def)
{
	say(w, "%s\n", question);
	for (int i = 0; i < n; i++)
		say(w, "  %2d) %s\n", i + 1, items[i]);
	char prompt[64];
	snprintf(prompt, sizeof prompt, "Choose 1-%d [%d]: ", n, def + 1);
	for (;;) {
		char a[256];
		if (ask(w, prompt, a, sizeof a) < 0)
			return -1;
		if (!*a)
			return def;
		long v = small_number(a, n);
		if (v >= 1)
			return (int)v - 1;
		say(w, "  '%s' is not a choice: a number from 1 to %d (Enter: %d, q quits).\n", shown(a), n, def + 1);
	}
}

/* y/n: 1 yes, 0 no, -1 on quit. */
static int yesno(struct wz *w, const char *question, bool def)
{
	char prompt[160];
	snprintf(prompt, sizeof prompt, "%s [%s]: ", question, def ? "Y/n" : "y/N");
	for (;;) {
		char a[256];
		if (ask(w, prompt, a, sizeof a) < 0)
			return -1;
		if (!*a)
			return def;
		if (!strcasecmp(a, "y") || !strcasecmp(a, "yes"))
			return 1;
		if (!strcasecmp(a, "n") || !strcasecmp(a, "no"))
			return 0;
		say(w, "  '%s': answer y or n (q quits).\n", shown(a));
	}
}

/* ---- step 1: host check ---- */

static void step_host(struct wz *w)
{
	header(w, 1, "host check (dkvm host check)");
	struct dk_host *h = &w->facts.host, *own = NULL;
	if (!w->have_facts) {
		/* the facts could not be gathered: the host check's own probe says what it can */
		own = h = dk_calloc(1, sizeof *h);
		if (dk_host_probe(h) < 0)
			say(w, "  %s%s%s\n", dk_c_red(), dk_esc_msg(dk_errmsg()), dk_c_reset());
	}
	struct dk_checks cs;
	dk_host_checks(h, &cs);
	int counts[4] = {0};
	for (size_t i = 0; i < cs.n; i++)
		counts[cs.v[i].status]++;
	say(w, "%s, %s%s%s\n", dk_esc(h->distro_name[0] ? h->distro_name : "unknown distro"), h->bootloader,
	    h->live ? "" : ", snapshot ", h->live ? "" : dk_esc(dk_sysroot()));
	say(w, "%s%d passed%s, %s%d warnings%s, %s%d failed%s, %d skipped\n", dk_c_green(), counts[0], dk_c_reset(),
	    counts[1] ? dk_c_yellow() : "", counts[1], counts[1] ? dk_c_reset() : "", counts[2] ? dk_c_red() : "",
	    counts[2], counts[2] ? dk_c_reset() : "", counts[3]);
	for (size_t i = 0; i < cs.n; i++) {
		const struct dk_check *k = &cs.v[i];
		if (k->status != DK_CHECK_FAIL)
			continue;
		say(w, "  %s[FAIL]%s %s\n", dk_c_red(), dk_c_reset(), dk_esc(k->summary));
		if (k->fix)
			say_block(w, "fix: ", k->fix);
	}
	for (size_t i = 0; i < cs.n; i++)
		if (cs.v[i].status == DK_CHECK_WARN)
			say(w, "  %s[warn]%s %s\n", dk_c_yellow(), dk_c_reset(), dk_esc(cs.v[i].summary));
	say(w, "Every check with its details and fixes: dkvm host check\n");
	dk_checks_free(&cs);
	if (own) {
		dk_host_free(own);
		free(own);
	}
}

/* ---- step 2: IOMMU table ---- */

static const struct dk_iommu_group *group_of(const struct dk_pci *p, int g)
{
	for (int i = 0; i < p->ngroups; i++)
		if (p->groups[i].id == g)
			return &p->groups[i];
	return NULL;
}

static void step_iommu(struct wz *w)
{
	header(w, 2, "IOMMU groups (dkvm host iommu)");
	if (dk_pci_scan(&w->pci) < 0) {
		say(w, "  Cannot read the PCI devices: %s\n", dk_esc_msg(dk_errmsg()));
		return;
	}
	w->have_pci = true;
	const struct dk_pci *p = &w->pci;
	int viable = 0;
	for (int g = 0; g < p->ngroups; g++)
		viable += p->groups[g].viable;
	if (p->ngroups)
		say(w, "IOMMU on: %d groups, %d viable for passthrough.\n", p->ngroups, viable);
	else
		say(w, "No IOMMU groups: the IOMMU is off or unsupported, so no device can be passed through (see step 1, IOMMU).\n");
	for (int i = 0; i < p->ndev && w->n_gpus < (int)(sizeof w->gpus / sizeof w->gpus[0]); i++)
		if ((p->devs[i].class_code >> 16) == 0x03 && p->devs[i].func == 0)
			w->gpus[w->n_gpus++] = i;
	if (!w->n_gpus) {
		say(w, "No GPU found.\n");
		return;
	}
	say(w, "  %-13s %5s  %-6s  %s\n", "GPU", "group", "viable", "device");
	for (int k = 0; k < w->n_gpus; k++) {
		const struct dk_pci_dev *d = &p->devs[w->gpus[k]];
		const struct dk_iommu_group *g = group_of(p, d->group);
		char grp[16] = "-";
		if (d->group >= 0)
			snprintf(grp, sizeof grp, "%d", d->group);
		const char *v = !g ? "-" : g->viable ? "yes" : "no";
		say(w, "  %-13s %5s  %s%-6s%s  %s %s [%04x:%04x]%s\n", dk_esc(d->bdf), grp,
		    g && g->viable ? dk_c_green() : dk_c_yellow(), v, dk_c_reset(),
		    dk_esc(d->vendor_name ? d->vendor_name : ""), dk_esc(d->name ? d->name : ""), d->vendor, d->device,
		    d->boot_vga == 1 ? " (boot VGA)" : "");
		if (d->audio_pair >= 0)
			say(w, "                + HDMI audio %s\n", dk_esc(p->devs[d->audio_pair].bdf));
		if (g && !g->viable)
			say(w, "                not viable: %s\n", dk_esc(g->reason));
	}
	say(w, "Every group and device: dkvm host iommu\n");
}

/* ---- step 3: the VM ---- */

static struct dk_plan_opts plan_opts(const struct wz *w)
{
	return (struct dk_plan_opts){.name = w->name[0] ? w->name : "vm",
				     .model = w->prof ? w->prof->model : NULL,
				     .macos = w->os ? w->os->name : NULL,
				     .cpus = w->cpus,
				     .memory_bytes = w->memory,
				     .disk_bytes = w->disk};
}

/* Does the planner take the answers so far? On no, says why. */
static bool plan_ok(struct wz *w, struct dk_plan *p)
{
	struct dk_plan_opts o = plan_opts(w);
	if (dk_plan_build(&w->facts, &o, p) == 0)
		return true;
	say(w, "  %s\n", dk_esc_msg(dk_errmsg()));
	dk_errclear();
	return false;
}

static int ask_name(struct wz *w)
{
	char *parent = dk_bundle_parent(w->dir);
	int rc = -1;
	for (;;) {
		char a[256];
		if (ask(w, "VM name [mymac]: ", a, sizeof a) < 0)
			break;
		if (!*a)
			snprintf(a, sizeof a, "mymac");
		if (dk_vm_name_check(a, true) < 0 || strlen(a) >= sizeof w->name) {
			say(w, "  %s\n", strlen(a) >= sizeof w->name ? "too long" : dk_esc_msg(dk_errmsg()));
			dk_errclear();
			continue;
		}
		char *final = dk_asprintf("%s/%s", parent, a);
		bool exists = dk_path_exists(final);
		free(final);
		if (exists) {
			say(w, "  A VM named %s exists in %s: choose another name.\n", dk_esc(a), dk_esc(parent));
			continue;
		}
		snprintf(w->name, sizeof w->name, "%s", a);
		rc = 0;
		break;
	}
	free(parent);
	return rc;
}

static int ask_release(struct wz *w)
{
	bool ok[64] = {0};
	struct dk_plan_opts o = plan_opts(w);
	o.macos = o.model = NULL;
	if (dk_plan_releases(&w->facts, &o, ok) == 0) {
		say(w, "No macOS release plans on this host: %s\n", dk_esc_msg(dk_errmsg()));
		return -1;
	}
	const char *items[64];
	char label[64][48];
	int idx[64], n = 0, def = -1;
	const struct dk_macos *want = dk_macos_find(dk_vm_profile_for_macos(NULL)->macos_default);
	for (int i = dk_macos_count - 1; i >= 0; i--) {
		if (!ok[i])
			continue;
		const struct dk_macos *m = &dk_macos_table[i];
		snprintf(label[n], sizeof label[n], "%s (%s)", m->marketing, m->version);
		if (m == want)
			def = n;
		items[n] = label[n];
		idx[n++] = i;
	}
	if (def < 0)
		def = 0; /* the newest this host runs */
	int k = menu(w, "macOS release (those this host can run, newest first):", items, n, def);
	if (k < 0)
		return -1;
	w->os = &dk_macos_table[idx[k]];
	return 0;
}

static int ask_model(struct wz *w)
{
	bool ok[16] = {0};
	struct dk_plan_opts o = plan_opts(w);
	o.model = NULL;
	if (dk_plan_models(&w->facts, &o, ok) == 0) {
		say(w, "No Mac model plans macOS %s here: %s\n", w->os->marketing, dk_esc_msg(dk_errmsg()));
		return -1;
	}
	const char *items[16];
	char label[16][160];
	int idx[16], n = 0, def = 0;
	const struct dk_vm_profile *guide = dk_vm_profile_for_macos(w->os);
	for (int i = 0; i < dk_vm_profile_count && n < 16; i++) {
		if (!ok[i])
			continue;
		const struct dk_vm_profile *pr = &dk_vm_profiles[i];
		snprintf(label[n], sizeof label[n], "%s, %s CPU%s", pr->model, pr->cpu_model,
			 pr == guide ? " (the guide's model)" : "");
		if (pr == guide)
			def = n;
		items[n] = label[n];
		idx[n++] = i;
	}
	int k = menu(w, "Mac model (the SMBIOS identity and its CPU):", items, n, def);
	if (k < 0)
		return -1;
	w->prof = &dk_vm_profiles[idx[k]];
	return 0;
}

/* A size answer: a bare number is in units of 1 << shift bytes. */
static int size_answer(const char *a, int shift, uint64_t *out)
{
	uint64_t v;
	if (dk_parse_size(a, &v) < 0)
		return -1;
	if (strspn(a, "0123456789") == strlen(a)) {
		if (v > UINT64_MAX >> shift)
			return dk_fail("too large");
		v <<= shift;
	}
	if (!v)
		return dk_fail("must be more than 0");
	*out = v;
	return 0;
}

static const char *size_text(uint64_t bytes, char *buf, size_t n)
{
	if (bytes % ((uint64_t)1 << 30) == 0)
		snprintf(buf, n, "%lluG", (unsigned long long)(bytes >> 30));
	else
		snprintf(buf, n, "%lluM", (unsigned long long)(bytes >> 20));
	return buf;
}

static int ask_sizing(struct wz *w)
{
	struct dk_plan *p = dk_calloc(1, sizeof *p);
	int rc = -1;
	if (!plan_ok(w, p))
		goto out;
	say(w, "The plan for this host: %d vCPUs (%d cores x %d threads), %llu MiB.\n", p->vcpus, p->cores, p->threads,
	    (unsigned long long)p->memory_mib);
	char prompt[96], a[256], sz[32];
	int def_cpus = p->vcpus;
	snprintf(prompt, sizeof prompt, "vCPUs [%d]: ", def_cpus);
	for (;;) {
		if (ask(w, prompt, a, sizeof a) < 0)
			goto out;
		long v = *a ? small_number(a, 1024) : def_cpus;
		if (v < 1) {
			say(w, "  '%s': a number of vCPUs, 1 to 1024 (q quits).\n", shown(a));
			continue;
		}
		w->cpus = (int)v;
		if (plan_ok(w, p))
			break;
		w->cpus = 0;
	}
	uint64_t def_mem = p->memory_mib << 20;
	snprintf(prompt, sizeof prompt, "Memory, e.g. 8G or 8192M [%s]: ", size_text(def_mem, sz, sizeof sz));
	for (;;) {
		if (ask(w, prompt, a, sizeof a) < 0)
			goto out;
		uint64_t v = def_mem;
		if (*a && size_answer(a, 20, &v) < 0) {
			say(w, "  '%s': %s; a size such as 8G or 8192M (q quits).\n", shown(a), dk_esc_msg(dk_errmsg()));
			dk_errclear();
			continue;
		}
		w->memory = v;
		if (plan_ok(w, p))
			break;
		w->memory = 0;
	}
	for (;;) {
		if (ask(w, "Disk size, e.g. 128G [128G]: ", a, sizeof a) < 0)
			goto out;
		uint64_t v = (uint64_t)128 << 30;
		if (*a && size_answer(a, 30, &v) < 0) {
			say(w, "  '%s': %s; a size such as 128G (q quits).\n", shown(a), dk_esc_msg(dk_errmsg()));
			dk_errclear();
			continue;
		}
		w->disk = v;
		if (plan_ok(w, p))
			break;
		w->disk = 0;
	}
	rc = 0;
out:
	free(p);
	return rc;
}

static int step_create(struct wz *w)
{
	header(w, 3, "the VM (dkvm create)");
	if (!w->have_facts) {
		say(w, "Cannot plan a VM on this host: %s\n", dk_esc_msg(w->facts_error));
		return -1;
	}
	if (ask_name(w) < 0 || ask_release(w) < 0 || ask_model(w) < 0 || ask_sizing(w) < 0)
		return -1;
	static const char *const how[] = {
		"QEMU directly: a bundle that 'dkvm start' runs",
		"libvirt qemu:///system (virt-manager lists it)",
		"libvirt qemu:///session (your user's libvirt)",
	};
	int k = menu(w, "How the VM runs:", how, 3, 0);
	if (k < 0)
		return -1;
	w->uri = k == 1 ? "qemu:///system" : k == 2 ? "qemu:///session" : NULL;
	return 0;
}

/* ---- step 4: passthrough ---- */

static int step_gpu(struct wz *w)
{
	header(w, 4, "GPU passthrough");
	w->gpu = -1;
	if (!w->n_gpus) {
		say(w, "No GPU to pass through (step 2): the VM gets an emulated display.\n");
		return 0;
	}
	const char *items[65];
	char label[65][160];
	items[0] = "none: an emulated display";
	for (int k = 0; k < w->n_gpus; k++) {
		const struct dk_pci_dev *d = &w->pci.devs[w->gpus[k]];
		const struct dk_iommu_group *g = group_of(&w->pci, d->group);
		/* names from sysfs and pci.ids */
		snprintf(label[k + 1], sizeof label[k + 1], "%s %s%s%s", dk_esc(d->bdf),
			 dk_esc(d->name ? d->name : d->vendor_name ? d->vendor_name : "GPU"),
			 g && g->viable ? "" : ", group not viable",
			 d->boot_vga == 1 ? ", the host's boot GPU" : "");
		items[k + 1] = label[k + 1];
	}
	int k = menu(w, "Pass a GPU through to the VM?", items, w->n_gpus + 1, 0);
	if (k < 0)
		return -1;
	if (k > 0) {
		w->gpu = w->gpus[k - 1];
		say(w, "Recorded. dkvm cannot attach a GPU to the VM yet: the commands at the end show its vfio-pci.ids= string (dkvm host iommu --device) for the host's kernel command line.\n");
	}
	return 0;
}

/* ---- step 5 and the end ---- */

/* Print a command line, quoted for the shell, continued with '\' before
 * WZ_COLS. */
static void say_command(struct wz *w, const char *const *words, int n)
{
	struct dk_buf line = {0};
	dk_buf_puts(&line, "  ");
	for (int i = 0; i < n; i++) {
		/* an option stays on the line of its value */
		struct dk_buf unit = {0};
		for (int k = 0; k < 2 && i < n; k++) {
			if (k)
				dk_buf_puts(&unit, " ");
			if (words[i][0] == '-' || i < 2)
				dk_buf_puts(&unit, words[i]);
			else
				dk_shell_quote(&unit, words[i]);
			if (k == 0 && (words[i][0] != '-' || i + 1 >= n || words[i + 1][0] == '-'))
				break;
			if (k == 0)
				i++;
		}
		if (line.len > 6 && line.len + 1 + unit.len + 2 > WZ_COLS) {
			dk_buf_puts(&line, " \\");
			emit(w, line.data, line.len);
			line.len = 0;
			dk_buf_puts(&line, "      ");
		} else if (line.len > 2) {
			dk_buf_puts(&line, " ");
		}
		dk_buf_append(&line, unit.data, unit.len);
		dk_buf_free(&unit);
	}
	emit(w, line.data, line.len);
	dk_buf_free(&line);
}

static void print_commands(struct wz *w)
{
	char cpus[16], mem[32], disk[32];
	snprintf(cpus, sizeof cpus, "%d", w->cpus);
	size_text(w->memory, mem, sizeof mem);
	size_text(w->disk, disk, sizeof disk);
	const char *words[32];
	int n = 0;
	words[n++] = "dkvm";
	words[n++] = "create";
	words[n++] = w->name;
	words[n++] = "--model";
	words[n++] = w->prof->model;
	words[n++] = "--macos";
	words[n++] = w->os->name;
	words[n++] = "--cpus";
	words[n++] = cpus;
	words[n++] = "--memory";
	words[n++] = mem;
	words[n++] = "--disk";
	words[n++] = disk;
	if (w->uri) {
		words[n++] = "--connect";
		words[n++] = w->uri;
	}
	if (w->dir) {
		words[n++] = "--dir";
		words[n++] = w->dir;
	}
	if (dk_sysroot()[0]) {
		words[n++] = "--sysroot";
		words[n++] = dk_sysroot();
	}
	say(w, "\n%sThe same as commands:%s\n", dk_c_bold(), dk_c_reset());
	say_command(w, words, n);
	if (w->gpu >= 0) {
		say(w, "  # the GPU (dkvm has no --gpu option yet): its vfio-pci.ids= string\n");
		const char *g[] = {"dkvm", "host", "iommu", "--device", w->pci.devs[w->gpu].bdf};
		say_command(w, g, 5);
	}
	if (w->start) {
		const char *s[] = {"dkvm", "start", w->name, "--dir", w->dir};
		say_command(w, s, w->dir ? 5 : 3);
	}
}

static int run_create(struct wz *w)
{
	struct dk_create_opts o = {0};
	o.name = w->name;
	o.parent = w->dir;
	o.plan = plan_opts(w);
	o.uri = w->uri;
	o.dry_run = w->dry_run;
	struct dk_create_result r;
	int rc = dk_vm_create(&o, &r);
	for (char **x = r.warnings; x && *x; x++)
		dk_warn("%s", *x);
	if (rc < 0) {
		rc = dk_cli_fail();
		dk_create_result_free(&r);
		return rc;
	}
	const struct dk_plan *p = &r.plan;
	say(w, "%s: %s running macOS %s, %d vCPUs, %llu MiB, %llu GiB disk, %s\n", p->name, p->model, p->macos,
	    p->vcpus, (unsigned long long)p->memory_mib, (unsigned long long)(p->disk_bytes >> 30),
	    dk_accel_name(p->accel));
	if (w->dry_run) {
		say(w, "(dry run: nothing was created)\n");
		dk_create_result_free(&r);
		return DK_EXIT_OK;
	}
	say(w, "Created %s\n", dk_esc(r.dir));
	dk_create_result_free(&r);
	if (!w->start)
		return DK_EXIT_OK;
	char *parent = dk_bundle_parent(w->dir);
	struct dk_bundle b;
	rc = dk_bundle_open(parent, w->name, &b);
	free(parent);
	if (rc < 0)
		return dk_cli_fail();
	struct dk_start_opts so = {0};
	const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
	so.display = (x && *x) || (wl && *wl) ? DK_DISPLAY_GTK : DK_DISPLAY_VNC;
	struct dk_start_result sr;
	if (dk_vm_start(&b, &so, &sr) < 0) {
		dk_bundle_close(&b);
		return dk_cli_fail();
	}
	say(w, "%s: started (%s); display: %s\n", w->name, dk_accel_name(sr.accel), sr.display);
	dk_bundle_close(&b);
	return DK_EXIT_OK;
}

static int walk(struct wz *w)
{
	say(w, "%sdkvm wizard%s: the DarwinKVM guide, step by step. Enter takes the default in [brackets]; q quits.%s\n",
	    dk_c_bold(), dk_c_reset(), w->dry_run ? " Dry run: nothing is created." : "");
	step_host(w);
	step_iommu(w);
	if (w->quit)
		return -1;
	if (step_create(w) < 0)
		return w->quit ? -1 : DK_EXIT_FAIL;
	if (step_gpu(w) < 0)
		return -1;
	header(w, 5, "start");
	int y = yesno(w, "Start the VM once it is created?", false);
	if (y < 0)
		return -1;
	w->start = y;
	print_commands(w);
	y = yesno(w, w->dry_run ? "Plan it now (dry run: nothing is created)?" : "Create it now?", false);
	if (y < 0)
		return -1;
	if (!y) {
		say(w, "Nothing was created; the commands above do it.\n");
		return DK_EXIT_OK;
	}
	return run_create(w);
}

int dk_cmd_wizard(int argc, char **argv)
{
	struct wz w = {0};
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_wizard, argc, argv)) != -1) {
		switch (c) {
		case 'n': w.dry_run = true; break;
		case 'D': w.dir = optarg; break;
		case 'h': return dk_print_spec_help(&dk_spec_wizard);
		default: return dk_getopt_error("wizard", c, argv);
		}
	}
	if (dk_cli_no_operands("wizard", argc, argv))
		return DK_EXIT_USAGE;
	if (dk_json_output)
		return dk_usage_error("wizard", "--json: the wizard is interactive; use 'dkvm create --json'");
	if (dk_host_sysroot_check() < 0)
		return dk_cli_fail();
	w.tty = isatty(STDIN_FILENO);
	w.gpu = -1;
	struct dk_plan_opts none = {0};
	struct dk_facts_opts fo = {.cpu_model = dk_plan_cpu_model(&none)};
	w.have_facts = dk_facts_gather(&fo, &w.facts) == 0;
	if (!w.have_facts)
		w.facts_error = dk_strdup(dk_errmsg());
	dk_errclear();
	int rc = walk(&w);
	if (rc < 0) {
		fflush(stdout);
		fprintf(stderr, "dkvm: wizard: aborted\n");
		rc = DK_EXIT_FAIL;
	}
	if (w.have_pci)
		dk_pci_free(&w.pci);
	dk_facts_free(&w.facts);
	free(w.facts_error);
	return rc;
}
