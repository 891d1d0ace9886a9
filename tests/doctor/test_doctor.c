#include "t.h"
#include "doctor/doctor.h"
#include "util/mem.h"

#include <string.h>

TEST(rules_table)
{
	CHECK(dk_doctor_n_rules >= 20);
	for (size_t i = 0; i < dk_doctor_n_rules; i++) {
		const struct dk_doctor_rule *r = &dk_doctor_rules[i];
		CHECK(r->id && *r->id);
		CHECK(r->checks && *r->checks);
		CHECK(r->fix && strlen(r->fix) > 10);
		CHECK(r->severity == DK_DOC_ERROR || r->severity == DK_DOC_WARNING || r->severity == DK_DOC_INFO);
		for (const char *p = r->id; *p; p++)
			CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
		for (size_t j = i + 1; j < dk_doctor_n_rules; j++)
			CHECK(strcmp(r->id, dk_doctor_rules[j].id) != 0);
		CHECK(dk_doctor_rule(r->id) == r);
	}
	CHECK(dk_doctor_rule("nope") == NULL);
	CHECK(dk_doctor_rule(NULL) == NULL);
}

/* Pure checks over a hand-made input: every finding names a rule of the
 * table and carries evidence and a fix. */
TEST(run_over_parsed_input)
{
	static const char xml[] =
		"<domain type='kvm'><name>x</name><description>macOS 13 (ventura)</description>"
		"<vcpu>6</vcpu><cpu mode='custom'><model>Penryn</model></cpu>"
		"<devices><interface type='user'/></devices></domain>";
	struct dk_doctor_input in = {0};
	struct dk_doctor_vm vm;
	CHECK_INT(dk_doctor_parse_xml(xml, strlen(xml), "d.xml", &vm), 0);
	CHECK_STR(vm.macos, "ventura");
	CHECK_INT(vm.sockets, 6);
	CHECK_STR(vm.cpu_model, "Penryn");
	in.vms = &vm;
	in.n_vms = 1;
	in.macos = dk_macos_find(vm.macos);
	in.host = (struct dk_doctor_host){.known = true, .amd = true, .ignore_msrs = 0, .clocksource = "hpet"};
	struct dk_findings f;
	CHECK_INT(dk_doctor_run(&in, &f), 0);
	const char *want[] = {"topology-sockets", "amd-vendor", "cpu-isa", "applesmc", "memballoon", "nic-model",
			      "pci-hotplug", "ignore-msrs", "clocksource"};
	CHECK_INT((int)f.n, (int)(sizeof want / sizeof want[0]));
	for (size_t i = 0; i < f.n && i < sizeof want / sizeof want[0]; i++) {
		CHECK_STR(f.v[i].id, want[i]);
		CHECK(dk_doctor_rule(f.v[i].id) != NULL);
		CHECK(f.v[i].evidence && *f.v[i].evidence);
		CHECK(f.v[i].fix && *f.v[i].fix);
	}
	CHECK_INT(f.errors, 5);
	CHECK_INT(f.warnings, 4);
	/* `dkvm --json doctor`'s document */
	json_object *j = dk_findings_to_json(&f);
	const char *js = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	static const char head[] = "{\"findings\":[{\"id\":\"topology-sockets\",\"severity\":\"error\",\"source\":\"d.xml\",\"evidence\":";
	CHECK(!strncmp(js, head, sizeof head - 1));
	CHECK(strstr(js, "],\"errors\":5,\"warnings\":4}") != NULL);
	CHECK_INT(json_object_array_length(json_object_object_get(j, "findings")), 9);
	json_object_put(j);
	dk_findings_free(&f);
	dk_doctor_vm_free(&vm);
}

TEST(argv_words)
{
	struct dk_doctor_vm vm;
	CHECK_INT(dk_doctor_parse_argv("#!/bin/sh\nexec /usr/bin/qemu-system-x86_64 \\\n -cpu 'Haswell-noTSX,vendor=GenuineIntel,sse4.2=off' \\\n"
				       " -device \"isa-applesmc,osk=x\" -smp 4 \"$@\"\n", "q", &vm), 0);
	CHECK_STR(vm.cpu_model, "Haswell-noTSX");
	CHECK(vm.cpu_vendor_intel);
	CHECK(dk_strv_contains(vm.cpu_off.v, "sse4_2"));
	CHECK(vm.applesmc);
	CHECK_STR(vm.osk, "x");
	CHECK_INT(vm.cores, 4);
	CHECK_INT(vm.sockets, 1);
	dk_doctor_vm_free(&vm);
}

int main(void)
{
	RUN(rules_table);
	RUN(run_over_parsed_input);
	RUN(argv_words);
	return t_done();
}
