/*
 * models: the models a channel may switch to, as /model lists and matches
 * them (docs/commands.md, "Models and providers").  Pure: the list is
 * built from the runtime's models.list result and the config's BYOK
 * providers, and nothing here does I/O.
 */
#ifndef SESSIOND_MODELS_H
#define SESSIOND_MODELS_H

#include <stddef.h>

#include <jansson.h>

#define MODELS_ALT_MAX	7	/* alternatives named beside a best match */

struct model {
	char		*id;		/* "<provider>:<id>" for a BYOK model */
	char		*name;		/* display name (the id if none) */
	int		 provider;	/* index in providers[], -1: Copilot's */
	json_t		*efforts;	/* supportedReasoningEfforts, or NULL */
	char		*default_effort; /* or NULL */
	int		 has_mult;	/* billing multiplier */
	double		 mult;
	int		 has_tokens;	/* billing token prices */
	double		 in_price, out_price, cache_price;
	int		 has_cache;
	double		 batch;
	long long	 ctx_window;	/* context window in tokens; 0: unknown */
};

struct models {
	struct model	*v;		/* Copilot's first, then each provider's */
	size_t		 n;
	char		**providers;	/* the config's order */
	size_t		 nprov;
};

/*
 * Build the list: result is models.list's ({models:[...]}, NULL when it
 * failed), providers the config's "providers" (NULL: none).  NULL only
 * when out of memory.
 */
struct models	*models_build(const json_t *result, const json_t *providers);
void		 models_free(struct models *);
size_t		 models_copilot_count(const struct models *);
/* The provider named name, case-insensitively: its canonical name, or NULL. */
const char	*models_provider(const struct models *, const char *name);
/* The entry the channel runs: model (bare) of provider (NULL: Copilot). */
const struct model *models_find(const struct models *, const char *model,
		    const char *provider);
/* Shown as "Hidden Model" in streamer mode: a preview or internal one. */
int		 models_hidden(const struct model *);

/* The outcome of models_resolve(). */
struct models_match {
	const struct model	*model;		/* NULL: error says why */
	const struct model	*alt[MODELS_ALT_MAX];
	size_t			 nalt;
	char			 error[256];
};

/*
 * Match what the user typed: "provider:model" within that provider, then an
 * exact id or name, then Copilot's models by substring and by words, then a
 * BYOK model's bare id, then every model; several candidates give the best
 * (ending with the input, then the shortest id, then the shortest name)
 * and the others as alternatives.
 */
void		 models_resolve(const struct models *, const char *input,
		    struct models_match *);

/*
 * The listing as upstream's /model shows it (a table per provider, the
 * current model marked, hidden models redacted when streamer), or only
 * filter's models; NULL when out of memory.
 */
char		*models_listing(const struct models *, const char *cur_model,
		    const char *cur_provider, const char *filter, int streamer);

#endif
