/*
 * policy: hard-coded denies (with every unwrapping), the config's rule
 * grammar, stored rules, what "/always" stores, and the order of it all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/policy.h"

static int
denied(const char *cmd)
{
	struct policy_decision	d;
	int			r = policy_hard_deny(cmd, &d);

	assert_int_equal(r, d.verdict == POLICY_DENY);
	if (r)
		assert_int_equal(d.source, POLICY_SRC_HARD);
	return (r);
}

static void
expect_denied(const char *const *cmds, size_t n, int want)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (denied(cmds[i]) != want)
			fail_msg("%s: %s", want ? "not denied" : "denied",
			    cmds[i]);
}

static const char *
hard_rule(const char *cmd)
{
	static struct policy_decision	d;

	if (!policy_hard_deny(cmd, &d))
		return ("");
	return (d.rule);
}

/* ---- hard denies --------------------------------------------------------- */

/* Every case of upstream's own test of its hard denies. */
static void
test_hard_upstream(void **state)
{
	static const char *const deny[] = {
		"launchctl unload com.example.service",
		"rm -rf /", "rm -rf /*", "rm -rf ~", "rm -rf $HOME",
		"rm -fr /", "rm -r -f /", "rm --recursive --force /",
		"mkfs /dev/sda", "mkfs.ext4 /dev/sda1",
		"dd if=/dev/zero of=/dev/sda bs=1M",
		":(){ :|:& };:", ":() { :|:& }; :",
		"chmod -R 777 /", "chown -R root /", "chmod -R 755 /etc",
		"chown -R nobody /usr", "chmod -R 777 /var", "chmod -R 777 ~",
		"sudo rm -rf /", "sudo mkfs /dev/sda", "sudo chmod -R 777 /",
		"env rm -rf /", "/usr/bin/rm -rf /", "bash -c \"rm -rf /\"",
		"sudo bash -c \"rm -rf /\"", "sh -c \"mkfs /dev/sda\"",
		"eval rm -rf /", "sudo -u root rm -rf /", "sudo -i rm -rf /",
		"env FOO=bar rm -rf /", "sudo env bash -c \"rm -rf /\"",
	};
	static const char *const allow[] = {
		"launchctl load com.example.service",
		"rm -rf ~/Downloads", "rm -rf $HOME/.cache", "rm -rf ./build",
		"rm file.txt", "rm -r /",
		"dd if=/dev/zero of=./disk.img bs=1M count=100",
		"chmod -R 755 ./dist", "chmod 755 /",
		"ls -la", "git push origin main", "npm install",
		"cat /etc/hosts", "sudo apt install curl",
	};

	expect_denied(deny, nitems(deny), 1);
	expect_denied(allow, nitems(allow), 0);
}

static void
test_hard_rm_spellings(void **state)
{
	static const char *const deny[] = {
		"rm -Rf /", "rm -fR /", "rm -r -f /*", "rm -f -r /",
		"rm --force --recursive /", "rm --rec --for /", "rm -rfv /",
		"rm -rf -- /", "rm / -rf", "rm -r / -f", "rm -rf ~/",
		"rm -rf ${HOME}", "rm -rf $HOME/", "rm -rf \"$HOME\"",
		"rm -rf \"${HOME}\"/", "rm -rf ~root", "rm -rf ~/..",
		"rm -rf ~/.", "rm -rf ~/*", "rm -rf ~/x/..", "rm -rf //", "rm -rf /.",
		"rm -rf /tmp/../", "rm -rf /usr/..", "rm -rf /**",
		"rm -rf ./build /", "rm -rf x ~",
		/* quotes, escapes, spaces and tabs */
		"rm -rf \"/\"", "rm -rf '/'", "\"rm\" -rf /", "r\"m\" -rf /",
		"\\rm -rf /", "r''m -rf /", "  rm   -rf    /  ", "rm\t-rf\t/",
		"rm -rf \\\n/", "$'rm' -rf /", "$'\\x72m' -rf /",
		"$'\\162m' -rf /", "rm${IFS}-rf${IFS}/", "rm$IFS-rf$IFS/",
		/* brace expansion */
		"rm -rf {/,}", "rm -rf {x,~}", "rm -rf {{/,a},b}",
	};
	static const char *const allow[] = {
		"rm -rf /tmp/x", "rm -rf ./", "rm -rf build/", "rm -rf ~/x/y/..",
		"rm -rf ~/../shared", "rm -rf $HOMEDIR", "rm -rf /x/*",
		"rm -f /", "rm -i -r /", "rm --preserve-root -f /etc",
		"rm -rf -- -x", "rmdir /", "rm -rf $HOME/.cache/*",
		"rm -rf /{bin,etc}", "rm -rf ./{a,b}", "rm -rf {a}",
		"rm -rf {,", "rm -r -- -f /",
	};

	expect_denied(deny, nitems(deny), 1);
	expect_denied(allow, nitems(allow), 0);
	assert_string_equal(hard_rule("rm -rf /"), "shell(rm -rf /)");
	assert_string_equal(hard_rule("rm -rf ~"), "shell(rm -rf ~)");
}

static void
test_hard_others(void **state)
{
	static const char *const deny[] = {
		"mkfs.ext4 /dev/sdb1", "mkfs -t ext4 /dev/sdb",
		"/sbin/mkfs.xfs /dev/sdc", "mke2fs /dev/sdd",
		"dd if=/dev/zero of=/dev/sda", "dd of=/dev/sda if=x",
		"sudo dd if=x of=\"/dev/nvme0n1\"", "dd if=x of=//dev/sda",
		"dd if=x of=/tmp/../dev/sda",
		"bomb() { bomb | bomb & }; bomb", "f(){ f|f & }",
		"bash -c ':(){ :|:& };:'", "echo ok; :(){ :|:& };:",
		"chmod -R 755 /etc/nginx", "chmod --recursive 777 /",
		"chmod -R 777 $HOME", "chgrp -R x /var", "chown -hR u /",
		"chmod -R 777 /*", "chown -R u:g ~/",
		"sudo launchctl unload -w /Library/LaunchDaemons/x.plist",
		"launchctl bootout gui/501/com.example",
	};
	static const char *const allow[] = {
		"dd if=x of=/dev/null", "dd if=/dev/sda of=disk.img",
		"dd if=x of=/dev/stdout", "chmod -R 755 /etcetera",
		"chmod -R 755 /opt/app", "chmod -r /", "chmod 700 ~",
		"chown -R me ./x", "launchctl list", "mkdir fs",
		"f() { echo hi; }", "echo a | b &",
	};

	expect_denied(deny, nitems(deny), 1);
	expect_denied(allow, nitems(allow), 0);
	assert_string_equal(hard_rule("mkfs.ext4 /dev/x"), "shell(mkfs)");
	assert_string_equal(hard_rule("dd of=/dev/sda"),
	    "shell(dd … of=/dev/*)");
	assert_string_equal(hard_rule(":(){ :|:& };:"),
	    "shell(:(){ :|:& };:)");
	assert_string_equal(hard_rule("chown -R x /"),
	    "shell(chown -R / /etc /usr /var ~)");
}

/* Wrappers, however deep, and commands hidden in a compound one. */
static void
test_hard_unwrapping(void **state)
{
	static const char *const deny[] = {
		"bash -c 'sudo rm -rf /'", "env X=1 /bin/rm -rf ~",
		"sudo -u root rm -rf /", "sudo -g wheel -- rm -rf /",
		"bash -lc \"rm -rf /\"", "sh -c \"bash -c 'rm -rf /'\"",
		"zsh -c 'sudo -E env A=1 nice -n 5 rm -rf ~'",
		"FOO=1 rm -rf /", "! rm -rf /", "nohup rm -rf / &",
		"exec rm -rf /", "command rm -rf /", "time rm -rf /",
		"nice -n 10 rm -rf /", "timeout 10 rm -rf /", "doas rm -rf /",
		"xargs rm -rf / < list", "find . | xargs sh -c 'rm -rf /'",
		"eval \"rm -rf /\"", "eval 'sudo rm' -rf /",
		"env -S 'rm -rf /'", "env -iS'rm -rf /'",
		"su -c 'rm -rf /'", "su root -c 'rm -rf ~'",
		"watch -n 1 'rm -rf /'", "busybox rm -rf /",
		"/usr/bin/sudo /usr/bin/env /bin/bash -c '/bin/rm -rf /'",
		/* hidden after separators and in substitutions */
		"ls; rm -rf /", "ls && rm -rf /", "false || rm -rf /",
		"ls | rm -rf /", "ls\nrm -rf /", "ls & rm -rf /",
		"ls |& rm -rf /", "(rm -rf /)", "{ rm -rf /; }",
		"if true; then rm -rf /; fi", "while :; do rm -rf ~; done",
		"echo $(rm -rf /)", "echo `rm -rf /`", "echo \"$(rm -rf /)\"",
		"echo \"`rm -rf /`\"", "x=$(sudo rm -rf ~)",
		"echo $(echo $(rm -rf /))", "echo ${X:-$(rm -rf /)}",
		"diff <(rm -rf /) x", "tee >(rm -rf /)", "a=(1 $(rm -rf /))",
		"echo $( (rm -rf /) )", "ls > $(rm -rf /)",
		"cat <<EOF\n$(rm -rf /)\nEOF",
		"bash <<'EOF'\nrm -rf /\nEOF", "bash <<< 'rm -rf /'",
		"sudo bash <<-EOF\n\trm -rf /\n\tEOF\n",
		"echo 'rm -rf /' | sh", "printf 'rm -rf /\\n' | sudo bash",
		"echo -n 'mkfs /dev/sda' | bash -s",
		"cat x <<EOF\nhello\nEOF\nrm -rf /",
		/* a shell running what another command prints */
		"printf '%s -rf /' rm | sh", "printf '%b' 'rm -rf /' | sh",
		"sudo printf '%s -rf /' rm | sh", "env A=1 echo rm -rf / | sh",
		"sudo -u root printf '%s -rf /' rm | sh",
		"cat <<EOF | sh\nrm -rf /\nEOF", "bash <(echo 'rm -rf /')",
		"source <(echo \"rm -rf ~\")", "eval \"$(echo rm -rf /)\"",
		"$(echo rm) -rf /", "`echo rm` -rf /", "rm -rf $(echo /)",
		"sudo $(printf rm) -rf ~", "\"$(echo \"$(echo rm)\")\" -rf /",
		"function f { rm -rf /; }; f", "f() { rm -rf /; }; f",
		"coproc x { rm -rf /; }", "coproc rm -rf /",
		/* where << is no here-document, and quotes in comments */
		"ls # <<EOF\nrm -rf /\nEOF", "ls # don't\nrm -rf /",
		"for ((i=0; i<<2; i++)); do :; done\nrm -rf /",
		"((x <<= 2))\nrm -rf /", "echo $[1<<2]\nrm -rf /",
		"((rm -rf /); ls)", "echo $((1 + $(rm -rf /)))",
		"echo $[ $(rm -rf /) ]", "echo $#; rm -rf /",
	};

	expect_denied(deny, nitems(deny), 1);
}

/*
 * What is data is not run: echo's arguments, a here-document's body, a
 * single-quoted $(...), a comment.
 */
static void
test_hard_data(void **state)
{
	static const char *const allow[] = {
		"echo \"rm -rf /\"", "echo 'rm -rf /'", "echo rm -rf /",
		"echo '$(rm -rf /)'", "grep -r mkfs .",
		"git commit -m 'rm -rf / is bad'", "cat <<'EOF'\n$(rm -rf /)\nEOF",
		"cat <<EOF\nrm -rf /\nEOF", "echo 'rm -rf /' > notes.txt",
		"printf '%s' 'dd of=/dev/sda' | grep dd", "man mkfs",
		"ls # comment", "ls # rm -rf /", "ls #; rm -rf /",
		"echo `printf 'mk%s' fs` /dev/sda", "echo $(echo rm) -rf /",
		"git commit -m \"$(cat msg)\"", "echo $(date) ok",
	};

	expect_denied(allow, nitems(allow), 0);
	assert_int_equal(denied("ls # see; rm -rf /"), 0);
	assert_int_equal(denied("ls a#b; rm -rf /"), 1);
}

static void
test_hard_limits(void **state)
{
	struct policy_decision	d;
	char			*cmd, *p;
	size_t			i, n = 40;

	/* Substitutions nested beyond the depth that is read: denied. */
	assert_non_null(cmd = calloc(1, n * 12 + 32));
	p = cmd;
	for (i = 0; i < n; i++)
		p += sprintf(p, "echo $(");
	p += sprintf(p, "ls");
	for (i = 0; i < n; i++)
		*p++ = ')';
	assert_int_equal(policy_hard_deny(cmd, &d), 1);
	assert_string_equal(d.rule, "(unchecked)");
	assert_string_equal(d.reason, "the command is too complex to check");
	p = cmd;
	for (i = 0; i < n; i++)
		p += sprintf(p, "eval ");
	sprintf(p, "ls");
	assert_int_equal(policy_hard_deny(cmd, &d), 1);
	assert_string_equal(d.rule, "(unchecked)");
	/* ...and within it, they are read. */
	p = cmd;
	for (i = 0; i < 10; i++)
		p += sprintf(p, "eval ");
	sprintf(p, "rm -rf /");
	assert_int_equal(policy_hard_deny(cmd, &d), 1);
	assert_string_equal(d.rule, "shell(rm -rf /)");
	free(cmd);

	/* Long commands as people write them are read, not refused. */
	assert_non_null(cmd = malloc(200000));
	p = cmd + sprintf(cmd, "sudo chown -R u:g ./x");
	for (i = 0; i < 5000; i++)
		p += sprintf(p, " f%zu", i);
	assert_int_equal(policy_hard_deny(cmd, &d), 0);
	sprintf(p, " ~");
	assert_int_equal(policy_hard_deny(cmd, &d), 1);
	assert_string_equal(d.rule, "shell(chown -R / /etc /usr /var ~)");
	p = cmd + sprintf(cmd, "cat > f <<'EOF'\n");
	for (i = 0; i < 5000; i++)
		p += sprintf(p, "line %zu $(x) `y` rm -rf / ; | &\n", i);
	p += sprintf(p, "EOF\n");
	assert_int_equal(policy_hard_deny(cmd, &d), 0);
	sprintf(p, "rm -rf /\n");
	assert_int_equal(policy_hard_deny(cmd, &d), 1);
	assert_string_equal(d.rule, "shell(rm -rf /)");
	for (p = cmd, i = 0; i < 5000; i++)
		p += sprintf(p, "ls x%zu | grep y && echo z; ", i);
	assert_int_equal(policy_hard_deny(cmd, &d), 0);
	/* Wrappers re-reading each other's words: refused, not slow. */
	for (p = cmd, i = 0; i < 60; i++)
		p += sprintf(p, "sudo eval \"watch -n 1 ");
	sprintf(p, "ls");
	assert_int_equal(policy_hard_deny(cmd, &d), 1);
	assert_string_equal(d.rule, "(unchecked)");
	free(cmd);

	/* Unterminated quotes and substitutions read to the end. */
	assert_int_equal(denied("echo \"$(rm -rf /"), 1);
	assert_int_equal(denied("rm -rf '/"), 1);
	assert_int_equal(denied("echo `rm -rf /"), 1);
	assert_int_equal(denied("ls '"), 0);
	assert_int_equal(denied(""), 0);
	assert_int_equal(policy_hard_deny(NULL, &d), 0);
	assert_int_equal(d.verdict, POLICY_ASK);
	/* Hard denies are for shell requests only. */
	{
		struct policy_request	r = { .kind = "read",
		    .command = "rm -rf /" };

		policy_decide(&r, NULL, 1, NULL, 0, 0, &d);
		assert_int_equal(d.verdict, POLICY_ALLOW);
		assert_int_equal(d.source, POLICY_SRC_AUTOPILOT);
	}
	for (i = 0; policy_hard_rule(i) != NULL; i++)
		;
	assert_int_equal(i, 8);
}

/* ---- the config's rules -------------------------------------------------- */

static struct policy_config *
cfg_parse(const char *json)
{
	struct policy_config	*cfg;
	json_error_t		 e;
	json_t			*j;
	char			 err[256] = "";

	if ((j = json_loads(json, 0, &e)) == NULL)
		fail_msg("bad test json: %s", e.text);
	if ((cfg = policy_config_parse(j, "/home/u", err, sizeof(err))) ==
	    NULL)
		fail_msg("parse %s: %s", json, err);
	json_decref(j);
	return (cfg);
}

static const char *
cfg_error(const char *json, const char *home)
{
	static char		 err[256];
	struct policy_config	*cfg;
	json_t			*j;

	err[0] = '\0';
	assert_non_null(j = json_loads(json, 0, NULL));
	cfg = policy_config_parse(j, home, err, sizeof(err));
	json_decref(j);
	if (cfg != NULL)
		fail_msg("parsed: %s", json);
	return (err);
}

static void
test_config_parse_errors(void **state)
{
	struct policy_config	*cfg;

	assert_string_equal(cfg_error("{\"deny\":[\"shell(\"]}", NULL),
	    "permissions.deny[0] \"shell(\": no closing \")\"");
	assert_string_equal(cfg_error("{\"allow\":[\"ls\",\"(x)\"]}", NULL),
	    "permissions.allow[1] \"(x)\": no kind before \"(\"");
	assert_string_equal(cfg_error("{\"allow\":[\"shell()\"]}", NULL),
	    "permissions.allow[0] \"shell()\": empty \"()\"");
	assert_string_equal(cfg_error("{\"allow\":[\"  \"]}", NULL),
	    "permissions.allow[0] \"  \": empty rule");
	assert_string_equal(cfg_error("{\"allow\":[\"a b\"]}", NULL),
	    "permissions.allow[0] \"a b\": a kind is one word");
	assert_string_equal(cfg_error("{\"allow\":[\"x)\"]}", NULL),
	    "permissions.allow[0] \"x)\": \")\" without \"(\"");
	assert_non_null(strstr(cfg_error("{\"allow\":[\"shell(ls; rm)\"]}",
	    NULL), "one simple command"));
	assert_non_null(strstr(cfg_error("{\"allow\":[\"shell(ls $(x))\"]}",
	    NULL), "one simple command"));
	assert_non_null(strstr(cfg_error("{\"allow\":[\"shell(ls > x)\"]}",
	    NULL), "one simple command"));
	assert_non_null(strstr(cfg_error("{\"allow\":[\"read(src)\"]}",
	    NULL), "absolute"));
	assert_non_null(strstr(cfg_error("{\"allow\":[\"write(~/x)\"]}",
	    NULL), "absolute"));
	assert_non_null(strstr(cfg_error("{\"allow\":[\"url(a/b)\"]}",
	    NULL), "host"));
	assert_string_equal(cfg_error("{\"deny\":\"shell\"}", NULL),
	    "permissions.deny must be an array of strings");
	assert_string_equal(cfg_error("{\"allow\":[1]}", NULL),
	    "permissions.allow[0] must be a string");
	assert_string_equal(cfg_error("[]", NULL),
	    "permissions must be an object");
	assert_non_null(strstr(cfg_error("{\"allowPaths\":[\"rel\"]}",
	    NULL), "allowPaths[0] \"rel\""));
	assert_non_null(strstr(cfg_error("{\"allowPaths\":[\"~/x\"]}",
	    NULL), "absolute"));
	assert_non_null(strstr(cfg_error("{\"allowUrls\":[\"*.x.com\"]}",
	    NULL), "allowUrls[0]"));
	assert_non_null(strstr(cfg_error(
	    "{\"allowUrls\":[\"example.com:8080\"]}", NULL), "no port"));
	assert_non_null(strstr(cfg_error("{\"allowUrls\":[\"\"]}", NULL),
	    "allowUrls[0]"));

	/* Well-formed: spaces, ~ with a home, URLs as allowUrls entries. */
	cfg = cfg_parse("{\"allow\":[\" shell ( git push ) \",\"read(~/x)\","
	    "\"github\",\"github(list_issues)\",\"url(https://a.b/c)\"],"
	    "\"deny\":[],\"allowPaths\":[\"~\",\"/data/../srv\"],"
	    "\"allowUrls\":[\"https://Example.COM/x\",\"[::1]\"],"
	    "\"extra\":1}");
	policy_config_free(cfg);
	assert_non_null(cfg = policy_config_parse(NULL, NULL, NULL, 0));
	policy_config_free(cfg);
	policy_config_free(NULL);
}

static enum policy_verdict
eval(const struct policy_config *cfg, const struct policy_request *r,
    const char *rule)
{
	struct policy_decision	d;
	enum policy_verdict	v = policy_config_eval(cfg, r, &d);

	assert_int_equal(v, d.verdict);
	if (v != POLICY_ASK) {
		assert_int_equal(d.source, POLICY_SRC_CONFIG);
		assert_non_null(d.reason);
	}
	if (rule != NULL)
		assert_string_equal(d.rule, rule);
	return (v);
}

static enum policy_verdict
shell(const struct policy_config *cfg, const char *cmd)
{
	struct policy_request	r = { .kind = "shell", .command = cmd,
	    .cwd = "/work/dir" };

	return (eval(cfg, &r, NULL));
}

static void
test_config_shell(void **state)
{
	struct policy_config	*cfg;
	size_t			 i;
	static const char *const ask[] = {
		"git status; cat x", "git status > out.txt", "git log | less",
		"FOO=1 git status", "gitk", "/usr/bin/git status",
		"git status $(curl x)", "git pull", "git pushx",
		"cat <<EOF\nhi\nEOF", "", ";", "ls >> x", "npm run",
		"echo a b", "git status &> log",
	};
	static const char *const allow[] = {
		"git status", "git log --oneline | git shortlog",
		"git status > /dev/null 2>&1", "git push origin main",
		"  git   diff ", "npm run build --watch", "echo \"a b\"",
		"echo 'a b'", "echo \"a b\" c", "if git status; then git diff; fi",
		"git status\ngit diff", "(git status)",
	};

	cfg = cfg_parse("{\"deny\":[\"shell(rm)\",\"shell(git push -f)\"],"
	    "\"allow\":[\"shell(git status)\",\"shell(git push)\","
	    "\"shell(git diff)\",\"shell(git log)\",\"shell(git shortlog)\","
	    "\"shell(npm run build)\",\"shell(echo \\\"a b\\\")\"]}");
	/* deny: what the command may run, through wrappers and paths */
	assert_int_equal(shell(cfg, "rm x"), POLICY_DENY);
	assert_int_equal(shell(cfg, "sudo rm x"), POLICY_DENY);
	assert_int_equal(shell(cfg, "/bin/rm x"), POLICY_DENY);
	assert_int_equal(shell(cfg, "git status; rm x"), POLICY_DENY);
	assert_int_equal(shell(cfg, "echo $(rm x)"), POLICY_DENY);
	assert_int_equal(shell(cfg, "bash -c 'rm x'"), POLICY_DENY);
	assert_int_equal(shell(cfg, "git push -f origin"), POLICY_DENY);
	assert_int_equal(shell(cfg, "rmdir x"), POLICY_ASK);
	assert_int_equal(shell(cfg, "echo rm"), POLICY_ASK);
	for (i = 0; i < nitems(ask); i++)
		if (shell(cfg, ask[i]) != POLICY_ASK)
			fail_msg("not asked: %s", ask[i]);
	for (i = 0; i < nitems(allow); i++)
		if (shell(cfg, allow[i]) != POLICY_ALLOW)
			fail_msg("not allowed: %s", allow[i]);
	{
		struct policy_request	r = { .kind = "shell",
		    .command = "git status | git log" };

		assert_int_equal(eval(cfg, &r,
		    "shell(git status), shell(git log)"), POLICY_ALLOW);
		r.command = "rm -f x";
		assert_int_equal(eval(cfg, &r, "shell(rm)"), POLICY_DENY);
		r.command = NULL;
		assert_int_equal(eval(cfg, &r, NULL), POLICY_ASK);
	}
	policy_config_free(cfg);

	/* The first word alone; bare "shell" allows every command. */
	cfg = cfg_parse("{\"allow\":[\"shell(ls)\"]}");
	assert_int_equal(shell(cfg, "ls -la /"), POLICY_ALLOW);
	assert_int_equal(shell(cfg, "lsof"), POLICY_ASK);
	policy_config_free(cfg);
	cfg = cfg_parse("{\"allow\":[\"shell\"],\"deny\":[\"shell(curl)\"]}");
	assert_int_equal(shell(cfg, "anything > x; at all"), POLICY_ALLOW);
	assert_int_equal(shell(cfg, "curl x"), POLICY_DENY);
	policy_config_free(cfg);
	cfg = cfg_parse("{\"deny\":[\"shell\"]}");
	assert_int_equal(shell(cfg, "ls"), POLICY_DENY);
	policy_config_free(cfg);

	/* Admin bots: upstream's extra commands, each command checked. */
	{
		struct policy_request	r = { .kind = "shell",
		    .command = "mkdir x && cp a x/", .admin = 1 };

		assert_int_equal(eval(NULL, &r, "admin bot shell commands"),
		    POLICY_ALLOW);
		r.command = "mkdir x && rm y";
		assert_int_equal(eval(NULL, &r, NULL), POLICY_ASK);
		r.admin = 0;
		r.command = "mkdir x";
		assert_int_equal(eval(NULL, &r, NULL), POLICY_ASK);
	}
}

static void
test_config_mcp_and_tools(void **state)
{
	struct policy_config	*cfg;
	struct policy_request	 r = { .kind = "mcp", .server = "github",
	    .tool = "list_issues" };

	cfg = cfg_parse("{\"deny\":[\"github(delete_repo)\"],"
	    "\"allow\":[\"github\",\"workiq(calendar_list)\","
	    "\"custom-tool(weather)\",\"memory\"]}");
	assert_int_equal(eval(cfg, &r, "github"), POLICY_ALLOW);
	r.tool = "delete_repo";
	assert_int_equal(eval(cfg, &r, "github(delete_repo)"), POLICY_DENY);
	r.server = "workiq";
	r.tool = "calendar_list";
	assert_int_equal(eval(cfg, &r, NULL), POLICY_ALLOW);
	r.tool = "mail_send";
	assert_int_equal(eval(cfg, &r, NULL), POLICY_ASK);
	r.server = NULL;
	assert_int_equal(eval(cfg, &r, NULL), POLICY_ASK);
	r.kind = "custom-tool";
	r.tool = "weather";
	assert_int_equal(eval(cfg, &r, NULL), POLICY_ALLOW);
	r.tool = "other";
	assert_int_equal(eval(cfg, &r, NULL), POLICY_ASK);
	r.kind = "memory";
	assert_int_equal(eval(cfg, &r, "memory"), POLICY_ALLOW);
	r.kind = NULL;
	assert_int_equal(eval(cfg, &r, NULL), POLICY_ASK);
	policy_config_free(cfg);
	cfg = cfg_parse("{\"allow\":[\"mcp\"]}");
	r.kind = "mcp";
	r.server = "any";
	assert_int_equal(eval(cfg, &r, "mcp"), POLICY_ALLOW);
	policy_config_free(cfg);
}

static enum policy_verdict
file(const struct policy_config *cfg, const char *kind, const char *path,
    const char *resolved)
{
	struct policy_request	r = { .kind = kind, .path = path,
	    .resolved_path = resolved, .cwd = "/work/dir/" };

	return (eval(cfg, &r, NULL));
}

static void
test_config_paths(void **state)
{
	struct policy_config	*cfg;
	static const char *const ws[] = { "/srv/ws", NULL };
	struct policy_request	 r = { .kind = "write", .path = "/srv/ws/a",
	    .cwd = "/work/dir", .workspace_paths = ws };

	cfg = cfg_parse("{\"allowPaths\":[\"/data\",\"~/notes\"],"
	    "\"deny\":[\"write(/work/dir/secret)\",\"read(/etc)\"],"
	    "\"allow\":[\"read(/opt)\"]}");
	assert_int_equal(file(cfg, "read", "/work/dir/x", NULL), POLICY_ALLOW);
	assert_int_equal(file(cfg, "read", "/work/dir", NULL), POLICY_ALLOW);
	assert_int_equal(file(cfg, "write", "src/x.c", NULL), POLICY_ALLOW);
	assert_int_equal(file(cfg, "write", "./a/../b", NULL), POLICY_ALLOW);
	assert_int_equal(file(cfg, "write", "/work//dir/./x", NULL),
	    POLICY_ALLOW);
	assert_int_equal(file(cfg, "read", "/work/dir-evil/x", NULL),
	    POLICY_ASK);
	assert_int_equal(file(cfg, "read", "/work/di", NULL), POLICY_ASK);
	assert_int_equal(file(cfg, "read", "/work/dir/../dir-evil/x", NULL),
	    POLICY_ASK);
	assert_int_equal(file(cfg, "read", "../x", NULL), POLICY_ASK);
	assert_int_equal(file(cfg, "read", "a/../../x", NULL), POLICY_ASK);
	assert_int_equal(file(cfg, "read", "/work/dir/../../../work/dir/x",
	    NULL), POLICY_ALLOW);
	/* Both the path and the runtime's resolved path must be inside. */
	assert_int_equal(file(cfg, "read", "/work/dir/link",
	    "/home/u/.ssh/id_rsa"), POLICY_ASK);
	assert_int_equal(file(cfg, "read", "/work/dir/x", "/work/dir/y"),
	    POLICY_ALLOW);
	assert_int_equal(file(cfg, "read", NULL, "/data/y"), POLICY_ALLOW);
	assert_int_equal(file(cfg, "read", "/data", NULL), POLICY_ALLOW);
	assert_int_equal(file(cfg, "read", "/database", NULL), POLICY_ASK);
	assert_int_equal(file(cfg, "read", "~/notes/a", NULL), POLICY_ALLOW);
	assert_int_equal(file(cfg, "read", "~/other", NULL), POLICY_ASK);
	assert_int_equal(file(cfg, "read", "~bob/notes", NULL), POLICY_ASK);
	assert_int_equal(file(cfg, "read", "/home/u/notes", NULL),
	    POLICY_ALLOW);
	assert_int_equal(file(cfg, "read", "/opt/x", NULL), POLICY_ALLOW);
	assert_int_equal(file(cfg, "read", "/etc/passwd", NULL), POLICY_DENY);
	assert_int_equal(file(cfg, "read", "/work/dir/x", "/etc/passwd"),
	    POLICY_DENY);
	assert_int_equal(file(cfg, "write", "/work/dir/secret/k", NULL),
	    POLICY_DENY);
	assert_int_equal(file(cfg, "write", "/work/dir/secretary", NULL),
	    POLICY_ALLOW);
	assert_int_equal(file(cfg, "read", NULL, NULL), POLICY_ASK);
	assert_int_equal(eval(cfg, &r, "workspace allowPaths: /srv/ws"),
	    POLICY_ALLOW);
	r.path = "/srv/wsx";
	assert_int_equal(eval(cfg, &r, NULL), POLICY_ASK);
	r.path = "x";
	r.cwd = "relative";	/* no working directory to resolve against */
	assert_int_equal(eval(cfg, &r, NULL), POLICY_ASK);
	policy_config_free(cfg);
	/* With no config, the working directory still counts. */
	assert_int_equal(file(NULL, "write", "/work/dir/x", NULL),
	    POLICY_ALLOW);
	assert_int_equal(file(NULL, "write", "/work/x", NULL), POLICY_ASK);
	cfg = cfg_parse("{\"allowPaths\":[\"/\"]}");
	assert_int_equal(file(cfg, "write", "/anything", NULL), POLICY_ALLOW);
	policy_config_free(cfg);
}

static enum policy_verdict
url(const struct policy_config *cfg, const char *u)
{
	struct policy_request	r = { .kind = "url", .url = u };

	return (eval(cfg, &r, NULL));
}

static void
test_config_urls(void **state)
{
	struct policy_config	*cfg;
	size_t			 i;
	static const char *const allow[] = {
		"https://example.com/x", "https://api.example.com",
		"http://a.b.example.com:8080/p?q#f", "https://EXAMPLE.com:8443/",
		"https://example.com./", "https://evil.com@example.com/",
		"https://u:p@docs.example.com", "http://[::1]:8080/",
		"HTTPS://Example.Com", "https://x.org/", "http://10.0.0.1/",
	};
	static const char *const ask[] = {
		"https://evil-example.com/", "https://example.com.evil.com/",
		"https://example.com@evil.com/", "https://a@b@example.com/",
		"https://example.com\\@evil.com/", "ftp://example.com/",
		"file:///etc/passwd", "https://exa%6dple.com/",
		"https://example.com :80/", "https://example.com:8a/",
		"https://notexample.com", "https://.example.com",
		"https://a..example.com", "https://[::2]/", "example.com",
		"https:example.com", "https://", "http://[::1/",
		"https://5.10.0.0.1/", "https://evil.com/example.com",
		"https://evil.com?example.com", "https://evil.com#@example.com",
	};

	cfg = cfg_parse("{\"allowUrls\":[\"example.com\",\"[::1]\","
	    "\"10.0.0.1\"],\"allow\":[\"url(x.org)\"],"
	    "\"deny\":[\"url(bad.example.com)\"]}");
	for (i = 0; i < nitems(allow); i++)
		if (url(cfg, allow[i]) != POLICY_ALLOW)
			fail_msg("not allowed: %s", allow[i]);
	for (i = 0; i < nitems(ask); i++)
		if (url(cfg, ask[i]) != POLICY_ASK)
			fail_msg("not asked: %s", ask[i]);
	assert_int_equal(url(cfg, "https://bad.example.com/"), POLICY_DENY);
	assert_int_equal(url(cfg, "https://x.bad.example.com/"), POLICY_DENY);
	assert_int_equal(url(cfg, NULL), POLICY_ASK);
	policy_config_free(cfg);
}

/* ---- stored rules -------------------------------------------------------- */

static enum policy_verdict
stored(const struct policy_rule *rules, size_t n, const char *kind,
    const char *cmd, const char *rule)
{
	struct policy_request	r = { .kind = kind, .command = cmd,
	    .path = cmd, .cwd = "/w" };
	struct policy_decision	d;
	enum policy_verdict	v = policy_stored_eval(rules, n, &r, &d);

	assert_int_equal(v, d.verdict);
	if (v != POLICY_ASK)
		assert_int_equal(d.source, POLICY_SRC_STORED);
	if (rule != NULL)
		assert_string_equal(d.rule, rule);
	return (v);
}

static void
test_stored(void **state)
{
	static const struct policy_rule	rules[] = {
		{ "shell", "ls", 1 }, { "shell", "grep", 1 },
		{ "shell", "rm", 0 }, { "shell", "sudo", 1 },
		{ "shell", "grep", 0 },		/* older: the first wins */
		{ "read", "/w/a", 1 }, { "mcp:github", "*", 1 },
		{ "mcp:evil", "*", 0 }, { "write", "*", 0 },
		{ "weather", "*", 1 },
	}, star[] = { { "shell", "*", 1 } };
	struct policy_request	r = { .kind = "mcp", .server = "github",
	    .tool = "anything" };
	struct policy_decision	d;

	assert_int_equal(stored(rules, nitems(rules), "shell", "ls -la",
	    "shell(ls)"), POLICY_ALLOW);
	assert_int_equal(stored(rules, nitems(rules), "shell",
	    "ls && grep x | grep y", NULL), POLICY_ALLOW);
	assert_int_equal(stored(rules, nitems(rules), "shell", "ls && cat x",
	    NULL), POLICY_ASK);
	assert_int_equal(stored(rules, nitems(rules), "shell", "ls $(cat x)",
	    NULL), POLICY_ASK);
	assert_int_equal(stored(rules, nitems(rules), "shell", "ls; rm x",
	    "shell(rm)"), POLICY_DENY);
	assert_int_equal(stored(rules, nitems(rules), "shell", "ls `rm x`",
	    NULL), POLICY_DENY);
	/* A wrapper, a variable, a write: never allowed by a stored rule. */
	assert_int_equal(stored(rules, nitems(rules), "shell", "sudo ls",
	    NULL), POLICY_ASK);
	assert_int_equal(stored(rules, nitems(rules), "shell", "FOO=1 ls",
	    NULL), POLICY_ASK);
	assert_int_equal(stored(rules, nitems(rules), "shell", "ls > x",
	    NULL), POLICY_ASK);
	assert_int_equal(stored(rules, nitems(rules), "shell",
	    "if ls; then grep x; fi", NULL), POLICY_ALLOW);
	assert_int_equal(stored(star, 1, "shell", "anything at all", "shell"),
	    POLICY_ALLOW);
	assert_int_equal(stored(star, 1, "shell", "bash -c x", NULL),
	    POLICY_ASK);
	assert_int_equal(stored(star, 1, "shell", "", "shell"), POLICY_ALLOW);
	assert_int_equal(stored(rules, nitems(rules), "read", "/w/a",
	    "read(/w/a)"), POLICY_ALLOW);
	assert_int_equal(stored(rules, nitems(rules), "read", "a", NULL),
	    POLICY_ALLOW);
	assert_int_equal(stored(rules, nitems(rules), "read", "/w/b", NULL),
	    POLICY_ASK);
	assert_int_equal(stored(rules, nitems(rules), "write", "/w/b",
	    "write"), POLICY_DENY);
	assert_int_equal(stored(rules, nitems(rules), "url", NULL, NULL),
	    POLICY_ASK);
	assert_int_equal(stored(NULL, 0, "shell", "ls", NULL), POLICY_ASK);
	assert_int_equal(policy_stored_eval(rules, nitems(rules), &r, &d),
	    POLICY_ALLOW);
	assert_string_equal(d.rule, "mcp:github");
	r.server = "evil";
	assert_int_equal(policy_stored_eval(rules, nitems(rules), &r, &d),
	    POLICY_DENY);
	r.kind = "custom-tool";
	r.server = NULL;
	r.tool = "weather";
	assert_int_equal(policy_stored_eval(rules, nitems(rules), &r, &d),
	    POLICY_ALLOW);
	assert_string_equal(d.rule, "weather");
}

static void
remember(const struct policy_request *r, const char *want)
{
	struct policy_rule	*rules;
	char			 got[512] = "", spec[256];
	size_t			 n, i;

	assert_int_equal(policy_remember(r, 1, &rules, &n), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(rules[i].allow, 1);
		assert_int_equal(policy_rule_spec(rules[i].tool,
		    rules[i].pattern, spec, sizeof(spec)), 0);
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
		    i > 0 ? " " : "", spec);
	}
	free(rules);
	assert_string_equal(got, want);
}

static void
test_remember(void **state)
{
	struct policy_request	 r = { .kind = "shell",
	    .command = "ls -la && grep foo . | head -3; ls", .cwd = "/w" };
	struct policy_rule	*rules;
	struct policy_decision	 d;
	size_t			 n;

	remember(&r, "shell(ls) shell(grep) shell(head)");
	/* What was remembered allows the same request next time. */
	assert_int_equal(policy_remember(&r, 1, &rules, &n), 0);
	assert_int_equal(policy_stored_eval(rules, n, &r, &d), POLICY_ALLOW);
	free(rules);
	assert_int_equal(policy_remember(&r, 0, &rules, &n), 0);
	assert_int_equal(rules[0].allow, 0);
	assert_int_equal(policy_stored_eval(rules, n, &r, &d), POLICY_DENY);
	free(rules);
	r.command = "echo $(date) > /dev/null";
	remember(&r, "shell(echo) shell(date)");
	r.command = "FOO=1";		/* no program: nothing, never "*" */
	remember(&r, "");
	r.command = "";
	remember(&r, "");
	r = (struct policy_request){ .kind = "mcp", .server = "github",
	    .tool = "list" };
	remember(&r, "mcp:github");
	r = (struct policy_request){ .kind = "read", .path = "src/../a.c",
	    .cwd = "/w" };
	remember(&r, "read(/w/a.c)");
	r = (struct policy_request){ .kind = "write", .path = "/w/a.c" };
	remember(&r, "write");
	r = (struct policy_request){ .kind = "url", .url = "https://x/" };
	remember(&r, "url");
	r = (struct policy_request){ .kind = "custom-tool", .tool = "wx" };
	remember(&r, "wx");
	r = (struct policy_request){ .kind = NULL };
	remember(&r, "unknown");
}

static void
test_rule_spec(void **state)
{
	char	buf[16], *tool, *pat;

	assert_int_equal(policy_rule_spec("shell", "*", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "shell");
	assert_int_equal(policy_rule_spec("shell", "ls", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "shell(ls)");
	assert_int_equal(policy_rule_spec("shell", "a-very-long-name", buf,
	    sizeof(buf)), -1);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(policy_rule_spec_parse("shell(ls)", &tool, &pat), 0);
	assert_string_equal(tool, "shell");
	assert_string_equal(pat, "ls");
	free(tool);
	free(pat);
	assert_int_equal(policy_rule_spec_parse(" mcp:github ", &tool, &pat),
	    0);
	assert_string_equal(tool, "mcp:github");
	assert_string_equal(pat, "*");
	free(tool);
	free(pat);
	assert_int_equal(policy_rule_spec_parse("read(/a/b(1).txt)", &tool,
	    &pat), 0);
	assert_string_equal(tool, "read");
	assert_string_equal(pat, "/a/b(1).txt");
	free(tool);
	free(pat);
	assert_int_equal(policy_rule_spec_parse("shell(", &tool, &pat), -1);
	assert_null(tool);
	assert_int_equal(policy_rule_spec_parse("", &tool, &pat), -1);
	assert_int_equal(policy_rule_spec_parse("(x)", &tool, &pat), -1);
	assert_int_equal(policy_rule_spec_parse("x()", &tool, &pat), -1);
	assert_int_equal(policy_rule_spec_parse("x)", &tool, &pat), -1);
}

/* ---- the order ----------------------------------------------------------- */

static void
test_decide_order(void **state)
{
	struct policy_config		*cfg;
	struct policy_decision		 d;
	static const struct policy_rule	 allow_rm[] = { { "shell", "rm", 1 },
	    { "shell", "ls", 1 } };
	struct policy_request		 r = { .kind = "shell",
	    .command = "rm -rf /", .cwd = "/w" };

	cfg = cfg_parse("{\"deny\":[\"shell(rm)\"],\"allow\":[\"shell\"]}");
	/* Hard denies: before everything, autopilot and bridge included. */
	policy_decide(&r, cfg, 1, allow_rm, 2, 1, &d);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(d.source, POLICY_SRC_HARD);
	assert_string_equal(d.rule, "shell(rm -rf /)");
	/* Autopilot comes before the config's deny. */
	r.command = "rm x";
	policy_decide(&r, cfg, 1, NULL, 0, 0, &d);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_int_equal(d.source, POLICY_SRC_AUTOPILOT);
	/* The config's deny comes before a stored allow. */
	policy_decide(&r, cfg, 0, allow_rm, 2, 0, &d);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(d.source, POLICY_SRC_CONFIG);
	assert_string_equal(d.rule, "shell(rm)");
	policy_config_free(cfg);
	/* No config decision: the stored rules, else ask. */
	policy_decide(&r, NULL, 0, allow_rm, 2, 0, &d);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_int_equal(d.source, POLICY_SRC_STORED);
	r.command = "cat x";
	policy_decide(&r, NULL, 0, allow_rm, 2, 0, &d);
	assert_int_equal(d.verdict, POLICY_ASK);
	assert_int_equal(d.source, POLICY_SRC_NONE);
	assert_null(d.reason);
	assert_string_equal(d.rule, "");
	/* Bridge tools: custom-tool only. */
	r = (struct policy_request){ .kind = "custom-tool", .tool = "send_file" };
	policy_decide(&r, NULL, 0, NULL, 0, 1, &d);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_int_equal(d.source, POLICY_SRC_BRIDGE);
	assert_string_equal(d.rule, "send_file");
	policy_decide(&r, NULL, 0, NULL, 0, 0, &d);
	assert_int_equal(d.verdict, POLICY_ASK);
	r.kind = "mcp";
	policy_decide(&r, NULL, 0, NULL, 0, 1, &d);
	assert_int_equal(d.verdict, POLICY_ASK);
	/* A read inside the working directory, with nothing configured. */
	r = (struct policy_request){ .kind = "read", .path = "/w/a",
	    .cwd = "/w" };
	policy_decide(&r, NULL, 0, NULL, 0, 0, &d);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_int_equal(d.source, POLICY_SRC_CONFIG);
	assert_string_equal(d.rule, "workingDirectory");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hard_upstream),
		cmocka_unit_test(test_hard_rm_spellings),
		cmocka_unit_test(test_hard_others),
		cmocka_unit_test(test_hard_unwrapping),
		cmocka_unit_test(test_hard_data),
		cmocka_unit_test(test_hard_limits),
		cmocka_unit_test(test_config_parse_errors),
		cmocka_unit_test(test_config_shell),
		cmocka_unit_test(test_config_mcp_and_tools),
		cmocka_unit_test(test_config_paths),
		cmocka_unit_test(test_config_urls),
		cmocka_unit_test(test_stored),
		cmocka_unit_test(test_remember),
		cmocka_unit_test(test_rule_spec),
		cmocka_unit_test(test_decide_order),
	};

	return (cmocka_run_group_tests_name("policy", tests, NULL, NULL));
}
