/*
 * agents: custom agents, *.agent.md files, discovered as upstream does
 * (docs/architecture.md, "Agents"), later sources winning a name:
 *
 *   1. installed plugins: every "agents" directory within three levels of
 *      ~/.copilot/installed-plugins;
 *   2. the user's ~/.copilot/agents;
 *   3. the workspace's .github/agents;
 *   4. the workspace's agents.
 *
 * An agent's name is its file's name without ".agent.md"; its description
 * is the "description" of its YAML front matter, and its prompt what
 * follows the front matter.  They reach the runtime as the session's
 * customAgents, which replace what the runtime would find itself.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "wsconf.h"

#define AGENTS_PLUGIN_DEPTH	3
#define AGENTS_SUFFIX		".agent.md"
#define AGENTS_NAME_MAX		128
#define AGENTS_DESC_MAX		1024	/* characters of a description */

/* A line of text: [s, s + n), without its "\n". */
struct fm_line {
	const char	*s;
	size_t		 n;
	size_t		 next;		/* offset of the next line */
};

static int
fm_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f');
}

/* The line starting at off; 0 at the end of the text. */
static int
fm_line(const char *text, size_t len, size_t off, struct fm_line *l)
{
	const char	*nl;

	if (off > len || (off == len && off != 0))
		return (0);
	l->s = text + off;
	nl = memchr(l->s, '\n', len - off);
	l->n = nl != NULL ? (size_t)(nl - l->s) : len - off;
	l->next = off + l->n + (nl != NULL ? 1 : 0);
	if (nl == NULL)
		l->next = len + 1;	/* the last line */
	return (1);
}

/* The line, trimmed, into [*s, *s + *n). */
static void
fm_trim(const struct fm_line *l, const char **s, size_t *n)
{
	*s = l->s;
	*n = l->n;
	wsfile_trim(s, n);
}

static int
fm_is(const struct fm_line *l, const char *word)
{
	const char	*s;
	size_t		 n;

	fm_trim(l, &s, &n);
	return (n == strlen(word) && memcmp(s, word, n) == 0);
}

/* Append [s, s + n) to out (of outlen), at most max characters in all. */
static void
fm_put(char *out, size_t outlen, size_t max, const char *s, size_t n)
{
	size_t	have = strlen(out), room;

	if (have + 1 >= outlen)
		return;
	room = utf8_cut_chars(s, n, max - utf8_count(out, have));
	room = utf8_cut_bytes(s, room, outlen - have - 1);
	memcpy(out + have, s, room);
	out[have + room] = '\0';
}

/* A folded or literal block's first paragraph, one line (upstream's). */
static void
fm_block(const char *text, size_t len, size_t off, char *out, size_t outlen,
    size_t max)
{
	struct fm_line	 l;
	const char	*s;
	size_t		 n;
	int		 first = 1;

	while (fm_line(text, len, off, &l)) {
		off = l.next;
		fm_trim(&l, &s, &n);
		if (fm_is(&l, "---") || n == 0 || (l.n > 0 && !fm_space(l.s[0])))
			break;
		if (!first)
			fm_put(out, outlen, max, " ", 1);
		fm_put(out, outlen, max, s, n);
		first = 0;
	}
}

int
agents_front(const char *text, size_t len, const char *field, char *out,
    size_t outlen, size_t max, size_t *body)
{
	struct fm_line	 l;
	const char	*s;
	size_t		 off, n, flen = strlen(field);
	int		 found = 0;

	if (outlen > 0)
		out[0] = '\0';
	*body = 0;
	if (!fm_line(text, len, 0, &l) || !fm_is(&l, "---"))
		return (0);
	for (off = l.next; fm_line(text, len, off, &l); off = l.next) {
		if (fm_is(&l, "---")) {
			*body = l.next < len ? l.next : len;
			break;
		}
		if (found || l.n <= flen + 1 ||
		    strncasecmp(l.s, field, flen) != 0 ||
		    l.s[flen] != ':')
			continue;
		/* "field:" then at least one character, as /^field:\s*(.+)/. */
		s = l.s + flen + 1;
		n = l.n - flen - 1;
		wsfile_trim(&s, &n);
		found = 1;
		if ((n == 1 && (*s == '>' || *s == '|')) || (n == 2 &&
		    (*s == '>' || *s == '|') && s[1] == '-')) {
			fm_block(text, len, l.next, out, outlen, max);
			continue;
		}
		/* One quote off each end, as .replace(/^["']|["']$/g, ''). */
		if (n > 0 && (*s == '"' || *s == '\'')) {
			s++;
			n--;
		}
		if (n > 0 && (s[n - 1] == '"' || s[n - 1] == '\''))
			n--;
		fm_put(out, outlen, max, s, n);
	}
	return (found);
}

/* ---- discovery --------------------------------------------------------- */

static void
agent_clear(struct agent *a)
{
	free(a->name);
	free(a->source);
	free(a->path);
	free(a->description);
	free(a->prompt);
	memset(a, 0, sizeof(*a));
}

void
agents_free(struct agentset *as)
{
	size_t	i;

	if (as == NULL)
		return;
	for (i = 0; i < as->n; i++)
		agent_clear(&as->v[i]);
	free(as->v);
	wswatch_free(&as->watch);
	free(as);
}

const struct agent *
agents_find(const struct agentset *as, const char *name)
{
	size_t	i;

	for (i = 0; as != NULL && name != NULL && i < as->n; i++)
		if (strcmp(as->v[i].name, name) == 0)
			return (&as->v[i]);
	return (NULL);
}

/* A file's name as an agent's, or 0 if it is not one of ours. */
static int
agents_name(const char *file, char *name, size_t len)
{
	size_t		 n = strlen(file), sl = strlen(AGENTS_SUFFIX), i;

	if (n <= sl || strcmp(file + n - sl, AGENTS_SUFFIX) != 0 ||
	    n - sl >= len || n - sl > AGENTS_NAME_MAX)
		return (0);
	for (i = 0; i < n - sl; i++)
		if ((unsigned char)file[i] < 0x20 || file[i] == 0x7f)
			return (0);
	memcpy(name, file, n - sl);
	name[n - sl] = '\0';
	return (utf8_valid(name, n - sl));
}

/* Read one file into a (its fields replaced); 0 skipped, -1 no memory. */
static int
agents_read(struct agent *a, const char *path, const char *name,
    const char *source)
{
	struct agent	 n;
	char		*text, desc[4096];
	size_t		 len, body;
	int		 rv;

	if ((rv = wsfile_read(path, AGENTS_FILE_MAX, &text, &len)) != 1)
		return (rv);
	if (memchr(text, '\0', len) != NULL || !utf8_valid(text, len)) {
		log_warnx("%s: not UTF-8 text, skipping the agent", path);
		free(text);
		return (0);
	}
	(void)agents_front(text, len, "description", desc, sizeof(desc),
	    AGENTS_DESC_MAX, &body);
	memset(&n, 0, sizeof(n));
	if ((n.name = strdup(name)) == NULL ||
	    (n.source = strdup(source)) == NULL ||
	    (n.path = strdup(path)) == NULL ||
	    (n.description = strdup(desc)) == NULL ||
	    (n.prompt = strndup(text + body, len - body)) == NULL) {
		agent_clear(&n);
		free(text);
		return (-1);
	}
	free(text);
	agent_clear(a);
	*a = n;
	log_debug("agents: %s from %s", name, path);
	return (1);
}

/* One *.agent.md: a new agent, or one of a name seen before replaced. */
static int
agents_file(struct agentset *as, const char *dir, const char *file,
    const char *source)
{
	struct agent	*nv, *a;
	char		 name[AGENTS_NAME_MAX + 1], *path;
	int		 rv;

	if (!agents_name(file, name, sizeof(name)))
		return (0);
	if ((path = wsfile_join(dir, file)) == NULL)
		return (-1);
	if ((a = (struct agent *)agents_find(as, name)) != NULL)
		rv = agents_read(a, path, name, source);
	else if ((nv = reallocarray(as->v, as->n + 1, sizeof(*nv))) == NULL)
		rv = -1;
	else {
		as->v = nv;
		a = &as->v[as->n];
		memset(a, 0, sizeof(*a));
		/* Kept only if it reads. */
		if ((rv = agents_read(a, path, name, source)) == 1)
			as->n++;
	}
	free(path);
	return (rv);
}

/* The *.agent.md of one directory; later ones replace earlier names. */
static int
agents_dir(struct agentset *as, const char *dir, const char *source)
{
	struct dirent	**ents;
	int		 i, n, rv = 0;

	if (wswatch_add(&as->watch, dir, 0) == -1 ||
	    (n = wsfile_scan(dir, &ents)) == -1)
		return (-1);
	for (i = 0; i < n && rv != -1; i++)
		rv = agents_file(as, dir, ents[i]->d_name, source);
	wsfile_scan_free(ents, n);
	return (rv == -1 ? -1 : 0);
}

/* Every "agents" directory under installed-plugins (not inside one). */
static int
agents_walk(void *arg, const char *dir, const char *name,
    const struct stat *st, int depth)
{
	struct agentset	*as = arg;
	char		*p;
	int		 rv;

	if (!S_ISDIR(st->st_mode))
		return (0);
	if (strcmp(name, "agents") != 0)
		return (1);
	if ((p = wsfile_join(dir, name)) == NULL)
		return (-1);
	rv = agents_dir(as, p, "plugin");
	free(p);
	return (rv);
}

static int
agents_home(struct agentset *as, const char *home)
{
	char	*copilot, *p = NULL;
	int	 rv = -1;

	if ((copilot = wsfile_join(home, ".copilot")) == NULL)
		return (-1);
	if (wswatch_add(&as->watch, copilot, 0) == -1 ||
	    (p = wsfile_join(copilot, "installed-plugins")) == NULL ||
	    wswatch_add(&as->watch, p, 1) == -1 ||
	    wsfile_walk(p, AGENTS_PLUGIN_DEPTH, agents_walk, as) == -1)
		goto done;
	free(p);
	if ((p = wsfile_join(copilot, "agents")) == NULL)
		goto done;
	rv = agents_dir(as, p, "user");
done:
	free(p);
	free(copilot);
	return (rv);
}

static int
agents_workspace(struct agentset *as, const char *cwd)
{
	static const char *const dirs[] = { ".github/agents", "agents" };
	char	*p;
	size_t	 i;
	int	 rv;

	if (wswatch_add(&as->watch, cwd, 0) == -1)
		return (-1);
	if ((p = wsfile_join(cwd, ".github")) == NULL)
		return (-1);
	rv = wswatch_add(&as->watch, p, 0);
	free(p);
	for (i = 0; rv == 0 && i < nitems(dirs); i++) {
		if ((p = wsfile_join(cwd, dirs[i])) == NULL)
			return (-1);
		rv = agents_dir(as, p, "workspace");
		free(p);
	}
	return (rv);
}

struct agentset *
agents_load(const char *home, const char *cwd)
{
	struct agentset	*as;

	if ((as = calloc(1, sizeof(*as))) == NULL)
		return (NULL);
	if ((home != NULL && agents_home(as, home) == -1) ||
	    (cwd != NULL && agents_workspace(as, cwd) == -1)) {
		agents_free(as);
		return (NULL);
	}
	return (as);
}

json_t *
agents_custom(const struct agentset *as)
{
	json_t	*a, *o;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (i = 0; as != NULL && i < as->n; i++) {
		o = json_pack("{s:s,s:s}", "name", as->v[i].name, "prompt",
		    as->v[i].prompt);
		if (o != NULL && as->v[i].description[0] != '\0' &&
		    json_object_set_new(o, "description",
		    json_string(as->v[i].description)) == -1) {
			json_decref(o);
			o = NULL;
		}
		/* json_array_append_new() takes o, even when it fails. */
		if (o == NULL || json_array_append_new(a, o) == -1) {
			json_decref(a);
			return (NULL);
		}
	}
	return (a);
}
