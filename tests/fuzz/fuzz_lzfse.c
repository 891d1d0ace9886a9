/* libFuzzer: LZFSE (bvx-, bvxn, bvx1, bvx2, bvx$) and bare LZVN decoders.
 * Input: mode byte (even: LZFSE, odd: LZVN), 3-byte output size, data. */
#include "dmg/dmg.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	size_t out_len = ((size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3]) & 0xfffff;
	uint8_t *out = malloc(out_len ? out_len : 1);
	if (data[0] & 1)
		dmg_lzvn_decode(data + 4, size - 4, out, out_len, NULL);
	else
		dmg_lzfse_decode(data + 4, size - 4, out, out_len);
	free(out);
	return 0;
}
