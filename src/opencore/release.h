/* An OpenCorePkg release, as published (zip) or unpacked (directory): files
 * are addressed by their path inside the release ("X64/EFI/OC/OpenCore.efi").
 * A zip whose tree sits under one top-level folder is accepted too. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct dk_oc_release;

int dk_oc_release_open(const char *path, struct dk_oc_release **out);
void dk_oc_release_close(struct dk_oc_release *r);
const char *dk_oc_release_path(const struct dk_oc_release *r);
bool dk_oc_release_has(struct dk_oc_release *r, const char *rel);
/* Read a file (NUL-terminated). Errors name the release and the file. */
int dk_oc_release_read(struct dk_oc_release *r, const char *rel, char **data, size_t *len);
/* Regular files under dir (recursively), as paths relative to dir, sorted.
 * A missing dir gives an empty list. */
int dk_oc_release_list(struct dk_oc_release *r, const char *dir, char ***names, size_t *n);
void dk_oc_release_names_free(char **names, size_t n);
/* .kext bundles in a zip release (e.g. a kext release zip): their paths
 * ("Kexts/VirtualSMC.kext"), not nested in another .kext, sorted. */
int dk_oc_release_kexts(struct dk_oc_release *r, char ***paths, size_t *n);
