/* SPDX-License-Identifier: MIT */
/*
 * The one address parser of the unit tests: "192.0.2.1" or "2001:db8::1"
 * as the tables store it (IPv4 as ::ffff:a.b.c.d).  Include after cmocka.h.
 */
#ifndef ITM_TEST_ADDR_H
#define ITM_TEST_ADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

static inline struct in6_addr test_addr(const char *s)
{
	struct in6_addr a = {0};
	struct in_addr v4;

	if (inet_pton(AF_INET, s, &v4) == 1) {
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		memcpy(&a.s6_addr[12], &v4, 4);
	} else {
		assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	}
	return a;
}

/* a.b.c.d as the tables store it, from its four numbers */
static inline struct in6_addr test_v4(uint8_t a, uint8_t b, uint8_t c,
				      uint8_t d)
{
	struct in6_addr x = {0};

	x.s6_addr[10] = x.s6_addr[11] = 0xff;
	x.s6_addr[12] = a;
	x.s6_addr[13] = b;
	x.s6_addr[14] = c;
	x.s6_addr[15] = d;
	return x;
}

#endif
