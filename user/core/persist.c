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
 */
#include "persist.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "drain.h"
#include "kernel_features.h"
#include "log.h"

#define BATCH 4096

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

void map_rows_free(struct map_rows *r)
{
	free(r->keys);
	free(r->vals);
	memset(r, 0, sizeof(*r));
}

static int rows_reserve(struct map_rows *r, size_t more)
{
	size_t cap = r->cap ? r->cap : BATCH;
	struct itm_key *k;
	struct itm_value *v;

	if (r->n + more <= r->cap)
		return 0;
	while (cap < r->n + more)
		cap *= 2;
	k = realloc(r->keys, cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	r->keys = k;
	v = realloc(r->vals, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->vals = v;
	r->cap = cap;
	return 0;
}

struct rows_ctx {
	struct map_rows *r;
	int ncpus;
};

static int rows_append(void *arg, const struct itm_key *keys,
		       const void *values, size_t count)
{
	const size_t row = ITM_PERCPU_STRIDE(struct itm_value);
	struct rows_ctx *c = arg;
	struct map_rows *r = c->r;
	int err = rows_reserve(r, count);

	if (err)
		return err;
	for (size_t i = 0; i < count; i++) {
		r->keys[r->n] = keys[i];
		itm_value_sum_percpu((const char *)values +
					     i * row * (size_t)c->ncpus,
				     c->ncpus, &r->vals[r->n++]);
	}
	return 0;
}

/* Read every entry without deleting it; per-CPU values summed. */
int map_rows_read(int fd, int ncpus, void *scratch, size_t batch,
		  struct map_rows *r)
{
	struct drain_buf b = {.values = scratch,
			      .batch = batch,
			      .ncpus = ncpus,
			      .refuse_batch = features_test_refuses("batch")};
	struct rows_ctx c = {r, ncpus};
	int err;

	r->n = 0;
	b.keys = calloc(batch, sizeof(*b.keys));
	if (!b.keys)
		return -ENOMEM;
	err = map_walk(fd, false, &b, rows_append, &c);
	free(b.keys);
	return err;
}

int map_rows_delete(int fd, const struct map_rows *r)
{
	return map_delete_keys(fd, r->keys, r->n);
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

/*
 * Apply what of map x's rows memory does not have yet: everything, minus
 * what an earlier look at the still-active map (the snapshot) applied.
 * Counts in a map only grow until it is drained, so no delta is negative.
 */
static int apply_delta(struct persist *p, struct persist_iface *pi, int x)
{
	const struct map_rows *r = &pi->rows[x];

	p->applying = (size_t)(pi - p->ifs);
	for (size_t i = 0; i < r->n; i++) {
		struct itm_value d = r->vals[i];
		const struct ip_entry *e = NULL;
		int err;

		if (pi->have_snap[x]) {
			struct in6_addr a;

			memcpy(&a, r->keys[i].addr, sizeof(a));
			e = ip_table_find_pid(&pi->snap[x], &a, r->keys[i].pid);
		}
		if (e) {
			d.tx_bytes -= e->tx_bytes;
			d.tx_packets -= e->tx_packets;
			d.rx_bytes -= e->rx_bytes;
			d.rx_packets -= e->rx_packets;
		}
		if (!d.tx_bytes && !d.tx_packets && !d.rx_bytes &&
		    !d.rx_packets)
			continue;
		err = p->cb.apply(p->cb.ctx, &r->keys[i], &d);
		if (err)
			return err;
	}
	return 0;
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
		struct in6_addr a;
		struct ip_entry *e;

		memcpy(&a, r->keys[i].addr, sizeof(a));
		e = ip_table_upsert_pid(&pi->snap[x], &a, r->keys[i].pid);
		if (!e)
			return -ENOMEM;
		e->tx_bytes = r->vals[i].tx_bytes;
		e->tx_packets = r->vals[i].tx_packets;
		e->rx_bytes = r->vals[i].rx_bytes;
		e->rx_packets = r->vals[i].rx_packets;
	}
	p->backlog += pi->snap[x].count;
	return 0;
}

static int read_map(struct persist *p, struct persist_iface *pi, int x)
{
	int err = map_rows_read(iface_monitor_stats_fd(pi->m, x), p->ncpus,
				p->scratch, BATCH, &pi->rows[x]);

	if (err)
		pr_warn(_("%s: reading a statistics map failed: %s\n"),
			pi->m->name, strerror(-err));
	return err;
}

int persist_init(struct persist *p, struct store *store,
		 struct iface_monitor *ifaces, size_t n,
		 const struct persist_cb *cb)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->store = store;
	p->cb = *cb;
	p->n = n;
	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0)
		return -EINVAL;
	p->ifs = calloc(n, sizeof(*p->ifs));
	p->scratch = calloc(BATCH * (size_t)p->ncpus,
			    ITM_PERCPU_STRIDE(struct itm_value));
	if (!p->ifs || !p->scratch) {
		persist_free(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct persist_iface *pi = &p->ifs[i];
		struct store_iface_state st = {0};
		__u32 zero = 0;
		bool same;

		pi->m = &ifaces[i];
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
		err = read_map(p, pi, !pi->m->active);
		if (err)
			goto fail;
		if (store) {
			err = store_iface(store, pi->m->name, &pi->db_id);
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
		/* Memory starts from the database; no database: the kernel. */
		if (store) {
			struct itm_value o[STORE_OTHER_MAX];
			static const int idx[STORE_OTHER_MAX][2] = {
				{ITM_CTR_OVERFLOW_TX, ITM_CTR_OVERFLOW_RX},
				{ITM_CTR_NON_IP_TX, ITM_CTR_NON_IP_RX},
				{ITM_CTR_MALFORMED_TX, ITM_CTR_MALFORMED_RX},
			};

			err = store_restore_other(store, pi->db_id, o);
			if (err) {
				pr_err(_("cannot read database %s: %s\n"),
				       store_path(store), store_errmsg(store));
				goto fail_quiet;
			}
			for (int k = 0; k < STORE_OTHER_MAX; k++) {
				int tx = idx[k][0], rx = idx[k][1];

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
		if (pi->rows[!pi->m->active].n) {
			int x = !pi->m->active;

			if (same && pi->meta.seq[x] <= st.seq) {
				pr_info(_("%s: %zu addresses of an earlier run were already stored; discarding the kernel's copy\n"),
					pi->m->name, pi->rows[x].n);
				err = map_rows_delete(
					iface_monitor_stats_fd(pi->m, x),
					&pi->rows[x]);
				if (err)
					goto fail;
				pi->rows[x].n = 0;
			} else {
				pr_info(_("%s: adopting %zu addresses an earlier run counted but did not store\n"),
					pi->m->name, pi->rows[x].n);
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
	return 0;
fail:
	pr_err(_("cannot use the kernel maps: %s\n"), strerror(-err));
fail_quiet:
	persist_free(p);
	return err;
}

void persist_free(struct persist *p)
{
	for (size_t i = 0; p->ifs && i < p->n; i++) {
		for (int x = 0; x < 2; x++) {
			if (p->ifs[i].have_snap[x])
				ip_table_free(&p->ifs[i].snap[x]);
			map_rows_free(&p->ifs[i].rows[x]);
		}
	}
	free(p->ifs);
	free(p->scratch);
	p->ifs = NULL;
	p->scratch = NULL;
	p->n = 0;
}

static int add_rows(struct persist *p, struct persist_iface *pi, int x)
{
	const struct map_rows *r = &pi->rows[x];

	for (size_t i = 0; i < r->n; i++) {
		struct store_row row = {.pid = r->keys[i].pid, .v = r->vals[i]};
		int err;

		memcpy(&row.addr, r->keys[i].addr, sizeof(row.addr));
		p->cb.describe(p->cb.ctx, &r->keys[i], &row.geo, &row.process);
		err = store_add(p->store, pi->db_id, &row);
		if (err)
			return err;
	}
	return 0;
}

static struct itm_value ctr_delta(const struct persist_iface *pi, int tx,
				  int rx)
{
	return (struct itm_value){
		.tx_bytes = pi->cur[tx].bytes - pi->committed[tx].bytes,
		.tx_packets = pi->cur[tx].packets - pi->committed[tx].packets,
		.rx_bytes = pi->cur[rx].bytes - pi->committed[rx].bytes,
		.rx_packets = pi->cur[rx].packets - pi->committed[rx].packets,
	};
}

static int commit_all(struct persist *p, int64_t now)
{
	int err = store_begin(p->store, now);

	for (size_t i = 0; !err && i < p->n; i++) {
		struct persist_iface *pi = &p->ifs[i];
		struct store_iface_state st = {.instance = pi->meta.instance,
					       .seq = pi->db_seq};
		struct itm_value d;

		for (int x = 0; x < 2 && !err; x++) {
			if (!pi->in_commit[x])
				continue;
			err = add_rows(p, pi, x);
			if (pi->meta.seq[x] > st.seq)
				st.seq = pi->meta.seq[x];
		}
		if (err)
			break;
		d = ctr_delta(pi, ITM_CTR_OVERFLOW_TX, ITM_CTR_OVERFLOW_RX);
		if (!err)
			err = store_add_other(p->store, pi->db_id,
					      STORE_OTHER_OVERFLOW, &d);
		d = ctr_delta(pi, ITM_CTR_NON_IP_TX, ITM_CTR_NON_IP_RX);
		if (!err)
			err = store_add_other(p->store, pi->db_id,
					      STORE_OTHER_NON_IP, &d);
		d = ctr_delta(pi, ITM_CTR_MALFORMED_TX, ITM_CTR_MALFORMED_RX);
		if (!err)
			err = store_add_other(p->store, pi->db_id,
					      STORE_OTHER_MALFORMED, &d);
		memcpy(st.ctr, pi->cur, sizeof(st.ctr));
		if (!err)
			err = store_set_state(p->store, pi->db_id, &st);
	}
	if (!err)
		err = store_commit(p->store);
	if (err)
		store_rollback(p->store);
	return err;
}

/* Swap the empty spare in and read the old map (steps 1-3). */
static int swap_out(struct persist *p, struct persist_iface *pi)
{
	int old = pi->m->active, retired, err;

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

static void report(struct persist *p, int err)
{
	size_t waiting = 0;

	if (!err) {
		if (p->failing)
			pr_info(_("database %s is writable again; everything counted meanwhile is stored\n"),
				store_path(p->store));
		p->failing = 0;
		return;
	}
	p->failures++;
	if (err == p->failing)
		return;
	p->failing = err;
	for (size_t i = 0; i < p->n; i++)
		for (int x = 0; x < 2; x++)
			if (p->ifs[i].pending[x])
				waiting += p->ifs[i].rows[x].n;
	pr_warn(_("writing database %s failed: %s; still counting: %zu address rows wait in the kernel's maps, %zu keys are held in memory (at most --map-size per interface); retrying at every drain\n"),
		store_path(p->store), store_errmsg(p->store), waiting,
		p->backlog);
}

/* Step 5 for map x, also retried when it failed after a commit. */
static int empty_map(struct persist *p, struct persist_iface *pi, int x)
{
	int err =
		map_rows_delete(iface_monitor_stats_fd(pi->m, x), &pi->rows[x]);

	if (err) {
		pr_warn(_("%s: emptying a stored map failed: %s\n"),
			pi->m->name, strerror(-err));
		pi->undeleted[x] = true;
		return err;
	}
	pi->undeleted[x] = false;
	pi->pending[x] = false;
	snap_clear(p, pi, x);
	return 0;
}

static int drain_iface(struct persist *p, struct persist_iface *pi)
{
	int x = !pi->m->active, err;

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
		/* Retry the waiting map; look at the active one meanwhile. */
		if (pi->unapplied[x]) {
			err = read_map(p, pi, x);
			if (!err)
				err = apply_delta(p, pi, x);
			if (err)
				return err;
			pi->unapplied[x] = false;
			pi->pending[x] = true;
		}
		pi->in_commit[x] = true;
		err = read_map(p, pi, pi->m->active);
		if (!err) {
			/* Not swapped: it keeps filling until the commit. */
			pi->entries = pi->rows[pi->m->active].n;
			err = apply_delta(p, pi, pi->m->active);
		}
		if (!err)
			err = snap_set(p, pi, pi->m->active);
	} else {
		err = swap_out(p, pi);
		x = !pi->m->active; /* the map just swapped out */
		if (!err) {
			pi->entries = pi->rows[x].n;
			err = apply_delta(p, pi, x);
		}
		if (!err) {
			/* Memory has all of it now; committed or not. */
			snap_clear(p, pi, x);
			pi->pending[x] = p->store != NULL;
		}
	}
	if (!err)
		err = read_counters(p, pi);
	return err;
}

/*
 * One drain and commit of every interface.  *cerr gets the commit's
 * result; the return value is the first drain error.
 */
static int drain_round(struct persist *p, int64_t now, int *cerr)
{
	int err = 0;

	*cerr = 0;
	for (size_t i = 0; i < p->n; i++) {
		int e = drain_iface(p, &p->ifs[i]);

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
	*cerr = commit_all(p, now);
	if (*cerr)
		return err; /* pending maps stay; the next drain retries */
	maybe_crash(CRASH_AFTER_COMMIT);
	p->commits++;
	for (size_t i = 0; i < p->n; i++) {
		struct persist_iface *pi = &p->ifs[i];

		for (int x = 0; x < 2; x++) {
			if (!pi->in_commit[x])
				continue;
			if (pi->meta.seq[x] > pi->db_seq)
				pi->db_seq = pi->meta.seq[x];
			if (empty_map(p, pi, x) && !err)
				err = -EIO;
		}
		memcpy(pi->committed, pi->cur, sizeof(pi->committed));
	}
	return err;
}

/*
 * Memory holds counts of a map that is still active and so uncommitted:
 * what a fault let the active map gather while the swapped-out one
 * waited.  Committing the waiting map does not store them.
 */
static bool behind(const struct persist *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ifs[i].have_snap[0] || p->ifs[i].have_snap[1])
			return true;
	return false;
}

int persist_drain(struct persist *p, int64_t now)
{
	int err, cerr;

	err = drain_round(p, now, &cerr);
	/*
	 * The fault cleared: the map that waited is committed, but the one
	 * that kept counting meanwhile is not.  Swap and commit it now, not
	 * one interval later (a stop may come first), and only then say
	 * that everything is stored.
	 */
	if (p->store && !cerr && behind(p)) {
		int e = drain_round(p, now, &cerr);

		if (e && !err)
			err = e;
	}
	if (!p->store)
		return err;
	if (cerr || !behind(p))
		report(p, cerr);
	if (!cerr && store_maintain(p->store, now, 24))
		pr_debug("rollup postponed: %s\n", store_errmsg(p->store));
	return err;
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
bool persist_clean(const struct persist *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct persist_iface *pi = &p->ifs[i];

		for (int x = 0; x < 2; x++)
			if (pi->pending[x] || pi->unapplied[x] ||
			    pi->have_snap[x] ||
			    (pi->m->skel && map_holds(pi, x)))
				return false;
	}
	return true;
}
