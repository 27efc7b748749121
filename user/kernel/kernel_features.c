// SPDX-License-Identifier: MIT
#include "kernel_features.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const feature_names[ITM_FEAT_MAX] = {
	[ITM_FEAT_TC_ATTACH] = "tc_attach",
	[ITM_FEAT_OWNER_READ] = "owner_read",
	[ITM_FEAT_OWNER_SCAN] = "owner_scan",
	[ITM_FEAT_OWNER_SOCK_CREATE] = "owner_sock_create",
	[ITM_FEAT_BATCH_DRAIN] = "batch_drain",
	[ITM_FEAT_ATTRIBUTION] = "attribution",
	[ITM_FEAT_XDP] = "xdp",
};

static const char *const state_names[ITM_FEAT_STATE_MAX] = {
	[ITM_FEAT_ENABLED] = "enabled",
	[ITM_FEAT_DEGRADED] = "degraded",
	[ITM_FEAT_UNAVAILABLE] = "unavailable",
	[ITM_FEAT_DISABLED] = "disabled",
};

const char *itm_feature_name(enum itm_feature f)
{
	return f < ITM_FEAT_MAX ? feature_names[f] : "?";
}

const char *itm_feat_state_name(enum itm_feat_state s)
{
	return s < ITM_FEAT_STATE_MAX ? state_names[s] : "?";
}

void features_set(struct itm_features *fs, enum itm_feature f,
		  enum itm_feat_state state, const char *variant,
		  const char *reason)
{
	struct itm_feature_status *st;

	if (!fs || f >= ITM_FEAT_MAX)
		return;
	st = &fs->f[f];
	st->known = true;
	st->state = state;
	snprintf(st->variant, sizeof(st->variant), "%s",
		 variant ? variant : "none");
	snprintf(st->reason, sizeof(st->reason), "%s", reason ? reason : "");
	st->reason[strcspn(st->reason, "\r\n")] = '\0';
}

void features_fmt(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

void features_sum_attribution(struct itm_features *fs, bool no_pid)
{
	const struct itm_feature_status *rd = &fs->f[ITM_FEAT_OWNER_READ];
	const struct itm_feature_status *scan = &fs->f[ITM_FEAT_OWNER_SCAN];
	const struct itm_feature_status *sc =
		&fs->f[ITM_FEAT_OWNER_SOCK_CREATE];
	bool scan_ok = scan->known && (scan->state == ITM_FEAT_ENABLED ||
				       scan->state == ITM_FEAT_DEGRADED);
	bool sc_ok = sc->known && sc->state == ITM_FEAT_ENABLED;
	char why[ITM_FEAT_REASON_LEN];

	if (no_pid) {
		features_set(fs, ITM_FEAT_ATTRIBUTION, ITM_FEAT_DISABLED,
			     "none", "--no-pid");
		return;
	}
	if (!rd->known || rd->state != ITM_FEAT_ENABLED ||
	    (!scan_ok && !sc_ok)) {
		snprintf(why, sizeof(why), "%s",
			 rd->known && rd->state != ITM_FEAT_ENABLED
				 ? "the TC programs cannot read socket owners"
				 : "no socket-owner program could be loaded");
		features_set(fs, ITM_FEAT_ATTRIBUTION, ITM_FEAT_UNAVAILABLE,
			     "none", why);
		return;
	}
	if (scan->state == ITM_FEAT_ENABLED && sc_ok) {
		features_set(fs, ITM_FEAT_ATTRIBUTION, ITM_FEAT_ENABLED, "full",
			     NULL);
		return;
	}
	if (!sc_ok)
		snprintf(
			why, sizeof(why), "%s",
			"sockets opened while running are attributed only at the next scan");
	else if (!scan_ok)
		snprintf(
			why, sizeof(why), "%s",
			"sockets that were open before the start are not attributed");
	else
		snprintf(
			why, sizeof(why), "%s",
			"only TCP and UDP sockets that were open before the start are attributed");
	features_set(fs, ITM_FEAT_ATTRIBUTION, ITM_FEAT_DEGRADED, "partial",
		     why);
}

void features_log_warnings(const struct itm_features *fs)
{
	const struct itm_feature_status *attr = &fs->f[ITM_FEAT_ATTRIBUTION];
	const struct itm_feature_status *rd = &fs->f[ITM_FEAT_OWNER_READ];
	const struct itm_feature_status *scan = &fs->f[ITM_FEAT_OWNER_SCAN];
	const struct itm_feature_status *sc =
		&fs->f[ITM_FEAT_OWNER_SOCK_CREATE];
	const struct itm_feature_status *batch = &fs->f[ITM_FEAT_BATCH_DRAIN];

	if (attr->known && attr->state == ITM_FEAT_UNAVAILABLE) {
		if (rd->known && rd->state == ITM_FEAT_UNAVAILABLE)
			pr_warn(_("process attribution is unavailable: the kernel refused the TC programs that read socket owners (%s); counting goes on without it\n"),
				rd->reason);
		else
			pr_warn(_("process attribution is unavailable: the kernel refused every socket-owner program (scan: %s; sock_create: %s); counting goes on without it\n"),
				scan->reason, sc->reason);
	} else if (attr->known && attr->state == ITM_FEAT_DEGRADED) {
		/* Works for TCP and UDP, the traffic that matters: a notice. */
		if (scan->state == ITM_FEAT_DEGRADED)
			pr_notice(_("process attribution: sockets open before the start are found by the TCP and UDP socket iterators only, because %s\n"),
				  scan->reason);
		else if (scan->state == ITM_FEAT_UNAVAILABLE)
			pr_warn(_("process attribution: sockets open before the start are not attributed, because the kernel refused the scan: %s\n"),
				scan->reason);
		if (sc->state == ITM_FEAT_UNAVAILABLE)
			pr_warn(_("process attribution: sockets opened while running are attributed only at the next scan, because cgroup/sock_create is unavailable: %s\n"),
				sc->reason);
	}
	if (batch->known && batch->state != ITM_FEAT_ENABLED)
		pr_notice("%s\n", batch->reason);
}

static bool is_stats_line(const char *s, size_t n)
{
	static const char *const prefixes[] = {
		"verification time",
		"stack depth",
		"processed ",
		"-- END PROG LOAD LOG",
		"-- BEGIN PROG LOAD LOG",
	};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t k = strlen(prefixes[i]);

		if (n >= k && !strncmp(s, prefixes[i], k))
			return true;
	}
	return false;
}

void features_log_reason(const char *log, int err, char *out, size_t len)
{
	const char *best = NULL, *p = log;
	size_t best_n = 0;

	while (p && *p) {
		size_t n = strcspn(p, "\n");

		if (n && !is_stats_line(p, n)) {
			best = p;
			best_n = n;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	if (!best) {
		snprintf(out, len, "%s", strerror(err < 0 ? -err : err));
		return;
	}
	snprintf(out, len, "%.*s", (int)best_n, best);
}

bool features_test_refuses(const char *part)
{
	const char *list = getenv("ITM_TEST_REFUSE");
	size_t n = strlen(part);

	if (!strcmp(part, "inline") && getenv("ITM_TEST_REFUSE_INLINE"))
		return true;
	while (list && *list) {
		size_t k = strcspn(list, ",");

		if (k == n && !strncmp(list, part, n))
			return true;
		list += k;
		if (*list == ',')
			list++;
	}
	return false;
}
