// SPDX-License-Identifier: MIT
#include "collector.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "drain.h"
#include "log.h"
#include "persist.h"
#include "procstat.h"
#include "store.h"
#include "summary.h"

#define BATCH_ENTRIES 4096

/*
 * Per interface: the most slots its kernel map held at a drain in the
 * current sample interval and in the one before.  Scrapes drain too, so
 * a drain can cover less than an interval; holding the peak of a whole
 * interval keeps a scrape that follows a drain closely from hiding how
 * full the map gets.
 */
struct map_fill {
	uint64_t cur, prev;
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
	struct iface_monitor **ifaces; /* a copy of the caller's pointers */
	struct iface_stats *stats;
	size_t n_ifaces;
	struct collector_config cfg;
	struct dead_pid *dead; /* sorted by pid */
	size_t n_dead;
	double start_time;
	struct drain_buf buf;	 /* scratch for batch reads */
	struct persist *persist; /* --db / --keep-attached; NULL: drain_map */
	/* Conditions that change where counts go, logged once each. */
	bool told_evicting, told_full, told_alloc;
	bool *told_overflow;   /* per interface */
	struct map_fill *fill; /* per interface */
	size_t drained;	       /* rows of the drain in progress */
	size_t draining;       /* index of the interface being drained */
	/* ITM_TEST_CLOCK_START: the store's wall clock minus the real one. */
	int64_t clock_offset;
	struct collector_sink sinks[COLLECTOR_MAX_SINKS];
	size_t n_sinks;
	bool sink_deltas;    /* some sink has a delta callback */
	double last_drain_s; /* how long the last drain took; < 0: none yet */
	/*
	 * Per interface: the missed-move counter as last read from the
	 * kernel, and what earlier program sets counted (a re-attach loads
	 * a new, zeroed one): the exported value never goes back.
	 */
	struct itm_counter *missed_last, *missed_base;
	/* --iface-label: per interface, per remote address; else NULL. */
	struct ip_table *by_iface;
	const struct ip_table **by_iface_ptrs;
};

static void by_iface_free(struct collector *c)
{
	for (size_t i = 0; c->by_iface && i < c->n_ifaces; i++)
		ip_table_free(&c->by_iface[i]);
	free(c->by_iface);
	free(c->by_iface_ptrs);
	c->by_iface = NULL;
	c->by_iface_ptrs = NULL;
}

/* The same threshold and limit as the table by address, per interface. */
static int by_iface_init(struct collector *c)
{
	size_t n = c->n_ifaces ? c->n_ifaces : 1;
	int err = 0;

	c->by_iface = calloc(n, sizeof(*c->by_iface));
	c->by_iface_ptrs = calloc(n, sizeof(*c->by_iface_ptrs));
	if (!c->by_iface || !c->by_iface_ptrs) {
		by_iface_free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_ifaces && !err; i++) {
		err = ip_table_init(&c->by_iface[i], c->cfg.threshold);
		if (!err)
			err = ip_table_set_limit(&c->by_iface[i],
						 c->cfg.max_tracked);
		c->by_iface_ptrs[i] = &c->by_iface[i];
	}
	if (err)
		by_iface_free(c);
	return err;
}

int collector_new(struct collector **out, struct iface_monitor *const *ifaces,
		  size_t n_ifaces, const struct collector_config *cfg)
{
	struct collector *c;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->n_ifaces = n_ifaces;
	c->cfg = *cfg;
	c->per_process = cfg->hooks.name != NULL;
	c->start_time = (double)time(NULL);
	c->last_drain_s = -1;

	err = drain_buf_init(&c->buf, BATCH_ENTRIES);
	if (err)
		goto err_free;
	c->stats = calloc(n_ifaces ? n_ifaces : 1, sizeof(*c->stats));
	c->told_overflow =
		calloc(n_ifaces ? n_ifaces : 1, sizeof(*c->told_overflow));
	c->fill = calloc(n_ifaces ? n_ifaces : 1, sizeof(*c->fill));
	c->ifaces = calloc(n_ifaces ? n_ifaces : 1, sizeof(*c->ifaces));
	c->missed_last =
		calloc(n_ifaces ? n_ifaces : 1, sizeof(*c->missed_last));
	c->missed_base =
		calloc(n_ifaces ? n_ifaces : 1, sizeof(*c->missed_base));
	if (!c->stats || !c->told_overflow || !c->fill || !c->ifaces ||
	    !c->missed_last || !c->missed_base) {
		free(c->stats);
		free(c->told_overflow);
		free(c->fill);
		free(c->ifaces);
		free(c->missed_last);
		free(c->missed_base);
		err = -ENOMEM;
		goto err_buf;
	}
	for (size_t i = 0; i < n_ifaces; i++) {
		c->ifaces[i] = ifaces[i];
		snprintf(c->stats[i].name, sizeof(c->stats[i].name), "%s",
			 iface_monitor_name(ifaces[i]));
		c->stats[i].attached = true;
		c->stats[i].map_capacity =
			iface_monitor_map_capacity(ifaces[i]);
	}
	err = ip_table_init(&c->table, cfg->threshold);
	if (!err)
		err = ip_table_set_limit(&c->table, cfg->max_tracked);
	if (err)
		goto err_table;
	if (c->per_process) {
		err = ip_table_init(&c->procs, cfg->threshold);
		if (!err)
			err = ip_table_set_limit(&c->procs, cfg->max_tracked);
		if (err)
			goto err_procs;
	}
	if (cfg->iface_label) {
		err = by_iface_init(c);
		if (err)
			goto err_procs;
	}
	err = -pthread_mutex_init(&c->lock, NULL);
	if (err)
		goto err_procs;
	*out = c;
	return 0;

err_procs:
	by_iface_free(c);
	ip_table_free(&c->procs);
err_table:
	ip_table_free(&c->table);
	free(c->stats);
	free(c->told_overflow);
	free(c->fill);
	free(c->ifaces);
	free(c->missed_last);
	free(c->missed_base);
err_buf:
	drain_buf_free(&c->buf);
err_free:
	free(c);
	return err;
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	/* Lets the writer finish a commit it holds. */
	persist_free(c->persist);
	pthread_mutex_destroy(&c->lock);
	ip_table_free(&c->table);
	ip_table_free(&c->procs);
	by_iface_free(c);
	free(c->dead);
	free(c->ifaces);
	free(c->stats);
	free(c->told_overflow);
	free(c->fill);
	free(c->missed_last);
	free(c->missed_base);
	drain_buf_free(&c->buf);
	free(c);
}

static void sinks_delta(struct collector *c, size_t iface,
			const struct itm_key *k, const struct itm_value *d)
{
	for (size_t i = 0; i < c->n_sinks; i++)
		if (c->sinks[i].delta)
			c->sinks[i].delta(c->sinks[i].ctx, iface, k, d);
}

static void sinks_counters(struct collector *c, size_t iface, bool baseline)
{
	for (size_t i = 0; i < c->n_sinks; i++)
		if (c->sinks[i].counters)
			c->sinks[i].counters(c->sinks[i].ctx, iface,
					     c->stats[iface].ctr, baseline);
}

int collector_add_sink(struct collector *c, const struct collector_sink *s)
{
	int err = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_sinks; i++)
		if (c->sinks[i].ctx == s->ctx)
			err = -EEXIST;
	if (!err && c->n_sinks == COLLECTOR_MAX_SINKS)
		err = -ENOSPC;
	if (!err) {
		c->sinks[c->n_sinks++] = *s;
		c->sink_deltas |= s->delta != NULL;
		for (size_t i = 0; s->counters && i < c->n_ifaces; i++)
			s->counters(s->ctx, i, c->stats[i].ctr, true);
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

void collector_remove_sink(struct collector *c, void *ctx)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	c->sink_deltas = false;
	for (size_t i = 0; i < c->n_sinks; i++) {
		if (c->sinks[i].ctx == ctx)
			continue;
		c->sinks[n] = c->sinks[i];
		c->sink_deltas |= c->sinks[n++].delta != NULL;
	}
	c->n_sinks = n;
	pthread_mutex_unlock(&c->lock);
}

/* Hand each row's per-CPU sum to the sinks, as the tables get it. */
static void sink_batch(struct collector *c, const struct itm_key *keys,
		       const void *values, size_t count)
{
	const size_t row =
		ITM_PERCPU_STRIDE(struct itm_value) * (size_t)c->buf.ncpus;

	for (size_t i = 0; i < count; i++) {
		struct itm_value sum;

		itm_value_sum_percpu((const char *)values + i * row,
				     c->buf.ncpus, &sum);
		sinks_delta(c, c->draining, &keys[i], &sum);
	}
}

static int merge(void *ctx, const struct itm_key *keys, const void *values,
		 size_t count)
{
	struct collector *c = ctx;
	int err;

	c->drained += count;
	err = ip_table_merge_batch(&c->table, c->per_process ? &c->procs : NULL,
				   keys, values, count, c->buf.ncpus,
				   &c->cfg.hooks);
	/* Nothing is lost there either: what finds no entry is evicted. */
	if (c->by_iface)
		ip_table_merge_batch(&c->by_iface[c->draining], NULL, keys,
				     values, count, c->buf.ncpus,
				     &c->cfg.hooks);
	/*
	 * Rows of a failed merge (ENOMEM) are gone from the map all the
	 * same; the sink gets them so exports stay complete.
	 */
	if (c->sink_deltas)
		sink_batch(c, keys, values, count);
	return err;
}

static void read_counters(struct collector *c, size_t idx)
{
	const size_t stride = ITM_PERCPU_STRIDE(struct itm_counter);
	int fd = iface_monitor_counters_fd(c->ifaces[idx]);
	char row[stride * (size_t)c->buf.ncpus];

	for (__u32 k = 0; k < ITM_CTR_MAX; k++)
		if (!bpf_map_lookup_elem(fd, &k, row))
			itm_counter_sum_percpu(row, c->buf.ncpus,
					       &c->stats[idx].ctr[k]);
	sinks_counters(c, idx, false);
}

/*
 * The missed moves of --xdp (cumulative in the kernel, read like the
 * other counters; zero without --xdp).  A smaller value than the last
 * means the programs were loaded anew (the interface came back): what the
 * old ones counted stays in the base.
 */
static void read_missed(struct collector *c, size_t idx)
{
	const size_t stride = ITM_PERCPU_STRIDE(struct itm_counter);
	int fd = iface_monitor_missed_fd(c->ifaces[idx]);
	char row[stride * (size_t)c->buf.ncpus];
	struct itm_counter now, *last = &c->missed_last[idx],
				*base = &c->missed_base[idx];
	__u32 k = 0;

	if (fd < 0 || bpf_map_lookup_elem(fd, &k, row))
		return;
	itm_counter_sum_percpu(row, c->buf.ncpus, &now);
	if (now.packets < last->packets || now.bytes < last->bytes) {
		base->packets += last->packets;
		base->bytes += last->bytes;
	}
	*last = now;
	c->stats[idx].xdp_missed.packets = base->packets + now.packets;
	c->stats[idx].xdp_missed.bytes = base->bytes + now.bytes;
	if (c->persist) {
		const struct itm_counter *m = persist_missed(c->persist, idx);

		c->stats[idx].xdp_missed.packets += m->packets;
		c->stats[idx].xdp_missed.bytes += m->bytes;
	}
}

/* Interface idx's map held n slots when it was drained. */
static void note_fill(struct collector *c, size_t idx, uint64_t n)
{
	struct map_fill *f = &c->fill[idx];

	if (n > f->cur)
		f->cur = n;
	c->stats[idx].map_entries = f->cur > f->prev ? f->cur : f->prev;
}

/* A sample interval ended (its drain noted): start the next one. */
static void next_fill_interval(struct collector *c)
{
	for (size_t i = 0; i < c->n_ifaces; i++) {
		c->fill[i].prev = c->fill[i].cur;
		c->fill[i].cur = 0;
		c->stats[i].map_entries = c->fill[i].prev;
	}
}

static int swap_and_drain(struct collector *c, struct iface_monitor *m)
{
	int retired, err;

	err = iface_monitor_swap(m, &retired);
	if (err)
		return err;
	c->drained = 0;
	err = drain_map(retired, &c->buf, merge, c);
	/* Rows read, merged or not (out of memory): the map held them. */
	note_fill(c, c->draining, c->drained);
	return err;
}

/* The counters as /metrics shows them, to the sink (baseline: set-up). */
static void shown_counters(struct collector *c, const struct persist *p,
			   bool baseline)
{
	for (size_t i = 0; i < c->n_ifaces; i++) {
		memcpy(c->stats[i].ctr, persist_shown(p, i),
		       sizeof(c->stats[i].ctr));
		sinks_counters(c, i, baseline);
	}
}

/* The wall time rows are stored at. */
static int64_t store_now(const struct collector *c)
{
	return (int64_t)time(NULL) + c->clock_offset;
}

static int drain_persist(struct collector *c)
{
	int err = persist_drain(c->persist, store_now(c));

	shown_counters(c, c->persist, false);
	for (size_t i = 0; i < c->n_ifaces; i++)
		note_fill(c, i, persist_entries(c->persist, i));
	return err;
}

/* Refusals for want of room at --max-tracked, not for want of memory. */
static uint64_t refused_at_limit(const struct ip_table *t)
{
	return t->n_refused - t->alloc_failures;
}

/*
 * Say once, where it can be acted on, that counts go to an aggregate: how
 * many addresses are tracked (not the limit: memory may run out first)
 * and the limit.
 */
static void report_limits(struct collector *c)
{
	uint64_t failed = c->table.alloc_failures + c->procs.alloc_failures;

	if (!c->told_evicting && c->table.n_evicted) {
		c->told_evicting = true;
		pr_warn(_("%zu remote addresses tracked, at most %zu (--max-tracked): the longest-idle unexported ones are evicted, their traffic counted in ip_traffic_evicted_* (logged once)\n"),
			c->table.count, c->cfg.max_tracked);
	}
	if (!c->told_full &&
	    refused_at_limit(&c->table) + refused_at_limit(&c->procs)) {
		c->told_full = true;
		pr_warn(_("%zu remote addresses tracked, at most %zu (--max-tracked), and none can be evicted (all exported): new ones are not tracked, their traffic is counted in ip_traffic_evicted_*, refusals in ip_traffic_refusals_total (logged once)\n"),
			c->table.count, c->cfg.max_tracked);
	}
	for (size_t i = 0; i < c->n_ifaces; i++) {
		const struct itm_counter *k = c->stats[i].ctr;

		if (c->told_overflow[i] || !(k[ITM_CTR_OVERFLOW_TX].packets +
					     k[ITM_CTR_OVERFLOW_RX].packets))
			continue;
		c->told_overflow[i] = true;
		pr_warn(_("%s: the kernel map was full (raise --map-size): traffic of addresses beyond it in an interval is counted in ip_traffic_overflow_* (logged once)\n"),
			c->stats[i].name);
	}
	if (!c->told_alloc && failed) {
		c->told_alloc = true;
		pr_err(_("out of memory with %zu remote addresses tracked (--max-tracked %zu): new addresses that find no room are not tracked, their traffic is counted in ip_traffic_evicted_*, refusals in ip_traffic_refusals_total and ip_traffic_alloc_failures_total (logged once)\n"),
		       c->table.count, c->cfg.max_tracked);
	}
}

static int drain_all(struct collector *c)
{
	int err = 0;

	ip_table_tick(&c->table);
	ip_table_tick(&c->procs);
	for (size_t i = 0; c->by_iface && i < c->n_ifaces; i++)
		ip_table_tick(&c->by_iface[i]);
	if (c->persist) {
		err = drain_persist(c);
		for (size_t i = 0; i < c->n_ifaces; i++)
			read_missed(c, i);
		report_limits(c);
		return err;
	}
	for (size_t i = 0; i < c->n_ifaces; i++) {
		int e;

		c->draining = i;
		e = swap_and_drain(c, c->ifaces[i]);

		if (e && !err)
			err = e;
		read_counters(c, i);
		read_missed(c, i);
	}
	report_limits(c);
	return err;
}

/* A drain, timed for ip_traffic_last_drain_duration_seconds. */
static int drain_locked(struct collector *c)
{
	double t0 = monotonic_seconds();
	int err = drain_all(c);

	c->last_drain_s = monotonic_seconds() - t0;
	return err;
}

int collector_drain(struct collector *c)
{
	int err;

	pthread_mutex_lock(&c->lock);
	err = drain_locked(c);
	next_fill_interval(c);
	pthread_mutex_unlock(&c->lock);
	return err;
}

/*
 * Rounds of the last drain: one for what the maps hold, one more when a
 * map kept counting while the writer was busy or the store failing.
 */
#define FINAL_ROUNDS 4

/*
 * Drain and wait for the writer until everything is committed or a
 * commit failed (the maps then stay pinned).  The lock is not held while
 * waiting.
 */
static int drain_final_persist(struct collector *c)
{
	int err = 0;

	for (int round = 0; round < FINAL_ROUNDS; round++) {
		int e;

		persist_wait(c->persist);
		pthread_mutex_lock(&c->lock);
		persist_collect(c->persist);
		if ((round && persist_settled(c->persist)) ||
		    round == FINAL_ROUNDS - 1) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		/* The swap waits for programs still running after detach. */
		e = drain_persist(c);
		pthread_mutex_unlock(&c->lock);
		if (e && !err)
			err = e;
	}
	return err;
}

int collector_drain_final(struct collector *c)
{
	int err = 0;

	if (c->persist)
		return drain_final_persist(c);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_ifaces; i++) {
		struct iface_monitor *m = c->ifaces[i];
		int e;

		if (!iface_monitor_loaded(m))
			continue;
		c->draining = i;
		/* The swap waits for programs still running after detach. */
		e = swap_and_drain(c, m);
		if (!e)
			e = drain_map(iface_monitor_current_fd(m), &c->buf,
				      merge, c);
		if (e && !err)
			err = e;
		read_counters(c, i);
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* ---- --db and --keep-attached (the protocol is in persist.c) ---------- */

static int apply(void *ctx, size_t iface, const struct itm_key *k,
		 const struct itm_value *delta)
{
	struct collector *c = ctx;
	const size_t stride = ITM_PERCPU_STRIDE(struct itm_value);
	char row[stride]; /* one "CPU": the delta is already summed */

	int err;

	memset(row, 0, sizeof(row));
	memcpy(row, delta, sizeof(*delta));
	err = ip_table_merge_batch(&c->table, c->per_process ? &c->procs : NULL,
				   k, row, 1, 1, &c->cfg.hooks);
	if (c->by_iface)
		ip_table_merge_batch(&c->by_iface[iface], NULL, k, row, 1, 1,
				     &c->cfg.hooks);
	/* Drains only: what set-up adopts or restores is no new traffic. */
	if (c->persist)
		sinks_delta(c, iface, k, delta);
	return err;
}

static void committed(void *ctx, size_t iface, uint64_t seq, int64_t ts_ms,
		      const struct store_outbox_rec *recs, size_t n)
{
	struct collector *c = ctx;

	for (size_t i = 0; i < c->n_sinks; i++)
		if (c->sinks[i].committed)
			c->sinks[i].committed(c->sinks[i].ctx, iface, seq,
					      ts_ms, recs, n);
}

static void describe(void *ctx, const struct itm_key *k,
		     const struct geo_labels **geo, char process[ITM_COMM_LEN])
{
	struct collector *c = ctx;
	const struct ip_entry *e;
	struct in6_addr a;

	memcpy(&a, k->addr, sizeof(a));
	e = ip_table_find(&c->table, &a);
	*geo = e ? e->geo : NULL;
	process[0] = '\0';
	if (!k->pid)
		return;
	e = c->per_process ? ip_table_find_pid(&c->procs, &a, k->pid) : NULL;
	if (e)
		snprintf(process, ITM_COMM_LEN, "%s", e->comm);
	else if (c->cfg.hooks.name)
		c->cfg.hooks.name(c->cfg.hooks.name_ctx, k->pid, process);
}

static bool same_process(struct collector *c, uint32_t pid, const char *name)
{
	char comm[ITM_COMM_LEN];

	if (!pid)
		return true;
	if (kill((pid_t)pid, 0) && errno == ESRCH)
		return false;
	c->cfg.hooks.name(c->cfg.hooks.name_ctx, pid, comm);
	return name && !strcmp(comm, name);
}

/*
 * Per-address totals come back whole.  A per-process series comes back
 * only if its pid still runs under the same name: series of exited
 * processes go after --pid-retention anyway, and a pid reused by another
 * program must not inherit them.
 */
static int restore_one(void *ctx, const struct store_total *t)
{
	struct collector *c = ctx;
	struct ip_entry *e = ip_table_find(&c->table, &t->addr);

	if (!e) {
		e = ip_table_upsert(&c->table, &t->addr);
		if (!e)
			return -ENOMEM;
		if (c->cfg.hooks.label)
			e->geo = c->cfg.hooks.label(c->cfg.hooks.label_ctx,
						    &t->addr);
	}
	ip_entry_account(&c->table, e, &t->v);
	if (!c->per_process || !same_process(c, t->pid, t->process))
		return 0;
	e = ip_table_upsert_pid(&c->procs, &t->addr, t->pid);
	if (!e)
		return -ENOMEM;
	if (!e->comm[0])
		snprintf(e->comm, sizeof(e->comm), "%s",
			 t->pid && t->process ? t->process : "-");
	ip_entry_account(&c->procs, e, &t->v);
	return 0;
}

/*
 * Test hook: ITM_TEST_CLOCK_START=<unix time> runs the store's clock from
 * that instant on, so a test reaches the end of an hour (a rollup) when
 * it chooses.  Only the time rows are stored at moves; nothing else.
 */
static int64_t clock_offset(void)
{
	const char *e = getenv("ITM_TEST_CLOCK_START");

	return e ? strtoll(e, NULL, 10) - (int64_t)time(NULL) : 0;
}

/*
 * Runs before any other thread exists (the HTTP server, the live socket
 * and persist's writer start later), so it reads the store without the
 * lock: nothing can wait for it.
 */
int collector_use_store(struct collector *c, struct store *store)
{
	struct persist_cb cb = {.apply = apply,
				.describe = describe,
				.committed = committed,
				.ctx = c};
	struct persist *p;
	int err;

	c->clock_offset = clock_offset();
	err = persist_new(&p, store, c->ifaces, c->n_ifaces, &cb);
	if (err)
		return err;
	if (store) {
		err = store_restore(store, restore_one, c);
		if (err) {
			pr_err(_("cannot read the totals in %s: %s\n"),
			       store_path(store), store_errmsg(store));
			persist_free(p);
			return err;
		}
		if (c->table.count)
			pr_info(_("continuing the totals of %zu addresses from %s\n"),
				c->table.count, store_path(store));
	}
	shown_counters(c, p, true);
	c->persist = p;
	return 0;
}

int collector_use_outbox(struct collector *c, const char *collector,
			 int64_t *pos_ts)
{
	*pos_ts = 0;
	return c->persist ? persist_outbox_open(c->persist, collector, pos_ts)
			  : 0;
}

void collector_outbox_ack(struct collector *c, uint64_t seq, int64_t ts_ms)
{
	if (c->persist)
		persist_outbox_ack(c->persist, seq, ts_ms);
}

int collector_outbox_final(struct collector *c)
{
	return c->persist ? persist_outbox_final(c->persist) : 0;
}

bool collector_all_stored(struct collector *c)
{
	bool clean;

	pthread_mutex_lock(&c->lock);
	clean = !c->persist || persist_clean(c->persist);
	pthread_mutex_unlock(&c->lock);
	return clean;
}

void collector_iface_state(struct collector *c, size_t idx, bool attached,
			   uint64_t reattached)
{
	pthread_mutex_lock(&c->lock);
	c->stats[idx].attached = attached;
	c->stats[idx].reattached = reattached;
	pthread_mutex_unlock(&c->lock);
}

/*
 * The files are read without the lock; only the swap of what lookups use
 * happens under it, so scrapes never wait for a database file.
 */
int collector_reload_labels(struct collector *c, char *what, size_t len)
{
	const struct collector_reload *r = &c->cfg.reload;
	void *staged;
	int n = 0;

	if (what && len)
		what[0] = '\0';
	if (!r->prepare)
		return 0;
	staged = r->prepare(c->cfg.hooks.label_ctx, what, len, &n);
	if (!staged)
		return n;
	pthread_mutex_lock(&c->lock);
	r->apply(c->cfg.hooks.label_ctx, staged);
	pthread_mutex_unlock(&c->lock);
	r->release(staged);
	return n;
}

static void view_locked(const struct collector *c, struct collector_view *v)
{
	*v = (struct collector_view){
		.table = &c->table,
		.procs = c->per_process ? &c->procs : NULL,
		.ifaces = c->stats,
		.n_ifaces = c->n_ifaces,
		.start_time = c->start_time,
	};
}

int collector_visit(struct collector *c, collector_view_fn fn, void *arg)
{
	struct collector_view v;
	int err;

	pthread_mutex_lock(&c->lock);
	view_locked(c, &v);
	err = fn(&v, arg);
	pthread_mutex_unlock(&c->lock);
	return err;
}

struct metrics_snapshot *collector_snapshot_metrics(struct collector *c)
{
	double t0 = monotonic_seconds();
	struct metrics_snapshot *snap = NULL;
	struct proc_stats ps;
	bool have_ps = false;
	struct export_delivery dl = {0};
	struct metrics_input in;
	struct collector_view v;
	bool delivery = false;
	int err;

	/* /proc is read without the lock; a failure only leaves them out. */
	if (c->cfg.process_metrics)
		have_ps = !procstat_read(&ps);

	/*
	 * Nobody holds the lock across I/O (commits, rollups and database
	 * reloads run outside it), so waiting for it is short.
	 */
	pthread_mutex_lock(&c->lock);
	/* Scrapes are exact: everything the kernel counted so far is in. */
	err = drain_locked(c);
	if (!err) {
		view_locked(c, &v);
		in = (struct metrics_input){
			.table = v.table,
			.procs = v.procs,
			.ifaces = v.ifaces,
			.n_ifaces = v.n_ifaces,
			.version = c->cfg.version,
			.start_time_seconds = v.start_time,
			.features = c->cfg.features,
			.libbpf_version = c->cfg.libbpf_version,
			.kernel = c->cfg.kernel,
			.process = have_ps ? &ps : NULL,
			.have_drain = c->last_drain_s >= 0,
			.last_drain_seconds = c->last_drain_s,
			.have_backlog =
				c->persist && persist_has_store(c->persist),
			.iface_tables = c->by_iface_ptrs,
		};
		if (in.have_backlog)
			persist_backlog(c->persist, &in.backlog_rows,
					&in.backlog_bytes);
		for (size_t i = 0; i < c->n_sinks; i++) {
			if (!c->sinks[i].delivery)
				continue;
			c->sinks[i].delivery(c->sinks[i].ctx, &dl);
			delivery = true;
		}
		if (delivery)
			in.ipfix = &dl;
		/* Copies the exported series only: cheap, then unlocked. */
		snap = metrics_snapshot_take(&in);
		if (!snap)
			err = -errno;
	}
	pthread_mutex_unlock(&c->lock);
	if (!snap) {
		errno = -err;
		return NULL;
	}
	metrics_snapshot_set_duration(snap, monotonic_seconds() - t0);
	return snap;
}

int collector_render_metrics(struct collector *c, struct strbuf *out)
{
	struct metrics_snapshot *snap = collector_snapshot_metrics(c);
	int r;

	if (!snap)
		return -errno;
	do
		r = metrics_snapshot_read(snap, out, 1U << 20);
	while (r > 0);
	metrics_snapshot_free(snap);
	return r;
}

struct summary_args {
	size_t top_n;
	int width;
	struct strbuf *out;
};

static int render_summary(const struct collector_view *v, void *arg)
{
	struct summary_args *a = arg;
	struct itm_value overflow = {0};

	/* What found no kernel map slot: in ip_traffic_all_*, so in TOTAL. */
	for (size_t i = 0; i < v->n_ifaces; i++) {
		const struct itm_counter *k = v->ifaces[i].ctr;

		overflow.tx_bytes += k[ITM_CTR_OVERFLOW_TX].bytes;
		overflow.tx_packets += k[ITM_CTR_OVERFLOW_TX].packets;
		overflow.rx_bytes += k[ITM_CTR_OVERFLOW_RX].bytes;
		overflow.rx_packets += k[ITM_CTR_OVERFLOW_RX].packets;
	}
	return summary_render_fit(v->table, v->procs, &overflow, a->top_n,
				  a->width, a->out);
}

int collector_render_summary(struct collector *c, size_t top_n,
			     struct strbuf *out)
{
	return collector_render_summary_fit(c, top_n, 0, out);
}

int collector_render_summary_fit(struct collector *c, size_t top_n, int width,
				 struct strbuf *out)
{
	struct summary_args a = {top_n, width, out};

	return collector_visit(c, render_summary, &a);
}

size_t collector_count(struct collector *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->table.count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* c->dead is sorted by pid: it is built from a sorted pid list. */
static struct dead_pid *find_dead(struct collector *c, uint32_t pid)
{
	size_t lo = 0, hi = c->n_dead;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->dead[mid].pid == pid)
			return &c->dead[mid];
		if (c->dead[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct prune_ctx {
	struct collector *c;
	double now;
	double retention;
};

static bool expired(const struct ip_entry *e, void *arg)
{
	struct prune_ctx *p = arg;
	struct dead_pid *d = e->pid ? find_dead(p->c, e->pid) : NULL;

	return d && p->now - d->since >= p->retention;
}

static bool pid_alive(uint32_t pid)
{
	return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

size_t collector_prune_exited(struct collector *c, double now, double retention)
{
	struct prune_ctx ctx = {c, now, retention};
	uint32_t *pids = NULL;
	size_t n = 0, removed = 0;

	if (!c->per_process)
		return 0;
	pthread_mutex_lock(&c->lock);
	pids = malloc((c->procs.count + 1) * sizeof(*pids));
	if (!pids)
		goto out;
	for (size_t i = 0; i < c->procs.count; i++)
		if (c->procs.entries[i].pid)
			pids[n++] = c->procs.entries[i].pid;
	qsort(pids, n, sizeof(*pids), cmp_u32);
	/* Rebuild the dead list from the distinct pids still in the table. */
	{
		struct dead_pid *dead = malloc((n + 1) * sizeof(*dead));
		size_t nd = 0;

		if (!dead)
			goto out;
		for (size_t i = 0; i < n; i++) {
			struct dead_pid *old;

			if (i && pids[i] == pids[i - 1])
				continue;
			if (pid_alive(pids[i]))
				continue;
			old = find_dead(c, pids[i]);
			dead[nd].pid = pids[i];
			dead[nd].since = old ? old->since : now;
			nd++;
		}
		free(c->dead);
		c->dead = dead;
		c->n_dead = nd;
	}
	removed = ip_table_remove_if(&c->procs, expired, &ctx);
out:
	pthread_mutex_unlock(&c->lock);
	free(pids);
	return removed;
}
