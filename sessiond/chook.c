/*
 * chook: a channel's hooks, as the channel sees them: the table loaded for
 * its working directory, the watch on the files it came from, and the
 * reload that swaps it (T009-T011, T021-T023).
 *
 * A reload reads every source first and swaps only a table that parsed, so
 * a half-saved or broken file leaves the previous hooks in force.  A hook
 * run in progress holds its own reference to the table it started with.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "conf.h"
#include "hooks.h"
#include "sessiond.h"

static int
chook_is_dir(const char *path)
{
	struct stat	st;

	return (path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/* Names whose change can change what hooks_load() finds. */
static int
chook_match(const char *name)
{
	static const char *const names[] = { "hooks.json", ".github", "hooks",
	    "installed-plugins" };
	size_t	i;

	for (i = 0; i < nitems(names); i++)
		if (strcmp(name, names[i]) == 0)
			return (1);
	return (0);
}

/* Watch the directories hs came from for owner. */
static int
chook_watch(void *owner, const struct hookset *hs, dirwatch_cb cb)
{
	struct dirwatch_dir	*d = NULL;
	size_t			 i;
	int			 rc;

	if (hs->ndirs > 0 && (d = calloc(hs->ndirs, sizeof(*d))) == NULL)
		return (-1);
	for (i = 0; i < hs->ndirs; i++) {
		d[i].path = hs->dirs[i];
		d[i].match = chook_match;
	}
	rc = dirwatch_set(owner, d, hs->ndirs, cb);
	free(d);
	return (rc);
}

static int
chook_workspace_allowed(void)
{
	return (conf_get() != NULL && conf_get()->defaults.workspace_hooks);
}

/*
 * (Re)load the hooks for cwd and watch their directories; cb(owner) runs
 * after a save.  Returns 0 with msg the success text, else -1 with msg the
 * error and the previous table kept.
 */
int
chook_load(struct chook *h, void *owner, const char *cwd, dirwatch_cb cb,
    char *msg, size_t len)
{
	struct hooks_where	 w;
	struct hookset		*hs;
	char			 err[1024];
	char			*ncwd;

	if (!chook_is_dir(cwd)) {
		snprintf(msg, len, "❌ No workspace for this channel: %s%s%s — "
		    "hooks are read from a channel's working directory",
		    cwd != NULL ? "`" : "", cwd != NULL ? cwd : "none",
		    cwd != NULL ? "` is not a directory" : "");
		return (-1);
	}
	w.home = getenv("HOME");
	w.cwd = cwd;
	w.workspace = chook_workspace_allowed();
	if ((hs = hooks_load(&w, err, sizeof(err))) == NULL) {
		snprintf(msg, len, "❌ %s — previous hooks kept", err);
		return (-1);
	}
	if ((ncwd = strdup(cwd)) == NULL) {
		hooks_unref(hs);
		snprintf(msg, len, "❌ out of memory — previous hooks kept");
		return (-1);
	}
	hooks_unref(h->hs);
	h->hs = hs;
	free(h->cwd);
	h->cwd = ncwd;
	h->workspace = w.workspace;
	if (chook_watch(owner, hs, cb) == -1)
		log_warnx("%s: some hooks directories are not watched: saves "
		    "there need /reload hooks", cwd);
	snprintf(msg, len, "✅ Hooks reloaded: %zu hook%s from %zu file%s",
	    hooks_count(hs), hooks_count(hs) == 1 ? "" : "s", hs->nfiles,
	    hs->nfiles == 1 ? "" : "s");
	return (0);
}

/* Does the table still match the config (cwd, allowWorkspaceHooks)? */
int
chook_current(const struct chook *h, const char *cwd)
{
	return (h->hs != NULL && cwd != NULL && h->cwd != NULL &&
	    strcmp(h->cwd, cwd) == 0 &&
	    h->workspace == chook_workspace_allowed());
}

void
chook_drop(struct chook *h, void *owner)
{
	dirwatch_remove(owner);
	hooks_unref(h->hs);
	free(h->cwd);
	memset(h, 0, sizeof(*h));
}

/* Keep the bridge's secrets out of every hook's environment. */
void
chook_config(json_t *config)
{
	const char	*names[256];
	size_t		 n;

	n = rtenv_secret_names(config, names, nitems(names));
	if (hookrun_set_secrets(names, n) == -1)
		log_warnx("out of memory: the list of secrets kept from hooks "
		    "is not updated");
}
