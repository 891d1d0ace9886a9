/* libFuzzer: ADC decoder. Input: 3-byte big-endian output size, then data. */
#include "dmg/dmg.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t out_len = ((size_t)data[0] << 16 | (size_t)data[1] << 8 | data[2]) & 0xfffff;
	uint8_t *out = malloc(out_len ? out_len : 1);
	dmg_adc_decode(data + 3, size - 3, out, out_len);
	free(out);
	return 0;
}
