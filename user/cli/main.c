// SPDX-License-Identifier: MIT
/*
 * ip_traffic_monitor_cli: exact per-remote-IP traffic accounting with eBPF,
 * served to Prometheus.  main() only dispatches: "PROG COMMAND ..." runs a
 * subcommand from the table below, anything else is the monitor itself.
 * Adding a subcommand is one line here and one file with its entry point.
 */
#include <stddef.h>
#include <string.h>

#include "i18n.h"
#include "subcommands.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} subcommands[] = {
	{"lookup", geo_lookup_main},
	{"top", top_main},
	{"query", query_main},
	{"detach", detach_main},
	{"check", check_main},
};

int main(int argc, char **argv)
{
	i18n_init();
	for (size_t i = 0;
	     argc > 1 && i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	return daemon_main(argc, argv);
}
