/* SPDX-License-Identifier: MIT */
/*
 * Bring up "lo" in the calling thread's (fresh, private) network namespace:
 * a new namespace starts with it down, and the sockets the BPF tests and
 * the cost benchmark look up live on it.
 */
#ifndef ITM_TEST_LO_UP_H
#define ITM_TEST_LO_UP_H

#include <errno.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int lo_up(void)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), err = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			err = -errno;
	} else {
		err = -errno;
	}
	close(fd);
	return err;
}

#endif
