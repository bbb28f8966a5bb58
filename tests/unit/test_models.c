/*
 * models: /model's matching (upstream's resolveModel cases and more:
 * provider scoping, exact, substring, words, the best of several, BYOK
 * bare ids, errors) and its listing (groups, billing columns, prices,
 * the current model, streamer mode), over lists built as the runtime's
 * models.list and the config's providers give them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sessiond/models.h"

static const char copilot_json[] =
    "{\"models\":["
    "{\"id\":\"claude-sonnet-4.6\",\"name\":\"Claude Sonnet 4.6\"},"
    "{\"id\":\"gpt-5.4\",\"name\":\"GPT-5.4\",\"billing\":{\"multiplier\":1}},"
    "{\"id\":\"claude-opus-4.6\",\"name\":\"Claude Opus 4.6\","
    "\"billing\":{\"multiplier\":2},"
    "\"supportedReasoningEfforts\":[\"low\",\"medium\",\"high\"]}]}";

static const char providers_json[] =
    "{\"ollama-local\":{\"baseUrl\":\"http://localhost:11434/v1\","
    "\"models\":[{\"id\":\"qwen3:8b\",\"name\":\"Qwen 3 8B\"},"
    "{\"id\":\"qwen3:14b\",\"name\":\"Qwen 3 14B\"}]},"
    "\"azure-prod\":{\"baseUrl\":\"https://x\",\"models\":[{\"id\":\"gpt-5\","
    "\"name\":\"GPT-5 (Azure)\",\"contextWindow\":200000}]}}";

static struct models *
build(const char *list, const char *providers)
{
	json_t		*l = list != NULL ? json_loads(list, 0, NULL) : NULL;
	json_t		*p = providers != NULL ? json_loads(providers, 0, NULL) :
			    NULL;
	struct models	*ms;

	assert_true(list == NULL || l != NULL);
	assert_true(providers == NULL || p != NULL);
	ms = models_build(l, p);
	assert_non_null(ms);
	json_decref(l);
	json_decref(p);
	return (ms);
}

/* The id input resolves to, or the error. */
static const char *
resolve(const struct models *ms, const char *input, struct models_match *r)
{
	models_resolve(ms, input, r);
	return (r->model != NULL ? r->model->id : r->error);
}

static void
t_build(void **state)
{
	struct models	*ms = build(copilot_json, providers_json);

	assert_int_equal(ms->n, 6);
	assert_int_equal(ms->nprov, 2);
	assert_int_equal(models_copilot_count(ms), 3);
	assert_string_equal(ms->v[3].id, "ollama-local:qwen3:8b");
	assert_int_equal(ms->v[3].provider, 0);
	assert_string_equal(ms->v[5].id, "azure-prod:gpt-5");
	assert_int_equal(ms->v[5].ctx_window, 200000);
	assert_non_null(ms->v[2].efforts);
	assert_null(ms->v[0].efforts);
	assert_string_equal(models_provider(ms, "OLLAMA-local"), "ollama-local");
	assert_null(models_provider(ms, "nope"));
	assert_ptr_equal(models_find(ms, "qwen3:14b", "ollama-local"), &ms->v[4]);
	assert_ptr_equal(models_find(ms, "gpt-5.4", NULL), &ms->v[1]);
	assert_null(models_find(ms, "gpt-5", NULL));
	models_free(ms);

	/* No Copilot list (not signed in), no providers: empty, not NULL. */
	ms = build(NULL, NULL);
	assert_int_equal(ms->n, 0);
	models_free(ms);
	/* Junk from the runtime is skipped, not trusted. */
	ms = build("{\"models\":[7,{\"name\":\"no id\"},{\"id\":\"\"},"
	    "{\"id\":\"ok\",\"billing\":{\"tokenPrices\":\"x\"}}]}",
	    "{\"p\":{\"models\":[{\"id\":3},{}]}}");
	assert_int_equal(ms->n, 1);
	assert_string_equal(ms->v[0].id, "ok");
	assert_string_equal(ms->v[0].name, "ok");
	models_free(ms);
}

static void
t_resolve_upstream(void **state)
{
	struct models		*ms = build(copilot_json, providers_json);
	struct models_match	 r;

	/* upstream's byok-model-ux cases */
	assert_string_equal(resolve(ms, "ollama-local:qwen3:8b", &r),
	    "ollama-local:qwen3:8b");
	assert_int_equal(r.nalt, 0);
	assert_string_equal(resolve(ms, "qwen3:8b", &r),
	    "ollama-local:qwen3:8b");
	assert_string_equal(resolve(ms, "gpt-5.4", &r), "gpt-5.4");
	assert_string_equal(resolve(ms, "ollama-local:qwen3", &r),
	    "ollama-local:qwen3:8b");
	assert_int_equal(r.nalt, 1);
	assert_string_equal(r.alt[0]->id, "ollama-local:qwen3:14b");
	assert_string_equal(resolve(ms, "ollama-local:nonexistent", &r),
	    "⚠️ Unknown model \"nonexistent\" in provider \"ollama-local\". "
	    "Use `/model` to see available models.");
	assert_string_equal(resolve(ms, "azure-prod:gpt-5", &r),
	    "azure-prod:gpt-5");
	assert_string_equal(resolve(ms, "", &r),
	    "⚠️ Please specify a model name.");
	assert_string_equal(resolve(ms, "   ", &r),
	    "⚠️ Please specify a model name.");
	assert_string_equal(resolve(ms, "ollama-local:", &r),
	    "⚠️ Please specify a model name after the provider prefix.");
	assert_non_null(strstr(resolve(ms, "qwen", &r), "qwen"));
	models_free(ms);
}

static void
t_resolve_fuzzy(void **state)
{
	struct models		*ms = build(copilot_json, providers_json);
	struct models_match	 r;

	/* exact on the display name, any case */
	assert_string_equal(resolve(ms, "claude opus 4.6", &r),
	    "claude-opus-4.6");
	assert_string_equal(resolve(ms, "GPT-5.4", &r), "gpt-5.4");
	/* one substring */
	assert_string_equal(resolve(ms, "opus", &r), "claude-opus-4.6");
	assert_int_equal(r.nalt, 0);
	/* words, in any order, over id and name */
	assert_string_equal(resolve(ms, "opus claude", &r), "claude-opus-4.6");
	assert_string_equal(resolve(ms, "sonnet_4", &r), "claude-sonnet-4.6");
	/* several: Copilot's first, the shortest id, the rest named */
	assert_string_equal(resolve(ms, "claude", &r), "claude-opus-4.6");
	assert_int_equal(r.nalt, 1);
	assert_string_equal(r.alt[0]->id, "claude-sonnet-4.6");
	/* a case-insensitive provider prefix */
	assert_string_equal(resolve(ms, "Azure-Prod:GPT-5", &r),
	    "azure-prod:gpt-5");
	/* "gpt-5" is Copilot's substring match first (gpt-5.4) */
	assert_string_equal(resolve(ms, "gpt-5", &r), "gpt-5.4");
	/* a colon that names no provider is part of the model */
	assert_string_equal(resolve(ms, "nope:x", &r), "⚠️ Unknown model "
	    "\"nope:x\". Use `/model` to see available models.");
	assert_string_equal(resolve(ms, "zzz", &r), "⚠️ Unknown model \"zzz\". "
	    "Use `/model` to see available models.");
	assert_null(r.model);
	models_free(ms);

	/* Without Copilot's list: BYOK only. */
	ms = build(NULL, providers_json);
	assert_string_equal(resolve(ms, "14b", &r), "ollama-local:qwen3:14b");
	assert_string_equal(resolve(ms, "claude", &r), "⚠️ Unknown model "
	    "\"claude\". Use `/model` to see available models.");
	models_free(ms);
	ms = build(NULL, NULL);
	assert_string_equal(resolve(ms, "x", &r), "⚠️ Unknown model \"x\". "
	    "Use `/model` to see available models.");
	models_free(ms);
}

/* Ending with the input beats a shorter id; at most 7 alternatives. */
static void
t_resolve_best(void **state)
{
	struct models		*ms;
	struct models_match	 r;
	size_t			 i;

	ms = build("{\"models\":[{\"id\":\"m-opus-x\"},{\"id\":\"big-opus\"},"
	    "{\"id\":\"opus-1\"}]}", NULL);
	assert_string_equal(resolve(ms, "opus", &r), "big-opus");
	assert_int_equal(r.nalt, 2);
	models_free(ms);
	ms = build("{\"models\":[{\"id\":\"a-1\"},{\"id\":\"a-2\"},{\"id\":\"a-3\"},"
	    "{\"id\":\"a-4\"},{\"id\":\"a-5\"},{\"id\":\"a-6\"},{\"id\":\"a-7\"},"
	    "{\"id\":\"a-8\"},{\"id\":\"a-9\"},{\"id\":\"a-10\"}]}", NULL);
	assert_string_equal(resolve(ms, "a-", &r), "a-1");
	assert_int_equal(r.nalt, 7);
	for (i = 0; i < r.nalt; i++)
		assert_string_not_equal(r.alt[i]->id, "a-9");
	models_free(ms);
}

static void
t_hidden(void **state)
{
	struct model	m;

	memset(&m, 0, sizeof(m));
	m.name = "GPT-6 (Preview)";
	assert_true(models_hidden(&m));
	m.name = "X (internal only)";
	assert_true(models_hidden(&m));
	m.name = "X (internals)";
	assert_false(models_hidden(&m));
	m.name = "X (preview";
	assert_false(models_hidden(&m));
	m.name = "Preview model";
	assert_false(models_hidden(&m));
}

static void
t_listing(void **state)
{
	struct models	*ms = build(copilot_json, providers_json);
	char		*s;

	s = models_listing(ms, "claude-sonnet-4.6", NULL, NULL, 0);
	assert_non_null(s);
	assert_string_equal(s,
	    "**Available Models**\n\n"
	    "**GitHub Copilot**\n\n"
	    "| Model | Billing | |\n|:------|--------:|:--|\n"
	    "| `claude-sonnet-4.6` | -- | <- current |\n"
	    "| `gpt-5.4` | 1x | |\n"
	    "| `claude-opus-4.6` | 2x | 🧠 |\n\n"
	    "**ollama-local**\n\n| Model | |\n|:------|:--|\n"
	    "| `ollama-local:qwen3:8b` | |\n"
	    "| `ollama-local:qwen3:14b` | |\n\n"
	    "**azure-prod**\n\n| Model | |\n|:------|:--|\n"
	    "| `azure-prod:gpt-5` | |\n\n"
	    "🧠 = supports reasoning effort -- Billing = premium request "
	    "multiplier\n"
	    "↳ Use `/model <name>` to switch\n"
	    "↳ Use `/model <provider>` to filter (ollama-local, azure-prod)");
	free(s);
	/* The current BYOK model is the prefixed entry only. */
	s = models_listing(ms, "qwen3:8b", "ollama-local", "ollama-local", 0);
	assert_string_equal(s,
	    "**Models: ollama-local**\n\n| Model | |\n|:------|:--|\n"
	    "| `ollama-local:qwen3:8b` | <- current |\n"
	    "| `ollama-local:qwen3:14b` | |\n\n"
	    "🧠 = supports reasoning effort\n"
	    "↳ Use `/model <name>` to switch");
	free(s);
	models_free(ms);
}

static void
t_listing_prices(void **state)
{
	struct models	*ms;
	char		*s;

	/* upstream's token_prices, and the runtime's tokenPrices */
	ms = build("{\"models\":["
	    "{\"id\":\"claude-sonnet-4.6\",\"name\":\"Claude Sonnet 4.6\","
	    "\"billing\":{\"token_prices\":{\"batch_size\":1000000,"
	    "\"cache_price\":30000000000,\"input_price\":300000000000,"
	    "\"output_price\":1500000000000}}},"
	    "{\"id\":\"gpt-5.4\",\"name\":\"GPT-5.4 (Preview)\","
	    "\"billing\":{\"tokenPrices\":{\"batchSize\":1000000,"
	    "\"cacheReadPrice\":17500000000,\"inputPrice\":175000000000,"
	    "\"outputPrice\":1400000000000}}},"
	    "{\"id\":\"cheap\",\"billing\":{\"tokenPrices\":{\"batchSize\":"
	    "1000000,\"inputPrice\":500000}}},"
	    "{\"id\":\"cheaper\",\"billing\":{\"tokenPrices\":{\"batchSize\":"
	    "1000000,\"inputPrice\":500000000,\"outputPrice\":0}}},"
	    "{\"id\":\"free\"}]}", NULL);
	s = models_listing(ms, NULL, NULL, NULL, 1);
	assert_string_equal(s,
	    "**Available Models**\n\n"
	    "| Model | Input | Cached input | Output | |\n"
	    "|:------|------:|-------------:|-------:|:--|\n"
	    "| `claude-sonnet-4.6` | $3.00 | $0.30 | $15.00 | |\n"
	    "| Hidden Model 1 | $1.75 | $0.175 | $14.00 | |\n"
	    "| `cheap` | $0.0000050 | -- | -- | |\n"
	    "| `cheaper` | $0.0050 | -- | $0.0 | |\n"
	    "| `free` | -- | -- | -- | |\n\n"
	    "🧠 = supports reasoning effort -- prices are $/M tokens\n"
	    "Anthropic models also incur cache write costs not shown above.\n"
	    "[Full pricing details](https://docs.github.com/en/copilot/"
	    "reference/copilot-billing/models-and-pricing)\n"
	    "↳ Use `/model <name>` to switch");
	free(s);
	models_free(ms);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_build),
		cmocka_unit_test(t_resolve_upstream),
		cmocka_unit_test(t_resolve_fuzzy),
		cmocka_unit_test(t_resolve_best),
		cmocka_unit_test(t_hidden),
		cmocka_unit_test(t_listing),
		cmocka_unit_test(t_listing_prices),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
