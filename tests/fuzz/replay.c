/*
 * replay: runs a libFuzzer harness's LLVMFuzzerTestOneInput on files, without
 * libFuzzer, so that `make check` (and its sanitizer and valgrind runs)
 * replays every committed corpus as a regression test. Linked with one
 * harness: $B/tests/replay/fuzz_NAME FILE... (tests/fuzz/t-replay).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char *argv[])
{
	int i, bad = 0;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf = NULL;
		size_t n = 0, cap = 0, got;

		if (!f) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		do {
			if (n == cap) {
				cap = cap ? cap * 2 : 4096;
				buf = realloc(buf, cap);
				if (!buf)
					abort();
			}
			got = fread(buf + n, 1, cap - n, f);
			n += got;
		} while (got > 0);
		fclose(f);
		/* the exact size, as libFuzzer gives it, so ASan sees a read past the end */
		{
			uint8_t *exact = malloc(n ? n : 1);

			if (!exact)
				abort();
			for (got = 0; got < n; got++)
				exact[got] = buf[got];
			free(buf);
			LLVMFuzzerTestOneInput(exact, n);
			free(exact);
		}
	}
	return bad;
}
