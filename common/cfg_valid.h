/*
 * cfg_valid: the validation table of the config.  Internal to the config
 * files.
 */
#ifndef COMMON_CFG_VALID_H
#define COMMON_CFG_VALID_H

#include <stddef.h>

#include <jansson.h>

#include "util.h"

#define CFG_MILLIS_MAX	600000
#define CFG_CONCURRENCY_MAX 1000	/* reloadPlatformConcurrency */
#define CFG_FILE_MIB_MAX	4096	/* files.maxFileMiB, maxMessageMiB */
#define CFG_TEMP_HOURS_MAX	8760	/* files.tempMaxAgeHours: a year */
#define CFG_ENOMEM	"out of memory"

/* Where a check puts its complaint. */
struct cfg_err {
	char	*buf;
	size_t	 len;
};

/* Fill e with the complaint and return -1. */
#define cfg_fail(e, ...)	util_err((e)->buf, (e)->len, __VA_ARGS__)

/* 0, or -1 with upstream's text in e; normalises user lists in place. */
int	cfg_valid(struct cfg_err *e, json_t *root);

#endif
