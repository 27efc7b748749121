// SPDX-License-Identifier: MIT
/*
 * `ip_traffic_monitor_cli check [--json]`: which variant of each program
 * this kernel accepts, and why it refuses the better ones.  It loads every
 * variant the monitor could use, attaches nothing and sends no traffic.
 * Exit 0 when counting can work, 1 when it cannot, 2 on a usage error.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "drain.h"
#include "kernel_features.h"
#include "loader.h"
#include "log.h"
#include "owner.h"
#include "subcommands.h"
#include "traffic.skel.h"

/* Debian 12's UAPI headers predate tcx (Linux 6.6). */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#endif

/* The verifier's log of the TC programs can be long; keep its end. */
#define CHECK_LOG_SIZE (16U << 20)

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || !log_verbose())
		return 0;
	log_vmsg("libbpf", fmt, ap);
	return 0;
}

/* One rung of the TC ladder: the Ethernet programs, as the loader does. */
static int load_tc(bool attribute, bool hlp, char *reason, size_t len)
{
	struct traffic_bpf *s = traffic_bpf__open();
	struct bpf_program *prog;
	char *log;
	int err;

	if (!s) {
		err = -errno;
		snprintf(reason, len, "cannot open the object: %s",
			 strerror(-err));
		return err;
	}
	log = malloc(CHECK_LOG_SIZE);
	bpf_map__set_max_entries(s->maps.itm_stats_a, 64);
	bpf_map__set_max_entries(s->maps.itm_stats_b, 64);
	s->rodata->attribute_pid = attribute;
	bpf_object__for_each_program(prog, s->obj)
	{
		bpf_program__set_autoload(prog, false);
		if (log)
			bpf_program__set_log_buf(prog, log, CHECK_LOG_SIZE);
	}
	bpf_program__set_autoload(
		hlp ? s->progs.itm_egress_hlp : s->progs.itm_egress, true);
	bpf_program__set_autoload(
		hlp ? s->progs.itm_ingress_hlp : s->progs.itm_ingress, true);
	if (attribute && features_test_refuses(hlp ? "helper" : "inline")) {
		bpf_program__set_type(hlp ? s->progs.itm_egress_hlp
					  : s->progs.itm_egress,
				      BPF_PROG_TYPE_XDP);
	}
	if (log)
		log[0] = '\0';
	err = traffic_bpf__load(s);
	if (err)
		features_log_reason(log, err, reason, len);
	free(log);
	traffic_bpf__destroy(s);
	return err;
}

/* tcx answers a query of lo's hook where it exists (Linux >= 6.6). */
static int probe_tcx(void)
{
	__u32 ids[1], count = 1, flags = 0;

	if (features_test_refuses("tcx"))
		return -EINVAL;
	if (bpf_prog_query(1, BPF_TCX_INGRESS, 0, &flags, ids, &count))
		return -errno;
	return 0;
}

/* Returns whether counting can work. */
static bool check_kernel(struct itm_features *fs, char *count_reason,
			 size_t len)
{
	struct owner_probe_result res[OWNER_PART_MAX];
	char inline_why[ITM_FEAT_REASON_LEN], hlp_why[ITM_FEAT_REASON_LEN];
	char why[2 * ITM_FEAT_REASON_LEN + 64];
	const char *xdp_rx;
	bool counting, owner = true;
	int err;

	counting = !load_tc(false, false, count_reason, len) ||
		   !load_tc(false, true, count_reason, len);
	if (counting)
		count_reason[0] = '\0';

	err = probe_tcx();
	if (!err) {
		features_set(fs, ITM_FEAT_TC_ATTACH, ITM_FEAT_ENABLED, "tcx",
			     NULL);
	} else {
		snprintf(why, sizeof(why), "tcx refused: %s", strerror(-err));
		features_set(fs, ITM_FEAT_TC_ATTACH, ITM_FEAT_ENABLED, "clsact",
			     why);
	}

	if (!load_tc(true, false, inline_why, sizeof(inline_why))) {
		features_set(fs, ITM_FEAT_OWNER_READ, ITM_FEAT_ENABLED,
			     "inline", NULL);
	} else if (!load_tc(true, true, hlp_why, sizeof(hlp_why))) {
		snprintf(why, sizeof(why), "inline read refused: %s",
			 inline_why);
		features_set(fs, ITM_FEAT_OWNER_READ, ITM_FEAT_ENABLED,
			     "helper", why);
	} else {
		owner = false;
		snprintf(why, sizeof(why), "inline: %s; helper: %s", inline_why,
			 hlp_why);
		features_set(fs, ITM_FEAT_OWNER_READ, ITM_FEAT_UNAVAILABLE,
			     "none", why);
	}

	owner_probe(res);
	owner_features(res, fs);

	err = drain_batch_probe();
	if (!err) {
		features_set(fs, ITM_FEAT_BATCH_DRAIN, ITM_FEAT_ENABLED,
			     "batch", NULL);
	} else {
		snprintf(
			why, sizeof(why),
			"batch lookup-and-delete refused (%s): maps are emptied key by key, more slowly",
			strerror(-err));
		features_set(fs, ITM_FEAT_BATCH_DRAIN, ITM_FEAT_DEGRADED,
			     "iteration", why);
	}
	/*
	 * The mode (native, generic) is the driver's: known on attaching.
	 * Received traffic is attributed at TC ingress under --xdp too
	 * (move_rx() in bpf/traffic.bpf.c), with the same owner read.
	 */
	xdp_rx =
		owner ? "received traffic attributed to processes at TC ingress"
		      : "received traffic not attributed (no owner read)";
	err = xdp_frags_probe();
	if (!err) {
		snprintf(why, sizeof(why),
			 "--xdp counts multi-buffer frames too; %s", xdp_rx);
		features_set(fs, ITM_FEAT_XDP, ITM_FEAT_ENABLED, "frags", why);
	} else {
		snprintf(
			why, sizeof(why),
			"multi-buffer programs refused (%s): --xdp gets generic mode where a driver refuses native mode for a large MTU; %s",
			strerror(-err), xdp_rx);
		features_set(fs, ITM_FEAT_XDP, ITM_FEAT_DEGRADED, "linear",
			     why);
	}
	features_sum_attribution(fs, false);
	return counting;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(const char *kernel, bool counting,
		       const char *count_reason, const struct itm_features *fs)
{
	printf("{\"kernel\": ");
	json_string(kernel);
	printf(", \"counting\": %s, \"counting_reason\": ",
	       counting ? "true" : "false");
	json_string(count_reason);
	printf(", \"features\": [");
	for (int f = 0; f < ITM_FEAT_MAX; f++) {
		const struct itm_feature_status *st = &fs->f[f];

		printf("%s{\"feature\": ", f ? ", " : "");
		json_string(itm_feature_name(f));
		printf(", \"variant\": ");
		json_string(st->variant);
		printf(", \"state\": ");
		json_string(itm_feat_state_name(st->state));
		printf(", \"reason\": ");
		json_string(st->reason);
		putchar('}');
	}
	printf("]}\n");
}

static void print_table(const char *kernel, bool counting,
			const char *count_reason, const struct itm_features *fs)
{
	printf(_("kernel %s\n"), kernel);
	printf("%-18s %-12s %-12s %s\n", _("FEATURE"), _("VARIANT"), _("STATE"),
	       _("REASON"));
	printf("%-18s %-12s %-12s %s\n", "counting", "tc",
	       counting ? "enabled" : "unavailable", count_reason);
	for (int f = 0; f < ITM_FEAT_MAX; f++) {
		const struct itm_feature_status *st = &fs->f[f];

		printf("%-18s %-12s %-12s %s\n", itm_feature_name(f),
		       st->variant, itm_feat_state_name(st->state), st->reason);
	}
	printf(counting ? _("counting works on this kernel\n")
			: _("counting cannot work on this kernel\n"));
}

int check_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	char count_reason[ITM_FEAT_REASON_LEN];
	struct itm_features fs = {0};
	bool json = false, counting;
	struct utsname u;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jvh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'v':
			log_set_verbose(true);
			break;
		case 'h':
			printf(_(
				"Usage: ip_traffic_monitor_cli check [--json] [-v]\n"
				"Loads every variant of the BPF programs the monitor could use on this\n"
				"kernel (nothing is attached, no traffic is sent) and prints which one\n"
				"each part would run and why a better one is refused.  Root or\n"
				"CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN.  Exit 0 when counting works,\n"
				"1 when it cannot, 2 on a usage error.\n"
				"      --json     one JSON object instead of the table\n"
				"  -v, --verbose  libbpf's messages too\n"
				"  -h, --help     this text\n"));
			return 0;
		default:
			pr_err(_("check: unknown option '%s' (see check --help)\n"),
			       LOG_Q(argv[optind - 1]));
			return 2;
		}
	}
	if (optind < argc) {
		pr_err(_("check: unexpected argument '%s'\n"),
		       LOG_Q(argv[optind]));
		return 2;
	}
	libbpf_set_print(quiet);
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "?");
	counting = check_kernel(&fs, count_reason, sizeof(count_reason));
	if (json)
		print_json(u.release, counting, count_reason, &fs);
	else
		print_table(u.release, counting, count_reason, &fs);
	return counting ? 0 : 1;
}
