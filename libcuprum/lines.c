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
  /* The start of a line that spans feeds. */
  char *buf;
  size_t len;
  size_t cap;
  /* The last feed ended in "\r": a "\n" opening the next one belongs to
   * the same line ending. */
  int skip_lf;
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
  *out = l;
  return 0;
}

void cuprum_lines_free(cuprum_lines *l)
{
  if (l == NULL)
    return;
  cuprum__free(l->buf);
  cuprum__free(l);
}

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

/* Delivers the line [p, p + n), joined to any start held from earlier
 * feeds. */
static int emit(cuprum_lines *l, const char *p, size_t n)
{
  int rc;

  if (l->len == 0)
    return cuprum__callback_code(l->on_line(l->ctx, p, n));
  rc = append(l, p, n);
  if (rc == 0)
    rc = cuprum__callback_code(l->on_line(l->ctx, l->buf, l->len));
  l->len = 0;
  return rc;
}

static const char *find(const char *p, const char *end, int c)
{
  const char *hit = memchr(p, c, (size_t)(end - p));
  return hit != NULL ? hit : end;
}

int cuprum_lines_feed(cuprum_lines *l, const void *data, size_t len)
{
  const char *p = data;
  const char *end;
  const char *nl;
  const char *cr;

  if (l == NULL || (data == NULL && len != 0))
    return CUPRUM_ENULL;
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
      return append(l, p, (size_t)(end - p));
    rc = emit(l, p, (size_t)(e - p));
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

int cuprum_lines_finish(cuprum_lines *l)
{
  int rc = 0;

  if (l == NULL)
    return CUPRUM_ENULL;
  l->skip_lf = 0;
  if (l->len > 0)
    rc = emit(l, l->buf, 0);
  return rc;
}
