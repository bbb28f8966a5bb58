/*
 * files: the files that move between the chat and a session
 * (docs/architecture.md, "Files"): a message's files fetched into the
 * working directory's .temp/<channel>/ and given to the turn as
 * attachments; the send_file tool; old temporary files removed.
 */
#ifndef SESSIOND_FILES_H
#define SESSIOND_FILES_H

#include <sys/types.h>

#include <stddef.h>

#include <jansson.h>

#include "fpath.h"

struct chan;
struct chan_conf;
struct event_base;

#define FILES_MSG_MAX	16	/* files of one message looked at */

void	 files_init(struct event_base *);
/* Stop: no callback reaches a channel any more, the sweep stops. */
void	 files_shutdown(void);
/*
 * msg (INBOUND) has files: it is a prompt (never a command or an answer;
 * it denies a pending permission prompt), queued in its place until its
 * files are in.  0 if it has none (nothing done).
 */
int	 files_inbound(struct chan *, json_t *msg, const struct chan_conf *);
/* The send_file tool (tools.c). */
void	 files_tool_send(struct chan *, const char *request_id,
	    const json_t *args);
/*
 * Open a file the agent names, for reading, as fpath_open_confined()
 * does with the channel's working directory and allowPaths (the config's
 * and the bot's workspace's).
 */
int	 files_open(struct chan *, const json_t *path, char *real,
	    size_t reallen, off_t *size, enum fpath_why *, char *err,
	    size_t errlen);
/* "3.5 MiB", "120 KiB", "17 bytes". */
void	 files_size(unsigned long long bytes, char *out, size_t len);

/* showfile.c: the show_file_in_chat tool. */
void	 showfile_tool(struct chan *, const char *request_id,
	    const json_t *args);
void	 showfile_init(struct event_base *);
void	 showfile_shutdown(void);

#endif
