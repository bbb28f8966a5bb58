/*
 * dotenv: a workspace's .env, read as upstream reads it (parseEnvFile):
 * one KEY=VALUE a line; blank lines, lines starting with "#" and lines
 * without "=" are skipped; key and value are trimmed, and a value wrapped
 * in a matching pair of double or single quotes loses them.  Nothing else
 * is interpreted: no escapes, no "export", no ${VAR}.  A later key wins.
 *
 * The values are secrets: they go to local MCP servers' env (mcp.c) and
 * nowhere else, never into a log or the bridge's own environment.  A line
 * that cannot be used (an empty key, a NUL, text that is not UTF-8) is
 * skipped with a warning that names its line, not its text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/utf8.h"
#include "wsconf.h"

/* One line (trimmed); -1 only when out of memory. */
static int
dotenv_line(json_t *vars, const char *line, size_t n, const char *path,
    size_t lineno)
{
	const char	*eq, *k, *v;
	size_t		 kn, vn;
	char		*key;
	json_t		*val;
	int		 rv;

	if (n == 0 || line[0] == '#' ||
	    (eq = memchr(line, '=', n)) == NULL)
		return (0);
	k = line;
	kn = (size_t)(eq - line);
	v = eq + 1;
	vn = n - kn - 1;
	wsfile_trim(&k, &kn);
	wsfile_trim(&v, &vn);
	if (vn > 0 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
		/* A lone quote is both ends: upstream makes it "". */
		v += vn > 1 ? 1 : vn;
		vn = vn > 1 ? vn - 2 : 0;
	}
	if (kn == 0)
		return (0);
	if (memchr(line, '\0', n) != NULL || !utf8_valid(line, n)) {
		log_warnx("%s:%zu: not UTF-8 text, skipping the line", path,
		    lineno);
		return (0);
	}
	if ((key = strndup(k, kn)) == NULL ||
	    (val = json_stringn(v, vn)) == NULL) {
		free(key);
		return (-1);
	}
	rv = json_object_set_new(vars, key, val);
	free(key);
	return (rv);
}

json_t *
dotenv_parse(const char *text, size_t len, const char *path)
{
	const char	*p = text, *end = text + len, *nl, *line;
	json_t		*vars;
	size_t		 n, lineno = 0;

	if ((vars = json_object()) == NULL)
		return (NULL);
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		line = p;
		n = (size_t)(nl - p);
		p = nl < end ? nl + 1 : end;
		wsfile_trim(&line, &n);
		if (dotenv_line(vars, line, n, path, lineno) == -1) {
			json_decref(vars);
			return (NULL);
		}
	}
	return (vars);
}

json_t *
dotenv_load(const char *cwd)
{
	char	*path, *text;
	size_t	 len;
	json_t	*vars;
	int	 rv;

	if (cwd == NULL)
		return (json_object());
	if ((path = wsfile_join(cwd, ".env")) == NULL)
		return (NULL);
	if ((rv = wsfile_read(path, DOTENV_FILE_MAX, &text, &len)) != 1) {
		free(path);
		return (rv == -1 ? NULL : json_object());
	}
	vars = dotenv_parse(text, len, path);
	explicit_bzero(text, len);
	free(text);
	free(path);
	return (vars);
}
