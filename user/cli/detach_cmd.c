// SPDX-License-Identifier: MIT
/*
 * `ip_traffic_monitor_cli detach -i IFACE [--pin-dir DIR]`: remove what an
 * instance run with --keep-attached (or killed) left on an interface.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "log.h"
#include "options.h"
#include "subcommands.h"

/* Errors are reported once, by us; libbpf's notes would be noise. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

int detach_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"iface", required_argument, NULL, 'i'},
		{"pin-dir", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *ifaces[ITM_MAX_IFACES];
	const char *pin_base = ITM_DEFAULT_PIN_BASE;
	size_t n = 0;
	int c, status = 0;

	libbpf_set_print(quiet);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (n == ITM_MAX_IFACES) {
				pr_err(_("detach: at most %d interfaces\n"),
				       ITM_MAX_IFACES);
				return 2;
			}
			ifaces[n++] = optarg;
			break;
		case 'P':
			if (optarg[0] != '/') {
				pr_err(_("detach: --pin-dir wants an absolute path, got '%s'\n"),
				       optarg);
				return 2;
			}
			pin_base = optarg;
			break;
		case 'h':
			printf(_(
				"Usage: ip_traffic_monitor_cli detach -i IFACE... [--pin-dir DIR]\n"
				"Removes the programs, links and pinned maps that an instance run\n"
				"with --keep-attached (or killed) left on IFACE.  Counts they hold\n"
				"that no database has stored are lost.\n"
				"  -i, --iface IFACE  interface to clean up; repeatable\n"
				"      --pin-dir DIR  bpffs directory the instance pinned to\n"
				"                     [default: /sys/fs/bpf/ip_traffic_monitor]\n"
				"  -h, --help         this text\n"));
			return 0;
		default:
			pr_err(_("detach: unknown or incomplete option '%s' (see detach --help)\n"),
			       argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc || !n) {
		pr_err(_("detach: give the interface with -i IFACE\n"));
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		if (iface_leftovers_remove(ifaces[i], pin_base))
			status = 2;
	return status;
}
