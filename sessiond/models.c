/*
 * models: see models.h.  The matching and the listing follow upstream's
 * resolveModel() and formatModelListing() rule for rule, so a user typing
 * what worked there gets the same model here.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jx.h"
#include "common/util.h"
#include "models.h"

/* ---- building the list ------------------------------------------------------ */

static void
model_clear(struct model *m)
{
	free(m->id);
	free(m->name);
	free(m->default_effort);
	json_decref(m->efforts);
}

void
models_free(struct models *ms)
{
	size_t	i;

	if (ms == NULL)
		return;
	for (i = 0; i < ms->n; i++)
		model_clear(&ms->v[i]);
	for (i = 0; i < ms->nprov; i++)
		free(ms->providers[i]);
	free(ms->v);
	free(ms->providers);
	free(ms);
}

/* A number of o under either spelling (the runtime's, or an older one's). */
static int
model_num(const json_t *o, const char *a, const char *b, double *out)
{
	const json_t	*v = json_object_get(o, a);

	if (v == NULL && b != NULL)
		v = json_object_get(o, b);
	if (!json_is_number(v))
		return (0);
	*out = json_number_value(v);
	return (1);
}

static void
model_billing(struct model *m, const json_t *billing)
{
	const json_t	*tp = json_object_get(billing, "tokenPrices");

	m->has_mult = model_num(billing, "multiplier", NULL, &m->mult);
	if (tp == NULL)
		tp = json_object_get(billing, "token_prices");
	if (!json_is_object(tp))
		return;
	m->has_tokens = 1;
	if (!model_num(tp, "inputPrice", "input_price", &m->in_price))
		m->in_price = NAN;
	if (!model_num(tp, "outputPrice", "output_price", &m->out_price))
		m->out_price = NAN;
	if (!model_num(tp, "batchSize", "batch_size", &m->batch))
		m->batch = 0;
	m->has_cache = model_num(tp, "cacheReadPrice", "cache_price",
	    &m->cache_price) || model_num(tp, "cachePrice", NULL,
	    &m->cache_price);
}

/* One of models.list's entries; 1 skipped (no id), -1 out of memory. */
static int
model_copilot(struct model *m, const json_t *e)
{
	const char	*id = jx_str(e, "id"), *name = jx_str(e, "name");
	const json_t	*ef = json_object_get(e, "supportedReasoningEfforts");
	double		 ctx;

	memset(m, 0, sizeof(*m));
	m->provider = -1;
	if (id == NULL || *id == '\0')
		return (1);
	if ((m->id = strdup(id)) == NULL ||
	    (m->name = strdup(name != NULL ? name : id)) == NULL ||
	    (jx_str(e, "defaultReasoningEffort") != NULL &&
	    (m->default_effort = strdup(jx_str(e,
	    "defaultReasoningEffort"))) == NULL))
		return (-1);
	if (json_is_array(ef) && json_array_size(ef) > 0)
		m->efforts = json_incref((json_t *)ef);
	model_billing(m, json_object_get(e, "billing"));
	if (model_num(json_object_get(json_object_get(e, "capabilities"),
	    "limits"), "max_context_window_tokens", "maxContextWindowTokens",
	    &ctx) && ctx > 0 && ctx < 1e15)
		m->ctx_window = (long long)ctx;
	return (0);
}

/* A provider's configured model, as "<provider>:<id>". */
static int
model_byok(struct model *m, const char *prov, int pi, const json_t *e)
{
	const char	*id = jx_str(e, "id"), *name = jx_str(e, "name");
	double		 ctx;

	memset(m, 0, sizeof(*m));
	m->provider = pi;
	if (id == NULL || *id == '\0')
		return (1);
	if (asprintf(&m->id, "%s:%s", prov, id) == -1) {
		m->id = NULL;
		return (-1);
	}
	if ((m->name = strdup(name != NULL ? name : id)) == NULL)
		return (-1);
	if (model_num(e, "contextWindow", NULL, &ctx) && ctx > 0 && ctx < 1e15)
		m->ctx_window = (long long)ctx;
	return (0);
}

/* Keep the entry just built (rc 0), or drop it; -1 out of memory. */
static int
models_keep(struct models *ms, int rc)
{
	if (rc == 0) {
		ms->n++;
		return (0);
	}
	model_clear(&ms->v[ms->n]);
	memset(&ms->v[ms->n], 0, sizeof(ms->v[ms->n]));
	return (rc == -1 ? -1 : 0);
}

static size_t
models_capacity(const json_t *list, const json_t *providers)
{
	const char	*k;
	const json_t	*p;
	size_t		 n = json_array_size(list);

	json_object_foreach((json_t *)providers, k, p)
		n += json_array_size(json_object_get(p, "models"));
	return (n);
}

struct models *
models_build(const json_t *result, const json_t *providers)
{
	const json_t	*list = json_object_get(result, "models"), *p, *e;
	struct models	*ms;
	const char	*k;
	size_t		 cap, i;

	if (!json_is_object(providers))
		providers = NULL;
	if ((ms = calloc(1, sizeof(*ms))) == NULL)
		return (NULL);
	cap = models_capacity(list, providers);
	if ((cap > 0 && (ms->v = calloc(cap, sizeof(*ms->v))) == NULL) ||
	    (json_object_size(providers) > 0 && (ms->providers = calloc(
	    json_object_size(providers), sizeof(*ms->providers))) == NULL))
		goto fail;
	json_array_foreach((json_t *)list, i, e)
		if (models_keep(ms, model_copilot(&ms->v[ms->n], e)) == -1)
			goto fail;
	json_object_foreach((json_t *)providers, k, p) {
		if ((ms->providers[ms->nprov] = strdup(k)) == NULL)
			goto fail;
		ms->nprov++;
		json_array_foreach(json_object_get(p, "models"), i, e)
			if (models_keep(ms, model_byok(&ms->v[ms->n], k,
			    (int)ms->nprov - 1, e)) == -1)
				goto fail;
	}
	return (ms);
fail:
	models_free(ms);
	return (NULL);
}

size_t
models_copilot_count(const struct models *ms)
{
	size_t	i, n = 0;

	for (i = 0; i < ms->n; i++)
		if (ms->v[i].provider == -1)
			n++;
	return (n);
}

const char *
models_provider(const struct models *ms, const char *name)
{
	size_t	i;

	for (i = 0; i < ms->nprov; i++)
		if (strcasecmp(ms->providers[i], name) == 0)
			return (ms->providers[i]);
	return (NULL);
}

const struct model *
models_find(const struct models *ms, const char *model, const char *provider)
{
	const struct model	*m;
	size_t			 i, n;

	if (model == NULL)
		return (NULL);
	for (i = 0; i < ms->n; i++) {
		m = &ms->v[i];
		if (provider == NULL) {
			if (m->provider == -1 && strcmp(m->id, model) == 0)
				return (m);
			continue;
		}
		n = strlen(provider);
		if (m->provider != -1 && strncmp(m->id, provider, n) == 0 &&
		    m->id[n] == ':' && strcmp(m->id + n + 1, model) == 0)
			return (m);
	}
	return (NULL);
}

/* upstream's /\((preview|internal\b)[^)]*\)/i over the name */
int
models_hidden(const struct model *m)
{
	const char	*p, *q;

	for (p = m->name; (p = strchr(p, '(')) != NULL; p++) {
		q = NULL;
		if (strncasecmp(p + 1, "preview", 7) == 0)
			q = p + 8;
		else if (strncasecmp(p + 1, "internal", 8) == 0 &&
		    !isalnum((unsigned char)p[9]) && p[9] != '_')
			q = p + 9;
		if (q != NULL && strchr(q, ')') != NULL)
			return (1);
	}
	return (0);
}

/* ---- matching ------------------------------------------------------------ */

/* The models a match looks at: a subset, by index. */
struct mset {
	const struct model	**v;
	size_t			  n;
};

/* Does m's id start with "<provider>:", case-insensitively? */
static int
model_of(const struct model *m, const char *prov)
{
	size_t	n = strlen(prov);

	return (strncasecmp(m->id, prov, n) == 0 && m->id[n] == ':');
}

static int
model_has_tokens(const struct model *m, char *const *tok, size_t ntok)
{
	size_t	i;

	for (i = 0; i < ntok; i++)
		if (strcasestr(m->id, tok[i]) == NULL &&
		    strcasestr(m->name, tok[i]) == NULL)
			return (0);
	return (1);
}

/* Case-insensitive "s ends with suffix". */
static int
ends_with(const char *s, const char *suffix)
{
	size_t	a = strlen(s), b = strlen(suffix);

	return (a >= b && strcasecmp(s + a - b, suffix) == 0);
}

/* upstream's pickBestMatch order: <0 when a goes first. */
static int
model_better(const char *input, const struct model *a, const struct model *b)
{
	int	ea = ends_with(a->id, input), eb = ends_with(b->id, input);

	if (ea != eb)
		return (eb - ea);
	if (strlen(a->id) != strlen(b->id))
		return (strlen(a->id) < strlen(b->id) ? -1 : 1);
	if (strlen(a->name) != strlen(b->name))
		return (strlen(a->name) < strlen(b->name) ? -1 : 1);
	return (0);
}

/* Up to 8 candidates: the best (first of equals) and the rest. */
static void
pick_best(const char *input, const struct model **cand, size_t n,
    struct models_match *r)
{
	size_t	i, best = 0;

	for (i = 1; i < n; i++)
		if (model_better(input, cand[i], cand[best]) < 0)
			best = i;
	r->model = cand[best];
	r->nalt = 0;
	for (i = 0; i < n; i++)
		if (i != best && strcmp(cand[i]->id, cand[best]->id) != 0)
			r->alt[r->nalt++] = cand[i];
}

/* Split input at white space, "-", "_" and "." (its tokens point into buf). */
static size_t
tokens(char *buf, char **tok, size_t max)
{
	size_t	 n = 0;
	char	*p, *save = NULL;

	for (p = strtok_r(buf, " \t\r\n\f\v-_.", &save); p != NULL && n < max;
	    p = strtok_r(NULL, " \t\r\n\f\v-_.", &save))
		tok[n++] = p;
	return (n);
}

static void
unknown(struct models_match *r, const char *input, const char *scope)
{
	r->model = NULL;
	if (scope != NULL)
		snprintf(r->error, sizeof(r->error), "⚠️ Unknown model \"%s\" "
		    "in %s. Use `/model` to see available models.", input, scope);
	else
		snprintf(r->error, sizeof(r->error), "⚠️ Unknown model \"%s\". "
		    "Use `/model` to see available models.", input);
}

/* upstream's fuzzyMatch(): 0 matched, -1 not (r->error says why). */
static int
fuzzy(const char *input, const struct mset *s, const char *scope,
    struct models_match *r)
{
	const struct model	*sub[8], *tok[8], *one_sub = NULL, *one_tok = NULL;
	char			 buf[256], *t[32];
	size_t			 i, nsub = 0, ntok = 0, nt, n;

	if (s->n == 0) {
		if (scope != NULL)
			snprintf(r->error, sizeof(r->error), "⚠️ No models "
			    "found for %s.", scope);
		else
			unknown(r, input, NULL);
		r->model = NULL;
		return (-1);
	}
	snprintf(buf, sizeof(buf), "%s", input);
	nt = tokens(buf, t, nitems(t));
	for (i = 0; i < s->n; i++) {
		if (strcasestr(s->v[i]->id, input) != NULL ||
		    strcasestr(s->v[i]->name, input) != NULL) {
			if (nsub++ < nitems(sub))
				sub[nsub - 1] = s->v[i];
			one_sub = s->v[i];
		}
		if (model_has_tokens(s->v[i], t, nt)) {
			if (ntok++ < nitems(tok))
				tok[ntok - 1] = s->v[i];
			one_tok = s->v[i];
		}
	}
	r->nalt = 0;
	if (nsub == 1 || (nsub == 0 && ntok == 1)) {
		r->model = nsub == 1 ? one_sub : one_tok;
		return (0);
	}
	if (nsub > 1 || ntok > 1) {
		n = nsub > 0 ? nsub : ntok;
		pick_best(input, nsub > 0 ? sub : tok, n < nitems(sub) ? n :
		    nitems(sub), r);
		return (0);
	}
	unknown(r, input, scope);
	return (-1);
}

/* "provider:model": within that provider only. */
static void
resolve_scoped(const struct models *ms, const char *prov, const char *bare,
    const char *input, const struct model **v, struct models_match *r)
{
	struct mset	 s = { v, 0 };
	char		 scope[160];
	size_t		 i, n = strlen(prov);

	if (*bare == '\0') {
		snprintf(r->error, sizeof(r->error), "⚠️ Please specify a model "
		    "name after the provider prefix.");
		return;
	}
	for (i = 0; i < ms->n; i++) {
		if (!model_of(&ms->v[i], prov))
			continue;
		if (strcasecmp(ms->v[i].id + n + 1, bare) == 0) {
			r->model = &ms->v[i];
			return;
		}
		v[s.n++] = &ms->v[i];
	}
	snprintf(scope, sizeof(scope), "provider \"%s\"", prov);
	(void)fuzzy(bare, &s, scope, r);
}

/* A bare input: Copilot's models, then a provider's bare id, then all. */
static void
resolve_bare(const struct models *ms, const char *input,
    const struct model **v, struct models_match *r)
{
	struct mset	 s = { v, 0 };
	size_t		 i, p, n;

	if (ms->nprov > 0) {
		for (i = 0; i < ms->n; i++)
			if (ms->v[i].provider == -1)
				v[s.n++] = &ms->v[i];
		if (fuzzy(input, &s, NULL, r) == 0)
			return;
		for (p = 0; p < ms->nprov; p++) {
			n = strlen(ms->providers[p]);
			for (i = 0; i < ms->n; i++)
				if (model_of(&ms->v[i], ms->providers[p]) &&
				    strcasecmp(ms->v[i].id + n + 1, input) == 0) {
					r->model = &ms->v[i];
					r->nalt = 0;
					return;
				}
		}
	}
	for (s.n = 0, i = 0; i < ms->n; i++)
		v[s.n++] = &ms->v[i];
	(void)fuzzy(input, &s, NULL, r);
}

void
models_resolve(const struct models *ms, const char *input,
    struct models_match *r)
{
	const struct model	**v;
	const char		 *colon, *prov = NULL;
	char			  in[256], pfx[128];
	size_t			  i, n;

	memset(r, 0, sizeof(*r));
	while (isspace((unsigned char)*input))
		input++;
	n = strlen(input);
	while (n > 0 && isspace((unsigned char)input[n - 1]))
		n--;
	if (n == 0) {
		snprintf(r->error, sizeof(r->error), "⚠️ Please specify a model "
		    "name.");
		return;
	}
	snprintf(in, sizeof(in), "%.*s", (int)(n < sizeof(in) ? n :
	    sizeof(in) - 1), input);
	if ((v = calloc(ms->n + 1, sizeof(*v))) == NULL) {
		snprintf(r->error, sizeof(r->error), "⚠️ Out of memory.");
		return;
	}
	/* upstream: the prefix before the first ":" names a provider */
	if ((colon = strchr(in, ':')) != NULL && colon > in &&
	    (size_t)(colon - in) < sizeof(pfx)) {
		snprintf(pfx, sizeof(pfx), "%.*s", (int)(colon - in), in);
		prov = models_provider(ms, pfx);
	}
	if (prov != NULL)
		resolve_scoped(ms, prov, colon + 1, in, v, r);
	else {
		for (i = 0; i < ms->n; i++)
			if (strcasecmp(ms->v[i].id, in) == 0 ||
			    strcasecmp(ms->v[i].name, in) == 0) {
				r->model = &ms->v[i];
				break;
			}
		if (r->model == NULL)
			resolve_bare(ms, in, v, r);
	}
	free(v);
}

/* ---- the listing ------------------------------------------------------------ */

enum billing { BILL_NONE, BILL_MULT, BILL_TOKENS };

/* JavaScript's x.toPrecision(2) for 0 <= x < 1. */
static void
precision2(FILE *f, double x)
{
	double	y = x;
	int	e = 0;

	if (!(x > 0)) {
		fputs("0.0", f);
		return;
	}
	while (y < 1 && e > -400) {
		y *= 10;
		e--;
	}
	if (e >= -6)
		fprintf(f, "%.*f", 1 - e, x);
	else
		fprintf(f, "%.1fe%d", y, e);
}

/* upstream's formatPrice: AI-credit sub-units per batch, as $ per 1M tokens. */
static void
price(FILE *f, double p, double batch)
{
	double	m;
	char	buf[64];
	size_t	n;

	if (!isfinite(p) || batch == 0) {
		fputs("--", f);
		return;
	}
	m = p / batch / 1e5;
	if (m < 0.01) {
		fputc('$', f);
		precision2(f, m);
		return;
	}
	if (m < 1) {
		snprintf(buf, sizeof(buf), "%.3f", m);
		n = strlen(buf);
		if (buf[n - 1] == '0')
			snprintf(buf, sizeof(buf), "%.2f", m);
		fprintf(f, "$%s", buf);
		return;
	}
	fprintf(f, "$%.2f", m);
}

struct listing {
	FILE		*f;
	const char	*cur_model, *cur_provider;
	int		 streamer;
	int		 hidden;	/* "Hidden Model N" so far */
};

static int
is_current(const struct listing *l, const struct model *m)
{
	size_t	n;

	if (l->cur_model == NULL)
		return (0);
	if (l->cur_provider == NULL)
		return (strcmp(m->id, l->cur_model) == 0);
	n = strlen(l->cur_provider);
	return (strncmp(m->id, l->cur_provider, n) == 0 && m->id[n] == ':' &&
	    strcmp(m->id + n + 1, l->cur_model) == 0);
}

static void
row(struct listing *l, const struct model *m, enum billing b)
{
	const char	*mark = is_current(l, m) ? " <- current" : "";
	const char	*brain = m->efforts != NULL ? " 🧠" : "";

	if (l->streamer && models_hidden(m))
		fprintf(l->f, "| Hidden Model %d |", ++l->hidden);
	else
		fprintf(l->f, "| `%s` |", m->id);
	if (b == BILL_TOKENS && m->has_tokens) {
		fputc(' ', l->f);
		price(l->f, m->in_price, m->batch);
		fputs(" | ", l->f);
		if (m->has_cache)
			price(l->f, m->cache_price, m->batch);
		else
			fputs("--", l->f);
		fputs(" | ", l->f);
		price(l->f, m->out_price, m->batch);
		fputs(" |", l->f);
	} else if (b == BILL_TOKENS)
		fputs(" -- | -- | -- |", l->f);
	else if (b == BILL_MULT) {
		if (m->has_mult)
			fprintf(l->f, " %gx |", m->mult);
		else
			fputs(" -- |", l->f);
	}
	fprintf(l->f, "%s%s |\n", brain, mark);
}

static enum billing
billing_of(const struct models *ms)
{
	size_t	i;
	int	mult = 0;

	for (i = 0; i < ms->n; i++) {
		if (ms->v[i].provider != -1)
			continue;
		if (ms->v[i].has_tokens)
			return (BILL_TOKENS);
		mult |= ms->v[i].has_mult;
	}
	return (mult ? BILL_MULT : BILL_NONE);
}

#define HDR_COPILOT_TOKENS	"| Model | Input | Cached input | Output | |\n" \
				"|:------|------:|-------------:|-------:|:--|\n"
#define HDR_COPILOT		"| Model | Billing | |\n|:------|--------:|:--|\n"
#define HDR_BYOK		"| Model | |\n|:------|:--|\n"

static void
legend(FILE *f, const struct models *ms, enum billing b, int copilot)
{
	size_t	i;

	fputs("🧠 = supports reasoning effort", f);
	if (copilot && b == BILL_TOKENS) {
		fputs(" -- prices are $/M tokens\n", f);
		for (i = 0; i < ms->n; i++)
			if (ms->v[i].provider == -1 &&
			    strncmp(ms->v[i].id, "claude-", 7) == 0) {
				fputs("Anthropic models also incur cache write "
				    "costs not shown above.\n", f);
				break;
			}
		fputs("[Full pricing details](https://docs.github.com/en/"
		    "copilot/reference/copilot-billing/models-and-pricing)\n", f);
	} else if (copilot && b == BILL_MULT)
		fputs(" -- Billing = premium request multiplier\n", f);
	else
		fputc('\n', f);
}

static void
listing_body(struct listing *l, const struct models *ms, const char *filter,
    enum billing b)
{
	size_t	i, p;
	int	any;

	if (filter != NULL) {
		fputs(HDR_BYOK, l->f);
		for (i = 0; i < ms->n; i++)
			if (model_of(&ms->v[i], filter))
				row(l, &ms->v[i], BILL_NONE);
		fputc('\n', l->f);
		return;
	}
	if (ms->nprov == 0) {
		fputs(b == BILL_TOKENS ? HDR_COPILOT_TOKENS : HDR_COPILOT, l->f);
		for (i = 0; i < ms->n; i++)
			row(l, &ms->v[i], b);
		fputc('\n', l->f);
		return;
	}
	if (models_copilot_count(ms) > 0) {
		fprintf(l->f, "**GitHub Copilot**\n\n%s", b == BILL_TOKENS ?
		    HDR_COPILOT_TOKENS : HDR_COPILOT);
		for (i = 0; i < ms->n; i++)
			if (ms->v[i].provider == -1)
				row(l, &ms->v[i], b);
		fputc('\n', l->f);
	}
	for (p = 0; p < ms->nprov; p++) {
		for (any = 0, i = 0; i < ms->n; i++) {
			if (ms->v[i].provider != (int)p)
				continue;
			if (!any++)
				fprintf(l->f, "**%s**\n\n%s", ms->providers[p],
				    HDR_BYOK);
			row(l, &ms->v[i], BILL_NONE);
		}
		if (any)
			fputc('\n', l->f);
	}
}

char *
models_listing(const struct models *ms, const char *cur_model,
    const char *cur_provider, const char *filter, int streamer)
{
	struct listing	 l = { NULL, cur_model, cur_provider, streamer, 0 };
	enum billing	 b = billing_of(ms);
	char		*text = NULL;
	size_t		 len = 0, p;

	if ((l.f = open_memstream(&text, &len)) == NULL)
		return (NULL);
	if (filter != NULL)
		fprintf(l.f, "**Models: %s**\n\n", filter);
	else
		fputs("**Available Models**\n\n", l.f);
	listing_body(&l, ms, filter, b);
	legend(l.f, ms, b, filter == NULL && models_copilot_count(ms) > 0);
	fputs("↳ Use `/model <name>` to switch", l.f);
	if (ms->nprov > 0 && filter == NULL) {
		fputs("\n↳ Use `/model <provider>` to filter (", l.f);
		for (p = 0; p < ms->nprov && p < 3; p++)
			fprintf(l.f, "%s%s", p > 0 ? ", " : "", ms->providers[p]);
		fprintf(l.f, "%s)", ms->nprov > 3 ? ", …" : "");
	}
	if (fclose(l.f) == EOF) {
		free(text);
		return (NULL);
	}
	return (text);
}
