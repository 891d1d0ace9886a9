/* dkvm create: host -> plan -> SMBIOS -> OpenCore -> disk -> XML -> bundle. */
#include "vm/vm.h"
#include "vm/access.h"
#include "host/host.h"
#include "smbios/smbios.h"
#include "opencore/opencore.h"
#include "opencore/release.h"
#include "fetch/fetch.h"
#include "image/gpt.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"
#include "util/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libxml/xmlstring.h>

int dk_vm_host(struct dk_host *h)
{
	memset(h, 0, sizeof *h);
	if (dk_host_probe(h) < 0) {
		dk_host_free(h);
		return -1;
	}
	if (!h->qemu.ovmf_code[0] || !h->qemu.ovmf_vars[0]) {
		if (dk_ovmf_find(h->qemu.ovmf_code, sizeof h->qemu.ovmf_code, h->qemu.ovmf_vars,
				 sizeof h->qemu.ovmf_vars) < 0)
			dk_errclear(); /* the plan reports it */
	}
	return 0;
}

void dk_create_result_free(struct dk_create_result *r)
{
	free(r->dir);
	dk_strv_free(r->warnings);
	if (r->manifest)
		json_object_put(r->manifest);
	memset(r, 0, sizeof *r);
}

static int copy_file(const char *src, const char *dst)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return dk_fail_errno("%s", src);
	struct stat st;
	if (fstat(in, &st) < 0)
		return dk_fail_errno("%s", src);
	if (!S_ISREG(st.st_mode))
		return dk_fail("%s: not a regular file", src);
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return dk_fail_errno("%s", dst);
	off_t left = st.st_size;
	while (left > 0) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
			char buf[1 << 16];
			ssize_t k = read(in, buf, sizeof buf);
			if (k < 0)
				return dk_fail_errno("%s", src);
			if (k == 0)
				break;
			if (dk_write_all(out, buf, (size_t)k) < 0)
				return dk_fail_prefix("%s", dst);
			left -= k;
			continue;
		}
		if (n < 0)
			return dk_fail_errno("%s -> %s", src, dst);
		if (n == 0)
			break;
		left -= n;
	}
	if (fsync(out) < 0)
		return dk_fail_errno("%s", dst);
	return 0;
}

/* A ready OpenCore image must be what the VM boots from: a raw GPT disk with an
 * EFI System Partition (it is attached with format=raw). */
static int check_opencore_image(const char *path)
{
	/* O_NONBLOCK: a FIFO is refused, not waited on */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return dk_fail_errno("%s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return dk_fail_errno("%s", path);
	if (!S_ISREG(st.st_mode))
		return dk_fail("%s: not a regular file", path);
	uint8_t magic[4] = {0};
	if (st.st_size >= 4 && dk_pread_all(fd, magic, 4, 0) < 0)
		return dk_fail_prefix("%s", path);
	if (!memcmp(magic, "QFI\xfb", 4))
		return dk_fail("%s: a qcow2 image; --opencore-image takes a raw disk image "
			       "(dkvm opencore image --format raw)", path);
	struct dk_gpt_part esp;
	if (dk_gpt_find(fd, (uint64_t)st.st_size, dk_gpt_type_esp, &esp, path) < 0)
		return dk_fail_prefix("--opencore-image");
	return 0;
}

int dk_vm_name_check(const char *name, bool new_vm)
{
	bool ok = dk_name_is_safe(name) &&
		  (!new_vm || (name[0] != '-' && name[0] != '.' && xmlCheckUTF8((const xmlChar *)name)));
	if (ok)
		return 0;
	/* one line whatever the name holds */
	char shown[64];
	size_t n = 0;
	bool utf8 = name && xmlCheckUTF8((const xmlChar *)name);
	for (const char *p = name ? name : ""; *p && n + 4 < sizeof shown; p++) {
		unsigned char c = (unsigned char)*p;
		shown[n++] = c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8) ? '?' : *p;
	}
	snprintf(shown + n, sizeof shown - n, "%s", name && strlen(name) > n ? "..." : "");
	return dk_fail("VM name '%s': not a safe name (no '/', quotes, backslashes, '$' or control characters, "
		       "UTF-8, no leading '-' or '.', at most 200 bytes)",
		       shown);
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	return dk_write_file_atomic(path, text, strlen(text), true, mode);
}

/* .kext bundles in a directory, NULL-terminated. */
static char **list_kexts(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		dk_fail_errno("%s", dir);
		return NULL;
	}
	char **v = dk_calloc(1, sizeof *v);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (dk_endswith(e->d_name, ".kext")) {
			v = dk_realloc(v, (n + 2) * sizeof *v);
			v[n++] = dk_asprintf("%s/%s", dir, e->d_name);
			v[n] = NULL;
		}
	closedir(d);
	return v;
}

/* Build the OpenCore image into out: release + Sample.plist -> config -> image. */
static int build_opencore(const struct dk_create_opts *o, const struct dk_plan *p, const struct dk_smbios *sm,
			  const char *tmp, const char *out, struct dk_create_result *r, json_object *man)
{
	_cleanup_free_ char *release = NULL;
	if (o->opencore) {
		release = dk_strdup(o->opencore);
	} else {
		struct dk_oc_fetched f = {0};
		if (dk_oc_fetch("OpenCorePkg", NULL, NULL, &f) < 0) {
			dk_oc_fetched_free(&f);
			return dk_fail_prefix("OpenCore: cannot download the OpenCorePkg release (offline? pass --opencore ZIP|DIR)");
		}
		release = dk_strdup(f.path);
		dk_oc_fetched_free(&f);
	}
	struct dk_oc_release *rel = NULL;
	if (dk_oc_release_open(release, &rel) < 0)
		return -1;
	char *sample = NULL;
	size_t slen = 0;
	int rc = dk_oc_release_read(rel, "Docs/Sample.plist", &sample, &slen);
	dk_oc_release_close(rel);
	if (rc < 0)
		return -1;
	_cleanup_free_ char *sample_path = dk_asprintf("%s/Sample.plist", tmp);
	rc = dk_write_file_atomic(sample_path, sample, slen, true, 0644);
	free(sample);
	if (rc < 0)
		return -1;
	const struct dk_mac_model *mm = dk_mac_model_find(p->model);
	struct dk_oc_config_opts co = {
		.sample_path = sample_path,
		.model = mm,
		.macos = dk_macos_find(p->macos),
		.gpu = DK_GPU_NONE,
		.host_cpu = p->amd_host ? DK_HOSTCPU_AMD : DK_HOSTCPU_INTEL,
		.smbios = sm,
		.kexts_dir = o->kexts,
	};
	char *xml = NULL;
	uint32_t xlen = 0;
	struct dk_oc_changes ch = {0};
	rc = dk_oc_config_build(&co, &xml, &xlen, &ch);
	const char *sample_rel = dk_oc_sample_release(sample_path, NULL);
	json_object *oc = json_object_new_object();
	json_object_object_add(oc, "sample_release", json_object_new_string(sample_rel ? sample_rel : "unknown"));
	unlink(sample_path);
	if (rc < 0) {
		json_object_put(oc);
		return dk_fail_prefix("OpenCore config");
	}
	dk_oc_changes_free(&ch);
	_cleanup_free_ char *cfg = dk_asprintf("%s/config.plist", tmp);
	rc = dk_write_file_atomic(cfg, xml, xlen, true, 0600);
	free(xml);
	char **kexts = NULL;
	if (rc < 0 || (o->kexts && !(kexts = list_kexts(o->kexts)))) {
		json_object_put(oc);
		return -1;
	}
	/* recoveryOS: given, fetched, or none. */
	_cleanup_free_ char *recovery = o->recovery ? dk_strdup(o->recovery) : NULL;
	if (!recovery && !o->no_recovery) {
		_cleanup_free_ char *rdir = dk_asprintf("%s/recovery", tmp);
		struct dk_fetch_recovery_opts fo = {.macos = p->macos, .outdir = rdir};
		struct dk_fetch_recovery_result fr = {0};
		if (dk_mkdir_p(rdir, 0755) < 0 || dk_fetch_recovery(&fo, &fr) < 0) {
			dk_strv_free(kexts);
			json_object_put(oc);
			return dk_fail_prefix("recoveryOS for %s (offline? pass --recovery DIR or --no-recovery)", p->macos);
		}
		dk_fetch_recovery_result_free(&fr);
		recovery = DK_TAKE_PTR(rdir);
	}
	struct dk_oc_image_opts io = {
		.release = release,
		.config = cfg,
		.kexts = (const char *const *)kexts,
		.recovery = recovery,
		.output = out,
	};
	rc = dk_oc_image_build(&io);
	dk_strv_free(kexts);
	if (recovery && !o->recovery)
		dk_rm_rf(recovery); /* fetched into the bundle: it is on the image now */
	if (rc < 0) {
		json_object_put(oc);
		return dk_fail_prefix("OpenCore image");
	}
	json_object_object_add(oc, "release", json_object_new_string(release));
	json_object_object_add(oc, "recovery", recovery ? json_object_new_string(o->recovery ? o->recovery : "fetched") : NULL);
	json_object_object_add(man, "opencore", oc);
	(void)r;
	return 0;
}

static char *qemu_version(const char *qemu)
{
	char *out = NULL;
	char *argv[] = {(char *)qemu, "--version", NULL};
	if (dk_run(argv, &out, 5000) < 0) {
		free(out);
		dk_errclear();
		return NULL;
	}
	char *v = strstr(out, "version ");
	char *res = NULL;
	if (v) {
		v += 8;
		size_t n = strcspn(v, " \n");
		res = dk_strndup(v, n);
	}
	free(out);
	return res;
}

static const char *start_sh =
	"#!/bin/sh\n"
	"# Start this VM with QEMU directly (what `dkvm start` does, in the foreground).\n"
	"cd \"$(dirname \"$0\")\" || exit 1\n"
	"exec sh ./qemu.argv \"$@\"\n";

/* A remote libvirt opens the bundle's paths on its own machine. (A local one
 * is given access by dk_bundle_access() once the bundle exists.) */
static void check_reachable(const char *uri, const char *dir)
{
	if (uri && !dk_virt_uri_is_local(uri))
		dk_warn("libvirt %s is remote: the bundle's files must exist at the same paths there (%s)", uri, dir);
}

static int build_bundle(const struct dk_create_opts *o, struct dk_create_result *r, virConnectPtr conn,
			const struct dk_virt_caps *capsp, const char *parent, const char *final, bool exists)
{
	int rc = -1;
	bool defined = false;
	json_object *man = NULL;
	struct dk_virt_caps caps = *capsp;
	char *tmp = NULL;
	struct dk_bundle fin = {0};
	char *t_oc = NULL, *t_disk = NULL, *t_vars = NULL;
	char *vol_made = NULL;
	struct dk_vm_files files;

	if (dk_mkdir_p(parent, 0755) < 0)
		return -1;
	check_reachable(o->uri, final);
	tmp = dk_asprintf("%s/.%s.XXXXXX", parent, o->name);
	if (!mkdtemp(tmp)) {
		dk_fail_errno("%s", tmp);
		free(tmp);
		return -1;
	}
	chmod(tmp, 0700); /* secrets inside: SMBIOS serials, UUID */
	dk_bundle_paths(&fin, parent, o->name);
	files = dk_bundle_files(&fin);
	t_oc = dk_asprintf("%s/OpenCore.img", tmp);
	t_disk = dk_asprintf("%s/disk.qcow2", tmp);
	t_vars = dk_asprintf("%s/OVMF_VARS.fd", tmp);
	man = json_object_new_object();
	json_object_object_add(man, "dkvm_version", json_object_new_string(DKVM_VERSION));
	json_object_object_add(man, "name", json_object_new_string(o->name));
	json_object_object_add(man, "created", json_object_new_int64((int64_t)time(NULL)));

	/* SMBIOS */
	struct dk_smbios sm;
	const struct dk_mac_model *mm = dk_mac_model_find(r->plan.model);
	if (!mm) {
		dk_fail("SMBIOS: model %s is not in the model table", r->plan.model);
		goto fail;
	}
	if (dk_smbios_generate(mm, &sm) < 0) {
		dk_fail_prefix("SMBIOS");
		goto fail;
	}
	json_object_object_add(man, "smbios", dk_smbios_to_json(&sm));

	/* OpenCore image */
	if (o->opencore_image) {
		if (check_opencore_image(o->opencore_image) < 0 || copy_file(o->opencore_image, t_oc) < 0)
			goto fail;
		json_object *oc = json_object_new_object();
		json_object_object_add(oc, "image", json_object_new_string(o->opencore_image));
		json_object_object_add(man, "opencore", oc);
	} else if (build_opencore(o, &r->plan, &sm, tmp, t_oc, r, man) < 0) {
		goto fail;
	}

	/* Disk: a storage volume in the pool, or disk.qcow2 in the bundle */
	if (o->pool) {
		char *vname = dk_asprintf("%s.qcow2", o->name);
		char *vpath = NULL;
		if (o->force)
			dk_virt_vol_delete(conn, o->pool, vname);
		int k = dk_virt_vol_create(conn, o->pool, vname, r->plan.disk_bytes, &vpath);
		if (k == 0) {
			vol_made = vname;
			free(fin.disk);
			fin.disk = vpath;
			files = dk_bundle_files(&fin);
			json_object *dj = json_object_new_object();
			json_object_object_add(dj, "path", json_object_new_string(vpath));
			json_object_object_add(dj, "pool", json_object_new_string(o->pool));
			json_object_object_add(dj, "volume", json_object_new_string(vname));
			json_object_object_add(man, "disk", dj);
		} else {
			free(vname);
			goto fail;
		}
	} else {
		char size[32];
		snprintf(size, sizeof size, "%llu", (unsigned long long)r->plan.disk_bytes);
		char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", t_disk, size, NULL};
		char *cap = NULL;
		int k = dk_run(argv, &cap, 60000);
		free(cap);
		if (k < 0) {
			dk_fail_prefix("disk");
			goto fail;
		}
		chmod(t_disk, 0600); /* the guest's data */
	}
	if (copy_file(r->plan.ovmf_vars, t_vars) < 0)
		goto fail;

	/* Renderings */
	{
		char *xml = NULL;
		if (dk_libvirt_xml(&r->plan, &files, &caps, &xml) < 0)
			goto fail;
		_cleanup_free_ char *xp = dk_asprintf("%s/domain.xml", tmp);
		int k = write_text(xp, xml, 0600);
		if (k == 0 && conn && (k = dk_virt_define(conn, xml)) == 0)
			defined = true;
		free(xml);
		if (k < 0)
			goto fail;
		struct dk_qemu_opts qo = {.display = DK_DISPLAY_GTK, .direct_io = true, .serial_file = false};
		struct dk_argv a;
		if (dk_qemu_argv(&r->plan, &files, &qo, &a) < 0)
			goto fail;
		char *sh = dk_argv_to_shell(&a);
		dk_argv_free(&a);
		char *full = dk_asprintf("#!/bin/sh\n# QEMU command line of VM %s (dkvm %s)\nexec %s", o->name, DKVM_VERSION, sh);
		free(sh);
		_cleanup_free_ char *ap = dk_asprintf("%s/qemu.argv", tmp);
		_cleanup_free_ char *sp = dk_asprintf("%s/start.sh", tmp);
		k = write_text(ap, full, 0700);
		free(full);
		if (k < 0 || write_text(sp, start_sh, 0755) < 0)
			goto fail;
	}

	/* Manifest */
	{
		json_object_object_add(man, "plan", dk_plan_to_json(&r->plan));
		json_object *ver = json_object_new_object();
		char *qv = qemu_version(r->plan.qemu_path);
		json_object_object_add(ver, "qemu", qv ? json_object_new_string(qv) : NULL);
		free(qv);
		if (caps.version) {
			char lv[32];
			snprintf(lv, sizeof lv, "%lu.%lu.%lu", caps.version / 1000000, caps.version / 1000 % 1000,
				 caps.version % 1000);
			json_object_object_add(ver, "libvirt", json_object_new_string(lv));
		}
		json_object_object_add(man, "versions", ver);
		json_object *lv = json_object_new_object();
		json_object_object_add(lv, "uri", o->uri ? json_object_new_string(o->uri) : NULL);
		json_object_object_add(lv, "defined", json_object_new_boolean(defined));
		json_object_object_add(man, "libvirt", lv);
		const char *s = json_object_to_json_string_ext(man, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
		_cleanup_free_ char *mp = dk_asprintf("%s/manifest.json", tmp);
		_cleanup_free_ char *txt = dk_strjoin(s, "\n");
		if (write_text(mp, txt, 0600) < 0)
			goto fail;
	}

	/* Commit: move an old bundle aside (--force), rename the new one in. */
	{
		_cleanup_free_ char *old = NULL;
		if (exists) {
			old = dk_asprintf("%s/.%s.old.%d", parent, o->name, (int)getpid());
			if (rename(final, old) < 0) {
				dk_fail_errno("%s", final);
				goto fail;
			}
		}
		if (rename(tmp, final) < 0) {
			if (errno == EEXIST || errno == ENOTEMPTY)
				dk_fail("%s: another dkvm create of this VM is running or has just finished", o->name);
			else
				dk_fail_errno("%s -> %s", tmp, final);
			if (old)
				rename(old, final);
			goto fail;
		}
		if (old)
			dk_rm_rf(old);
	}
	r->dir = dk_strdup(final);
	r->defined = defined;
	r->manifest = DK_TAKE_PTR(man);
	rc = 0;
	goto out;
fail:
	{
		/* Keep the first error while cleaning up. */
		char msg[DK_ERRMSG_MAX];
		snprintf(msg, sizeof msg, "%s", dk_errmsg());
		if (defined && conn)
			dk_virt_undefine(conn, o->name);
		if (vol_made && conn)
			dk_virt_vol_delete(conn, o->pool, vol_made);
		if (tmp)
			dk_rm_rf(tmp);
		dk_fail("%s", msg);
	}
out:
	if (man)
		json_object_put(man);
	dk_bundle_close(&fin);
	free(t_oc);
	free(t_disk);
	free(vol_made);
	free(t_vars);
	free(tmp);
	return rc;
}

/* A libvirt on this machine runs QEMU as its own user (libvirt-qemu): that
 * user must open /dev/kvm (else plan TCG) and, with --no-grant, already reach
 * the parent directory (else refuse before anything is built). */
static int libvirt_user_checks(const struct dk_create_opts *o, virConnectPtr conn, const char *parent,
			       struct dk_plan_opts *po, char *reason, size_t n)
{
	struct dk_ident qi;
	if (dk_virt_qemu_ident(conn, &qi) < 0)
		return -1;
	char why[160];
	if (po->accel == DK_ACCEL_KVM && !dk_ident_kvm_ok(&qi, why, sizeof why)) {
		if (o->accel == DK_ACCEL_FORCE_KVM) {
			dk_warn("--accel kvm: libvirt's QEMU user %s cannot open /dev/kvm (%s): dkvm start will run the domain "
				"under TCG until that is fixed (dkvm host check)",
				dk_ident_str(&qi), why);
		} else {
			snprintf(reason, n, "libvirt's QEMU user %s cannot open /dev/kvm (%s): TCG domain (slow); fix /dev/kvm "
				 "(dkvm host check), then create the VM again",
				 dk_ident_str(&qi), why);
			dk_warn("%s", reason);
			po->accel = DK_ACCEL_TCG;
			po->accel_reason = reason;
		}
	}
	if (!o->no_grant || o->dry_run)
		return 0;
	/* the deepest existing directory at or above the parent */
	_cleanup_free_ char *d = dk_strdup(parent);
	while (!dk_path_exists(d) && strrchr(d, '/') && strrchr(d, '/') != d)
		*strrchr(d, '/') = '\0';
	const char *dirs[] = {d, NULL};
	struct dk_grants g = {0};
	if (dk_access_missing(&qi, dirs, 0, &g) < 0)
		return -1;
	int rc = 0;
	if (g.n) {
		_cleanup_free_ char *fix = dk_access_fix(&g);
		rc = dk_fail("%s: libvirt's QEMU runs as %s and cannot reach %s; run: %s (or use --dir under "
			     "/var/lib/libvirt/images, or leave out --no-grant)",
			     o->name, dk_ident_str(&qi), parent, fix);
	}
	dk_grants_free(&g);
	return rc;
}

static int create_unlocked(const struct dk_create_opts *o, struct dk_create_result *r)
{
	_cleanup_free_ char *parent = dk_bundle_parent(o->parent);
	_cleanup_free_ char *final = dk_asprintf("%s/%s", parent, o->name);
	bool exists = dk_path_exists(final);
	if (o->pool && !o->uri)
		return dk_fail("--pool %s: needs --connect URI (the pool is libvirt's)", o->pool);
	if (exists && !o->force && !o->dry_run)
		return dk_fail("%s: a VM (or its kept disk) exists at %s; use --force to replace it", o->name, final);

	struct dk_host h;
	if (dk_vm_host(&h) < 0)
		return dk_fail_prefix("host");
	int rc = -1;
	virConnectPtr conn = NULL;
	char **unavail = NULL;
	char kvm_reason[384];
	json_object *old_access = NULL;
	struct dk_plan_opts po = o->plan;
	po.name = o->name;

	/* Failed host checks: the ISA, QEMU and OVMF refuse below (plan); the rest
	 * is said (IOMMU only matters for passthrough). */
	{
		struct dk_checks cs = {0};
		dk_host_checks(&h, &cs);
		for (size_t i = 0; i < cs.n; i++)
			if (cs.v[i].status == DK_CHECK_FAIL && strncmp(cs.v[i].id, "iommu", 5) != 0 &&
			    strncmp(cs.v[i].id, "macos", 5) != 0 && strncmp(cs.v[i].id, "libvirt.", 8) != 0)
				dk_warn("host check %s: %s (see dkvm host check)", cs.v[i].id, cs.v[i].summary);
		dk_checks_free(&cs);
	}
	/* Host checks that matter: QEMU and its firmware. */
	const char *qemu = h.qemu.path[0] ? h.qemu.path : "/usr/bin/qemu-system-x86_64";
	bool live = dk_sysroot_is_live();
	if (!o->no_host_check && live && access(qemu, X_OK) != 0) {
		dk_fail("host: QEMU not found (%s): install qemu-system-x86", qemu);
		goto out;
	}
	bool kvm = live ? access("/dev/kvm", R_OK | W_OK) == 0 : h.kvm.dev_present;
	po.accel = kvm ? DK_ACCEL_KVM : DK_ACCEL_TCG;
	if (o->accel == DK_ACCEL_FORCE_TCG) {
		po.accel = DK_ACCEL_TCG;
		po.accel_reason = "as requested (--accel tcg)";
	} else if (o->accel == DK_ACCEL_FORCE_KVM) {
		if (!kvm) {
			dk_fail("--accel kvm: /dev/kvm is not usable here");
			goto out;
		}
		po.accel_reason = "as requested (--accel kvm)";
	}
	struct dk_virt_caps caps;
	dk_virt_caps_for_version(h.libvirt.lib_version ? h.libvirt.lib_version : h.libvirt.version, &caps);
	if (!caps.version) {
		unsigned long lv = 0;
		if (virGetVersion(&lv, NULL, NULL) == 0)
			dk_virt_caps_for_version(lv, &caps);
	}
	if (o->uri) {
		if (!(conn = dk_virt_open(o->uri)))
			goto out;
		if (dk_virt_caps(conn, &caps) < 0)
			goto out;
		if (!caps.kvm) {
			if (o->accel == DK_ACCEL_FORCE_KVM) {
				dk_fail("--accel kvm: libvirt %s offers no KVM domains", o->uri);
				goto out;
			}
			po.accel = DK_ACCEL_TCG;
			po.accel_reason = "the libvirt connection offers no KVM domains";
		}
		if (dk_virt_uri_is_local(o->uri) && libvirt_user_checks(o, conn, parent, &po, kvm_reason, sizeof kvm_reason) < 0)
			goto out;
		if (dk_virt_defined(conn, o->name) && !o->force) {
			dk_fail("%s: a domain of that name is already defined in %s (use --force to replace it)", o->name, o->uri);
			goto out;
		}
	}
	/* Ask QEMU which features of the CPU model this host lacks. */
	if (!po.unavailable && !po.cpu_host && dk_sysroot_is_live() && access(qemu, X_OK) == 0) {
		const struct dk_macos *os = po.macos ? dk_macos_find(po.macos) : NULL;
		const struct dk_vm_profile *prof = po.model ? dk_vm_profile_find(po.model) : dk_vm_profile_for_macos(os);
		if (prof && dk_qemu_cpu_unavailable(qemu, dk_accel_name(po.accel), prof->cpu_model, &unavail) == 0) {
			po.unavailable = (const char *const *)unavail;
			/* KVM that cannot give the guest what the release needs
			 * (broken nested KVM) cannot run it: plan for TCG. */
			const struct dk_macos *tos = os ? os : dk_macos_find(prof->macos_default);
			const char *missing = NULL;
			for (int i = 0; tos && tos->isa[i] && !missing; i++)
				for (char **u = unavail; *u; u++)
					if (!strcmp(dk_cpu_feature_to_flag(*u), tos->isa[i]))
						missing = tos->isa[i];
			if (po.accel == DK_ACCEL_KVM && missing && o->accel != DK_ACCEL_FORCE_KVM) {
				static char reason[256];
				snprintf(reason, sizeof reason,
					 "KVM here cannot give the guest '%s' (QEMU query-cpu-definitions; nested virtualization?), which macOS %s needs: TCG emulation (slow)",
					 missing, tos->marketing);
				dk_warn("%s", reason);
				po.accel_reason = reason;
				po.accel = DK_ACCEL_TCG;
				dk_strv_free(unavail);
				unavail = NULL;
				po.unavailable = NULL;
				if (dk_qemu_cpu_unavailable(qemu, "tcg", prof->cpu_model, &unavail) == 0)
					po.unavailable = (const char *const *)unavail;
			}
		}
		dk_errclear();
	}
	if (dk_plan_build(&h, &po, &r->plan) < 0)
		goto out;
	/* --force over a defined domain: keep its UUID, so the define replaces it. */
	if (conn && o->force)
		dk_virt_uuid(conn, o->name, r->plan.uuid, sizeof r->plan.uuid);
	/* --force never pulls a bundle away from a running QEMU. */
	if (exists && o->force && !o->dry_run) {
		struct dk_bundle old;
		if (dk_bundle_open(parent, o->name, &old) == 0) {
			/* the grants it recorded go on with its replacement */
			json_object *acc;
			if (json_object_object_get_ex(old.manifest, "access", &acc) && acc)
				old_access = json_object_get(acc);
			struct dk_vm_state st;
			dk_vm_state(&old, &st);
			bool running = !strcmp(st.state, "running") || !strcmp(st.state, "paused");
			dk_bundle_close(&old);
			if (running) {
				dk_fail("%s: is running; stop it first (dkvm stop %s)", o->name, o->name);
				goto out;
			}
		}
		dk_errclear();
	}
	if (o->dry_run) {
		rc = 0;
		goto out;
	}

	rc = build_bundle(o, r, conn, &caps, parent, final, exists);
	/* libvirt's QEMU (another user) reaches the bundle from now on */
	if (rc == 0 && conn && dk_virt_uri_is_local(o->uri)) {
		struct dk_bundle b;
		struct dk_access_result ar;
		int k = dk_bundle_open(parent, o->name, &b);
		if (k == 0 && old_access) {
			json_object_object_add(b.manifest, "access", DK_TAKE_PTR(old_access));
			k = dk_bundle_write_manifest(&b);
		}
		if (k < 0 || dk_bundle_access(&b, conn, o->no_grant, &ar) < 0) {
			dk_warn("%s", dk_errmsg());
			dk_errclear();
		}
		dk_bundle_close(&b);
	}
out:
	if (old_access)
		json_object_put(old_access);
	dk_strv_free(unavail);
	dk_virt_close(conn);
	dk_host_free(&h);
	return rc;
}

/* One create of a name at a time: flock on <parent>/.NAME.lock, removed by
 * its holder. A lock file unlinked between our open and flock is not the
 * lock any more: open it again. */
static int create_lock(const char *path, const char *name)
{
	for (int i = 0; i < 20; i++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return dk_fail_errno("%s", path);
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			close(fd);
			if (e == EWOULDBLOCK)
				return dk_fail("%s: another dkvm create of this VM is running or has just finished", name);
			errno = e;
			return dk_fail_errno("%s: lock", path);
		}
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	return dk_fail("%s: cannot take the lock", path);
}

int dk_vm_create(const struct dk_create_opts *o, struct dk_create_result *r)
{
	memset(r, 0, sizeof *r);
	if (dk_vm_name_check(o->name, true) < 0)
		return -1;
	if (o->dry_run)
		return create_unlocked(o, r);
	_cleanup_free_ char *parent = dk_bundle_parent(o->parent);
	bool had_parent = dk_path_exists(parent);
	if (dk_mkdir_p(parent, 0755) < 0)
		return -1;
	_cleanup_free_ char *lock = dk_asprintf("%s/.%s.lock", parent, o->name);
	int fd = create_lock(lock, o->name);
	int rc = fd < 0 ? -1 : create_unlocked(o, r);
	if (fd >= 0) {
		unlink(lock);
		close(fd);
	}
	if (rc < 0 && !had_parent)
		rmdir(parent); /* made for nothing (only when empty) */
	return rc;
}
