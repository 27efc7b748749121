// SPDX-License-Identifier: MIT
/*
 * What `top` viewers cost the daemon: the live socket server
 * (user/live/live_server.c) publishes a table of N addresses (one process each)
 * of which a tenth change every update, to K viewers that read and discard
 * everything in a child process.  The daemon's CPU time per update (user +
 * system, this process only) is measured for K = 0, 1, 4, 16, 64 and
 * printed with its ratio to one viewer, both from the same run.
 *
 *   build/bench/live_fanout [N [UPDATES]]      (10000, 200)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "geo_labels.h"
#include "live_server.h"
#include "table.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ip_table addrs, procs;
static const struct geo_labels labels = {.country = "中国", .province = "江苏省", .city = "南京市",
					 .isp = "中国电信"};

static int visit(void *src, live_tables_fn fn, void *arg)
{
	int err;

	(void)src;
	pthread_mutex_lock(&lock);
	err = fn(&addrs, &procs, arg);
	pthread_mutex_unlock(&lock);
	return err;
}

static struct in6_addr nth(size_t i)
{
	struct in6_addr a = {0};

	a.s6_addr[10] = a.s6_addr[11] = 0xff;
	a.s6_addr[12] = 10;
	a.s6_addr[13] = (uint8_t)(i >> 16);
	a.s6_addr[14] = (uint8_t)(i >> 8);
	a.s6_addr[15] = (uint8_t)i;
	return a;
}

static void fill(size_t n)
{
	ip_table_init(&addrs, 0);
	ip_table_init(&procs, 0);
	for (size_t i = 0; i < n; i++) {
		struct in6_addr a = nth(i);
		struct ip_entry *e = ip_table_upsert(&addrs, &a);
		struct ip_entry *p = ip_table_upsert_pid(
			&procs, &a, (uint32_t)(1000 + i % 50));

		e->geo = &labels;
		e->tx_bytes = p->tx_bytes = 1000 + i;
		snprintf(p->comm, sizeof(p->comm), "worker%zu", i % 50);
	}
}

/* A tenth of the rows see traffic, as in one sample interval. */
static void mutate(size_t n, unsigned int round)
{
	pthread_mutex_lock(&lock);
	for (size_t i = round % 10; i < n; i += 10) {
		addrs.entries[i].tx_bytes += 1500;
		addrs.entries[i].tx_packets++;
		procs.entries[i].tx_bytes += 1500;
		procs.entries[i].tx_packets++;
	}
	pthread_mutex_unlock(&lock);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* K viewers in a child process: connect, then read and drop everything. */
static pid_t start_viewers(const char *path, int k, int ready_fd)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	struct pollfd *p = calloc((size_t)k, sizeof(*p));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[1 << 16];

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < k; i++) {
		p[i].fd = socket(AF_UNIX, SOCK_STREAM, 0);
		p[i].events = POLLIN;
		if (connect(p[i].fd, (struct sockaddr *)&sa, sizeof(sa)))
			_exit(1);
	}
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	for (;;) {
		if (poll(p, (nfds_t)k, -1) < 0)
			continue;
		for (int i = 0; i < k; i++)
			if ((p[i].revents & (POLLIN | POLLHUP)) &&
			    read(p[i].fd, buf, sizeof(buf)) <= 0)
				_exit(0);
	}
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	unsigned int updates =
		argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 200;
	const int ks[] = {0, 1, 4, 16, 64};
	double per[5], base = 0;
	char dir[] = "/tmp/itm-fanout-XXXXXX", path[128];
	struct live_server_config cfg = {.visit = visit};
	struct live_server *s;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/live.sock", dir);
	fill(n);
	cfg.path = path;
	cfg.info.interval_ms = 2000;
	snprintf(cfg.info.ifaces, sizeof(cfg.info.ifaces), "bench0");
	s = live_server_start(&cfg);
	if (!s) {
		perror("live_server_start");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	printf("# live socket fan-out: %zu addresses (and %zu process rows), "
	       "%zu change per update, %u updates per row\n",
	       n, n, n / 10, updates);
	printf("| viewers | daemon CPU per update (µs) | extra over no viewer (µs) | ratio to 1 viewer |\n");
	printf("|---:|---:|---:|---:|\n");
	for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
		int fds[2], k = ks[ki], status;
		pid_t child = -1;
		double t0;
		char c;

		if (k) {
			if (pipe(fds))
				return 1;
			child = start_viewers(path, k, fds[1]);
			if (read(fds[0], &c, 1) != 1)
				return 1;
			close(fds[0]);
			close(fds[1]);
			/* Wait until every viewer has its first (full) frame.
			 */
			while (live_server_viewers(s) != (unsigned int)k)
				usleep(1000);
			usleep(200000);
		}
		t0 = cpu_seconds();
		for (unsigned int r = 0; r < updates; r++) {
			mutate(n, r);
			live_server_publish(
				s, (uint64_t)(monotonic_seconds() * 1e9));
			/* Let the server thread finish this update. */
			usleep(5000);
		}
		usleep(100000);
		per[ki] = (cpu_seconds() - t0) / updates * 1e6;
		if (k == 0)
			base = per[ki];
		if (child > 0) {
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
			while (live_server_viewers(s))
				usleep(1000);
		}
	}
	for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
		double one = per[1] - base;

		printf("| %d | %.0f | %.0f | ", ks[ki], per[ki],
		       per[ki] - base);
		if (ks[ki] && one > 0)
			printf("%.2f |\n", (per[ki] - base) / one);
		else
			printf("- |\n");
	}
	live_server_stop(s);
	rmdir(dir);
	ip_table_free(&addrs);
	ip_table_free(&procs);
	return 0;
}
