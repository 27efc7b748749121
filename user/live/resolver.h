/* SPDX-License-Identifier: MIT */
/*
 * Reverse DNS for the live view, as iftop does it: names are looked up by
 * one worker thread with getnameinfo() (so /etc/hosts, DNS and whatever
 * else nsswitch.conf lists answer, in its order), kept in a bounded cache,
 * and asked for without ever waiting: a screen refresh gets a name that
 * is known, or asks for it and shows the address until the answer is in.
 */
#ifndef ITM_RESOLVER_H
#define ITM_RESOLVER_H

#include <netinet/in.h>
#include <stddef.h>

struct resolver;

/* Starts the worker thread; NULL with errno set. */
struct resolver *resolver_open(void);
/* Never waits for a lookup in progress: the worker finishes it alone. */
void resolver_close(struct resolver *r);
/*
 * 1 with the name in buf, -ENOENT when the address has none, 0 while the
 * lookup is queued or in progress (then ask again later).
 */
int resolver_name(struct resolver *r, const struct in6_addr *a, char *buf,
		  size_t len);

#endif
