/*
 * thread: the text rules of threads, pure.  A message asks for a threaded
 * reply with "🧵", ":thread:" or "reply in thread" (docs/commands.md,
 * Threads); the trigger is taken out of the text first, as upstream does.
 */
#ifndef SESSIOND_THREAD_H
#define SESSIOND_THREAD_H

/*
 * Take the thread triggers out of text, in place (the text only
 * shortens): 1 if there was one (the text is then trimmed), else 0 (the
 * text is untouched).  text is NUL-terminated.
 */
int		 thread_strip(char *text);
/*
 * The post id a thread rooted at message id has: id itself, or for an id
 * "<channel>:<ts>" (Slack's message ids) the bare ts, which is what a
 * reply in that thread names as its root.
 */
const char	*thread_post(const char *id, const char *channel);

#endif
