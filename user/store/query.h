/* SPDX-License-Identifier: MIT */
/*
 * `ip_traffic_monitor_cli query`: read-only SQL and built-in reports over
 * the --db store.  Needs no privileges beyond reading the file; opens it
 * read-only, so it is safe while the daemon writes.
 */
#ifndef ITM_QUERY_H
#define ITM_QUERY_H

#include <stdint.h>

/* argv[0] is "query".  Returns the exit status (2: bad flags/SQL/file). */
int query_main(int argc, char **argv);

/*
 * "24h", "90m", "7d", "2w", "3600" (seconds ago), "@UNIX", "YYYY-MM-DD",
 * "YYYY-MM-DD HH:MM[:SS]" or with a T (UTC) to unix seconds.
 */
int query_parse_time(const char *s, int64_t now, int64_t *out);

#endif
