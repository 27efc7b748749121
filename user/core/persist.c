// SPDX-License-Identifier: MIT
/*
 * Drain -> commit, so that a kill -9 at any instant loses nothing.
 *
 * The programs count into the statistics map the one-slot itm_active
 * points at; the other one is empty.  One drain of an interface:
 *
 *   1. seq[old] = next_seq++ is written to the pinned itm_meta map;
 *   2. itm_active is pointed at the empty map (the update returns after an
 *      RCU grace period: no program still writes into the old one);
 *   3. the old map is READ (lookup, no delete) and the counts applied to
 *      the in-memory tables;
 *   4. one SQLite transaction adds the rows to the current bucket AND sets
 *      the interface's committed sequence number to seq[old] (and the
 *      kernel's cumulative non-IP/malformed/overflow counters it covers);
 *   5. only after COMMIT returns are the old map's entries deleted.
 *
 * Every byte is therefore always in a kernel map or committed, and the
 * database says which: after a crash, the next start adopts the pinned
 * maps and looks at the swapped-out one.  If its seq is <= the committed
 * one, the crash came between 4 and 5 (its contents are in the database):
 * it is emptied without counting.  Otherwise the crash came before 4: it
 * is committed now.  The active map was never committed; it is drained
 * normally.  A crash between 1 and 2 leaves the old map active, so its
 * seq is never looked at.  Sequence numbers only grow, and a new seq is
 * handed out only when no map is waiting to be committed, so "seq <=
 * committed" means exactly "committed".  The kernel's cumulative counters
 * work the same way: the database holds the values its rows account for,
 * so the next commit adds exactly the difference.  itm_meta.instance (a
 * random number per set of maps) tells a restart whether the database's
 * numbers refer to these maps at all.
 *
 * When a commit fails (disk full, database locked or deleted), nothing is
 * deleted: the old map stays swapped out as "pending".  Its counts are
 * already in memory and are never applied again.  While a map is pending
 * no new swap happens (it would need the pending map as the empty spare):
 * each drain retries the commit, and reads the active map without
 * deleting anything to keep /metrics current, remembering per key what it
 * applied (the snapshot) so that the eventual drain of that map applies
 * only the rest.  The counts themselves wait in the kernel; user space
 * holds only that snapshot, at most one map's keys (--map-size), and the
 * warning reports both.
 *
 * Steps 1-3 run in the collector's thread under its lock (they need the
 * tables); steps 4 and 5 and the rollups run on persist's writer thread,
 * which alone uses the store, so that no scrape ever waits for a disk or
 * a database server.  The drain hands the writer a copy of the rows to
 * commit (a queue of one: at most one commit in flight) and goes on; while
 * the writer holds it, its maps count as pending above: not swapped, the
 * active one read without deleting.  The drain after the writer finished
 * takes its result: committed (and emptied), or failed and handed over
 * again.  A store that stays down therefore costs what a failing one
 * always did: the counts wait in the kernel's maps, nothing more is
 * queued in user space, nothing is lost or counted twice.
 *
 * Buckets.  A commit that comes late must not put what it stores into
 * the bucket of the commit (after an outage: empty buckets, then one
 * spike).  So every delta memory applies from a map is also noted under
 * the bucket of the drain that read it (the splits, splits.h), and the
 * commit stores each map row as those parts, each in its bucket.  A
 * drain's counts go wholly to the bucket holding the drain's instant,
 * even when the interval since the previous drain began in the bucket
 * before: assigned, never prorated, as without an outage.  The splits
 * change only WHERE rows go, never how much: the commit takes each row's
 * parts oldest first and never more than the row it deletes holds; what
 * no part claims goes to the commit's bucket.  They describe map rows
 * that wait in the kernel, are dropped with them (committed), and die
 * with the process: after a restart, what the maps held (an adopted
 * swapped-out map, the active map's counts before the first drain) is
 * stored in the bucket of the first drain, which cannot know better.
 * The kernel's cumulative counters (traffic_other) are split the same
 * way.  Memory is bounded (SPLIT_CELLS, SPLIT_BUCKETS): past it the
 * oldest bucket is folded into the next, and what moved is logged.  The
 * writer does not roll up an hour that counts still waiting will go to.
 */
#include "persist.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "drain.h"
#include "kernel_features.h"
#include "log.h"
#include "rxmove.h"
#include "splits.h"
#include "table.h"

#define BATCH 4096

/*
 * The bound on the per-bucket splits an outage makes memory hold: at most
 * this many (address, bucket) counts per interface (56 bytes each, at
 * most about 40 MiB with the arrays and indexes grown by doubling), and at
 * most SPLIT_BUCKETS buckets per map.  Past either, the oldest bucket of
 * the map still counting is folded into the next one: those counts are
 * stored one bucket (or more) later than they were counted, and the bytes
 * and packets so moved are logged when the store is back.
 */
#define SPLIT_CELLS   262144
#define SPLIT_BUCKETS 1440

/* The kernel's non-IP/malformed/overflow counters drained in one bucket. */
struct other_split {
	int64_t ts;
	struct itm_value v[STORE_OTHER_MAX];
};

/* Rollups slower than this are logged (-v): the tests time scrapes by it. */
#define SLOW_MAINTAIN_S 0.01

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
	/* What each map's counts were applied at, by bucket (see below). */
	struct splits splits[2];
	/* The counter deltas since the last commit, by bucket. */
	struct other_split *osp;
	size_t n_osp, cap_osp;
	size_t n_osp_job; /* the first n in the commit */
	struct itm_counter split_base[ITM_CTR_MAX]; /* kernel, split up to */
	/* Slots the map programs count into held at this drain (0: unread). */
	size_t entries;
	/*
	 * --xdp: received traffic memory applied under pid 0 that the map,
	 * drained at last, holds under a process (rxmove.h): it stays under
	 * pid 0 and is reported as a missed move.
	 */
	struct itm_counter missed;
};

/* How a stored row is labelled, fixed when the commit is handed over. */
struct row_label {
	const struct geo_labels *geo;
	char process[ITM_COMM_LEN];
};

/* One map of one interface in a commit: a copy of its rows. */
struct commit_map {
	bool used;
	int fd;		      /* emptied after the commit */
	struct map_rows rows; /* keys and sums, as read: what is deleted */
	/* What is stored: the same sums split by bucket (ts 0: the job's). */
	struct map_rows out;
	int64_t *ts;
	struct row_label *labels;
	size_t out_cap;
	int delete_err; /* result: 0, or emptying it failed */
};

struct commit_iface {
	int64_t db_id;
	/* --ipfix: the records for the outbox (the maps' rows, the counters) */
	struct store_outbox_rec *recs;
	size_t n_recs, cap_recs;
	struct store_iface_state st; /* seq and kernel counters it covers */
	struct other_split *osp;     /* counter deltas by bucket */
	size_t n_osp, cap_osp;
	struct commit_map map[2];
};

/* What the writer commits; owned by whoever the writer state says. */
struct commit_job {
	int64_t now;
	int64_t horizon;  /* rollups up to here: older counts still wait */
	uint64_t oseq;	  /* the outbox's number of this commit */
	int64_t ts_ms;	  /* unix ms of the drain */
	uint64_t ack_seq; /* the collector's position to store; 0: none */
	int64_t ack_ts;
	struct commit_iface *ifs;
	size_t n;
	int err; /* result of the commit */
	char errmsg[256];
};

enum writer_state {
	W_IDLE,	   /* the job is the collector's, and empty */
	W_QUEUED,  /* handed over, the writer has not started it */
	W_RUNNING, /* the writer commits it */
	W_DONE,	   /* committed or failed: the collector takes the result */
};

struct persist {
	struct store *store; /* NULL: adoption only, memory totals */
	struct persist_iface *ifs;
	size_t n;
	int ncpus;
	struct persist_cb cb;
	void *scratch;	/* per-CPU values of one batch */
	int failing;	/* -errno of the condition last warned about; 0 */
	int last_err;	/* of the last commit taken: 0 or -errno */
	size_t backlog; /* addresses held in memory snapshots */
	struct itm_value moved; /* counts folded into a later bucket */
	/*
	 * apply_delta()'s scratch, per row of the map it applied: what
	 * memory applied before, the delta, and after (snap_set() keeps the
	 * last as the snapshot when --xdp's moves made it differ from the
	 * map's rows; see rxmove.h).
	 */
	struct itm_value *before, *delta;
	size_t cap_rows;
	bool differs;
	bool folding; /* warned about folding in this outage */

	/* The writer; state and quit are guarded by wlock. */
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	enum writer_state state;
	bool quit, started;
	pthread_t writer;
	struct commit_job job;

	/* The IPFIX outbox (--ipfix): on, for which collector. */
	bool outbox;
	char collector[320];
	uint64_t oseq; /* the last outbox number handed out */
	/* The collector's latest position; guarded by wlock. */
	uint64_t ack_seq, stored_ack;
	int64_t ack_ts;
};

/*
 * Crash points for the tests: ITM_TEST_KILL_AT=after-swap:N or
 * after-commit:N makes the N-th drain kill its own process (SIGKILL)
 * right after step 2 or right after step 4, the two instants where a
 * crash is most likely to lose or double a count.  tests/e2e/test_store.py
 * restarts the daemon after each and checks the totals byte for byte.
 */
enum crash_point { CRASH_NONE, CRASH_AFTER_SWAP, CRASH_AFTER_COMMIT };

static void maybe_crash(enum crash_point here)
{
	static enum crash_point at = CRASH_NONE;
	static long countdown = -1;
	const char *e;

	if (countdown < 0) {
		countdown = 0;
		e = getenv("ITM_TEST_KILL_AT");
		if (e && !strncmp(e, "after-swap:", 11)) {
			at = CRASH_AFTER_SWAP;
			countdown = atol(e + 11);
		} else if (e && !strncmp(e, "after-commit:", 13)) {
			at = CRASH_AFTER_COMMIT;
			countdown = atol(e + 13);
		}
	}
	if (at != here || countdown <= 0)
		return;
	if (--countdown == 0)
		raise(SIGKILL);
}

static int write_meta(struct persist_iface *pi)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(iface_monitor_meta_fd(pi->m), &zero, &pi->meta,
				BPF_ANY))
		return -errno;
	return 0;
}

static int read_counters(const struct persist *p, struct persist_iface *pi)
{
	const size_t stride = ITM_PERCPU_STRIDE(struct itm_counter);
	char row[stride * (size_t)p->ncpus];

	for (__u32 k = 0; k < ITM_CTR_MAX; k++) {
		struct itm_counter sum;

		if (bpf_map_lookup_elem(iface_monitor_counters_fd(pi->m), &k,
					row))
			return -errno;
		itm_counter_sum_percpu(row, p->ncpus, &sum);
		pi->cur[k] = sum;
		pi->shown[k].packets = sum.packets + pi->offset[k].packets;
		pi->shown[k].bytes = sum.bytes + pi->offset[k].bytes;
	}
	return 0;
}

static void snap_clear(struct persist *p, struct persist_iface *pi, int x)
{
	if (!pi->have_snap[x])
		return;
	p->backlog -= pi->snap[x].count;
	ip_table_free(&pi->snap[x]);
	pi->have_snap[x] = false;
}

static size_t split_cells(const struct persist_iface *pi)
{
	return pi->splits[0].cells + pi->splits[1].cells;
}

/*
 * Keep map x's splits within the bound (SPLIT_CELLS, SPLIT_BUCKETS): fold
 * its oldest bucket into the next, counting what moved.
 */
static void split_bound(struct persist *p, struct persist_iface *pi, int x)
{
	struct splits *l = &pi->splits[x];

	while (l->n >= 2 &&
	       (l->n > SPLIT_BUCKETS || split_cells(pi) > SPLIT_CELLS)) {
		if (!p->folding) {
			pr_warn(_("%s: more than %d counts or %d buckets per map wait for the database; from now on the oldest bucket's counts are stored in the next bucket\n"),
				iface_monitor_name(pi->m), SPLIT_CELLS,
				SPLIT_BUCKETS);
			p->folding = true;
		}
		if (splits_merge_oldest(l, &p->moved))
			break;
	}
}

static bool value_zero(const struct itm_value *v)
{
	return !v->tx_bytes && !v->tx_packets && !v->rx_bytes && !v->rx_packets;
}

static void value_add(struct itm_value *a, const struct itm_value *b)
{
	a->tx_bytes += b->tx_bytes;
	a->tx_packets += b->tx_packets;
	a->rx_bytes += b->rx_bytes;
	a->rx_packets += b->rx_packets;
}

static int rows_scratch(struct persist *p, size_t n)
{
	struct itm_value *b, *d;
	size_t cap = p->cap_rows ? p->cap_rows : 1024;

	if (n <= p->cap_rows)
		return 0;
	while (cap < n)
		cap *= 2;
	b = realloc(p->before, cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	p->before = b;
	d = realloc(p->delta, cap * sizeof(*d));
	if (!d)
		return -ENOMEM;
	p->delta = d;
	p->cap_rows = cap;
	return 0;
}

/*
 * Apply what of map x's rows memory does not have yet: everything, minus
 * what an earlier look at the still-active map (the snapshot) applied.
 * Counts in a map only grow until it is drained, so no delta is negative,
 * except pid 0's received counts under --xdp (see rxmove.h).
 * With a store, each delta is also noted under the bucket of `now`, the
 * drain that read it: that is where the commit stores it, however late.
 */
static int apply_delta(struct persist *p, struct persist_iface *pi, int x,
		       int64_t now, bool last)
{
	const struct map_rows *r = &pi->rows[x];
	size_t iface = (size_t)(pi - p->ifs);
	long changed;
	int err = rows_scratch(p, r->n);

	if (err)
		return err;
	for (size_t i = 0; i < r->n; i++) {
		const struct ip_entry *e = NULL;
		struct in6_addr a;

		if (pi->have_snap[x]) {
			memcpy(&a, r->keys[i].addr, sizeof(a));
			e = ip_table_find_pid(&pi->snap[x], &a, r->keys[i].pid);
		}
		p->before[i] =
			e ? (struct itm_value){e->tx_bytes, e->tx_packets,
					       e->rx_bytes, e->rx_packets}
			  : (struct itm_value){0};
	}
	/*
	 * cur - before, except where --xdp moved received traffic from pid 0
	 * to a process after memory saw it under pid 0 (rxmove.h).
	 */
	changed = rxmove_deltas(r->keys, r->vals, p->before, r->n, p->delta);
	if (changed < 0)
		return (int)changed;
	p->differs = changed > 0;
	for (size_t i = 0; i < r->n; i++) {
		struct itm_value d = p->delta[i];

		/* What memory has applied now: snap_set() keeps it. */
		value_add(&p->before[i], &d);
		/* The map's last read: pid 0's excess stays where it is. */
		if (last && !r->keys[i].pid &&
		    p->before[i].rx_bytes > r->vals[i].rx_bytes)
			pi->missed.bytes +=
				p->before[i].rx_bytes - r->vals[i].rx_bytes;
		if (last && !r->keys[i].pid &&
		    p->before[i].rx_packets > r->vals[i].rx_packets)
			pi->missed.packets +=
				p->before[i].rx_packets - r->vals[i].rx_packets;
		if (!d.tx_bytes && !d.tx_packets && !d.rx_bytes &&
		    !d.rx_packets)
			continue;
		err = p->cb.apply(p->cb.ctx, iface, &r->keys[i], &d);
		if (err)
			return err;
		/*
		 * Out of memory for the note: the commit stores what no
		 * bucket claims in its own bucket; nothing is lost.
		 */
		if (p->store)
			splits_add(&pi->splits[x], store_bucket(p->store, now),
				   &r->keys[i], &d);
	}
	if (p->store)
		split_bound(p, pi, x);
	return 0;
}

static const int other_ctr[STORE_OTHER_MAX][2] = {
	[STORE_OTHER_OVERFLOW] = {ITM_CTR_OVERFLOW_TX, ITM_CTR_OVERFLOW_RX},
	[STORE_OTHER_NON_IP] = {ITM_CTR_NON_IP_TX, ITM_CTR_NON_IP_RX},
	[STORE_OTHER_MALFORMED] = {ITM_CTR_MALFORMED_TX, ITM_CTR_MALFORMED_RX},
};

/* Fold the oldest into the next, but never one the commit holds. */
static void other_fold(struct persist *p, struct persist_iface *pi)
{
	while (!pi->n_osp_job && pi->n_osp > SPLIT_BUCKETS) {
		for (int k = 0; k < STORE_OTHER_MAX; k++) {
			value_add(&pi->osp[1].v[k], &pi->osp[0].v[k]);
			value_add(&p->moved, &pi->osp[0].v[k]);
		}
		memmove(&pi->osp[0], &pi->osp[1],
			--pi->n_osp * sizeof(*pi->osp));
	}
}

/*
 * The kernel's cumulative counters grew by this much since the last
 * drain: note it under the bucket of `now`.  The array is allocated once
 * (SPLIT_BUCKETS + 2): when full, or when the newest entry is in the
 * commit under way, the rules below keep it so; nothing is ever dropped.
 */
static void other_note(struct persist *p, struct persist_iface *pi, int64_t now)
{
	int64_t ts = store_bucket(p->store, now);
	struct itm_value d[STORE_OTHER_MAX];
	struct other_split *o = NULL;
	bool any = false;

	for (int k = 0; k < STORE_OTHER_MAX; k++) {
		int tx = other_ctr[k][0], rx = other_ctr[k][1];

		d[k] = (struct itm_value){
			.tx_bytes =
				pi->cur[tx].bytes - pi->split_base[tx].bytes,
			.tx_packets = pi->cur[tx].packets -
				      pi->split_base[tx].packets,
			.rx_bytes =
				pi->cur[rx].bytes - pi->split_base[rx].bytes,
			.rx_packets = pi->cur[rx].packets -
				      pi->split_base[rx].packets,
		};
		any |= !value_zero(&d[k]);
	}
	memcpy(pi->split_base, pi->cur, sizeof(pi->split_base));
	if (!any)
		return;
	if (pi->n_osp > pi->n_osp_job) {
		o = &pi->osp[pi->n_osp - 1];
		if (o->ts != ts && pi->n_osp < pi->cap_osp)
			o = NULL;
	}
	if (!o) {
		o = &pi->osp[pi->n_osp++];
		memset(o, 0, sizeof(*o));
		o->ts = ts;
	}
	for (int k = 0; k < STORE_OTHER_MAX; k++) {
		value_add(&o->v[k], &d[k]);
		if (o->ts != ts)
			value_add(&p->moved, &d[k]);
	}
	other_fold(p, pi);
}

/* Remember that memory now has all of map x's current rows. */
static int snap_set(struct persist *p, struct persist_iface *pi, int x)
{
	const struct map_rows *r = &pi->rows[x];
	int err;

	snap_clear(p, pi, x);
	err = ip_table_init(&pi->snap[x], 0);
	if (err)
		return err;
	pi->have_snap[x] = true;
	for (size_t i = 0; i < r->n; i++) {
		const struct itm_value *v;
		struct in6_addr a;
		struct ip_entry *e;

		memcpy(&a, r->keys[i].addr, sizeof(a));
		e = ip_table_upsert_pid(&pi->snap[x], &a, r->keys[i].pid);
		if (!e)
			return -ENOMEM;
		/* What memory applied (apply_delta() just ran on r). */
		v = p->differs ? &p->before[i] : &r->vals[i];
		e->tx_bytes = v->tx_bytes;
		e->tx_packets = v->tx_packets;
		e->rx_bytes = v->rx_bytes;
		e->rx_packets = v->rx_packets;
	}
	p->backlog += pi->snap[x].count;
	return 0;
}

static int read_map(struct persist *p, struct persist_iface *pi, int x)
{
	/* A map swapped out is read after a grace period: nothing moves. */
	bool moving = iface_monitor_moves_rx(pi->m) &&
		      x == iface_monitor_active(pi->m);
	int err = map_rows_read(iface_monitor_stats_fd(pi->m, x), p->ncpus,
				p->scratch, BATCH, moving, &pi->rows[x]);

	if (err)
		pr_warn(_("%s: reading a statistics map failed: %s\n"),
			iface_monitor_name(pi->m), strerror(-err));
	return err;
}

int persist_new(struct persist **out, struct store *store,
		struct iface_monitor *const *ifaces, size_t n,
		const struct persist_cb *cb)
{
	struct persist *p;
	int err;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		pr_err(_("out of memory\n"));
		return -ENOMEM;
	}
	p->store = store;
	p->cb = *cb;
	p->n = n;
	p->ncpus = libbpf_num_possible_cpus();
	pthread_mutex_init(&p->wlock, NULL);
	pthread_cond_init(&p->wcond, NULL);
	/* Read the crash point once, before a second thread can ask. */
	maybe_crash(CRASH_NONE);
	if (p->ncpus <= 0) {
		err = -EINVAL;
		goto fail;
	}
	p->ifs = calloc(n, sizeof(*p->ifs));
	p->job.ifs = calloc(n ? n : 1, sizeof(*p->job.ifs));
	p->job.n = n;
	p->scratch = calloc(BATCH * (size_t)p->ncpus,
			    ITM_PERCPU_STRIDE(struct itm_value));
	if (!p->ifs || !p->job.ifs || !p->scratch) {
		err = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		struct persist_iface *pi = &p->ifs[i];
		struct store_iface_state st = {0};
		__u32 zero = 0;
		bool same;

		pi->m = ifaces[i];
		if (bpf_map_lookup_elem(iface_monitor_meta_fd(pi->m), &zero,
					&pi->meta)) {
			err = -errno;
			goto fail;
		}
		if (!pi->meta.layout) {
			/* Fresh maps: give them an identity. */
			pi->meta.layout = ITM_PIN_LAYOUT;
			pi->meta.next_seq = 1;
			if (getrandom(&pi->meta.instance,
				      sizeof(pi->meta.instance),
				      0) != sizeof(pi->meta.instance))
				pi->meta.instance = (uint64_t)time(NULL) ^
						    ((uint64_t)getpid() << 32);
			pi->meta.instance |= 1; /* never 0 */
			err = write_meta(pi);
			if (err)
				goto fail;
		}
		err = read_map(p, pi, !iface_monitor_active(pi->m));
		if (err)
			goto fail;
		if (store) {
			err = store_iface(store, iface_monitor_name(pi->m),
					  &pi->db_id);
			if (!err)
				err = store_get_state(store, pi->db_id, &st);
			if (err) {
				pr_err(_("cannot read database %s: %s\n"),
				       store_path(store), store_errmsg(store));
				goto fail_quiet;
			}
		}
		same = store && st.instance == pi->meta.instance;
		if (same) {
			memcpy(pi->committed, st.ctr, sizeof(pi->committed));
			pi->db_seq = st.seq;
		}
		/* The first drain's deltas start where the database stands. */
		memcpy(pi->split_base, pi->committed, sizeof(pi->split_base));
		if (store) {
			pi->cap_osp = SPLIT_BUCKETS + 2;
			pi->osp = calloc(pi->cap_osp, sizeof(*pi->osp));
			if (!pi->osp) {
				err = -ENOMEM;
				goto fail;
			}
		}
		/* Memory starts from the database; no database: the kernel. */
		if (store) {
			struct itm_value o[STORE_OTHER_MAX];

			err = store_restore_other(store, pi->db_id, o);

			if (err) {
				pr_err(_("cannot read database %s: %s\n"),
				       store_path(store), store_errmsg(store));
				goto fail_quiet;
			}
			for (int k = 0; k < STORE_OTHER_MAX; k++) {
				int tx = other_ctr[k][0], rx = other_ctr[k][1];

				pi->offset[tx].bytes =
					o[k].tx_bytes - pi->committed[tx].bytes;
				pi->offset[tx].packets =
					o[k].tx_packets -
					pi->committed[tx].packets;
				pi->offset[rx].bytes =
					o[k].rx_bytes - pi->committed[rx].bytes;
				pi->offset[rx].packets =
					o[k].rx_packets -
					pi->committed[rx].packets;
			}
		}
		/* The swapped-out map: committed already, or not yet. */
		if (pi->rows[!iface_monitor_active(pi->m)].n) {
			int x = !iface_monitor_active(pi->m);

			if (same && pi->meta.seq[x] <= st.seq) {
				pr_info(_("%s: %zu addresses of an earlier run were already stored; discarding the kernel's copy\n"),
					iface_monitor_name(pi->m),
					pi->rows[x].n);
				err = map_rows_delete(
					iface_monitor_stats_fd(pi->m, x),
					&pi->rows[x]);
				if (err)
					goto fail;
				pi->rows[x].n = 0;
			} else {
				pr_info(_("%s: adopting %zu addresses an earlier run counted but did not store\n"),
					iface_monitor_name(pi->m),
					pi->rows[x].n);
				pi->unapplied[x] = true;
				pi->meta.seq[x] = pi->meta.next_seq++;
				err = write_meta(pi);
				if (err)
					goto fail;
			}
		}
		err = read_counters(p, pi);
		if (err)
			goto fail;
	}
	*out = p;
	return 0;
fail:
	pr_err(_("cannot use the kernel maps: %s\n"), strerror(-err));
fail_quiet:
	persist_free(p);
	return err;
}

static void job_free(struct commit_job *j)
{
	for (size_t i = 0; j->ifs && i < j->n; i++) {
		for (int x = 0; x < 2; x++) {
			struct commit_map *cm = &j->ifs[i].map[x];

			map_rows_free(&cm->rows);
			map_rows_free(&cm->out);
			free(cm->ts);
			free(cm->labels);
		}
		free(j->ifs[i].osp);
		free(j->ifs[i].recs);
	}
	free(j->ifs);
}

void persist_free(struct persist *p)
{
	if (!p)
		return;
	if (p->started) {
		/* A commit handed over is finished: its maps wait for it. */
		pthread_mutex_lock(&p->wlock);
		p->quit = true;
		pthread_cond_broadcast(&p->wcond);
		pthread_mutex_unlock(&p->wlock);
		pthread_join(p->writer, NULL);
	}
	for (size_t i = 0; p->ifs && i < p->n; i++) {
		for (int x = 0; x < 2; x++) {
			if (p->ifs[i].have_snap[x])
				ip_table_free(&p->ifs[i].snap[x]);
			map_rows_free(&p->ifs[i].rows[x]);
			splits_clear(&p->ifs[i].splits[x]);
		}
		free(p->ifs[i].osp);
	}
	job_free(&p->job);
	pthread_mutex_destroy(&p->wlock);
	pthread_cond_destroy(&p->wcond);
	free(p->ifs);
	free(p->scratch);
	free(p->before);
	free(p->delta);
	free(p);
}

/* ---- the writer thread: steps 4 and 5, and the rollups --------------- */

/* Each row into the bucket it was counted in (ts 0: the flush's). */
static int add_rows(struct store *s, int64_t db_id, const struct commit_map *cm,
		    int64_t now)
{
	for (size_t i = 0; i < cm->out.n; i++) {
		const struct row_label *l = &cm->labels[i];
		struct store_row row = {
			.pid = cm->out.keys[i].pid,
			.v = cm->out.vals[i],
			.geo = l->geo,
			.process = l->process[0] ? l->process : NULL,
		};
		int err;

		memcpy(&row.addr, cm->out.keys[i].addr, sizeof(row.addr));
		err = store_at(s, cm->ts[i] ? cm->ts[i] : now);
		if (!err)
			err = store_add(s, db_id, &row);
		if (err)
			return err;
	}
	return 0;
}

static int add_others(struct store *s, const struct commit_iface *ci,
		      int64_t now)
{
	int err = 0;

	for (size_t i = 0; i < ci->n_osp && !err; i++) {
		const struct other_split *o = &ci->osp[i];

		err = store_at(s, o->ts ? o->ts : now);
		for (int k = 0; k < STORE_OTHER_MAX && !err; k++)
			err = store_add_other(s, ci->db_id,
					      (enum store_other_kind)k,
					      &o->v[k]);
	}
	return err;
}

static int commit_job(struct persist *p, const struct commit_job *j)
{
	struct store *s = p->store;
	int err = store_begin(s, j->now);

	for (size_t i = 0; !err && i < j->n; i++) {
		const struct commit_iface *ci = &j->ifs[i];

		for (int x = 0; x < 2 && !err; x++)
			if (ci->map[x].used)
				err = add_rows(s, ci->db_id, &ci->map[x],
					       j->now);
		if (!err)
			err = add_others(s, ci, j->now);
		if (!err)
			err = store_set_state(s, ci->db_id, &ci->st);
		/* What the exporter gets, durable with the rows themselves. */
		if (!err && p->outbox)
			err = store_outbox_put(s, ci->db_id, j->oseq, j->ts_ms,
					       ci->recs, ci->n_recs);
		if (!err && p->outbox && j->ack_seq)
			err = store_outbox_ack(s, p->collector, ci->db_id,
					       j->ack_seq, j->ack_ts);
	}
	if (!err)
		err = store_commit(s);
	if (err)
		store_rollback(s);
	return err;
}

/* Step 4, then step 5 for every map the commit holds. */
static void run_job(struct persist *p, struct commit_job *j)
{
	j->err = commit_job(p, j);
	if (j->err) {
		snprintf(j->errmsg, sizeof(j->errmsg), "%s",
			 store_errmsg(p->store));
		return;
	}
	maybe_crash(CRASH_AFTER_COMMIT);
	for (size_t i = 0; i < j->n; i++)
		for (int x = 0; x < 2; x++) {
			struct commit_map *cm = &j->ifs[i].map[x];

			if (cm->used)
				cm->delete_err =
					map_rows_delete(cm->fd, &cm->rows);
		}
}

static void maintain(struct persist *p, int64_t now)
{
	double t0 = monotonic_seconds(), t1;

	if (store_maintain(p->store, now, 24))
		pr_debug("rollup postponed: %s\n", store_errmsg(p->store));
	t1 = monotonic_seconds();
	if (t1 - t0 >= SLOW_MAINTAIN_S)
		pr_debug(
			"rollup: %.3f s on the writer thread (monotonic %.3f to %.3f)\n",
			t1 - t0, t0, t1);
}

static void *writer_main(void *arg)
{
	struct persist *p = arg;

	pthread_mutex_lock(&p->wlock);
	for (;;) {
		int64_t now;
		bool ok;

		while (p->state != W_QUEUED && !p->quit)
			pthread_cond_wait(&p->wcond, &p->wlock);
		if (p->state != W_QUEUED)
			break;
		p->state = W_RUNNING;
		pthread_mutex_unlock(&p->wlock);
		run_job(p, &p->job);
		ok = !p->job.err;
		now = p->job.horizon;
		pthread_mutex_lock(&p->wlock);
		/* The job is the collector's again from here on. */
		p->state = W_DONE;
		pthread_cond_broadcast(&p->wcond);
		if (!ok || p->quit)
			continue;
		pthread_mutex_unlock(&p->wlock);
		maintain(p, now);
		pthread_mutex_lock(&p->wlock);
	}
	pthread_mutex_unlock(&p->wlock);
	return NULL;
}

/* ---- the collector's side: steps 1-3 and handing over ---------------- */

static int out_reserve(struct commit_map *cm, size_t n)
{
	int err = map_rows_reserve(&cm->out, n);
	int64_t *ts;
	struct row_label *l;

	if (err || cm->out_cap >= n)
		return err;
	ts = realloc(cm->ts, n * sizeof(*cm->ts));
	if (!ts)
		return -ENOMEM;
	cm->ts = ts;
	l = realloc(cm->labels, n * sizeof(*cm->labels));
	if (!l)
		return -ENOMEM;
	cm->labels = l;
	cm->out_cap = n;
	return 0;
}

static void out_row(struct commit_map *cm, const struct itm_key *k,
		    const struct itm_value *v, int64_t ts)
{
	size_t i = cm->out.n++;

	cm->out.keys[i] = *k;
	cm->out.vals[i] = *v;
	cm->ts[i] = ts;
}

/* The smaller of each counter, as the part of a row a bucket claims. */
static struct itm_value value_min(const struct itm_value *a,
				  const struct itm_value *b)
{
#define MIN_(f) (a->f < b->f ? a->f : b->f)
	return (struct itm_value){MIN_(tx_bytes), MIN_(tx_packets),
				  MIN_(rx_bytes), MIN_(rx_packets)};
#undef MIN_
}

static void value_sub(struct itm_value *a, const struct itm_value *b)
{
	a->tx_bytes -= b->tx_bytes;
	a->tx_packets -= b->tx_packets;
	a->rx_bytes -= b->rx_bytes;
	a->rx_packets -= b->rx_packets;
}

/*
 * What is stored of map x: exactly its rows as read (the rows the commit
 * deletes), each split by the buckets its counts were applied at.  The
 * buckets are taken oldest first and each gives at most what the row has
 * left, so whatever the notes say (one missing for lack of memory, one
 * doubled by a fold that ran out of memory) the stored sums are the map's
 * sums; what no bucket claims goes to the flush's own bucket (ts 0).
 */
static int split_rows(const struct map_rows *r, const struct splits *l,
		      struct commit_map *cm)
{
	struct addr_rows rows = ADDR_ROWS(r->keys);
	struct itm_value *left = NULL;
	struct hashmap idx = {0};
	int err;

	cm->out.n = 0;
	err = out_reserve(cm, r->n + l->cells);
	if (err || !r->n)
		return err;
	left = malloc(r->n * sizeof(*left));
	if (!left || hashmap_init(&idx, r->n)) {
		free(left);
		return -ENOMEM;
	}
	memcpy(left, r->vals, r->n * sizeof(*left));
	hashmap_reindex(&idx, r->n, addr_rows_hash, &rows);
	for (size_t b = 0; b < l->n; b++) {
		const struct split *s = &l->s[b];

		for (size_t c = 0; c < s->n; c++) {
			struct addr_pid k = {s->cells[c].addr, s->cells[c].pid};
			struct itm_value take;
			uint32_t pos;

			if (!hashmap_find(&idx, hash_addr(&k.addr, k.pid),
					  addr_rows_eq, &rows, &k, &pos))
				continue;
			take = value_min(&s->cells[c].v, &left[pos]);
			if (value_zero(&take))
				continue;
			out_row(cm, &r->keys[pos], &take, s->ts);
			value_sub(&left[pos], &take);
		}
	}
	/* The rest, and rows of no counts at all (stored as before). */
	for (size_t i = 0; i < r->n; i++)
		if (!value_zero(&left[i]) || value_zero(&r->vals[i]))
			out_row(cm, &r->keys[i], &left[i], 0);
	hashmap_free(&idx);
	free(left);
	return 0;
}

/* Copy map x's rows, split by bucket and labelled, into the commit. */
static int job_map(struct persist *p, struct persist_iface *pi, int x,
		   struct commit_map *cm)
{
	const struct map_rows *r = &pi->rows[x];
	int err;

	cm->rows.n = 0;
	err = map_rows_reserve(&cm->rows, r->n);
	if (!err)
		err = split_rows(r, &pi->splits[x], cm);
	if (err)
		return err;
	if (r->n)
		memcpy(cm->rows.keys, r->keys, r->n * sizeof(*r->keys));
	cm->rows.n = r->n;
	for (size_t i = 0; i < cm->out.n; i++)
		p->cb.describe(p->cb.ctx, &cm->out.keys[i], &cm->labels[i].geo,
			       cm->labels[i].process);
	cm->fd = iface_monitor_stats_fd(pi->m, x);
	cm->delete_err = 0;
	cm->used = true;
	return 0;
}

/* The counter deltas of the commit: every bucket noted so far. */
static int job_others(struct persist *p, struct persist_iface *pi,
		      struct commit_iface *ci)
{
	/*
	 * At most SPLIT_BUCKETS go: a commit that failed after the array
	 * filled (other_note() does not fold while one is in flight) must
	 * leave room, or the next note would write past the array.
	 */
	other_fold(p, pi);
	if (ci->cap_osp < pi->n_osp) {
		struct other_split *o =
			realloc(ci->osp, pi->cap_osp * sizeof(*o));

		if (!o)
			return -ENOMEM;
		ci->osp = o;
		ci->cap_osp = pi->cap_osp;
	}
	if (pi->n_osp)
		memcpy(ci->osp, pi->osp, pi->n_osp * sizeof(*ci->osp));
	ci->n_osp = pi->n_osp;
	pi->n_osp_job = pi->n_osp;
	return 0;
}

static int wall_ms(int64_t *out)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts))
		return -errno;
	*out = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return 0;
}

static int rec_reserve(struct commit_iface *ci, size_t more)
{
	size_t cap = ci->cap_recs ? ci->cap_recs : 64;
	struct store_outbox_rec *r;

	if (ci->n_recs + more <= ci->cap_recs)
		return 0;
	while (cap < ci->n_recs + more)
		cap *= 2;
	r = realloc(ci->recs, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	ci->recs = r;
	ci->cap_recs = cap;
	return 0;
}

/* The outbox records of one interface: its maps' rows, the counters. */
static int build_recs(struct commit_iface *ci)
{
	size_t rows = ci->map[0].out.n * ci->map[0].used +
		      ci->map[1].out.n * ci->map[1].used;
	int err;

	ci->n_recs = 0;
	err = rec_reserve(ci, rows + STORE_OTHER_MAX);
	if (err)
		return err;
	for (int x = 0; x < 2; x++) {
		/* What is stored (rows split by bucket; one key may repeat). */
		const struct map_rows *r = &ci->map[x].out;

		for (size_t i = 0; ci->map[x].used && i < r->n; i++) {
			struct store_outbox_rec *o = &ci->recs[ci->n_recs++];

			memset(o, 0, sizeof(*o));
			memcpy(o->addr, r->keys[i].addr, sizeof(o->addr));
			o->v = r->vals[i];
		}
	}
	for (int k = 0; k < STORE_OTHER_MAX; k++) {
		struct itm_value sum = {0}, *v = &sum;
		struct store_outbox_rec *o;

		/* The counters' deltas of this commit, whatever their buckets.
		 */
		for (size_t i = 0; i < ci->n_osp; i++) {
			sum.tx_bytes += ci->osp[i].v[k].tx_bytes;
			sum.tx_packets += ci->osp[i].v[k].tx_packets;
			sum.rx_bytes += ci->osp[i].v[k].rx_bytes;
			sum.rx_packets += ci->osp[i].v[k].rx_packets;
		}
		if (!v->tx_bytes && !v->tx_packets && !v->rx_bytes &&
		    !v->rx_packets)
			continue;
		o = &ci->recs[ci->n_recs++];
		memset(o, 0, sizeof(*o));
		o->kind = 1 + (uint32_t)k;
		o->v = *v;
	}
	return 0;
}

/* Everything the maps in commit hold, and the counters, as one job. */
static int build_job(struct persist *p, int64_t now)
{
	struct commit_job *j = &p->job;
	int err;

	j->now = now;
	j->horizon = now;
	if (p->outbox) {
		err = wall_ms(&j->ts_ms);
		if (err)
			return err;
		/* A failed commit's number is not used again: gaps are fine. */
		j->oseq = ++p->oseq;
		pthread_mutex_lock(&p->wlock);
		j->ack_seq = p->ack_seq;
		j->ack_ts = p->ack_ts;
		pthread_mutex_unlock(&p->wlock);
	}
	j->err = 0;
	j->errmsg[0] = '\0';
	for (size_t i = 0; i < p->n; i++) {
		struct persist_iface *pi = &p->ifs[i];
		struct commit_iface *ci = &j->ifs[i];

		ci->db_id = pi->db_id;
		ci->st = (struct store_iface_state){
			.instance = pi->meta.instance,
			.seq = pi->db_seq,
		};
		for (int x = 0; x < 2; x++) {
			ci->map[x].used = false;
			if (!pi->in_commit[x])
				continue;
			err = job_map(p, pi, x, &ci->map[x]);
			if (err)
				return err;
			if (pi->meta.seq[x] > ci->st.seq)
				ci->st.seq = pi->meta.seq[x];
		}
		/*
		 * Counts still waiting in an active map keep their hours
		 * open: no rollup of an hour they will be stored in.
		 */
		for (int x = 0; x < 2; x++)
			if (!pi->in_commit[x] && pi->splits[x].n &&
			    pi->splits[x].s[0].ts < j->horizon)
				j->horizon = pi->splits[x].s[0].ts;
		err = job_others(p, pi, ci);
		if (err)
			return err;
		/* The deltas noted above reach exactly up to split_base. */
		memcpy(ci->st.ctr, pi->split_base, sizeof(ci->st.ctr));
		if (p->outbox) {
			err = build_recs(ci);
			if (err)
				return err;
		}
	}
	return 0;
}

/*
 * Started at the first hand-over, not in persist_new(): by then the
 * daemon has dropped its privileges, which a thread started earlier
 * would keep.
 */
static int hand_over(struct persist *p)
{
	int err = 0;

	pthread_mutex_lock(&p->wlock);
	if (!p->started) {
		err = -pthread_create(&p->writer, NULL, writer_main, p);
		p->started = !err;
	}
	if (!err) {
		p->state = W_QUEUED;
		pthread_cond_signal(&p->wcond);
	}
	pthread_mutex_unlock(&p->wlock);
	if (err)
		pr_warn(_("cannot start the database writer: %s; retrying at the next drain\n"),
			strerror(-err));
	return err;
}

/* Swap the empty spare in and read the old map (steps 1-3). */
static int swap_out(struct persist *p, struct persist_iface *pi)
{
	int old = iface_monitor_active(pi->m), retired, err;

	if (p->store) {
		pi->meta.seq[old] = pi->meta.next_seq++;
		err = write_meta(pi);
		if (err)
			return err;
	}
	err = iface_monitor_swap(pi->m, &retired);
	if (err)
		return err;
	maybe_crash(CRASH_AFTER_SWAP);
	err = read_map(p, pi, old);
	if (err)
		return err;
	pi->in_commit[old] = true;
	return 0;
}

static void report(struct persist *p, int err, const char *msg)
{
	size_t waiting = 0;

	if (!err) {
		if (p->failing)
			pr_info(_("database %s is writable again; everything counted meanwhile is stored\n"),
				store_path(p->store));
		if (!value_zero(&p->moved))
			pr_warn(_("database %s: %llu bytes and %llu packets counted during the outage are stored in a later bucket than the one they were counted in (the memory bound of the per-bucket counts)\n"),
				store_path(p->store),
				(unsigned long long)(p->moved.tx_bytes +
						     p->moved.rx_bytes),
				(unsigned long long)(p->moved.tx_packets +
						     p->moved.rx_packets));
		p->moved = (struct itm_value){0};
		p->folding = false;
		p->failing = 0;
		return;
	}
	if (err == p->failing)
		return;
	p->failing = err;
	for (size_t i = 0; i < p->n; i++)
		for (int x = 0; x < 2; x++)
			if (p->ifs[i].pending[x])
				waiting += p->ifs[i].rows[x].n;
	pr_warn(_("writing database %s failed: %s; still counting: %zu address rows wait in the kernel's maps, %zu keys are held in memory (at most --map-size per interface); retrying at every drain\n"),
		store_path(p->store), msg, waiting, p->backlog);
}

/* Step 5 for map x, when it failed after a commit or without a store. */
static int empty_map(struct persist *p, struct persist_iface *pi, int x)
{
	int err =
		map_rows_delete(iface_monitor_stats_fd(pi->m, x), &pi->rows[x]);

	if (err) {
		pr_warn(_("%s: emptying a stored map failed: %s\n"),
			iface_monitor_name(pi->m), strerror(-err));
		pi->undeleted[x] = true;
		return err;
	}
	pi->undeleted[x] = false;
	pi->pending[x] = false;
	snap_clear(p, pi, x);
	splits_clear(&pi->splits[x]);
	return 0;
}

static int drain_iface(struct persist *p, struct persist_iface *pi, int64_t now)
{
	int x = !iface_monitor_active(pi->m), err;

	pi->in_commit[0] = pi->in_commit[1] = false;
	pi->entries = 0;
	if (pi->undeleted[x]) {
		/* Committed, but its entries could not be deleted then. */
		err = read_map(p, pi, x);
		if (!err)
			err = empty_map(p, pi, x);
		if (err)
			return err;
	}
	if (pi->pending[x] || pi->unapplied[x]) {
		/*
		 * The waiting map is with the writer, or goes to it again;
		 * look at the active one meanwhile.
		 */
		if (pi->unapplied[x]) {
			err = read_map(p, pi, x);
			if (!err)
				err = apply_delta(p, pi, x, now, false);
			if (err)
				return err;
			pi->unapplied[x] = false;
			pi->pending[x] = true;
		}
		pi->in_commit[x] = true;
		err = read_map(p, pi, iface_monitor_active(pi->m));
		if (!err) {
			/* Not swapped: it keeps filling until the commit. */
			pi->entries = pi->rows[iface_monitor_active(pi->m)].n;
			err = apply_delta(p, pi, iface_monitor_active(pi->m),
					  now, false);
		}
		if (!err)
			err = snap_set(p, pi, iface_monitor_active(pi->m));
	} else {
		err = swap_out(p, pi);
		x = !iface_monitor_active(pi->m); /* the map just swapped out */
		if (!err) {
			pi->entries = pi->rows[x].n;
			err = apply_delta(p, pi, x, now, true);
		}
		if (!err) {
			/* Memory has all of it now; committed or not. */
			snap_clear(p, pi, x);
			pi->pending[x] = p->store != NULL;
		}
	}
	if (!err)
		err = read_counters(p, pi);
	if (!err && p->store)
		other_note(p, pi, now);
	return err;
}

/*
 * Memory holds counts of a map that is still active and so uncommitted:
 * what a fault or a commit in flight let the active map gather while the
 * swapped-out one waited.  Committing the waiting map does not store them.
 */
static bool behind(const struct persist *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ifs[i].have_snap[0] || p->ifs[i].have_snap[1])
			return true;
	return false;
}

/* What the writer's commit changed: maps committed, emptied, or not. */
static void take_result(struct persist *p)
{
	const struct commit_job *j = &p->job;

	p->last_err = j->err;
	if (j->err) {
		for (size_t i = 0; i < p->n; i++)
			p->ifs[i].n_osp_job = 0;
		report(p, j->err, j->errmsg);
		return;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct persist_iface *pi = &p->ifs[i];
		const struct commit_iface *ci = &j->ifs[i];

		for (int x = 0; x < 2; x++) {
			if (!ci->map[x].used)
				continue;
			/* Stored: its buckets are no longer needed. */
			splits_clear(&pi->splits[x]);
			if (ci->map[x].delete_err) {
				pr_warn(_("%s: emptying a stored map failed: %s\n"),
					iface_monitor_name(pi->m),
					strerror(-ci->map[x].delete_err));
				pi->undeleted[x] = true;
				continue;
			}
			pi->undeleted[x] = false;
			pi->pending[x] = false;
			snap_clear(p, pi, x);
		}
		pi->db_seq = ci->st.seq;
		memcpy(pi->committed, ci->st.ctr, sizeof(pi->committed));
		pi->n_osp -= pi->n_osp_job;
		memmove(pi->osp, pi->osp + pi->n_osp_job,
			pi->n_osp * sizeof(*pi->osp));
		pi->n_osp_job = 0;
		if (p->outbox && p->cb.committed)
			p->cb.committed(p->cb.ctx, i, j->oseq, j->ts_ms,
					ci->recs, ci->n_recs);
	}
	if (p->outbox) {
		pthread_mutex_lock(&p->wlock);
		if (j->ack_seq > p->stored_ack)
			p->stored_ack = j->ack_seq;
		pthread_mutex_unlock(&p->wlock);
	}
	/* The maps that kept counting meanwhile go with the next drain. */
	if (!behind(p))
		report(p, 0, NULL);
}

static enum writer_state writer_state(struct persist *p)
{
	enum writer_state s;

	pthread_mutex_lock(&p->wlock);
	s = p->state;
	pthread_mutex_unlock(&p->wlock);
	return s;
}

void persist_collect(struct persist *p)
{
	if (!p->store || writer_state(p) != W_DONE)
		return;
	take_result(p);
	pthread_mutex_lock(&p->wlock);
	p->state = W_IDLE;
	pthread_mutex_unlock(&p->wlock);
}

int persist_drain(struct persist *p, int64_t now)
{
	int err = 0, e;

	persist_collect(p);
	for (size_t i = 0; i < p->n; i++) {
		e = drain_iface(p, &p->ifs[i], now);
		if (e && !err)
			err = e;
	}
	if (!p->store) {
		/* Memory only (adoption without --db): delete right away. */
		for (size_t i = 0; i < p->n; i++)
			for (int x = 0; x < 2; x++)
				if (p->ifs[i].in_commit[x])
					empty_map(p, &p->ifs[i], x);
		return err;
	}
	/* Busy: what waits is handed over by a later drain. */
	if (writer_state(p) != W_IDLE)
		return err;
	e = build_job(p, now);
	if (!e)
		e = hand_over(p);
	if (e)
		for (size_t i = 0; i < p->n; i++)
			p->ifs[i].n_osp_job = 0; /* nothing in flight */
	return err ? err : e;
}

struct outbox_load {
	struct persist *p;
	size_t iface;
	size_t recs, commits;
};

static int outbox_one(void *ctx, uint64_t seq, int64_t ts_ms,
		      const struct store_outbox_rec *recs, size_t n)
{
	struct outbox_load *l = ctx;

	l->p->cb.committed(l->p->cb.ctx, l->iface, seq, ts_ms, recs, n);
	l->recs += n;
	l->commits++;
	return 0;
}

int persist_outbox_open(struct persist *p, const char *collector,
			int64_t *pos_ts)
{
	struct outbox_load l = {.p = p};

	*pos_ts = 0;
	if (!p->store || !p->cb.committed)
		return 0;
	snprintf(p->collector, sizeof(p->collector), "%s", collector);
	for (size_t i = 0; i < p->n; i++) {
		uint64_t pos, max;
		int64_t ts;
		int err;

		l.iface = i;
		err = store_outbox_load(p->store, p->collector, p->ifs[i].db_id,
					&pos, &ts, &max, outbox_one, &l);
		if (err) {
			pr_err(_("cannot read the IPFIX outbox in %s: %s\n"),
			       store_path(p->store), store_errmsg(p->store));
			return err;
		}
		if (max > p->oseq)
			p->oseq = max;
		if (pos > p->oseq)
			p->oseq = pos;
		if (pos > p->ack_seq) {
			p->ack_seq = p->stored_ack = pos;
			p->ack_ts = ts;
		}
	}
	if (l.commits)
		pr_info(_("IPFIX: %zu rows of %zu commits stored after the collector's last acknowledged position go out again (what it got before a crash arrives twice, inside the time span of a later record)\n"),
			l.recs, l.commits);
	else if (!p->ack_seq) {
		/*
		 * No position yet: this run's start becomes one, stored with
		 * the first commit.  Otherwise a crash after the first flush
		 * but before a commit stored its acknowledgement resends that
		 * flush from the next start's instant, not inside the record
		 * the collector got: a duplicate no one can recognise.  The
		 * number is burned (gaps are fine); nothing is at or below it.
		 */
		int err = wall_ms(&p->ack_ts);

		if (err)
			return err;
		p->ack_seq = ++p->oseq;
	}
	*pos_ts = p->ack_ts;
	p->outbox = true;
	return 0;
}

void persist_outbox_ack(struct persist *p, uint64_t seq, int64_t ts_ms)
{
	pthread_mutex_lock(&p->wlock);
	if (seq > p->ack_seq) {
		p->ack_seq = seq;
		p->ack_ts = ts_ms;
	}
	pthread_mutex_unlock(&p->wlock);
}

int persist_outbox_final(struct persist *p)
{
	uint64_t seq;
	int64_t ts;
	int err;

	if (!p->outbox)
		return 0;
	persist_wait(p);
	pthread_mutex_lock(&p->wlock);
	seq = p->ack_seq;
	ts = p->ack_ts;
	pthread_mutex_unlock(&p->wlock);
	if (seq <= p->stored_ack)
		return 0;
	err = store_begin(p->store, ts / 1000);
	for (size_t i = 0; !err && i < p->n; i++)
		err = store_outbox_ack(p->store, p->collector, p->ifs[i].db_id,
				       seq, ts);
	if (!err)
		err = store_commit(p->store);
	if (err) {
		pr_warn(_("cannot store the IPFIX collector's position in %s: %s; the next start sends the last flush again\n"),
			store_path(p->store), store_errmsg(p->store));
		store_rollback(p->store);
		return err;
	}
	p->stored_ack = seq;
	return 0;
}

void persist_wait(struct persist *p)
{
	pthread_mutex_lock(&p->wlock);
	while (p->state == W_QUEUED || p->state == W_RUNNING)
		pthread_cond_wait(&p->wcond, &p->wlock);
	pthread_mutex_unlock(&p->wlock);
}

static bool waiting(const struct persist *p)
{
	for (size_t i = 0; i < p->n; i++)
		for (int x = 0; x < 2; x++)
			if (p->ifs[i].pending[x] || p->ifs[i].unapplied[x] ||
			    p->ifs[i].undeleted[x] || p->ifs[i].have_snap[x])
				return true;
	return false;
}

bool persist_settled(struct persist *p)
{
	if (!p->store)
		return true;
	if (writer_state(p) != W_IDLE)
		return false;
	return p->last_err || !waiting(p);
}

/* Whether map x of pi holds any entry (an unreadable map: assume so). */
static bool map_holds(const struct persist_iface *pi, int x)
{
	struct itm_key key;

	if (!bpf_map_get_next_key(iface_monitor_stats_fd(pi->m, x), NULL, &key))
		return true;
	return errno != ENOENT;
}

/*
 * Not only what the bookkeeping says: the maps themselves must be empty,
 * so that no path (a read that failed mid-drain, a program that was not
 * detached) lets a map with uncommitted counts be destroyed.
 */
bool persist_clean(struct persist *p)
{
	if (p->store && writer_state(p) != W_IDLE)
		return false;
	for (size_t i = 0; i < p->n; i++) {
		const struct persist_iface *pi = &p->ifs[i];

		for (int x = 0; x < 2; x++)
			if (pi->pending[x] || pi->unapplied[x] ||
			    pi->have_snap[x] ||
			    (iface_monitor_loaded(pi->m) && map_holds(pi, x)))
				return false;
	}
	return true;
}

const struct itm_counter *persist_shown(const struct persist *p, size_t i)
{
	return p->ifs[i].shown;
}

void persist_backlog(const struct persist *p, uint64_t *rows, uint64_t *bytes)
{
	*rows = *bytes = 0;
	for (size_t i = 0; p->store && i < p->n; i++) {
		const struct persist_iface *pi = &p->ifs[i];

		for (int x = 0; x < 2; x++) {
			const struct map_rows *r = &pi->rows[x];
			const struct ip_table *t = &pi->snap[x];

			for (size_t k = 0; pi->pending[x] && k < r->n; k++)
				*bytes += r->vals[k].tx_bytes +
					  r->vals[k].rx_bytes;
			*rows += pi->pending[x] ? r->n : 0;
			for (size_t k = 0; pi->have_snap[x] && k < t->count;
			     k++)
				*bytes += ip_entry_total_bytes(&t->entries[k]);
			*rows += pi->have_snap[x] ? t->count : 0;
		}
	}
}

bool persist_has_store(const struct persist *p)
{
	return p->store != NULL;
}

const struct itm_counter *persist_missed(const struct persist *p, size_t i)
{
	return &p->ifs[i].missed;
}

size_t persist_entries(const struct persist *p, size_t i)
{
	return p->ifs[i].entries;
}
