/*
 * fuzz.h: what the libFuzzer harnesses share. Included by each harness
 * (make fuzz compiles one harness with lib/ at a time), which defines
 * _GNU_SOURCE before its first include (memfd_create).
 */
#ifndef CL_FUZZ_H
#define CL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input as a file: a memfd holding data, at offset 0, so that a reader's
 * own buffering (reads, moves, growth, limits) runs as on a pipe or a file.
 * Returns the descriptor (the caller closes it), or -1.
 */
static inline int
fuzz_fd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", 0);

	if (fd < 0)
		return -1;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

#endif
