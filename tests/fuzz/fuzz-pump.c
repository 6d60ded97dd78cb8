/* SPDX-License-Identifier: ISC */
/*
 * fuzz-pump.c - libFuzzer harness for cuprum_pump over fault-injected
 * descriptors.
 *
 * The fault model lives in this file: the harness is linked with
 * -Wl,--wrap=read,--wrap=write,--wrap=splice,--wrap=poll, so the library's
 * calls of those functions on the two descriptors under test come here
 * (every other descriptor goes to the real call).  The descriptors are
 * real pipes (so fstat, fcntl and the splice path see pipes), but no byte
 * goes through them: reads are served from the fuzz input, writes land in
 * a buffer, and each call follows the next step of a script taken from the
 * input: a full or short transfer, EINTR, EAGAIN (after which the
 * library's poll must come back), EINVAL or ENOSYS from splice, and at
 * most one hard fault: EPIPE or ECONNRESET once the writer has taken a
 * given number of bytes, or EIO on a given read or write.
 *
 * The reference model: with no hard fault the writer holds the whole
 * stream and delivered == received == its length; after EPIPE/ECONNRESET
 * the pump succeeds with writer_closed, the writer holds a prefix of the
 * stream, delivered is its length and received the whole stream; after
 * EIO the pump fails with -EIO, the writer holds a prefix, delivered is
 * its length and received lies between delivered and the stream's length.
 * spliced is 1 exactly when splice was allowed and never refused.
 *
 * Input: byte 0 buffer size - 1 (1..256), byte 1 mode bits (1: NO_SPLICE,
 * 2: splice refused with ENOSYS instead of EINVAL, 4: splice refused at
 * once, 8..: hard fault kind), bytes 2-3 where the hard fault strikes,
 * byte 4 the length L of the script, then L script bytes, then the
 * stream.
 */
#define _GNU_SOURCE 1
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

FUZZ_ALLOC_STATE;

ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __real_splice(int in, loff_t *in_off, int out, loff_t *out_off,
                      size_t len, unsigned int flags);
int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
ssize_t __wrap_read(int fd, void *buf, size_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t len);
ssize_t __wrap_splice(int in, loff_t *in_off, int out, loff_t *out_off,
                      size_t len, unsigned int flags);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);

enum fault { F_NONE, F_EPIPE, F_ECONNRESET, F_EIO_READ, F_EIO_WRITE };

static struct model {
  int active;
  int rfd; /* the reader under test */
  int wfd; /* the writer under test */
  const uint8_t *src;
  size_t src_len;
  size_t src_off;
  uint8_t *dst;
  size_t dst_len;
  const uint8_t *script;
  size_t script_len;
  size_t script_off;
  enum fault fault;
  unsigned fault_at; /* bytes accepted (EPIPE) or call number (EIO) */
  unsigned reads;
  unsigned writes;
  int splice_err; /* EINVAL or ENOSYS */
  int splice_refuse_now;
  int writer_gone;
  int again_pending; /* an EAGAIN was returned: poll must come next */
  unsigned splices;
  int splice_refused;
} m;

/* The next script step, or 0 (a full transfer) when the script is used. */
static uint8_t step(void)
{
  if (m.script_off < m.script_len)
    return m.script[m.script_off++];
  return 0;
}

/* A transfer size for `len` bytes at most, by script step s: 0 and 1 a full
 * one, otherwise short, 1 + s / 8 bytes. */
static size_t amount(uint8_t s, size_t len)
{
  size_t n = (s & 7) <= 1 ? len : 1 + (size_t)(s >> 3);
  return n < len ? n : len;
}

/* Common faults: EINTR (step & 7 == 2) and EAGAIN (== 3); 0 when none. */
static int soft_fault(uint8_t s)
{
  if ((s & 7) == 2)
    return EINTR;
  if ((s & 7) == 3) {
    m.again_pending = 1;
    return EAGAIN;
  }
  return 0;
}

static ssize_t fail(int e)
{
  errno = e;
  return -1;
}

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
  uint8_t s;
  int e;
  size_t n;

  if (!m.active || fd != m.rfd)
    return __real_read(fd, buf, len);
  FUZZ_CHECK(!m.again_pending);
  m.reads++;
  if (m.fault == F_EIO_READ && m.reads == m.fault_at)
    return fail(EIO);
  s = step();
  if ((e = soft_fault(s)) != 0)
    return fail(e);
  n = amount(s, len);
  if (n > m.src_len - m.src_off)
    n = m.src_len - m.src_off;
  memcpy(buf, m.src + m.src_off, n);
  m.src_off += n;
  return (ssize_t)n;
}

/* How much the writer takes of len bytes, or -1 with errno set. */
static ssize_t take(size_t len, uint8_t s)
{
  size_t n;
  int e;

  FUZZ_CHECK(!m.writer_gone); /* no write after EPIPE */
  m.writes++;
  if (m.fault == F_EIO_WRITE && m.writes == m.fault_at)
    return fail(EIO);
  if ((m.fault == F_EPIPE || m.fault == F_ECONNRESET) &&
      m.dst_len >= m.fault_at) {
    m.writer_gone = 1;
    return fail(m.fault == F_EPIPE ? EPIPE : ECONNRESET);
  }
  if ((e = soft_fault(s)) != 0)
    return fail(e);
  n = amount(s, len);
  if ((m.fault == F_EPIPE || m.fault == F_ECONNRESET) &&
      n > m.fault_at - m.dst_len)
    n = m.fault_at - m.dst_len; /* a short write up to the break */
  if (n == 0)
    n = 1; /* write(2) takes at least one byte of a non-empty buffer */
  return (ssize_t)n;
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
  ssize_t n;

  if (!m.active || fd != m.wfd)
    return __real_write(fd, buf, len);
  FUZZ_CHECK(!m.again_pending);
  FUZZ_CHECK(len > 0);
  n = take(len, step());
  if (n > 0) {
    memcpy(m.dst + m.dst_len, buf, (size_t)n);
    m.dst_len += (size_t)n;
  }
  return n;
}

ssize_t __wrap_splice(int in, loff_t *in_off, int out, loff_t *out_off,
                      size_t len, unsigned int flags)
{
  uint8_t s;
  size_t avail;
  ssize_t n;

  if (!m.active || in != m.rfd || out != m.wfd)
    return __real_splice(in, in_off, out, out_off, len, flags);
  FUZZ_CHECK(!m.again_pending);
  FUZZ_CHECK(in_off == NULL && out_off == NULL && len > 0);
  m.splices++;
  if (m.splice_refuse_now) {
    m.splice_refused = 1;
    return fail(m.splice_err);
  }
  s = step();
  if ((s & 7) == 4) {
    m.splice_refused = 1;
    return fail(m.splice_err); /* refused mid-transfer: fall back */
  }
  /* One splice is one read and one write of the model. */
  m.reads++;
  if (m.fault == F_EIO_READ && m.reads == m.fault_at)
    return fail(EIO);
  avail = m.src_len - m.src_off;
  if (avail == 0)
    return 0;
  n = take(len < avail ? len : avail, s);
  if (n > 0) {
    memcpy(m.dst + m.dst_len, m.src + m.src_off, (size_t)n);
    m.dst_len += (size_t)n;
    m.src_off += (size_t)n;
  }
  return n;
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
  if (!m.active || n != 1 || (fds[0].fd != m.rfd && fds[0].fd != m.wfd))
    return __real_poll(fds, n, timeout);
  m.again_pending = 0;
  if (step() == 0xFF)
    return (int)fail(EINTR); /* an interrupted poll is waited on again */
  fds[0].revents = fds[0].events;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_in in = {data, size};
  size_t bufsize = (size_t)fuzz_byte(&in) + 1;
  uint8_t mode = fuzz_byte(&in);
  unsigned where = fuzz_u16(&in);
  size_t script_len = fuzz_byte(&in);
  int rpipe[2], wpipe[2];
  cuprum_pump_stats st;
  unsigned flags = (mode & 1) ? CUPRUM_PUMP_NO_SPLICE : 0;
  int rc;

  if (script_len > in.n)
    script_len = in.n;
  memset(&m, 0, sizeof(m));
  m.script = in.p;
  m.script_len = script_len;
  m.src = in.p + script_len;
  m.src_len = in.n - script_len;
  m.splice_err = (mode & 2) ? ENOSYS : EINVAL;
  m.splice_refuse_now = (mode & 4) != 0;
  m.fault = (enum fault)((mode >> 3) % 5);
  m.fault_at = m.fault == F_EPIPE || m.fault == F_ECONNRESET
                   ? where % (unsigned)(m.src_len + 1)
                   : 1 + where % 64;
  m.dst = malloc(m.src_len + 1);
  if (m.dst == NULL)
    return 0;
  if (pipe2(rpipe, O_CLOEXEC) != 0) {
    free(m.dst);
    return 0;
  }
  if (pipe2(wpipe, O_CLOEXEC) != 0) {
    close(rpipe[0]);
    close(rpipe[1]);
    free(m.dst);
    return 0;
  }
  m.rfd = rpipe[0];
  m.wfd = wpipe[1];
  m.active = 1;
  rc = cuprum_pump(m.rfd, m.wfd, bufsize, flags, &st);
  m.active = 0;

  FUZZ_CHECK(!m.again_pending);
  FUZZ_CHECK(st.delivered == m.dst_len);
  FUZZ_CHECK(memcmp(m.dst, m.src, m.dst_len) == 0);
  FUZZ_CHECK(st.received == m.src_off);
  FUZZ_CHECK(st.received >= st.delivered);
  FUZZ_CHECK(st.spliced == (flags == 0 && !m.splice_refused));
  FUZZ_CHECK(flags == 0 ? m.splices > 0 : m.splices == 0);
  switch (m.fault) {
  case F_EIO_READ:
  case F_EIO_WRITE:
    if (rc != 0) {
      FUZZ_CHECK(rc == -EIO);
      FUZZ_CHECK(st.writer_closed == 0);
      break;
    }
    /* The stream ended before the faulty call came. */
    FUZZ_CHECK(m.fault == F_EIO_READ ? m.reads < m.fault_at
                                     : m.writes < m.fault_at);
    FUZZ_CHECK(st.delivered == m.src_len && st.received == m.src_len);
    break;
  case F_EPIPE:
  case F_ECONNRESET:
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(st.received == m.src_len);
    if (st.writer_closed) {
      FUZZ_CHECK(m.writer_gone && st.delivered == m.fault_at);
    } else {
      /* The writer took everything before its break came. */
      FUZZ_CHECK(!m.writer_gone && st.delivered == m.src_len);
    }
    break;
  case F_NONE:
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(st.writer_closed == 0);
    FUZZ_CHECK(st.delivered == m.src_len && st.received == m.src_len);
    break;
  }
  close(rpipe[0]);
  close(rpipe[1]);
  close(wpipe[0]);
  close(wpipe[1]);
  free(m.dst);
  return 0;
}
