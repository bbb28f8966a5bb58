/*
 * libFuzzer target for sessiond/hooks.c: hooks_parse() on any bytes must
 * either fail with a message and leave the table empty, or leave a table
 * whose every command is runnable (script, absolute cwd, file, timeout).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sessiond/hooks.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_check_cmd(const struct hook_cmd *c)
{
	char	**e;

	if (c->script == NULL || c->script[0] == '\0' || c->cwd == NULL ||
	    c->cwd[0] != '/' || c->file == NULL ||
	    strcmp(c->file, "/fuzz/hooks.json") != 0 || c->timeout_sec == 0 ||
	    (c->powershell != 0 && c->powershell != 1))
		abort();
	for (e = c->env; e != NULL && *e != NULL; e++)
		if (strchr(*e, '=') == NULL || **e == '=')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hookset	*hs;
	char		 err[256];
	size_t		 t, i, n = 0;
	int		 rv;

	if ((hs = hooks_new()) == NULL)
		return (0);
	err[0] = '\0';
	rv = hooks_parse(hs, "/fuzz/hooks.json", (const char *)data, size,
	    err, sizeof(err));
	if (rv == -1 && (err[0] == '\0' || hooks_count(hs) != 0))
		abort();
	if (rv != -1 && rv != 0)
		abort();
	for (t = 0; t < HOOK_NTYPES; t++) {
		if (hs->ncmds[t] > 0 && hs->cmds[t] == NULL)
			abort();
		for (i = 0; i < hs->ncmds[t]; i++)
			fuzz_check_cmd(&hs->cmds[t][i]);
		n += hs->ncmds[t];
	}
	if (n != hooks_count(hs) || hs->nfiles != 0 || hs->ndirs != 0)
		abort();
	if (hooks_ref(hs) != hs || hs->refs != 2)
		abort();
	hooks_unref(hs);
	hooks_unref(hs);
	return (0);
}
