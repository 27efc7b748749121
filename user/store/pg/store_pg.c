// SPDX-License-Identifier: MIT
/*
 * The store on PostgreSQL (libpq).  The same flush protocol as SQLite
 * (persist.c): one transaction per drain that also records which kernel
 * map it contains, so a lost connection keeps the counts in the kernel
 * maps (bounded by --map-size; what does not fit is counted as overflow)
 * and the next drain commits them.  Each host writes its own interface
 * rows (ifaces.host); the address and process dimensions are shared.
 *
 * Rollups and retention run per host: each monitor rolls up and expires
 * only its own interfaces' rows, with its own horizons (meta.host), in
 * one transaction per step, so monitors never touch each other's rows.
 */
#include "pg_int.h"

#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "store_ids.h"
#include "store_labels.h"
#include "store_pg_sql.h"
#include "store_plan.h"
#include "store_schema.h"

/* Serialises schema creation between monitors starting together. */
#define SCHEMA_LOCK 0x49544d3131LL
/* With hashtext(host): one rollup of a host's rows at a time. */
#define ROLLUP_LOCK 0x49544d32

struct pg_row {
	int64_t ts;		 /* bucket */
	int64_t iface, aid, pid; /* 0: id still to be resolved */
	struct store_id_key a, p;
	struct itm_value v;
};

struct store_pg {
	PGconn *conn;
	/*
	 * Addresses and processes are shared by every host: they are created
	 * on a second connection in autocommit, so two hosts' flushes never
	 * wait on each other's uncommitted dimension rows (a deadlock).
	 */
	PGconn *dims;
	struct store_ids addrs, procs;
	char url[1024];
	char *addr_sql; /* the address upsert, its labels from the table */
	char host[256];
	uint32_t interval;
	uint64_t keep_buckets, keep_hours, keep_days;
	struct store_horizons hz; /* this host's, as last committed */
	int64_t ts;
	bool in_tx;
	bool prepared;
	/* Rows of the open flush, sent in pipelines at commit. */
	struct pg_row *rows;
	size_t n_rows, cap_rows;
	size_t *miss; /* rows whose address (or process) id is unknown */
	size_t n_miss;
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

static const char PROC_SQL[] =
	"INSERT INTO procs(pid, process) VALUES($1, $2)"
	" ON CONFLICT(pid, process) DO UPDATE SET pid = excluded.pid"
	" RETURNING id";

static bool pg_claims(const char *path)
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

/* Consume a command's result: 0, or -errno with the error reported. */
static int command_done(struct store_pg *s, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);
	int err = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		err = fail(s, NULL);
	PQclear(r);
	return err;
}

/* Run a statement without results; 0 or -errno. */
static int exec(struct store_pg *s, const char *sql)
{
	return command_done(s, PQexec(s->conn, sql));
}

static int create_schema(struct store_pg *s)
{
	char sql[256];
	char *ddl;
	PGresult *r;
	int err, exists, version;

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
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			PQclear(r);
			err = fail(s, NULL);
			goto out;
		}
		version = atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
		if (version > STORE_PG_SCHEMA_VERSION) {
			snprintf(
				s->errmsg, sizeof(s->errmsg),
				"written by a newer version (schema %d, this one knows %d)",
				version, STORE_PG_SCHEMA_VERSION);
			err = -EPROTO;
			goto out;
		}
		if (version == STORE_PG_SCHEMA_VERSION)
			goto out;
		ddl = store_pg_upgrade(version);
	} else {
		ddl = store_pg_upgrade(0);
	}
	if (!ddl) {
		err = -ENOMEM;
		goto out;
	}
	err = exec(s, ddl);
	free(ddl);
	if (!err) {
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS itm_schema(version INTEGER"
			 " NOT NULL); DELETE FROM itm_schema;"
			 "INSERT INTO itm_schema VALUES(%d)",
			 STORE_PG_SCHEMA_VERSION);
		err = exec(s, sql);
	}
out:
	if (!err)
		err = exec(s, STORE_OUTBOX_SQL("BIGINT", "BYTEA"));
	if (err) {
		char keep[sizeof(s->errmsg)];

		memcpy(keep, s->errmsg, sizeof(keep));
		exec(s, "ROLLBACK");
		memcpy(s->errmsg, keep, sizeof(keep));
		return err;
	}
	return exec(s, "COMMIT");
}

/* A statement whose only parameter ($1) is this host. */
static PGresult *host_exec(struct store_pg *s, const char *sql)
{
	const char *v[1] = {s->host};

	return PQexecParams(s->conn, sql, 1, NULL, v, NULL, NULL, 0);
}

static int host_cmd(struct store_pg *s, const char *sql)
{
	return command_done(s, host_exec(s, sql));
}

/* One value of a host query; NULL reads as INT64_MAX. */
static int host_int(struct store_pg *s, const char *sql, int64_t *out)
{
	PGresult *r = host_exec(s, sql);
	int err = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
	    PQnfields(r) != 1)
		err = fail(s, NULL);
	else if (PQgetisnull(r, 0, 0))
		*out = INT64_MAX;
	else if (PQgetvalue(r, 0, 0)[0] == 't' || PQgetvalue(r, 0, 0)[0] == 'f')
		*out = PQgetvalue(r, 0, 0)[0] == 't';
	else
		*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return err;
}

/* This host's horizons; `lock`: held until the transaction ends. */
static int read_horizons(struct store_pg *s, struct store_horizons *hz,
			 bool lock)
{
	const char *v[1] = {s->host};

	memset(hz, 0, sizeof(*hz));
	if (pg_rows(s->conn, lock ? PG_META_SQL " FOR UPDATE" : PG_META_SQL, 1,
		    v, store_horizons_row, hz))
		return fail(s, NULL);
	return 0;
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
	pg_log_notices(s->conn);
	pg_log_notices(s->dims);
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
	if (!err)
		err = host_cmd(
			s, "INSERT INTO meta(host, key, value)"
			   " VALUES($1, 'hour_done', 0), ($1, 'day_done', 0),"
			   " ($1, 'bucket_from', 0), ($1, 'hour_from', 0)"
			   " ON CONFLICT(host, key) DO NOTHING");
	if (!err)
		err = read_horizons(s, &s->hz, false);
	return err;
}

static void pg_close(void *state);
static void pg_rollback(void *state);

static int pg_open(const struct store_config *cfg, void **state, char *errmsg,
		   size_t len)
{
	struct store_pg *s = calloc(1, sizeof(*s));
	int err;

	*state = NULL;
	if (!s) {
		snprintf(errmsg, len, "out of memory");
		return -ENOMEM;
	}
	if (strlen(cfg->path) >= sizeof(s->url)) {
		snprintf(errmsg, len, "the URL is too long");
		free(s);
		return -EINVAL;
	}
	snprintf(s->url, sizeof(s->url), "%s", cfg->path);
	s->addr_sql = store_addr_upsert_sql();
	if (!s->addr_sql) {
		snprintf(errmsg, len, "out of memory");
		free(s);
		return -ENOMEM;
	}
	s->interval = cfg->interval ? cfg->interval : STORE_DEFAULT_INTERVAL;
	s->keep_buckets = cfg->keep_buckets;
	s->keep_hours = cfg->keep_hours;
	s->keep_days = cfg->keep_days;
	if (cfg->host && cfg->host[0])
		snprintf(s->host, sizeof(s->host), "%s", cfg->host);
	else if (gethostname(s->host, sizeof(s->host) - 1))
		snprintf(s->host, sizeof(s->host), "localhost");
	err = connect_db(s);
	if (err) {
		snprintf(errmsg, len, "%s", s->errmsg);
		pg_close(s);
		return err;
	}
	*state = s;
	return 0;
}

static void pg_close(void *state)
{
	struct store_pg *s = state;

	if (!s)
		return;
	if (s->conn)
		PQfinish(s->conn);
	if (s->dims)
		PQfinish(s->dims);
	store_ids_clear(&s->addrs);
	store_ids_clear(&s->procs);
	free(s->rows);
	free(s->miss);
	free(s->addr_sql);
	free(s);
}

static const char *pg_errmsg(const void *state)
{
	const struct store_pg *s = state;
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

static int pg_iface(void *state, const char *name, int64_t *id)
{
	struct store_pg *s = state;
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

static int pg_get_state(void *state, int64_t iface,
			struct store_iface_state *out)
{
	struct store_pg *s = state;
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

static int pg_at(void *state, int64_t when)
{
	struct store_pg *s = state;

	s->ts = store_floor(when, s->interval);
	/*
	 * Never write into an hour already rolled up (clock stepped back,
	 * or counts of an outage older than the rollup): the first bucket
	 * after it keeps them.
	 */
	if (s->ts < s->hz.hour_done)
		s->ts = s->hz.hour_done;
	return 0;
}

static int pg_begin(void *state, int64_t now)
{
	struct store_pg *s = state;
	int err;

	s->errmsg[0] = '\0';
	if (s->in_tx)
		pg_rollback(s);
	err = connect_db(s);
	if (err)
		return err;
	pg_at(s, now);
	err = exec(s, "BEGIN");
	if (!err)
		s->in_tx = true;
	return err;
}

/*
 * Round trips are what a central server costs per row: statements go in
 * pipelines of PIPE_CHUNK, one network exchange (and, on the autocommit
 * dimension connection, one commit) per chunk.  Chunks keep both sides'
 * socket buffers from filling up with results nobody reads yet.
 */
#define PIPE_CHUNK 1000

typedef int (*send_fn)(struct store_pg *s, PGconn *c, size_t i);
typedef void (*recv_fn)(struct store_pg *s, size_t i, PGresult *r);

static void conn_error(struct store_pg *s, PGconn *c)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", PQerrorMessage(c));
	for (char *p = s->errmsg; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
}

static int pipeline(struct store_pg *s, PGconn *c, size_t n, send_fn snd,
		    recv_fn rcv)
{
	int err = 0;

	if (!PQenterPipelineMode(c)) {
		conn_error(s, c);
		return -EIO;
	}
	for (size_t from = 0; from < n && !err; from += PIPE_CHUNK) {
		size_t to = from + PIPE_CHUNK < n ? from + PIPE_CHUNK : n;
		size_t got = from;
		bool synced = false;

		for (size_t i = from; i < to; i++)
			if (!snd(s, c, i)) {
				err = -EIO;
				break;
			}
		if (!PQpipelineSync(c))
			err = -EIO;
		while (!synced) {
			PGresult *r = PQgetResult(c);
			ExecStatusType st;

			if (!r) {
				if (PQstatus(c) != CONNECTION_OK) {
					err = -ECONNRESET;
					break;
				}
				continue; /* end of one statement's results */
			}
			st = PQresultStatus(r);
			if (st == PGRES_PIPELINE_SYNC) {
				synced = true;
			} else if (st == PGRES_TUPLES_OK ||
				   st == PGRES_COMMAND_OK) {
				if (rcv && got < to)
					rcv(s, got, r);
				got++;
			} else if (!err) {
				err = -EIO;
				snprintf(s->errmsg, sizeof(s->errmsg), "%s",
					 PQresultErrorMessage(r));
				for (char *p = s->errmsg; *p; p++)
					if (*p == '\n' || *p == '\t')
						*p = ' ';
			}
			PQclear(r);
		}
		if (err && !s->errmsg[0])
			conn_error(s, c);
	}
	PQexitPipelineMode(c);
	if (err && PQstatus(c) != CONNECTION_OK)
		err = -ECONNRESET;
	return err;
}

static int send_addr(struct store_pg *s, PGconn *c, size_t i)
{
	const struct pg_row *r = &s->rows[s->miss[i]];
	const struct geo_labels *g = r->a.geo;
	char ip[INET6_ADDRSTRLEN], blob[2 + 32 + 1];
	const char *v[2 + GEO_NLABELS];

	addr_format(&r->a.addr, ip);
	/* The 16 bytes the SQLite store keeps, in bytea's hex form. */
	store_pg_bytea(&r->a.addr, blob);
	v[0] = blob;
	v[1] = ip;
	for (int i = 0; i < GEO_NLABELS; i++)
		v[2 + i] = store_label(g, i);
	return PQsendQueryParams(c, s->addr_sql, 2 + GEO_NLABELS, NULL, v, NULL,
				 NULL, 0);
}

static void recv_addr(struct store_pg *s, size_t i, PGresult *r)
{
	struct pg_row *row = &s->rows[s->miss[i]];

	if (PQntuples(r) != 1)
		return;
	row->aid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	store_ids_put(&s->addrs, &row->a, row->aid);
}

static int send_proc(struct store_pg *s, PGconn *c, size_t i)
{
	const struct pg_row *r = &s->rows[s->miss[i]];
	char pid[16];
	const char *v[2] = {pid, r->p.comm};

	snprintf(pid, sizeof(pid), "%u", r->p.pid);
	return PQsendQueryParams(c, PROC_SQL, 2, NULL, v, NULL, NULL, 0);
}

static void recv_proc(struct store_pg *s, size_t i, PGresult *r)
{
	struct pg_row *row = &s->rows[s->miss[i]];

	if (PQntuples(r) != 1)
		return;
	row->pid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	store_ids_put(&s->procs, &row->p, row->pid);
}

static int send_row(struct store_pg *s, PGconn *c, size_t i)
{
	const struct pg_row *r = &s->rows[i];
	struct params p = {.n = 0};

	p_int(&p, r->ts);
	p_int(&p, r->iface);
	p_int(&p, r->aid);
	p_int(&p, r->pid);
	p_int(&p, s->interval);
	p_int(&p, (int64_t)r->v.tx_bytes);
	p_int(&p, (int64_t)r->v.rx_bytes);
	p_int(&p, (int64_t)r->v.tx_packets);
	p_int(&p, (int64_t)r->v.rx_packets);
	return PQsendQueryPrepared(c, q_name[Q_ROW], p.n, p.v, NULL, NULL, 0);
}

/*
 * Ids of new addresses and processes first (committed on the dimension
 * connection; a repeat within the flush finds the cache filled by the
 * time its own lookup runs only across flushes, so duplicates are simply
 * upserted twice), then the bucket rows inside the flush transaction.
 */
/* Rows whose key is in neither cache, each key once. */
static int collect_misses(struct store_pg *s, bool procs)
{
	struct store_ids queued = {0};

	s->n_miss = 0;
	for (size_t i = 0; i < s->n_rows; i++) {
		struct pg_row *r = &s->rows[i];
		const struct store_id_key *k = procs ? &r->p : &r->a;
		int64_t *id = procs ? &r->pid : &r->aid;

		if (*id)
			continue;
		*id = store_ids_get(procs ? &s->procs : &s->addrs, k);
		if (*id || store_ids_get(&queued, k))
			continue;
		store_ids_put(&queued, k, 1);
		s->miss[s->n_miss++] = i;
	}
	store_ids_clear(&queued);
	return 0;
}

/* After the upserts: the rows that shared a key take its id too. */
static int fill_ids(struct store_pg *s, bool procs)
{
	for (size_t i = 0; i < s->n_rows; i++) {
		struct pg_row *r = &s->rows[i];
		int64_t *id = procs ? &r->pid : &r->aid;

		if (!*id)
			*id = store_ids_get(procs ? &s->procs : &s->addrs,
					    procs ? &r->p : &r->a);
		if (!*id) {
			snprintf(s->errmsg, sizeof(s->errmsg),
				 "no id for an address or process row");
			return -EIO;
		}
	}
	return 0;
}

/*
 * Ids of new addresses and processes first (committed on the dimension
 * connection), then the bucket rows inside the flush transaction.
 */
static int write_rows(struct store_pg *s)
{
	int err = 0;

	free(s->miss);
	s->miss = calloc(s->n_rows + 1, sizeof(*s->miss));
	if (!s->miss)
		return -ENOMEM;
	collect_misses(s, false);
	if (s->n_miss)
		err = pipeline(s, s->dims, s->n_miss, send_addr, recv_addr);
	if (!err)
		err = fill_ids(s, false);
	if (!err) {
		collect_misses(s, true);
		if (s->n_miss)
			err = pipeline(s, s->dims, s->n_miss, send_proc,
				       recv_proc);
	}
	if (!err)
		err = fill_ids(s, true);
	if (!err)
		err = pipeline(s, s->conn, s->n_rows, send_row, NULL);
	s->n_rows = 0;
	return err;
}

static int pg_add(void *state, int64_t iface, const struct store_row *r)
{
	struct store_pg *s = state;
	struct pg_row *row;

	if (s->n_rows == s->cap_rows) {
		size_t cap = s->cap_rows ? 2 * s->cap_rows : 4096;
		struct pg_row *p = realloc(s->rows, cap * sizeof(*p));

		if (!p) {
			snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
			return -ENOMEM;
		}
		s->rows = p;
		s->cap_rows = cap;
	}
	row = &s->rows[s->n_rows++];
	memset(row, 0, sizeof(*row));
	row->ts = s->ts;
	row->iface = iface;
	store_id_addr(&row->a, &r->addr, r->geo);
	store_id_proc(&row->p, r->pid, r->process);
	row->v = r->v;
	return 0;
}

static int pg_add_other(void *state, int64_t iface, enum store_other_kind kind,
			const struct itm_value *v)
{
	struct store_pg *s = state;
	struct params p = {.n = 0};

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

static int pg_set_state(void *state, int64_t iface,
			const struct store_iface_state *st)
{
	struct store_pg *s = state;
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

static int pg_commit(void *state)
{
	struct store_pg *s = state;
	int err = write_rows(s);

	if (!err)
		err = exec(s, "COMMIT");

	if (!err)
		s->in_tx = false;
	return err;
}

static void pg_rollback(void *state)
{
	struct store_pg *s = state;

	if (s->conn && PQstatus(s->conn) == CONNECTION_OK &&
	    PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		exec(s, "ROLLBACK");
	s->n_rows = 0;
	s->in_tx = false;
}

/* ---- rollups and retention -------------------------------------------- */

/*
 * Crash point for the tests: ITM_TEST_KILL_IN_ROLLUP=N makes the N-th
 * rollup step that rolled something up kill its process (SIGKILL) after
 * all its statements ran and before COMMIT.  The server then rolls the
 * whole step back; tests/e2e/test_pg_rollup.py checks that the next run
 * repeats it exactly once.
 */
static void maybe_crash(void)
{
	static long countdown = -1;
	const char *e;

	if (countdown < 0) {
		e = getenv("ITM_TEST_KILL_IN_ROLLUP");
		countdown = e ? atol(e) : 0;
	}
	if (countdown > 0 && --countdown == 0)
		raise(SIGKILL);
}

/* Both families of one statement builder, run for this host. */
static int run_both(struct store_pg *s,
		    int (*build)(char *, size_t, bool, const char *,
				 const char *, int64_t, int64_t),
		    const char *from, const char *to, int64_t ts, int64_t span)
{
	char sql[1024];
	int err = 0;

	for (int other = 0; other < 2 && !err; other++) {
		if (build(sql, sizeof(sql), other, from, to, ts, span) < 0)
			return -ENOSPC;
		err = host_cmd(s, sql);
	}
	return err;
}

static int roll(char *buf, size_t len, bool other, const char *from,
		const char *to, int64_t ts, int64_t span)
{
	return store_pg_roll_sql(buf, len, other, from, to, ts, span);
}

static int total(char *buf, size_t len, bool other, const char *from,
		 const char *to, int64_t ts, int64_t span)
{
	(void)from;
	(void)to;
	(void)span;
	return store_pg_total_sql(buf, len, other, ts);
}

static int expire(char *buf, size_t len, bool other, const char *unit,
		  const char *to, int64_t below, int64_t span)
{
	(void)to;
	(void)span;
	return store_pg_delete_sql(buf, len, other, unit, below);
}

static int rollup_next(void *ctx, bool hours, int64_t from, int64_t *ts)
{
	char sql[512];

	if (store_pg_next_sql(sql, sizeof(sql), hours ? "hour" : "bucket",
			      from) < 0)
		return -ENOSPC;
	return host_int(ctx, sql, ts);
}

static int rollup_roll(void *ctx, int64_t ts, int64_t span)
{
	int err;

	if (span == STORE_HOUR)
		return run_both(ctx, roll, "bucket", "hour", ts, STORE_HOUR);
	err = run_both(ctx, roll, "hour", "day", ts, STORE_DAY);
	return err ? err : run_both(ctx, total, NULL, NULL, ts, 0);
}

static const struct store_rollup_ops rollup_ops = {
	.next = rollup_next,
	.roll = rollup_roll,
};

static int set_meta(void *ctx, const char *key, int64_t v)
{
	struct store_pg *s = ctx;
	char val[24];
	const char *p[3] = {s->host, key, val};
	PGresult *r;
	int err = 0;

	snprintf(val, sizeof(val), "%lld", (long long)v);
	r = PQexecParams(s->conn,
			 "UPDATE meta SET value = $3 WHERE host = $1"
			 " AND key = $2",
			 3, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		err = fail(s, NULL);
	PQclear(r);
	return err;
}

/*
 * One transaction: roll this host's next closed hour (and day) up, if
 * any, and apply retention to this host's rows.  The horizons are read
 * under FOR UPDATE inside the transaction (not taken from memory), so a
 * step that dies half-way leaves them and the rows as they were and the
 * next step does the same work again, once.
 */
static int maintain_step(void *ctx, int64_t now, bool *more)
{
	struct store_pg *s = ctx;
	struct store_horizons hz, old;
	int64_t df, mine;
	bool rolled = false;
	char sql[128];
	int err;

	*more = false;
	err = exec(s, "BEGIN");
	if (err)
		return err;
	/*
	 * A second monitor under the same --db-host (say a restart that
	 * overlaps the old process) skips instead of waiting: the holder
	 * does the same work.
	 */
	snprintf(sql, sizeof(sql),
		 "SELECT pg_try_advisory_xact_lock(%d, hashtext($1))",
		 ROLLUP_LOCK);
	err = host_int(s, sql, &mine);
	if (err || !mine)
		goto fail;
	err = read_horizons(s, &hz, true);
	if (err)
		goto fail;
	old = hz;
	err = store_rollup_step(&hz, now, &rollup_ops, s, more, &rolled);
	if (err)
		goto fail;
	store_retention(&hz, now, s->keep_buckets, s->keep_hours, s->keep_days,
			&df);
	if (hz.bucket_from > old.bucket_from)
		err = run_both(s, expire, "bucket", NULL, hz.bucket_from, 0);
	if (!err && hz.hour_from > old.hour_from)
		err = run_both(s, expire, "hour", NULL, hz.hour_from, 0);
	if (!err && df != INT64_MIN)
		err = run_both(s, expire, "day", NULL, df, 0);
	if (err)
		goto fail;
	err = store_horizons_save(&old, &hz, set_meta, s);
	if (err)
		goto fail;
	if (rolled)
		maybe_crash();
	err = exec(s, "COMMIT");
	if (err)
		goto fail;
	s->hz = hz;
	return 0;
fail:
	if (PQstatus(s->conn) == CONNECTION_OK &&
	    PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
		char keep[sizeof(s->errmsg)];

		memcpy(keep, s->errmsg, sizeof(keep));
		exec(s, "ROLLBACK");
		memcpy(s->errmsg, keep, sizeof(keep));
	}
	*more = false;
	return err;
}

static int pg_maintain(void *state, int64_t now, unsigned max_hours)
{
	struct store_pg *s = state;

	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK || s->in_tx)
		return -ECONNRESET;
	return store_maintain_steps(&s->hz, now, s->keep_buckets, max_hours,
				    maintain_step, s);
}

/* ---- restore ---------------------------------------------------------- */

#define COUNTERS "tx_bytes, rx_bytes, tx_packets, rx_packets"

/*
 * This host's all-time totals: rolled-up days, then hours and buckets
 * after them (the SQLite store's sum, over this host's interfaces).
 */
static int pg_restore(void *state, store_total_fn fn, void *ctx)
{
	struct store_pg *s = state;
	char sql[1536];
	PGresult *r;
	int err = 0;

	snprintf(
		sql, sizeof(sql),
		"SELECT a.ip, p.pid, p.process, sum(r.tx_bytes),"
		" sum(r.rx_bytes), sum(r.tx_packets), sum(r.rx_packets) FROM ("
		" SELECT iface_id, addr_id, proc_id, " COUNTERS " FROM t_total"
		" UNION ALL SELECT iface_id, addr_id, proc_id, " COUNTERS
		" FROM t_hour WHERE ts >= %lld AND ts < %lld"
		" UNION ALL SELECT iface_id, addr_id, proc_id, " COUNTERS
		" FROM t_bucket WHERE ts >= %lld"
		") r JOIN ifaces i ON i.id = r.iface_id"
		" JOIN addrs a ON a.id = r.addr_id JOIN procs p ON p.id = r.proc_id"
		" WHERE i.host = $1 GROUP BY a.ip, p.pid, p.process",
		(long long)s->hz.day_done, (long long)s->hz.hour_done,
		(long long)s->hz.hour_done);
	r = host_exec(s, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return fail(s, NULL);
	}
	for (int i = 0; !err && i < PQntuples(r); i++) {
		struct store_total t = {0};

		if (store_pg_unbytea(PQgetvalue(r, i, 0), &t.addr))
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

static int pg_restore_other(void *state, int64_t iface,
			    struct itm_value out[STORE_OTHER_MAX])
{
	struct store_pg *s = state;
	char idbuf[24], sql[1024];
	const char *v[1] = {idbuf};
	PGresult *r;

	memset(out, 0, sizeof(*out) * STORE_OTHER_MAX);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)iface);
	snprintf(sql, sizeof(sql),
		 "SELECT kind, sum(tx_bytes), sum(rx_bytes), sum(tx_packets),"
		 " sum(rx_packets) FROM ("
		 " SELECT kind, " COUNTERS " FROM o_total WHERE iface_id = $1"
		 " UNION ALL SELECT kind, " COUNTERS " FROM o_hour"
		 " WHERE iface_id = $1 AND ts >= %lld AND ts < %lld"
		 " UNION ALL SELECT kind, " COUNTERS " FROM o_bucket"
		 " WHERE iface_id = $1 AND ts >= %lld) r GROUP BY kind",
		 (long long)s->hz.day_done, (long long)s->hz.hour_done,
		 (long long)s->hz.hour_done);
	r = PQexecParams(s->conn, sql, 1, NULL, v, NULL, NULL, 0);
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

static int pg_outbox_put(void *state, int64_t iface, uint64_t seq,
			 int64_t ts_ms, const struct store_outbox_rec *recs,
			 size_t n)
{
	struct store_pg *s = state;
	struct params p = {.n = 0};
	const char *v[4];
	int len[4] = {0, 0, 0, (int)(n * sizeof(*recs))};
	int fmt[4] = {0, 0, 0, 1}; /* the records as binary bytea */

	p_int(&p, iface);
	p_int(&p, (int64_t)seq);
	p_int(&p, ts_ms);
	memcpy(v, p.v, 3 * sizeof(*v));
	v[3] = n ? (const char *)recs : "";
	return command_done(
		s, PQexecParams(s->conn,
				"INSERT INTO ipfix_outbox(iface_id, seq, ts_ms,"
				" recs) VALUES($1, $2, $3, $4)"
				" ON CONFLICT(iface_id, seq) DO UPDATE SET"
				" ts_ms = excluded.ts_ms, recs = excluded.recs",
				4, NULL, v, len, fmt, 0));
}

static int pg_outbox_ack(void *state, const char *collector, int64_t iface,
			 uint64_t seq, int64_t ts_ms)
{
	struct store_pg *s = state;
	struct params p = {.n = 0};
	const char *v[4];
	int err;

	p_int(&p, iface);
	p_int(&p, (int64_t)seq);
	p_int(&p, ts_ms);
	v[0] = collector;
	memcpy(v + 1, p.v, 3 * sizeof(*v));
	err = command_done(
		s,
		PQexecParams(s->conn,
			     "INSERT INTO ipfix_position(collector, iface_id,"
			     " seq, ts_ms) VALUES($1, $2, $3, $4)"
			     " ON CONFLICT(collector, iface_id) DO UPDATE SET"
			     " seq = excluded.seq, ts_ms = excluded.ts_ms",
			     4, NULL, v, NULL, NULL, 0));
	if (err)
		return err;
	return command_done(
		s, PQexecParams(s->conn,
				"DELETE FROM ipfix_outbox WHERE iface_id = $1"
				" AND seq <= $2",
				2, NULL, p.v, NULL, NULL, 0));
}

static int pg_outbox_load(void *state, const char *collector, int64_t iface,
			  uint64_t *pos_seq, int64_t *pos_ts, uint64_t *max_seq,
			  store_outbox_fn fn, void *ctx)
{
	struct store_pg *s = state;
	struct params p = {.n = 0};
	const char *v[2];
	PGresult *r;
	int err = 0;

	*pos_seq = 0;
	*pos_ts = 0;
	*max_seq = 0;
	p_int(&p, iface);
	v[0] = collector;
	v[1] = p.v[0];
	r = PQexecParams(s->conn,
			 "SELECT seq, ts_ms FROM ipfix_position"
			 " WHERE collector = $1 AND iface_id = $2",
			 2, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return fail(s, NULL);
	}
	if (PQntuples(r) == 1) {
		*pos_seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		*pos_ts = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	}
	PQclear(r);
	/* Binary results: the bytea as its bytes, the numbers big-endian. */
	r = PQexecParams(s->conn,
			 "SELECT seq::text, ts_ms::text, recs FROM ipfix_outbox"
			 " WHERE iface_id = $1 ORDER BY seq",
			 1, NULL, p.v, NULL, NULL, 1);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return fail(s, NULL);
	}
	for (int i = 0; !err && i < PQntuples(r); i++) {
		char num[24];
		size_t len = (size_t)PQgetlength(r, i, 2);
		uint64_t seq;
		int64_t ts;
		void *copy;

		snprintf(num, sizeof(num), "%.*s", PQgetlength(r, i, 0),
			 PQgetvalue(r, i, 0));
		seq = strtoull(num, NULL, 10);
		snprintf(num, sizeof(num), "%.*s", PQgetlength(r, i, 1),
			 PQgetvalue(r, i, 1));
		ts = strtoll(num, NULL, 10);
		*max_seq = seq;
		if (seq <= *pos_seq || len % sizeof(struct store_outbox_rec))
			continue;
		/* libpq's value is not aligned for the struct. */
		copy = malloc(len ? len : 1);
		if (!copy) {
			err = -ENOMEM;
			break;
		}
		memcpy(copy, PQgetvalue(r, i, 2), len);
		err = fn(ctx, seq, ts, copy,
			 len / sizeof(struct store_outbox_rec));
		free(copy);
	}
	PQclear(r);
	return err;
}

static void pg_shown(const char *path, char *out, size_t len)
{
	store_pg_redact(path, out, len);
}

const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.claims = pg_claims,
	.shown = pg_shown,
	.open = pg_open,
	.close = pg_close,
	.errmsg = pg_errmsg,
	.iface = pg_iface,
	.get_state = pg_get_state,
	.begin = pg_begin,
	.at = pg_at,
	.add = pg_add,
	.add_other = pg_add_other,
	.set_state = pg_set_state,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.maintain = pg_maintain,
	.restore = pg_restore,
	.restore_other = pg_restore_other,
	.outbox_put = pg_outbox_put,
	.outbox_ack = pg_outbox_ack,
	.outbox_load = pg_outbox_load,
	.reader = &pg_reader,
};
