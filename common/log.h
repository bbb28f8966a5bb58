/*
 * log: one line per event, to stderr (journald) or to a file in logDir.
 *
 * Line format: "<RFC3339 UTC ms> <LEVEL> <process>[<pid>] <bot> g<gen>: <message>".
 * Every process of the tree writes the same shape, so one grep follows a bot
 * across supervisor, sessiond and its workers.  Tokens are never passed here
 * in full: use log_redact().
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LDEBUG = 0,
	LOG_LINFO,
	LOG_LWARN,
	LOG_LERROR
};

void	 log_init(const char *proc, const char *bot, int gen);
void	 log_set_identity(const char *bot, int gen);
int	 log_open(const char *dir, const char *file);
int	 log_reopen(void);
const char *log_path(void);
void	 log_set_level(enum log_level);
enum log_level log_get_level(void);
int	 log_parse_level(const char *, enum log_level *);
const char *log_level_name(enum log_level);
const char *log_redact(const char *secret, char *buf, size_t len);

void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_errorx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
