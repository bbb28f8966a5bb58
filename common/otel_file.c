/*
 * otel_file: the file exporter's write (see otel_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "otel_int.h"
#include "util.h"

/*
 * Append one line (a batch) to path; O_APPEND keeps the lines of several
 * processes whole.  -1 with err on failure.
 */
int
otel_file_write(const char *path, const char *line, char *err, size_t errlen)
{
	size_t	 len = strlen(line), off = 0;
	ssize_t	 w;
	int	 fd, saved = 0;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		return (util_err(err, errlen, "open: %s", strerror(errno)));
	while (off < len) {
		if ((w = write(fd, line + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			break;
		}
		if (w == 0) {
			saved = EIO;	/* would loop forever otherwise */
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) == -1 && off == len) {
		saved = errno;
		off = 0;		/* e.g. NFS reports write errors here */
	}
	if (off < len)
		return (util_err(err, errlen, "write: %s", strerror(saved)));
	return (0);
}
