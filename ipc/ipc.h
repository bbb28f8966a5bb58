/*
 * ipc: messages between the supervisor, sessiond and workers.
 *
 * Transport is an AF_UNIX SOCK_SEQPACKET socketpair: one datagram is one
 * message, and a descriptor passed with SCM_RIGHTS rides with its message.
 * A message is a fixed header followed by a JSON object body.  See
 * docs/ipc.md for the catalogue.
 */
#ifndef IPC_IPC_H
#define IPC_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define IPC_VERSION	1
#define IPC_HDR_LEN	16
/*
 * A SEQPACKET datagram larger than the socket send buffer fails with
 * EMSGSIZE (208 KiB by default on Linux); nothing we send needs more than a
 * Mattermost post (16383 characters, at most 4 bytes each) plus framing.
 */
#define IPC_BODY_MAX	(128 * 1024)
#define IPC_SENDQ_MAX	4096		/* queued messages before the peer is dropped */
#define IPC_SENDQ_BYTES	(16 * 1024 * 1024) /* ... or queued bytes */

#define IPC_CHILD_FD	3		/* a child's channel to its parent */

/*
 * A worker catching up from a CURSORS cursor re-reads this much before it
 * (late delivery, clock skew); sessiond keeps the ids it answered in that
 * span so it does not answer them again (docs/architecture.md, "Catch-up
 * after a restart").
 */
#define IPC_CATCHUP_MARGIN_MS	5000

/* Header flags. */
#define IPC_F_FD	0x0001		/* a descriptor rides with this message */

enum ipc_type {
	IPC_HELLO = 1,
	IPC_CONFIG,
	IPC_READY,
	IPC_FAILED,
	IPC_ATTACH,
	IPC_ROUTE,
	IPC_DRAIN,
	IPC_DRAINED,
	IPC_INBOUND,
	IPC_INBOUND_ACK,
	IPC_OUTBOUND,
	IPC_OUTBOUND_DONE,
	IPC_ADMIN_REQUEST,
	IPC_ADMIN_RESULT,
	IPC_CONFIG_UPDATE,
	IPC_RELOAD_HOOKS,
	IPC_STATUS,
	IPC_STATUS_REPLY,
	IPC_LOG_REOPEN,
	IPC_SHUTDOWN,
	IPC_RELINK,
	IPC_CURSORS,
	IPC_NOTIFY,
	IPC_SWAP_STATS,
	IPC_HOOKS_RESULT,
	IPC_RUNTIME,
	IPC_FORK,
	IPC_FORKED,
	IPC_TYPE_MAX
};

struct ipc_hdr {
	uint32_t	version;	/* IPC_VERSION */
	uint16_t	type;		/* enum ipc_type */
	uint16_t	flags;		/* IPC_F_* */
	uint32_t	seq;		/* sender's counter; replies echo it in "re" */
	uint32_t	len;		/* body bytes following the header */
};

struct ipc_msg {
	struct ipc_hdr	 hdr;
	json_t		*body;		/* always an object; owned by the msg */
	int		 fd;		/* received descriptor, or -1 */
};

const char	*ipc_type_name(int type);
int		 ipc_decode(const uint8_t *buf, size_t len, int fd,
		    struct ipc_msg *msg, char *err, size_t errlen);
ssize_t		 ipc_encode(uint16_t type, uint32_t seq, int hasfd,
		    const json_t *body, uint8_t *buf, size_t len);
void		 ipc_msg_clear(struct ipc_msg *);

/*
 * A channel: one end of a socketpair driven by libevent.  Sends are queued
 * and flushed when the socket is writable, so EAGAIN never loses a message.
 * A malformed or unknown message closes the channel (close_cb is called
 * once) and is logged with the peer's role, bot and pid.
 */
struct event_base;
struct ipc_chan;

typedef void	(*ipc_msg_cb)(struct ipc_chan *, struct ipc_msg *, void *);
typedef void	(*ipc_close_cb)(struct ipc_chan *, const char *why, void *);

struct ipc_chan	*ipc_chan_new(struct event_base *, int fd, const char *peer,
		    ipc_msg_cb, ipc_close_cb, void *arg);
void		 ipc_chan_set_peer(struct ipc_chan *, const char *peer, pid_t pid);
const char	*ipc_chan_peer(const struct ipc_chan *);
int		 ipc_send(struct ipc_chan *, uint16_t type, json_t *body);
int		 ipc_send_fd(struct ipc_chan *, uint16_t type, json_t *body, int fd);
uint32_t	 ipc_last_seq(const struct ipc_chan *);
size_t		 ipc_queued(const struct ipc_chan *);
int		 ipc_backlog(const struct ipc_chan *);
int		 ipc_flush_blocking(struct ipc_chan *, int timeout_ms);
void		 ipc_chan_free(struct ipc_chan *);
ssize_t		 ipc_sendmsg(int s, const void *buf, size_t len, int fd,
		    int flags);
ssize_t		 ipc_recvmsg(int s, void *buf, size_t len, int *fd, int flags,
		    char *why, size_t whylen);
int		 ipc_write_msg(int s, uint16_t type, json_t *body, int fd);
int		 ipc_read_msg(int s, int timeout_ms, struct ipc_msg *msg,
		    char *why, size_t whylen);

/*
 * proc: the child side of the supervisor channel, shared by sessiond and
 * the workers.  proc_init() logs as role/bot/gen, opens fd 3, sends HELLO
 * and routes what the parent sends: CONFIG and CONFIG_UPDATE (log level and
 * log file applied here, then on_config), LOG_REOPEN (handled here),
 * SHUTDOWN and a lost parent (on_shutdown), everything else (on_msg).
 */
struct proc {
	struct event_base	*base;
	struct ipc_chan		*parent;
	const char		*role;		/* "sessiond" or "worker" */
	const char		*bot;		/* "platform:name" or NULL */
	int			 gen;
	char			 logfile[160];
	char			*title;		/* a spare's argv area, or NULL */
	size_t			 titlelen;
	void			(*on_config)(json_t *config, int first);
	void			(*on_msg)(struct ipc_msg *);
	void			(*on_shutdown)(const char *why);
};

extern struct proc	*proc;

void		 proc_init(struct proc *, int argc, char *argv[]);
int		 proc_config_hash(const json_t *config, char out[65]);

#endif
