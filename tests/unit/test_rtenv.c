/*
 * rtenv: the Copilot runtime's environment.  Upstream's OTEL variables from
 * the telemetry section, the Authorization value only here, the bridge's
 * secrets and inherited OTEL settings never.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sessiond/sessiond.h"

static const char *
env_get(char **env, const char *key)
{
	size_t	n = strlen(key), i;

	for (i = 0; env[i] != NULL; i++)
		if (strncmp(env[i], key, n) == 0 && env[i][n] == '=')
			return (env[i] + n + 1);
	return (NULL);
}

static void
test_telemetry_variables(void **state)
{
	json_t	*cfg;
	char	**env;

	setenv("RTENV_AUTH", "Bearer t0ps3cret", 1);
	setenv("RTENV_KEY", "sk-provider", 1);
	setenv("OTEL_SERVICE_NAME", "inherited", 1);
	setenv("RTENV_PLAIN", "kept", 1);
	cfg = json_pack("{s:{s:s,s:s,s:b,s:s}, s:{s:{s:s,s:s}}}",
	    "telemetry", "otlpEndpoint", "http://127.0.0.1:4318", "authEnv",
	    "RTENV_AUTH", "captureContent", 1, "sourceName", "src",
	    "providers", "p", "baseUrl", "http://x", "apiKeyEnv", "RTENV_KEY");
	env = rtenv_build(cfg);
	assert_non_null(env);
	assert_string_equal(env_get(env, "COPILOT_OTEL_ENABLED"), "true");
	assert_string_equal(env_get(env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
	    "http://127.0.0.1:4318");
	assert_string_equal(env_get(env, "OTEL_EXPORTER_OTLP_HEADERS"),
	    "Authorization=Bearer t0ps3cret");
	assert_string_equal(env_get(env, "COPILOT_OTEL_SOURCE_NAME"), "src");
	assert_string_equal(env_get(env,
	    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"), "true");
	assert_null(env_get(env, "COPILOT_OTEL_FILE_EXPORTER_PATH"));
	assert_null(env_get(env, "RTENV_AUTH"));
	assert_null(env_get(env, "RTENV_KEY"));
	assert_null(env_get(env, "OTEL_SERVICE_NAME"));
	assert_string_equal(env_get(env, "RTENV_PLAIN"), "kept");
	rtenv_free(env);
	json_decref(cfg);
}

static void
test_off_and_same(void **state)
{
	json_t	*off, *on;
	char	**a, **b, **c;

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://inherited", 1);
	off = json_pack("{s:{}}", "telemetry");
	on = json_pack("{s:{s:s,s:s}}", "telemetry", "exporterType", "file",
	    "filePath", "/tmp/spans.jsonl");
	a = rtenv_build(off);
	b = rtenv_build(off);
	c = rtenv_build(on);
	assert_non_null(a);
	assert_non_null(c);
	/* Off: nothing added, and an inherited setting does not leak in. */
	assert_null(env_get(a, "COPILOT_OTEL_ENABLED"));
	assert_null(env_get(a, "OTEL_EXPORTER_OTLP_ENDPOINT"));
	assert_string_equal(env_get(c, "COPILOT_OTEL_EXPORTER_TYPE"), "file");
	assert_string_equal(env_get(c, "COPILOT_OTEL_FILE_EXPORTER_PATH"),
	    "/tmp/spans.jsonl");
	assert_string_equal(env_get(c, "COPILOT_OTEL_SOURCE_NAME"),
	    "copilot-bridge");
	assert_true(rtenv_same(a, b));
	assert_false(rtenv_same(a, c));
	assert_false(rtenv_same(a, NULL));
	rtenv_free(a);
	rtenv_free(b);
	rtenv_free(c);
	json_decref(off);
	json_decref(on);
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_telemetry_variables),
		cmocka_unit_test(test_off_and_same),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
