/*
 * A stand-in for libFuzzer's main(): feeds each file named on the command
 * line to LLVMFuzzerTestOneInput once.  `make check` uses it to replay the
 * seed corpus with the ordinary compiler; `make fuzz` links libFuzzer instead.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
main(int argc, char *argv[])
{
	char	*buf;
	size_t	 len;
	int	 i;

	for (i = 1; i < argc; i++) {
		if ((buf = util_read_file(argv[i], 1 << 20, &len)) == NULL) {
			perror(argv[i]);
			return (1);
		}
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
		free(buf);
	}
	printf("%s: %d inputs ok\n", argv[0], argc - 1);
	return (0);
}
