// SPDX-License-Identifier: MIT
/*
 * The SQLite backend's writer: open/check/migrate, the flush transaction,
 * rollups and retention, and the all-time totals a restart continues
 * from.  The reader (`query`) is query_sqlite.c.
 */
#include "sqlite_int.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "i18n.h"
#include "log.h"
#include "regfile.h"
#include "store_ids.h"
#include "store_labels.h"
#include "store_ops.h"
#include "store_plan.h"
#include "store_schema.h"

/* Writers wait this long for another writer before the flush is retried. */
#define BUSY_TIMEOUT_MS 200

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_ADDR,
	ST_PROC,
	ST_ROW,
	ST_OTHER,
	ST_STATE,
	ST_KCTR,
	ST_OUTBOX,
	ST_POSITION,
	ST_OUTBOX_DEL,
	ST_MAX,
};

static const char *const stmt_sql[ST_MAX] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	/* ST_ADDR: from the label table, store_addr_upsert_sql() */
	[ST_PROC] =
		"INSERT INTO procs(pid, process) VALUES(?1, ?2)"
		" ON CONFLICT(pid, process) DO UPDATE SET pid = excluded.pid"
		" RETURNING id",
	[ST_ROW] = "INSERT INTO t_bucket(ts, iface_id, addr_id, proc_id,"
		   " seconds, tx_bytes, rx_bytes, tx_packets, rx_packets)"
		   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		   " ON CONFLICT(ts, iface_id, addr_id, proc_id) DO UPDATE SET"
		   " tx_bytes = tx_bytes + excluded.tx_bytes,"
		   " rx_bytes = rx_bytes + excluded.rx_bytes,"
		   " tx_packets = tx_packets + excluded.tx_packets,"
		   " rx_packets = rx_packets + excluded.rx_packets",
	[ST_OTHER] = "INSERT INTO o_bucket(ts, iface_id, kind, seconds,"
		     " tx_bytes, rx_bytes, tx_packets, rx_packets)"
		     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		     " ON CONFLICT(ts, iface_id, kind) DO UPDATE SET"
		     " tx_bytes = tx_bytes + excluded.tx_bytes,"
		     " rx_bytes = rx_bytes + excluded.rx_bytes,"
		     " tx_packets = tx_packets + excluded.tx_packets,"
		     " rx_packets = rx_packets + excluded.rx_packets",
	[ST_STATE] = "UPDATE ifaces SET instance = ?2, seq = ?3 WHERE id = ?1",
	[ST_KCTR] = "INSERT OR REPLACE INTO kernel_counters(iface_id, idx,"
		    " packets, bytes) VALUES(?1, ?2, ?3, ?4)",
	[ST_OUTBOX] = "INSERT OR REPLACE INTO ipfix_outbox(iface_id, seq,"
		      " ts_ms, recs) VALUES(?1, ?2, ?3, ?4)",
	[ST_POSITION] = "INSERT INTO ipfix_position(collector, iface_id, seq,"
			" ts_ms) VALUES(?1, ?2, ?3, ?4)"
			" ON CONFLICT(collector, iface_id) DO UPDATE SET"
			" seq = excluded.seq, ts_ms = excluded.ts_ms",
	[ST_OUTBOX_DEL] = "DELETE FROM ipfix_outbox WHERE iface_id = ?1"
			  " AND seq <= ?2",
};

struct pending_row {
	int64_t ts, iface, addr, proc;
	struct itm_value v;
};

struct sq {
	sqlite3 *db;
	struct store_config cfg;
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	sqlite3_stmt *st[ST_MAX];
	struct store_ids addrs, procs;
	struct store_horizons hz;
	/* Interfaces handed out, recreated in a replacement file. */
	struct {
		int64_t id;
		char name[64];
	} ifs[32];
	size_t n_ifs;
	struct pending_row *rows; /* of the open flush, written at commit */
	size_t n_rows, cap_rows;
	int64_t ts; /* bucket of the open flush (store_at()) */
	bool in_tx;
	char errmsg[PATH_MAX + 512];
};

static void sq_rollback(void *state);

/* ---- small helpers ---------------------------------------------------- */

static int sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return -EROFS;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EILSEQ;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	default:
		return -EIO;
	}
}

static int fail(struct sq *s, int rc)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(s->db));
	return sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
}

static const char *sq_errmsg(const void *state)
{
	const struct sq *s = state;

	return s->errmsg;
}

static int exec(struct sq *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s",
			 msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
	}
	return 0;
}

/* Run a prepared statement to completion; SQLITE_ROW results ignored. */
static int step_done(struct sq *s, sqlite3_stmt *st)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc);
}

/* ---- dimension ids ---------------------------------------------------- */

static int addr_id(struct sq *s, const struct in6_addr *addr,
		   const struct geo_labels *geo, int64_t *id)
{
	struct store_id_key k;
	sqlite3_stmt *st = s->st[ST_ADDR];
	char ip[INET6_ADDRSTRLEN];
	int rc;

	store_id_addr(&k, addr, geo);
	*id = store_ids_get(&s->addrs, &k);
	if (*id)
		return 0;
	addr_format(addr, ip);
	sqlite3_bind_blob(st, 1, addr, sizeof(*addr), SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ip, -1, SQLITE_TRANSIENT);
	for (int i = 0; i < GEO_NLABELS; i++)
		sqlite3_bind_text(st, 3 + i, store_label(geo, i), -1,
				  SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc);
	store_ids_put(&s->addrs, &k, *id);
	return 0;
}

static int proc_id(struct sq *s, uint32_t pid, const char *process, int64_t *id)
{
	struct store_id_key k;
	sqlite3_stmt *st = s->st[ST_PROC];
	int rc;

	store_id_proc(&k, pid, process);
	*id = store_ids_get(&s->procs, &k);
	if (*id)
		return 0;
	sqlite3_bind_int64(st, 1, pid);
	sqlite3_bind_text(st, 2, k.comm, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc);
	store_ids_put(&s->procs, &k, *id);
	return 0;
}

/* ---- open ------------------------------------------------------------- */

static int read_horizons(struct sq *s)
{
	int err;

	memset(&s->hz, 0, sizeof(s->hz));
	err = sqlite_each(s->db, SQLITE_META_SQL, 0, NULL, store_horizons_row,
			  &s->hz);
	if (err)
		snprintf(s->errmsg, sizeof(s->errmsg), "%s",
			 sqlite3_errmsg(s->db));
	return err;
}

static int query_int(struct sq *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : fail(s, rc);
}

/* The label columns addrs has now, of those the label table names. */
static int label_columns(void *ctx, int ncols, char *const *vals)
{
	struct strbuf *have = ctx;

	/* PRAGMA table_info: cid, name, type, ... */
	for (int i = 0; ncols > 1 && vals[1] && i < GEO_NLABELS; i++)
		if (!strcmp(vals[1], geo_label_defs[i].name))
			return strbuf_printf(have, "%s%s",
					     have->len ? ", " : "", vals[1])
				       ? -ENOMEM
				       : 0;
	return 0;
}

/* Schema step `to` (store_schema.h). */
static int migrate_step(struct sq *s, int64_t to)
{
	struct strbuf have = STRBUF_INIT;
	char *sql;
	int err;

	if (to == 1)
		return exec(s, STORE_SCHEMA_V1);
	err = sqlite_each(s->db, "PRAGMA table_info(addrs)", 0, NULL,
			  label_columns, &have);
	if (err) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s",
			 sqlite3_errmsg(s->db));
		strbuf_free(&have);
		return err;
	}
	sql = store_schema_addrs(have.buf ? have.buf : "");
	strbuf_free(&have);
	if (!sql) {
		snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
		return -ENOMEM;
	}
	err = exec(s, sql);
	free(sql);
	return err;
}

/* Create or migrate inside one write transaction. */
static int migrate(struct sq *s)
{
	int64_t version, objects;
	char sql[64];
	int err;

	err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = query_int(s, "PRAGMA user_version", &version);
	if (!err)
		err = query_int(s, "SELECT count(*) FROM sqlite_master",
				&objects);
	if (err)
		goto out;
	if (version == 0 && objects) {
		snprintf(
			s->errmsg, sizeof(s->errmsg),
			"an SQLite database of another program (no ip_traffic_monitor_cli schema version)");
		err = -EEXIST;
		goto out;
	}
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(
			s->errmsg, sizeof(s->errmsg),
			"written by a newer version (schema %lld, this one knows %d); upgrade, or use another file",
			(long long)version, STORE_SCHEMA_VERSION);
		err = -EPROTO;
		goto out;
	}
	for (int64_t v = version; v < STORE_SCHEMA_VERSION; v++) {
		err = migrate_step(s, v + 1);
		if (err)
			goto out;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		 STORE_SCHEMA_VERSION);
	err = exec(s, sql);
	if (!err)
		err = exec(s, STORE_OUTBOX_SQL("INTEGER", "BLOB"));
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

/* Fail early, with the reason, when the file or its directory is not ours
 * to write: SQLite would otherwise open it read-only without a word. */
static int check_access(struct sq *s)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	int err;

	snprintf(tmp, sizeof(tmp), "%s", s->path);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	if (stat(dir, &st)) {
		if (errno != ENOENT || mkdir(dir, 0755)) {
			snprintf(s->errmsg, sizeof(s->errmsg),
				 "cannot create directory %s: %s", dir,
				 strerror(errno));
			return -errno;
		}
	}
	if (!stat(s->path, &st)) {
		/* A FIFO would not block SQLite's read-write open, but it is
		 * no database: say what it is. */
		err = regfile_check(s->path, s->errmsg, sizeof(s->errmsg));
		if (err)
			return err;
		if (access(s->path, R_OK | W_OK)) {
			snprintf(s->errmsg, sizeof(s->errmsg), "%s",
				 strerror(errno));
			return -errno;
		}
	}
	/* WAL needs to create -wal and -shm files beside the database. */
	if (access(dir, W_OK | X_OK)) {
		snprintf(s->errmsg, sizeof(s->errmsg),
			 "directory %s is not writable: %s", dir,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

static int open_db(struct sq *s)
{
	struct stat st;
	char *mode = NULL;
	int64_t dummy;
	int rc, err;

	err = check_access(s);
	if (err)
		return err;
	rc = sqlite3_open_v2(s->path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK)
		return s->db ? fail(s, rc) : -ENOMEM;
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(s->db, 0);
	/* Not SQLite, or a damaged header, fails here. */
	err = query_int(s, "SELECT count(*) FROM sqlite_master", &dummy);
	if (err)
		return err;
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		snprintf(s->errmsg, sizeof(s->errmsg), "opened read-only");
		return -EROFS;
	}
	/* Damage inside the file: refuse rather than add to it. */
	{
		sqlite3_stmt *q;

		rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &q,
					NULL);
		if (rc != SQLITE_OK)
			return fail(s, rc);
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW &&
		    strcmp((const char *)sqlite3_column_text(q, 0), "ok")) {
			snprintf(s->errmsg, sizeof(s->errmsg), "corrupt (%s)",
				 (const char *)sqlite3_column_text(q, 0));
			sqlite3_finalize(q);
			return -EILSEQ;
		}
		sqlite3_finalize(q);
		if (rc != SQLITE_ROW)
			return fail(s, rc);
	}
	rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL,
			  &mode);
	sqlite3_free(mode);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	{
		sqlite3_stmt *q;

		rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &q,
					NULL);
		if (rc != SQLITE_OK)
			return fail(s, rc);
		rc = sqlite3_step(q);
		if (rc != SQLITE_ROW ||
		    strcmp((const char *)sqlite3_column_text(q, 0), "wal")) {
			sqlite3_finalize(q);
			snprintf(
				s->errmsg, sizeof(s->errmsg),
				"cannot switch to WAL mode (database locked or on a filesystem without shared memory)");
			return -EBUSY;
		}
		sqlite3_finalize(q);
	}
	/*
	 * NORMAL: in WAL mode a commit survives the process dying at any
	 * point (kill -9); only an OS crash may lose the last commits, and
	 * then the kernel's maps are gone too.  Checkpoints (which fsync)
	 * every 64 MiB of WAL rather than SQLite's 4 MiB: a flush of 65 536
	 * addresses writes about 2 MiB, and the WAL is cut back to 64 MiB.
	 */
	err = exec(s, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768;"
		      " PRAGMA wal_autocheckpoint = 16384;"
		      " PRAGMA journal_size_limit = 67108864");
	if (!err)
		err = migrate(s);
	if (err)
		return err;
	for (int i = 0; i < ST_MAX; i++) {
		char *sql = i == ST_ADDR ? store_addr_upsert_sql() : NULL;

		if (i == ST_ADDR && !sql) {
			snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
			return -ENOMEM;
		}
		rc = sqlite3_prepare_v3(s->db, sql ? sql : stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
		free(sql);
		if (rc != SQLITE_OK)
			return fail(s, rc);
	}
	err = read_horizons(s);
	if (err)
		return err;
	if (stat(s->path, &st)) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", strerror(errno));
		return -errno;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

static void close_db(struct sq *s)
{
	for (int i = 0; i < ST_MAX; i++) {
		sqlite3_finalize(s->st[i]);
		s->st[i] = NULL;
	}
	sqlite3_close_v2(s->db);
	s->db = NULL;
	store_ids_clear(&s->addrs);
	store_ids_clear(&s->procs);
	s->in_tx = false;
}

static const char *reason(int err, const struct sq *s)
{
	switch (err) {
	case -EBUSY:
		return "it is locked by another process; stop that process or choose another --db";
	case -EILSEQ:
		return s->errmsg[0] && strstr(s->errmsg, "corrupt")
			       ? "the file is corrupt; move it away (and recover it with sqlite3 .recover) or choose another --db"
			       : "not an SQLite database; choose another --db";
	default:
		return NULL;
	}
}

static void sq_close(void *state);

static int sq_open(const struct store_config *cfg, void **state, char *err,
		   size_t len)
{
	struct sq *s = calloc(1, sizeof(*s));
	const char *why;
	int rc;

	*state = NULL;
	if (!s) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	s->cfg = *cfg;
	if (!s->cfg.interval)
		s->cfg.interval = STORE_DEFAULT_INTERVAL;
	if (strlen(cfg->path) >= sizeof(s->path)) {
		free(s);
		return -ENAMETOOLONG;
	}
	snprintf(s->path, sizeof(s->path), "%s", cfg->path);
	rc = open_db(s);
	if (rc) {
		why = reason(rc, s);
		snprintf(err, len, "%s", why ? why : s->errmsg);
		close_db(s);
		free(s);
		return rc;
	}
	*state = s;
	return 0;
}

static void sq_close(void *state)
{
	struct sq *s = state;

	if (!s)
		return;
	if (s->in_tx)
		sq_rollback(s);
	/*
	 * Fold the WAL into the database so the file stands alone; no
	 * database at all when the path stopped naming a regular file.
	 */
	if (s->db)
		sqlite3_wal_checkpoint_v2(
			s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	close_db(s);
	free(s->rows);
	free(s);
}

/* ---- interfaces and state --------------------------------------------- */

static int sq_iface(void *state, const char *name, int64_t *id)
{
	struct sq *s = state;
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db,
				"INSERT INTO ifaces(name) VALUES(?1)"
				" ON CONFLICT(name) DO UPDATE SET name = name"
				" RETURNING id",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc);
	for (size_t i = 0; i < s->n_ifs; i++)
		if (s->ifs[i].id == *id)
			return 0;
	if (s->n_ifs < sizeof(s->ifs) / sizeof(s->ifs[0])) {
		s->ifs[s->n_ifs].id = *id;
		snprintf(s->ifs[s->n_ifs].name, sizeof(s->ifs[0].name), "%s",
			 name);
		s->n_ifs++;
	}
	return 0;
}

/* A new file at the path: the interfaces keep the ids callers hold. */
static int recreate_ifaces(struct sq *s)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db,
				    "INSERT OR IGNORE INTO ifaces(id, name)"
				    " VALUES(?1, ?2)",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(s, rc);
	for (size_t i = 0; i < s->n_ifs; i++) {
		sqlite3_bind_int64(st, 1, s->ifs[i].id);
		sqlite3_bind_text(st, 2, s->ifs[i].name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			sqlite3_finalize(st);
			return fail(s, rc);
		}
	}
	sqlite3_finalize(st);
	return 0;
}

static int sq_get_state(void *state, int64_t iface,
			struct store_iface_state *out)
{
	struct sq *s = state;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = sqlite3_prepare_v2(
		s->db, "SELECT instance, seq FROM ifaces WHERE id = ?1", -1,
		&st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	sqlite3_bind_int64(st, 1, iface);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->instance = (uint64_t)sqlite3_column_int64(st, 0);
		out->seq = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(s, rc);
	rc = sqlite3_prepare_v2(
		s->db,
		"SELECT idx, packets, bytes FROM kernel_counters"
		" WHERE iface_id = ?1",
		-1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	sqlite3_bind_int64(st, 1, iface);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t idx = sqlite3_column_int64(st, 0);

		if (idx < 0 || idx >= ITM_CTR_MAX)
			continue;
		out->ctr[idx].packets = (uint64_t)sqlite3_column_int64(st, 1);
		out->ctr[idx].bytes = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc);
}

/* ---- the flush -------------------------------------------------------- */

/*
 * The file was deleted or replaced under us: SQLite would go on writing
 * into the unlinked inode and every later flush would vanish with it.
 * Start a new database at the path instead (the operator asked for a
 * fresh file); what is still uncommitted goes there.
 */
static int check_identity(struct sq *s)
{
	struct stat st;
	int err;

	if (!stat(s->path, &st) && st.st_dev == s->dev && st.st_ino == s->ino)
		return 0;
	close_db(s);
	err = open_db(s);
	if (!err)
		err = recreate_ifaces(s);
	if (err) {
		close_db(s);
		snprintf(s->errmsg + strlen(s->errmsg),
			 sizeof(s->errmsg) - strlen(s->errmsg),
			 " (the database file was deleted or replaced)");
		return err;
	}
	pr_warn(_("database %s was deleted or replaced; writing to a new file there\n"),
		s->path);
	return 0;
}

static int sq_at(void *state, int64_t when)
{
	struct sq *s = state;

	s->ts = store_floor(when, s->cfg.interval);
	/*
	 * Never write into an hour already rolled up (clock stepped back,
	 * or counts of an outage older than the rollup): the first bucket
	 * after it keeps them.
	 */
	if (s->ts < s->hz.hour_done)
		s->ts = s->hz.hour_done;
	return 0;
}

static int sq_begin(void *state, int64_t now)
{
	struct sq *s = state;
	int err;

	s->errmsg[0] = '\0';
	if (!s->db || s->in_tx) {
		if (s->in_tx)
			sq_rollback(s);
		/* A reopen that failed earlier: try again. */
	}
	err = check_identity(s);
	if (err)
		return err;
	sq_at(s, now);
	err = step_done(s, s->st[ST_BEGIN]);
	if (err)
		return err;
	s->in_tx = true;
	return 0;
}

static void bind_value(sqlite3_stmt *st, int first, const struct itm_value *v)
{
	sqlite3_bind_int64(st, first, (sqlite3_int64)v->tx_bytes);
	sqlite3_bind_int64(st, first + 1, (sqlite3_int64)v->rx_bytes);
	sqlite3_bind_int64(st, first + 2, (sqlite3_int64)v->tx_packets);
	sqlite3_bind_int64(st, first + 3, (sqlite3_int64)v->rx_packets);
}

/*
 * Rows are resolved to ids now and written at commit, sorted by primary
 * key: within one bucket that turns scattered B-tree inserts (map order
 * is hash order) into an in-order walk, about twice as fast.
 */
static int sq_add(void *state, int64_t iface, const struct store_row *r)
{
	struct sq *s = state;
	struct pending_row *p;
	int64_t aid, pid;
	int err;

	err = addr_id(s, &r->addr, r->geo, &aid);
	if (!err)
		err = proc_id(s, r->pid, r->process, &pid);
	if (err)
		return err;
	if (s->n_rows == s->cap_rows) {
		size_t cap = s->cap_rows ? s->cap_rows * 2 : 4096;

		p = realloc(s->rows, cap * sizeof(*p));
		if (!p) {
			snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
			return -ENOMEM;
		}
		s->rows = p;
		s->cap_rows = cap;
	}
	p = &s->rows[s->n_rows++];
	p->ts = s->ts;
	p->iface = iface;
	p->addr = aid;
	p->proc = pid;
	p->v = r->v;
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	const struct pending_row *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->iface != y->iface)
		return x->iface < y->iface ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->proc > y->proc) - (x->proc < y->proc);
}

static int write_rows(struct sq *s)
{
	sqlite3_stmt *st = s->st[ST_ROW];
	int err = 0;

	if (s->n_rows) /* none: rows may be NULL, which qsort() must not see */
		qsort(s->rows, s->n_rows, sizeof(*s->rows), cmp_row);
	for (size_t i = 0; i < s->n_rows && !err; i++) {
		const struct pending_row *p = &s->rows[i];

		sqlite3_bind_int64(st, 1, p->ts);
		sqlite3_bind_int64(st, 2, p->iface);
		sqlite3_bind_int64(st, 3, p->addr);
		sqlite3_bind_int64(st, 4, p->proc);
		sqlite3_bind_int64(st, 5, s->cfg.interval);
		bind_value(st, 6, &p->v);
		err = step_done(s, st);
	}
	s->n_rows = 0;
	return err;
}

static int sq_add_other(void *state, int64_t iface, enum store_other_kind kind,
			const struct itm_value *v)
{
	struct sq *s = state;
	sqlite3_stmt *st = s->st[ST_OTHER];

	sqlite3_bind_int64(st, 1, s->ts);
	sqlite3_bind_int64(st, 2, iface);
	sqlite3_bind_int64(st, 3, kind);
	sqlite3_bind_int64(st, 4, s->cfg.interval);
	bind_value(st, 5, v);
	return step_done(s, st);
}

static int sq_set_state(void *ctx, int64_t iface,
			const struct store_iface_state *state)
{
	struct sq *s = ctx;
	sqlite3_stmt *st = s->st[ST_STATE];
	int err;

	sqlite3_bind_int64(st, 1, iface);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)state->instance);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)state->seq);
	err = step_done(s, st);
	st = s->st[ST_KCTR];
	for (int i = 0; !err && i < ITM_CTR_MAX; i++) {
		sqlite3_bind_int64(st, 1, iface);
		sqlite3_bind_int64(st, 2, i);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)state->ctr[i].packets);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)state->ctr[i].bytes);
		err = step_done(s, st);
	}
	return err;
}

static int sq_commit(void *state)
{
	struct sq *s = state;
	int err = write_rows(s);

	if (!err)
		err = step_done(s, s->st[ST_COMMIT]);
	if (err)
		return err;
	s->in_tx = false;
	return 0;
}

static void sq_rollback(void *state)
{
	struct sq *s = state;

	if (s->db && sqlite3_get_autocommit(s->db) == 0)
		step_done(s, s->st[ST_ROLLBACK]);
	s->in_tx = false;
	s->n_rows = 0;
	/* Ids handed out inside the transaction no longer exist. */
	store_ids_clear(&s->addrs);
	store_ids_clear(&s->procs);
}

/* ---- rollups and retention -------------------------------------------- */

static int set_meta(void *ctx, const char *key, int64_t v)
{
	struct sq *s = ctx;
	char sql[128];

	snprintf(sql, sizeof(sql),
		 "UPDATE meta SET value = %lld WHERE key = '%s'", (long long)v,
		 key);
	return exec(s, sql);
}

#define SUMS "SUM(tx_bytes), SUM(rx_bytes), SUM(tx_packets), SUM(rx_packets)"
#define ADD_EXCLUDED                                                           \
	" DO UPDATE SET tx_bytes = tx_bytes + excluded.tx_bytes,"              \
	" rx_bytes = rx_bytes + excluded.rx_bytes,"                            \
	" tx_packets = tx_packets + excluded.tx_packets,"                      \
	" rx_packets = rx_packets + excluded.rx_packets"

/* Sum rows of [from, from + len) of src into one row at `from` in dst. */
static int roll(struct sq *s, const char *t_src, const char *t_dst,
		const char *o_src, const char *o_dst, int64_t from, int64_t len)
{
	char sql[768];
	int err;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s(ts, iface_id, addr_id, proc_id, tx_bytes,"
		 " rx_bytes, tx_packets, rx_packets)"
		 " SELECT %lld, iface_id, addr_id, proc_id, " SUMS " FROM %s"
		 " WHERE ts >= %lld AND ts < %lld"
		 " GROUP BY iface_id, addr_id, proc_id"
		 " ON CONFLICT(ts, iface_id, addr_id, proc_id)" ADD_EXCLUDED,
		 t_dst, (long long)from, t_src, (long long)from,
		 (long long)(from + len));
	err = exec(s, sql);
	if (err)
		return err;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s(ts, iface_id, kind, tx_bytes, rx_bytes,"
		 " tx_packets, rx_packets)"
		 " SELECT %lld, iface_id, kind, " SUMS " FROM %s"
		 " WHERE ts >= %lld AND ts < %lld GROUP BY iface_id, kind"
		 " ON CONFLICT(ts, iface_id, kind)" ADD_EXCLUDED,
		 o_dst, (long long)from, o_src, (long long)from,
		 (long long)(from + len));
	return exec(s, sql);
}

/* A closed day also goes into the all-time totals restarts start from. */
static int roll_totals(struct sq *s, int64_t day)
{
	char sql[768];
	int err;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO t_total(iface_id, addr_id, proc_id, tx_bytes,"
		 " rx_bytes, tx_packets, rx_packets)"
		 " SELECT iface_id, addr_id, proc_id, tx_bytes, rx_bytes,"
		 " tx_packets, rx_packets FROM t_day WHERE ts = %lld"
		 " ON CONFLICT(iface_id, addr_id, proc_id)" ADD_EXCLUDED,
		 (long long)day);
	err = exec(s, sql);
	if (err)
		return err;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO o_total(iface_id, kind, tx_bytes, rx_bytes,"
		 " tx_packets, rx_packets)"
		 " SELECT iface_id, kind, tx_bytes, rx_bytes, tx_packets,"
		 " rx_packets FROM o_day WHERE ts = %lld"
		 " ON CONFLICT(iface_id, kind)" ADD_EXCLUDED,
		 (long long)day);
	return exec(s, sql);
}

/* First ts >= from in table t (both families), or INT64_MAX. */
static int next_ts(struct sq *s, const char *t, const char *o, int64_t from,
		   int64_t *out)
{
	char sql[256];
	int64_t a, b;
	int err;

	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(min(ts), %lld) FROM %s WHERE ts >= %lld",
		 (long long)INT64_MAX, t, (long long)from);
	err = query_int(s, sql, &a);
	if (err)
		return err;
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(min(ts), %lld) FROM %s WHERE ts >= %lld",
		 (long long)INT64_MAX, o, (long long)from);
	err = query_int(s, sql, &b);
	if (err)
		return err;
	*out = a < b ? a : b;
	return 0;
}

static int rollup_next(void *ctx, bool hours, int64_t from, int64_t *ts)
{
	return hours ? next_ts(ctx, "t_hour", "o_hour", from, ts)
		     : next_ts(ctx, "t_bucket", "o_bucket", from, ts);
}

static int rollup_roll(void *ctx, int64_t ts, int64_t span)
{
	int err;

	if (span == STORE_HOUR)
		return roll(ctx, "t_bucket", "t_hour", "o_bucket", "o_hour", ts,
			    STORE_HOUR);
	err = roll(ctx, "t_hour", "t_day", "o_hour", "o_day", ts, STORE_DAY);
	return err ? err : roll_totals(ctx, ts);
}

static const struct store_rollup_ops rollup_ops = {
	.next = rollup_next,
	.roll = rollup_roll,
};

/* One transaction: roll the next closed hour (and day) up, if any. */
static int maintain_step(void *ctx, int64_t now, bool *more)
{
	struct sq *s = ctx;
	struct store_horizons hz = s->hz;
	bool rolled;
	int64_t df;
	int err;

	*more = false;
	err = exec(s, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = store_rollup_step(&hz, now, &rollup_ops, s, more, &rolled);
	if (err)
		goto fail;
	/* Retention: raw buckets, then hours, never past what is rolled up. */
	store_retention(&hz, now, s->cfg.keep_buckets, s->cfg.keep_hours,
			s->cfg.keep_days, &df);
	if (hz.bucket_from > s->hz.bucket_from) {
		char sql[128];

		snprintf(sql, sizeof(sql),
			 "DELETE FROM t_bucket WHERE ts < %lld;"
			 "DELETE FROM o_bucket WHERE ts < %lld",
			 (long long)hz.bucket_from, (long long)hz.bucket_from);
		err = exec(s, sql);
		if (err)
			goto fail;
	}
	if (hz.hour_from > s->hz.hour_from) {
		char sql[128];

		snprintf(sql, sizeof(sql),
			 "DELETE FROM t_hour WHERE ts < %lld;"
			 "DELETE FROM o_hour WHERE ts < %lld",
			 (long long)hz.hour_from, (long long)hz.hour_from);
		err = exec(s, sql);
		if (err)
			goto fail;
	}
	if (df != INT64_MIN) {
		char sql[128];

		snprintf(sql, sizeof(sql),
			 "DELETE FROM t_day WHERE ts < %lld;"
			 "DELETE FROM o_day WHERE ts < %lld",
			 (long long)df, (long long)df);
		err = exec(s, sql);
		if (err)
			goto fail;
	}
	err = store_horizons_save(&s->hz, &hz, set_meta, s);
	if (err)
		goto fail;
	err = exec(s, "COMMIT");
	if (err)
		goto fail;
	s->hz = hz;
	return 0;
fail:
	exec(s, "ROLLBACK");
	*more = false;
	return err;
}

static int sq_maintain(void *state, int64_t now, unsigned max_hours)
{
	struct sq *s = state;

	if (!s->db)
		return -EIO;
	return store_maintain_steps(&s->hz, now, s->cfg.keep_buckets, max_hours,
				    maintain_step, s);
}

/* ---- restore ---------------------------------------------------------- */

static int sq_restore(void *state, store_total_fn fn, void *ctx)
{
	struct sq *s = state;
	char sql[1024];
	sqlite3_stmt *st;
	int rc, err = 0;

	/* Totals of rolled-up days, then hours and buckets after them. */
	snprintf(sql, sizeof(sql),
		 "SELECT a.ip, p.pid, p.process, " SUMS " FROM ("
		 " SELECT addr_id, proc_id, tx_bytes, rx_bytes, tx_packets,"
		 "  rx_packets FROM t_total"
		 " UNION ALL SELECT addr_id, proc_id, tx_bytes, rx_bytes,"
		 "  tx_packets, rx_packets FROM t_hour"
		 "  WHERE ts >= %lld AND ts < %lld"
		 " UNION ALL SELECT addr_id, proc_id, tx_bytes, rx_bytes,"
		 "  tx_packets, rx_packets FROM t_bucket WHERE ts >= %lld"
		 ") r JOIN addrs a ON a.id = r.addr_id"
		 " JOIN procs p ON p.id = r.proc_id"
		 " GROUP BY a.ip, p.pid, p.process",
		 (long long)s->hz.day_done, (long long)s->hz.hour_done,
		 (long long)s->hz.hour_done);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_total t = {0};

		if (sqlite3_column_bytes(st, 0) != sizeof(t.addr))
			continue;
		memcpy(&t.addr, sqlite3_column_blob(st, 0), sizeof(t.addr));
		t.pid = (uint32_t)sqlite3_column_int64(st, 1);
		t.process = (const char *)sqlite3_column_text(st, 2);
		t.v.tx_bytes = (uint64_t)sqlite3_column_int64(st, 3);
		t.v.rx_bytes = (uint64_t)sqlite3_column_int64(st, 4);
		t.v.tx_packets = (uint64_t)sqlite3_column_int64(st, 5);
		t.v.rx_packets = (uint64_t)sqlite3_column_int64(st, 6);
		err = fn(ctx, &t);
	}
	sqlite3_finalize(st);
	if (err)
		return err;
	return rc == SQLITE_DONE ? 0 : fail(s, rc);
}

static int sq_restore_other(void *state, int64_t iface,
			    struct itm_value out[STORE_OTHER_MAX])
{
	struct sq *s = state;
	char sql[1024];
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out) * STORE_OTHER_MAX);
	snprintf(sql, sizeof(sql),
		 "SELECT kind, " SUMS " FROM ("
		 " SELECT kind, tx_bytes, rx_bytes, tx_packets, rx_packets"
		 "  FROM o_total WHERE iface_id = ?1"
		 " UNION ALL SELECT kind, tx_bytes, rx_bytes, tx_packets,"
		 "  rx_packets FROM o_hour WHERE iface_id = ?1"
		 "  AND ts >= %lld AND ts < %lld"
		 " UNION ALL SELECT kind, tx_bytes, rx_bytes, tx_packets,"
		 "  rx_packets FROM o_bucket WHERE iface_id = ?1 AND ts >= %lld"
		 ") GROUP BY kind",
		 (long long)s->hz.day_done, (long long)s->hz.hour_done,
		 (long long)s->hz.hour_done);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	sqlite3_bind_int64(st, 1, iface);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);

		if (k < 0 || k >= STORE_OTHER_MAX)
			continue;
		out[k].tx_bytes = (uint64_t)sqlite3_column_int64(st, 1);
		out[k].rx_bytes = (uint64_t)sqlite3_column_int64(st, 2);
		out[k].tx_packets = (uint64_t)sqlite3_column_int64(st, 3);
		out[k].rx_packets = (uint64_t)sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc);
}

static int sq_outbox_put(void *state, int64_t iface, uint64_t seq,
			 int64_t ts_ms, const struct store_outbox_rec *recs,
			 size_t n)
{
	struct sq *s = state;
	sqlite3_stmt *st = s->st[ST_OUTBOX];

	sqlite3_bind_int64(st, 1, iface);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 3, ts_ms);
	/* An empty commit still marks its place: a zero-length blob. */
	sqlite3_bind_blob64(st, 4, n ? (const void *)recs : "",
			    n * sizeof(*recs), SQLITE_TRANSIENT);
	return step_done(s, st);
}

static int sq_outbox_ack(void *state, const char *collector, int64_t iface,
			 uint64_t seq, int64_t ts_ms)
{
	struct sq *s = state;
	sqlite3_stmt *st = s->st[ST_POSITION];
	int err;

	sqlite3_bind_text(st, 1, collector, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, iface);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 4, ts_ms);
	err = step_done(s, st);
	if (err)
		return err;
	st = s->st[ST_OUTBOX_DEL];
	sqlite3_bind_int64(st, 1, iface);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	return step_done(s, st);
}

static int sq_outbox_load(void *state, const char *collector, int64_t iface,
			  uint64_t *pos_seq, int64_t *pos_ts, uint64_t *max_seq,
			  store_outbox_fn fn, void *ctx)
{
	struct sq *s = state;
	sqlite3_stmt *st;
	int rc, err = 0;

	*pos_seq = 0;
	*pos_ts = 0;
	*max_seq = 0;
	rc = sqlite3_prepare_v2(s->db,
				"SELECT seq, ts_ms FROM ipfix_position"
				" WHERE collector = ?1 AND iface_id = ?2",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	sqlite3_bind_text(st, 1, collector, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, iface);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*pos_seq = (uint64_t)sqlite3_column_int64(st, 0);
		*pos_ts = sqlite3_column_int64(st, 1);
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(s, rc);
	rc = sqlite3_prepare_v2(s->db,
				"SELECT seq, ts_ms, recs FROM ipfix_outbox"
				" WHERE iface_id = ?1 ORDER BY seq",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	sqlite3_bind_int64(st, 1, iface);
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);

		*max_seq = seq;
		if (seq <= *pos_seq || len % sizeof(struct store_outbox_rec))
			continue;
		err = fn(ctx, seq, sqlite3_column_int64(st, 1),
			 sqlite3_column_blob(st, 2),
			 len / sizeof(struct store_outbox_rec));
	}
	sqlite3_finalize(st);
	if (err)
		return err;
	return rc == SQLITE_DONE ? 0 : fail(s, rc);
}

/* The files SQLite keeps: the database and its WAL companions. */
static const char *const sq_files[] = {"", "-wal", "-shm", "-journal", NULL};

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.files = sq_files,
	.open = sq_open,
	.close = sq_close,
	.errmsg = sq_errmsg,
	.iface = sq_iface,
	.get_state = sq_get_state,
	.begin = sq_begin,
	.at = sq_at,
	.add = sq_add,
	.add_other = sq_add_other,
	.set_state = sq_set_state,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.maintain = sq_maintain,
	.restore = sq_restore,
	.restore_other = sq_restore_other,
	.outbox_put = sq_outbox_put,
	.outbox_ack = sq_outbox_ack,
	.outbox_load = sq_outbox_load,
	.reader = &sqlite_reader,
};
