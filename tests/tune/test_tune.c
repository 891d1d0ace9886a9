/* tune unit tests: the pure vfio file edits and the unified diff. */
#include "t.h"
#include "tune/vfio.h"
#include "util/diff.h"
#include "util/strv.h"

static char *P[] = {"intel_iommu=on", "iommu=pt", "vfio-pci.ids=1002:73ff,1002:ab28", NULL};

#define EDIT(call, want)                   \
	do {                               \
		char *_r = (call);         \
		CHECK_STR(_r, want);       \
		free(_r);                  \
	} while (0)

TEST(kernel_params_by_vendor)
{
	char **a = dk_vfio_kernel_params(DK_VENDOR_AMD, "1002:73ff");
	char *j = dk_strv_join(a, " ");
	CHECK_STR(j, "iommu=pt vfio-pci.ids=1002:73ff");
	free(j);
	dk_strv_free(a);
	a = dk_vfio_kernel_params(DK_VENDOR_INTEL, "10de:1b80,10de:10f0");
	j = dk_strv_join(a, " ");
	CHECK_STR(j, "intel_iommu=on iommu=pt vfio-pci.ids=10de:1b80,10de:10f0");
	free(j);
	dk_strv_free(a);
}

TEST(cmdline_merge)
{
	EDIT(dk_vfio_cmdline_merge("quiet splash", P), "quiet splash intel_iommu=on iommu=pt vfio-pci.ids=1002:73ff,1002:ab28");
	/* already there: the input unchanged, whitespace and all */
	EDIT(dk_vfio_cmdline_merge("a  intel_iommu=on,igfx_off iommu=pt vfio-pci.ids=1002:ab28,1002:73ff", P),
	     "a  intel_iommu=on,igfx_off iommu=pt vfio-pci.ids=1002:ab28,1002:73ff");
	/* other values replaced in place; ids united */
	EDIT(dk_vfio_cmdline_merge("intel_iommu=off iommu=soft vfio-pci.ids=10de:1b80 quiet", P),
	     "intel_iommu=on iommu=pt vfio-pci.ids=10de:1b80,1002:73ff,1002:ab28 quiet");
	EDIT(dk_vfio_cmdline_merge("", P), "intel_iommu=on iommu=pt vfio-pci.ids=1002:73ff,1002:ab28");
}

TEST(grub_edit)
{
	EDIT(dk_vfio_edit_grub("A=1\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n", P),
	     "A=1\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on iommu=pt vfio-pci.ids=1002:73ff,1002:ab28\"\nGRUB_CMDLINE_LINUX=\"\"\n");
	/* satisfied by GRUB_CMDLINE_LINUX: not repeated in _DEFAULT */
	EDIT(dk_vfio_edit_grub("GRUB_CMDLINE_LINUX=\"iommu=pt intel_iommu=on\"\nGRUB_CMDLINE_LINUX_DEFAULT='quiet'\n", P),
	     "GRUB_CMDLINE_LINUX=\"iommu=pt intel_iommu=on\"\nGRUB_CMDLINE_LINUX_DEFAULT='quiet vfio-pci.ids=1002:73ff,1002:ab28'\n");
	/* commented lines are not the setting; no newline at the end */
	EDIT(dk_vfio_edit_grub("#GRUB_CMDLINE_LINUX_DEFAULT=\"x\"", P),
	     "#GRUB_CMDLINE_LINUX_DEFAULT=\"x\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"intel_iommu=on iommu=pt vfio-pci.ids=1002:73ff,1002:ab28\"\n");
	/* unquoted value gets quotes */
	EDIT(dk_vfio_edit_grub("GRUB_CMDLINE_LINUX_DEFAULT=quiet\n", P),
	     "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=on iommu=pt vfio-pci.ids=1002:73ff,1002:ab28\"\n");
	/* idempotent */
	char *once = dk_vfio_edit_grub("GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n", P);
	EDIT(dk_vfio_edit_grub(once, P), once);
	free(once);
}

TEST(loader_entry_edit)
{
	EDIT(dk_vfio_edit_loader_entry("title A\noptions root=X rw\noptions quiet\n", P),
	     "title A\noptions root=X rw\noptions quiet intel_iommu=on iommu=pt vfio-pci.ids=1002:73ff,1002:ab28\n");
	/* a parameter on an earlier options line counts */
	EDIT(dk_vfio_edit_loader_entry("options iommu=pt intel_iommu=on\noptions vfio-pci.ids=1002:73ff,1002:ab28\n", P),
	     "options iommu=pt intel_iommu=on\noptions vfio-pci.ids=1002:73ff,1002:ab28\n");
	EDIT(dk_vfio_edit_loader_entry("title A\nlinux /vmlinuz", P),
	     "title A\nlinux /vmlinuz\noptions intel_iommu=on iommu=pt vfio-pci.ids=1002:73ff,1002:ab28\n");
	EDIT(dk_vfio_edit_kernel_cmdline("root=X rw\n", P), "root=X rw intel_iommu=on iommu=pt vfio-pci.ids=1002:73ff,1002:ab28\n");
}

TEST(kernelstub_edit)
{
	const char *in = "{\"user\": {\"kernel_options\": [\"quiet\", \"iommu=pt\"], \"esp_path\": \"/boot/efi\"}}";
	char *r = dk_vfio_edit_kernelstub(in, P);
	CHECK_CONTAINS(r, "\"quiet\",\n      \"iommu=pt\",\n      \"intel_iommu=on\",\n      \"vfio-pci.ids=1002:73ff,1002:ab28\"");
	CHECK_CONTAINS(r, "\"esp_path\": \"/boot/efi\"");
	EDIT(dk_vfio_edit_kernelstub(r, P), r);
	free(r);
	CHECK(dk_vfio_edit_kernelstub("{\"default\": {}}", P) == NULL);
	CHECK(dk_vfio_edit_kernelstub("not json", P) == NULL);
}

TEST(modprobe_edit)
{
	char *drv[] = {"amdgpu", "snd_hda_intel", NULL};
	char *r = dk_vfio_edit_modprobe(NULL, "1002:73ff,1002:ab28", drv);
	CHECK_CONTAINS(r, "\noptions vfio-pci ids=1002:73ff,1002:ab28\nsoftdep amdgpu pre: vfio-pci\nsoftdep snd_hda_intel pre: vfio-pci\n");
	EDIT(dk_vfio_edit_modprobe(r, "1002:73ff,1002:ab28", drv), r);
	free(r);
	/* an existing file: ids merged, present softdeps kept */
	EDIT(dk_vfio_edit_modprobe("options vfio-pci ids=10de:1b80 disable_vga=1\nsoftdep amdgpu pre: vfio-pci\n", "1002:73ff", drv),
	     "options vfio-pci ids=10de:1b80,1002:73ff disable_vga=1\nsoftdep amdgpu pre: vfio-pci\nsoftdep snd_hda_intel pre: vfio-pci\n");
}

TEST(initramfs_edits)
{
	EDIT(dk_vfio_edit_initramfs_tools("# c\nvfio\n"), "# c\nvfio\nvfio_iommu_type1\nvfio_pci\n");
	EDIT(dk_vfio_edit_initramfs_tools("# vfio_pci\nvfio\nvfio_iommu_type1\nvfio_pci\n"), "# vfio_pci\nvfio\nvfio_iommu_type1\nvfio_pci\n");
	char *d = dk_vfio_edit_dracut(NULL);
	CHECK_CONTAINS(d, "force_drivers+=\" vfio vfio_iommu_type1 vfio_pci \"\n");
	EDIT(dk_vfio_edit_dracut(d), d);
	free(d);
	EDIT(dk_vfio_edit_mkinitcpio("MODULES=()\nHOOKS=(base)\n"), "MODULES=(vfio_pci vfio vfio_iommu_type1)\nHOOKS=(base)\n");
	EDIT(dk_vfio_edit_mkinitcpio("# MODULES=(x)\nMODULES=(amdgpu vfio)\n"),
	     "# MODULES=(x)\nMODULES=(vfio_pci vfio_iommu_type1 amdgpu vfio)\n");
	EDIT(dk_vfio_edit_mkinitcpio("MODULES=(vfio_pci vfio vfio_iommu_type1)\n"), "MODULES=(vfio_pci vfio vfio_iommu_type1)\n");
	EDIT(dk_vfio_edit_mkinitcpio("HOOKS=(base)\n"), "HOOKS=(base)\nMODULES=(vfio_pci vfio vfio_iommu_type1)\n");
}

TEST(unified_diff)
{
	EDIT(dk_udiff("a\nb\n", "a\nb\n", "x", "y"), "");
	EDIT(dk_udiff("a\nb\nc\n", "a\nB\nc\n", "a/f", "b/f"), "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
	EDIT(dk_udiff(NULL, "x\n", "a/f", "b/f"), "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+x\n");
	EDIT(dk_udiff("x\n", NULL, "a/f", "b/f"), "--- a/f\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n");
	EDIT(dk_udiff("x", "x\n", "a", "b"), "--- a\n+++ b\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+x\n");
	/* two changes far apart: two hunks */
	EDIT(dk_udiff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n", "a", "b"),
	     "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+Y\n");
}

int main(void)
{
	RUN(kernel_params_by_vendor);
	RUN(cmdline_merge);
	RUN(grub_edit);
	RUN(loader_entry_edit);
	RUN(kernelstub_edit);
	RUN(modprobe_edit);
	RUN(initramfs_edits);
	RUN(unified_diff);
	return t_done();
}
