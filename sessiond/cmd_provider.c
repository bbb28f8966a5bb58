/*
 * cmd_provider: /provider (/providers), the config's BYOK providers, and
 * "/provider test NAME", which GETs <baseUrl>/models with the provider's
 * credentials, bounded to 10 s, on the event loop (common/net.c: curl's
 * multi interface), so sessiond answers everything else meanwhile.  The
 * test is an operation of its channel (chanop.h): a channel that goes
 * cancels it.  Replies as upstream's (docs/commands.md, "Models and
 * providers").
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jx.h"
#include "common/log.h"
#include "common/net.h"
#include "common/util.h"
#include "chan.h"
#include "chanop.h"
#include "cmd.h"
#include "conf.h"

#define PROVIDER_TEST_MS	10000
#define PROVIDER_BODY_MAX	(1024 * 1024)

struct ptest {
	struct chanop		 op;
	struct net_req		*req;		/* until it answers */
	char			*name;		/* the provider */
	char			*url;		/* <baseUrl>/models */
	json_t			*configured;	/* its models' ids */
};

static struct net	*provider_net;

void
cmd_provider_init(struct event_base *base)
{
	if ((provider_net = net_new(base)) == NULL)
		log_warnx("cannot set up HTTP: /provider test will not work");
}

/* A test still running when its channel goes is dropped unanswered. */
static void
ptest_dtor(struct chanop *op)
{
	struct ptest	*t = (struct ptest *)op;

	if (t->req != NULL)
		net_cancel(t->req);
	free(t->name);
	free(t->url);
	json_decref(t->configured);
}

/* At exit, once every channel (and its tests) went. */
void
cmd_provider_free(void)
{
	net_free(provider_net);
	provider_net = NULL;
}

/* How the provider authenticates, as upstream's listing names it. */
static const char *
provider_auth(const json_t *p, char *buf, size_t len)
{
	if (jx_str(p, "apiKeyEnv") != NULL)
		snprintf(buf, len, "apiKeyEnv: %s", jx_str(p, "apiKeyEnv"));
	else if (jx_str(p, "bearerTokenEnv") != NULL)
		snprintf(buf, len, "bearerTokenEnv: %s",
		    jx_str(p, "bearerTokenEnv"));
	else if (jx_str(p, "apiKey") != NULL)
		snprintf(buf, len, "apiKey (inline)");
	else if (jx_str(p, "bearerToken") != NULL)
		snprintf(buf, len, "bearerToken (inline)");
	else
		snprintf(buf, len, "none");
	return (buf);
}

static void
provider_list(struct cmdctx *x, const json_t *providers)
{
	const json_t	*p, *m;
	const char	*k;
	char		*text = NULL, auth[160];
	size_t		 len = 0, i;
	FILE		*f;

	if (json_object_size(providers) == 0) {
		cmd_say(x, "No BYOK providers configured.\n↳ Add providers in "
		    "`config.json` under the `\"providers\"` key, then "
		    "`/reload config`.");
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL)
		return;
	fputs("**Configured Providers**\n\n", f);
	json_object_foreach((json_t *)providers, k, p) {
		fprintf(f, "**%s**\n  URL: `%s`\n  Type: %s · Auth: %s · "
		    "Models: %zu\n  Models: ", k, jx_stre(p, "baseUrl"),
		    jx_str(p, "type") != NULL ? jx_str(p, "type") : "openai",
		    provider_auth(p, auth, sizeof(auth)),
		    json_array_size(json_object_get(p, "models")));
		json_array_foreach(json_object_get(p, "models"), i, m)
			fprintf(f, "%s`%s`", i > 0 ? ", " : "", jx_stre(m, "id"));
		fputs("\n\n", f);
	}
	fputs("↳ Use `/provider test <name>` to test connectivity\n↳ Use "
	    "`/model <provider>:<model>` to switch to a provider model", f);
	if (fclose(f) == 0)
		cmd_say(x, text);
	free(text);
}

/* ---- /provider test ------------------------------------------------------ */

/* The reason phrase of the statuses a models endpoint answers with. */
static const char *
provider_reason(long status)
{
	static const struct {
		long		 status;
		const char	*text;
	} r[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 429, "Too Many Requests" }, { 500, "Internal Server Error" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};
	size_t	i;

	for (i = 0; i < nitems(r); i++)
		if (r[i].status == status)
			return (r[i].text);
	return ("");
}

/* "✅ … is reachable", the model counts, and what the remote lacks. */
static void
provider_ok(FILE *f, const struct ptest *t, const struct net_resp *r)
{
	json_t		*body = json_loads(r->body, 0, NULL), *v;
	const json_t	*data = json_object_get(body, "data"), *d;
	size_t		 i, j, missing = 0;
	int		 found;

	if (body == NULL) {
		fprintf(f, "❌ Provider \"%s\" failed (%llums): its answer is "
		    "not JSON\n  URL: `%s`", t->name, (unsigned long long)r->ms,
		    t->url);
		return;
	}
	fprintf(f, "✅ Provider \"%s\" is reachable (%llums)\n  URL: `%s`\n",
	    t->name, (unsigned long long)r->ms, t->url);
	if (json_is_array(data))
		fprintf(f, "  Remote models: %zu\n", json_array_size(data));
	else
		fputs("  Remote models: ?\n", f);
	fputs("  Configured: ", f);
	json_array_foreach(t->configured, i, v)
		fprintf(f, "%s`%s`", i > 0 ? ", " : "", json_string_value(v));
	if (json_is_array(data))
		json_array_foreach(t->configured, i, v) {
			found = 0;
			json_array_foreach(data, j, d)
				found |= strcmp(jx_stre(d, "id"),
				    json_string_value(v)) == 0;
			if (!found)
				fprintf(f, "%s`%s`", missing++ ? ", " :
				    "\n  ⚠️ Not found on remote: ",
				    json_string_value(v));
		}
	json_decref(body);
}

static void
provider_tested(const struct net_resp *r, void *arg)
{
	struct ptest	*t = arg;
	char		*text = NULL;
	size_t		 len = 0;
	FILE		*f;

	t->req = NULL;
	if ((f = open_memstream(&text, &len)) == NULL)
		goto done;
	if (r->error == NULL && r->status >= 200 && r->status < 300)
		provider_ok(f, t, r);
	else if (r->error == NULL)
		fprintf(f, "❌ Provider \"%s\" returned HTTP %ld %s\n  URL: "
		    "`%s`", t->name, r->status, provider_reason(r->status),
		    t->url);
	else if (strcasestr(r->error, "timed out") != NULL ||
	    r->ms >= PROVIDER_TEST_MS)
		fprintf(f, "❌ Provider \"%s\" timed out after 10s\n  URL: `%s`",
		    t->name, t->url);
	else if (strcasestr(r->error, "refused") != NULL ||
	    strcasestr(r->error, "couldn't connect") != NULL)
		fprintf(f, "❌ Provider \"%s\" connection refused\n  URL: `%s`\n"
		    "  Is the service running?", t->name, t->url);
	else if (strcasestr(r->error, "resolve host") != NULL)
		fprintf(f, "❌ Provider \"%s\" hostname not found\n  URL: `%s`",
		    t->name, t->url);
	else
		fprintf(f, "❌ Provider \"%s\" failed (%llums): %s\n  URL: `%s`",
		    t->name, (unsigned long long)r->ms, r->error, t->url);
	log_info("channel %s: /provider test %s: %s in %llu ms", t->op.c->id,
	    t->name, r->error != NULL ? r->error : "answered",
	    (unsigned long long)r->ms);
	if (fclose(f) == 0)
		chanop_say(&t->op, text);
	free(text);
done:
	chanop_free(&t->op);
}

/*
 * The Authorization header upstream sends: the API key (inline or from
 * its variable), else the bearer token.  NULL: none.  Never logged.
 */
static char *
provider_auth_header(const json_t *p)
{
	const char	*k = jx_str(p, "apiKey"), *env;
	char		*h;

	if (k == NULL && (env = jx_str(p, "apiKeyEnv")) != NULL)
		k = getenv(env);
	if (k == NULL)
		k = jx_str(p, "bearerToken");
	if (k == NULL && (env = jx_str(p, "bearerTokenEnv")) != NULL)
		k = getenv(env);
	if (k == NULL || *k == '\0' || asprintf(&h, "Authorization: Bearer %s",
	    k) == -1)
		return (NULL);
	return (h);
}

static void
provider_test(struct cmdctx *x, const char *name, const json_t *p)
{
	struct net_opts	 o = { .timeout_ms = PROVIDER_TEST_MS,
			    .connect_ms = PROVIDER_TEST_MS,
			    .max_body = PROVIDER_BODY_MAX };
	const char	*hdrs[3] = { "Accept: application/json", NULL, NULL };
	const char	*base = jx_stre(p, "baseUrl");
	const json_t	*m;
	struct ptest	*t;
	char		*auth;
	size_t		 n = strlen(base), i;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if ((t = (struct ptest *)chanop_new(x->c, x->root, x->msg,
	    sizeof(*t))) == NULL)
		return;
	t->op.dtor = ptest_dtor;
	if ((t->name = strdup(name)) == NULL ||
	    asprintf(&t->url, "%.*s/models", (int)n, base) == -1 ||
	    (t->configured = json_array()) == NULL) {
		t->url = NULL;
		chanop_free(&t->op);
		return;
	}
	json_array_foreach(json_object_get(p, "models"), i, m)
		if (jx_str(m, "id") != NULL)
			(void)json_array_append_new(t->configured,
			    json_string(jx_str(m, "id")));
	cmd_sayf(x, "🔄 Testing provider \"%s\"...", name);
	hdrs[1] = auth = provider_auth_header(p);
	t->req = provider_net == NULL ? NULL : net_request(provider_net, "GET",
	    t->url, hdrs, NULL, &o, provider_tested, t);
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (t->req == NULL) {
		cmd_say(x, "❌ Provider test failed: the request cannot be "
		    "started");
		chanop_free(&t->op);
	}
}

/* /provider [test NAME | add | remove]. */
void
cmd_provider(struct cmdctx *x)
{
	const json_t	*providers = conf_get() != NULL ?
			    conf_get()->providers : NULL, *p;
	const char	*a = x->arg, *k;
	char		*names = NULL;
	size_t		 len = 0;
	FILE		*f;

	if (*a == '\0') {
		provider_list(x, providers);
		return;
	}
	if (strncasecmp(a, "test", 4) == 0 && (a[4] == ' ' || a[4] == '\t')) {
		for (a += 4; *a == ' ' || *a == '\t'; a++)
			;
		json_object_foreach((json_t *)providers, k, p)
			if (strcasecmp(k, a) == 0) {
				provider_test(x, k, p);
				return;
			}
		if ((f = open_memstream(&names, &len)) == NULL)
			return;
		json_object_foreach((json_t *)providers, k, p)
			fprintf(f, "%s%s", ftell(f) > 0 ? ", " : "", k);
		if (fclose(f) == 0)
			cmd_sayf(x, "⚠️ Unknown provider \"%s\". Configured: %s",
			    a, names);
		free(names);
		return;
	}
	if ((strncasecmp(a, "add", 3) == 0 && !isalnum((unsigned char)a[3])) ||
	    (strncasecmp(a, "remove", 6) == 0 &&
	    !isalnum((unsigned char)a[6])) ||
	    (strncasecmp(a, "delete", 6) == 0 &&
	    !isalnum((unsigned char)a[6]))) {
		cmd_say(x, "Providers are managed in `config.json` under the "
		    "`\"providers\"` key.\n↳ Edit the file, then `/reload "
		    "config`: it applies live.");
		return;
	}
	cmd_say(x, "⚠️ Unknown subcommand. Usage:\n  `/provider` — list "
	    "providers\n  `/provider test <name>` — test connectivity\n  "
	    "`/model <provider>:<model>` — switch model");
}
