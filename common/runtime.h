/*
 * runtime: where the Copilot runtime is, for sessiond (which runs it) and
 * for `copilot-bridge run --check` (which warns when there is none).
 */
#ifndef COMMON_RUNTIME_H
#define COMMON_RUNTIME_H

#include <stddef.h>

/* The runtime's name on PATH. */
#define RUNTIME_NAME	"copilot-runtime"
/* The npm package's executable, below the directory npm installed into. */
#define RUNTIME_PKG_BIN	"node_modules/@github/copilot-sdk-linux-x64/" \
			"prebuilds/linux-x64/copilot-runtime"
/*
 * Where copilot-bridge-install-runtime (`make runtime`) puts the package,
 * relative to PREFIX: our binaries are in PREFIX/bin.
 */
#define RUNTIME_INSTALL_DIR	"lib/copilot-bridge/runtime"

/* Where a runtime was found, in the order it is looked for. */
enum runtime_from {
	RUNTIME_NONE,
	RUNTIME_CONFIG,		/* session.runtimePath */
	RUNTIME_INSTALLED,	/* <exedir>/../RUNTIME_INSTALL_DIR */
	RUNTIME_PATH,		/* RUNTIME_NAME on PATH */
	RUNTIME_TREE		/* the source tree's tests/node_modules */
};

/*
 * The runtime to run: configured (session.runtimePath, NULL or "" when
 * unset; a bare name is looked up on PATH, and nothing else is tried when
 * it is set), else the default places in order.  exedir is the directory
 * of our binaries, NULL for the running executable's.  The path goes to
 * out; RUNTIME_NONE if there is none.
 */
enum runtime_from runtime_find(const char *configured, const char *exedir,
	    char *out, size_t len);
/* The places runtime_find() looks, in words, for a message. */
void	 runtime_places(const char *configured, const char *exedir,
	    char *buf, size_t len);
const char *runtime_from_name(enum runtime_from);

#endif
