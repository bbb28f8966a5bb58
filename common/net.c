/*
 * net: libcurl's multi-socket API on libevent, as curl's hiperfifo example
 * does it.  curl tells us which sockets to watch (net_sock_cb) and when to
 * call it back (net_timer_cb); libevent tells curl what became ready.
 * Finished transfers are collected after curl returns, never from inside a
 * curl callback, so a completion callback may start or cancel requests.
 *
 * curl_global_init() must have been called (worker main does it; otel.c
 * for the other processes).
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "net.h"
#include "util.h"

struct net_sock {
	LIST_ENTRY(net_sock)	 entry;
	struct net		*net;
	curl_socket_t		 fd;
	struct event		*ev;
};

struct net_req {
	TAILQ_ENTRY(net_req)	 entry;
	struct net		*net;
	CURL			*easy;
	struct curl_slist	*hdrs;
	char			*buf;
	size_t			 len, cap, max;
	int			 overflow;
	/* a body from a file (source.fd -1: none), an answer into one */
	struct net_source	 source;
	off_t			 src_off;
	int			 src_errno;	/* a read failed (-1: cut short) */
	curl_mime		*mime;
	struct net_sink		 sink;		/* fd -1: none */
	uint64_t		 sunk;
	int			 sink_state;	/* 0 unknown, 1 into the file, 2 not */
	int			 sink_errno;	/* a write failed */
	int			 too_large;
	int			 in_cb;		/* its callback is running */
	long			 retry_after;
	char			 ctype[64];
	char			 errbuf[CURL_ERROR_SIZE];
	uint64_t		 start_us;
	net_cb			 cb;
	void			*arg;
};

struct net {
	struct event_base		*base;
	CURLM				*multi;
	struct event			*timer;
	TAILQ_HEAD(, net_req)		 reqs;
	LIST_HEAD(, net_sock)		 socks;
	unsigned int			 n;
};

static void	net_check_done(struct net *);

/* ------------------------------------------------------------ plumbing */

static void
net_sock_event(int fd, short what, void *arg)
{
	struct net_sock	*s = arg;
	struct net	*net = s->net;
	int		 running, action = 0;
	CURLMcode	 rc;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/* s may be freed inside this call (CURL_POLL_REMOVE). */
	rc = curl_multi_socket_action(net->multi, fd, action, &running);
	if (rc != CURLM_OK)
		log_warnx("net: curl_multi_socket_action: %s",
		    curl_multi_strerror(rc));
	net_check_done(net);
}

static void
net_sock_free(struct net_sock *s)
{
	LIST_REMOVE(s, entry);
	if (s->ev != NULL)
		event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl wants. */
static int
net_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct net	*net = userp;
	struct net_sock	*s = sockp;
	short		 ev = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			(void)curl_multi_assign(net->multi, fd, NULL);
			net_sock_free(s);
		}
		return (0);
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL) {
			log_warnx("net: out of memory for a socket");
			return (-1);	/* curl fails the transfer */
		}
		s->net = net;
		s->fd = fd;
		LIST_INSERT_HEAD(&net->socks, s, entry);
		(void)curl_multi_assign(net->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (s->ev != NULL)
		event_free(s->ev);
	if ((s->ev = event_new(net->base, fd, ev, net_sock_event, s)) == NULL ||
	    event_add(s->ev, NULL) == -1) {
		log_warnx("net: cannot watch socket %d", (int)fd);
		return (-1);
	}
	return (0);
}

static void
net_timer_event(int fd, short what, void *arg)
{
	struct net	*net = arg;
	int		 running;
	CURLMcode	 rc;

	rc = curl_multi_socket_action(net->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	if (rc != CURLM_OK)
		log_warnx("net: curl_multi_socket_action: %s",
		    curl_multi_strerror(rc));
	net_check_done(net);
}

/* CURLMOPT_TIMERFUNCTION: call curl back in ms milliseconds (-1: never). */
static int
net_timer_cb(CURLM *multi, long ms, void *userp)
{
	struct net	*net = userp;

	if (ms < 0) {
		if (evtimer_del(net->timer) == -1)
			log_warnx("net: cannot disarm the curl timer");
		return (0);
	}
	if (util_timer_ms(net->timer, (uint64_t)ms) == -1) {
		log_warnx("net: cannot arm the curl timer");
		return (-1);
	}
	return (0);
}

struct net *
net_new(struct event_base *base)
{
	struct net	*net;

	if ((net = calloc(1, sizeof(*net))) == NULL)
		return (NULL);
	net->base = base;
	TAILQ_INIT(&net->reqs);
	LIST_INIT(&net->socks);
	if ((net->multi = curl_multi_init()) == NULL ||
	    (net->timer = evtimer_new(base, net_timer_event, net)) == NULL) {
		net_free(net);
		return (NULL);
	}
	if (curl_multi_setopt(net->multi, CURLMOPT_SOCKETFUNCTION,
	    net_sock_cb) != CURLM_OK ||
	    curl_multi_setopt(net->multi, CURLMOPT_SOCKETDATA, net) != CURLM_OK ||
	    curl_multi_setopt(net->multi, CURLMOPT_TIMERFUNCTION,
	    net_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(net->multi, CURLMOPT_TIMERDATA, net) != CURLM_OK) {
		net_free(net);
		return (NULL);
	}
	return (net);
}

static void
net_req_free(struct net_req *r)
{
	struct net	*net = r->net;

	TAILQ_REMOVE(&net->reqs, r, entry);
	net->n--;
	(void)curl_multi_remove_handle(net->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_mime_free(r->mime);
	curl_slist_free_all(r->hdrs);
	free(r->buf);
	free(r);
}

void
net_free(struct net *net)
{
	struct net_sock	*s;

	if (net == NULL)
		return;
	while (!TAILQ_EMPTY(&net->reqs))
		net_req_free(TAILQ_FIRST(&net->reqs));
	if (net->multi != NULL)
		(void)curl_multi_cleanup(net->multi);
	/* curl normally removes every socket itself; anything left goes. */
	while ((s = LIST_FIRST(&net->socks)) != NULL)
		net_sock_free(s);
	if (net->timer != NULL)
		event_free(net->timer);
	free(net);
}

unsigned int
net_pending(const struct net *net)
{
	return (net->n);
}

/* ------------------------------------------------------------ request */

/* A 2xx body into the sink, whole: 0 when it cannot be (curl stops). */
static size_t
net_sink_write(struct net_req *r, const char *data, size_t n)
{
	size_t	done = 0;
	ssize_t	w;

	if (n > r->sink.max - r->sunk) {
		r->too_large = 1;
		return (0);
	}
	while (done < n) {
		w = pwrite(r->sink.fd, data + done, n - done,
		    (off_t)(r->sunk + done));
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			r->sink_errno = w == -1 ? errno : ENOSPC;
			return (0);
		}
		done += (size_t)w;
	}
	r->sunk += n;
	return (n);
}

static size_t
net_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct net_req	*r = arg;
	size_t		 n = size * nmemb, ncap;
	char		*nb;
	long		 status = 0;

	if (r->sink.fd != -1 && r->sink_state == 0) {
		(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		r->sink_state = status >= 200 && status < 300 ? 1 : 2;
	}
	if (r->sink_state == 1)
		return (net_sink_write(r, data, n));
	if (n > r->max - r->len) {
		r->overflow = 1;
		return (0);	/* curl stops with CURLE_WRITE_ERROR */
	}
	if (r->len + n + 1 > r->cap) {
		ncap = r->cap > 0 ? r->cap : 4096;
		while (ncap < r->len + n + 1)
			ncap *= 2;
		if ((nb = realloc(r->buf, ncap)) == NULL)
			return (0);
		r->buf = nb;
		r->cap = ncap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return (n);
}

/* Copy the value of header line h if it is named name ("name:"). */
static int
net_header_value(const char *h, size_t n, const char *name, char *out,
    size_t outlen)
{
	size_t	nl = strlen(name), i;

	if (n <= nl || strncasecmp(h, name, nl) != 0)
		return (0);
	for (h += nl, n -= nl; n > 0 && (*h == ' ' || *h == '\t'); h++, n--)
		;
	while (n > 0 && isspace((unsigned char)h[n - 1]))
		n--;
	i = n < outlen - 1 ? n : outlen - 1;
	memcpy(out, h, i);
	out[i] = '\0';
	return (1);
}

static size_t
net_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct net_req	*r = arg;
	size_t		 n = size * nmemb;
	char		 v[64];

	/* A new status line (after a 100 Continue) starts a new set. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		r->retry_after = -1;
		r->ctype[0] = '\0';
	} else if (net_header_value(data, n, "retry-after:", v, sizeof(v)))
		r->retry_after = net_parse_retry_after(v);
	else
		(void)net_header_value(data, n, "content-type:", r->ctype,
		    sizeof(r->ctype));
	return (n);
}

/* The source's next bytes (curl's read callback, raw or a form part). */
static size_t
net_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct net_req	*r = arg;
	size_t		 n = size * nitems;
	ssize_t		 got;

	if ((off_t)n > r->source.size - r->src_off)
		n = (size_t)(r->source.size - r->src_off);
	if (n == 0)
		return (0);
	do
		got = pread(r->source.fd, buf, n, r->src_off);
	while (got == -1 && errno == EINTR);
	if (got <= 0) {
		r->src_errno = got == -1 ? errno : -1;
		return (CURL_READFUNC_ABORT);
	}
	r->src_off += got;
	return ((size_t)got);
}

static int
net_seek_cb(void *arg, curl_off_t off, int origin)
{
	struct net_req	*r = arg;

	if (origin != SEEK_SET || off < 0 || off > r->source.size)
		return (CURL_SEEKFUNC_CANTSEEK);
	r->src_off = (off_t)off;
	return (CURL_SEEKFUNC_OK);
}

/*
 * Retry-After is delta-seconds or an HTTP date (RFC 9110 10.2.3).  Returns
 * seconds from now (0 for a date in the past), or -1 if unreadable.
 */
long
net_parse_retry_after(const char *v)
{
	char		*end;
	long		 s;
	time_t		 t, now;

	if (v == NULL || *v == '\0')
		return (-1);
	if (isdigit((unsigned char)*v)) {
		errno = 0;
		s = strtol(v, &end, 10);
		if (errno != 0 || *end != '\0' || s < 0)
			return (-1);
		return (s);
	}
	if ((t = curl_getdate(v, NULL)) == -1 || (now = time(NULL)) == -1)
		return (-1);
	return (t > now ? (long)(t - now) : 0);
}

uint32_t
net_retry_after_ms(const struct net_resp *r, uint32_t max_ms)
{
	long	s = r->retry_after;

	if (s < 0)
		return (NET_RETRY_AFTER_MS < max_ms ? NET_RETRY_AFTER_MS :
		    max_ms);
	/* Compared in seconds first: s * 1000 may not fit. */
	if ((unsigned long)s >= max_ms / 1000 + 1)
		return (max_ms);
	return ((uint32_t)s * 1000 < max_ms ? (uint32_t)s * 1000 : max_ms);
}

/* The source as the body: raw, or the file part of a multipart form. */
static int
net_setup_source(struct net_req *r)
{
	CURL		*e = r->easy;
	curl_mimepart	*part;
	const char *const *f;
	int		 bad = 0;

	if (r->source.field == NULL)
		return (curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)r->source.size) != CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_READFUNCTION, net_read_cb) !=
		    CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_READDATA, r) != CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, net_seek_cb) !=
		    CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_SEEKDATA, r) != CURLE_OK ? -1 : 0);
	if ((r->mime = curl_mime_init(e)) == NULL)
		return (-1);
	for (f = r->source.fields; f != NULL && f[0] != NULL && f[1] != NULL;
	    f += 2) {
		if ((part = curl_mime_addpart(r->mime)) == NULL)
			return (-1);
		bad |= curl_mime_name(part, f[0]) != CURLE_OK;
		bad |= curl_mime_data(part, f[1], CURL_ZERO_TERMINATED) !=
		    CURLE_OK;
	}
	if ((part = curl_mime_addpart(r->mime)) == NULL)
		return (-1);
	bad |= curl_mime_name(part, r->source.field) != CURLE_OK;
	bad |= curl_mime_filename(part, r->source.filename != NULL ?
	    r->source.filename : "file") != CURLE_OK;
	bad |= curl_mime_type(part, "application/octet-stream") != CURLE_OK;
	bad |= curl_mime_data_cb(part, (curl_off_t)r->source.size,
	    net_read_cb, net_seek_cb, NULL, r) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_MIMEPOST, r->mime) != CURLE_OK;
	return (bad ? -1 : 0);
}

static int
net_setup_method(struct net_req *r, const char *method, const char *body)
{
	CURL	*e = r->easy;
	int	 bad = 0;

	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) !=
		    CURLE_OK;
	if (r->source.fd != -1)
		bad |= net_setup_source(r) == -1;
	else if (body != NULL)
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(body)) != CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body) !=
		    CURLE_OK;
	else if (strcmp(method, "POST") == 0)
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L) !=
		    CURLE_OK || curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
		    "") != CURLE_OK;
	return (bad ? -1 : 0);
}

static int
net_setup(struct net_req *r, const char *method, const char *url,
    const char *body, const struct net_opts *o)
{
	CURL	*e = r->easy;
	long	 to = o != NULL && o->timeout_ms > 0 ? o->timeout_ms :
		    NET_TIMEOUT_MS;
	long	 co = o != NULL && o->connect_ms > 0 ? o->connect_ms :
		    NET_CONNECT_MS;
	int	 bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, to) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    to < co ? to : co) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, net_write_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, net_header_cb) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "copilot-bridge") !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs) != CURLE_OK;
	/* A file on the move may take long, but must keep moving. */
	if (r->source.fd != -1 || r->sink.fd != -1)
		bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT,
		    (long)NET_LOW_SPEED_BPS) != CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
		    (long)NET_LOW_SPEED_S) != CURLE_OK;
	if (bad)
		return (-1);
	return (net_setup_method(r, method, body));
}

/* A request set up but not started: its easy handle and headers. */
static struct net_req *
net_req_new(const char *method, const char *url, const char *const *headers,
    const char *body, const struct net_opts *o)
{
	struct net_req		*r;
	struct curl_slist	*l;
	size_t			 i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->retry_after = -1;
	r->max = o != NULL && o->max_body > 0 ? o->max_body : NET_BODY_MAX;
	r->start_us = util_now_us();
	r->source.fd = r->sink.fd = -1;
	if (o != NULL && o->source != NULL)
		r->source = *o->source;
	if (o != NULL && o->sink != NULL) {
		r->sink = *o->sink;
		/* Every try writes the file from its start. */
		if (ftruncate(r->sink.fd, 0) == -1)
			goto fail;
	}
	/* An empty Expect stops curl from waiting for "100 Continue". */
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((l = curl_slist_append(r->hdrs, headers[i])) == NULL)
			goto fail;
		r->hdrs = l;
	}
	if ((l = curl_slist_append(r->hdrs, "Expect:")) == NULL)
		goto fail;
	r->hdrs = l;
	if ((r->easy = curl_easy_init()) == NULL ||
	    net_setup(r, method, url, body, o) == -1)
		goto fail;
	return (r);
fail:
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_mime_free(r->mime);
	curl_slist_free_all(r->hdrs);
	free(r);
	return (NULL);
}

/*
 * Start method url with headers ("Name: value", NULL-terminated) and an
 * optional body.  cb runs later, from the event loop, exactly once unless
 * the request is cancelled.  NULL if it could not even be started.
 * A callback may start and cancel requests but must not free net.
 */
struct net_req *
net_request(struct net *net, const char *method, const char *url,
    const char *const *headers, const char *body, const struct net_opts *o,
    net_cb cb, void *arg)
{
	struct net_req	*r;

	if ((r = net_req_new(method, url, headers, body, o)) == NULL)
		return (NULL);
	r->net = net;
	r->cb = cb;
	r->arg = arg;
	if (curl_multi_add_handle(net->multi, r->easy) != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		curl_mime_free(r->mime);
		curl_slist_free_all(r->hdrs);
		free(r);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&net->reqs, r, entry);
	net->n++;
	return (r);
}

/*
 * The same request, blocking: only for a process on its way out, from a
 * place where its loop cannot run again.  Returns the HTTP status, or 0
 * when there was no complete answer.
 */
long
net_request_sync(const char *method, const char *url,
    const char *const *headers, const char *body, const struct net_opts *o)
{
	struct net_req	*r;
	long		 status = 0;

	if ((r = net_req_new(method, url, headers, body, o)) == NULL)
		return (0);
	if (curl_easy_perform(r->easy) == CURLE_OK && !r->overflow)
		(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE,
		    &status);
	curl_easy_cleanup(r->easy);
	curl_mime_free(r->mime);
	curl_slist_free_all(r->hdrs);
	free(r->buf);
	free(r);
	return (status);
}

/* Cancelling the request whose callback is running is a no-op. */
void
net_cancel(struct net_req *r)
{
	if (r != NULL && !r->in_cb)
		net_req_free(r);
}

static void
net_finish(struct net_req *r, CURLcode res)
{
	struct net_resp	 resp;
	char		 err[CURL_ERROR_SIZE + 64];
	long		 status = 0;

	memset(&resp, 0, sizeof(resp));
	(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	resp.status = status;
	resp.retry_after = r->retry_after;
	memcpy(resp.ctype, r->ctype, sizeof(resp.ctype));
	resp.body = r->buf != NULL ? r->buf : "";
	resp.bodylen = r->len;
	resp.us = util_now_us() - r->start_us;
	resp.ms = resp.us / 1000;
	resp.sunk = r->sunk;
	resp.too_large = r->too_large;
	if (r->too_large) {
		snprintf(err, sizeof(err), "the file is over %llu bytes",
		    (unsigned long long)r->sink.max);
		resp.error = err;
	} else if (r->sink_errno != 0) {
		snprintf(err, sizeof(err), "cannot write the file: %s",
		    strerror(r->sink_errno));
		resp.error = err;
	} else if (r->src_errno != 0) {
		snprintf(err, sizeof(err), "cannot read the file: %s",
		    r->src_errno == -1 ? "it is shorter than it was" :
		    strerror(r->src_errno));
		resp.error = err;
	} else if (r->overflow) {
		snprintf(err, sizeof(err), "response body over %zu bytes",
		    r->max);
		resp.error = err;
	} else if (res != CURLE_OK) {
		snprintf(err, sizeof(err), "%s", r->errbuf[0] != '\0' ?
		    r->errbuf : curl_easy_strerror(res));
		resp.error = err;
	}
	if (resp.error != NULL)
		resp.status = 0;	/* a cut-off answer is no answer */
	r->in_cb = 1;
	r->cb(&resp, r->arg);
}

static void
net_check_done(struct net *net)
{
	CURLMsg		*msg;
	struct net_req	*r;
	CURLcode	 res;
	char		*p;
	int		 left;

	while ((msg = curl_multi_info_read(net->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		res = msg->data.result;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    &p) != CURLE_OK || p == NULL) {
			log_warnx("net: finished transfer without a request");
			(void)curl_multi_remove_handle(net->multi,
			    msg->easy_handle);
			continue;
		}
		r = (struct net_req *)p;
		/* Out of the multi before the callback, which may add more. */
		(void)curl_multi_remove_handle(net->multi, r->easy);
		net_finish(r, res);
		net_req_free(r);
	}
}
