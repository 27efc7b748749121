/* SPDX-License-Identifier: MIT */
/*
 * Moves counts from the kernel into the cumulative table: swap the active
 * per-CPU map for the empty spare (the update returns after an RCU grace
 * period, so no program still writes to the old one), then drain the old
 * one with lookup-and-delete, summing the CPUs.
 */
#ifndef ITM_COLLECTOR_H
#define ITM_COLLECTOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "loader.h"
#include "metrics.h"
#include "table.h"

/* Labels for a newly seen address (NULL: all "Unknown"). */
typedef const struct geo_labels *(*collector_label_fn)(
	void *ctx, const struct in6_addr *addr);

struct collector {
	pthread_mutex_t lock;	/* guards everything below */
	struct ip_table table;
	struct iface_monitor *ifaces;
	struct iface_stats *stats;
	size_t n_ifaces;
	collector_label_fn label;	/* may be NULL */
	void *label_ctx;
	bool lock_ready;
	double start_time;
	uint64_t drains;
	/* scratch for batch reads */
	struct itm_key *keys;
	void *values;
	size_t batch;
	int ncpus;
};

int collector_init(struct collector *c, struct iface_monitor *ifaces,
		   size_t n_ifaces, uint64_t threshold,
		   collector_label_fn label, void *label_ctx);
void collector_free(struct collector *c);
/* Drain every interface once; takes the lock. */
int collector_drain(struct collector *c);
/* Drain both maps of every interface; only after the programs detached. */
int collector_drain_final(struct collector *c);

#endif
