/* dkvm doctor: lint a VM against the known failures (the DarwinKVM guide's
 * troubleshooting table, the peers' top complaints).
 *
 * Two halves. The loaders (load.c) read the inputs — a dkvm bundle, a libvirt
 * domain XML (a file or virDomainGetXMLDesc), a QEMU argv file, config.plist
 * files (also EFI/OC/config.plist inside an OpenCore image, read in userspace),
 * OpenCore logs and a few host facts through the sysroot — into a normalized
 * struct dk_doctor_input. The rules (rules.c) are a data table and pure checks
 * over that input: no files, no processes. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>
#include <plist/plist.h>

#include "smbios/macos.h"
#include "util/strv.h"

enum dk_doctor_sev { DK_DOC_INFO = 0, DK_DOC_WARNING, DK_DOC_ERROR };
const char *dk_doctor_sev_name(enum dk_doctor_sev s); /* "info", "warning", "error" */

/* One known failure: its id, severity, what it checks and the generic fix
 * (a finding may carry a more precise one). */
struct dk_doctor_rule {
	const char *id;
	enum dk_doctor_sev severity;
	const char *checks;
	const char *fix;
};
extern const struct dk_doctor_rule dk_doctor_rules[];
extern const size_t dk_doctor_n_rules;
const struct dk_doctor_rule *dk_doctor_rule(const char *id); /* NULL if unknown */

/* A VM definition, normalized from a libvirt domain XML or a QEMU argv. */
struct dk_doctor_vm {
	char *source;             /* the file (or "libvirt domain NAME") */
	bool xml;                 /* libvirt XML (fixes are XML edits), else a QEMU argv */
	int sockets, cores, threads; /* 0: unknown */
	char *topo_evidence;
	char *cpu_model;          /* "Penryn", "host" (host-passthrough), NULL unknown */
	struct dk_strv cpu_on, cpu_off; /* features added / removed, QEMU names with '.' as '_' */
	bool cpu_vendor_intel;    /* vendor=GenuineIntel */
	char *cpu_evidence;       /* the -cpu string or the <cpu> summary */
	bool applesmc;            /* an isa-applesmc device */
	char *osk;                /* its osk=, NULL none */
	char *balloon;            /* evidence of a memory balloon, NULL none */
	struct dk_strv nics;      /* NIC models: virtio, vmxnet3, e1000-82545em, e1000, default... */
	bool pci_hotplug_off;     /* ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off */
	char *macos;              /* release named in the domain's <description>, NULL none */
};

struct dk_doctor_config {
	char *source;
	plist_t root;             /* a dictionary */
};

struct dk_doctor_log {
	char *source;
	char *text;
};

struct dk_doctor_host {
	bool known;               /* host facts were read (else no host rule runs) */
	bool amd;                 /* AuthenticAMD / HygonGenuine */
	int ignore_msrs;          /* 1, 0, -1 unknown */
	char clocksource[32];     /* current_clocksource, "" unknown */
};

struct dk_doctor_input {
	const struct dk_macos *macos; /* the target release, NULL unknown */
	struct dk_doctor_vm *vms;
	size_t n_vms;
	struct dk_doctor_config *configs;
	size_t n_configs;
	struct dk_doctor_log *logs;
	size_t n_logs;
	struct dk_doctor_host host;
};

struct dk_finding {
	const char *id;           /* a dk_doctor_rules[] id */
	enum dk_doctor_sev severity;
	char *source;             /* file or "host" */
	char *evidence;           /* the line or value, raw (escape it to print) */
	char *fix;
};
struct dk_findings {
	struct dk_finding *v;
	size_t n, cap;
	int errors, warnings;
};

/* Every rule over the input; findings in source order. 0, or -1 after dk_fail. */
int dk_doctor_run(const struct dk_doctor_input *in, struct dk_findings *out);
void dk_findings_free(struct dk_findings *f);
/* `dkvm --json doctor`'s {findings: [{id, severity, source, evidence, fix}],
 * errors, warnings} (see dkvm-doctor(1)). */
json_object *dk_findings_to_json(const struct dk_findings *f);

/* ---- loaders ---- */
int dk_doctor_parse_xml(const char *xml, size_t len, const char *source, struct dk_doctor_vm *vm);
int dk_doctor_parse_argv(const char *text, const char *source, struct dk_doctor_vm *vm);
void dk_doctor_vm_free(struct dk_doctor_vm *vm);

struct dk_doctor_opts {
	const char *name;         /* a dkvm bundle */
	const char *dir;          /* its parent (NULL: the default) */
	const char *domain;       /* a libvirt domain ... */
	const char *uri;          /* ... on this connection */
	const char *xml;          /* a domain XML file */
	const char *argv;         /* a QEMU argv file */
	const char *config;       /* a config.plist */
	const char *log;          /* an OpenCore log */
	const char *macos;        /* the release (overrides what the inputs say) */
	bool no_host;             /* no host facts */
};
/* Read every input; -1 after dk_fail naming the file and the cause. */
int dk_doctor_load(const struct dk_doctor_opts *o, struct dk_doctor_input *in);
void dk_doctor_input_free(struct dk_doctor_input *in);
