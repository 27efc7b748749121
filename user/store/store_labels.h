/* SPDX-License-Identifier: MIT */
/*
 * The address dimension's label columns, from the one label table
 * (geo_label_defs[], geo_labels.h): one TEXT column per label in addrs and
 * in the views, 'Unknown' where unknown.  Everything here is generated
 * from that table, so a new label is a schema step (see store_schema.h)
 * and no list to edit in the store or in `query`.
 */
#ifndef ITM_STORE_LABELS_H
#define ITM_STORE_LABELS_H

#include "geo_labels.h"
#include "strbuf.h"

/* A label's stored value: NULL or "" is "Unknown". */
static inline const char *store_label(const struct geo_labels *g, int i)
{
	const char *v = g ? g->v[i] : NULL;

	return v && v[0] ? v : "Unknown";
}

/*
 * Append every label column through fmt (its %1$s is the column name),
 * separated by sep: ("%1$s", ", ") gives "country, province, ...".
 * 0 or -ENOMEM.
 */
int store_labels_list(struct strbuf *sb, const char *fmt, const char *sep);

/*
 * The documented views, dropped and created again with every label
 * column (malloc'ed SQL in the SQLite dialect; NULL: no memory).
 */
char *store_schema_views(void);

/*
 * SQLite: addrs rebuilt with every label column, keeping ids and rows;
 * `have` lists the label columns the old table has ("country, city"),
 * the others are 'Unknown' in old rows.  Then the views.  Malloc'ed.
 */
char *store_schema_addrs(const char *have);

/*
 * The address upsert of both backends: (ip, remote_ip, labels...) as $1,
 * $2, $3... (SQLite numbers $N parameters in order of appearance, so they
 * bind by index there too), returning the row's id.  Malloc'ed.
 */
char *store_addr_upsert_sql(void);

#endif
