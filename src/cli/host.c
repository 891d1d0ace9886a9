/* dkvm host check | iommu | report: argv and output only. */
#include "cli/cli.h"
#include "host/host.h"
#include "host/pci.h"
#include "host/gpu.h"
#include "host/report.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"

#include <json-c/json.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct dk_opt check_opts[] = {
	{"json", 0, NULL, "one JSON document on stdout (schema in dkvm-host(1))", NULL, DK_OPT_GLOBAL},
	{"sysroot", 0, "DIR", "read the host under DIR (global option; DIR must exist)", DK_C_DIR, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_host_check = {
	.head = "usage: dkvm host check [--json] [--sysroot DIR]\n"
		"\n"
		"Check this host against everything the DarwinKVM guide asks you to verify:\n"
		"CPU and virtualization, /dev/kvm and a real KVM guest run, kvm module\n"
		"parameters, the macOS releases this CPU can run, TSC and clocksource, IOMMU\n"
		"and kernel command line, topology and the recommended guest topology,\n"
		"memory, hugepages and free disk, QEMU, OVMF, libvirt and group membership.\n"
		"Every warning or failure comes with the exact fix for this distro and\n"
		"bootloader (GRUB, systemd-boot, kernelstub).\n"
		"\n"
		"With --sysroot DIR (e.g. an unpacked 'dkvm host report') the files are read\n"
		"under DIR; checks that need the running machine (KVM guest, QEMU and libvirt\n"
		"queries, free disk) are reported as skip.\n",
	.opts = check_opts,
	.tail = "Environment: DKVM_USER names the user the group checks are about (default:\n"
		"$SUDO_USER, else the invoking user).\n"
		"\n"
		"Exit status: 0 no check failed (warnings allowed), 1 a check failed or the\n"
		"sysroot is missing, 2 usage.\n"
		"\n"
		"Examples:\n"
		"  dkvm host check\n"
		"  dkvm host check --json | python3 -m json.tool\n"
		"  dkvm host check --sysroot ./host-report-box-2026-01-01\n",
	.operands = NULL,
};

static const char *marker(enum dk_check_status s)
{
	static char buf[64];
	const char *col = s == DK_CHECK_PASS ? dk_c_green() : s == DK_CHECK_WARN ? dk_c_yellow()
							 : s == DK_CHECK_FAIL ? dk_c_red() : "";
	static const char *txt[] = {"pass", "warn", "FAIL", "skip"};
	snprintf(buf, sizeof buf, "%s[%s]%s", col, txt[s], dk_c_reset());
	return buf;
}

static void print_indented(const char *prefix, const char *text)
{
	const char *p = text;
	bool first = true;
	while (*p) {
		size_t l = strcspn(p, "\n");
		char *line = dk_strndup(p, l); /* details quote sysfs, /proc and config files */
		printf("         %s%s\n", first ? prefix : "     ", dk_esc(line));
		free(line);
		first = false;
		p += l;
		if (*p == '\n')
			p++;
	}
}

int dk_cmd_host_check(int argc, char **argv)
{
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_host_check, argc, argv)) != -1) {
		switch (c) {
		case 'h':
			return dk_print_spec_help(&dk_spec_host_check);
		default:
			return dk_getopt_error("host check", c, argv);
		}
	}
	if (dk_cli_no_operands("host check", argc, argv))
		return DK_EXIT_USAGE;
	if (dk_host_sysroot_check() < 0)
		return dk_cli_fail();
	struct dk_host *h = dk_calloc(1, sizeof *h);
	if (dk_host_probe(h) < 0)
		fprintf(stderr, "dkvm: %s\n", dk_esc_msg(dk_errmsg()));
	struct dk_checks cs;
	dk_host_checks(h, &cs);
	int fails = 0, counts[4] = {0};
	for (size_t i = 0; i < cs.n; i++) {
		counts[cs.v[i].status]++;
		fails += cs.v[i].status == DK_CHECK_FAIL;
	}
	if (dk_json_output) {
		dk_json_print(dk_host_check_json(h, &cs));
	} else {
		printf("%sdkvm host check%s: %s, %s%s%s\n", dk_c_bold(), dk_c_reset(),
		       dk_esc(h->distro_name[0] ? h->distro_name : "unknown distro"), h->bootloader,
		       h->live ? "" : ", snapshot ", h->live ? "" : dk_esc(dk_sysroot()));
		const char *group = NULL;
		for (size_t i = 0; i < cs.n; i++) {
			const struct dk_check *k = &cs.v[i];
			if (dk_verbosity <= DK_QUIET && (k->status == DK_CHECK_PASS || k->status == DK_CHECK_SKIP))
				continue;
			if (!group || strcmp(group, k->group)) {
				group = k->group;
				printf("\n%s%s%s\n", dk_c_bold(), group, dk_c_reset());
			}
			printf("  %s %s\n", marker(k->status), dk_esc(k->summary));
			bool show_detail = k->detail && (k->status != DK_CHECK_PASS || dk_verbosity >= DK_VERBOSE ||
							 !strcmp(k->id, "kvm.smoke"));
			if (show_detail)
				print_indented("", k->detail);
			if (k->fix)
				print_indented("fix: ", k->fix);
			if (dk_verbosity >= DK_VERBOSE)
				printf("         (%s)\n", k->id);
		}
		printf("\n%d passed, %d warnings, %d failed, %d skipped\n", counts[0], counts[1], counts[2], counts[3]);
		if (fails)
			printf("Fix the %s above first; then run 'dkvm host check' again.\n",
			       fails == 1 ? "failure" : "failures");
	}
	dk_checks_free(&cs);
	dk_host_free(h);
	free(h);
	return fails ? DK_EXIT_FAIL : DK_EXIT_OK;
}

static const struct dk_opt iommu_opts[] = {
	{"device", 'd', "BDF", "print the vfio-pci.ids= kernel parameter for this device, its\n"
	 "audio function and its group's other functions (bridges\n"
	 "excluded), e.g. --device 03:00.0", DK_C_BDF, DK_OPT_SHORT},
	{"json", 0, NULL, "one JSON document on stdout (schema in dkvm-host(1))", NULL, DK_OPT_GLOBAL},
	{"sysroot", 0, "DIR", "read the host under DIR (global option; DIR must exist)", DK_C_DIR, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_host_iommu = {
	.head = "usage: dkvm host iommu [--json] [--device BDF] [--sysroot DIR]\n"
		"\n"
		"List the IOMMU groups and every PCI device in them: BDF, class,\n"
		"vendor:device and subsystem IDs, names (libpci + pci.ids), the driver in\n"
		"use, boot_vga and reset methods. Each group gets a passthrough verdict by the\n"
		"guide's rule: viable when it holds one device (with its own functions) and\n"
		"otherwise only host/PCI/ISA bridges, non-essential instrumentation or\n"
		"encryption controllers. GPUs show their paired HDMI audio function.\n",
	.opts = iommu_opts,
	.tail = "Exit status: 0 success (also when the IOMMU is off: the list is then empty),\n"
		"1 unknown device, unreadable sysfs or missing sysroot, 2 usage.\n"
		"\n"
		"Examples:\n"
		"  dkvm host iommu\n"
		"  dkvm host iommu --device 0000:03:00.0\n"
		"  dkvm host iommu --json\n",
	.operands = NULL,
};

static void print_dev(const struct dk_pci *p, const struct dk_pci_dev *d)
{
	/* names and values from sysfs (or a snapshot) and pci.ids */
	printf("    %s [%04x] %04x:%04x", dk_esc(d->bdf), d->class_code >> 8, d->vendor, d->device);
	if (d->vendor_name || d->name)
		printf(" %s %s", dk_esc(d->vendor_name ? d->vendor_name : ""), dk_esc(d->name ? d->name : ""));
	printf("\n");
	printf("           %s", dk_esc(d->class_name ? d->class_name : "class ?"));
	if (d->sub_vendor || d->sub_device)
		printf(", subsystem %04x:%04x%s%s", d->sub_vendor, d->sub_device, d->sub_name ? " " : "",
		       dk_esc(d->sub_name ? d->sub_name : ""));
	printf(", driver %s", dk_esc(d->driver[0] ? d->driver : "(none)"));
	if (d->boot_vga == 1)
		printf(", boot VGA");
	if (d->reset_method[0])
		printf(", reset: %s", dk_esc(d->reset_method));
	if (d->ignored) {
		unsigned sub = d->class_code >> 8;
		printf(", ignored (%s)", sub == 0x1300 ? "instrumentation" : sub == 0x1080 ? "encryption" : "bridge");
	}
	if (d->audio_pair >= 0)
		printf(", HDMI audio: %s", dk_esc(p->devs[d->audio_pair].bdf));
	printf("\n");
	if ((d->class_code >> 16) == 0x03) {
		const struct dk_gpu_family *g = dk_gpu_lookup(d->vendor, d->device);
		const char *spoof = dk_gpu_spoof(g, d->device);
		if (!g)
			printf("           macOS: not in the guide's GPU chart\n");
		else if (!g->supported)
			printf("           macOS: %s, %s (%s)\n", g->family, g->range, g->notes);
		else
			printf("           macOS: %s, %s; kext %s%s%s%s%s; %s\n", g->family, g->range, g->kext,
			       g->boot_args[0] ? ", boot-args " : "", g->boot_args, spoof ? ", device-id spoof " : "",
			       spoof ? spoof : "", g->notes);
	}
}

int dk_cmd_host_iommu(int argc, char **argv)
{
	optind = 0;
	int c;
	const char *bdf = NULL;
	while ((c = dk_opt_next(&dk_spec_host_iommu, argc, argv)) != -1) {
		switch (c) {
		case 'd':
			bdf = optarg;
			break;
		case 'h':
			return dk_print_spec_help(&dk_spec_host_iommu);
		default:
			return dk_getopt_error("host iommu", c, argv);
		}
	}
	if (dk_cli_no_operands("host iommu", argc, argv))
		return DK_EXIT_USAGE;
	if (dk_host_sysroot_check() < 0)
		return dk_cli_fail();
	struct dk_pci p;
	if (dk_pci_scan(&p) < 0)
		return dk_cli_fail();
	int rc = DK_EXIT_OK;
	if (bdf) {
		char *ids = dk_pci_vfio_ids(&p, bdf);
		if (!ids) {
			rc = dk_cli_fail();
		} else if (dk_json_output) {
			dk_json_print(dk_pci_device_json(&p, dk_pci_find(&p, bdf), ids));
		} else {
			printf("%s\n", dk_esc(ids));
		}
		free(ids);
		dk_pci_free(&p);
		return rc;
	}
	if (dk_json_output) {
		dk_json_print(dk_pci_json(&p));
		dk_pci_free(&p);
		return DK_EXIT_OK;
	}
	if (p.ngroups == 0) {
		printf("No IOMMU groups: the IOMMU is off or unsupported (see 'dkvm host check', IOMMU).\n");
		if (p.ndev)
			printf("%d PCI devices found; none can be passed through without the IOMMU.\n", p.ndev);
	}
	int viable = 0;
	for (int g = 0; g < p.ngroups; g++) {
		const struct dk_iommu_group *gr = &p.groups[g];
		viable += gr->viable;
		printf("%sIOMMU group %d%s: %s%s%s — %s\n", dk_c_bold(), gr->id, dk_c_reset(),
		       gr->viable ? dk_c_green() : dk_c_yellow(), gr->viable ? "viable" : "not viable", dk_c_reset(),
		       dk_esc(gr->reason));
		for (int i = 0; i < gr->ndev; i++)
			print_dev(&p, &p.devs[gr->devs[i]]);
	}
	for (int i = 0; i < p.ndev; i++)
		if (p.devs[i].group < 0 && p.ngroups > 0) {
			printf("%sno group%s:\n", dk_c_bold(), dk_c_reset());
			print_dev(&p, &p.devs[i]);
		}
	if (p.ngroups) {
		printf("\n%d of %d groups viable for passthrough.", viable, p.ngroups);
		for (int i = 0; i < p.ndev; i++)
			if ((p.devs[i].class_code >> 16) == 0x03 && p.devs[i].func == 0) {
				_cleanup_free_ char *ids = dk_pci_vfio_ids(&p, p.devs[i].bdf);
				if (ids)
					printf("\nGPU %s: %s", dk_esc(p.devs[i].bdf), dk_esc(ids));
			}
		printf("\n");
	}
	if (!p.ids_file)
		fprintf(stderr, "dkvm: warning: no pci.ids found: device names are missing (install pciutils or hwdata)\n");
	dk_pci_free(&p);
	return rc;
}

static const struct dk_opt report_opts[] = {
	{"output", 'o', "FILE", "output (default host-report-<hostname>-<YYYY-MM-DD>.tar)", DK_C_FILE, DK_OPT_SHORT},
	{"force", 'f', NULL, "replace an existing output file (never a directory)", NULL, DK_OPT_SHORT},
	{"json", 0, NULL, "print {\"output\",\"files\",\"symlinks\",\"directories\",\n"
	 "\"placeholders\",\"bytes\"}", NULL, DK_OPT_GLOBAL},
	{"sysroot", 0, "DIR", "snapshot the host under DIR (global option; DIR must exist)", DK_C_DIR, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_host_report = {
	.head = "usage: dkvm host report [-o FILE.tar] [--force] [--json] [--sysroot DIR]\n"
		"\n"
		"Write a sanitized snapshot of exactly the /proc, /sys, /dev, /etc and\n"
		"/usr/share files dkvm reads to a tar archive, so that helpers can run\n"
		"'dkvm host check --sysroot <unpacked>' and see this host. No serial\n"
		"numbers, MAC addresses, UUIDs or machine ids are included; from\n"
		"/etc/default/grub only GRUB_CMDLINE_LINUX*, from /etc/group only the kvm\n"
		"and libvirt groups, from boot entries only the options lines. Symlinks in\n"
		"/sys (driver, iommu_group, bus/pci/devices) are kept as relative symlinks;\n"
		"/dev/kvm and binaries become empty placeholders with the same mode. The\n"
		"archive also holds dkvm-host-check.json: the full check result including\n"
		"the live checks a snapshot cannot reproduce.\n",
	.opts = report_opts,
	.tail = "Exit status: 0 written, 1 error (nothing left at the output path), 2 usage.\n"
		"\n"
		"Examples:\n"
		"  dkvm host report\n"
		"  dkvm host report -o /tmp/me.tar && mkdir r && tar -xf /tmp/me.tar -C r &&\n"
		"    dkvm host check --sysroot r\n",
	.operands = NULL,
};

int dk_cmd_host_report(int argc, char **argv)
{
	optind = 0;
	int c;
	const char *out = NULL;
	bool force = false;
	while ((c = dk_opt_next(&dk_spec_host_report, argc, argv)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			return dk_print_spec_help(&dk_spec_host_report);
		default:
			return dk_getopt_error("host report", c, argv);
		}
	}
	if (dk_cli_no_operands("host report", argc, argv))
		return DK_EXIT_USAGE;
	if (out && !*out)
		return dk_usage_error("host report", "empty output file name");
	if (dk_host_sysroot_check() < 0)
		return dk_cli_fail();
	_cleanup_free_ char *def = out ? NULL : dk_host_report_default_name();
	const char *path = out ? out : def;
	struct dk_report_stats st;
	if (dk_host_report_write(path, force, &st) < 0)
		return dk_cli_fail();
	if (dk_json_output) {
		dk_json_print(dk_report_stats_json(path, &st));
	} else {
		printf("wrote %s: %zu files (%zu bytes), %zu symlinks, %zu directories, %zu placeholders\n", path, st.files,
		       st.bytes, st.links, st.dirs, st.placeholders);
		printf("check it anywhere: mkdir r && tar -xf %s -C r && dkvm host check --sysroot r\n", path);
	}
	return DK_EXIT_OK;
}
