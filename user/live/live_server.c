// SPDX-License-Identifier: MIT
#include "live_server.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/* A viewer this far behind is not reading: it is dropped. */
#define QUEUE_MAX	64
#define QUEUE_BYTES_MAX (64u << 20)
#define PEER_GROUPS_MAX 1024

/* Encoded once, shared by every viewer that still has to send it. */
struct frame {
	unsigned int refs;
	size_t len;
	char *data;
};

struct viewer {
	int fd;
	struct frame *q[QUEUE_MAX];
	unsigned int head, n;
	size_t off;    /* bytes of q[head] already sent */
	size_t queued; /* bytes waiting */
};

struct live_server {
	struct live_server_config cfg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd, efd;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	atomic_uint_fast64_t pub_ns;
	atomic_uint n_viewers;
	/* Thread-only state from here. */
	struct live_shadow shadow;
	bool shadow_current; /* in step with what the viewers were sent */
	struct viewer *v;
	size_t nv, cap;
};

static struct frame *frame_new(struct strbuf *sb)
{
	struct frame *f = malloc(sizeof(*f));

	if (!f)
		return NULL;
	f->refs = 0;
	f->data = strbuf_detach(sb, &f->len);
	return f;
}

static void frame_put(struct frame *f)
{
	if (f && --f->refs == 0) {
		free(f->data);
		free(f);
	}
}

static void viewer_close(struct viewer *v)
{
	while (v->n) {
		frame_put(v->q[v->head]);
		v->head = (v->head + 1) % QUEUE_MAX;
		v->n--;
	}
	close(v->fd);
	v->fd = -1;
}

/* Send what the socket takes now; false when the viewer is gone. */
static bool viewer_flush(struct viewer *v)
{
	while (v->n) {
		struct frame *f = v->q[v->head];
		ssize_t k = send(v->fd, f->data + v->off, f->len - v->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0)
			return errno == EAGAIN || errno == EINTR;
		v->off += (size_t)k;
		v->queued -= (size_t)k;
		if (v->off < f->len)
			return true;
		frame_put(f);
		v->off = 0;
		v->head = (v->head + 1) % QUEUE_MAX;
		v->n--;
	}
	return true;
}

static bool viewer_push(struct viewer *v, struct frame *f)
{
	if (v->n == QUEUE_MAX || v->queued + f->len > QUEUE_BYTES_MAX)
		return false;
	f->refs++;
	v->q[(v->head + v->n) % QUEUE_MAX] = f;
	v->n++;
	v->queued += f->len;
	return viewer_flush(v);
}

static void drop_closed(struct live_server *s)
{
	size_t k = 0;

	for (size_t i = 0; i < s->nv; i++)
		if (s->v[i].fd >= 0)
			s->v[k++] = s->v[i];
	s->nv = k;
	atomic_store(&s->n_viewers, (unsigned int)k);
	if (!k)
		s->shadow_current = false; /* publishes skip the shadow now */
}

/* Hand f to every viewer (from index `from`); frees it if nobody took it. */
static void broadcast(struct live_server *s, struct frame *f, size_t upto)
{
	f->refs++;
	for (size_t i = 0; i < upto; i++) {
		if (s->v[i].fd < 0)
			continue;
		if (!viewer_push(&s->v[i], f)) {
			pr_debug(
				"live socket: dropping a viewer that is not reading\n");
			viewer_close(&s->v[i]);
		}
	}
	frame_put(f);
}

struct encode_ctx {
	struct live_server *s;
	struct strbuf *delta; /* the rows that changed since the last frame */
	struct strbuf *full;  /* then every row, for a new viewer; or NULL */
};

static int encode_tables(const struct ip_table *addrs,
			 const struct ip_table *procs, void *arg)
{
	struct encode_ctx *e = arg;
	uint64_t ns = atomic_load(&e->s->pub_ns);
	int err;

	/*
	 * One visit for both, so that no change can fall between them; the
	 * shadow's label pointers are only safe to read in here.
	 */
	err = live_encode_delta(&e->s->shadow, addrs, procs, ns, e->delta);
	if (!err && e->full)
		err = live_encode_full(&e->s->shadow, ns, e->full);
	return err;
}

static int encode(struct live_server *s, struct strbuf *delta,
		  struct strbuf *full)
{
	struct encode_ctx e = {s, delta, full};
	int err = s->cfg.visit(s->cfg.src, encode_tables, &e);

	if (!err)
		s->shadow_current = true;
	return err;
}

static void close_all_viewers(struct live_server *s)
{
	for (size_t i = 0; i < s->nv; i++)
		if (s->v[i].fd >= 0)
			viewer_close(&s->v[i]);
}

static void publish(struct live_server *s)
{
	struct strbuf sb = STRBUF_INIT;
	struct frame *f = NULL;

	if (!s->nv)
		return;
	if (!encode(s, &sb, NULL))
		f = frame_new(&sb);
	if (f) {
		broadcast(s, f, s->nv);
	} else {
		/* Viewers may have missed rows: they reconnect and resync. */
		pr_warn(_("live socket: out of memory, closing the viewers\n"));
		close_all_viewers(s);
	}
	strbuf_free(&sb);
	drop_closed(s);
}

static bool peer_allowed(const struct live_server *s, int fd)
{
	gid_t groups[PEER_GROUPS_MAX];
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len))
		return false;
	if (uc.uid == 0 || uc.uid == geteuid())
		return true;
	if (!s->cfg.have_gid)
		return false;
	if (uc.gid == s->cfg.gid)
		return true;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == s->cfg.gid)
			return true;
	return false;
}

static void refuse(int fd, const char *why)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "ERR\t%s\n", why);

	/* Best effort: the viewer prints it if it gets it. */
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		pr_debug("live socket: refusal not sent: %s\n",
			 strerror(errno));
	close(fd);
}

static void accept_one(struct live_server *s, int fd)
{
	struct strbuf sb = STRBUF_INIT, delta = STRBUF_INIT;
	struct frame *f;
	struct viewer *v;
	int err;

	if (!peer_allowed(s, fd)) {
		refuse(fd, "permission denied: not in the live socket's group");
		return;
	}
	if (s->nv == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct viewer *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv) {
			refuse(fd, "out of memory");
			return;
		}
		s->v = nv;
		s->cap = cap;
	}
	/*
	 * Bring the shadow up to date (the viewers already connected get
	 * that as a frame), and give the newcomer all of it: from here on
	 * the same deltas are right for everybody.
	 */
	err = live_encode_hello(&sb, &s->cfg.info);
	if (!err)
		err = encode(s, &delta, &sb);
	if (!err && s->nv) {
		f = frame_new(&delta);
		if (f)
			broadcast(s, f, s->nv);
		else
			close_all_viewers(s);
	}
	strbuf_free(&delta);
	if (err)
		close_all_viewers(s); /* they may have missed rows */
	f = err ? NULL : frame_new(&sb);
	if (!f) {
		strbuf_free(&sb);
		refuse(fd, "out of memory");
		return;
	}
	v = &s->v[s->nv++];
	memset(v, 0, sizeof(*v));
	v->fd = fd;
	f->refs++;
	if (!viewer_push(v, f))
		viewer_close(v);
	frame_put(f);
	drop_closed(s);
}

static void accept_all(struct live_server *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		accept_one(s, fd);
	}
}

static void serve_viewers(struct live_server *s, const struct pollfd *p)
{
	for (size_t i = 0; i < s->nv; i++) {
		struct viewer *v = &s->v[i];
		char buf[256];

		if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* Viewers send nothing in version 1; EOF means gone. */
			ssize_t k = recv(v->fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (k == 0 || (k < 0 && errno != EAGAIN)) {
				viewer_close(v);
				continue;
			}
		}
		if ((p[i].revents & POLLOUT) && !viewer_flush(v))
			viewer_close(v);
	}
	drop_closed(s);
}

static void *server_thread(void *arg)
{
	struct live_server *s = arg;
	struct pollfd *p = NULL;
	size_t pcap = 0;

	while (!atomic_load(&s->stop)) {
		size_t n = s->nv + 2;

		if (n > pcap) {
			struct pollfd *np = realloc(p, n * 2 * sizeof(*p));

			if (!np) {
				sleep(1);
				continue;
			}
			p = np;
			pcap = n * 2;
		}
		for (size_t i = 0; i < s->nv; i++)
			p[i] = (struct pollfd){
				.fd = s->v[i].fd,
				.events = POLLIN | (s->v[i].n ? POLLOUT : 0)};
		p[s->nv] = (struct pollfd){.fd = s->efd, .events = POLLIN};
		p[s->nv + 1] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
		if (poll(p, n, -1) < 0)
			continue;
		if (atomic_load(&s->stop))
			break;
		serve_viewers(s, p);
		if (p[n - 2].revents & POLLIN) {
			uint64_t cnt;

			if (read(s->efd, &cnt, sizeof(cnt)) == sizeof(cnt))
				publish(s);
		}
		if (p[n - 1].revents & POLLIN)
			accept_all(s);
	}
	free(p);
	return NULL;
}

/* An existing socket file is stale unless a daemon still answers on it. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		pr_err(_("--live-socket %s exists and is not a socket\n"), path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (!rc) {
		pr_err(_("--live-socket %s is in use by another running monitor\n"),
		       path);
		return -EADDRINUSE;
	}
	return unlink(path) ? -errno : 0;
}

static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	/* Only the last level, as systemd's RuntimeDirectory= would. */
	if (!mkdir(dir, 0755))
		return chmod(dir, 0755) ? -errno : 0; /* whatever the umask */
	return errno == EEXIST ? 0 : -errno;
}

static int open_socket(struct live_server *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	bool bound = false;
	mode_t old;
	int fd, err;

	if (strlen(s->cfg.path) >= sizeof(sa.sun_path)) {
		pr_err(_("--live-socket %s: path too long\n"), s->cfg.path);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->cfg.path);
	snprintf(s->path, sizeof(s->path), "%s", s->cfg.path);
	err = make_parent(s->cfg.path);
	if (!err)
		err = clear_stale(s->cfg.path, &sa);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Never reachable by others, not even between bind() and chmod(). */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	bound = !err;
	if (!err && s->cfg.have_gid &&
	    (chown(s->cfg.path, (uid_t)-1, s->cfg.gid) ||
	     chmod(s->cfg.path, 0660)))
		err = -errno;
	if (!err && listen(fd, 64))
		err = -errno;
	if (err) {
		close(fd);
		if (bound)
			unlink(s->cfg.path);
		return err;
	}
	s->lfd = fd;
	return 0;
}

struct live_server *live_server_start(const struct live_server_config *cfg)
{
	struct live_server *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return NULL;
	s->cfg = *cfg;
	s->lfd = s->efd = -1;
	err = live_shadow_init(&s->shadow);
	if (!err)
		err = open_socket(s);
	if (!err) {
		s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->efd < 0)
			err = -errno;
	}
	if (!err) {
		err = -pthread_create(&s->thread, NULL, server_thread, s);
		s->thread_started = !err;
	}
	if (err) {
		if (err != -EEXIST && err != -EADDRINUSE &&
		    err != -ENAMETOOLONG)
			pr_err(_("cannot serve the live socket %s: %s\n"),
			       cfg->path, strerror(-err));
		live_server_stop(s);
		errno = -err;
		return NULL;
	}
	return s;
}

void live_server_publish(struct live_server *s, uint64_t now_ns)
{
	uint64_t one = 1;

	if (!s)
		return;
	atomic_store(&s->pub_ns, now_ns);
	if (write(s->efd, &one, sizeof(one)) != sizeof(one))
		pr_debug("live socket: wake-up lost: %s\n", strerror(errno));
}

unsigned int live_server_viewers(struct live_server *s)
{
	return s ? atomic_load(&s->n_viewers) : 0;
}

void live_server_stop(struct live_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (s->thread_started) {
		atomic_store(&s->stop, true);
		if (write(s->efd, &one, sizeof(one)) != sizeof(one))
			pr_debug("live socket: stop wake-up lost\n");
		pthread_join(s->thread, NULL);
	}
	close_all_viewers(s);
	free(s->v);
	if (s->lfd >= 0) {
		close(s->lfd);
		/* May fail once privileges are dropped; the next start clears
		 * it. */
		unlink(s->path);
	}
	if (s->efd >= 0)
		close(s->efd);
	live_shadow_free(&s->shadow);
	free(s);
}

int live_parse_group(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[16384], *end;
	unsigned long v;

	errno = 0;
	v = strtoul(name, &end, 10);
	if (*name && !*end && !errno && v < (unsigned long)UINT_MAX) {
		*gid = (gid_t)v;
		return 0;
	}
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) || !res)
		return -ENOENT;
	*gid = res->gr_gid;
	return 0;
}
