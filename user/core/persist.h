/* SPDX-License-Identifier: MIT */
/*
 * The drain -> commit protocol of --db: how counts move from the kernel's
 * maps into the database so that a kill -9 at any instant loses nothing
 * and counts nothing twice.  The argument is in persist.c.
 */
#ifndef ITM_PERSIST_H
#define ITM_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "itm_shared.h"
#include "loader.h"
#include "store.h"
#include "table.h"

struct geo_labels;

/* Rows read from one statistics map: key and per-CPU sum. */
struct map_rows {
	struct itm_key *keys;
	struct itm_value *vals;
	size_t n, cap;
};

struct persist_cb {
	/* Add a delta to the in-memory tables; 0 or -errno. */
	int (*apply)(void *ctx, const struct itm_key *k,
		     const struct itm_value *delta);
	/* The labels and process name a row of k is stored with. */
	void (*describe)(void *ctx, const struct itm_key *k,
			 const struct geo_labels **geo, const char **process);
	void *ctx;
};

/* One interface's maps (fds owned by the loader) and bookkeeping. */
/* One interface's bookkeeping; its maps and swap belong to the loader. */
struct persist_iface {
	struct iface_monitor *m;
	int64_t db_id;
	struct itm_meta meta;
	bool pending[2];   /* swapped out, applied in memory, not committed */
	bool unapplied[2]; /* adopted: swapped out by an earlier run, not
			      committed */
	bool undeleted[2]; /* committed, deleting its entries failed */
	uint64_t db_seq;   /* highest committed sequence number */
	bool have_snap[2];
	struct ip_table snap[2]; /* what of each map memory already has */
	struct itm_counter committed[ITM_CTR_MAX]; /* kernel, last commit */
	struct itm_counter offset[ITM_CTR_MAX];	   /* shown = kernel + offset */
	struct itm_counter cur[ITM_CTR_MAX];	   /* kernel, this drain */
	struct itm_counter shown[ITM_CTR_MAX];	   /* for /metrics */
	struct map_rows rows[2];
	bool in_commit[2];
	/* Slots the map programs count into held at this drain (0: unread). */
	size_t entries;
};

struct persist {
	struct store *store; /* NULL: adoption only, memory totals */
	struct persist_iface *ifs;
	size_t n;
	int ncpus;
	struct persist_cb cb;
	void *scratch; /* per-CPU values of one batch */
	int failing;   /* -errno of the condition last warned about; 0 */
	uint64_t commits, failures;
	size_t backlog;	 /* addresses held in memory snapshots */
	size_t applying; /* index of the interface cb.apply() gets rows of */
};

/*
 * Reads (and on fresh maps writes) each interface's itm_meta, and decides
 * which swapped-out map contents are already committed (deleted now) and
 * which are not (the first drain applies and commits them).  Prints one
 * line and returns -errno on error.
 */
int persist_init(struct persist *p, struct store *store,
		 struct iface_monitor *ifaces, size_t n,
		 const struct persist_cb *cb);
void persist_free(struct persist *p);

/*
 * One drain of every interface, committed in one transaction at wall
 * time `now`.  A failed commit is not an error for the caller: the counts
 * stay in the kernel maps (and, already applied, in memory), one warning
 * is logged per condition, and the next drain retries.
 */
int persist_drain(struct persist *p, int64_t now);
/* Nothing is left uncommitted in any map. */
bool persist_clean(const struct persist *p);

/* Kernel map helpers (also used by `detach` and the tests). */
int map_rows_read(int fd, int ncpus, void *scratch, size_t batch,
		  struct map_rows *r);
int map_rows_delete(int fd, const struct map_rows *r);
void map_rows_free(struct map_rows *r);

#endif
