// SPDX-License-Identifier: MIT
/*
 * The store's façade: store.h's functions over the backend a --db value
 * picks (store_ops.h).  The backend table below is the one place that
 * knows which backends exist.
 */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "i18n.h"
#include "log.h"
#include "store_ops.h"
#include "store_plan.h"

/* Tried in order; the last one, without claims(), takes the rest. */
static const struct store_ops *const backends[] = {
	&store_pg_ops,
	&store_ch_ops,
	&store_sqlite_ops,
};

struct store {
	const struct store_ops *ops;
	void *state;
	uint32_t interval; /* bucket seconds */
	char shown[PATH_MAX + 64];
};

const struct store_ops *store_backend(const char *path)
{
	size_t n = sizeof(backends) / sizeof(backends[0]);

	for (size_t i = 0; i + 1 < n; i++)
		if (backends[i]->claims && backends[i]->claims(path))
			return backends[i];
	return backends[n - 1];
}

const char *const *store_files(const char *path)
{
	return path ? store_backend(path)->files : NULL;
}

static void shown(const struct store_ops *ops, const char *path, char *out,
		  size_t len)
{
	if (ops->shown)
		ops->shown(path, out, len);
	else
		snprintf(out, len, "%s", path);
}

int store_open(const struct store_config *cfg, struct store **out)
{
	struct store *s = calloc(1, sizeof(*s));
	char why[PATH_MAX + 512] = "";
	int err;

	*out = NULL;
	if (!s) {
		pr_err(_("out of memory\n"));
		return -ENOMEM;
	}
	s->ops = store_backend(cfg->path);
	s->interval = cfg->interval ? cfg->interval : STORE_DEFAULT_INTERVAL;
	/* Never print a password given in a URI. */
	shown(s->ops, cfg->path, s->shown, sizeof(s->shown));
	err = s->ops->open(cfg, &s->state, why, sizeof(why));
	if (err) {
		if (err == -ENAMETOOLONG)
			pr_err(_("--db path is too long\n"));
		else
			pr_err(_("cannot use database %s: %s\n"), s->shown,
			       why);
		free(s);
		return err;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	s->ops->close(s->state);
	free(s);
}

const char *store_path(const struct store *s)
{
	return s->shown;
}

const char *store_errmsg(const struct store *s)
{
	return s->ops->errmsg(s->state);
}

int store_iface(struct store *s, const char *name, int64_t *id)
{
	return s->ops->iface(s->state, name, id);
}

int store_get_state(struct store *s, int64_t iface,
		    struct store_iface_state *st)
{
	return s->ops->get_state(s->state, iface, st);
}

int store_begin(struct store *s, int64_t now)
{
	return s->ops->begin(s->state, now);
}

int store_at(struct store *s, int64_t when)
{
	return s->ops->at(s->state, when);
}

int64_t store_bucket(const struct store *s, int64_t when)
{
	return store_floor(when, s->interval);
}

int store_add(struct store *s, int64_t iface, const struct store_row *r)
{
	return s->ops->add(s->state, iface, r);
}

int store_add_other(struct store *s, int64_t iface, enum store_other_kind kind,
		    const struct itm_value *v)
{
	/* Nothing to add: no row, on every backend. */
	if (!v->tx_packets && !v->rx_packets && !v->tx_bytes && !v->rx_bytes)
		return 0;
	return s->ops->add_other(s->state, iface, kind, v);
}

int store_set_state(struct store *s, int64_t iface,
		    const struct store_iface_state *st)
{
	return s->ops->set_state(s->state, iface, st);
}

int store_commit(struct store *s)
{
	return s->ops->commit(s->state);
}

void store_rollback(struct store *s)
{
	s->ops->rollback(s->state);
}

int store_maintain(struct store *s, int64_t now, unsigned max_hours)
{
	return s->ops->maintain(s->state, now, max_hours);
}

int store_restore(struct store *s, store_total_fn fn, void *ctx)
{
	return s->ops->restore(s->state, fn, ctx);
}

int store_restore_other(struct store *s, int64_t iface,
			struct itm_value out[STORE_OTHER_MAX])
{
	return s->ops->restore_other(s->state, iface, out);
}

bool store_has_outbox(const struct store *s)
{
	return s->ops->outbox_put && s->ops->outbox_ack && s->ops->outbox_load;
}

int store_outbox_put(struct store *s, int64_t iface, uint64_t seq,
		     int64_t ts_ms, const struct store_outbox_rec *recs,
		     size_t n)
{
	if (!s->ops->outbox_put)
		return -EOPNOTSUPP;
	return s->ops->outbox_put(s->state, iface, seq, ts_ms, recs, n);
}

int store_outbox_ack(struct store *s, const char *collector, int64_t iface,
		     uint64_t seq, int64_t ts_ms)
{
	if (!s->ops->outbox_ack)
		return -EOPNOTSUPP;
	return s->ops->outbox_ack(s->state, collector, iface, seq, ts_ms);
}

int store_outbox_load(struct store *s, const char *collector, int64_t iface,
		      uint64_t *pos_seq, int64_t *pos_ts, uint64_t *max_seq,
		      store_outbox_fn fn, void *ctx)
{
	if (!s->ops->outbox_load)
		return -EOPNOTSUPP;
	return s->ops->outbox_load(s->state, collector, iface, pos_seq, pos_ts,
				   max_seq, fn, ctx);
}
