// SPDX-License-Identifier: MIT
#include "store_labels.h"

#include <errno.h>
#include <stdlib.h>

#include "store_schema.h"

int store_labels_list(struct strbuf *sb, const char *fmt, const char *sep)
{
	int err = 0;

	for (int i = 0; i < GEO_NLABELS && !err; i++) {
		if (i)
			err = strbuf_puts(sb, sep);
		if (!err)
			err = strbuf_printf(sb, fmt, geo_label_defs[i].name);
	}
	return err ? -ENOMEM : 0;
}

/* One arm of the traffic view: rows of `table` with their dimensions. */
static int view_arm(struct strbuf *sb, const char *table, const char *seconds,
		    const char *where)
{
	int err = strbuf_printf(sb,
				"SELECT r.ts AS ts, %s AS seconds,"
				" i.name AS iface, a.remote_ip AS remote_ip,"
				" p.pid AS pid, p.process AS process, ",
				seconds);

	if (!err)
		err = store_labels_list(sb, "a.%1$s AS %1$s", ", ");
	if (!err)
		err = strbuf_printf(
			sb,
			", r.tx_bytes AS tx_bytes, r.rx_bytes AS rx_bytes,"
			" r.tx_packets AS tx_packets, r.rx_packets AS rx_packets"
			" FROM %s r JOIN ifaces i ON i.id = r.iface_id"
			" JOIN addrs a ON a.id = r.addr_id"
			" JOIN procs p ON p.id = r.proc_id %s",
			table, where);
	return err ? -ENOMEM : 0;
}

char *store_schema_views(void)
{
	struct strbuf sb = STRBUF_INIT;
	int err;

	err = strbuf_puts(&sb, "DROP VIEW IF EXISTS traffic;"
			       " DROP VIEW IF EXISTS traffic_other;"
			       " CREATE VIEW traffic AS ");
	if (!err)
		err = view_arm(&sb, "t_bucket", "r.seconds", "");
	if (!err)
		err = strbuf_puts(&sb, " UNION ALL ");
	if (!err)
		err = view_arm(&sb, "t_hour", "3600", BELOW("bucket_from"));
	if (!err)
		err = strbuf_puts(&sb, " UNION ALL ");
	if (!err)
		err = view_arm(&sb, "t_day", "86400", BELOW("hour_from"));
	/* traffic_other has no labels: the first schema's text. */
	if (!err)
		err = strbuf_puts(
			&sb,
			"; CREATE VIEW traffic_other AS " STORE_OTHER_ARM("o_bucket", "r.seconds", "") " UNION ALL " STORE_OTHER_ARM(
				"o_hour", "3600",
				BELOW("bucket_from")) " UNION ALL " STORE_OTHER_ARM("o_day",
										    "86400",
										    BELOW("hour_from")) ";");
	if (err) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_detach(&sb, NULL);
}

char *store_schema_addrs(const char *have)
{
	struct strbuf sb = STRBUF_INIT;
	char *views = store_schema_views();
	int err = views ? 0 : -ENOMEM;

	/* The views name addrs: SQLite refuses the rename under them. */
	if (!err)
		err = strbuf_puts(&sb, "DROP VIEW IF EXISTS traffic;"
				       " DROP VIEW IF EXISTS traffic_other;"
				       " CREATE TABLE addrs_new(id INTEGER"
				       " PRIMARY KEY, ip BLOB NOT NULL,"
				       " remote_ip TEXT NOT NULL, ");
	if (!err)
		err = store_labels_list(
			&sb, "%1$s TEXT NOT NULL DEFAULT 'Unknown'", ", ");
	if (!err)
		err = strbuf_puts(&sb, ", UNIQUE(ip, ");
	if (!err)
		err = store_labels_list(&sb, "%1$s", ", ");
	if (!err)
		err = strbuf_printf(
			&sb,
			"));"
			" INSERT INTO addrs_new(id, ip, remote_ip%s%s)"
			" SELECT id, ip, remote_ip%s%s FROM addrs;"
			" DROP TABLE addrs;"
			" ALTER TABLE addrs_new RENAME TO addrs; %s",
			have[0] ? ", " : "", have, have[0] ? ", " : "", have,
			views);
	free(views);
	if (err) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_detach(&sb, NULL);
}

char *store_addr_upsert_sql(void)
{
	struct strbuf sb = STRBUF_INIT;
	int err = strbuf_puts(&sb, "INSERT INTO addrs(ip, remote_ip, ");

	if (!err)
		err = store_labels_list(&sb, "%1$s", ", ");
	if (!err)
		err = strbuf_puts(&sb, ") VALUES($1, $2");
	for (int i = 0; i < GEO_NLABELS && !err; i++)
		err = strbuf_printf(&sb, ", $%d", 3 + i);
	if (!err)
		err = strbuf_puts(&sb, ") ON CONFLICT(ip, ");
	if (!err)
		err = store_labels_list(&sb, "%1$s", ", ");
	if (!err)
		err = strbuf_puts(&sb, ") DO UPDATE SET remote_ip ="
				       " excluded.remote_ip RETURNING id");
	if (err) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_detach(&sb, NULL);
}
