/*
 * rtenv: the Copilot runtime's environment.  Ours, less the bridge's own
 * secrets and any OTEL setting inherited from whoever started us, plus
 * the runtime's translation of the "telemetry" section (docs/configuration.md):
 *
 *   otlpEndpoint   OTEL_EXPORTER_OTLP_ENDPOINT
 *   filePath       COPILOT_OTEL_FILE_EXPORTER_PATH
 *   exporterType   COPILOT_OTEL_EXPORTER_TYPE
 *   sourceName     COPILOT_OTEL_SOURCE_NAME (default copilot-bridge)
 *   captureContent OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
 *   authEnv        OTEL_EXPORTER_OTLP_HEADERS=Authorization=<its value>
 *
 * The authorization header goes to this child only: hooks never get it
 * (hookrun removes OTEL_EXPORTER_OTLP_HEADERS and the authEnv variable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "sessiond.h"

extern char	**environ;

#define RTENV_EXTRA	8	/* the variables added, at most */

/*
 * The names of the environment variables that hold the bridge's own
 * secrets: providers' apiKeyEnv / bearerTokenEnv and telemetry.authEnv.
 * Neither a hook nor the runtime is given them.  Returns how many of them
 * fit in names.
 */
size_t
rtenv_secret_names(const json_t *config, const char **names, size_t max)
{
	static const char *const keys[] = { "apiKeyEnv", "bearerTokenEnv" };
	const char	*k;
	json_t		*p, *v;
	size_t		 n = 0, i;

	json_object_foreach(json_object_get(config, "providers"), k, p)
		for (i = 0; i < nitems(keys) && n < max; i++)
			if (json_is_string(v = json_object_get(p, keys[i])))
				names[n++] = json_string_value(v);
	v = json_object_get(json_object_get(config, "telemetry"), "authEnv");
	if (json_is_string(v) && n < max)
		names[n++] = json_string_value(v);
	return (n);
}

static int
rtenv_dropped(const char *kv, const char *const *secrets, size_t nsecrets)
{
	size_t	i, n;

	if (strncmp(kv, "OTEL_", 5) == 0 || strncmp(kv, "COPILOT_OTEL_", 13) == 0)
		return (1);
	for (i = 0; i < nsecrets; i++) {
		n = strlen(secrets[i]);
		if (strncmp(kv, secrets[i], n) == 0 && kv[n] == '=')
			return (1);
	}
	return (0);
}

static int
rtenv_add(char **env, size_t *n, const char *key, const char *value)
{
	if (value == NULL)
		return (0);
	if (asprintf(&env[*n], "%s=%s", key, value) == -1) {
		env[*n] = NULL;
		return (-1);
	}
	(*n)++;
	return (0);
}

void
rtenv_free(char **env)
{
	size_t	i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* A new NULL-terminated environment for the runtime, or NULL. */
char **
rtenv_build(const json_t *config)
{
	const json_t	*t = json_object_get(config, "telemetry");
	const char	*secrets[256], *ep, *fp, *v, *auth = NULL;
	char		**env, hdr[4096];
	size_t		 nsec, total, n = 0, i;
	int		 bad = 0;

	nsec = rtenv_secret_names(config, secrets, nitems(secrets));
	for (total = 0; environ[total] != NULL; total++)
		;
	if ((env = calloc(total + RTENV_EXTRA + 1, sizeof(*env))) == NULL)
		return (NULL);
	for (i = 0; i < total && !bad; i++)
		if (!rtenv_dropped(environ[i], secrets, nsec) &&
		    (env[n++] = strdup(environ[i])) == NULL)
			bad = 1;
	ep = json_string_value(json_object_get(t, "otlpEndpoint"));
	fp = json_string_value(json_object_get(t, "filePath"));
	if (!bad && (ep != NULL || fp != NULL)) {
		v = json_string_value(json_object_get(t, "authEnv"));
		if (v != NULL && (auth = getenv(v)) != NULL)
			(void)snprintf(hdr, sizeof(hdr), "Authorization=%s", auth);
		if (v != NULL && auth == NULL)
			log_warnx("telemetry.authEnv names %s, which is not set", v);
		v = json_string_value(json_object_get(t, "sourceName"));
		bad = rtenv_add(env, &n, "COPILOT_OTEL_ENABLED", "true") == -1 ||
		    rtenv_add(env, &n, "OTEL_EXPORTER_OTLP_ENDPOINT", ep) == -1 ||
		    rtenv_add(env, &n, "OTEL_EXPORTER_OTLP_PROTOCOL",
		    ep != NULL ? "http/json" : NULL) == -1 ||
		    rtenv_add(env, &n, "COPILOT_OTEL_FILE_EXPORTER_PATH", fp) == -1 ||
		    rtenv_add(env, &n, "COPILOT_OTEL_EXPORTER_TYPE",
		    json_string_value(json_object_get(t, "exporterType"))) == -1 ||
		    rtenv_add(env, &n, "COPILOT_OTEL_SOURCE_NAME",
		    v != NULL ? v : "copilot-bridge") == -1 ||
		    rtenv_add(env, &n,
		    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
		    json_is_boolean(json_object_get(t, "captureContent")) ?
		    (json_is_true(json_object_get(t, "captureContent")) ?
		    "true" : "false") : NULL) == -1 ||
		    rtenv_add(env, &n, "OTEL_EXPORTER_OTLP_HEADERS",
		    auth != NULL ? hdr : NULL) == -1;
	}
	explicit_bzero(hdr, sizeof(hdr));
	if (bad) {
		rtenv_free(env);
		return (NULL);
	}
	return (env);
}

/* Do a and b hold the same variables (in the same order)? */
int
rtenv_same(char *const *a, char *const *b)
{
	size_t	i;

	if (a == NULL || b == NULL)
		return (a == b);
	for (i = 0; a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return (0);
	return (a[i] == NULL && b[i] == NULL);
}
