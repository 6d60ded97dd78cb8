/* SPDX-License-Identifier: ISC */
/*
 * pump.c - copy a reader into a writer with backpressure: splice(2) where
 * the kernel allows it, read(2)/write(2) otherwise, and a drain to end of
 * file when the writer goes away so the upstream never blocks forever.
 */
#include "config.h"

#include "cuprum-private.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where the transfer stands after one phase of the pump. */
enum pump_next {
  PUMP_DONE,     /* reader at end of file, or an error */
  PUMP_FALLBACK, /* splice refused: go on with read/write */
  PUMP_DRAIN,    /* writer closed: read and discard to end of file */
};

struct pump {
  int reader;
  int writer;
  size_t size;
  char *buf;
  cuprum_pump_stats *stats;
};

static int is_pipe(int fd)
{
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

static int is_nonblocking(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  return fl != -1 && (fl & O_NONBLOCK) != 0;
}

static int writer_gone(int err)
{
  return err == EPIPE || err == ECONNRESET;
}

static int ensure_buffer(struct pump *p)
{
  if (p->buf == NULL) {
    p->buf = cuprum__malloc(p->size);
    if (p->buf == NULL)
      return -ENOMEM;
  }
  return 0;
}

/*
 * With non-blocking descriptors a splice that would block says EAGAIN
 * without telling which side is not ready: wait for data on the reader,
 * then for room on the writer.  Each poll returns at once for a side that
 * is already ready, so this never spins.
 */
static int wait_both(int reader, int writer)
{
  int rc = cuprum__wait(reader, POLLIN);
  if (rc < 0)
    return rc;
  return cuprum__wait(writer, POLLOUT);
}

static enum pump_next splice_phase(struct pump *p, int *rc)
{
  unsigned int sflags = SPLICE_F_MOVE;

  if (is_nonblocking(p->reader) || is_nonblocking(p->writer))
    sflags |= SPLICE_F_NONBLOCK;
  for (;;) {
    ssize_t n = splice(p->reader, NULL, p->writer, NULL, p->size, sflags);
    if (n > 0) {
      p->stats->received += (uint64_t)n;
      p->stats->delivered += (uint64_t)n;
      continue;
    }
    if (n == 0)
      return PUMP_DONE;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN) {
      *rc = wait_both(p->reader, p->writer);
      if (*rc < 0)
        return PUMP_DONE;
      continue;
    }
    if (writer_gone(errno))
      return PUMP_DRAIN;
    if (errno == EINVAL || errno == ENOSYS) {
      p->stats->spliced = 0;
      return PUMP_FALLBACK;
    }
    *rc = -errno;
    return PUMP_DONE;
  }
}

static enum pump_next copy_phase(struct pump *p, int *rc)
{
  *rc = ensure_buffer(p);
  if (*rc < 0)
    return PUMP_DONE;
  for (;;) {
    size_t written = 0;
    long n = cuprum__read(p->reader, p->buf, p->size);
    if (n <= 0) {
      *rc = (int)n;
      return PUMP_DONE;
    }
    p->stats->received += (uint64_t)n;
    *rc = cuprum__write_all(p->writer, p->buf, (size_t)n, &written);
    p->stats->delivered += written;
    if (*rc < 0) {
      if (writer_gone(-*rc)) {
        *rc = 0;
        return PUMP_DRAIN;
      }
      return PUMP_DONE;
    }
  }
}

static int drain_phase(struct pump *p)
{
  int rc = ensure_buffer(p);
  if (rc < 0)
    return rc;
  for (;;) {
    long n = cuprum__read(p->reader, p->buf, p->size);
    if (n <= 0)
      return (int)n;
    p->stats->received += (uint64_t)n;
  }
}

int cuprum_pump(int reader, int writer, size_t buffer_size, unsigned flags,
                cuprum_pump_stats *stats)
{
  cuprum_pump_stats local;
  struct pump p;
  cuprum__sigpipe_guard guard;
  enum pump_next next;
  int rc = 0;

  if (stats == NULL)
    stats = &local;
  memset(stats, 0, sizeof(*stats));
  if ((flags & ~CUPRUM_PUMP_NO_SPLICE) != 0)
    return CUPRUM_EFLAGS;
  if (!cuprum__size_ok(buffer_size))
    return CUPRUM_EBUFSIZE;
  if ((rc = cuprum__check_fd(reader)) < 0 ||
      (rc = cuprum__check_fd(writer)) < 0)
    return rc;

  p.reader = reader;
  p.writer = writer;
  p.size = buffer_size;
  p.buf = NULL;
  p.stats = stats;

  cuprum__sigpipe_block(&guard);
  next = PUMP_FALLBACK;
  if ((flags & CUPRUM_PUMP_NO_SPLICE) == 0 &&
      (is_pipe(reader) || is_pipe(writer))) {
    stats->spliced = 1;
    next = splice_phase(&p, &rc);
  }
  if (next == PUMP_FALLBACK)
    next = copy_phase(&p, &rc);
  if (next == PUMP_DRAIN) {
    stats->writer_closed = 1;
    rc = drain_phase(&p);
  }
  cuprum__sigpipe_restore(&guard, stats->writer_closed);
  cuprum__free(p.buf);
  return rc;
}
