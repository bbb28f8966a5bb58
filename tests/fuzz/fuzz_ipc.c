/*
 * Fuzz the IPC decoder: any datagram a peer could send.  The first byte
 * picks whether a descriptor "arrived" with it, to reach the fd checks.
 */
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "ipc/ipc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg	m;
	char		err[256];
	int		fd = -1;

	if (size == 0)
		return (0);
	if (data[0] & 1)
		fd = dup(0);
	if (ipc_decode(data + 1, size - 1, fd, &m, err, sizeof(err)) == 0)
		ipc_msg_clear(&m);	/* closes fd */
	else if (fd != -1)
		close(fd);
	return (0);
}
