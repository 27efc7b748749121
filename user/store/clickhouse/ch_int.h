/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the ClickHouse backend's writer and reader: one
 * connection to the HTTP interface (libcurl) and the TabSeparated text
 * both directions use.
 */
#ifndef ITM_CH_INT_H
#define ITM_CH_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "store_ops.h"
#include "strbuf.h"

/* A --db value this backend takes. */
#define CH_SCHEME "clickhouse://"

struct ch_conn {
	void *curl;	/* CURL * */
	void *headers;	/* struct curl_slist * */
	char url[1280]; /* http(s)://host:port/? */
	char db[128];
	char user[128];
	char password[256];
	char cafile[512];
	char cluster[128]; /* ?cluster=NAME: the sharded layout */
};

/*
 * Parse clickhouse://[user[:password]@]host[:port]/database[?opts] and
 * set the connection up (nothing is sent yet).  Options: secure=1
 * (https, port 8443 by default), sslrootcert=PATH, password_file=PATH,
 * cluster=NAME;
 * CLICKHOUSE_PASSWORD in the environment when the URL has none.  0 or
 * -errno with one line in err.
 */
int ch_open(struct ch_conn *c, const char *uri, char *err, size_t len);
void ch_close(struct ch_conn *c);

/*
 * Run `query` with `body` (NULL: none) as the data that follows it; the
 * server's reply in out (may be NULL).  Extra URL settings in `settings`
 * ("&readonly=1&database=x", or NULL; the writer names its database in
 * every statement, so it exists before it is created).  0; -EINVAL when the
 * server refused the statement (its message in err); -ECONNRESET when it could
 * not be reached or did not answer.
 */
int ch_exec(struct ch_conn *c, const char *query, const char *body,
	    size_t body_len, const char *settings, struct strbuf *out,
	    char *err, size_t len);

/* Append s as a TabSeparated field (\t, \n, \\ escaped). */
int ch_tsv_escape(struct strbuf *sb, const char *s);
/* Append s as a quoted SQL string literal. */
int ch_sql_quote(struct strbuf *sb, const char *s);
/*
 * Split one line of TabSeparated output in place into at most max
 * fields, unescaping them; NULL (\N) fields become NULL.  The count.
 */
int ch_tsv_split(char *line, char **fields, int max);

/* The URI for messages, its password as "***". */
void ch_redact(const char *uri, char *out, size_t len);

/* The reader (query_ch.c). */
extern const struct store_reader ch_reader;

#endif
