/*
 * libFuzzer target for the config (common/config.c, cfg_valid.c,
 * cfg_diff.c) and its projections (supervisor/project.c).  Any input must
 * either be refused with a non-empty message or yield a cfg that diffs
 * (both ways) against a fixed valid config, renders, builds every worker's
 * and sessiond's view and frees cleanly.
 * Two invariants are checked: a cfg diffed with itself, and two parses of
 * the same bytes, report nothing (the diff sees only the file).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "supervisor/supervisor.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* No "~" anywhere, so the base parses whatever $HOME is. */
static const char fuzz_base[] =
    "{\"stateDir\":\"/tmp/cb-fuzz\",\"logLevel\":\"info\","
    "\"platforms\":{\"mattermost\":{\"url\":\"https://chat.example.com\","
    "\"admins\":[\"root\"],\"access\":{\"mode\":\"allowlist\","
    "\"users\":[\"alice\"]},\"bots\":{\"copilot\":{\"token\":\"t1\","
    "\"admin\":true},\"helper\":{\"token\":\"t2\",\"access\":{\"mode\":"
    "\"open\"}}}},\"slack\":{\"bots\":{\"copilot\":{\"token\":\"xoxb\","
    "\"appToken\":\"xapp\"}}}},\"channels\":[{\"id\":\"ch1\","
    "\"platform\":\"mattermost\",\"bot\":\"copilot\",\"workingDirectory\":"
    "\"/tmp\"},{\"id\":\"ch2\",\"platform\":\"slack\",\"workingDirectory\":"
    "\"/tmp\"}],\"defaults\":{\"model\":\"m\"},\"telemetry\":{}}";

static struct cfg *
fuzz_base_cfg(void)
{
	static struct cfg	*base;
	char			 err[CFG_ERR_MAX];

	if (base == NULL &&
	    (base = cfg_parse(fuzz_base, sizeof(fuzz_base) - 1, "base.json",
	    err, sizeof(err))) == NULL)
		abort();
	return (base);
}

/* Diff a against b; returns whether the diff was empty (or -1 on ENOMEM). */
static int
fuzz_diff(const struct cfg *a, const struct cfg *b)
{
	struct cfg_diff	*d;
	int		 empty;

	if ((d = cfg_diff(a, b)) == NULL)
		return (-1);
	empty = cfg_diff_empty(d);
	free(cfg_diff_markdown(d));
	cfg_diff_free(d);
	return (empty);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg	*base = fuzz_base_cfg(), *c, *again;
	char		 err[CFG_ERR_MAX];
	size_t		 i;

	c = cfg_parse((const char *)data, size, "fuzz.json", err, sizeof(err));
	if (c == NULL) {
		if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
			abort();
		return (0);
	}
	(void)fuzz_diff(base, c);
	(void)fuzz_diff(c, base);
	if (fuzz_diff(c, c) == 0)
		abort();
	again = cfg_parse((const char *)data, size, NULL, err, sizeof(err));
	if (again == NULL || fuzz_diff(c, again) == 0 ||
	    strcmp(c->hash, again->hash) != 0)
		abort();
	(void)cfg_carry_grace(again, base);
	for (i = 0; i < again->nbots; i++)
		json_decref(project_worker(again, again->bots[i].key));
	json_decref(project_sessiond(again));
	cfg_free(again);
	cfg_free(c);
	return (0);
}
