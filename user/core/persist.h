/* SPDX-License-Identifier: MIT */
/*
 * The drain -> commit protocol of --db: how counts move from the kernel's
 * maps into the database so that a kill -9 at any instant loses nothing
 * and counts nothing twice.  The argument is in persist.c.
 *
 * Two threads: the collector's (persist_drain() and everything else here,
 * always under the collector's lock, never touching the database) and
 * persist's own writer thread, the only one that uses the store once
 * persist_new() returned (commit, emptying committed maps, rollups).
 */
#ifndef ITM_PERSIST_H
#define ITM_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "itm_shared.h"
#include "loader.h"
#include "map_rows.h"
#include "store.h"

struct geo_labels;
struct persist;

struct persist_cb {
	/* Add a delta of interface iface (an index) to the tables; 0/-errno. */
	int (*apply)(void *ctx, size_t iface, const struct itm_key *k,
		     const struct itm_value *delta);
	/*
	 * The labels (interned: they outlive the commit) and process name
	 * ("": none) a row of k is stored with.
	 */
	void (*describe)(void *ctx, const struct itm_key *k,
			 const struct geo_labels **geo,
			 char process[ITM_COMM_LEN]);
	/*
	 * Optional, with persist_outbox_open(): what commit `seq` (made at
	 * unix time ts_ms) stored for interface iface, handed to the IPFIX
	 * exporter once committed (under the collector's lock), and at
	 * set-up what the outbox holds after the collector's position.
	 */
	void (*committed)(void *ctx, size_t iface, uint64_t seq, int64_t ts_ms,
			  const struct store_outbox_rec *recs, size_t n);
	void *ctx;
};

/*
 * Reads (and on fresh maps writes) each interface's itm_meta, and decides
 * which swapped-out map contents are already committed (deleted now) and
 * which are not (the first drain applies and commits them).  Before any
 * other thread runs: it reads the store itself.  Prints one line and
 * returns -errno on error.
 */
int persist_new(struct persist **out, struct store *store,
		struct iface_monitor *const *ifaces, size_t n,
		const struct persist_cb *cb);
/*
 * With --db and --ipfix, at set-up: every commit also writes its records
 * to the store's IPFIX outbox for `collector`, and the outbox's content
 * after the collector's position goes to cb.committed now.  Returns
 * -errno (logged).
 */
int persist_outbox_open(struct persist *p, const char *collector,
			int64_t *pos_ts);
/*
 * The collector has everything up to commit seq (made at ts_ms): the next
 * commit stores that position and deletes the outbox up to it.  Any
 * thread.
 */
void persist_outbox_ack(struct persist *p, uint64_t seq, int64_t ts_ms);
/*
 * At exit, after the last drain and flush (the writer idle): store the
 * latest position in a transaction of its own.  0 or -errno (logged).
 */
int persist_outbox_final(struct persist *p);
/* Lets the writer finish what it holds, then stops it.  Accepts NULL. */
void persist_free(struct persist *p);

/*
 * One drain of every interface, under the collector's lock and without
 * any I/O: takes the result of the writer's last commit, swaps and reads
 * the maps, applies the counts, and hands what is to be committed (a copy)
 * to the writer, at wall time `now`, if it is idle.  While it is busy (or
 * the store fails) the swapped-out maps wait, the active ones are read
 * without deleting anything, and the next drain hands them over.  Returns
 * the first drain error; a failed commit is logged once per condition.
 */
int persist_drain(struct persist *p, int64_t now);
/* Take the writer's result, if any, without draining (under the lock). */
void persist_collect(struct persist *p);
/* Wait until the writer holds no commit (call WITHOUT the lock). */
void persist_wait(struct persist *p);
/*
 * Nothing waits for the writer and nothing more can be stored now: all
 * committed, or the last commit failed.  Under the lock.
 */
bool persist_settled(struct persist *p);
/* Nothing is left uncommitted in any map. */
bool persist_clean(struct persist *p);

/* Interface i's cumulative counters as /metrics shows them. */
const struct itm_counter *persist_shown(const struct persist *p, size_t i);
/*
 * What /metrics counts but the store does not have yet, under the lock:
 * rows (address, process) of maps swapped out and waiting for their
 * commit (handed to the writer, or held back while it is busy or the
 * store fails), plus those a still-active map gathered meanwhile, and
 * the tx+rx IP-layer bytes they hold.  0 without a store.
 */
void persist_backlog(const struct persist *p, uint64_t *rows, uint64_t *bytes);
/* Counts go to a database (--db), not only kept in maps. */
bool persist_has_store(const struct persist *p);
/* Slots interface i's map held at the last drain (0: unread). */
size_t persist_entries(const struct persist *p, size_t i);
/*
 * --xdp: received bytes and packets of interface i that memory applied
 * under pid 0 before they moved to a process in the map (rxmove.h), left
 * under pid 0 when that map was drained; cumulative.
 */
const struct itm_counter *persist_missed(const struct persist *p, size_t i);

#endif
