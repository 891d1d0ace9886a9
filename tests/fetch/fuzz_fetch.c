/* libFuzzer target: chunklist parser + signature check, and the catalog parser.
 * First input byte selects the parser. (Wire-up requested in tests/fuzz/meson.build.) */
#include "fetch/chunklist.h"
#include "fetch/fetch.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct dk_catalog cat;
		if (dk_catalog_parse(data + 1, size - 1, "fuzz", &cat) == 0) {
			for (int i = 0; i < cat.count; i++)
				(void)dk_catalog_find(&cat, "14");
			dk_catalog_free(&cat);
		}
		return 0;
	}
	struct dk_chunklist cl;
	if (dk_chunklist_parse(data + 1, size - 1, "fuzz", &cl) == 0) {
		(void)dk_chunklist_verify_sig(&cl, "fuzz", NULL, true, NULL);
		dk_chunklist_free(&cl);
	}
	return 0;
}
