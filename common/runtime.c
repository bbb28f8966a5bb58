/*
 * runtime: see runtime.h.  The order is documented in docs/architecture.md
 * ("The runtime process") and docs/operator-guide.md.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "util.h"

/*
 * The default places, in order.  A fixed place is `ups` levels above our
 * binaries' directory: the install location is PREFIX/lib/... for
 * PREFIX/bin; the source tree is two levels above build/bin and
 * build/tests, three above build/asan/bin.
 */
static const struct {
	enum runtime_from	 from;
	int			 ups;
	const char		*dir;
} runtime_tab[] = {
	{ RUNTIME_INSTALLED,	1,	RUNTIME_INSTALL_DIR },
	{ RUNTIME_PATH,		0,	NULL },
	{ RUNTIME_TREE,		2,	"tests" },
	{ RUNTIME_TREE,		3,	"tests" },
};

static const char *const runtime_names[] = {
	[RUNTIME_NONE] = "none",
	[RUNTIME_CONFIG] = "session.runtimePath",
	[RUNTIME_INSTALLED] = "the install location",
	[RUNTIME_PATH] = "PATH",
	[RUNTIME_TREE] = "the source tree",
};

const char *
runtime_from_name(enum runtime_from from)
{
	return ((unsigned)from < sizeof(runtime_names) /
	    sizeof(runtime_names[0]) ? runtime_names[from] : "?");
}

/*
 * Entry i of runtime_tab as a path.  exedir comes from /proc/self/exe,
 * which has no symlinks, so going up is cutting components.
 */
static int
runtime_place(size_t i, const char *exedir, char *out, size_t len)
{
	char	dir[PATH_MAX], *slash;
	int	up, n;

	if ((size_t)snprintf(dir, sizeof(dir), "%s", exedir) >= sizeof(dir))
		return (-1);
	for (up = 0; up < runtime_tab[i].ups; up++)
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
		else
			dir[0] = '\0';
	n = snprintf(out, len, "%s/%s/%s", dir, runtime_tab[i].dir,
	    RUNTIME_PKG_BIN);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

static const char *
runtime_exedir(const char *exedir, char *buf, size_t len)
{
	if (exedir != NULL)
		return (exedir);
	return (util_exe_dir(buf, len) == 0 ? buf : NULL);
}

enum runtime_from
runtime_find(const char *configured, const char *exedir, char *out,
    size_t len)
{
	char	own[PATH_MAX];
	size_t	i;

	if (configured != NULL && *configured != '\0') {
		if (strchr(configured, '/') == NULL)
			return (util_search_path(configured, out, len) == 0 ?
			    RUNTIME_CONFIG : RUNTIME_NONE);
		if ((size_t)snprintf(out, len, "%s", configured) >= len ||
		    !util_is_exec(out))
			return (RUNTIME_NONE);
		return (RUNTIME_CONFIG);
	}
	exedir = runtime_exedir(exedir, own, sizeof(own));
	for (i = 0; i < sizeof(runtime_tab) / sizeof(runtime_tab[0]); i++) {
		if (runtime_tab[i].from == RUNTIME_PATH) {
			if (util_search_path(RUNTIME_NAME, out, len) == 0)
				return (RUNTIME_PATH);
		} else if (exedir != NULL &&
		    runtime_place(i, exedir, out, len) == 0 &&
		    util_is_exec(out))
			return (runtime_tab[i].from);
	}
	return (RUNTIME_NONE);
}

void
runtime_places(const char *configured, const char *exedir, char *buf,
    size_t len)
{
	const char	*path = getenv("PATH");
	char		 own[PATH_MAX], place[PATH_MAX], prev[PATH_MAX] = "";
	size_t		 i, n = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (path == NULL || *path == '\0')
		path = UTIL_DEFAULT_PATH;
	if (configured != NULL && *configured != '\0') {
		if (strchr(configured, '/') == NULL)
			snprintf(buf, len, "session.runtimePath (%s on PATH %s)",
			    configured, path);
		else
			snprintf(buf, len, "session.runtimePath (%s)",
			    configured);
		return;
	}
	exedir = runtime_exedir(exedir, own, sizeof(own));
	for (i = 0; i < sizeof(runtime_tab) / sizeof(runtime_tab[0]) &&
	    n < len; i++) {
		if (runtime_tab[i].from == RUNTIME_PATH)
			snprintf(place, sizeof(place), "%s on PATH (%s)",
			    RUNTIME_NAME, path);
		else if (exedir == NULL ||
		    runtime_place(i, exedir, place, sizeof(place)) == -1)
			continue;
		/* Near "/", two levels up and three are the same place. */
		if (strcmp(place, prev) == 0)
			continue;
		memcpy(prev, place, sizeof(prev));
		n += (size_t)snprintf(buf + n, len - n, "%s%s",
		    n > 0 ? ", " : "", place);
	}
}
