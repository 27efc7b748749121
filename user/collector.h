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
/* Command name of a newly seen pid. */
typedef void (*collector_name_fn)(void *ctx, uint32_t pid,
				  char comm[ITM_COMM_LEN]);

struct collector_config {
	uint64_t threshold;	  /* -t, for both tables */
	collector_label_fn label; /* may be NULL */
	void *label_ctx;
	collector_name_fn name; /* NULL: no per-process table */
	void *name_ctx;
};

/* A pid seen gone, and since when (for --pid-retention). */
struct dead_pid {
	uint32_t pid;
	double since;
};

struct collector {
	pthread_mutex_t lock;  /* guards everything below */
	struct ip_table table; /* per remote address */
	struct ip_table procs; /* per (address, pid); if per_process */
	bool per_process;
	struct iface_monitor *ifaces;
	struct iface_stats *stats;
	size_t n_ifaces;
	struct collector_config cfg;
	struct dead_pid *dead;
	size_t n_dead;
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
		   size_t n_ifaces, const struct collector_config *cfg);
void collector_free(struct collector *c);
/* Drain every interface once; takes the lock. */
int collector_drain(struct collector *c);
/* Drain both maps of every interface; only after the programs detached. */
int collector_drain_final(struct collector *c);
/*
 * Forget per-process series of pids that exited more than retention
 * seconds ago (per-address totals keep their bytes).  Takes the lock.
 */
size_t collector_prune_exited(struct collector *c, double now,
			      double retention);

#endif
