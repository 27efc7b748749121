/* SPDX-License-Identifier: MIT */
/*
 * Opening a file whose path the user gave (a database, a certificate, a
 * configuration) without ever blocking on it: open(2) for reading blocks
 * on a FIFO that has no writer, and a device's reads never end.
 */
#ifndef ITM_REGFILE_H
#define ITM_REGFILE_H

#include <stddef.h>

/*
 * Opens path read-only with O_NONBLOCK | O_CLOEXEC | O_NOCTTY and returns
 * the descriptor of a regular file, O_NONBLOCK cleared again.  Otherwise
 * -errno, -EINVAL when it is no regular file; why (len bytes, may be NULL)
 * then holds the reason to print after "PATH: ", e.g. "is a FIFO, not a
 * regular file" or strerror's text.
 */
int regfile_open(const char *path, char *why, size_t len);

/*
 * The same check, for a library that opens path itself (libmaxminddb,
 * SQLite): 0 or -errno as above.  ENOENT is not special.
 */
int regfile_check(const char *path, char *why, size_t len);

#endif
