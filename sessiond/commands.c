/*
 * commands: chat commands, parsed once, here.
 *
 * As upstream: the trimmed text must start with "/"; the command is the
 * first word, lower-cased; the rest, trimmed, is its argument.  A command
 * not in the table is not a command: the text goes to Copilot as typed.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sessiond.h"

static const struct {
	const char	*name;
	const char	*sub;		/* required first word of the argument */
	enum cmd	 cmd;
} cmd_table[] = {
	{ "new",	NULL,		CMD_NEW },
	{ "stop",	NULL,		CMD_STOP },
	{ "cancel",	NULL,		CMD_STOP },
	{ "reload",	"config",	CMD_RELOAD_CONFIG },
	{ "reload",	"bot",		CMD_RELOAD_BOT },
	{ "reload",	"hooks",	CMD_RELOAD_HOOKS },
	{ "reload",	NULL,		CMD_RELOAD },
	{ "status",	NULL,		CMD_STATUS },
	{ "help",	NULL,		CMD_HELP },
	{ "approve",	NULL,		CMD_APPROVE },
	{ "deny",	NULL,		CMD_DENY },
};

static const char *
cmd_skip_space(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return (s);
}

/* Does arg start with the word w (case-insensitive, then end or space)? */
static const char *
cmd_word(const char *arg, const char *w)
{
	size_t	n = strlen(w);

	if (strncasecmp(arg, w, n) != 0 ||
	    (arg[n] != '\0' && !isspace((unsigned char)arg[n])))
		return (NULL);
	return (cmd_skip_space(arg + n));
}

/*
 * Parse text.  Returns CMD_NONE for anything that is not a known command.
 * *arg (if not NULL) gets a malloc'd copy of the argument, trimmed; the
 * caller frees it.  Out of memory is CMD_NONE with *arg NULL.
 */
enum cmd
cmd_parse(const char *text, char **arg)
{
	const char	*p = cmd_skip_space(text), *rest, *a;
	char		 name[16];
	size_t		 n, i, len;

	if (arg != NULL)
		*arg = NULL;
	if (*p++ != '/')
		return (CMD_NONE);
	for (n = 0; p[n] != '\0' && !isspace((unsigned char)p[n]); n++)
		;
	if (n == 0 || n >= sizeof(name))
		return (CMD_NONE);
	for (i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)p[i]);
	name[n] = '\0';
	rest = cmd_skip_space(p + n);
	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
		if (strcmp(cmd_table[i].name, name) != 0)
			continue;
		a = rest;
		if (cmd_table[i].sub != NULL &&
		    (a = cmd_word(rest, cmd_table[i].sub)) == NULL)
			continue;
		if (arg != NULL) {
			len = strlen(a);
			while (len > 0 && isspace((unsigned char)a[len - 1]))
				len--;
			if ((*arg = strndup(a, len)) == NULL)
				return (CMD_NONE);
		}
		return (cmd_table[i].cmd);
	}
	return (CMD_NONE);
}
