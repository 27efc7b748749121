// SPDX-License-Identifier: MIT
#include "tc_filters.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TC_H_CLSACT
#define TC_H_CLSACT TC_H_INGRESS
#endif
#ifndef TC_H_MIN_INGRESS
#define TC_H_MIN_INGRESS 0xFFF2U
#define TC_H_MIN_EGRESS	 0xFFF3U
#endif

static int count_in_reply(const char *buf, int len, uint32_t handle,
			  uint32_t priority, int *count, bool *done)
{
	const struct nlmsghdr *nh = (const struct nlmsghdr *)buf;

	for (; NLMSG_OK(nh, (unsigned int)len); nh = NLMSG_NEXT(nh, len)) {
		const struct tcmsg *tc;

		if (nh->nlmsg_type == NLMSG_DONE) {
			*done = true;
			return 0;
		}
		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			*done = true;
			return e->error;
		}
		if (nh->nlmsg_type != RTM_NEWTFILTER)
			continue;
		tc = NLMSG_DATA(nh);
		/* handle 0 entries describe the classifier chain, not a filter
		 */
		if (!tc->tcm_handle)
			continue;
		if (tc->tcm_handle == handle &&
		    (tc->tcm_info >> 16) == priority)
			continue;
		(*count)++;
	}
	return 0;
}

int tc_count_other_filters(int ifindex, bool ingress, uint32_t handle,
			   uint32_t priority)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req = {
		.nh =
			{
				.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)),
				.nlmsg_type = RTM_GETTFILTER,
				.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
				.nlmsg_seq = 1,
			},
		.tc =
			{
				.tcm_family = AF_UNSPEC,
				.tcm_ifindex = ifindex,
				.tcm_parent = TC_H_MAKE(
					TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS
							     : TC_H_MIN_EGRESS),
			},
	};
	char buf[16384] __attribute__((aligned(4)));
	bool done = false;
	int fd, count = 0, err = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		err = -errno;
		goto out;
	}
	while (!done) {
		int len = (int)recv(fd, buf, sizeof(buf), 0);

		if (len < 0) {
			err = -errno;
			goto out;
		}
		if (len == 0)
			break;
		err = count_in_reply(buf, len, handle, priority, &count, &done);
		if (err)
			goto out;
	}
out:
	close(fd);
	return err ? err : count;
}
