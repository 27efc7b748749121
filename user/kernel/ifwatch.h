/* SPDX-License-Identifier: MIT */
/*
 * Link events from rtnetlink (RTMGRP_LINK), so that a monitored interface
 * that is deleted or created again is noticed at once rather than at the
 * next sample.  The events only wake the caller, which then compares each
 * monitored interface's name and index with what the kernel has now: a
 * lost message (ENOBUFS) cannot leave it wrong.
 */
#ifndef ITM_IFWATCH_H
#define ITM_IFWATCH_H

struct ifwatch;

/* 0 and *out, or -errno. */
int ifwatch_open(struct ifwatch **out);
void ifwatch_close(struct ifwatch *w);
/* Becomes readable when a link changed. */
int ifwatch_fd(const struct ifwatch *w);
/* Consume what is pending; returns how many link messages (>= 1 after an
 * overflow, which also means "look again"), or -errno. */
int ifwatch_drain(struct ifwatch *w);

#endif
