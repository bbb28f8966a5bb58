/*
 * util: small helpers shared by every binary.
 */
#ifndef COMMON_UTIL_H
#define COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct event;

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

uint64_t util_now_ms(void);		/* CLOCK_MONOTONIC, milliseconds */
uint64_t util_now_us(void);		/* CLOCK_MONOTONIC, microseconds */
int	 util_set_nonblock(int fd);
int	 util_set_cloexec(int fd, int on);
char	*util_read_file(const char *path, size_t max, size_t *len);
int	 util_sha256(const void *buf, size_t len, unsigned char out[32]);
int	 util_sha256_hex(const void *buf, size_t len, char out[65]);
int	 util_exe_dir(char *buf, size_t len);
/* The search path when PATH is unset or empty. */
#define UTIL_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"
int	 util_is_exec(const char *path);
/* name on $PATH, executable (empty entries skipped); -1 if nowhere. */
int	 util_search_path(const char *name, char *out, size_t len);
void	 util_wait_status(int status, char *buf, size_t len);
int	 util_mkdir_p(const char *path, unsigned int mode);
/* A random UUID v4 (as the Copilot SDK makes session ids); -1: no entropy. */
int	 util_uuid_v4(char out[37]);
/* Arm a timer event ms milliseconds from now; evtimer_add()'s result. */
int	 util_timer_ms(struct event *, uint64_t ms);
/*
 * Format an error into err (if not NULL) and return -1, so a parser can
 * `return (util_err(err, len, "bad %s", what));`.
 */
int	 util_err(char *err, size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
