/*
 * version: what `copilot-bridge --version` says.  The number is the
 * VERSION file's, the revision the build's git commit (the Makefile
 * passes both in).
 */
#ifndef COMMON_VERSION_H
#define COMMON_VERSION_H

#include <stdio.h>

const char	*version_number(void);
const char	*version_revision(void);
/* The version, the revision and each library's version at run time. */
void		 version_print(FILE *);

#endif
