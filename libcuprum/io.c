/* SPDX-License-Identifier: ISC */
/*
 * io.c - descriptor helpers shared by the engine: EINTR-safe reads and
 * writes that wait with poll() on non-blocking descriptors, SIGPIPE
 * handling that never touches dispositions, and pipe sizing.
 */
#include "config.h"

#include "cuprum-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int cuprum__check_fd(int fd)
{
  if (fd < 0)
    return -EBADF;
  if (fcntl(fd, F_GETFD) == -1)
    return -errno;
  return 0;
}

int cuprum__wait(int fd, short events)
{
  struct pollfd p = {.fd = fd, .events = events, .revents = 0};

  for (;;) {
    int n = poll(&p, 1, -1);
    if (n >= 0)
      return 0;
    if (errno != EINTR)
      return -errno;
  }
}

long cuprum__read(int fd, void *buf, size_t len)
{
  for (;;) {
    ssize_t n = read(fd, buf, len);
    if (n >= 0)
      return (long)n;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int rc = cuprum__wait(fd, POLLIN);
      if (rc < 0)
        return rc;
      continue;
    }
    return -errno;
  }
}

/* Touching one byte this far apart touches every page (none is smaller). */
#define PREFAULT_STRIDE ((size_t)4096)

void cuprum__prefault(int fd, char *buf, size_t from, size_t *want,
                      size_t *touched)
{
  volatile char *p = buf;
  size_t off = *touched > from ? *touched : from;
  size_t end;
  int avail = 0;

  if (ioctl(fd, FIONREAD, &avail) == 0 && avail > 0 && (size_t)avail < *want)
    *want = (size_t)avail;
  end = from + *want;
  if (end <= off)
    return;
  for (; off < end; off += PREFAULT_STRIDE)
    p[off] = 0;
  p[end - 1] = 0;
  *touched = end;
}

long cuprum__read_nowait(int fd, void *buf, size_t len)
{
  for (;;) {
    ssize_t n = read(fd, buf, len);
    if (n >= 0)
      return (long)n;
    if (errno != EINTR)
      return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

int cuprum__write_all(int fd, const void *buf, size_t len, size_t *written)
{
  const char *p = buf;
  size_t done = 0;
  int rc = 0;

  while (done < len) {
    ssize_t n = write(fd, p + done, len - done);
    if (n >= 0) {
      done += (size_t)n;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      rc = cuprum__wait(fd, POLLOUT);
      if (rc < 0)
        break;
      continue;
    }
    rc = -errno;
    break;
  }
  if (written)
    *written = done;
  return rc;
}

void cuprum__sigpipe_block(cuprum__sigpipe_guard *guard)
{
  sigset_t pipe_set;
  sigset_t old;
  sigset_t pending;

  guard->active = 0;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0)
    return;
  guard->active = 1;
  guard->was_blocked = sigismember(&old, SIGPIPE) == 1;
  guard->was_pending =
      sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

void cuprum__sigpipe_restore(cuprum__sigpipe_guard *guard, int saw_epipe)
{
  sigset_t pipe_set;

  if (!guard->active)
    return;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  if (saw_epipe && !guard->was_pending) {
    /* The write that failed with EPIPE raised SIGPIPE at this thread; take
     * it off the pending set so it is never delivered. */
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) == -1 && errno == EINTR)
      ;
  }
  if (!guard->was_blocked)
    pthread_sigmask(SIG_UNBLOCK, &pipe_set, NULL);
  guard->active = 0;
}

static long pipe_max_size(void)
{
  FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
  long max = -1;

  if (f == NULL)
    return -1;
  if (fscanf(f, "%ld", &max) != 1)
    max = -1;
  fclose(f);
  return max;
}

int cuprum_pipe_grow(int fd, size_t want)
{
  int rc = cuprum__check_fd(fd);
  struct stat st;
  long max;
  int got;

  if (rc < 0)
    return rc;
  if (want == 0 || want > INT_MAX || fstat(fd, &st) != 0 ||
      !S_ISFIFO(st.st_mode))
    return -EINVAL;
  max = pipe_max_size();
  if (max > 0 && want > (size_t)max)
    want = (size_t)max;
  got = fcntl(fd, F_GETPIPE_SZ);
  if (got < 0)
    return -errno;
  if ((size_t)got >= want)
    return got;
  got = fcntl(fd, F_SETPIPE_SZ, (int)want);
  if (got < 0)
    return -errno;
  return got;
}
