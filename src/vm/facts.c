/* The edge: gather every fact the plan depends on, once. */
#include "vm/facts.h"
#include "vm/access.h"
#include "vm/vm.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <libvirt/libvirt.h>

int dk_ovmf_find(char *code, size_t ncode, char *vars, size_t nvars)
{
	static const char *const dirs[] = {"/usr/share/OVMF", "/usr/share/ovmf", "/usr/share/edk2/ovmf",
					   "/usr/share/edk2-ovmf", "/usr/share/edk2/x64", "/usr/share/qemu"};
	static const char *const pairs[][2] = {
		{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"}, {"OVMF_CODE.4m.fd", "OVMF_VARS.4m.fd"},
		{"OVMF_CODE.fd", "OVMF_VARS.fd"},       {"ovmf-x86_64-code.bin", "ovmf-x86_64-vars.bin"},
	};
	for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++)
		for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
			_cleanup_free_ char *c = dk_asprintf("%s/%s", dirs[i], pairs[k][0]);
			_cleanup_free_ char *v = dk_asprintf("%s/%s", dirs[i], pairs[k][1]);
			if (dk_host_exists(c) && dk_host_exists(v)) {
				snprintf(code, ncode, "%s", c);
				snprintf(vars, nvars, "%s", v);
				return 0;
			}
		}
	return dk_fail("OVMF: no firmware found (looked in /usr/share/OVMF, /usr/share/ovmf, /usr/share/edk2/...): install the ovmf package");
}

static const char *qemu_of(const struct dk_facts *f)
{
	return f->host.qemu.path[0] ? f->host.qemu.path : "/usr/bin/qemu-system-x86_64";
}

/* What QEMU says the model lacks under each accelerator the plan may pick. */
static void gather_unavailable(const struct dk_facts_opts *o, struct dk_facts *f)
{
	if (!o->cpu_model || !f->live || f->qemu_missing)
		return;
	snprintf(f->cpu_model, sizeof f->cpu_model, "%s", o->cpu_model);
	if (f->kvm_usable && o->accel != DK_ACCEL_FORCE_TCG &&
	    dk_qemu_cpu_unavailable(qemu_of(f), "kvm", o->cpu_model, &f->unavailable[DK_ACCEL_KVM]) < 0)
		f->unavailable[DK_ACCEL_KVM] = NULL;
	if (o->accel != DK_ACCEL_FORCE_KVM &&
	    dk_qemu_cpu_unavailable(qemu_of(f), "tcg", o->cpu_model, &f->unavailable[DK_ACCEL_TCG]) < 0)
		f->unavailable[DK_ACCEL_TCG] = NULL;
	dk_errclear();
}

static int gather_libvirt(const struct dk_facts_opts *o, struct dk_facts *f)
{
	struct dk_host *h = &f->host;
	dk_virt_caps_for_version(h->libvirt.lib_version ? h->libvirt.lib_version : h->libvirt.version, &f->caps);
	if (!f->caps.version) {
		unsigned long lv = 0;
		if (virGetVersion(&lv, NULL, NULL) == 0)
			dk_virt_caps_for_version(lv, &f->caps);
	}
	if (!o->conn)
		return 0;
	f->connected = true;
	snprintf(f->uri, sizeof f->uri, "%s", o->uri ? o->uri : "");
	if (dk_virt_caps(o->conn, &f->caps) < 0)
		return -1;
	f->libvirt_local = o->uri && dk_virt_uri_is_local(o->uri);
	if (f->libvirt_local) {
		if (dk_virt_qemu_ident(o->conn, &f->qemu_user) < 0)
			return -1;
		f->qemu_user_known = true;
		f->qemu_user_kvm = dk_ident_kvm_ok(&f->qemu_user, f->qemu_user_kvm_why, sizeof f->qemu_user_kvm_why);
	}
	if (o->name) {
		f->domain_defined = dk_virt_defined(o->conn, o->name);
		if (f->domain_defined && o->domain_uuid &&
		    dk_virt_uuid(o->conn, o->name, f->domain_uuid, sizeof f->domain_uuid) < 0) {
			f->domain_uuid[0] = '\0';
			dk_errclear();
		}
	}
	return 0;
}

int dk_facts_gather(const struct dk_facts_opts *o, struct dk_facts *f)
{
	memset(f, 0, sizeof *f);
	struct dk_host *h = &f->host;
	if (dk_host_probe(h) < 0) {
		dk_host_free(h);
		memset(h, 0, sizeof *h);
		return dk_fail_prefix("host");
	}
	if (!h->qemu.ovmf_code[0] || !h->qemu.ovmf_vars[0]) {
		if (dk_ovmf_find(h->qemu.ovmf_code, sizeof h->qemu.ovmf_code, h->qemu.ovmf_vars,
				 sizeof h->qemu.ovmf_vars) < 0) {
			h->qemu.ovmf_code[0] = h->qemu.ovmf_vars[0] = '\0';
			dk_errclear(); /* the plan refuses */
		}
	}
	f->live = dk_sysroot_is_live();
	f->qemu_missing = f->live && access(qemu_of(f), X_OK) != 0;
	f->kvm_usable = f->live ? access("/dev/kvm", R_OK | W_OK) == 0 : h->kvm.dev_present;
	if (dk_random_bytes(f->random, sizeof f->random) < 0 || gather_libvirt(o, f) < 0) {
		dk_facts_free(f);
		return -1;
	}
	if (o->pci) {
		if (dk_pci_scan(&f->pci) < 0) {
			dk_facts_free(f);
			return dk_fail_prefix("PCI devices");
		}
		f->pci_known = true;
	}
	gather_unavailable(o, f);
	return 0;
}

void dk_facts_free(struct dk_facts *f)
{
	dk_host_free(&f->host);
	if (f->pci_known)
		dk_pci_free(&f->pci);
	dk_strv_free(f->unavailable[DK_ACCEL_KVM]);
	dk_strv_free(f->unavailable[DK_ACCEL_TCG]);
	memset(f, 0, sizeof *f);
}
