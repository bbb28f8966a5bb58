/*
 * route: which generation of each bot new outbound work goes to, and what
 * that worker said about its platform (the bot's user id, the longest text
 * one post carries).  During a swap two generations are linked; ROUTE from
 * the supervisor moves the bot to the new one.
 */
#ifndef SESSIOND_ROUTE_H
#define SESSIOND_ROUTE_H

#include <stddef.h>

#include <jansson.h>

struct link;

void		 route_set(const char *bot, int gen, const char *user_id,
		    size_t post_max);
/* The link new work for bot goes to, or NULL (not routed, or not linked). */
struct link	*route_link(const char *bot);
/* Characters one post or edit of bot's platform carries whole; 0: unknown. */
size_t		 route_post_max(const char *bot);
/* Is user_id one of this bridge's bots? */
int		 route_is_bridge_bot(const char *user_id);
/* Count what a swap's overlap cost: duplicates dropped, ops re-sent. */
void		 route_count(const char *bot, unsigned int dups,
		    unsigned int resent);
/*
 * Generation gen of bot is gone.  If it was older than the routed one its
 * swap is over: returns the SWAP_STATS body (and resets the counts).
 */
json_t		*route_swap_over(const char *bot, int gen);
void		 route_free_all(void);

#endif
