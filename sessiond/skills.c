/*
 * skills: where a session's skills come from (docs/architecture.md,
 * "Skills").  As upstream, the session is given the user's and the
 * plugins' skill directories (skillDirectories: ~/.copilot/skills,
 * ~/.agents/skills, and every "skills" directory within three levels of
 * ~/.copilot/installed-plugins); the workspace's own (.github/skills,
 * .agents/skills) the runtime finds itself.  A root is given whole: the
 * runtime reads each skill directory in it, SKILL.md and all, and
 * session.skills.reload reads them again.
 *
 * What the skills on disk look like (each skill's directory and its
 * SKILL.md's size and time) is kept as a signature, so that a save that
 * changes a skill, anywhere, is told from one that does not.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "wsconf.h"

#define SKILLS_PLUGIN_DEPTH	3
#define SKILLS_DESC_MAX		120	/* characters, as /skills shows them */

/* A root and where its skills are said to come from. */
struct skills_root {
	char		*path;
	const char	*source;
};

struct skills_roots {
	struct skills_root	*v;
	size_t			 n;
};

static void
skills_roots_free(struct skills_roots *r)
{
	size_t	i;

	for (i = 0; i < r->n; i++)
		free(r->v[i].path);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Take path (malloc'd) as a root; -1 when out of memory. */
static int
skills_root_add(struct skills_roots *r, char *path, const char *source)
{
	struct skills_root	*nv;

	if (path == NULL)
		return (-1);
	if ((nv = reallocarray(r->v, r->n + 1, sizeof(*nv))) == NULL) {
		free(path);
		return (-1);
	}
	r->v = nv;
	r->v[r->n].path = path;
	r->v[r->n++].source = source;
	return (0);
}

static int
skills_walk(void *arg, const char *dir, const char *name,
    const struct stat *st, int depth)
{
	if (!S_ISDIR(st->st_mode))
		return (0);
	if (strcmp(name, "skills") != 0)
		return (1);
	return (skills_root_add(arg, wsfile_join(dir, name), "plugin"));
}

/*
 * Every root, in upstream's order of listing: the user's, the
 * workspace's, the plugins'.  w (if not NULL) gets the directories whose
 * change may add or remove one.
 */
static int
skills_roots(const char *home, const char *cwd, struct skills_roots *r,
    struct wswatch *w)
{
	static const char *const user[] = { ".copilot/skills", ".agents/skills" };
	static const char *const ws[] = { ".github/skills", ".agents/skills" };
	static const char *const parents[] = { ".github", ".agents" };
	char	*p;
	size_t	 i;
	int	 rv = 0;

	for (i = 0; home != NULL && i < nitems(user); i++)
		if (skills_root_add(r, wsfile_join(home, user[i]), "user") == -1)
			return (-1);
	for (i = 0; cwd != NULL && i < nitems(ws); i++)
		if (skills_root_add(r, wsfile_join(cwd, ws[i]), "workspace") ==
		    -1)
			return (-1);
	if (w != NULL && cwd != NULL && wswatch_add(w, cwd, 0) == -1)
		return (-1);
	for (i = 0; w != NULL && cwd != NULL && i < nitems(parents); i++) {
		if ((p = wsfile_join(cwd, parents[i])) == NULL)
			return (-1);
		rv = wswatch_add(w, p, 0);
		free(p);
		if (rv == -1)
			return (-1);
	}
	if (home == NULL)
		return (0);
	if (w != NULL) {
		for (i = 0; i < nitems(parents); i++) {
			if ((p = wsfile_join(home, i == 0 ? ".copilot" :
			    ".agents")) == NULL)
				return (-1);
			rv = wswatch_add(w, p, 0);
			free(p);
			if (rv == -1)
				return (-1);
		}
	}
	if ((p = wsfile_join(home, ".copilot/installed-plugins")) == NULL)
		return (-1);
	if ((w != NULL && wswatch_add(w, p, 1) == -1) ||
	    wsfile_walk(p, SKILLS_PLUGIN_DEPTH, skills_walk, r) == -1)
		rv = -1;
	free(p);
	return (rv);
}

/* Is root/name a skill directory?  Its path in *path (malloc'd). */
static int
skills_is_skill(const char *root, const char *name, char **path)
{
	*path = NULL;
	if (name[0] == '.')
		return (0);
	if ((*path = wsfile_join(root, name)) == NULL)
		return (-1);
	if (wsfile_isdir(*path))
		return (1);
	free(*path);
	*path = NULL;
	return (0);
}

/* One skill into the signature, its directory watched. */
static int
skills_sign(struct skillset *ss, const char *dir)
{
	struct stat	 st;
	char		*md;
	json_t		*e;
	int		 have;

	if ((md = wsfile_join(dir, "SKILL.md")) == NULL)
		return (-1);
	have = stat(md, &st) == 0;
	free(md);
	e = json_pack("[s,I,I,I]", dir, (json_int_t)(have ? st.st_size : -1),
	    (json_int_t)(have ? st.st_mtim.tv_sec : 0),
	    (json_int_t)(have ? st.st_mtim.tv_nsec : 0));
	if (e == NULL || json_array_append_new(ss->sig, e) == -1)
		return (-1);
	return (wswatch_add(&ss->watch, dir, 0));
}

static int
skills_load_root(struct skillset *ss, const struct skills_root *r)
{
	struct dirent	**ents;
	char		*path;
	int		 i, n, rv = 0;

	if (wswatch_add(&ss->watch, r->path, 1) == -1 ||
	    (n = wsfile_scan(r->path, &ents)) == -1)
		return (-1);
	for (i = 0; i < n && rv != -1; i++)
		if ((rv = skills_is_skill(r->path, ents[i]->d_name, &path)) ==
		    1) {
			rv = skills_sign(ss, path);
			free(path);
		}
	wsfile_scan_free(ents, n);
	return (rv == -1 ? -1 : 0);
}

void
skills_free(struct skillset *ss)
{
	if (ss == NULL)
		return;
	json_decref(ss->dirs);
	json_decref(ss->sig);
	wswatch_free(&ss->watch);
	free(ss);
}

struct skillset *
skills_load(const char *home, const char *cwd)
{
	struct skillset		*ss;
	struct skills_roots	 r = { NULL, 0 };
	size_t			 i;
	int			 rv = -1;

	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return (NULL);
	if ((ss->dirs = json_array()) == NULL || (ss->sig = json_array()) ==
	    NULL || skills_roots(home, cwd, &r, &ss->watch) == -1)
		goto done;
	for (i = 0; i < r.n; i++) {
		if (skills_load_root(ss, &r.v[i]) == -1)
			goto done;
		/* The user's roots are given even before they exist. */
		if (strcmp(r.v[i].source, "workspace") != 0 &&
		    json_array_append_new(ss->dirs,
		    json_string(r.v[i].path)) == -1)
			goto done;
	}
	rv = 0;
done:
	skills_roots_free(&r);
	if (rv == -1) {
		skills_free(ss);
		return (NULL);
	}
	return (ss);
}

/* A skill for /skills: name, SKILL.md's description, source. */
static json_t *
skills_entry(const char *dir, const char *name, const char *source)
{
	char	*md, *text, desc[1024];
	size_t	 len, body;
	int	 rv;

	desc[0] = '\0';
	if ((md = wsfile_join(dir, "SKILL.md")) == NULL)
		return (NULL);
	rv = wsfile_read(md, SKILLS_FILE_MAX, &text, &len);
	free(md);
	if (rv == -1)
		return (NULL);
	if (rv == 1 && utf8_valid(text, len) && memchr(text, '\0', len) ==
	    NULL)
		(void)agents_front(text, len, "description", desc,
		    sizeof(desc), SKILLS_DESC_MAX, &body);
	free(text);
	return (json_pack("{s:s,s:s,s:s}", "name", name, "description", desc,
	    "source", source));
}

static int
skills_list_root(json_t *out, const struct skills_root *r)
{
	struct dirent	**ents;
	char		*path;
	json_t		*e;
	int		 i, n, rv = 0;

	if ((n = wsfile_scan(r->path, &ents)) == -1)
		return (-1);
	for (i = 0; i < n && rv != -1; i++)
		if (utf8_valid(ents[i]->d_name, strlen(ents[i]->d_name)) &&
		    (rv = skills_is_skill(r->path, ents[i]->d_name, &path)) ==
		    1) {
			e = skills_entry(path, ents[i]->d_name, r->source);
			rv = e == NULL || json_array_append_new(out, e) == -1 ?
			    -1 : 0;
			free(path);
		}
	wsfile_scan_free(ents, n);
	return (rv == -1 ? -1 : 0);
}

json_t *
skills_list(const char *home, const char *cwd)
{
	struct skills_roots	 r = { NULL, 0 };
	json_t			*out;
	size_t			 i;

	if ((out = json_array()) == NULL)
		return (NULL);
	if (skills_roots(home, cwd, &r, NULL) == -1)
		goto fail;
	for (i = 0; i < r.n; i++)
		if (skills_list_root(out, &r.v[i]) == -1)
			goto fail;
	skills_roots_free(&r);
	return (out);
fail:
	skills_roots_free(&r);
	json_decref(out);
	return (NULL);
}
