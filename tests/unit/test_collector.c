// SPDX-License-Identifier: MIT
/*
 * The collector against a fake loader and a fake map drain (the real ones
 * need BPF and are covered by the e2e suite): what a scrape serves, and
 * that a failed drain fails the scrape instead of serving stale numbers,
 * and that a slow database reload does not hold the lock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "collector.h"
#include "drain.h"
#include "loader.h"
#include "persist.h"
#include "store.h"
#include "test_addr.h"

#define NCPUS 2

/* What the fakes do on the next drain. */
static struct {
	int swap_err;	    /* iface_monitor_swap() result */
	int drain_err;	    /* drain_map() result after delivering the batch */
	struct itm_key key; /* the first entry each drain delivers */
	size_t rows;	    /* entries per drain: key, key + 1, ... */
	struct itm_value per_cpu;
	size_t swaps;
	struct itm_counter missed; /* itm_mv_missed, per CPU */
} fake;

int iface_monitor_swap(struct iface_monitor *m, int *retired_fd)
{
	(void)m;
	fake.swaps++;
	*retired_fd = 3;
	return fake.swap_err;
}

int iface_monitor_current_fd(const struct iface_monitor *m)
{
	(void)m;
	return 4;
}

uint32_t iface_monitor_map_capacity(const struct iface_monitor *m)
{
	(void)m;
	return 8;
}

int iface_monitor_counters_fd(const struct iface_monitor *m)
{
	(void)m;
	return 5;
}

/*
 * The --db path (persist.c, store.c) has its own tests (test_store.c and
 * tests/e2e/test_store.py); these tests never enable it.
 */
int persist_new(struct persist **out, struct store *store,
		struct iface_monitor *const *ifaces, size_t n,
		const struct persist_cb *cb)
{
	(void)out, (void)store, (void)ifaces, (void)n, (void)cb;
	return -ENOTSUP;
}

int persist_drain(struct persist *p, int64_t now)
{
	(void)p, (void)now;
	return -ENOTSUP;
}

void persist_collect(struct persist *p)
{
	(void)p;
}

void persist_wait(struct persist *p)
{
	(void)p;
}

bool persist_settled(struct persist *p)
{
	(void)p;
	return true;
}

void persist_free(struct persist *p)
{
	(void)p;
}

bool persist_clean(struct persist *p)
{
	(void)p;
	return true;
}

const struct itm_counter *persist_shown(const struct persist *p, size_t i)
{
	(void)p, (void)i;
	return NULL;
}

size_t persist_entries(const struct persist *p, size_t i)
{
	(void)p, (void)i;
	return 0;
}

const struct itm_counter *persist_missed(const struct persist *p, size_t i)
{
	(void)p, (void)i;
	return NULL;
}

bool persist_has_store(const struct persist *p)
{
	(void)p;
	return false;
}

void persist_backlog(const struct persist *p, uint64_t *rows, uint64_t *bytes)
{
	(void)p;
	*rows = *bytes = 0;
}

int persist_outbox_open(struct persist *p, const char *collector,
			int64_t *pos_ts)
{
	(void)p, (void)collector, (void)pos_ts;
	return 0;
}

void persist_outbox_ack(struct persist *p, uint64_t seq, int64_t ts_ms)
{
	(void)p, (void)seq, (void)ts_ms;
}

int persist_outbox_final(struct persist *p)
{
	(void)p;
	return 0;
}

int store_restore(struct store *s, store_total_fn fn, void *ctx)
{
	(void)s, (void)fn, (void)ctx;
	return -ENOTSUP;
}

const char *store_path(const struct store *s)
{
	(void)s;
	return "";
}

const char *store_errmsg(const struct store *s)
{
	(void)s;
	return "";
}

int iface_monitor_missed_fd(const struct iface_monitor *m)
{
	(void)m;
	return 6;
}

/*
 * The counters map (5): ITM_CTR_OVERFLOW_RX is 2 packets, 80 bytes per
 * CPU; the missed moves of --xdp (6): fake.missed per CPU.
 */
int bpf_map_lookup_elem(int fd, const void *key, void *value)
{
	struct itm_counter c = {0};
	__u32 k;

	assert_true(fd == 5 || fd == 6);
	memcpy(&k, key, sizeof(k));
	if (fd == 6)
		c = fake.missed;
	else if (k == ITM_CTR_OVERFLOW_RX)
		c = (struct itm_counter){2, 80};
	for (int cpu = 0; cpu < NCPUS; cpu++)
		memcpy((char *)value + cpu * ITM_PERCPU_STRIDE(c), &c,
		       sizeof(c));
	return 0;
}

int drain_buf_init(struct drain_buf *b, size_t batch)
{
	memset(b, 0, sizeof(*b));
	b->ncpus = NCPUS;
	b->batch = batch;
	b->keys = calloc(1, sizeof(*b->keys));
	b->values = calloc(NCPUS, ITM_PERCPU_STRIDE(struct itm_value));
	return b->keys && b->values ? 0 : -ENOMEM;
}

void drain_buf_free(struct drain_buf *b)
{
	free(b->keys);
	free(b->values);
}

int drain_map(int fd, struct drain_buf *b, drain_batch_fn fn, void *ctx)
{
	int err;

	assert_true(fd == 3 || fd == 4); /* retired, or current (final) */
	for (size_t i = 0; i < fake.rows; i++) {
		b->keys[0] = fake.key;
		b->keys[0].addr[15] += (__u8)i;
		for (int cpu = 0; cpu < NCPUS; cpu++)
			memcpy((char *)b->values +
				       cpu * ITM_PERCPU_STRIDE(
						     struct itm_value),
			       &fake.per_cpu, sizeof(fake.per_cpu));
		err = fn(ctx, b->keys, b->values, 1);
		if (err)
			return err;
	}
	return fake.drain_err;
}

/* One monitor, loaded as far as the collector can tell; never dereferenced. */
static struct iface_monitor *const iface[1] = {
	(struct iface_monitor *)&fake,
};

const char *iface_monitor_name(const struct iface_monitor *m)
{
	assert_ptr_equal(m, iface[0]);
	return "veth0";
}

bool iface_monitor_loaded(const struct iface_monitor *m)
{
	assert_ptr_equal(m, iface[0]);
	return true;
}

static struct collector *setup(void)
{
	struct collector_config cfg = {.threshold = 0, .version = "t"};
	struct in6_addr a = test_addr("192.0.2.1");
	struct collector *c = NULL;

	memset(&fake, 0, sizeof(fake));
	memcpy(fake.key.addr, &a, sizeof(a));
	fake.per_cpu = (struct itm_value){100, 1, 300, 3};
	fake.rows = 1;
	assert_int_equal(collector_new(&c, iface, 1, &cfg), 0);
	return c;
}

static void test_scrape_drains_first(void **state)
{
	struct collector *c = setup();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	assert_int_equal(collector_render_metrics(c, &sb), 0);
	assert_int_equal(fake.swaps, 1);
	assert_non_null(strstr(sb.buf, "ip_traffic_tx_bytes_total{remote_ip="
				       "\"192.0.2.1\",country=\"Unknown\","
				       "province=\"Unknown\",city=\"Unknown\","
				       "isp=\"Unknown\",asn=\"Unknown\"} 200\n"));
	assert_non_null(strstr(
		sb.buf, "ip_traffic_overflow_rx_bytes_total{iface=\"veth0\"} "
			"160\n"));
	assert_non_null(strstr(sb.buf, "ip_traffic_scrape_duration_seconds"));
	assert_int_equal(collector_count(c), 1);
	strbuf_free(&sb);
	collector_free(c);
}

/* A scrape after a failed swap or drain is an error, not old numbers. */
static void test_failed_drain_fails_scrape(void **state)
{
	struct collector *c = setup();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	assert_int_equal(collector_drain(c), 0);
	fake.swap_err = -EBADF;
	assert_int_equal(collector_render_metrics(c, &sb), -EBADF);
	assert_int_equal(sb.len, 0);
	fake.swap_err = 0;
	fake.drain_err = -EIO;
	assert_int_equal(collector_render_metrics(c, &sb), -EIO);
	assert_int_equal(sb.len, 0);
	/* The periodic drain reports it too. */
	assert_int_equal(collector_drain(c), -EIO);
	fake.drain_err = 0;
	assert_int_equal(collector_render_metrics(c, &sb), 0);
	/* Nothing was lost or counted twice: four drains delivered 200 each
	 * (the swap failure delivered nothing). */
	assert_non_null(strstr(sb.buf, "ip_traffic_tx_bytes_total{remote_ip="
				       "\"192.0.2.1\",country=\"Unknown\","
				       "province=\"Unknown\",city=\"Unknown\","
				       "isp=\"Unknown\",asn=\"Unknown\"} 800\n"));
	strbuf_free(&sb);
	collector_free(c);
}

/* A scrape whose own drain finds rows entries shows entries as the fill. */
static void assert_fill(struct collector *c, size_t rows, unsigned entries)
{
	struct strbuf sb = STRBUF_INIT;
	char want[64];

	fake.rows = rows;
	assert_int_equal(collector_render_metrics(c, &sb), 0);
	snprintf(want, sizeof(want),
		 "\nip_traffic_map_entries{iface=\"veth0\"} %u\n", entries);
	assert_non_null(strstr(sb.buf, want));
	assert_non_null(strstr(
		sb.buf, "\nip_traffic_map_capacity{iface=\"veth0\"} 8\n"));
	strbuf_free(&sb);
}

static void drain_finding(struct collector *c, size_t rows)
{
	fake.rows = rows;
	assert_int_equal(collector_drain(c), 0);
}

/*
 * The map fill is the most entries a drain found in the current and the
 * previous sample interval (collector_drain ends one), scrapes' drains
 * included: a scrape right after a drain must not hide a full interval.
 */
static void test_map_fill_peak_of_two_intervals(void **state)
{
	struct collector *c = setup();

	(void)state;
	assert_fill(c, 0, 0);
	drain_finding(c, 5); /* interval 1: 5 */
	assert_fill(c, 0, 5);
	assert_fill(c, 4, 5);
	drain_finding(c, 3); /* interval 2: 4 (a scrape's drain), 3 */
	assert_fill(c, 0, 4);
	assert_fill(c, 7, 7); /* interval 3 */
	drain_finding(c, 2);
	assert_fill(c, 1, 7);
	drain_finding(c, 0); /* interval 4: 1 */
	assert_fill(c, 0, 1);
	drain_finding(c, 0); /* interval 5: nothing */
	assert_fill(c, 0, 0);
	collector_free(c);
}

static void assert_missed(struct collector *c, unsigned long long bytes,
			  unsigned long long packets)
{
	struct strbuf sb = STRBUF_INIT;
	char want[128];

	assert_int_equal(collector_render_metrics(c, &sb), 0);
	snprintf(want, sizeof(want),
		 "\nip_traffic_xdp_attribution_missed_bytes_total"
		 "{iface=\"veth0\"} %llu\n", bytes);
	assert_non_null(strstr(sb.buf, want));
	snprintf(want, sizeof(want),
		 "\nip_traffic_xdp_attribution_missed_packets_total"
		 "{iface=\"veth0\"} %llu\n", packets);
	assert_non_null(strstr(sb.buf, want));
	strbuf_free(&sb);
}

/*
 * --xdp: the kernel's missed-move counter is summed over CPUs and
 * exported; when the programs are loaded anew (an interface that came
 * back) their counter starts at zero, and the export goes on from what the
 * old ones counted instead of going back.
 */
static void test_missed_moves_never_go_back(void **state)
{
	struct collector *c = setup();

	(void)state;
	assert_missed(c, 0, 0);
	fake.missed = (struct itm_counter){.packets = 1, .bytes = 1500};
	assert_missed(c, 3000, 2);
	fake.missed = (struct itm_counter){.packets = 3, .bytes = 1600};
	assert_missed(c, 3200, 6);
	/* New programs: their own counter from zero. */
	fake.missed = (struct itm_counter){0};
	assert_missed(c, 3200, 6);
	fake.missed = (struct itm_counter){.packets = 1, .bytes = 40};
	assert_missed(c, 3280, 8);
	collector_free(c);
}

static int count_rows(const struct collector_view *v, void *arg)
{
	*(size_t *)arg = v->table->count + (v->procs ? v->procs->count : 0);
	return v->n_ifaces == 1 ? 0 : -EINVAL;
}

static void test_visit_and_summary(void **state)
{
	struct collector *c = setup();
	struct strbuf sb = STRBUF_INIT;
	size_t rows = 99;

	(void)state;
	assert_int_equal(collector_visit(c, count_rows, &rows), 0);
	assert_int_equal(rows, 0);
	assert_int_equal(collector_drain_final(c), 0);
	assert_int_equal(fake.swaps, 1);
	assert_int_equal(collector_visit(c, count_rows, &rows), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(collector_render_summary(c, 0, &sb), 0);
	/* The final drain also emptied the current map: 2 x 200 + 2 x 600. */
	assert_non_null(strstr(sb.buf, "192.0.2.1"));
	assert_non_null(strstr(sb.buf, "1.56 KiB"));
	strbuf_free(&sb);
	collector_free(c);
}

/* A database reload whose files take RELOAD_S to read. */
#define RELOAD_S 1.0

static struct {
	volatile int reading; /* prepare() is reading the files */
	int applied;
	double scrape_s; /* how long a scrape took meanwhile */
	size_t swaps;	 /* drains the scrape did */
} reload;

static char staged_token;

static void *slow_prepare(void *ctx, char *what, size_t len, int *n)
{
	(void)ctx;
	reload.reading = 1;
	usleep((useconds_t)(RELOAD_S * 1e6));
	reload.reading = 0;
	snprintf(what, len, "a.mmdb");
	*n = 1;
	return &staged_token;
}

static void count_apply(void *ctx, void *staged)
{
	(void)ctx;
	assert_ptr_equal(staged, &staged_token);
	reload.applied++;
}

static void no_release(void *staged)
{
	assert_ptr_equal(staged, &staged_token);
}

static void *reloader(void *c)
{
	char what[64];

	assert_int_equal(collector_reload_labels(c, what, sizeof(what)), 1);
	assert_string_equal(what, "a.mmdb");
	return NULL;
}

/*
 * A database reload reads its files without the collector's lock: a
 * scrape meanwhile drains and answers at once, and only the swap
 * (apply) runs under the lock, after the files were read.
 */
static void test_reload_reads_without_lock(void **state)
{
	struct collector_config cfg = {
		.version = "t",
		.reload = {slow_prepare, count_apply, no_release},
	};
	struct collector *c = NULL;
	struct metrics_snapshot *s;
	double t0;
	pthread_t t;

	(void)state;
	memset(&fake, 0, sizeof(fake));
	memset(&reload, 0, sizeof(reload));
	assert_int_equal(collector_new(&c, iface, 1, &cfg), 0);
	assert_int_equal(pthread_create(&t, NULL, reloader, c), 0);
	while (!reload.reading)
		usleep(1000);
	t0 = monotonic_seconds();
	s = collector_snapshot_metrics(c);
	reload.scrape_s = monotonic_seconds() - t0;
	assert_non_null(s);
	metrics_snapshot_free(s);
	/* Drained while the files were still being read, and at once. */
	assert_int_equal(fake.swaps, 1);
	assert_true(reload.reading);
	assert_int_equal(reload.applied, 0);
	assert_true(reload.scrape_s < RELOAD_S / 4);
	pthread_join(t, NULL);
	assert_int_equal(reload.applied, 1);
	collector_free(c);
}

/* Runs one drain of rows entries with stderr going to a string. */
static char *drain_logging(struct collector *c, size_t rows)
{
	FILE *tmp = tmpfile();
	char *text = calloc(1, 4096);
	int saved;

	assert_non_null(tmp);
	assert_non_null(text);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) == 2);
	drain_finding(c, rows);
	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	rewind(tmp);
	assert_true(fread(text, 1, 4095, tmp) < 4095);
	fclose(tmp);
	return text;
}

static size_t count_lines_with(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		const char *hit = strstr(p, needle);

		n += hit && hit < p + len;
		p += len;
	}
	return n;
}

static struct collector *setup_limited(uint64_t threshold, size_t max)
{
	struct collector_config cfg = {
		.threshold = threshold,
		.max_tracked = max,
		.version = "t",
	};
	struct in6_addr a = test_addr("192.0.2.1");
	struct collector *c = NULL;

	memset(&fake, 0, sizeof(fake));
	memcpy(fake.key.addr, &a, sizeof(a));
	fake.per_cpu = (struct itm_value){100, 1, 300, 3};
	assert_int_equal(collector_new(&c, iface, 1, &cfg), 0);
	return c;
}

/*
 * The once-only lines at --max-tracked say how many addresses are
 * tracked (not the limit again) and the limit, and which case it is.
 */
static void test_limit_lines_say_tracked(void **state)
{
	struct collector *c;
	char want[128], *log;

	(void)state;
	/* Never exported: the 41st address evicts 2 (1/16), 39 stay. */
	c = setup_limited(1ULL << 40, 40);
	log = drain_logging(c, 41);
	assert_int_equal(collector_count(c), 39);
	snprintf(want, sizeof(want),
		 "39 remote addresses tracked, at most 40 (--max-tracked): the "
		 "longest-idle unexported ones are evicted");
	assert_non_null(strstr(log, want));
	assert_null(strstr(log, "none can be evicted"));
	assert_int_equal(count_lines_with(log, "--max-tracked"), 1);
	free(log);
	log = drain_logging(c, 60); /* once */
	assert_int_equal(count_lines_with(log, "--max-tracked"), 0);
	free(log);
	collector_free(c);

	/* All exported (-t 0): 4 kept, 2 refused, nothing evictable. */
	c = setup_limited(0, 4);
	log = drain_logging(c, 6);
	assert_int_equal(collector_count(c), 4);
	assert_non_null(strstr(
		log, "4 remote addresses tracked, at most 4 (--max-tracked), "
		     "and none can be evicted (all exported): new ones are not "
		     "tracked"));
	assert_non_null(strstr(log, "ip_traffic_refusals_total"));
	assert_int_equal(count_lines_with(log, "--max-tracked"), 1);
	free(log);
	log = drain_logging(c, 6);
	assert_int_equal(count_lines_with(log, "--max-tracked"), 0);
	free(log);
	collector_free(c);
}

/* What a sink saw: per-CPU rows summed, by interface index. */
struct seen {
	size_t deltas, counters, baselines;
	size_t iface;
	struct itm_key key;
	struct itm_value sum;
	struct itm_counter overflow_rx;
};

static void sink_delta(void *ctx, size_t iface, const struct itm_key *k,
		       const struct itm_value *d)
{
	struct seen *seen = ctx;

	seen->deltas++;
	seen->iface = iface;
	seen->key = *k;
	seen->sum.tx_bytes += d->tx_bytes;
	seen->sum.tx_packets += d->tx_packets;
	seen->sum.rx_bytes += d->rx_bytes;
	seen->sum.rx_packets += d->rx_packets;
}

static void sink_counters(void *ctx, size_t iface,
			  const struct itm_counter ctr[ITM_CTR_MAX],
			  bool baseline)
{
	struct seen *seen = ctx;

	assert_int_equal(iface, 0);
	if (baseline) {
		seen->baselines++;
		return;
	}
	seen->counters++;
	seen->overflow_rx = ctr[ITM_CTR_OVERFLOW_RX];
}

static void assert_two_drains(const struct seen *seen,
			      const struct in6_addr *a)
{
	assert_int_equal(seen->deltas, 2);
	assert_int_equal(seen->counters, 2);
	assert_int_equal(seen->baselines, 1); /* at registration */
	assert_int_equal(seen->iface, 0);
	assert_memory_equal(seen->key.addr, a, sizeof(*a));
	assert_int_equal(seen->key.pid, 42);
	/* Two drains of NCPUS rows each. */
	assert_int_equal(seen->sum.tx_bytes, 2 * NCPUS * 100);
	assert_int_equal(seen->sum.tx_packets, 2 * NCPUS * 1);
	assert_int_equal(seen->sum.rx_bytes, 2 * NCPUS * 300);
	assert_int_equal(seen->sum.rx_packets, 2 * NCPUS * 3);
	/* Counters are cumulative: the sink gets the kernel's totals. */
	assert_int_equal(seen->overflow_rx.packets, NCPUS * 2);
	assert_int_equal(seen->overflow_rx.bytes, NCPUS * 80);
}

/*
 * Every registered sink gets every delta the tables get, from drains and
 * scrapes; an unregistered one nothing more; the list has a bound.
 */
static void test_sinks_see_every_delta(void **state)
{
	struct collector_config cfg = {.version = "t"};
	struct in6_addr a = test_addr("2001:db8::7");
	struct strbuf sb = STRBUF_INIT;
	struct collector *c = NULL;
	struct seen seen[COLLECTOR_MAX_SINKS + 1] = {0};
	struct collector_sink s[COLLECTOR_MAX_SINKS + 1];

	(void)state;
	memset(&fake, 0, sizeof(fake));
	memcpy(fake.key.addr, &a, sizeof(a));
	fake.key.pid = 42;
	fake.per_cpu = (struct itm_value){100, 1, 300, 3};
	fake.rows = 1;
	for (size_t i = 0; i <= COLLECTOR_MAX_SINKS; i++)
		s[i] = (struct collector_sink){.delta = sink_delta,
					       .counters = sink_counters,
					       .ctx = &seen[i]};
	assert_int_equal(collector_new(&c, iface, 1, &cfg), 0);
	assert_int_equal(collector_add_sink(c, &s[0]), 0);
	assert_int_equal(collector_add_sink(c, &s[1]), 0);
	assert_int_equal(collector_add_sink(c, &s[1]), -EEXIST);
	assert_int_equal(collector_drain(c), 0);
	assert_int_equal(collector_render_metrics(c, &sb), 0);
	assert_two_drains(&seen[0], &a);
	assert_two_drains(&seen[1], &a);

	/* Gone: the other keeps counting, the removed one sees nothing. */
	collector_remove_sink(c, &seen[0]);
	assert_int_equal(collector_drain(c), 0);
	assert_int_equal(seen[0].deltas, 2);
	assert_int_equal(seen[0].counters, 2);
	assert_int_equal(seen[1].deltas, 3);
	assert_int_equal(seen[1].sum.tx_bytes, 3 * NCPUS * 100);

	/* one registered: COLLECTOR_MAX_SINKS - 1 more fit, then no more */
	for (size_t i = 2; i <= COLLECTOR_MAX_SINKS; i++)
		assert_int_equal(collector_add_sink(c, &s[i]), 0);
	assert_int_equal(collector_add_sink(c, &s[0]), -ENOSPC);
	strbuf_free(&sb);
	collector_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrape_drains_first),
		cmocka_unit_test(test_map_fill_peak_of_two_intervals),
		cmocka_unit_test(test_failed_drain_fails_scrape),
		cmocka_unit_test(test_visit_and_summary),
		cmocka_unit_test(test_reload_reads_without_lock),
		cmocka_unit_test(test_sinks_see_every_delta),
		cmocka_unit_test(test_limit_lines_say_tracked),
		cmocka_unit_test(test_missed_moves_never_go_back),
	};

	collector_free(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
