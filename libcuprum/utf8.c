/* SPDX-License-Identifier: ISC */
/*
 * utf8.c - text bytes: keep UTF-8 characters whole across writes to text
 * sinks, and tell whether bytes are all ASCII (which every codec a text
 * decoder meets then decodes as a plain copy).
 *
 * A piece is cut short only before the valid beginning of a character that
 * later bytes could complete.  Bytes that can never be valid are passed on
 * at once: a decoder treats them the same whether they arrive alone or
 * followed by more, so decoding the pieces one by one equals decoding the
 * whole, with any error policy.
 */
#include "config.h"

#include "cuprum-private.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* The bytes are scanned a word at a time, four words per step into four
 * accumulators: independent ORs the processor can overlap, which a
 * vectorising compiler also turns into two 16-byte loads per step (about
 * 1.3x the one-accumulator loop on 4 MiB, 2.5x on 64 KiB, measured on
 * x86-64).  The verdict is looked at once per ASCII_STRIDE bytes, so that
 * a high byte early in a large buffer (a 256 MiB capture) ends the scan
 * soon while the inner loop stays a bare accumulation. */
#define ASCII_STEP 32
#define ASCII_STRIDE 4096
#define HIGH_BITS 0x8080808080808080ull

int cuprum_ascii(const void *data, size_t len)
{
  const unsigned char *p = data;
  uint64_t acc = 0;

  while (len >= ASCII_STEP) {
    size_t n =
        len < ASCII_STRIDE ? len & ~(size_t)(ASCII_STEP - 1) : ASCII_STRIDE;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i < n; i += ASCII_STEP) {
      uint64_t w0, w1, w2, w3;
      /* memcpy: any alignment, one load each once compiled */
      memcpy(&w0, p + i, 8);
      memcpy(&w1, p + i + 8, 8);
      memcpy(&w2, p + i + 16, 8);
      memcpy(&w3, p + i + 24, 8);
      a |= w0;
      b |= w1;
      c |= w2;
      d |= w3;
    }
    if (((a | b | c | d) & HIGH_BITS) != 0)
      return 0;
    p += n;
    len -= n;
  }
  for (; len >= 8; p += 8, len -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    acc |= w;
  }
  for (; len > 0; len--)
    acc |= *p++;
  return (acc & HIGH_BITS) == 0;
}

/* Length of the character a lead byte starts: 1 for ASCII, 2..4 for a
 * valid multi-byte lead, 0 for a byte that cannot start a character. */
static size_t seq_len(unsigned char b)
{
  if (b < 0x80)
    return 1;
  if (b >= 0xC2 && b <= 0xDF)
    return 2;
  if (b >= 0xE0 && b <= 0xEF)
    return 3;
  if (b >= 0xF0 && b <= 0xF4)
    return 4;
  return 0;
}

/* Whether `b` may stand at position `pos` (1..3) after `lead`; the second
 * byte's range depends on the lead, excluding overlong forms, surrogates
 * and code points above U+10FFFF. */
static int cont_ok(unsigned char lead, size_t pos, unsigned char b)
{
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;

  if (pos == 1) {
    switch (lead) {
    case 0xE0:
      lo = 0xA0;
      break;
    case 0xED:
      hi = 0x9F;
      break;
    case 0xF0:
      lo = 0x90;
      break;
    case 0xF4:
      hi = 0x8F;
      break;
    default:
      break;
    }
  }
  return b >= lo && b <= hi;
}

/* Whether s[0..n) is the valid start of a character still missing bytes. */
static int incomplete(const unsigned char *s, size_t n)
{
  size_t need = seq_len(s[0]);
  size_t i;

  if (need < 2 || n >= need)
    return 0;
  for (i = 1; i < n; i++)
    if (!cont_ok(s[0], i, s[i]))
      return 0;
  return 1;
}

size_t cuprum_utf8_complete(const void *data, size_t len)
{
  const unsigned char *s = data;
  size_t back;

  /* An unfinished character is a lead byte plus at most two continuation
   * bytes, so only the last three bytes can hold its start. */
  for (back = 1; back <= 3 && back <= len; back++) {
    unsigned char b = s[len - back];
    if (b < 0x80 || b >= 0xC0)
      return incomplete(s + len - back, back) ? len - back : len;
  }
  return len;
}

struct cuprum_utf8 {
  cuprum_chunk_fn on_chunk;
  void *ctx;
  unsigned char held[4];
  size_t nheld;
  /* Busy while the callback runs (it may be handed `held`, and the feed
   * goes on after it); a free from it stops that feed or finish, which
   * releases the re-chunker. */
  struct cuprum__guard guard;
};

int cuprum_utf8_new(cuprum_utf8 **out, cuprum_chunk_fn on_chunk, void *ctx)
{
  cuprum_utf8 *u;

  if (out == NULL)
    return CUPRUM_ENULL;
  *out = NULL;
  if (on_chunk == NULL)
    return CUPRUM_ENULL;
  u = cuprum__malloc(sizeof(*u));
  if (u == NULL)
    return -ENOMEM;
  memset(u, 0, sizeof(*u));
  u->on_chunk = on_chunk;
  u->ctx = ctx;
  *out = u;
  return 0;
}

void cuprum_utf8_free(cuprum_utf8 *u)
{
  if (u == NULL)
    return;
  if (cuprum__guard_defer_free(&u->guard))
    return;
  cuprum__free(u);
}

static int pass(cuprum_utf8 *u, const void *p, size_t n)
{
  if (n == 0)
    return 0;
  u->guard.busy = 1;
  return cuprum__guard_leave(&u->guard,
                             cuprum__callback_code(u->on_chunk(u->ctx, p, n)));
}

static int flush_held(cuprum_utf8 *u)
{
  size_t n = u->nheld;

  u->nheld = 0;
  return pass(u, u->held, n);
}

static int feed(cuprum_utf8 *u, const unsigned char *p, size_t len)
{
  const unsigned char *end;
  size_t keep;
  int rc;

  /* p may be NULL with len 0, where even p + 0 is undefined. */
  if (len == 0)
    return 0;
  end = p + len;
  if (u->nheld > 0) {
    /* Finish the held character with the first bytes of this feed; it is
     * passed on alone, as a piece of at most four bytes. */
    size_t need = seq_len(u->held[0]);
    while (u->nheld < need && p < end && cont_ok(u->held[0], u->nheld, *p))
      u->held[u->nheld++] = *p++;
    if (u->nheld < need && p == end)
      return 0;
    if ((rc = flush_held(u)) < 0)
      return rc;
  }
  keep = cuprum_utf8_complete(p, (size_t)(end - p));
  rc = pass(u, p, keep);
  if (rc < 0)
    return rc;
  if ((size_t)(end - p) > keep)
    memcpy(u->held, p + keep, (size_t)(end - p) - keep);
  u->nheld = (size_t)(end - p) - keep;
  return 0;
}

/* Ends a feed or finish: when the callback freed the re-chunker, releases
 * it.  Returns rc. */
static int done(cuprum_utf8 *u, int rc)
{
  if (u->guard.free_pending)
    cuprum__free(u);
  return rc;
}

int cuprum_utf8_feed(cuprum_utf8 *u, const void *data, size_t len)
{
  if (u == NULL || (data == NULL && len != 0))
    return CUPRUM_ENULL;
  if (u->guard.busy)
    return -EBUSY;
  return done(u, feed(u, data, len));
}

int cuprum_utf8_finish(cuprum_utf8 *u)
{
  if (u == NULL)
    return CUPRUM_ENULL;
  if (u->guard.busy)
    return -EBUSY;
  return done(u, flush_held(u));
}
