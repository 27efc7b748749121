/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the subcommands main() dispatches to.  Each takes argv
 * with argv[0] naming the subcommand (the program for the monitor itself)
 * and returns the process exit status.
 */
#ifndef ITM_SUBCOMMANDS_H
#define ITM_SUBCOMMANDS_H

/* No subcommand: monitor interfaces (user/core/daemon.c). */
int daemon_main(int argc, char **argv);
/* "lookup": labels of addresses (user/geo/lookup_cmd.c, declared in geo.h). */
int geo_lookup_main(int argc, char **argv);
/* "top": the live view of a running monitor (user/live/top_cmd.c). */
int top_main(int argc, char **argv);
/* "query": SQL and reports over the --db store (user/store/query.c). */
int query_main(int argc, char **argv);
/* "detach": remove what a kept or killed instance left (user/cli/detach_cmd.c). */
int detach_main(int argc, char **argv);
/* "check": what this kernel supports, nothing attached (user/cli/check_cmd.c). */
int check_main(int argc, char **argv);

#endif
