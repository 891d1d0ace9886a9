/* The guide's set staged in a folder beside a path: opencore fetch --macos
 * (efi-MODEL-RELEASE[-GPU]/ beside the OpenCorePkg release zip, swapped in
 * once complete) and opencore config --guide-kexts (a temporary folder beside
 * the output, removed afterwards). Both call dk_oc_stage(). */
#include "opencore/opencore.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "<the directory of path>/<name>", or name when path has no directory. */
static char *beside(const char *path, const char *name)
{
	const char *slash = strrchr(path, '/');
	return slash ? dk_asprintf("%.*s/%s", (int)(slash - path), path, name) : dk_strdup(name);
}

/* dk_oc_stage() of o's set into dir; out->dir and out->kexts_dir set on success. */
static int stage_into(const struct dk_oc_stage_opts *o, const char *release, const char *dir,
		      struct dk_oc_staged_dir *out)
{
	struct dk_oc_stage_opts so = *o;
	so.release = release;
	so.dir = dir;
	if (dk_oc_stage(&so, &out->st) < 0)
		return -1;
	out->staged = true;
	return 0;
}

int dk_oc_stage_release(const struct dk_oc_stage_opts *o, struct dk_oc_staged_dir *out)
{
	memset(out, 0, sizeof *out);
	const struct dk_oc_set_opts *s = &o->set;
	char *name = dk_asprintf("efi-%s-%s%s%s", s->model->name, s->macos->name, s->gpu ? "-" : "",
				 s->gpu ? dk_gpu_name(s->gpu) : "");
	char *final = beside(o->release, name);
	free(name);
	char *tmp = dk_asprintf("%s.tmp.%d", final, (int)getpid());
	char *old = dk_asprintf("%s.old.%d", final, (int)getpid());
	int rc = stage_into(o, o->release, tmp, out);
	if (rc < 0) {
		dk_rm_rf(tmp);
		dk_fail_prefix("the guide's kext set");
		goto out;
	}
	/* replace an earlier set only now that the new one is complete */
	bool had = dk_path_exists(final);
	if ((had && rename(final, old) < 0) || rename(tmp, final) < 0) {
		rc = dk_fail_errno("%s", final);
		if (had)
			rename(old, final);
		dk_rm_rf(tmp);
		dk_oc_staged_dir_free(out);
		goto out;
	}
	if (had)
		dk_rm_rf(old);
	out->dir = final;
	final = NULL;
	out->kexts_dir = dk_asprintf("%s/Kexts", out->dir);
out:
	free(final);
	free(tmp);
	free(old);
	return rc;
}

int dk_oc_stage_for_sample(const struct dk_oc_stage_opts *o, const char *sample, const char *output,
			   struct dk_oc_staged_dir *out)
{
	memset(out, 0, sizeof *out);
	size_t l = strlen(sample);
	if (l < 17 || strcmp(sample + l - 17, "Docs/Sample.plist") || (l > 17 && sample[l - 18] != '/'))
		return dk_fail("%s is not the Docs/Sample.plist of an unpacked OpenCorePkg release "
			       "(the SSDTs come from its Docs/AcpiSamples)", sample);
	char *tmpl = beside(output, ".dkvm-kexts.XXXXXX");
	if (!mkdtemp(tmpl)) {
		dk_fail_errno("%s", tmpl);
		free(tmpl);
		return -1;
	}
	out->tmp = tmpl;
	char *release = l == 17 ? dk_strdup(".") : dk_strndup(sample, l - 18);
	char *dir = dk_asprintf("%s/efi", out->tmp);
	int rc = stage_into(o, release, dir, out);
	free(release);
	if (rc < 0) {
		free(dir);
		dk_oc_staged_dir_free(out);
		return -1;
	}
	out->dir = dir;
	out->kexts_dir = dk_asprintf("%s/Kexts", out->dir);
	return 0;
}

void dk_oc_staged_dir_free(struct dk_oc_staged_dir *d)
{
	if (!d)
		return;
	if (d->tmp)
		dk_rm_rf(d->tmp);
	if (d->staged)
		dk_oc_staged_free(&d->st);
	free(d->tmp);
	free(d->dir);
	free(d->kexts_dir);
	memset(d, 0, sizeof *d);
}
