/*
 * import: `copilot-bridge import-state [-c config] [--force] PATH`, an
 * upstream copilot-bridge's state.db taken into this bridge's
 * <stateDir>/state.db (common/db.c says what is taken and how).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/db.h"
#include "supervisor.h"

static int
import_usage(void)
{
	fprintf(stderr, "usage: copilot-bridge import-state [-c config] "
	    "[--force] PATH/TO/state.db\n");
	return (2);
}

int
import_main(int argc, char *argv[])
{
	static const struct option	 longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct db_report	 report;
	struct cfg		*cfg;
	struct db		*db;
	const char		*cfgarg = NULL;
	char			 path[4096], err[CFG_ERR_MAX + DB_ERR_MAX];
	int			 ch, force = 0, runs;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:f", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfgarg = optarg;
			break;
		case 'f':
			force = 1;
			break;
		default:
			return (import_usage());
		}
	}
	if (argc - optind != 1)
		return (import_usage());
	if (cfg_resolve_path(cfgarg, path, sizeof(path)) == -1) {
		fprintf(stderr, "import-state: cannot find the config; use -c\n");
		return (1);
	}
	if ((cfg = cfg_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "import-state: %s\n", err);
		return (1);
	}
	if ((runs = control_answers(cfg->control_socket)) != 0 && !force) {
		if (runs == 1)
			fprintf(stderr, "import-state: the bridge is running "
			    "(%s answers). Stop it first, or give --force: the "
			    "running sessiond keeps its own copy of the state in "
			    "memory, does not see what is imported until it "
			    "restarts, and may write over an imported row it "
			    "holds too.\n", cfg->control_socket);
		else
			fprintf(stderr, "import-state: cannot tell whether the "
			    "bridge is running (%s: %s); stop it, or give "
			    "--force\n", cfg->control_socket, strerror(errno));
		cfg_free(cfg);
		return (1);
	}
	if ((db = db_open(cfg->state_dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "import-state: %s\n", err);
		cfg_free(cfg);
		return (1);
	}
	cfg_free(cfg);
	if (db_import_upstream(db, argv[optind], &report, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "import-state: %s\n", err);
		db_close(db);
		return (1);
	}
	printf("import-state: %s into %s\n", argv[optind], db_path(db));
	db_report_print(&report, stdout);
	db_report_free(&report);
	db_close(db);
	return (0);
}
