// SPDX-License-Identifier: MIT
/*
 * The store on PostgreSQL (libpq).  The same flush protocol as SQLite
 * (persist.c): one transaction per drain that also records which kernel
 * map it contains, so a lost connection keeps the counts in the kernel
 * maps (bounded by --map-size; what does not fit is counted as overflow)
 * and the next drain commits them.  Each host writes its own interface
 * rows (ifaces.host); the address and process dimensions are shared.
 *
 * Not done here yet: the hourly/daily rollups and retention (buckets are
 * kept as written; see the README).
 */
#include "store_pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "geo_labels.h"
#include "store_schema.h"

/* Serialises schema creation between monitors starting together. */
#define SCHEMA_LOCK 0x49544d3131LL

/*
 * Dimension ids already known: an address with its labels (the labels
 * pointer is stable while the daemon runs) or a (pid, name).
 */
struct dim_key {
	struct in6_addr addr;
	const void *geo;
	uint32_t pid;
	char comm[ITM_COMM_LEN];
};

struct dim_cache {
	struct dim_key *keys;
	int64_t *ids; /* 0: empty */
	size_t mask, count;
};

struct store_pg {
	PGconn *conn;
	/*
	 * Addresses and processes are shared by every host: they are created
	 * on a second connection in autocommit, so two hosts' flushes never
	 * wait on each other's uncommitted dimension rows (a deadlock).
	 */
	PGconn *dims;
	struct dim_cache addrs, procs;
	char url[1024];
	char shown[1024]; /* the URL without a password, for messages */
	char host[256];
	uint32_t interval;
	int64_t ts;
	bool in_tx;
	bool prepared;
	char errmsg[1024];
};

enum { Q_ROW, Q_OTHER, Q_STATE, Q_KCTR, Q_MAX };

static const char *const q_name[Q_MAX] = {"itm_row", "itm_other", "itm_state",
					  "itm_kctr"};

#define ADD_EXCLUDED(t)                                                        \
	" DO UPDATE SET tx_bytes = " t ".tx_bytes + excluded.tx_bytes,"        \
	" rx_bytes = " t ".rx_bytes + excluded.rx_bytes,"                      \
	" tx_packets = " t ".tx_packets + excluded.tx_packets,"                \
	" rx_packets = " t ".rx_packets + excluded.rx_packets"

static const char *const q_sql[Q_MAX] = {
	[Q_ROW] = "INSERT INTO t_bucket(ts, iface_id, addr_id, proc_id,"
		  " seconds, tx_bytes, rx_bytes, tx_packets, rx_packets)"
		  " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)"
		  " ON CONFLICT(ts, iface_id, addr_id, proc_id)" ADD_EXCLUDED(
			  "t_bucket"),
	[Q_OTHER] = "INSERT INTO o_bucket(ts, iface_id, kind, seconds,"
		    " tx_bytes, rx_bytes, tx_packets, rx_packets)"
		    " VALUES($1, $2, $3, $4, $5, $6, $7, $8)"
		    " ON CONFLICT(ts, iface_id, kind)" ADD_EXCLUDED("o_bucket"),
	[Q_STATE] = "UPDATE ifaces SET instance = $2, seq = $3 WHERE id = $1",
	[Q_KCTR] = "INSERT INTO kernel_counters(iface_id, idx, packets, bytes)"
		   " VALUES($1, $2, $3, $4) ON CONFLICT(iface_id, idx)"
		   " DO UPDATE SET packets = excluded.packets,"
		   " bytes = excluded.bytes",
};

static const char ADDR_SQL[] =
	"INSERT INTO addrs(ip, remote_ip, country, province, city, isp)"
	" VALUES($1, $2, $3, $4, $5, $6)"
	" ON CONFLICT(ip, country, province, city, isp)"
	" DO UPDATE SET remote_ip = excluded.remote_ip RETURNING id";
static const char PROC_SQL[] =
	"INSERT INTO procs(pid, process) VALUES($1, $2)"
	" ON CONFLICT(pid, process) DO UPDATE SET pid = excluded.pid"
	" RETURNING id";

static uint64_t dim_hash(const struct dim_key *k)
{
	const unsigned char *p = (const unsigned char *)k;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static int64_t dim_get(const struct dim_cache *c, const struct dim_key *k)
{
	if (!c->ids)
		return 0;
	for (size_t i = dim_hash(k) & c->mask;; i = (i + 1) & c->mask) {
		if (!c->ids[i])
			return 0;
		if (!memcmp(&c->keys[i], k, sizeof(*k)))
			return c->ids[i];
	}
}

static void dim_slot(struct dim_cache *c, const struct dim_key *k, int64_t id)
{
	size_t i = dim_hash(k) & c->mask;

	while (c->ids[i])
		i = (i + 1) & c->mask;
	c->keys[i] = *k;
	c->ids[i] = id;
	c->count++;
}

/* A failed insert only costs another round trip later. */
static void dim_put(struct dim_cache *c, const struct dim_key *k, int64_t id)
{
	if (!c->ids || (c->count + 1) * 2 > c->mask + 1) {
		size_t n = c->ids ? (c->mask + 1) * 2 : 1024;
		struct dim_cache g = {.keys = calloc(n, sizeof(*g.keys)),
				      .ids = calloc(n, sizeof(*g.ids)),
				      .mask = n - 1};

		if (!g.keys || !g.ids) {
			free(g.keys);
			free(g.ids);
			return;
		}
		for (size_t i = 0; c->ids && i <= c->mask; i++)
			if (c->ids[i])
				dim_slot(&g, &c->keys[i], c->ids[i]);
		free(c->keys);
		free(c->ids);
		*c = g;
	}
	dim_slot(c, k, id);
}

static void dim_free(struct dim_cache *c)
{
	free(c->keys);
	free(c->ids);
	memset(c, 0, sizeof(*c));
}

bool store_pg_url(const char *path)
{
	return path && (!strncmp(path, "postgresql://", 13) ||
			!strncmp(path, "postgres://", 11));
}

static int fail(struct store_pg *s, const char *what)
{
	const char *m = s->conn ? PQerrorMessage(s->conn) : "no connection";
	size_t n;

	snprintf(s->errmsg, sizeof(s->errmsg), "%s%s%s", what ? what : "",
		 what ? ": " : "", m);
	/* libpq's messages span lines; ours are one line. */
	for (char *c = s->errmsg; *c; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	n = strlen(s->errmsg);
	while (n && s->errmsg[n - 1] == ' ')
		s->errmsg[--n] = '\0';
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
		return -ECONNRESET;
	return -EIO;
}

/* Run a statement without results; 0 or -errno. */
static int exec(struct store_pg *s, const char *sql)
{
	PGresult *r = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(r);
	int err = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		err = fail(s, NULL);
	PQclear(r);
	return err;
}

/* Replace every `from` with `to` in a malloc'ed string. */
static char *replace(char *s, const char *from, const char *to)
{
	size_t lf = strlen(from), lt = strlen(to), n = 0;
	char *out, *o, *p;

	if (!s)
		return NULL;
	for (p = strstr(s, from); p; p = strstr(p + lf, from))
		n++;
	out = malloc(strlen(s) + n * lt + 1);
	if (!out) {
		free(s);
		return NULL;
	}
	for (o = out, p = s;;) {
		char *q = strstr(p, from);

		if (!q) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, lt);
		o += lt;
		p = q + lf;
	}
	free(s);
	return out;
}

/*
 * The SQLite schema, translated: PostgreSQL types, and a host per
 * interface row, shown as the first column of both views.
 */
static char *pg_schema(void)
{
	size_t len = 1;
	char *s;

	for (int v = 0; v < STORE_SCHEMA_VERSION; v++)
		len += strlen(store_migrations[v]);
	s = calloc(1, len);
	if (!s)
		return NULL;
	for (int v = 0; v < STORE_SCHEMA_VERSION; v++)
		strcat(s, store_migrations[v]);
	s = replace(s, " WITHOUT ROWID", "");
	s = replace(s, "id INTEGER PRIMARY KEY",
		    "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
	s = replace(s, "INTEGER", "BIGINT");
	s = replace(s, "BLOB", "BYTEA");
	s = replace(
		s, "name TEXT NOT NULL UNIQUE,",
		"host TEXT NOT NULL, name TEXT NOT NULL, UNIQUE(host, name),");
	s = replace(s, "SELECT r.ts AS ts,",
		    "SELECT i.host AS host, r.ts AS ts,");
	return s;
}

static int create_schema(struct store_pg *s)
{
	char sql[256];
	char *ddl;
	PGresult *r;
	int err, exists;

	err = exec(s, "BEGIN");
	if (err)
		return err;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)",
		 SCHEMA_LOCK);
	err = exec(s, sql);
	if (err)
		goto out;
	r = PQexec(s->conn, "SELECT to_regclass('itm_schema') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		err = fail(s, NULL);
		goto out;
	}
	exists = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	if (exists) {
		r = PQexec(s->conn, "SELECT max(version) FROM itm_schema");
		if (PQresultStatus(r) == PGRES_TUPLES_OK &&
		    atoi(PQgetvalue(r, 0, 0)) > STORE_SCHEMA_VERSION) {
			snprintf(
				s->errmsg, sizeof(s->errmsg),
				"written by a newer version (schema %s, this one knows %d)",
				PQgetvalue(r, 0, 0), STORE_SCHEMA_VERSION);
			err = -EPROTO;
		}
		PQclear(r);
		goto out;
	}
	ddl = pg_schema();
	if (!ddl) {
		err = -ENOMEM;
		goto out;
	}
	err = exec(s, ddl);
	free(ddl);
	if (!err) {
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE itm_schema(version INTEGER NOT NULL);"
			 "INSERT INTO itm_schema VALUES(%d)",
			 STORE_SCHEMA_VERSION);
		err = exec(s, sql);
	}
out:
	if (err) {
		char keep[sizeof(s->errmsg)];

		memcpy(keep, s->errmsg, sizeof(keep));
		exec(s, "ROLLBACK");
		memcpy(s->errmsg, keep, sizeof(keep));
		return err;
	}
	return exec(s, "COMMIT");
}

static int prepare(struct store_pg *s)
{
	for (int i = 0; i < Q_MAX; i++) {
		PGresult *r = PQprepare(s->conn, q_name[i], q_sql[i], 0, NULL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

		PQclear(r);
		if (!ok)
			return fail(s, NULL);
	}
	s->prepared = true;
	return 0;
}

/* (Re)connect: after a lost connection each flush tries once. */
static int connect_db(struct store_pg *s)
{
	int err;

	if (s->conn && PQstatus(s->conn) == CONNECTION_OK && s->dims &&
	    PQstatus(s->dims) == CONNECTION_OK)
		return 0;
	if (s->conn)
		PQfinish(s->conn);
	if (s->dims)
		PQfinish(s->dims);
	s->prepared = false;
	s->conn = PQconnectdb(s->url);
	s->dims = PQconnectdb(s->url);
	if (!s->conn || !s->dims) {
		snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
		return -ENOMEM;
	}
	if (PQstatus(s->conn) != CONNECTION_OK)
		return fail(s, NULL);
	if (PQstatus(s->dims) != CONNECTION_OK) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s",
			 PQerrorMessage(s->dims));
		return -ECONNRESET;
	}
	err = exec(s, "SET client_min_messages = warning");
	if (!err)
		err = create_schema(s);
	if (!err)
		err = prepare(s);
	return err;
}

/* Messages show the URL without its password. */
static void hide_password(const char *url, char *out, size_t len)
{
	const char *scheme = strstr(url, "://"), *at, *colon;

	snprintf(out, len, "%s", url);
	if (!scheme)
		return;
	at = strchr(scheme + 3, '@');
	colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
	if (colon)
		snprintf(out, len, "%.*s:***%s", (int)(colon - url), url, at);
}

int store_pg_open(const struct store_config *cfg, struct store_pg **out,
		  char *errmsg, size_t len)
{
	struct store_pg *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if (strlen(cfg->path) >= sizeof(s->url)) {
		snprintf(errmsg, len, "the URL is too long");
		free(s);
		return -ENAMETOOLONG;
	}
	snprintf(s->url, sizeof(s->url), "%s", cfg->path);
	hide_password(s->url, s->shown, sizeof(s->shown));
	s->interval = cfg->interval ? cfg->interval : STORE_DEFAULT_INTERVAL;
	if (cfg->host && cfg->host[0])
		snprintf(s->host, sizeof(s->host), "%s", cfg->host);
	else if (gethostname(s->host, sizeof(s->host) - 1))
		snprintf(s->host, sizeof(s->host), "localhost");
	err = connect_db(s);
	if (err) {
		snprintf(errmsg, len, "%s", s->errmsg);
		store_pg_close(s);
		return err;
	}
	*out = s;
	return 0;
}

void store_pg_close(struct store_pg *s)
{
	if (!s)
		return;
	if (s->conn)
		PQfinish(s->conn);
	if (s->dims)
		PQfinish(s->dims);
	dim_free(&s->addrs);
	dim_free(&s->procs);
	free(s);
}

const char *store_pg_path(const struct store_pg *s)
{
	return s->shown;
}

const char *store_pg_errmsg(const struct store_pg *s)
{
	return s->errmsg;
}

/* Parameters as text, every value a 64-bit decimal. */
struct params {
	const char *v[16];
	char buf[16][24];
	int n;
};

static void p_int(struct params *p, int64_t v)
{
	snprintf(p->buf[p->n], sizeof(p->buf[0]), "%lld", (long long)v);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

static PGresult *run(struct store_pg *s, int q, const struct params *p)
{
	return PQexecPrepared(s->conn, q_name[q], p->n, p->v, NULL, NULL, 0);
}

static int run_cmd(struct store_pg *s, int q, const struct params *p)
{
	PGresult *r = run(s, q, p);
	int err = PQresultStatus(r) == PGRES_COMMAND_OK ||
				  PQresultStatus(r) == PGRES_TUPLES_OK
			  ? 0
			  : fail(s, NULL);

	PQclear(r);
	return err;
}

int store_pg_iface(struct store_pg *s, const char *name, int64_t *id)
{
	const char *v[2] = {s->host, name};
	PGresult *r;
	int err = 0;

	r = PQexecParams(
		s->conn,
		"INSERT INTO ifaces(host, name) VALUES($1, $2)"
		" ON CONFLICT(host, name) DO UPDATE SET name = excluded.name"
		" RETURNING id",
		2, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		err = fail(s, NULL);
	PQclear(r);
	return err;
}

int store_pg_get_state(struct store_pg *s, int64_t iface,
		       struct store_iface_state *out)
{
	char idbuf[24];
	const char *v[1] = {idbuf};
	PGresult *r;

	memset(out, 0, sizeof(*out));
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)iface);
	r = PQexecParams(s->conn,
			 "SELECT instance, seq FROM ifaces WHERE id = $1", 1,
			 NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return fail(s, NULL);
	}
	if (PQntuples(r) == 1) {
		out->instance = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		out->seq = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
	}
	PQclear(r);
	r = PQexecParams(s->conn,
			 "SELECT idx, packets, bytes FROM kernel_counters"
			 " WHERE iface_id = $1",
			 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return fail(s, NULL);
	}
	for (int i = 0; i < PQntuples(r); i++) {
		long idx = strtol(PQgetvalue(r, i, 0), NULL, 10);

		if (idx < 0 || idx >= ITM_CTR_MAX)
			continue;
		out->ctr[idx].packets = strtoull(PQgetvalue(r, i, 1), NULL, 10);
		out->ctr[idx].bytes = strtoull(PQgetvalue(r, i, 2), NULL, 10);
	}
	PQclear(r);
	return 0;
}

int store_pg_begin(struct store_pg *s, int64_t now)
{
	int err;

	s->errmsg[0] = '\0';
	if (s->in_tx)
		store_pg_rollback(s);
	err = connect_db(s);
	if (err)
		return err;
	s->ts = now - now % s->interval;
	err = exec(s, "BEGIN");
	if (!err)
		s->in_tx = true;
	return err;
}

static const char *label(const char *v)
{
	return v && v[0] ? v : "Unknown";
}

/* One dimension row's id, created (and committed) if new. */
static int dim_id(struct store_pg *s, const char *sql, int n,
		  const char *const *v, int64_t *id)
{
	PGresult *r = PQexecParams(s->dims, sql, n, NULL, v, NULL, NULL, 0);
	int err = 0;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	} else {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s",
			 PQerrorMessage(s->dims));
		for (char *c = s->errmsg; *c; c++)
			if (*c == '\n' || *c == '\t')
				*c = ' ';
		err = PQstatus(s->dims) == CONNECTION_OK ? -EIO : -ECONNRESET;
	}
	PQclear(r);
	return err;
}

static int addr_id(struct store_pg *s, const struct store_row *r, int64_t *id)
{
	const struct geo_labels *g = r->geo;
	char ip[INET6_ADDRSTRLEN], blob[2 + 32 + 1];
	struct dim_key k;
	const char *v[6];
	int err;

	memset(&k, 0, sizeof(k));
	k.addr = r->addr;
	k.geo = g;
	*id = dim_get(&s->addrs, &k);
	if (*id)
		return 0;
	addr_format(&r->addr, ip);
	/* bytea in hex input form: the 16 bytes the SQLite store keeps. */
	strcpy(blob, "\\x");
	for (int i = 0; i < 16; i++)
		snprintf(blob + 2 + 2 * i, 3, "%02x", r->addr.s6_addr[i]);
	v[0] = blob;
	v[1] = ip;
	v[2] = label(g ? g->country : NULL);
	v[3] = label(g ? g->province : NULL);
	v[4] = label(g ? g->city : NULL);
	v[5] = label(g ? g->isp : NULL);
	err = dim_id(s, ADDR_SQL, 6, v, id);
	if (!err)
		dim_put(&s->addrs, &k, *id);
	return err;
}

static int proc_id(struct store_pg *s, const struct store_row *r, int64_t *id)
{
	struct dim_key k;
	char pid[16];
	const char *v[2] = {pid, k.comm};
	int err;

	memset(&k, 0, sizeof(k));
	k.pid = r->pid;
	snprintf(k.comm, sizeof(k.comm), "%s",
		 r->process && r->process[0] ? r->process : "-");
	*id = dim_get(&s->procs, &k);
	if (*id)
		return 0;
	snprintf(pid, sizeof(pid), "%u", r->pid);
	err = dim_id(s, PROC_SQL, 2, v, id);
	if (!err)
		dim_put(&s->procs, &k, *id);
	return err;
}

int store_pg_add(struct store_pg *s, int64_t iface, const struct store_row *r)
{
	struct params p = {.n = 0};
	int64_t aid, pid;
	int err;

	err = addr_id(s, r, &aid);
	if (!err)
		err = proc_id(s, r, &pid);
	if (err)
		return err;
	p_int(&p, s->ts);
	p_int(&p, iface);
	p_int(&p, aid);
	p_int(&p, pid);
	p_int(&p, s->interval);
	p_int(&p, (int64_t)r->v.tx_bytes);
	p_int(&p, (int64_t)r->v.rx_bytes);
	p_int(&p, (int64_t)r->v.tx_packets);
	p_int(&p, (int64_t)r->v.rx_packets);
	return run_cmd(s, Q_ROW, &p);
}

int store_pg_add_other(struct store_pg *s, int64_t iface,
		       enum store_other_kind kind, const struct itm_value *v)
{
	struct params p = {.n = 0};

	if (!v->tx_packets && !v->rx_packets && !v->tx_bytes && !v->rx_bytes)
		return 0;
	p_int(&p, s->ts);
	p_int(&p, iface);
	p_int(&p, kind);
	p_int(&p, s->interval);
	p_int(&p, (int64_t)v->tx_bytes);
	p_int(&p, (int64_t)v->rx_bytes);
	p_int(&p, (int64_t)v->tx_packets);
	p_int(&p, (int64_t)v->rx_packets);
	return run_cmd(s, Q_OTHER, &p);
}

int store_pg_set_state(struct store_pg *s, int64_t iface,
		       const struct store_iface_state *st)
{
	struct params p = {.n = 0};
	int err;

	p_int(&p, iface);
	p_int(&p, (int64_t)st->instance);
	p_int(&p, (int64_t)st->seq);
	err = run_cmd(s, Q_STATE, &p);
	for (int i = 0; !err && i < ITM_CTR_MAX; i++) {
		p.n = 0;
		p_int(&p, iface);
		p_int(&p, i);
		p_int(&p, (int64_t)st->ctr[i].packets);
		p_int(&p, (int64_t)st->ctr[i].bytes);
		err = run_cmd(s, Q_KCTR, &p);
	}
	return err;
}

int store_pg_commit(struct store_pg *s)
{
	int err = exec(s, "COMMIT");

	if (!err)
		s->in_tx = false;
	return err;
}

void store_pg_rollback(struct store_pg *s)
{
	if (s->conn && PQstatus(s->conn) == CONNECTION_OK &&
	    PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		exec(s, "ROLLBACK");
	s->in_tx = false;
}

static int hex_addr(const char *h, struct in6_addr *a)
{
	if (strncmp(h, "\\x", 2) || strlen(h) != 34)
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		unsigned v;

		if (sscanf(h + 2 + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		a->s6_addr[i] = (uint8_t)v;
	}
	return 0;
}

/* This host's all-time totals (buckets are kept whole on PostgreSQL). */
int store_pg_restore(struct store_pg *s, store_total_fn fn, void *ctx)
{
	const char *v[1] = {s->host};
	PGresult *r;
	int err = 0;

	r = PQexecParams(
		s->conn,
		"SELECT a.ip, p.pid, p.process, sum(r.tx_bytes), sum(r.rx_bytes),"
		" sum(r.tx_packets), sum(r.rx_packets) FROM t_bucket r"
		" JOIN ifaces i ON i.id = r.iface_id"
		" JOIN addrs a ON a.id = r.addr_id JOIN procs p ON p.id = r.proc_id"
		" WHERE i.host = $1 GROUP BY a.ip, p.pid, p.process",
		1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return fail(s, NULL);
	}
	for (int i = 0; !err && i < PQntuples(r); i++) {
		struct store_total t = {0};

		if (hex_addr(PQgetvalue(r, i, 0), &t.addr))
			continue;
		t.pid = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
		t.process = PQgetvalue(r, i, 2);
		t.v.tx_bytes = strtoull(PQgetvalue(r, i, 3), NULL, 10);
		t.v.rx_bytes = strtoull(PQgetvalue(r, i, 4), NULL, 10);
		t.v.tx_packets = strtoull(PQgetvalue(r, i, 5), NULL, 10);
		t.v.rx_packets = strtoull(PQgetvalue(r, i, 6), NULL, 10);
		err = fn(ctx, &t);
	}
	PQclear(r);
	return err;
}

int store_pg_restore_other(struct store_pg *s, int64_t iface,
			   struct itm_value out[STORE_OTHER_MAX])
{
	char idbuf[24];
	const char *v[1] = {idbuf};
	PGresult *r;

	memset(out, 0, sizeof(*out) * STORE_OTHER_MAX);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)iface);
	r = PQexecParams(s->conn,
			 "SELECT kind, sum(tx_bytes), sum(rx_bytes),"
			 " sum(tx_packets), sum(rx_packets) FROM o_bucket"
			 " WHERE iface_id = $1 GROUP BY kind",
			 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return fail(s, NULL);
	}
	for (int i = 0; i < PQntuples(r); i++) {
		long k = strtol(PQgetvalue(r, i, 0), NULL, 10);

		if (k < 0 || k >= STORE_OTHER_MAX)
			continue;
		out[k].tx_bytes = strtoull(PQgetvalue(r, i, 1), NULL, 10);
		out[k].rx_bytes = strtoull(PQgetvalue(r, i, 2), NULL, 10);
		out[k].tx_packets = strtoull(PQgetvalue(r, i, 3), NULL, 10);
		out[k].rx_packets = strtoull(PQgetvalue(r, i, 4), NULL, 10);
	}
	PQclear(r);
	return 0;
}
