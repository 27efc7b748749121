/* SPDX-License-Identifier: MIT */
/*
 * One monitored interface: its BPF object, how it is attached (tcx links
 * or clsact filters), its pins and its lock.  open → load → attach → pin,
 * and the reverse on close.
 */
#ifndef ITM_LOADER_H
#define ITM_LOADER_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel_features.h"

struct traffic_bpf;

/* Our clsact filters' identity, so a restart finds and removes only ours. */
#define ITM_TC_HANDLE	0x1749
#define ITM_TC_PRIORITY 0xc749

struct loader_config {
	const char *pin_base;
	uint32_t map_entries;
	bool force_clsact;
	/* --xdp: received frames counted at XDP; TC ingress moves what it
	 * attributes to a process from pid 0 (bpf/traffic.bpf.c: move_rx()) */
	bool xdp;
	int owner_map_fd; /* socket-owner storage; -1: no attribution */
	/*
	 * Adopt maps and links an earlier run left pinned (kill -9,
	 * --keep-attached) instead of removing them: --db or --keep-attached.
	 */
	bool adopt;
};

/* How the TC programs read socket owners: the attribution ladder. */
enum owner_read {
	OWNER_READ_INLINE, /* kfuncs, Linux >= 6.2 */
	OWNER_READ_HELPER, /* bpf_sk_storage_get() */
	OWNER_READ_NONE,   /* --no-pid, or the kernel refused both */
};

enum attach_mode {
	ATTACH_NONE,
	ATTACH_TCX,
	ATTACH_CLSACT,
};

/*
 * One monitored interface.  Opaque: only the loader (loader.c) writes or
 * even reads its fields; everyone else goes through the functions below.
 */
struct iface_monitor;

/*
 * The interface's lock, taken first thing so that a second instance on it
 * is refused before setting anything up: a listening unix socket bound to
 * "\0ip_traffic_monitor/IFACE" (abstract names belong to the network
 * namespace).  Returns its fd, or -errno (printed; -EBUSY names the pid
 * of the instance that holds it).
 */
int iface_lock(const char *ifname);
/*
 * Prints one actionable message on failure and returns -errno.  Takes
 * over iface_lock_fd (from iface_lock(); -1: takes the lock itself).
 * *out is freed by iface_monitor_close() or iface_monitor_close_keep().
 */
int iface_monitor_open(struct iface_monitor **out, const char *name,
		       int iface_lock_fd, const struct loader_config *cfg);
/*
 * Record how the monitors attached (tcx or clsact) and read socket owners
 * (the worst over all of them); attribute: owners were asked for and an
 * owner map exists.
 */
void iface_monitors_features(struct iface_monitor *const *m, size_t n,
			     bool attribute, struct itm_features *fs);
/* The fd of the monitor's ingress program (capability probes). */
int iface_monitor_prog_fd(struct iface_monitor *m);
/* Whether any monitor's programs read socket owners. */
bool iface_monitors_read_owners(struct iface_monitor *const *m, size_t n);
/* Detach, unpin, close and free. */
void iface_monitor_close(struct iface_monitor *m);
/* Stop counting (links/filters removed) but keep the maps for a last drain. */
void iface_monitor_detach(struct iface_monitor *m);
/*
 * Compare with the kernel: if the interface was deleted (its index is gone
 * or names another device), forget the attachment, which went with it;
 * if an interface of that name exists while we are not attached, attach
 * the same programs and maps to it, so counting goes on into the same
 * totals (m->unprivileged: only one warning; m->raise_caps: with the kept
 * capabilities effective for that moment only).  Returns 1 if the state
 * changed, 0 if not, -errno if attaching failed and nothing else changed
 * (logged; tried again at the next change).
 */
int iface_monitor_follow(struct iface_monitor *m);
/*
 * Prove that each hook still runs our program (tc filter del or replace,
 * a tcx link detached by someone else): one link-info or tc query per
 * direction, allowed without privileges.  A hook that is no longer ours is
 * reported once and left alone (not attached again).  Returns 1 if the
 * state changed, 0 if not.  Also answers queued lock probes.
 */
int iface_monitor_check(struct iface_monitor *m);
/* Attached and every hook running our program: counting. */
bool iface_monitor_counting(const struct iface_monitor *m);
/*
 * After --user dropped privileges: reattach false, an interface that
 * comes back is only reported (unprivileged); reattach true with clsact
 * filters, the kept capabilities are raised around attaching (raise_caps).
 */
void iface_monitor_set_privileges(struct iface_monitor *m, bool reattach);

/*
 * Put the empty spare statistics map in the programs' slot and return the
 * retired one in *retired_fd, to be drained.  The update returns after an
 * RCU grace period, so no program still writes to the retired map.
 * Returns 0 or -errno (logged).
 */
int iface_monitor_swap(struct iface_monitor *m, int *retired_fd);
/* The statistics map in the slot now (for the last drain after detach). */
int iface_monitor_current_fd(const struct iface_monitor *m);
/* Slots of the statistics maps (--map-size, or adopted maps'); 0: unknown */
uint32_t iface_monitor_map_capacity(const struct iface_monitor *m);
/*
 * Exit but leave the kernel side: with keep_attached the programs go on
 * counting (--keep-attached); otherwise they are detached but the maps
 * stay pinned because they hold counts not yet stored.  Frees m.
 */
void iface_monitor_close_keep(struct iface_monitor *m, bool keep_attached);
/*
 * `detach`: remove what a kept or killed instance left on ifname (links,
 * our clsact filters, pins).  -ENOENT (printed) when there is nothing.
 */
int iface_leftovers_remove(const char *ifname, const char *pin_base);
/* Statistics map 0 (a) or 1 (b), and the pinned bookkeeping map. */
int iface_monitor_stats_fd(const struct iface_monitor *m, int which);
int iface_monitor_meta_fd(const struct iface_monitor *m);
/* The cumulative per-CPU counters (enum itm_counter_index). */
int iface_monitor_counters_fd(const struct iface_monitor *m);
/*
 * --xdp with attribution: the one-slot per-CPU itm_counter of received
 * traffic attributed at TC ingress that stayed under pid 0 (move_rx()).
 */
int iface_monitor_missed_fd(const struct iface_monitor *m);
/* --xdp with attribution: TC ingress moves received traffic from pid 0. */
bool iface_monitor_moves_rx(const struct iface_monitor *m);
const char *attach_mode_name(enum attach_mode mode);
/* Whether the kernel loads multi-buffer XDP programs (Linux >= 5.18). */
int xdp_frags_probe(void);

/* What the rest of the daemon reads of a monitor. */
const char *iface_monitor_name(const struct iface_monitor *m);
int iface_monitor_ifindex(const struct iface_monitor *m);
enum attach_mode iface_monitor_mode(const struct iface_monitor *m);
const char *iface_monitor_pin_dir(const struct iface_monitor *m);
/* Its BPF object is loaded (until close; detach leaves it loaded). */
bool iface_monitor_loaded(const struct iface_monitor *m);
/* 0: itm_stats_a is in the programs' slot, 1: b. */
int iface_monitor_active(const struct iface_monitor *m);
/* The maps came from an earlier run (kill -9, --keep-attached). */
bool iface_monitor_adopted(const struct iface_monitor *m);
/* The interface disappeared; not attached. */
bool iface_monitor_gone(const struct iface_monitor *m);
/* Times attached again to a re-created interface. */
uint64_t iface_monitor_reattached(const struct iface_monitor *m);
/* A tcx link of a re-attach could not be pinned. */
bool iface_monitor_unpinned(const struct iface_monitor *m);
/* --user --reattach with clsact filters: raise caps around detaching. */
bool iface_monitor_raise_caps(const struct iface_monitor *m);

#endif
