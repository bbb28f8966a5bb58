/*
 * sdnotify: the systemd notify protocol without libsystemd.
 */
#ifndef COMMON_SDNOTIFY_H
#define COMMON_SDNOTIFY_H

#define SD_STATUS_MAX	1024	/* bytes of STATUS= text, cut beyond */

/*
 * Send state ("READY=1", "RELOADING=1\nMONOTONIC_USEC=…", "STOPPING=1")
 * with a STATUS= line.  The state always goes whole: the status is put on
 * one line and cut (on a character boundary) to fit SD_STATUS_MAX, and if
 * the datagram is refused all the same, the state is sent alone.  Without
 * NOTIFY_SOCKET (not under systemd) nothing is sent and 0 is returned.
 */
int	sd_notify_status(const char *state, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
