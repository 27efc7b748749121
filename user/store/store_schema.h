/* SPDX-License-Identifier: MIT */
/*
 * The schema: tables underneath and the documented views.  Version N of
 * the schema is the steps 1..N applied in order; a later change appends a
 * step and bumps STORE_SCHEMA_VERSION (store.h), never edits one:
 *   1  STORE_SCHEMA_V1 below, as SQL text
 *   2  addrs carries one column per label of geo_label_defs[], old rows
 *      'Unknown' in the new ones (store_schema_addrs(), store_labels.h)
 * PostgreSQL translates these (pg/store_pg_sql.c).
 *
 * Tables (internal; the views are the stable interface):
 *   meta(key, value)          rollup and retention horizons
 *   ifaces, addrs, procs      dimensions: an address row carries the labels
 *                             it had when its bytes were counted
 *   kernel_counters           per interface, the kernel's cumulative
 *                             counters the committed rows account for
 *   t_bucket/t_hour/t_day     per (ts, iface, address+labels, process)
 *   t_total                   all-time sums of rolled-up days
 *   o_bucket/o_hour/o_day/o_total  the same for overflow/non-IP/malformed
 *
 * Coverage: raw buckets hold [bucket_from, now); t_hour rows exist for
 * every closed hour in [hour_from, hour_done) and t_day rows for closed
 * days before day_done, with hour_from <= bucket_from <= hour_done.  The
 * views take t_hour only below bucket_from and t_day only below
 * hour_from, so every period appears exactly once.
 */
#ifndef ITM_STORE_SCHEMA_H
#define ITM_STORE_SCHEMA_H

/*
 * The IPFIX outbox (--db with --ipfix): per interface and commit (seq, a
 * number per monitor that only grows), the records that commit hands to
 * the exporter, packed (struct store_outbox_rec), written in the commit's
 * transaction; and per collector and interface the last seq it has
 * received.  Additive tables, created if absent at every open (older
 * versions ignore them), so they need no schema step.
 */
#define STORE_OUTBOX_SQL(int64, blob)                                          \
	"CREATE TABLE IF NOT EXISTS ipfix_outbox(iface_id " int64 " NOT NULL," \
	" seq " int64 " NOT NULL, ts_ms " int64 " NOT NULL,"                   \
	" recs " blob " NOT NULL, PRIMARY KEY(iface_id, seq));"                \
	"CREATE TABLE IF NOT EXISTS ipfix_position(collector TEXT NOT NULL,"   \
	" iface_id " int64 " NOT NULL, seq " int64 " NOT NULL,"                \
	" ts_ms " int64 " NOT NULL, PRIMARY KEY(collector, iface_id));"

#define STORE_COUNTERS                                                         \
	"tx_bytes INTEGER NOT NULL, rx_bytes INTEGER NOT NULL, "               \
	"tx_packets INTEGER NOT NULL, rx_packets INTEGER NOT NULL"

#define STORE_VIEW_ARM(table, seconds, where)                                  \
	"SELECT r.ts AS ts, " seconds " AS seconds, i.name AS iface, "         \
	"a.remote_ip AS remote_ip, p.pid AS pid, p.process AS process, "       \
	"a.country AS country, a.province AS province, a.city AS city, "       \
	"a.isp AS isp, r.tx_bytes AS tx_bytes, r.rx_bytes AS rx_bytes, "       \
	"r.tx_packets AS tx_packets, r.rx_packets AS rx_packets "              \
	"FROM " table " r JOIN ifaces i ON i.id = r.iface_id "                 \
	"JOIN addrs a ON a.id = r.addr_id JOIN procs p ON p.id = r.proc_id " where

#define STORE_OTHER_ARM(table, seconds, where)                                 \
	"SELECT r.ts AS ts, " seconds " AS seconds, i.name AS iface, "         \
	"CASE r.kind WHEN 0 THEN 'overflow' WHEN 1 THEN 'non_ip' "             \
	"ELSE 'malformed' END AS kind, "                                       \
	"r.tx_bytes AS tx_bytes, r.rx_bytes AS rx_bytes, "                     \
	"r.tx_packets AS tx_packets, r.rx_packets AS rx_packets "              \
	"FROM " table " r JOIN ifaces i ON i.id = r.iface_id " where

#define BELOW(key) "WHERE r.ts < (SELECT value FROM meta WHERE key = '" key "')"

/* 1: the first schema (four labels: country, province, city, isp) */
#define STORE_SCHEMA_V1                                                                                                                                                          \
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)"                                                                                                        \
	" WITHOUT ROWID;"                                                                                                                                                        \
	"INSERT INTO meta VALUES('hour_done', 0), ('day_done', 0),"                                                                                                              \
	" ('bucket_from', 0), ('hour_from', 0);"                                                                                                                                 \
	"CREATE TABLE ifaces(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"                                                                                                 \
	" instance INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0);"                                                                                                 \
	"CREATE TABLE kernel_counters(iface_id INTEGER NOT NULL,"                                                                                                                \
	" idx INTEGER NOT NULL, packets INTEGER NOT NULL,"                                                                                                                       \
	" bytes INTEGER NOT NULL, PRIMARY KEY(iface_id, idx)) WITHOUT ROWID;"                                                                                                    \
	"CREATE TABLE addrs(id INTEGER PRIMARY KEY, ip BLOB NOT NULL,"                                                                                                           \
	" remote_ip TEXT NOT NULL, country TEXT NOT NULL,"                                                                                                                       \
	" province TEXT NOT NULL, city TEXT NOT NULL, isp TEXT NOT NULL,"                                                                                                        \
	" UNIQUE(ip, country, province, city, isp));"                                                                                                                            \
	"CREATE TABLE procs(id INTEGER PRIMARY KEY, pid INTEGER NOT NULL,"                                                                                                       \
	" process TEXT NOT NULL, UNIQUE(pid, process));"                                                                                                                         \
	"CREATE TABLE t_bucket(ts INTEGER NOT NULL, iface_id INTEGER NOT NULL,"                                                                                                  \
	" addr_id INTEGER NOT NULL, proc_id INTEGER NOT NULL,"                                                                                                                   \
	" seconds INTEGER NOT NULL, " STORE_COUNTERS ","                                                                                                                         \
	" PRIMARY KEY(ts, iface_id, addr_id, proc_id)) WITHOUT ROWID;"                                                                                                           \
	"CREATE TABLE t_hour(ts INTEGER NOT NULL, iface_id INTEGER NOT NULL,"                                                                                                    \
	" addr_id INTEGER NOT NULL, proc_id INTEGER NOT NULL, " STORE_COUNTERS                                                                                                   \
	", PRIMARY KEY(ts, iface_id, addr_id, proc_id)) WITHOUT ROWID;"                                                                                                          \
	"CREATE TABLE t_day(ts INTEGER NOT NULL, iface_id INTEGER NOT NULL,"                                                                                                     \
	" addr_id INTEGER NOT NULL, proc_id INTEGER NOT NULL, " STORE_COUNTERS                                                                                                   \
	", PRIMARY KEY(ts, iface_id, addr_id, proc_id)) WITHOUT ROWID;"                                                                                                          \
	"CREATE TABLE t_total(iface_id INTEGER NOT NULL,"                                                                                                                        \
	" addr_id INTEGER NOT NULL, proc_id INTEGER NOT NULL, " STORE_COUNTERS                                                                                                   \
	", PRIMARY KEY(iface_id, addr_id, proc_id)) WITHOUT ROWID;"                                                                                                              \
	"CREATE TABLE o_bucket(ts INTEGER NOT NULL, iface_id INTEGER NOT NULL,"                                                                                                  \
	" kind INTEGER NOT NULL, seconds INTEGER NOT NULL, " STORE_COUNTERS                                                                                                      \
	","                                                                                                                                                                      \
	" PRIMARY KEY(ts, iface_id, kind)) WITHOUT ROWID;"                                                                                                                       \
	"CREATE TABLE o_hour(ts INTEGER NOT NULL, iface_id INTEGER NOT NULL,"                                                                                                    \
	" kind INTEGER NOT NULL, " STORE_COUNTERS ","                                                                                                                            \
	" PRIMARY KEY(ts, iface_id, kind)) WITHOUT ROWID;"                                                                                                                       \
	"CREATE TABLE o_day(ts INTEGER NOT NULL, iface_id INTEGER NOT NULL,"                                                                                                     \
	" kind INTEGER NOT NULL, " STORE_COUNTERS ","                                                                                                                            \
	" PRIMARY KEY(ts, iface_id, kind)) WITHOUT ROWID;"                                                                                                                       \
	"CREATE TABLE o_total(iface_id INTEGER NOT NULL, kind INTEGER NOT NULL,"                                                                                                 \
	" " STORE_COUNTERS ", PRIMARY KEY(iface_id, kind)) WITHOUT ROWID;"                                                                                                       \
	"CREATE VIEW traffic AS " STORE_VIEW_ARM("t_bucket", "r.seconds", "") " UNION ALL " STORE_VIEW_ARM("t_hour", "3600", BELOW("bucket_from")) " UNION ALL " STORE_VIEW_ARM( \
		"t_day", "86400",                                                                                                                                                \
		BELOW("hour_from")) ";"                                                                                                                                          \
				    "CREATE VIEW traffic_other AS " STORE_OTHER_ARM("o_bucket", "r.seconds", "") " UNION ALL " STORE_OTHER_ARM(                                  \
					    "o_hour", "3600",                                                                                                                    \
					    BELOW("bucket_from")) " UNION ALL " STORE_OTHER_ARM("o_day",                                                                         \
												"86400",                                                                         \
												BELOW("hour_from")) ";"

#endif
