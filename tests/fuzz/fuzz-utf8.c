/* SPDX-License-Identifier: ISC */
/*
 * fuzz-utf8.c - libFuzzer harness for the UTF-8 helpers
 * (cuprum_utf8_complete and the cuprum_utf8_* re-chunker).
 *
 * The reference model decodes the stream forwards with the well-formed
 * byte sequences of Unicode's table 3-7, replacing maximal subparts of
 * ill-formed ones; whatever sequence is still open at the end of a prefix
 * is what must be held back.  Checks: cuprum_utf8_complete of every prefix
 * (up to 256 of them) against the model; the re-chunker, fed in
 * pseudo-random chunks, has delivered exactly up to the model's boundary
 * after every feed, delivers the stream unchanged in order, never an empty
 * chunk, and every byte after finish.  Input: bytes 0-1 seed the chunking,
 * byte 2 the chunk at which the callback stops (0: never), byte 3 whether
 * the handle's allocation fails; the rest is the stream.
 */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

FUZZ_ALLOC_STATE;

/* Table 3-7: the range of byte k (1..3) after lead byte `lead`, and how
 * many bytes the sequence has (0: lead is not a valid first byte). */
static size_t ref_need(uint8_t lead)
{
  if (lead <= 0x7F)
    return 1;
  if (lead >= 0xC2 && lead <= 0xDF)
    return 2;
  if (lead >= 0xE0 && lead <= 0xEF)
    return 3;
  if (lead >= 0xF0 && lead <= 0xF4)
    return 4;
  return 0;
}

static int ref_in_range(uint8_t lead, size_t k, uint8_t b)
{
  if (k == 1 && lead == 0xE0)
    return b >= 0xA0 && b <= 0xBF;
  if (k == 1 && lead == 0xED)
    return b >= 0x80 && b <= 0x9F;
  if (k == 1 && lead == 0xF0)
    return b >= 0x90 && b <= 0xBF;
  if (k == 1 && lead == 0xF4)
    return b >= 0x80 && b <= 0x8F;
  return b >= 0x80 && b <= 0xBF;
}

/* How many trailing bytes of s[0..n) form a still-open sequence. */
static size_t ref_open_tail(const uint8_t *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    size_t need = ref_need(s[i]);
    size_t k = 1;
    if (need <= 1) {
      i++;
      continue;
    }
    while (k < need && i + k < n && ref_in_range(s[i], k, s[i + k]))
      k++;
    if (k == need) {
      i += need;
      continue;
    }
    if (i + k == n)
      return n - i;
    i += k; /* a maximal ill-formed subpart: replaced, decoding goes on */
  }
  return 0;
}

struct sink {
  const uint8_t *stream;
  size_t delivered;
  unsigned chunks;
  unsigned stop_at;
};

static int on_chunk(void *ctx, const char *data, size_t len)
{
  struct sink *s = ctx;
  FUZZ_CHECK(len > 0);
  FUZZ_CHECK(memcmp(data, s->stream + s->delivered, len) == 0);
  s->delivered += len;
  s->chunks++;
  return s->chunks == s->stop_at ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_in in = {data, size};
  uint32_t seed = fuzz_u16(&in);
  struct sink s = {NULL, 0, 0, 0};
  cuprum_utf8 *u8 = NULL;
  int fail;
  size_t off = 0;
  int rc = 0;

  s.stop_at = fuzz_byte(&in);
  fail = fuzz_byte(&in) == 0xFF;
  s.stream = in.p;

  FUZZ_CHECK(cuprum_utf8_complete(NULL, 0) == 0);
  for (size_t n = 0; n <= in.n && n < 256; n++)
    FUZZ_CHECK(cuprum_utf8_complete(in.p, n) == n - ref_open_tail(in.p, n));
  FUZZ_CHECK(cuprum_utf8_complete(in.p, in.n) ==
             in.n - ref_open_tail(in.p, in.n));

  fuzz_alloc_arm(fail ? 1 : 0, 0);
  rc = cuprum_utf8_new(&u8, on_chunk, &s);
  fuzz_alloc_disarm();
  if (fail) {
    FUZZ_CHECK(rc == -ENOMEM && u8 == NULL);
    return 0;
  }
  FUZZ_CHECK(rc == 0 && u8 != NULL);
  FUZZ_CHECK(cuprum_utf8_feed(NULL, "", 0) == CUPRUM_ENULL);
  while (off < in.n) {
    size_t chunk = fuzz_next(&seed) % 9;
    if (chunk > in.n - off)
      chunk = in.n - off;
    rc = cuprum_utf8_feed(u8, in.p + off, chunk);
    off += chunk;
    if (rc != 0)
      break;
    FUZZ_CHECK(s.delivered == off - ref_open_tail(in.p, off));
    FUZZ_CHECK(off - s.delivered <= 3);
  }
  if (rc == 0) {
    rc = cuprum_utf8_finish(u8);
    if (rc == 0)
      FUZZ_CHECK(s.delivered == in.n);
  }
  if (rc != 0) {
    FUZZ_CHECK(rc == CUPRUM_ESTOPPED && s.chunks == s.stop_at);
  }
  cuprum_utf8_free(u8);
  return 0;
}
