/*
 * dedup: the set of inbound message ids seen recently, per bot.
 *
 * During a swap two generations of a worker are connected at once and both
 * deliver every event (Mattermost) or the platform redelivers what was not
 * acknowledged (Slack).  An id is remembered for DEDUP_TTL_MS, longer than
 * Slack's retry window, in a fixed-size table: the oldest entry is evicted
 * when full, so memory is bounded whatever the traffic.
 *
 * An entry holds the first 128 bits of the SHA-256 of "bot\nid", not the
 * text: 32 bytes and no allocation per message, so the table costs 32
 * bytes a message until it is full (2 MB) and nothing after, and a burst
 * allocates nothing.  Two different messages would have to agree on those
 * 128 bits to be taken for one (among 65,536 kept: about 1 in 10^34 per
 * message); ids come from the platform, not from users.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "sessiond.h"

#define DEDUP_SLOTS	(1 << 16)	/* entries kept at most */
#define DEDUP_BUCKETS	(1 << 17)

struct dedup_ent {
	uint64_t	 h[2];		/* the digest; both 0 when free */
	uint64_t	 at_ms;
	uint32_t	 next;		/* bucket chain, index + 1; 0 ends */
	uint32_t	 used;
};

static struct {
	struct dedup_ent	*ents;		/* ring in insertion order */
	uint32_t		*buckets;	/* index + 1 of the first entry */
	uint32_t		 head;		/* next slot to (re)use */
} D;

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

/* Unlink slot i from its bucket chain. */
static void
dedup_evict(uint32_t i)
{
	struct dedup_ent	*e = &D.ents[i];
	uint32_t		*pp = &D.buckets[e->h[0] % DEDUP_BUCKETS];

	if (!e->used)
		return;
	while (*pp != 0 && *pp != i + 1)
		pp = &D.ents[*pp - 1].next;
	if (*pp == i + 1)
		*pp = e->next;
	memset(e, 0, sizeof(*e));
}

/* The digest of bot's id; -1 only if the hash cannot be computed. */
static int
dedup_digest(const char *bot, const char *id, uint64_t h[2])
{
	unsigned char	 md[32];
	char		 stack[256], *key = stack;
	size_t		 bl = strlen(bot), il = strlen(id), n = bl + il + 1;
	int		 rc;

	if (n > sizeof(stack) && (key = malloc(n)) == NULL)
		return (-1);
	memcpy(key, bot, bl);
	key[bl] = '\n';
	memcpy(key + bl + 1, id, il);
	rc = util_sha256(key, n, md);
	if (key != stack)
		free(key);
	if (rc == -1)
		return (-1);
	memcpy(h, md, 16);
	return (0);
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
	uint64_t		 h[2], now = util_now_ms();
	uint32_t		 i;

	if (dedup_init() == -1 || dedup_digest(bot, id, h) == -1)
		return (-1);
	for (i = D.buckets[h[0] % DEDUP_BUCKETS]; i != 0; i = e->next) {
		e = &D.ents[i - 1];
		if (e->h[0] == h[0] && e->h[1] == h[1] &&
		    now - e->at_ms < DEDUP_TTL_MS)
			return (1);
	}
	i = D.head;
	D.head = (D.head + 1) % DEDUP_SLOTS;
	dedup_evict(i);
	e = &D.ents[i];
	e->h[0] = h[0];
	e->h[1] = h[1];
	e->at_ms = now;
	e->used = 1;
	e->next = D.buckets[h[0] % DEDUP_BUCKETS];
	D.buckets[h[0] % DEDUP_BUCKETS] = i + 1;
	return (0);
}

void
dedup_free(void)
{
	if (D.ents == NULL)
		return;
	free(D.ents);
	free(D.buckets);
	memset(&D, 0, sizeof(D));
}
