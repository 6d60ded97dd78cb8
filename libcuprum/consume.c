/* SPDX-License-Identifier: ISC */
/*
 * consume.c - read a descriptor to end of file into one growing buffer (a
 * capture buffer's block, see capbuf.c), teeing and passing on each chunk
 * as it arrives.
 */
#include "config.h"

#include "cuprum-private.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

void cuprum_consume_opts_init(cuprum_consume_opts *opts)
{
  if (opts == NULL)
    return;
  opts->flags = CUPRUM_CONSUME_CAPTURE;
  opts->read_size = CUPRUM_BUFFER_SIZE_DEFAULT;
  opts->tee_fd = -1;
  opts->on_chunk = NULL;
  opts->on_chunk_ctx = NULL;
}

void cuprum_capture_release(cuprum_capture *cap)
{
  if (cap == NULL)
    return;
  cuprum__free(cap->data);
  memset(cap, 0, sizeof(*cap));
}

/* Gives back the unused tail of a large buffer: a capture must not hold
 * up to twice its size for its whole life. */
static void trim(cuprum_capbuf *s)
{
  char *nb;

  if (s->buf == NULL)
    return;
  if (s->len == 0) {
    cuprum__free(s->buf);
    s->buf = NULL;
    s->cap = 0;
    return;
  }
  s->buf[s->len] = '\0';
  if (s->cap - s->len - 1 < (s->cap >> 3))
    return;
  nb = cuprum__realloc(s->buf, s->len + 1);
  if (nb != NULL) {
    s->buf = nb;
    s->cap = s->len + 1;
  }
}

static int check_opts(int reader, const cuprum_consume_opts *o)
{
  int rc;

  if ((o->flags & ~CUPRUM_CONSUME_CAPTURE) != 0)
    return CUPRUM_EFLAGS;
  if (!cuprum__size_ok(o->read_size))
    return CUPRUM_EBUFSIZE;
  if ((rc = cuprum__check_fd(reader)) < 0)
    return rc;
  if (o->tee_fd >= 0 && (rc = cuprum__check_fd(o->tee_fd)) < 0)
    return rc;
  return 0;
}

int cuprum_consume(int reader, const cuprum_consume_opts *opts,
                   cuprum_capture *out)
{
  cuprum_consume_opts defaults;
  cuprum__sigpipe_guard guard;
  cuprum_capbuf s;
  const int capture_on =
      opts == NULL || (opts->flags & CUPRUM_CONSUME_CAPTURE) != 0;
  char *scratch = NULL;
  int rc;

  if (out == NULL)
    return CUPRUM_ENULL;
  memset(out, 0, sizeof(*out));
  cuprum__capbuf_init(&s);
  if (opts == NULL) {
    cuprum_consume_opts_init(&defaults);
    opts = &defaults;
  }
  if ((rc = check_opts(reader, opts)) < 0)
    return rc;
  if (!capture_on) {
    scratch = cuprum__malloc(opts->read_size);
    if (scratch == NULL)
      return -ENOMEM;
  }

  for (;;) {
    char *chunk = scratch;
    size_t room = opts->read_size;
    long n;

    if (capture_on) {
      /* Read straight into the buffer's free space, as much as fits.  The
       * first buffer holds read_size bytes; later reads only need a
       * default-sized read's worth of room, so that a large read_size does
       * not double a buffer that is still mostly free (with 1 GiB reads, a
       * 32-bit process could not capture even a few bytes). */
      size_t want =
          s.buf == NULL || opts->read_size < CUPRUM_BUFFER_SIZE_DEFAULT
              ? opts->read_size
              : CUPRUM_BUFFER_SIZE_DEFAULT;
      if ((rc = cuprum__capbuf_room(&s, want)) < 0)
        break;
      chunk = s.buf + s.len;
      room = s.cap - s.len - 1;
    }
    n = cuprum__read(reader, chunk, room);
    if (n <= 0) {
      rc = (int)n;
      break;
    }
    out->total += (uint64_t)n;
    if (capture_on)
      s.len += (size_t)n;
    if (opts->tee_fd >= 0 && out->tee_error == 0) {
      /* SIGPIPE blocked around the tee's write only: the callback below
       * runs with the caller's mask, its own SIGPIPE its own. */
      cuprum__sigpipe_block(&guard);
      out->tee_error = cuprum__write_all(opts->tee_fd, chunk, (size_t)n, NULL);
      cuprum__sigpipe_restore(&guard, out->tee_error == -EPIPE);
    }
    if (opts->on_chunk != NULL) {
      rc = cuprum__callback_code(
          opts->on_chunk(opts->on_chunk_ctx, chunk, (size_t)n));
      if (rc < 0)
        break;
    }
  }
  cuprum__free(scratch);
  trim(&s);
  out->data = s.buf;
  out->len = s.len;
  return rc;
}
