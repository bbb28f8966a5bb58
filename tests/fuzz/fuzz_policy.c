/*
 * libFuzzer target for common/policy.c and the shell reader under it,
 * common/shell.c.  The same bytes are tried as a shell command (hard
 * denies, config rules, stored rules), a rule spec, a path, a URL and a
 * `permissions` object.  Beyond not crashing:
 *  - a command that is hard-denied stays denied after "true; ", after
 *    "sudo " and inside bash -c '...' (a wrapper never hides it);
 *  - what "/always approve" stores never denies that request, what
 *    "/always deny" stores always denies it (never allows);
 *  - a rule spec read back from its text is the same rule;
 *  - a read allowed by its path is, by a second lexical resolution, inside
 *    the working directory or allowPaths, and an allowed URL names the
 *    allowed host.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/policy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct policy_config *fuzz_cfg;

static void
fuzz_setup(void)
{
	json_t	*j;

	if (fuzz_cfg != NULL)
		return;
	j = json_loads("{\"deny\":[\"shell(rm)\",\"read(/work/dir/secret)\"],"
	    "\"allow\":[\"shell(true)\",\"shell(git status)\",\"shell(ls)\","
	    "\"github\"],\"allowPaths\":[\"/data\"],"
	    "\"allowUrls\":[\"example.com\"]}", 0, NULL);
	if (j == NULL || (fuzz_cfg = policy_config_parse(j, "/home/f", NULL,
	    0)) == NULL)
		abort();
	json_decref(j);
}

static void
fuzz_check(const struct policy_decision *d)
{
	if (memchr(d->rule, '\0', sizeof(d->rule)) == NULL)
		abort();
	if ((d->verdict == POLICY_ASK) != (d->source == POLICY_SRC_NONE) ||
	    (d->verdict == POLICY_ASK) != (d->reason == NULL))
		abort();
}

static int
fuzz_denied(const char *cmd)
{
	struct policy_decision	d;
	int			r = policy_hard_deny(cmd, &d);

	fuzz_check(&d);
	if (r != (d.verdict == POLICY_DENY))
		abort();
	return (r);
}

/* cmd as one single-quoted word. */
static char *
fuzz_quote(const char *pre, const char *cmd)
{
	char	*q, *p;

	if ((q = malloc(strlen(pre) + strlen(cmd) * 4 + 3)) == NULL)
		return (NULL);
	p = q + strlen(strcpy(q, pre));
	*p++ = '\'';
	for (; *cmd != '\0'; cmd++)
		if (*cmd == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else
			*p++ = *cmd;
	*p++ = '\'';
	*p = '\0';
	return (q);
}

static void
fuzz_hard(const char *cmd)
{
	char	*w;

	if (!fuzz_denied(cmd))
		return;
	if ((w = malloc(strlen(cmd) + 8)) == NULL)
		return;
	strcpy(w, "true; ");
	if (!fuzz_denied(strcat(w, cmd)))
		abort();
	strcpy(w, "sudo ");
	if (!fuzz_denied(strcat(w, cmd)))
		abort();
	free(w);
	if ((w = fuzz_quote("bash -c ", cmd)) == NULL)
		return;
	if (!fuzz_denied(w))
		abort();
	free(w);
}

static void
fuzz_stored(const struct policy_request *req)
{
	struct policy_rule	*rules;
	struct policy_decision	 d;
	size_t			 n, i;
	int			 allow;

	for (allow = 0; allow <= 1; allow++) {
		if (policy_remember(req, allow, &rules, &n) == -1)
			continue;
		for (i = 0; i < n; i++)
			if (rules[i].tool == NULL || rules[i].pattern == NULL ||
			    rules[i].pattern[0] == '\0' || rules[i].allow != allow)
				abort();
		(void)policy_stored_eval(rules, n, req, &d);
		fuzz_check(&d);
		if (n > 0 && d.verdict == (allow ? POLICY_DENY : POLICY_ALLOW))
			abort();
		if (n > 0 && !allow && d.verdict != POLICY_DENY)
			abort();
		free(rules);
	}
}

static void
fuzz_spec(const char *s)
{
	char	*tool, *pat, *tool2, *pat2, *buf;
	size_t	 len = strlen(s) + 8;

	if (policy_rule_spec_parse(s, &tool, &pat) == -1)
		return;
	if ((buf = malloc(len)) == NULL ||
	    policy_rule_spec(tool, pat, buf, len) == -1 ||
	    policy_rule_spec_parse(buf, &tool2, &pat2) == -1 ||
	    strcmp(tool, tool2) != 0 || strcmp(pat, pat2) != 0)
		abort();
	free(tool);
	free(pat);
	free(tool2);
	free(pat2);
	free(buf);
}

/* An independent lexical resolution: is path (against cwd) inside root? */
static int
fuzz_inside(const char *cwd, const char *path, const char *root)
{
	char	*buf, *out, *p, *tok, *save;
	size_t	 n, rl = strlen(root);
	int	 in;

	if ((buf = malloc(strlen(cwd) + strlen(path) + 2)) == NULL ||
	    (out = malloc(strlen(cwd) + strlen(path) + 2)) == NULL)
		abort();
	strcpy(buf, path[0] == '/' ? "" : cwd);
	strcat(strcat(buf, "/"), path);
	out[0] = '\0';
	n = 0;
	for (p = buf; (tok = strtok_r(p, "/", &save)) != NULL; p = NULL) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			while (n > 0 && out[--n] != '/')
				;
			out[n] = '\0';
			continue;
		}
		n += (size_t)sprintf(out + n, "/%s", tok);
	}
	in = strncmp(out, root, rl) == 0 && (out[rl] == '\0' || out[rl] == '/');
	free(buf);
	free(out);
	return (in);
}

static void
fuzz_requests(const struct policy_config *cfg, const char *s, int check)
{
	struct policy_request	r;
	struct policy_decision	d;
	char			*low;
	size_t			 i;

	memset(&r, 0, sizeof(r));
	r.kind = "shell";
	r.command = s;
	r.cwd = "/work/dir";
	(void)policy_config_eval(cfg, &r, &d);
	fuzz_check(&d);
	policy_decide(&r, cfg, 0, NULL, 0, 0, &d);
	fuzz_check(&d);
	if (check)
		fuzz_stored(&r);

	r.kind = "read";
	r.command = NULL;
	r.path = s;
	(void)policy_config_eval(cfg, &r, &d);
	fuzz_check(&d);
	if (check && d.verdict == POLICY_ALLOW && s[0] != '~' &&
	    !fuzz_inside("/work/dir", s, "/work/dir") &&
	    !fuzz_inside("/work/dir", s, "/data"))
		abort();
	if (check)
		fuzz_stored(&r);

	r.kind = "url";
	r.path = NULL;
	r.url = s;
	(void)policy_config_eval(cfg, &r, &d);
	fuzz_check(&d);
	if (check && d.verdict == POLICY_ALLOW) {
		if ((low = strdup(s)) == NULL)
			abort();
		for (i = 0; low[i] != '\0'; i++)
			low[i] = (char)tolower((unsigned char)low[i]);
		if (strstr(low, "example.com") == NULL)
			abort();
		free(low);
	}

	r.kind = "mcp";
	r.url = NULL;
	r.server = s;
	r.tool = s;
	policy_decide(&r, cfg, 0, NULL, 0, 1, &d);
	fuzz_check(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_config	*cfg;
	json_t			*j;
	char			*s, err[256];

	fuzz_setup();
	if ((s = malloc(size + 1)) == NULL)
		return (0);
	memcpy(s, data, size);
	s[size] = '\0';		/* up to the first NUL, as jansson gives it */

	fuzz_hard(s);
	fuzz_spec(s);
	fuzz_requests(fuzz_cfg, s, 1);

	if ((j = json_loadb((const char *)data, size, 0, NULL)) != NULL) {
		err[0] = '\0';
		cfg = policy_config_parse(j, "/home/f", err, sizeof(err));
		if (cfg == NULL && err[0] == '\0')
			abort();
		if (cfg != NULL) {
			fuzz_requests(cfg, "rm -rf x; git status", 0);
			fuzz_requests(cfg, "/work/dir/x", 0);
			fuzz_requests(cfg, "https://a.example.com/", 0);
			policy_config_free(cfg);
		}
		json_decref(j);
	}
	free(s);
	return (0);
}
