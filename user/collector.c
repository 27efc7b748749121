// SPDX-License-Identifier: MIT
#include "collector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define BATCH_ENTRIES 4096

/* The kernel copies per-CPU values in 8-byte-aligned slots. */
#define PERCPU_VALUE_SIZE(type) ((sizeof(type) + 7) & ~(size_t)7)

int collector_init(struct collector *c, struct iface_monitor *ifaces,
		   size_t n_ifaces, const struct collector_config *cfg)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->ifaces = ifaces;
	c->n_ifaces = n_ifaces;
	c->cfg = *cfg;
	c->per_process = cfg->name != NULL;
	c->start_time = (double)time(NULL);
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0)
		return c->ncpus ? c->ncpus : -EINVAL;
	c->batch = BATCH_ENTRIES;
	c->keys = calloc(c->batch, sizeof(*c->keys));
	c->values = calloc(c->batch * (size_t)c->ncpus,
			   PERCPU_VALUE_SIZE(struct itm_value));
	c->stats = calloc(n_ifaces, sizeof(*c->stats));
	if (!c->keys || !c->values || !c->stats) {
		collector_free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_ifaces; i++)
		snprintf(c->stats[i].name, sizeof(c->stats[i].name), "%s",
			 ifaces[i].name);
	err = ip_table_init(&c->table, cfg->threshold);
	if (err) {
		collector_free(c);
		return err;
	}
	if (c->per_process) {
		err = ip_table_init(&c->procs, cfg->threshold);
		if (err) {
			ip_table_free(&c->table);
			collector_free(c);
			return err;
		}
	}
	err = pthread_mutex_init(&c->lock, NULL);
	if (err) {
		ip_table_free(&c->table);
		collector_free(c);
		return -err;
	}
	c->lock_ready = true;
	return 0;
}

void collector_free(struct collector *c)
{
	if (c->lock_ready)
		pthread_mutex_destroy(&c->lock);
	ip_table_free(&c->table);
	if (c->procs.entries)
		ip_table_free(&c->procs);
	free(c->dead);
	c->dead = NULL;
	c->n_dead = 0;
	free(c->keys);
	free(c->values);
	free(c->stats);
	c->keys = NULL;
	c->values = NULL;
	c->stats = NULL;
	c->lock_ready = false;
}

static int merge_process(struct collector *c, const struct in6_addr *addr,
			 uint32_t pid, const struct itm_value *sum)
{
	struct ip_entry *e = ip_table_find_pid(&c->procs, addr, pid);

	if (!e) {
		e = ip_table_upsert_pid(&c->procs, addr, pid);
		if (!e)
			return -ENOMEM;
		c->cfg.name(c->cfg.name_ctx, pid, e->comm);
	}
	ip_entry_account(&c->procs, e, sum);
	return 0;
}

static int merge(struct collector *c, size_t count)
{
	const size_t vsz = PERCPU_VALUE_SIZE(struct itm_value);

	for (size_t i = 0; i < count; i++) {
		const char *row = (const char *)c->values + i * vsz * c->ncpus;
		struct itm_value sum;
		struct in6_addr addr;
		struct ip_entry *e;

		itm_value_sum_percpu(row, c->ncpus, &sum);
		memcpy(&addr, c->keys[i].addr, sizeof(addr));
		e = ip_table_find(&c->table, &addr);
		if (!e) {
			e = ip_table_upsert(&c->table, &addr);
			if (!e)
				return -ENOMEM;
			if (c->cfg.label)
				e->geo = c->cfg.label(c->cfg.label_ctx, &addr);
		}
		ip_entry_account(&c->table, e, &sum);
		if (c->per_process) {
			int err = merge_process(c, &addr, c->keys[i].pid, &sum);

			if (err)
				return err;
		}
	}
	return 0;
}

/* For kernels without batch ops: safe because nothing writes this map. */
static int drain_by_iteration(struct collector *c, int fd)
{
	const size_t vsz = PERCPU_VALUE_SIZE(struct itm_value);
	struct itm_key key;
	size_t n = 0;
	int err;

	while (!bpf_map_get_next_key(fd, NULL, &key)) {
		err = bpf_map_lookup_and_delete_elem(
			fd, &key, (char *)c->values + n * vsz * c->ncpus);
		if (err) {
			err = bpf_map_lookup_elem(fd, &key,
						  (char *)c->values +
							  n * vsz * c->ncpus);
			if (err || bpf_map_delete_elem(fd, &key))
				return -errno;
		}
		c->keys[n++] = key;
		if (n == c->batch) {
			err = merge(c, n);
			if (err)
				return err;
			n = 0;
		}
	}
	return merge(c, n);
}

static int drain_map(struct collector *c, int fd)
{
	__u32 out_batch, count;
	void *in = NULL;
	int err;

	for (;;) {
		count = (__u32)c->batch;
		err = bpf_map_lookup_and_delete_batch(
			fd, in, &out_batch, c->keys, c->values, &count, NULL);
		if (err && err != -ENOENT) {
			if (err == -EINVAL || err == -ENOTSUP ||
			    err == -EOPNOTSUPP)
				return drain_by_iteration(c, fd);
			pr_warn("draining a statistics map failed: %s\n",
				strerror(-err));
			return err;
		}
		if (merge(c, count))
			return -ENOMEM;
		if (err == -ENOENT)
			return 0;
		in = &out_batch;
	}
}

static void read_counters(struct collector *c, size_t idx)
{
	const size_t vsz = PERCPU_VALUE_SIZE(struct itm_counter);
	int fd = iface_monitor_counters_fd(&c->ifaces[idx]);
	char buf[vsz * (size_t)c->ncpus];

	for (__u32 k = 0; k < ITM_CTR_MAX; k++) {
		struct itm_counter sum = {};

		if (bpf_map_lookup_elem(fd, &k, buf))
			continue;
		for (int cpu = 0; cpu < c->ncpus; cpu++) {
			struct itm_counter v;

			memcpy(&v, buf + cpu * vsz, sizeof(v));
			sum.packets += v.packets;
			sum.bytes += v.bytes;
		}
		c->stats[idx].ctr[k] = sum;
	}
}

static int swap_and_drain(struct collector *c, size_t idx)
{
	struct iface_monitor *m = &c->ifaces[idx];
	int old = m->active, spare = !old;
	int spare_fd = iface_monitor_stats_fd(m, spare);
	__u32 zero = 0;

	/* Returns after synchronize_rcu(): no program still uses "old". */
	if (bpf_map_update_elem(iface_monitor_active_fd(m), &zero, &spare_fd,
				BPF_ANY)) {
		int err = -errno;

		pr_warn("%s: swapping the statistics map failed: %s\n", m->name,
			strerror(errno));
		return err;
	}
	m->active = spare;
	return drain_map(c, iface_monitor_stats_fd(m, old));
}

int collector_drain(struct collector *c)
{
	int err = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_ifaces; i++) {
		int e = swap_and_drain(c, i);

		if (e && !err)
			err = e;
		read_counters(c, i);
	}
	c->drains++;
	pthread_mutex_unlock(&c->lock);
	return err;
}

int collector_drain_final(struct collector *c)
{
	int err = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_ifaces; i++) {
		struct iface_monitor *m = &c->ifaces[i];
		int e;

		if (!m->skel)
			continue;
		/* The swap waits for programs still running after detach. */
		e = swap_and_drain(c, i);
		if (!e)
			e = drain_map(c, iface_monitor_stats_fd(m, m->active));
		if (e && !err)
			err = e;
		read_counters(c, i);
	}
	pthread_mutex_unlock(&c->lock);
	return err;
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
