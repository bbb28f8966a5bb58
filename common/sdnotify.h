/*
 * sdnotify: the systemd notify protocol without libsystemd.
 */
#ifndef COMMON_SDNOTIFY_H
#define COMMON_SDNOTIFY_H

int	sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
