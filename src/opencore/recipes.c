/* The DarwinKVM guide's config.plist changes as data: each recipe is a path,
 * a value, the condition under which it applies (model, macOS range, GPU, host
 * CPU, kext present/absent) and the reason shown by --explain. Recipes apply
 * in table order on top of the release's own Sample.plist; a later recipe for
 * the same path wins.
 *
 * "modern" models follow the guide's MacPro7,1 walk-through, "legacy" Mac Pros
 * (5,1 and older) its MacPro5,1 page. */
#include "opencore/oc_internal.h"
#include "util/mem.h"
#include "util/strv.h"

#include <stdlib.h>

#include <string.h>

#define MODERN "MacPro7,1|MacPro6,1|iMacPro1,1|iMac20,1|iMac19,1|Macmini8,1"
#define LEGACY "MacPro5,1|MacPro4,1|MacPro3,1|MacPro2,1|MacPro1,1"
#define NV_APPLE "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82"
#define GPU(x) (1u << (x))
#define CPU(x) (1u << (x))

#define SET(p, t, v, ...) {.op = DK_OC_SET, .path = (p), .type = (t), .value = (v), __VA_ARGS__}
#define CLEAR(p, ...) {.op = DK_OC_CLEAR, .path = (p), __VA_ARGS__}
#define BOOTARG(v, ...) {.op = DK_OC_BOOTARG, .path = NV_APPLE "/boot-args", .type = 's', .value = (v), __VA_ARGS__}
#define APPEND(p, f, ...) {.op = DK_OC_APPEND, .path = (p), .fields = (f), __VA_ARGS__}

#define DRIVER(name)                                                                                  \
	(const struct dk_oc_field[])                                                                  \
	{                                                                                             \
		{"Path", 's', name}, {"Enabled", 'b', "true"}, {"LoadEarly", 'b', "false"},           \
			{"Arguments", 's', ""}, {"Comment", 's', name}, { NULL, 0, NULL }             \
	}

/* CaseySJ's IOPCIIsHotplugPort patch: fixes PCI bus enumeration on KVM from
 * Ventura (Darwin 22) on; the guide raises MaxKernel to 29.99.99. */
static const struct dk_oc_field kvm_pci_patch[] = {
	{"Arch", 's', "x86_64"},
	{"Base", 's', "__ZN17IOPCIConfigurator18IOPCIIsHotplugPortEP16IOPCIConfigEntry"},
	{"Comment", 's', "CaseySJ | IOPCIIsHotplugPort | Fix PCI bus enumeration on KVM | 13.0+"},
	{"Count", 'i', "1"},
	{"Enabled", 'b', "true"},
	{"Find", 'x', "8400754B"},
	{"Identifier", 's', "com.apple.iokit.IOPCIFamily"},
	{"Limit", 'i', "0"},
	{"Mask", 'x', "FF00FFFF"},
	{"MaxKernel", 's', "29.99.99"},
	{"MinKernel", 's', "22.0.0"},
	{"Replace", 'x', "0000EB00"},
	{"ReplaceMask", 'x', "0000FF00"},
	{"Skip", 'i', "0"},
	{NULL, 0, NULL},
};

const struct dk_oc_recipe dk_oc_recipes[] = {
	/* ---- strip the sample's examples ("clean snapshot") ---- */
	CLEAR("ACPI/Add", .reason = "guide: ACPI/Add lists exactly the SSDTs in EFI/OC/ACPI; the Sample's examples are removed"),
	CLEAR("ACPI/Delete", .reason = "guide (ProperTree strip): the Sample's disabled ACPI delete examples are removed"),
	CLEAR("ACPI/Patch", .reason = "guide (ProperTree strip): the Sample's disabled ACPI patch examples are removed"),
	CLEAR("Booter/MmioWhitelist", .reason = "guide: MmioWhitelist unused on KVM"),
	CLEAR("Booter/Patch", .reason = "guide: Booter/Patch unused on KVM"),
	CLEAR("DeviceProperties/Add", .reason = "guide: DeviceProperties unused until passthrough write-ups; drops the Sample's layout-id example"),
	CLEAR("Kernel/Add", .reason = "guide: Kernel/Add lists exactly the kexts in EFI/OC/Kexts, in load order"),
	CLEAR("Kernel/Block", .reason = "guide (ProperTree strip): the Sample's block examples are removed"),
	CLEAR("Kernel/Force", .reason = "guide (ProperTree strip): the Sample's force examples are removed"),
	CLEAR("Kernel/Patch", .reason = "guide: the Sample's patches are removed; only the KVM PCI fix is added"),
	CLEAR("Misc/Entries", .reason = "guide: no custom boot entries"),
	CLEAR("Misc/Tools", .reason = "guide: no tools needed (the OVMF shell suffices)"),
	CLEAR("UEFI/Drivers", .reason = "guide: UEFI/Drivers lists exactly the drivers in EFI/OC/Drivers, in load order"),
	CLEAR("UEFI/ReservedMemory", .reason = "guide (ProperTree strip): the Sample's reserved-memory examples are removed"),

	/* ---- Booter/Quirks ---- */
	SET("Booter/Quirks/EnableWriteUnprotector", 'b', "false",
	    .reason = "guide: off, RebuildAppleMemoryMap + SyncRuntimePermissions protect the memory map instead"),
	SET("Booter/Quirks/RebuildAppleMemoryMap", 'b', "true", .reason = "guide: rebuild the memory map for OVMF"),
	SET("Booter/Quirks/SetupVirtualMap", 'b', "false", .reason = "guide: OVMF does not need virtual map setup"),
	SET("Booter/Quirks/SyncRuntimePermissions", 'b', "true", .reason = "guide: fix runtime memory permissions (OVMF)"),
	SET("Booter/Quirks/AllowRelocationBlock", 'b', "true", .models = LEGACY,
	    .reason = "guide (MacPro5,1): older macOS needs the relocation block; it relies on ProvideCustomSlide, which therefore stays on"),
	SET("Booter/Quirks/EnableSafeModeSlide", 'b', "false", .models = LEGACY, .reason = "guide (MacPro5,1)"),
	SET("Booter/Quirks/FixupAppleEfiImages", 'b', "true", .models = LEGACY,
	    .reason = "guide (MacPro5,1): old boot.efi images need fixing up to load"),
	SET("Booter/Quirks/ProvideCustomSlide", 'b', "true", .models = LEGACY,
	    .reason = "guide (MacPro5,1) says false, but AllowRelocationBlock requires ProvideCustomSlide (OpenCore's validator); kept on"),

	/* ---- Kernel ---- */
	SET("Kernel/Emulate/DummyPowerManagement", 'b', "true", .models = LEGACY,
	    .reason = "guide (MacPro5,1): disable AppleIntelCPUPowerManagement (no Westmere PM MSRs in a VM)"),
	SET("Kernel/Emulate/DummyPowerManagement", 'b', "true", .cpus = CPU(DK_HOSTCPU_AMD),
	    .reason = "AMD host: no Intel power-management MSRs behind the Intel CPU model; disable AppleIntelCPUPowerManagement"),
	SET("Kernel/Quirks/DisableLinkeditJettison", 'b', "false", .models = LEGACY, .kext = "!as.vit9696.Lilu",
	    .reason = "guide (MacPro5,1)"),
	SET("Kernel/Quirks/DisableLinkeditJettison", 'b', "true", .kext = "as.vit9696.Lilu",
	    .reason = "Lilu is loaded: it needs __LINKEDIT kept (OpenCore's validator requires this quirk with Lilu)"),
	SET("Kernel/Quirks/ForceSecureBootScheme", 'b', "true", .models = MODERN,
	    .reason = "guide (MacPro7,1): force x86 secure boot scheme in a VM"),
	SET("Kernel/Quirks/PanicNoKextDump", 'b', "true", .reason = "guide: readable panic logs"),
	SET("Kernel/Quirks/PowerTimeoutKernelPanic", 'b', "true", .reason = "guide: avoid power-state timeout panics"),
	SET("Kernel/Quirks/ProvideCurrentCpuInfo", 'b', "true",
	    .reason = "guide: give macOS the vCPU's TSC/FSB frequencies (KVM does not expose Apple's MSRs)"),
	SET("Kernel/Scheme/FuzzyMatch", 'b', "false", .models = MODERN, .reason = "guide (MacPro7,1)"),
	SET("Kernel/Scheme/KernelArch", 's', "x86_64", .reason = "guide: 64-bit kernel only"),
	SET("Kernel/Scheme/KernelCache", 's', "Auto", .reason = "guide: Auto (Prelinked optional on modern releases)"),
	APPEND("Kernel/Patch", kvm_pci_patch, .os_min = "ventura", .upgrade = true,
	       .reason = "guide: CaseySJ IOPCIIsHotplugPort patch, fixes PCI bus enumeration hangs on KVM from Ventura; "
			 "MaxKernel raised to 29.99.99; the guide keeps it always (inactive before Ventura by MinKernel 22.0.0), "
			 "so an in-place upgrade to Ventura or later boots"),

	/* ---- Misc ---- */
	SET("Misc/Boot/PollAppleHotKeys", 'b', "true", .models = MODERN, .reason = "guide (MacPro7,1): allow Apple hot keys in the picker"),
	SET("Misc/Boot/HibernateMode", 's', "RTC", .models = LEGACY, .reason = "guide (MacPro5,1)"),
	SET("Misc/Debug/AppleDebug", 'b', "true", .reason = "guide: boot.efi debug log"),
	SET("Misc/Debug/ApplePanic", 'b', "true", .reason = "guide: save panic logs"),
	SET("Misc/Debug/DisableWatchDog", 'b', "true", .reason = "guide: no watchdog reset while loading a recovery dmg"),
	SET("Misc/Debug/Target", 'i', "67", .reason = "guide: log to console and file (67)"),
	SET("Misc/Security/AllowSetDefault", 'b', "true", .reason = "guide: Ctrl+Enter sets the default boot entry"),
	SET("Misc/Security/ExposeSensitiveData", 'i', "15", .reason = "guide: expose OC version and paths to the OS (15)"),
	SET("Misc/Security/ScanPolicy", 'i', "0", .reason = "guide: scan every device and file system (0)"),
	SET("Misc/Security/Vault", 's', "Optional", .reason = "guide: no vault signing (value is case-sensitive: Optional)"),
	SET("Misc/Security/SecureBootModel", 's', "Default", .models = MODERN, .os_max = "ventura",
	    .reason = "guide (MacPro7,1): Apple Secure Boot with the default model"),
	SET("Misc/Security/SecureBootModel", 's', "Disabled", .os_max = "sierra",
	    .reason = "Apple Secure Boot needs macOS 10.13.6 or newer"),
	SET("Misc/Security/SecureBootModel", 's', "Disabled", .models = LEGACY,
	    .reason = "guide (MacPro5,1): Apple Secure Boot off on the legacy Mac Pro path"),
	SET("Misc/Security/SecureBootModel", 's', "Disabled", .os_min = "sonoma",
	    .reason = "Sonoma and later recovery images fail with DmgLoading=Signed on KVM (OS.dmg.root_hash error); DmgLoading=Any needs SecureBootModel=Disabled"),
	SET("Misc/Security/DmgLoading", 's', "Signed", .os_max = "ventura",
	    .reason = "load only Apple-signed dmgs (Sample default)"),
	SET("Misc/Security/DmgLoading", 's', "Any", .os_min = "sonoma",
	    .reason = "Sonoma and later recovery dmgs fail signature checks on KVM (OS.dmg.root_hash); Any is allowed with SecureBootModel=Disabled"),

	/* ---- NVRAM ---- */
	BOOTARG("debug=0x100", .reason = "guide boot-args catalog: do not reboot on panic, so the panic stays readable"),
	BOOTARG("-nehalem_error_disable", .models = "MacPro5,1|MacPro4,1",
		.reason = "guide: disables AppleTyMCEDriver, which panics on non-ECC memory"),
	BOOTARG("agdpmod=pikera", .gpus = GPU(DK_GPU_NAVI), .kext = "as.vit9696.WhateverGreen", .without = "NootRX",
		.reason = "guide GPU chart: Navi (RX 5000/6000) with WhateverGreen: agdpmod=pikera (black screen after boot "
			  "otherwise); never for older AMD cards, never with NootRX"),
	BOOTARG("agdpmod=vit9696", .gpus = GPU(DK_GPU_NVIDIA) | GPU(DK_GPU_KEPLER), .kext = "as.vit9696.WhateverGreen",
		.reason = "guide: WhateverGreen GPUs: disable the board-id check (black screen after boot)"),
	SET(NV_APPLE "/csr-active-config", 'x', "00000000", .reason = "guide: SIP left enabled (Sample value)"),
	/* guide 8.15, legacy NVIDIA / OCLP: Kepler is dropped in Monterey; its
	 * driver comes back through OpenCore Legacy Patcher's root patch */
	SET(NV_APPLE "/csr-active-config", 'x', "03080000", .gpus = GPU(DK_GPU_KEPLER), .os_min = "monterey",
	    .reason = "guide (legacy NVIDIA / OCLP): Kepler past Big Sur needs SIP partly off (0x803: unsigned kexts, "
		      "unrestricted FS, authenticated root off) for OCLP's root patch; the guide writes 5 bytes, "
		      "csr-active-config is 4"),
	BOOTARG("ngfxgl=1", .gpus = GPU(DK_GPU_KEPLER), .os_min = "monterey",
		.reason = "guide (legacy NVIDIA / OCLP): NVIDIA OpenGL with the root-patched driver"),
	BOOTARG("ngfxcompat=1", .gpus = GPU(DK_GPU_KEPLER), .os_min = "monterey",
		.reason = "guide (legacy NVIDIA / OCLP): NVIDIA compatibility with the root-patched driver"),
	BOOTARG("amfi_get_out_of_my_way=1", .gpus = GPU(DK_GPU_KEPLER), .os_min = "monterey",
		.reason = "guide (legacy NVIDIA / OCLP): AMFI off so the root-patched driver loads"),
	BOOTARG("ipc_control_port_options=0", .gpus = GPU(DK_GPU_KEPLER), .os_min = "monterey",
		.reason = "guide: Electron apps crash with AMFI off without it"),
	SET(NV_APPLE "/prev-lang:kbd", 'a', "en:252", .reason = "guide: English, ABC keyboard (replaces the Sample's ru-RU:252)"),
	SET("NVRAM/LegacyOverwrite", 'b', "false", .reason = "guide"),

	/* ---- PlatformInfo ---- */
	SET("PlatformInfo/Generic/SystemProductName", '$', "product", .reason = "the SMBIOS identity's model"),
	SET("PlatformInfo/Generic/SystemProductName", '$', "product", .models = "iMacPro1,1|MacPro6,1|iMac20,1|iMac19,1|Macmini8,1",
	    .reason = "the SMBIOS identity's model; the guide has no page of its own for it: it uses the MacPro7,1 recipe "
		      "(every \"guide (MacPro7,1)\" entry applies to it)"),
	SET("PlatformInfo/Generic/SystemSerialNumber", '$', "serial", .reason = "unique generated serial (must not belong to a real Mac)"),
	SET("PlatformInfo/Generic/MLB", '$', "mlb", .reason = "board serial matching the serial (checksum-valid)"),
	SET("PlatformInfo/Generic/SystemUUID", '$', "uuid", .reason = "random version 4 UUID"),
	SET("PlatformInfo/Generic/ROM", '$', "rom", .reason = "6 bytes: an Apple OUI + 3 random bytes"),

	/* ---- UEFI ---- */
	SET("UEFI/APFS/MinDate", 'i', "-1", .os_max = "catalina",
	    .reason = "guide: OpenCore must list Catalina-or-older APFS volumes (-1 = no minimum)"),
	SET("UEFI/APFS/MinVersion", 'i', "-1", .os_max = "catalina",
	    .reason = "guide: OpenCore must list Catalina-or-older APFS volumes (-1 = no minimum)"),
	SET("UEFI/Output/GopPassThrough", 's', "Enabled", .models = LEGACY, .reason = "guide (MacPro5,1)"),
	SET("UEFI/Output/ReconnectGraphicsOnConnect", 'b', "true", .models = LEGACY, .reason = "guide (MacPro5,1)"),
	SET("UEFI/Output/UgaPassThrough", 'b', "true", .models = LEGACY, .reason = "guide (MacPro5,1): old boot.efi draws through UGA"),
	SET("UEFI/Output/Resolution", '$', "resolution", .reason = "requested screen resolution (must match the OVMF setting)"),
	APPEND("UEFI/Drivers", DRIVER("OpenRuntime.efi"),
	       .reason = "guide: always loaded (memory and NVRAM fixes; required by ProvideCustomSlide and friends)"),
	APPEND("UEFI/Drivers", DRIVER("OpenPartitionDxe.efi"), .os_max = "mojave",
	       .reason = "guide: required on the Mojave-or-older path (Apple partition maps)"),
	APPEND("UEFI/Drivers", DRIVER("OpenHfsPlus.efi"), .os_min = "catalina",
	       .reason = "guide: HFS+ driver for the recovery and installer volumes"),
	APPEND("UEFI/Drivers", DRIVER("HfsPlusLegacy.efi"), .os_max = "mojave",
	       .reason = "guide: Mojave or older must use HfsPlusLegacy.efi (OcBinaryData), never OpenHfsPlus/HfsPlus; needs DUDK firmware"),
	APPEND("UEFI/Drivers", DRIVER("ResetNvramEntry.efi"), .reason = "guide: always loaded (Reset NVRAM picker entry)"),
};
const int dk_oc_recipe_count = sizeof dk_oc_recipes / sizeof dk_oc_recipes[0];

char **dk_oc_recipe_bootargs(void)
{
	struct dk_strv v = {0};
	for (int i = 0; i < dk_oc_recipe_count; i++) {
		if (dk_oc_recipes[i].op != DK_OC_BOOTARG)
			continue;
		char *copy = dk_strdup(dk_oc_recipes[i].value);
		for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
			if (!dk_strv_contains(v.v, t))
				dk_strv_push(&v, t);
		free(copy);
	}
	return dk_strv_take(&v);
}

/* DeviceProperties the guide's write-ups add for passed-through devices:
 * AppleALC's layout-id on the HD Audio controller (motherboard audio; the
 * guide writes it as a Number, AppleALC reads 4-byte data, as OpenCore's own
 * Sample example), and the GPU chart's device-id spoof (4-byte little-endian
 * data) for cards macOS knows only under a sibling's id. The chart
 * (host/gpu.c) says which cards and which id: the caller passes it. */
const struct dk_oc_devprop dk_oc_devprops[] = {
	{'a', 0, 0, "layout-id", '$', "layout",
	 "guide (motherboard audio): AppleALC layout-id on the passed HD Audio controller, instead of alcid= boot-arg"},
	{'g', 0, 0, "device-id", '$', "spoof",
	 "guide GPU chart: macOS drives this card under a sibling's device-id (6650 XT 0x73ff, 6950 XT 0x73bf, Lexa 0x67ff, Tonga 0x6939, Hawaii 0x67b0, Bonaire 0x6640, Pitcairn 0x6818, Tahiti 0x6790)"},
};
const int dk_oc_devprop_count = sizeof dk_oc_devprops / sizeof dk_oc_devprops[0];

/* Kexts with fixed layout or kernel limits (OpenCore's validator knows the
 * first kind; the guide gives the second). */
const struct dk_oc_known_kext dk_oc_known_kexts[] = {
	{"Lilu", "Contents/MacOS/Lilu", NULL, "", "", NULL},
	{"VirtualSMC", "Contents/MacOS/VirtualSMC", "Lilu", "", "", NULL},
	{"WhateverGreen", "Contents/MacOS/WhateverGreen", "Lilu", "", "", NULL},
	{"AppleALC", "Contents/MacOS/AppleALC", "Lilu", "", "", NULL},
	{"RestrictEvents", "Contents/MacOS/RestrictEvents", "Lilu", "", "", NULL},
	{"NVMeFix", "Contents/MacOS/NVMeFix", "Lilu", "", "", NULL},
	{"CPUFriend", "Contents/MacOS/CPUFriend", "Lilu", "", "", NULL},
	{"HibernationFixup", "Contents/MacOS/HibernationFixup", "Lilu", "", "", NULL},
	{"FeatureUnlock", "Contents/MacOS/FeatureUnlock", "Lilu", "", "", NULL},
	{"AirportBrcmFixup", "Contents/MacOS/AirportBrcmFixup", "Lilu", "", "", NULL},
	{"BlueToolFixup", NULL, "Lilu", "", "", NULL},
	{"ECEnabler", NULL, "Lilu", "", "", NULL},
	{"NootRX", NULL, "Lilu", "", "", NULL},
	{"NootedRed", NULL, "Lilu", "", "", NULL},
	{"SMCProcessor", "Contents/MacOS/SMCProcessor", "VirtualSMC", "", "", NULL},
	{"SMCSuperIO", "Contents/MacOS/SMCSuperIO", "VirtualSMC", "", "", NULL},
	{"SMCBatteryManager", "Contents/MacOS/SMCBatteryManager", "VirtualSMC", "", "", NULL},
	{"SMCLightSensor", "Contents/MacOS/SMCLightSensor", "VirtualSMC", "", "", NULL},
	{"SMCDellSensors", "Contents/MacOS/SMCDellSensors", "VirtualSMC", "", "", NULL},
	{"VMHide", NULL, "Lilu", "23.0.0", "", "guide: needed from Sonoma (Darwin 23)"},
	{"CryptexFixup", NULL, "Lilu", "22.0.0", "", "only needed from Ventura (Darwin 22)"},
	{"AppleMCEReporterDisabler", NULL, NULL, "21.4.0", "",
	 "guide: required on KVM from macOS 12.3 (Darwin 21.4)"},
};
const int dk_oc_known_kext_count = sizeof dk_oc_known_kexts / sizeof dk_oc_known_kexts[0];

const struct dk_oc_known_kext *dk_oc_known_kext_find(const char *name)
{
	for (int i = 0; i < dk_oc_known_kext_count; i++)
		if (!strcmp(dk_oc_known_kexts[i].name, name))
			return &dk_oc_known_kexts[i];
	return NULL;
}
