/*
 * platform: what the platform adapters share (see platform.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/platform.h"

#define PLATFORM_REASON_MAX	512
#define PLATFORM_TIMEOUT_MS	10000	/* no reconnectTimeoutMs */
#define PLATFORM_MARGIN_MS	500

void
platform_failed(const struct adapter_events *ev, const char *fmt, ...)
{
	char	reason[PLATFORM_REASON_MAX];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	ev->failed(ev->arg, reason);
}

int
platform_arm(const struct adapter_events *ev, struct event *t, uint64_t ms,
    const char *what)
{
	if (util_timer_ms(t, ms) == 0)
		return (0);
	platform_failed(ev, "cannot arm the %s timer", what);
	return (-1);
}

void
platform_disarm(struct event *t, const char *what)
{
	if (t != NULL && evtimer_del(t) == -1)
		log_warnx("cannot disarm the %s timer", what);
}

int
platform_deadline_ms(const json_t *config)
{
	json_int_t	rt;

	rt = json_integer_value(json_object_get(config, "reconnectTimeoutMs"));
	rt = rt > 0 && rt < 3600000 ? rt : PLATFORM_TIMEOUT_MS;
	return ((int)(rt - (rt / 10 < PLATFORM_MARGIN_MS ? rt / 10 :
	    PLATFORM_MARGIN_MS)));
}

int
platform_auth_header(char **out, const char *tok, const char *prefix)
{
	*out = NULL;
	if (tok == NULL || *tok == '\0' ||
	    strncmp(tok, prefix, strlen(prefix)) != 0 ||
	    strpbrk(tok, "\r\n") != NULL)
		return (-1);
	if (asprintf(out, "Authorization: Bearer %s", tok) == -1) {
		*out = NULL;
		return (-1);
	}
	return (0);
}
