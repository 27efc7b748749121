// SPDX-License-Identifier: MIT
#include "resolver.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/*
 * Direct-mapped: a newer address takes an older one's slot.  A screen
 * shows tens of rows and each row keeps its name once it has one, so the
 * cache only has to outlive the rows coming and going.
 */
#define CACHE_SLOTS 1024
/* Requests beyond these wait for a later refresh to ask again. */
#define QUEUE_LEN 64

enum slot_state { SLOT_EMPTY, SLOT_PENDING, SLOT_NAME, SLOT_NONE };

struct slot {
	struct in6_addr addr;
	uint8_t state; /* enum slot_state */
	char name[NI_MAXHOST];
};

struct resolver {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	/* Two owners, the view and the worker: the last to leave frees. */
	int refs;
	bool stop;
	struct in6_addr queue[QUEUE_LEN];
	size_t head, count;
	struct slot cache[CACHE_SLOTS];
};

static size_t slot_of(const struct in6_addr *a)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ a->s6_addr[i]) * 16777619u;
	return h % CACHE_SLOTS;
}

/* Drops a reference with the lock held; unlocks, and frees at the last. */
static void put_ref(struct resolver *r)
{
	bool last = --r->refs == 0;

	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	free(r);
}

static void lookup(const struct in6_addr *a, char *name, size_t len,
		   bool *found)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a->s6_addr + 12, 4);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = *a;
		sl = sizeof(*s6);
	}
	/* NI_NAMEREQD: no name is an answer, not the address as text. */
	*found = !getnameinfo((struct sockaddr *)&ss, sl, name, (socklen_t)len,
			      NULL, 0, NI_NAMEREQD);
}

static void *worker(void *arg)
{
	struct resolver *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct in6_addr a;
		char name[NI_MAXHOST];
		struct slot *s;
		bool found;

		while (!r->stop && !r->count)
			pthread_cond_wait(&r->wake, &r->lock);
		if (r->stop)
			break;
		a = r->queue[r->head];
		r->head = (r->head + 1) % QUEUE_LEN;
		r->count--;
		/* The lookup may take seconds: never under the lock. */
		pthread_mutex_unlock(&r->lock);
		lookup(&a, name, sizeof(name), &found);
		pthread_mutex_lock(&r->lock);
		s = &r->cache[slot_of(&a)];
		if (s->state == SLOT_PENDING &&
		    !memcmp(&s->addr, &a, sizeof(a))) {
			s->state = found ? SLOT_NAME : SLOT_NONE;
			if (found)
				memcpy(s->name, name, sizeof(s->name));
		}
	}
	put_ref(r);
	return NULL;
}

struct resolver *resolver_open(void)
{
	struct resolver *r = calloc(1, sizeof(*r));
	pthread_attr_t attr;
	pthread_t th;
	int err;

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	r->refs = 2;
	pthread_attr_init(&attr);
	/* Nobody joins it: a lookup stuck in a resolver must not hold exit. */
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&th, &attr, worker, r);
	pthread_attr_destroy(&attr);
	if (err) {
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->wake);
		free(r);
		errno = err;
		return NULL;
	}
	return r;
}

void resolver_close(struct resolver *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	put_ref(r);
}

int resolver_name(struct resolver *r, const struct in6_addr *a, char *buf,
		  size_t len)
{
	struct slot *s = &r->cache[slot_of(a)];
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	if (s->state != SLOT_EMPTY && !memcmp(&s->addr, a, sizeof(*a))) {
		if (s->state == SLOT_NAME) {
			snprintf(buf, len, "%s", s->name);
			ret = 1;
		} else if (s->state == SLOT_NONE) {
			ret = -ENOENT;
		}
	} else if (r->count < QUEUE_LEN) {
		s->addr = *a;
		s->state = SLOT_PENDING;
		r->queue[(r->head + r->count++) % QUEUE_LEN] = *a;
		pthread_cond_signal(&r->wake);
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}
