/*
 * ipc: message encoding and decoding.  The channel lives in chan.c.
 *
 * Every receive goes: size check, header check, type check, body schema
 * check.  The decoder is the only code that looks at bytes from a peer, and
 * tests/fuzz/fuzz_ipc.c drives it with arbitrary input.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc.h"

/*
 * Required body fields per type, as "name:t" words where t is s(tring),
 * i(nteger), b(oolean), o(bject) or a(rray).  Optional fields are checked
 * where they are used.
 */
static const struct {
	const char	*name;
	const char	*schema;
} ipc_types[IPC_TYPE_MAX] = {
	[IPC_HELLO]		= { "HELLO",		"proto:i role:s pid:i" },
	[IPC_CONFIG]		= { "CONFIG",		"config:o generation:i" },
	[IPC_READY]		= { "READY",		"hash:s" },
	[IPC_FAILED]		= { "FAILED",		"reason:s" },
	[IPC_ATTACH]		= { "ATTACH",		"bot:s generation:i" },
	[IPC_ROUTE]		= { "ROUTE",		"bot:s generation:i" },
	[IPC_DRAIN]		= { "DRAIN",		"" },
	[IPC_DRAINED]		= { "DRAINED",		"" },
	[IPC_INBOUND]		= { "INBOUND",		"id:s channel:s" },
	[IPC_INBOUND_ACK]	= { "INBOUND_ACK",	"id:s" },
	[IPC_OUTBOUND]		= { "OUTBOUND",		"ref:i op:s" },
	[IPC_OUTBOUND_DONE]	= { "OUTBOUND_DONE",	"ref:i ok:b" },
	[IPC_ADMIN_REQUEST]	= { "ADMIN_REQUEST",	"ref:i cmd:s" },
	[IPC_ADMIN_RESULT]	= { "ADMIN_RESULT",	"ref:i ok:b text:s" },
	[IPC_CONFIG_UPDATE]	= { "CONFIG_UPDATE",	"config:o" },
	[IPC_RELOAD_HOOKS]	= { "RELOAD_HOOKS",	"ref:i channel:s" },
	[IPC_STATUS]		= { "STATUS",		"ref:i" },
	[IPC_STATUS_REPLY]	= { "STATUS_REPLY",	"ref:i" },
	[IPC_LOG_REOPEN]	= { "LOG_REOPEN",	"" },
	[IPC_SHUTDOWN]		= { "SHUTDOWN",		"" },
	[IPC_RELINK]		= { "RELINK",		"bot:s generation:i" },
	[IPC_CURSORS]		= { "CURSORS",		"channels:o" },
	[IPC_NOTIFY]		= { "NOTIFY",		"bot:s channel:s text:s" },
	[IPC_SWAP_STATS]	= { "SWAP_STATS",	"bot:s generation:i dups:i resent:i" },
	[IPC_HOOKS_RESULT]	= { "HOOKS_RESULT",	"ref:i ok:b text:s" },
	[IPC_RUNTIME]		= { "RUNTIME",		"pid:i version:s auth:s" },
	[IPC_FORK]		= { "FORK",		"parent:i" },
	[IPC_FORKED]		= { "FORKED",		"pid:i" },
};

const char *
ipc_type_name(int type)
{
	if (type <= 0 || type >= IPC_TYPE_MAX)
		return ("UNKNOWN");
	return (ipc_types[type].name);
}

static int
ipc_type_ok(const json_t *v, char t)
{
	switch (t) {
	case 's':
		return (json_is_string(v));
	case 'i':
		return (json_is_integer(v));
	case 'b':
		return (json_is_boolean(v));
	case 'o':
		return (json_is_object(v));
	case 'a':
		return (json_is_array(v));
	}
	return (0);
}

/* Check body against the "name:t name:t" schema of its type. */
static int
ipc_schema_check(int type, const json_t *body, char *err, size_t errlen)
{
	const char	*p = ipc_types[type].schema, *colon, *end;
	char		 name[64];
	size_t		 n;
	json_t		*v;

	while (*p != '\0') {
		colon = strchr(p, ':');
		end = colon + 2;
		n = (size_t)(colon - p);
		memcpy(name, p, n);
		name[n] = '\0';
		v = json_object_get(body, name);
		if (!ipc_type_ok(v, colon[1])) {
			snprintf(err, errlen, "%s: field \"%s\" %s",
			    ipc_types[type].name, name,
			    v == NULL ? "missing" : "has the wrong type");
			return (-1);
		}
		p = *end == ' ' ? end + 1 : end;
	}
	return (0);
}

/*
 * Decode one datagram.  fd is the descriptor received with it, or -1; on
 * success msg owns it, on failure the caller closes it.  Returns 0 or -1
 * with a reason in err.
 */
int
ipc_decode(const uint8_t *buf, size_t len, int fd, struct ipc_msg *msg,
    char *err, size_t errlen)
{
	struct ipc_hdr	 h;
	json_error_t	 jerr;
	json_t		*body;

	msg->body = NULL;
	msg->fd = -1;
	if (len < IPC_HDR_LEN) {
		snprintf(err, errlen, "short message (%zu bytes)", len);
		return (-1);
	}
	memcpy(&h.version, buf, 4);
	memcpy(&h.type, buf + 4, 2);
	memcpy(&h.flags, buf + 6, 2);
	memcpy(&h.seq, buf + 8, 4);
	memcpy(&h.len, buf + 12, 4);
	if (h.version != IPC_VERSION) {
		snprintf(err, errlen, "protocol version %u, expected %u",
		    h.version, IPC_VERSION);
		return (-1);
	}
	if (h.type == 0 || h.type >= IPC_TYPE_MAX) {
		snprintf(err, errlen, "unknown message type %u", h.type);
		return (-1);
	}
	if ((h.flags & ~IPC_F_FD) != 0) {
		snprintf(err, errlen, "%s: unknown flags 0x%x",
		    ipc_types[h.type].name, h.flags);
		return (-1);
	}
	if (((h.flags & IPC_F_FD) != 0) != (fd != -1)) {
		snprintf(err, errlen, "%s: descriptor %s", ipc_types[h.type].name,
		    fd == -1 ? "missing" : "not expected");
		return (-1);
	}
	if (h.len > IPC_BODY_MAX || h.len != len - IPC_HDR_LEN) {
		snprintf(err, errlen, "%s: body length %u does not match %zu",
		    ipc_types[h.type].name, h.len, len - IPC_HDR_LEN);
		return (-1);
	}
	body = json_loadb((const char *)buf + IPC_HDR_LEN, h.len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL) {
		snprintf(err, errlen, "%s: bad JSON body: %s",
		    ipc_types[h.type].name, jerr.text);
		return (-1);
	}
	if (!json_is_object(body)) {
		json_decref(body);
		snprintf(err, errlen, "%s: body is not an object",
		    ipc_types[h.type].name);
		return (-1);
	}
	if (ipc_schema_check(h.type, body, err, errlen) == -1) {
		json_decref(body);
		return (-1);
	}
	msg->hdr = h;
	msg->body = body;
	msg->fd = fd;
	return (0);
}

/*
 * Encode into buf.  Returns the datagram length, or -1 when the body cannot
 * be serialised or exceeds IPC_BODY_MAX or len.
 */
ssize_t
ipc_encode(uint16_t type, uint32_t seq, int hasfd, const json_t *body,
    uint8_t *buf, size_t len)
{
	struct ipc_hdr	h;
	size_t		n;

	if (len < IPC_HDR_LEN)
		return (-1);
	n = json_dumpb(body, (char *)buf + IPC_HDR_LEN,
	    len - IPC_HDR_LEN, JSON_COMPACT);
	if (n == 0 || n > IPC_BODY_MAX || n > len - IPC_HDR_LEN)
		return (-1);
	h.version = IPC_VERSION;
	h.type = type;
	h.flags = hasfd ? IPC_F_FD : 0;
	h.seq = seq;
	h.len = (uint32_t)n;
	memcpy(buf, &h.version, 4);
	memcpy(buf + 4, &h.type, 2);
	memcpy(buf + 6, &h.flags, 2);
	memcpy(buf + 8, &h.seq, 4);
	memcpy(buf + 12, &h.len, 4);
	return ((ssize_t)(IPC_HDR_LEN + n));
}

void
ipc_msg_clear(struct ipc_msg *msg)
{
	json_decref(msg->body);
	msg->body = NULL;
	if (msg->fd != -1)
		(void)close(msg->fd);
	msg->fd = -1;
}
