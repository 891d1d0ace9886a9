/* libFuzzer target (for tests/fuzz, see the area report): the config.plist
 * validator on arbitrary bytes, without and with the Sample's schema (the input
 * used as both), and the serial/MLB decoders on the first bytes. */
#include "opencore/opencore.h"
#include "smbios/smbios.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	struct dk_oc_findings f;
	if (dk_oc_validate_xml((const char *)data, (uint32_t)size, NULL, 0, NULL, &f) == 0)
		dk_oc_findings_free(&f);
	if (dk_oc_validate_xml((const char *)data, (uint32_t)size, (const char *)data, (uint32_t)size, NULL, &f) == 0)
		dk_oc_findings_free(&f);
	char s[32];
	size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
	memcpy(s, data, n);
	s[n] = 0;
	struct dk_serial_info si;
	dk_serial_decode(s, &si);
	struct dk_mlb_info mi;
	dk_mlb_check(s, &mi);
	return 0;
}
