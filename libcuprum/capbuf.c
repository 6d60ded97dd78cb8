/* SPDX-License-Identifier: ISC */
/*
 * capbuf.c - the capture buffer: one growing block, optionally capped to
 * its first or last N bytes, whose storage the caller may own, with the
 * ASCII state of its bytes tracked as they come in.
 */
#include "config.h"

#include "cuprum-private.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

void cuprum__capbuf_init(cuprum_capbuf *cb)
{
  memset(cb, 0, sizeof(*cb));
  cb->max = CUPRUM_CAP_UNLIMITED;
  cb->mode = CUPRUM_CAP_HEAD;
  cb->ascii = 1;
}

int cuprum_capbuf_new(cuprum_capbuf **out)
{
  cuprum_capbuf *cb;

  if (out == NULL)
    return CUPRUM_ENULL;
  *out = NULL;
  cb = cuprum__malloc(sizeof(*cb));
  if (cb == NULL)
    return -ENOMEM;
  cuprum__capbuf_init(cb);
  *out = cb;
  return 0;
}

/* Runs the storage hook; calls on the buffer from inside it are refused
 * with -EBUSY, and a free waits for the call that ran it (done()). */
static void *call_hook(cuprum_capbuf *cb, size_t *size)
{
  void *nb;

  cb->guard.busy = 1;
  nb = cb->storage(cb->storage_ctx, cb->buf, cb->len, size);
  cb->guard.busy = 0;
  return nb;
}

static void release_block(cuprum_capbuf *cb)
{
  if (cb->buf == NULL)
    return;
  if (cb->storage != NULL) {
    size_t zero = 0;
    (void)call_hook(cb, &zero);
  } else {
    cuprum__free(cb->buf);
  }
  cb->buf = NULL;
  cb->len = cb->cap = cb->reserved = cb->touched = 0;
}

void cuprum_capbuf_free(cuprum_capbuf *cb)
{
  if (cb == NULL)
    return;
  /* From the hook: the call that runs it releases the buffer (a free from
   * the hook releasing the block here is one free too many, and ignored). */
  if (cuprum__guard_defer_free(&cb->guard))
    return;
  release_block(cb);
  cuprum__free(cb);
}

/* Ends a call that may have run the hook: when the hook freed the buffer,
 * releases it and returns CUPRUM_ESTOPPED, else rc. */
static int done(cuprum_capbuf *cb, int rc)
{
  if (!cb->guard.free_pending)
    return rc;
  release_block(cb);
  cuprum__free(cb);
  return CUPRUM_ESTOPPED;
}

int cuprum_capbuf_set_storage(cuprum_capbuf *cb, cuprum_storage_fn fn,
                              void *ctx)
{
  if (cb == NULL)
    return CUPRUM_ENULL;
  if (cb->guard.busy)
    return -EBUSY;
  if (cb->buf != NULL)
    return CUPRUM_ESTATE;
  cb->storage = fn;
  cb->storage_ctx = fn != NULL ? ctx : NULL;
  return 0;
}

int cuprum_capbuf_set_limit(cuprum_capbuf *cb, size_t max_bytes, int mode)
{
  if (cb == NULL)
    return CUPRUM_ENULL;
  if (mode != CUPRUM_CAP_HEAD && mode != CUPRUM_CAP_TAIL)
    return CUPRUM_EFLAGS;
  if (cb->guard.busy)
    return -EBUSY;
  if (cb->buf != NULL || cb->total != 0)
    return CUPRUM_ESTATE;
  cb->max = max_bytes;
  cb->mode = mode;
  return 0;
}

/* The most the block ever needs for reads of `want` bytes: the cap, one
 * read and the NUL (head); twice the cap, one read and the NUL (tail, so
 * that a compaction copies the cap once per cap's worth read).  SIZE_MAX
 * when unbounded. */
static size_t block_bound(const cuprum_capbuf *cb, size_t want)
{
  size_t bound = cb->max;

  if (cb->max == CUPRUM_CAP_UNLIMITED)
    return SIZE_MAX;
  if (cb->mode == CUPRUM_CAP_TAIL) {
    if (bound > SIZE_MAX / 2)
      return SIZE_MAX;
    bound *= 2;
  }
  if (want > SIZE_MAX - 1 - bound)
    return SIZE_MAX;
  return bound + want + 1;
}

/* Tail mode: drops the bytes before the last `max`. */
static void compact(cuprum_capbuf *cb)
{
  if (cb->mode != CUPRUM_CAP_TAIL || cb->len <= cb->max)
    return;
  memmove(cb->buf, cb->buf + (cb->len - cb->max), cb->max);
  cb->len = cb->max;
  cb->buf[cb->len] = '\0';
}

/* Makes room for `want` more bytes after len.  0 or -ENOMEM (unchanged). */
int cuprum__capbuf_room(cuprum_capbuf *cb, size_t want)
{
  size_t need;
  size_t size;
  size_t bound;
  char *nb;

  if (cb->buf != NULL && cb->cap - cb->len - 1 >= want)
    return 0;
  bound = block_bound(cb, want);
  if (cb->mode == CUPRUM_CAP_TAIL && cb->len > cb->max &&
      (cb->cap >= bound || cb->len > bound - 1 - want)) {
    compact(cb);
    if (cb->cap - cb->len - 1 >= want)
      return 0;
  }
  if (want > SIZE_MAX - 1 - cb->len)
    return -ENOMEM;
  need = cb->len + want + 1;
  /* Doubling keeps the total copying linear (and a large realloc is a page
   * remap, not a copy), but never past what a capped buffer can use. */
  size = cb->cap;
  while (size < need)
    size = size == 0 || size > SIZE_MAX / 2 ? need : size * 2;
  if (size > bound)
    size = bound > need ? bound : need;
  if (cb->storage != NULL) {
    nb = call_hook(cb, &size);
    if (nb != NULL && size < need)
      size = need; /* a hook that gave less broke its contract */
  } else {
    nb = cuprum__realloc(cb->buf, size);
  }
  if (nb == NULL)
    return cb->guard.free_pending ? CUPRUM_ESTOPPED : -ENOMEM;
  /* A hook may give another block, whose pages are not touched. */
  if (nb != cb->buf)
    cb->touched = 0;
  cb->buf = nb;
  cb->cap = size;
  cb->buf[cb->len] = '\0';
  /* The hook freed the buffer: the block it gave is released with it. */
  return cb->guard.free_pending ? CUPRUM_ESTOPPED : 0;
}

int cuprum_capbuf_reserve(cuprum_capbuf *cb, size_t want, void **space)
{
  int rc;

  if (cb == NULL || space == NULL)
    return CUPRUM_ENULL;
  *space = NULL;
  if (want == 0)
    return CUPRUM_EBUFSIZE;
  if (cb->guard.busy)
    return -EBUSY;
  cb->reserved = 0;
  if ((rc = cuprum__capbuf_room(cb, want)) < 0)
    return done(cb, rc);
  cb->reserved = want;
  *space = cb->buf + cb->len;
  return 0;
}

/* Takes n bytes that sit at buf + len into the count and the kept data. */
static void take(cuprum_capbuf *cb, size_t n)
{
  size_t keep = n;

  cb->total += n;
  if (cb->mode == CUPRUM_CAP_HEAD)
    keep = cb->len >= cb->max      ? 0
           : n < cb->max - cb->len ? n
                                   : cb->max - cb->len;
  if (keep > 0 && cb->ascii)
    cb->ascii = cuprum_ascii(cb->buf + cb->len, keep);
  cb->len += keep;
  /* Bytes read past a head cap were written after the data: the NUL goes
   * over the first of them. */
  if (cb->buf != NULL)
    cb->buf[cb->len] = '\0';
}

int cuprum_capbuf_commit(cuprum_capbuf *cb, size_t n)
{
  if (cb == NULL)
    return CUPRUM_ENULL;
  if (cb->guard.busy)
    return -EBUSY;
  if (n > cb->reserved)
    return CUPRUM_ESTATE;
  cb->reserved = 0;
  take(cb, n);
  return 0;
}

int cuprum_capbuf_feed(cuprum_capbuf *cb, const void *data, size_t len)
{
  const char *p = data;
  size_t keep = len;
  int rc;

  if (cb == NULL || (data == NULL && len > 0))
    return CUPRUM_ENULL;
  if (cb->guard.busy)
    return -EBUSY;
  cb->reserved = 0;
  /* Nothing to keep or count (and data may be NULL, where even data + 0
   * is undefined). */
  if (len == 0)
    return 0;
  if (cb->mode == CUPRUM_CAP_HEAD) {
    keep = cb->len >= cb->max        ? 0
           : len < cb->max - cb->len ? len
                                     : cb->max - cb->len;
    if (keep > 0 && (rc = cuprum__capbuf_room(cb, keep)) < 0)
      return done(cb, rc);
  } else if (len >= cb->max) {
    /* The chunk alone fills the cap: everything kept so far goes, and so
     * does what it knew about ASCII. */
    size_t old_len = cb->len;
    keep = cb->max;
    p += len - keep;
    cb->len = 0;
    if (keep > 0 && (rc = cuprum__capbuf_room(cb, keep)) < 0) {
      cb->len = old_len;
      return done(cb, rc);
    }
    cb->ascii = 1;
  } else if (keep > 0 && (rc = cuprum__capbuf_room(cb, keep)) < 0) {
    return done(cb, rc);
  }
  if (keep > 0)
    memcpy(cb->buf + cb->len, p, keep);
  cb->total += len - keep;
  take(cb, keep);
  return 0;
}

long cuprum_capbuf_read(cuprum_capbuf *cb, int fd, size_t size)
{
  long n;
  int rc;

  if (cb == NULL)
    return CUPRUM_ENULL;
  if (!cuprum__size_ok(size))
    return CUPRUM_EBUFSIZE;
  if (cb->guard.busy)
    return -EBUSY;
  cb->reserved = 0;
  if ((rc = cuprum__capbuf_room(cb, size)) < 0)
    return done(cb, rc);
  if (cb->total >= CUPRUM__PREFAULT_AFTER)
    cuprum__prefault(fd, cb->buf, cb->len, &size, &cb->touched);
  n = cuprum__read_nowait(fd, cb->buf + cb->len, size);
  /* make_room succeeded, so there is a block: the NUL goes back over
   * whatever a failed read left. */
  if (n > 0)
    take(cb, (size_t)n);
  else
    cb->buf[cb->len] = '\0';
  return n;
}

const char *cuprum_capbuf_data(const cuprum_capbuf *cb, size_t *len)
{
  size_t skip = 0;

  if (len != NULL)
    *len = 0;
  if (cb == NULL || cb->buf == NULL)
    return NULL;
  if (cb->len > cb->max)
    skip = cb->len - cb->max;
  if (len != NULL)
    *len = cb->len - skip;
  return cb->buf + skip;
}

uint64_t cuprum_capbuf_total(const cuprum_capbuf *cb)
{
  return cb == NULL ? 0 : cb->total;
}

int cuprum_capbuf_ascii(const cuprum_capbuf *cb)
{
  return cb != NULL && cb->ascii;
}

int cuprum_capbuf_detach(cuprum_capbuf *cb, cuprum_capture *out)
{
  if (cb == NULL || out == NULL)
    return CUPRUM_ENULL;
  memset(out, 0, sizeof(*out));
  if (cb->guard.busy)
    return -EBUSY;
  if (cb->buf != NULL)
    compact(cb);
  out->data = cb->buf;
  out->len = cb->len;
  out->total = cb->total;
  cb->buf = NULL;
  cb->len = cb->cap = cb->reserved = cb->touched = 0;
  cb->total = 0;
  cb->ascii = 1;
  return 0;
}
