/*
 * inbound: the gate every INBOUND passes before it reaches a channel.
 */
#ifndef SESSIOND_INBOUND_H
#define SESSIOND_INBOUND_H

#include <jansson.h>

struct link;

void	inbound_msg(struct link *, json_t *msg);

#endif
