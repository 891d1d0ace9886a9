/* Model profiles and CPU model feature tables: data only. */
#include "vm/plan.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

/* The guide's CPU identities (darwinkvm-guide.md §2, detail §6.1/§6.2):
 * MacPro7,1 -> Cascadelake-Server, MacPro5,1 -> Westmere-v2 (+rdrand, the
 * overlay lacks it), MacPro4,1/3,1/2,1 -> Conroe-v1; iMacPro1,1 (the common
 * VM choice of peers) -> Skylake-Server, the Xeon W it shipped with. */
const struct dk_vm_profile dk_vm_profiles[] = {
	{"MacPro7,1", "Cascadelake-Server", "", "catalina", "tahoe", "sequoia", "vmware-svga",
	 "the guide's model for Catalina and later: a Cascade Lake Xeon W Mac Pro"},
	{"iMacPro1,1", "Skylake-Server", "", "highsierra", "sequoia", "sequoia", "vmware-svga",
	 "iMac Pro shipped a Skylake Xeon W; the common VM identity of peers"},
	{"MacPro5,1", "Westmere-v2", "+rdrand", "lion", "mojave", "mojave", "VGA",
	 "the guide's model for Mojave and older: a Westmere Xeon Mac Pro (+rdrand, which the Westmere model lacks)"},
	{"MacPro4,1", "Conroe-v1", "", "lion", "elcapitan", "elcapitan", "VGA",
	 "the guide's legacy template: Nehalem Mac Pro, modelled with the Conroe class CPU"},
	{"MacPro3,1", "Conroe-v1", "", "lion", "elcapitan", "elcapitan", "VGA",
	 "the guide's legacy template: Harpertown Mac Pro, modelled with the Conroe class CPU"},
	{"MacPro2,1", "Conroe-v1", "", "lion", "lion", "lion", "VGA",
	 "the guide's legacy template: Clovertown Mac Pro, modelled with the Conroe class CPU"},
};
const int dk_vm_profile_count = sizeof dk_vm_profiles / sizeof dk_vm_profiles[0];

const struct dk_vm_profile *dk_vm_profile_find(const char *model)
{
	if (!model)
		return NULL;
	for (int i = 0; i < dk_vm_profile_count; i++)
		if (!strcasecmp(model, dk_vm_profiles[i].model))
			return &dk_vm_profiles[i];
	return NULL;
}

const struct dk_vm_profile *dk_vm_profile_for_macos(const struct dk_macos *os)
{
	/* Guide §2.3: MacPro7,1 for 10.15 and later, MacPro5,1 for 10.6 - 10.14. */
	const struct dk_macos *catalina = dk_macos_find("catalina");
	if (!os || !catalina || dk_macos_cmp(os, catalina) >= 0)
		return dk_vm_profile_find("MacPro7,1");
	return dk_vm_profile_find("MacPro5,1");
}

/* Feature sets of QEMU's CPU models (QEMU 7.2 `query-cpu-model-expansion`
 * type=static: the properties that are on). Used for deterministic plans in
 * tests and when QEMU cannot be asked. */
static const char *const f_cascadelake[] = {
	"3dnowprefetch", "abm", "adx", "aes", "apic", "arat", "avx", "avx2", "avx512bw", "avx512cd",
	"avx512dq", "avx512f", "avx512vl", "avx512vnni", "bmi1", "bmi2", "clflush", "clflushopt",
	"clwb", "cmov", "cx16", "cx8", "de", "erms", "f16c", "fma", "fpu", "fsgsbase", "fxsr", "hle",
	"hypervisor", "invpcid", "lahf-lm", "lm", "mca", "mce", "mmx", "movbe", "msr", "mtrr", "nx",
	"pae", "pat", "pcid", "pclmulqdq", "pdpe1gb", "pge", "pku", "pni", "popcnt", "pse", "pse36",
	"rdrand", "rdseed", "rdtscp", "rtm", "sep", "smap", "smep", "spec-ctrl", "ssbd", "sse", "sse2",
	"sse4.1", "sse4.2", "ssse3", "syscall", "tsc", "tsc-deadline", "x2apic", "xgetbv1", "xsave",
	"xsavec", "xsaveopt", NULL};
static const char *const f_skylake_server[] = {
	"3dnowprefetch", "abm", "adx", "aes", "apic", "arat", "avx", "avx2", "avx512bw", "avx512cd",
	"avx512dq", "avx512f", "avx512vl", "bmi1", "bmi2", "clflush", "clflushopt", "clwb", "cmov",
	"cx16", "cx8", "de", "erms", "f16c", "fma", "fpu", "fsgsbase", "fxsr", "hle", "hypervisor",
	"invpcid", "lahf-lm", "lm", "mca", "mce", "mmx", "movbe", "msr", "mtrr", "nx", "pae", "pat",
	"pcid", "pclmulqdq", "pdpe1gb", "pge", "pku", "pni", "popcnt", "pse", "pse36", "rdrand",
	"rdseed", "rdtscp", "rtm", "sep", "smap", "smep", "sse", "sse2", "sse4.1", "sse4.2", "ssse3",
	"syscall", "tsc", "tsc-deadline", "x2apic", "xgetbv1", "xsave", "xsavec", "xsaveopt", NULL};
static const char *const f_westmere_v2[] = {
	"aes", "apic", "arat", "clflush", "cmov", "cx16", "cx8", "de", "fpu", "fxsr", "hypervisor",
	"lahf-lm", "lm", "mca", "mce", "mmx", "msr", "mtrr", "nx", "pae", "pat", "pclmulqdq", "pge",
	"pni", "popcnt", "pse", "pse36", "sep", "spec-ctrl", "sse", "sse2", "sse4.1", "sse4.2",
	"ssse3", "syscall", "tsc", NULL};
static const char *const f_conroe_v1[] = {
	"apic", "clflush", "cmov", "cx8", "de", "fpu", "fxsr", "hypervisor", "lahf-lm", "lm", "mca",
	"mce", "mmx", "msr", "mtrr", "nx", "pae", "pat", "pge", "pni", "pse", "pse36", "sep", "sse",
	"sse2", "ssse3", "syscall", "tsc", NULL};

const char *const *dk_cpu_model_features(const char *m)
{
	if (!m)
		return NULL;
	if (!strcmp(m, "Cascadelake-Server"))
		return f_cascadelake;
	if (!strcmp(m, "Skylake-Server"))
		return f_skylake_server;
	if (!strcmp(m, "Westmere-v2"))
		return f_westmere_v2;
	if (!strcmp(m, "Conroe-v1"))
		return f_conroe_v1;
	return NULL;
}

const char *dk_cpu_feature_to_flag(const char *f)
{
	static const struct {
		const char *qemu, *flag;
	} map[] = {
		{"sse4.1", "sse4_1"},      {"sse4.2", "sse4_2"},
		{"lahf-lm", "lahf_lm"},    {"tsc-deadline", "tsc_deadline_timer"},
		{"avx512vnni", "avx512_vnni"}, {"spec-ctrl", "ibrs"},
		{"xgetbv1", "xgetbv1"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(f, map[i].qemu))
			return map[i].flag;
	return f;
}
