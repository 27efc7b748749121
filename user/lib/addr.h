/* SPDX-License-Identifier: MIT */
/*
 * The one way addresses become text (metrics labels, console tables):
 * IPv4-mapped addresses as a dotted quad, others as RFC 5952 text, byte
 * for byte what glibc's inet_ntop() prints, without its sprintf cost
 * (tests/unit/test_metrics.c compares the two).
 */
#ifndef ITM_ADDR_H
#define ITM_ADDR_H

#include <netinet/in.h>
#include <stddef.h>

/* Writes the text and a NUL into buf (INET6_ADDRSTRLEN bytes); returns its
 * length. */
size_t addr_format(const struct in6_addr *a, char buf[INET6_ADDRSTRLEN]);

#endif
