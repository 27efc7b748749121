/* SPDX-License-Identifier: MIT */
/*
 * What the running kernel let the monitor load, part by part.  Only the
 * counting programs are essential; every other part has a ladder of
 * variants and may be missing.  Which variant runs, and why a better one
 * did not, is logged once, exported as ip_traffic_feature and printed by
 * `ip_traffic_monitor_cli check`.
 */
#ifndef ITM_KERNEL_FEATURES_H
#define ITM_KERNEL_FEATURES_H

#include <stdbool.h>
#include <stddef.h>

enum itm_feature {
	ITM_FEAT_TC_ATTACH,	    /* tcx | clsact */
	ITM_FEAT_OWNER_READ,	    /* inline | helper | none */
	ITM_FEAT_OWNER_SCAN,	    /* task_file | socket_iter | none */
	ITM_FEAT_OWNER_SOCK_CREATE, /* cgroup | none */
	ITM_FEAT_BATCH_DRAIN,	    /* batch | iteration */
	ITM_FEAT_ATTRIBUTION,	    /* full | partial | none: the sum */
	ITM_FEAT_XDP,		    /* native | generic | none (--xdp) */
	ITM_FEAT_MAX,
};

enum itm_feat_state {
	ITM_FEAT_ENABLED,     /* works fully (any variant) */
	ITM_FEAT_DEGRADED,    /* works in part: the reason says what is lost */
	ITM_FEAT_UNAVAILABLE, /* the kernel refused every variant */
	ITM_FEAT_DISABLED,    /* turned off by a flag */
	ITM_FEAT_STATE_MAX,
};

#define ITM_FEAT_VARIANT_LEN 16
#define ITM_FEAT_REASON_LEN  240

struct itm_feature_status {
	bool known; /* set by the part that owns it */
	enum itm_feat_state state;
	char variant[ITM_FEAT_VARIANT_LEN];
	char reason[ITM_FEAT_REASON_LEN];
};

struct itm_features {
	struct itm_feature_status f[ITM_FEAT_MAX];
};

const char *itm_feature_name(enum itm_feature f);
const char *itm_feat_state_name(enum itm_feat_state s);

/* reason may be NULL or ""; it is cut to one line. */
void features_set(struct itm_features *fs, enum itm_feature f,
		  enum itm_feat_state state, const char *variant,
		  const char *reason);
/* snprintf() for reasons: cutting a long one short is fine. */
void features_fmt(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Derive ITM_FEAT_ATTRIBUTION from the three owner parts (no_pid: off). */
void features_sum_attribution(struct itm_features *fs, bool no_pid);

/*
 * One warning per part the kernel refused, naming what is lost and why
 * (attribution refused as a whole: one line for all of it); one notice
 * for key-by-key draining.
 */
void features_log_warnings(const struct itm_features *fs);

/*
 * The line of a verifier log that says why a program was refused: the
 * last one before the statistics the kernel appends ("verification
 * time", "processed N insns"), or strerror(-err) when the log is empty.
 */
void features_log_reason(const char *log, int err, char *out, size_t len);

/*
 * The tests make the kernel refuse a part for real (the loader then asks
 * for something the kernel must reject) by naming it in ITM_TEST_REFUSE,
 * a comma-separated list: inline, helper, task_file, socket_iter,
 * sock_create, tcx, batch, xdp_native, xdp_frags.  ITM_TEST_REFUSE_INLINE=1
 * is "inline".
 */
bool features_test_refuses(const char *part);

#endif
