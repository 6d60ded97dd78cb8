/* SPDX-License-Identifier: ISC */
/*
 * test-utf8.c - the text-byte helpers of utf8.c.  The UTF-8 boundary
 * contract: no character split across pieces, at most three bytes held,
 * and decoding the pieces one by one equals decoding the whole stream, for
 * every chunking and with invalid bytes mixed in.  cuprum_ascii: the
 * verdict on any byte range, whatever its length, start alignment and
 * place of the first high byte, and blind to the bytes around it.
 */
#include "config.h"

#include "cuprum.h"
#include "testutil.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A reference decoder with the "replace" policy of Python and of the
 * Unicode standard's recommended practice: each maximal invalid subpart
 * becomes one U+FFFD. */
static size_t ref_len(unsigned char b)
{
  return b < 0x80                 ? 1
         : b >= 0xC2 && b <= 0xDF ? 2
         : b >= 0xE0 && b <= 0xEF ? 3
         : b >= 0xF0 && b <= 0xF4 ? 4
                                  : 0;
}

static int ref_cont(unsigned char lead, size_t pos, unsigned char b)
{
  if (pos == 1 && lead == 0xE0)
    return b >= 0xA0 && b <= 0xBF;
  if (pos == 1 && lead == 0xED)
    return b >= 0x80 && b <= 0x9F;
  if (pos == 1 && lead == 0xF0)
    return b >= 0x90 && b <= 0xBF;
  if (pos == 1 && lead == 0xF4)
    return b >= 0x80 && b <= 0x8F;
  return b >= 0x80 && b <= 0xBF;
}

static size_t ref_decode(const unsigned char *s, size_t n, unsigned *out)
{
  size_t i = 0;
  size_t k = 0;

  while (i < n) {
    size_t need = ref_len(s[i]);
    size_t j = 1;
    if (need == 1) {
      out[k++] = s[i++];
      continue;
    }
    if (need == 0) {
      out[k++] = 0xFFFD;
      i++;
      continue;
    }
    while (j < need && i + j < n && ref_cont(s[i], j, s[i + j]))
      j++;
    if (j < need) {
      out[k++] = 0xFFFD;
      i += j;
      continue;
    }
    {
      unsigned cp = s[i] & (0x7F >> need);
      for (j = 1; j < need; j++)
        cp = cp << 6 | (s[i + j] & 0x3F);
      out[k++] = cp;
    }
    i += need;
  }
  return k;
}

/* Decodes each piece on its own and appends the code points. */
struct pieces {
  unsigned cps[4096];
  size_t n;
  unsigned char bytes[4096];
  size_t nbytes;
  long calls;
};

static int on_piece(void *ctx, const char *data, size_t len)
{
  struct pieces *p = ctx;
  assert_true(len > 0);
  assert_true(p->nbytes + len <= sizeof(p->bytes));
  memcpy(p->bytes + p->nbytes, data, len);
  p->nbytes += len;
  p->n += ref_decode((const unsigned char *)data, len, p->cps + p->n);
  p->calls++;
  return 0;
}

static void check_chunking(const unsigned char *in, size_t n,
                           const size_t *cuts, size_t ncuts)
{
  static unsigned whole[4096];
  static struct pieces p;
  size_t nwhole = ref_decode(in, n, whole);
  cuprum_utf8 *u;
  size_t at = 0;

  memset(&p, 0, sizeof(p));
  assert_int_equal(cuprum_utf8_new(&u, on_piece, &p), 0);
  for (size_t k = 0; k < ncuts; k++) {
    assert_int_equal(cuprum_utf8_feed(u, in + at, cuts[k] - at), 0);
    /* Never more than three bytes held back. */
    assert_true(cuts[k] - p.nbytes <= 3);
    at = cuts[k];
  }
  assert_int_equal(cuprum_utf8_finish(u), 0);
  cuprum_utf8_free(u);
  assert_int_equal(p.nbytes, n);
  assert_memory_equal(p.bytes, in, n);
  assert_int_equal(p.n, nwhole);
  assert_memory_equal(p.cps, whole, nwhole * sizeof(unsigned));
}

static const unsigned char corpus[] = "a\xc3\xa9"        /* e acute */
                                      "\xe2\x82\xac"     /* euro */
                                      "\xf0\x9f\x98\x80" /* emoji */
                                      "\xed\x9f\xbf"     /* U+D7FF */
                                      "\xf4\x8f\xbf\xbf" /* U+10FFFF */
                                      "\xc3"      /* truncated, then ASCII */
                                      "x\xe2\x82" /* truncated three-byte */
                                      "y\xf0\x9f\x98" /* truncated four-byte */
                                      "z\x80\xbf"     /* stray continuations */
                                      "\xc0\xaf"      /* overlong */
                                      "\xe0\x80\x80"  /* overlong three-byte */
                                      "\xed\xa0\x80"  /* surrogate */
                                      "\xf4\x90\x80\x80" /* above U+10FFFF */
                                      "\xf5\xff\xfe"     /* never valid */
                                      "end\xe2\x82\xac";

static void test_utf8_every_cut(void **state)
{
  const size_t n = sizeof(corpus) - 1;

  (void)state;
  for (size_t i = 0; i <= n; i++) {
    size_t cuts[2] = {i, n};
    check_chunking(corpus, n, cuts, 2);
  }
  for (size_t i = 0; i <= n; i++)
    for (size_t j = i; j <= n; j++) {
      size_t cuts[3] = {i, j, n};
      check_chunking(corpus, n, cuts, 3);
    }
}

static void test_utf8_one_byte_feeds(void **state)
{
  const size_t n = sizeof(corpus) - 1;
  size_t cuts[sizeof(corpus)];

  (void)state;
  for (size_t i = 0; i < n; i++)
    cuts[i] = i + 1;
  check_chunking(corpus, n, cuts, n);
}

static void test_utf8_random(void **state)
{
  static const unsigned char alphabet[] = {'a',  0x80, 0x8f, 0x90, 0x9f, 0xa0,
                                           0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef,
                                           0xf0, 0xf4, 0xf5, 0xc0};
  unsigned char in[300];
  size_t cuts[80] = {0};
  unsigned seed = 777;

  (void)state;
  for (int round = 0; round < 3000; round++) {
    size_t n = (size_t)(rand_r(&seed) % 120);
    size_t ncuts = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
      in[i] = alphabet[rand_r(&seed) % sizeof(alphabet)];
    while (at < n && ncuts < 79) {
      at += 1 + (size_t)(rand_r(&seed) % 6);
      if (at > n)
        at = n;
      cuts[ncuts++] = at;
    }
    if (ncuts == 0 || cuts[ncuts - 1] != n)
      cuts[ncuts++] = n;
    check_chunking(in, n, cuts, ncuts);
  }
}

static void test_utf8_complete(void **state)
{
  (void)state;
  assert_int_equal(cuprum_utf8_complete(NULL, 0), 0);
  assert_int_equal(cuprum_utf8_complete("abc", 3), 3);
  /* Valid beginnings are held... */
  assert_int_equal(cuprum_utf8_complete("a\xc3", 2), 1);
  assert_int_equal(cuprum_utf8_complete("a\xe2\x82", 3), 1);
  assert_int_equal(cuprum_utf8_complete("a\xe2", 2), 1);
  assert_int_equal(cuprum_utf8_complete("\xf0\x9f\x98", 3), 0);
  assert_int_equal(cuprum_utf8_complete("\xf0\x9f", 2), 0);
  assert_int_equal(cuprum_utf8_complete("\xf4\x8f", 2), 0);
  /* ...complete characters are not... */
  assert_int_equal(cuprum_utf8_complete("\xc3\xa9", 2), 2);
  assert_int_equal(cuprum_utf8_complete("\xe2\x82\xac", 3), 3);
  assert_int_equal(cuprum_utf8_complete("\xf0\x9f\x98\x80", 4), 4);
  /* ...nor bytes that can never become valid. */
  assert_int_equal(cuprum_utf8_complete("a\x80", 2), 2);
  assert_int_equal(cuprum_utf8_complete("a\xc0", 2), 2);
  assert_int_equal(cuprum_utf8_complete("a\xc1", 2), 2);
  assert_int_equal(cuprum_utf8_complete("a\xf5", 2), 2);
  assert_int_equal(cuprum_utf8_complete("a\xff", 2), 2);
  assert_int_equal(cuprum_utf8_complete("\xe0\x80", 2), 2);
  assert_int_equal(cuprum_utf8_complete("\xed\xa0", 2), 2);
  assert_int_equal(cuprum_utf8_complete("\xf0\x80", 2), 2);
  assert_int_equal(cuprum_utf8_complete("\xf4\x90", 2), 2);
  assert_int_equal(cuprum_utf8_complete("\xe2\x41", 2), 2);
}

static int stop_cb(void *ctx, const char *data, size_t len)
{
  (void)data;
  (void)len;
  return *(int *)ctx;
}

static void test_utf8_bad_input_and_stop(void **state)
{
  int code = -EIO;
  cuprum_utf8 *u = (cuprum_utf8 *)&code;

  (void)state;
  assert_int_equal(cuprum_utf8_new(NULL, stop_cb, &code), CUPRUM_ENULL);
  assert_int_equal(cuprum_utf8_new(&u, NULL, &code), CUPRUM_ENULL);
  assert_null(u);
  assert_int_equal(cuprum_utf8_feed(NULL, "a", 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_utf8_finish(NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_utf8_new(&u, stop_cb, &code), 0);
  assert_int_equal(cuprum_utf8_feed(u, NULL, 2), CUPRUM_ENULL);
  /* NULL with 0 is allowed, and no undefined behaviour (UBSan runs this). */
  assert_int_equal(cuprum_utf8_feed(u, NULL, 0), 0);
  assert_int_equal(cuprum_utf8_feed(u, "ab", 2), -EIO);
  code = 3;
  assert_int_equal(cuprum_utf8_feed(u, "ab\xc3", 3), CUPRUM_ESTOPPED);
  code = 0;
  assert_int_equal(cuprum_utf8_feed(u, "\xa9", 1), 0);
  assert_int_equal(cuprum_utf8_finish(u), 0);
  cuprum_utf8_free(u);
  cuprum_utf8_free(NULL);
}

/* An on_chunk callback that calls back into its own re-chunker. */
struct u8_reenter {
  cuprum_utf8 *u;
  unsigned char bytes[sizeof(corpus)];
  size_t nbytes;
  long calls;
  /* Free the re-chunker at this call (0: never), then return
   * `after_free`. */
  long free_at;
  int after_free;
};

static int u8_reenter_chunk(void *ctx, const char *data, size_t len)
{
  struct u8_reenter *r = ctx;

  r->calls++;
  if (r->free_at > 0 && r->calls == r->free_at) {
    cuprum_utf8_free(r->u);
    /* The bytes handed over stay readable until the callback returns. */
    memcpy(r->bytes + r->nbytes, data, len);
    r->nbytes += len;
    return r->after_free;
  }
  /* A nested feed would overwrite the held character, which `data` may
   * be, and hold bytes the outer feed then overwrites. */
  assert_int_equal(cuprum_utf8_feed(r->u, "\xe2\x82", 2), -EBUSY);
  assert_int_equal(cuprum_utf8_feed(r->u, NULL, 0), -EBUSY);
  assert_int_equal(cuprum_utf8_feed(r->u, NULL, 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_utf8_finish(r->u), -EBUSY);
  assert_true(r->nbytes + len <= sizeof(r->bytes));
  memcpy(r->bytes + r->nbytes, data, len);
  r->nbytes += len;
  return 0;
}

/* Feeds and finishes from the callback are refused with -EBUSY and change
 * nothing: for every cut into two feeds the bytes passed on are the
 * input, in order, the held character included. */
static void test_utf8_reenter_refused(void **state)
{
  const size_t n = sizeof(corpus) - 1;
  struct u8_reenter r;

  (void)state;
  for (size_t i = 0; i <= n; i++) {
    memset(&r, 0, sizeof(r));
    test_use_counter(0);
    assert_int_equal(cuprum_utf8_new(&r.u, u8_reenter_chunk, &r), 0);
    assert_int_equal(cuprum_utf8_feed(r.u, corpus, i), 0);
    assert_int_equal(cuprum_utf8_feed(r.u, corpus + i, n - i), 0);
    assert_int_equal(cuprum_utf8_finish(r.u), 0);
    cuprum_utf8_free(r.u);
    assert_int_equal(test_counter.live, 0);
    cuprum_set_allocator(NULL);
    assert_int_equal(r.nbytes, n);
    assert_memory_equal(r.bytes, corpus, n);
  }
}

/* A free from the callback waits for the feed or finish that runs it: at
 * every call, whether it passes the caller's bytes or the held character,
 * the feed or finish stops there, returns the callback's code
 * (CUPRUM_ESTOPPED for 0 or a positive one), passes nothing more and
 * leaves nothing allocated. */
static void test_utf8_free_in_callback(void **state)
{
  const size_t n = sizeof(corpus) - 1;
  const int codes[] = {0, 1, -ECANCELED};

  (void)state;
  for (size_t step = 1; step <= 5; step++)
    for (long at = 1;; at++) {
      int reached = 0;
      for (size_t c = 0; c < 3; c++) {
        struct u8_reenter r;
        int rc = 0;
        memset(&r, 0, sizeof(r));
        r.free_at = at;
        r.after_free = codes[c];
        test_use_counter(0);
        assert_int_equal(cuprum_utf8_new(&r.u, u8_reenter_chunk, &r), 0);
        for (size_t off = 0; off < n && rc == 0; off += step)
          rc = cuprum_utf8_feed(r.u, corpus + off,
                                n - off < step ? n - off : step);
        if (rc == 0)
          rc = cuprum_utf8_finish(r.u);
        if (rc == 0) {
          assert_true(r.calls < at);
          cuprum_utf8_free(r.u);
        } else {
          assert_int_equal(rc, codes[c] < 0 ? codes[c] : CUPRUM_ESTOPPED);
          assert_int_equal(r.calls, at);
          assert_memory_equal(r.bytes, corpus, r.nbytes);
          reached = 1;
        }
        assert_int_equal(test_counter.live, 0);
        cuprum_set_allocator(NULL);
      }
      if (!reached)
        break;
    }
}

/* cuprum_ascii reads 8-byte words, four per step, and looks at its verdict
 * every 4096 bytes (utf8.c's ASCII_STEP and ASCII_STRIDE): the lengths
 * below sit around a word, a step, a stride and their multiples, and every
 * range starts at each of the 8 alignments of a word. */
#define ASCII_WORD 8
#define ASCII_STEP 32
#define ASCII_STRIDE 4096
#define ASCII_BUF (3 * ASCII_STRIDE + 4 * ASCII_WORD)

/* Every ASCII value in turn, so that each of bits 0..6 is set somewhere. */
static void ascii_fill(unsigned char *buf, size_t n)
{
  for (size_t i = 0; i < n; i++)
    buf[i] = (unsigned char)(i * 37 % 128);
}

static void test_ascii_empty(void **state)
{
  (void)state;
  assert_int_equal(cuprum_ascii(NULL, 0), 1);
  assert_int_equal(cuprum_ascii("\x80\xff", 0), 1);
  assert_int_equal(cuprum_ascii("", 1), 1); /* the NUL is ASCII */
}

static void test_ascii_every_byte(void **state)
{
  unsigned char all[128];
  unsigned char buf[100];

  (void)state;
  for (int b = 0; b < 256; b++) {
    unsigned char one = (unsigned char)b;
    assert_int_equal(cuprum_ascii(&one, 1), b < 0x80);
  }
  for (int b = 0; b < 128; b++)
    all[b] = (unsigned char)b;
  assert_int_equal(cuprum_ascii(all, sizeof(all)), 1);
  /* Each high value in the middle of an unaligned range. */
  ascii_fill(buf, sizeof(buf));
  for (int b = 0x80; b < 256; b++) {
    buf[50] = (unsigned char)b;
    assert_int_equal(cuprum_ascii(buf + 3, 90), 0);
  }
}

/* The range [off, off + len) of buf, all ASCII, is said to be ASCII; one
 * high byte at `pos` inside it makes it not; high bytes just outside it do
 * not count. */
static void check_ascii_at(unsigned char *buf, size_t off, size_t len,
                           size_t pos, unsigned char high)
{
  unsigned char keep = buf[off + pos];

  buf[off + pos] = high;
  if (cuprum_ascii(buf + off, len) != 0)
    fail_msg("high byte 0x%02x at %zu of %zu bytes from offset %zu missed",
             high, pos, len, off);
  buf[off + pos] = keep;
}

static void check_ascii_range(unsigned char *buf, size_t off, size_t len)
{
  /* The first and last word, step and stride, and the middle. */
  const size_t near[] = {0,
                         1,
                         ASCII_WORD - 1,
                         ASCII_WORD,
                         ASCII_STEP - 1,
                         ASCII_STEP,
                         ASCII_STRIDE - 1,
                         ASCII_STRIDE,
                         ASCII_STRIDE + 1,
                         2 * ASCII_STRIDE - 1,
                         2 * ASCII_STRIDE,
                         len / 2,
                         len - ASCII_STEP - 1,
                         len - ASCII_STEP,
                         len - ASCII_WORD - 1,
                         len - ASCII_WORD,
                         len - 2,
                         len - 1};

  buf[off - 1] = 0x80;
  buf[off + len] = 0xff;
  if (cuprum_ascii(buf + off, len) != 1)
    fail_msg("%zu ASCII bytes from offset %zu said not to be", len, off);
  if (len <= 2 * ASCII_STEP) {
    for (size_t pos = 0; pos < len; pos++)
      check_ascii_at(buf, off, len, pos, pos % 2 ? 0xff : 0x80);
  } else {
    for (size_t k = 0; k < sizeof(near) / sizeof(near[0]); k++)
      if (near[k] < len)
        check_ascii_at(buf, off, len, near[k], k % 2 ? 0xff : 0x80);
  }
  buf[off - 1] = 'a';
  buf[off + len] = 'a';
}

static void test_ascii_lengths_and_positions(void **state)
{
  /* Lengths around 0, a word, one and two steps, one, two and three
   * strides. */
  const size_t bases[] = {0,
                          2 * ASCII_WORD,
                          ASCII_STEP,
                          2 * ASCII_STEP,
                          ASCII_STRIDE,
                          2 * ASCII_STRIDE,
                          3 * ASCII_STRIDE};
  unsigned char *buf = malloc(ASCII_BUF + 2 * ASCII_WORD);

  (void)state;
  assert_non_null(buf);
  ascii_fill(buf, ASCII_BUF + 2 * ASCII_WORD);
  for (size_t off = 1; off <= ASCII_WORD; off++)
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
      for (size_t d = 0; d <= 2 * ASCII_WORD + 1; d++) {
        size_t len = bases[b] + d - (bases[b] > 0 ? ASCII_WORD + 1 : 0);
        check_ascii_range(buf, off, len);
      }
  free(buf);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_fd_setup, test_fd_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_utf8_complete),           T(test_utf8_every_cut),
      T(test_utf8_one_byte_feeds),     T(test_utf8_random),
      T(test_utf8_bad_input_and_stop), T(test_ascii_empty),
      T(test_ascii_every_byte),        T(test_ascii_lengths_and_positions),
      T(test_utf8_reenter_refused),    T(test_utf8_free_in_callback),
  };
  return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
