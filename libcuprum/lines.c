/* SPDX-License-Identifier: ISC */
/*
 * lines.c - an incremental splitter for universal newlines ("\n", "\r\n",
 * lone "\r"), exact whatever the chunking of its input.
 */
#include "config.h"

#include "cuprum-private.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

struct cuprum_lines {
  cuprum_line_fn on_line;
  void *ctx;
  /* The start of a line that spans feeds: at most `max` bytes, and the
   * block never larger than `max`. */
  char *buf;
  size_t len;
  size_t cap;
  /* The most bytes one delivery carries (CUPRUM_LINE_UNLIMITED: a whole
   * line). */
  size_t max;
  /* The last feed ended in "\r": a "\n" opening the next one belongs to
   * the same line ending. */
  int skip_lf;
  /* 1 during a delivery of a piece that the line goes on after. */
  int partial;
  /* Busy while the callback runs (it is handed bytes of the buffer, and
   * the feed that called it goes on with its state afterwards); a free
   * from it stops that feed or finish, which releases the splitter. */
  struct cuprum__guard guard;
};

int cuprum_lines_new(cuprum_lines **out, cuprum_line_fn on_line, void *ctx)
{
  cuprum_lines *l;

  if (out == NULL)
    return CUPRUM_ENULL;
  *out = NULL;
  if (on_line == NULL)
    return CUPRUM_ENULL;
  l = cuprum__malloc(sizeof(*l));
  if (l == NULL)
    return -ENOMEM;
  memset(l, 0, sizeof(*l));
  l->on_line = on_line;
  l->ctx = ctx;
  l->max = CUPRUM_LINE_UNLIMITED;
  *out = l;
  return 0;
}

static void release(cuprum_lines *l)
{
  cuprum__free(l->buf);
  cuprum__free(l);
}

void cuprum_lines_free(cuprum_lines *l)
{
  if (l == NULL)
    return;
  /* The feed or finish that runs the callback still works on the
   * splitter: it stops delivering and releases it before it returns. */
  if (cuprum__guard_defer_free(&l->guard))
    return;
  release(l);
}

int cuprum_lines_set_max(cuprum_lines *l, size_t max)
{
  if (l == NULL)
    return CUPRUM_ENULL;
  if (max == 0)
    return -EINVAL;
  if (l->guard.busy)
    return -EBUSY;
  if (l->len > 0)
    return CUPRUM_ESTATE;
  /* A block grown before the cap would outlive it. */
  if (l->cap > max) {
    cuprum__free(l->buf);
    l->buf = NULL;
    l->cap = 0;
  }
  l->max = max;
  return 0;
}

int cuprum_lines_partial(const cuprum_lines *l)
{
  return l != NULL && l->partial;
}

/* Holds n more bytes of the current line; the caller keeps l->len + n at
 * most l->max. */
static int append(cuprum_lines *l, const char *p, size_t n)
{
  if (n == 0)
    return 0;
  if (l->cap - l->len < n) {
    size_t cap = l->cap ? l->cap : 256;
    char *nb;
    while (cap - l->len < n) {
      if (cap > SIZE_MAX / 2)
        return -ENOMEM;
      cap *= 2;
    }
    if (cap > l->max)
      cap = l->max;
    nb = cuprum__realloc(l->buf, cap);
    if (nb == NULL)
      return -ENOMEM;
    l->buf = nb;
    l->cap = cap;
  }
  memcpy(l->buf + l->len, p, n);
  l->len += n;
  return 0;
}

static int deliver(cuprum_lines *l, const char *p, size_t n, int partial)
{
  int rc;

  l->partial = partial;
  l->guard.busy = 1;
  rc = cuprum__guard_leave(&l->guard,
                           cuprum__callback_code(l->on_line(l->ctx, p, n)));
  l->partial = 0;
  return rc;
}

/*
 * Takes the n line bytes at p, joined to the start held from earlier
 * feeds; `ended` when the line's ending follows them.  Delivers pieces of
 * l->max bytes while more of the line is known to follow, then the rest:
 * as the line's last piece when ended, else held (at most l->max bytes)
 * for the next feed.  A piece is cut only once a byte after it is seen,
 * so a line of exactly max bytes is one delivery.
 */
static int take(cuprum_lines *l, const char *p, size_t n, int ended)
{
  int rc;

  if (l->len > 0) {
    size_t k = l->max - l->len < n ? l->max - l->len : n;
    if ((rc = append(l, p, k)) < 0) {
      l->len = 0;
      return rc;
    }
    p += k;
    n -= k;
    if (n == 0 && !ended)
      return 0;
    rc = deliver(l, l->buf, l->len, n > 0);
    l->len = 0;
    if (rc < 0 || n == 0)
      return rc;
  }
  for (; n > l->max; p += l->max, n -= l->max)
    if ((rc = deliver(l, p, l->max, 1)) < 0)
      return rc;
  if (!ended)
    return append(l, p, n);
  return deliver(l, p, n, 0);
}

static const char *find(const char *p, const char *end, int c)
{
  const char *hit = memchr(p, c, (size_t)(end - p));
  return hit != NULL ? hit : end;
}

static int feed(cuprum_lines *l, const char *p, size_t len)
{
  const char *end;
  const char *nl;
  const char *cr;

  /* p may be NULL with len 0, where even p + 0 is undefined. */
  if (len == 0)
    return 0;
  end = p + len;
  if (l->skip_lf) {
    l->skip_lf = 0;
    if (*p == '\n')
      p++;
  }
  /* Each memchr scans a byte at most once per feed: the next "\n" and
   * "\r" are looked for again only once the cursor has passed them. */
  nl = find(p, end, '\n');
  cr = find(p, end, '\r');
  while (p < end) {
    const char *e = nl < cr ? nl : cr;
    int rc;
    if (e == end)
      return take(l, p, (size_t)(end - p), 0);
    rc = take(l, p, (size_t)(e - p), 1);
    p = e + 1;
    if (*e == '\r') {
      if (p == end)
        l->skip_lf = 1;
      else if (*p == '\n')
        p++;
    }
    if (rc < 0)
      return rc;
    if (nl < p)
      nl = find(p, end, '\n');
    if (cr < p)
      cr = find(p, end, '\r');
  }
  return 0;
}

/* Ends a feed or finish: when the callback freed the splitter, releases
 * it.  Returns rc. */
static int done(cuprum_lines *l, int rc)
{
  if (l->guard.free_pending)
    release(l);
  return rc;
}

int cuprum_lines_feed(cuprum_lines *l, const void *data, size_t len)
{
  if (l == NULL || (data == NULL && len != 0))
    return CUPRUM_ENULL;
  if (l->guard.busy)
    return -EBUSY;
  return done(l, feed(l, data, len));
}

int cuprum_lines_finish(cuprum_lines *l)
{
  int rc = 0;

  if (l == NULL)
    return CUPRUM_ENULL;
  if (l->guard.busy)
    return -EBUSY;
  l->skip_lf = 0;
  if (l->len > 0) {
    rc = deliver(l, l->buf, l->len, 0);
    l->len = 0;
  }
  return done(l, rc);
}
