// SPDX-License-Identifier: MIT
/* File helpers for the geo layer: identity, whole-file reads, detection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "geo_int.h"
#include "i18n.h"
#include "regfile.h"

/*
 * Copies at most n bytes of src (which need not be NUL-terminated) into
 * dst.  When dst is too small, cuts before the character that does not
 * fit, so a label never ends in half a UTF-8 sequence.
 */
void geo_copy(char *dst, size_t len, const char *src, size_t n)
{
	size_t i;

	if (!len)
		return;
	for (i = 0; i < n && i + 1 < len && src[i]; i++)
		dst[i] = src[i];
	if (i < n && src[i])
		while (i && ((unsigned char)src[i] & 0xc0) == 0x80)
			i--;
	dst[i] = '\0';
}

static void id_from_stat(const struct stat *st, struct geo_file_id *id)
{
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime_ns =
		(int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int geo_file_id(const char *path, struct geo_file_id *id)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	id_from_stat(&st, id);
	id->mode = st.st_mode;
	return 0;
}

/*
 * Only regular files are databases: a FIFO would block the reader, a
 * device never ends (regfile_open() checks without blocking).
 */
int geo_open_regular(const char *path, char *err, size_t errlen)
{
	char why[128];
	int fd = regfile_open(path, why, sizeof(why));

	if (fd < 0)
		snprintf(err, errlen, "%s: %s", path, why);
	return fd;
}

bool geo_file_id_eq(const struct geo_file_id *a, const struct geo_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns;
}

int geo_read_file(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	int fd, err;

	char why[64];

	fd = geo_open_regular(path, why, sizeof(why));
	if (fd < 0)
		return fd;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* shrank under us: a half-written file, not data */
			err = n < 0 ? -errno : -EIO;
			free(buf);
			goto out;
		}
		off += n;
	}
	*data = buf;
	*len = off;
	err = 0;
out:
	close(fd);
	return err;
}

static const uint8_t mmdb_marker[] = "\xab\xcd\xefMaxMind.com";

/* The MaxMind metadata marker sits in the last 128 KiB of the file. */
static bool looks_mmdb(int fd, off_t size)
{
	static uint8_t tail[128 * 1024];
	off_t start = size > (off_t)sizeof(tail) ? size - sizeof(tail) : 0;
	ssize_t n = pread(fd, tail, size - start, start);
	size_t m = sizeof(mmdb_marker) - 1;

	if (n < (ssize_t)m)
		return false;
	return memmem(tail, n, mmdb_marker, m) != NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcasecmp(s + n - m, suffix);
}

const struct geo_provider *geo_detect(const char *path, char *err,
				      size_t errlen)
{
	const struct geo_provider *p = NULL;
	uint8_t head[8];
	struct stat st;
	uint32_t a, b, hlen;
	int fd;

	fd = geo_open_regular(path, err, errlen);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	if (fstat(fd, &st)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (pread(fd, head, sizeof(head), 0) != sizeof(head)) {
		snprintf(err, errlen, _("%s: too short to be a database"), path);
		errno = EINVAL;
		goto out;
	}
	if (looks_mmdb(fd, st.st_size)) {
		p = &geo_mmdb_provider;
		goto out;
	}
	/* ipdb: big-endian JSON header length, then the JSON object ({"…});
	 * a length beyond the end or bad JSON is the reader's to report */
	hlen = (uint32_t)head[0] << 24 | head[1] << 16 | head[2] << 8 | head[3];
	if (hlen >= 2 && head[4] == '{' && head[5] == '"') {
		p = &geo_ipdb_provider;
		goto out;
	}
	/* qqwry: little-endian first/last index offsets, 7-byte entries (an
	 * index beyond the end is the reader's to report: truncated) */
	a = head[0] | head[1] << 8 | head[2] << 16 | (uint32_t)head[3] << 24;
	b = head[4] | head[5] << 8 | head[6] << 16 | (uint32_t)head[7] << 24;
	if (a >= 8 && a <= b && (b - a) % 7 == 0) {
		p = &geo_qqwry_provider;
		goto out;
	}
	/* Content decides the format; the name only helps the message. */
	if (ends_with(path, ".dat"))
		snprintf(err, errlen,
			 _("%s: qqwry.dat header corrupt: index offsets %u and "
			 "%u are not a 7-byte index"),
			 path, a, b);
	else if (ends_with(path, ".mmdb"))
		/* the metadata section is the last part of a MaxMind DB: a
		 * cut anywhere before its marker leaves no way to read it */
		snprintf(err, errlen,
			 _("%s: truncated MaxMind DB (no metadata section at "
			   "the end)"),
			 path);
	else if (ends_with(path, ".ipdb"))
		snprintf(err, errlen,
			 _("%s: ipdb header corrupt: no JSON object after the "
			 "header length"),
			 path);
	else
		snprintf(err, errlen,
			 _("%s: unknown format (not MaxMind DB, qqwry.dat or "
			 "ipdb)"),
			 path);
	errno = EINVAL;
out:
	close(fd);
	return p;
}
