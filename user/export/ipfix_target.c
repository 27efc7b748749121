// SPDX-License-Identifier: MIT
/* The --ipfix HOST:PORT syntax (pure: the option parser and its tests). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipfix_net.h"

int ipfix_split_target(const char *s, char *host, size_t hlen, char *port,
		       size_t plen)
{
	const char *h = s, *colon, *p;
	size_t n;

	if (!s || !s[0])
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		/* An IPv6 literal needs brackets to carry a port. */
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		n = (size_t)(colon - s);
	}
	p = colon + 1;
	if (!n || n >= hlen || !p[0] || strlen(p) >= plen ||
	    strspn(p, "0123456789") != strlen(p))
		return -EINVAL;
	{
		long v = strtol(p, NULL, 10);

		if (v < 1 || v > 65535)
			return -EINVAL;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, plen, "%s", p);
	return 0;
}
