/*
 * dedup: the set of inbound message ids seen recently, per bot.
 *
 * During a swap two generations of a worker are connected at once and both
 * deliver every event (Mattermost) or the platform redelivers what was not
 * acknowledged (Slack).  An id is remembered for DEDUP_TTL_MS, longer than
 * Slack's retry window, in a fixed-size table: the oldest entry is evicted
 * when full, so memory is bounded whatever the traffic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "sessiond.h"

#define DEDUP_SLOTS	(1 << 16)	/* entries kept at most */
#define DEDUP_BUCKETS	(1 << 17)

struct dedup_ent {
	uint64_t	 hash;
	uint64_t	 at_ms;
	uint32_t	 next;		/* bucket chain, index + 1; 0 ends */
	char		*key;		/* "bot\nid", or NULL when free */
};

static struct {
	struct dedup_ent	*ents;		/* ring in insertion order */
	uint32_t		*buckets;	/* index + 1 of the first entry */
	uint32_t		 head;		/* next slot to (re)use */
} D;

static uint64_t
dedup_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;	/* FNV-1a */

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return (h);
}

static int
dedup_init(void)
{
	if (D.ents != NULL)
		return (0);
	D.ents = calloc(DEDUP_SLOTS, sizeof(*D.ents));
	D.buckets = calloc(DEDUP_BUCKETS, sizeof(*D.buckets));
	if (D.ents == NULL || D.buckets == NULL) {
		free(D.ents);
		free(D.buckets);
		D.ents = NULL;
		D.buckets = NULL;
		return (-1);
	}
	return (0);
}

/* Unlink slot i from its bucket chain and free its key. */
static void
dedup_evict(uint32_t i)
{
	struct dedup_ent	*e = &D.ents[i];
	uint32_t		*pp = &D.buckets[e->hash % DEDUP_BUCKETS];

	if (e->key == NULL)
		return;
	while (*pp != 0 && *pp != i + 1)
		pp = &D.ents[*pp - 1].next;
	if (*pp == i + 1)
		*pp = e->next;
	free(e->key);
	memset(e, 0, sizeof(*e));
}

/*
 * Has bot delivered id within the TTL?  Returns 1 if so, 0 if not (and
 * remembers it now), -1 when out of memory (the caller treats the message
 * as new: a duplicate reply is better than a lost one).
 */
int
dedup_check(const char *bot, const char *id)
{
	struct dedup_ent	*e;
	uint64_t		 h, now = util_now_ms();
	uint32_t		 i;
	char			*key;
	size_t			 bl = strlen(bot), il = strlen(id);

	if (dedup_init() == -1 || (key = malloc(bl + il + 2)) == NULL)
		return (-1);
	memcpy(key, bot, bl);
	key[bl] = '\n';
	memcpy(key + bl + 1, id, il + 1);
	h = dedup_hash(key);
	for (i = D.buckets[h % DEDUP_BUCKETS]; i != 0; i = e->next) {
		e = &D.ents[i - 1];
		if (e->hash == h && strcmp(e->key, key) == 0 &&
		    now - e->at_ms < DEDUP_TTL_MS) {
			free(key);
			return (1);
		}
	}
	i = D.head;
	D.head = (D.head + 1) % DEDUP_SLOTS;
	dedup_evict(i);
	e = &D.ents[i];
	e->hash = h;
	e->at_ms = now;
	e->key = key;
	e->next = D.buckets[h % DEDUP_BUCKETS];
	D.buckets[h % DEDUP_BUCKETS] = i + 1;
	return (0);
}

void
dedup_free(void)
{
	uint32_t	i;

	if (D.ents == NULL)
		return;
	for (i = 0; i < DEDUP_SLOTS; i++)
		free(D.ents[i].key);
	free(D.ents);
	free(D.buckets);
	memset(&D, 0, sizeof(D));
}
