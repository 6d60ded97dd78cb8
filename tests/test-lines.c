/* SPDX-License-Identifier: ISC */
/*
 * test-lines.c - the lines contract: "\n", "\r\n" and a lone "\r" end a
 * line and nothing else does; "\r\n" split across feeds is one ending; the
 * last line is delivered without an ending; every chunking gives the same
 * lines.
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

/* Lines as received: each followed by '|', or by '+' when it is a piece
 * that more of its line follows, for easy comparison. */
struct got {
  char text[8192];
  size_t len;
  long count;
  long stop_at;
  int stop_code;
  /* The splitter delivering, for cuprum_lines_partial. */
  const cuprum_lines *self;
};

/* The most bytes per delivery that split_feed sets and reference cuts
 * at. */
static size_t line_max = CUPRUM_LINE_UNLIMITED;

static int record(struct got *g, const char *line, size_t len, int partial)
{
  assert_true(g->len + len + 1 < sizeof(g->text));
  memcpy(g->text + g->len, line, len);
  g->len += len;
  g->text[g->len++] = partial ? '+' : '|';
  g->text[g->len] = '\0';
  g->count++;
  if (g->stop_at > 0 && g->count == g->stop_at)
    return g->stop_code;
  return 0;
}

static int collect(void *ctx, const char *line, size_t len)
{
  struct got *g = ctx;
  return record(g, line, len, cuprum_lines_partial(g->self));
}

/* A line as the contract delivers it: pieces of line_max bytes while more
 * follows, then the rest. */
static void reference_line(struct got *g, const char *p, size_t n)
{
  for (; n > line_max; p += line_max, n -= line_max)
    record(g, p, line_max, 1);
  record(g, p, n, 0);
}

/* The reference: the same contract, written the obvious way over the
 * whole input at once. */
static void reference(const char *in, size_t n, struct got *g)
{
  size_t start = 0;
  memset(g, 0, sizeof(*g));
  for (size_t i = 0; i < n; i++) {
    if (in[i] == '\n' || in[i] == '\r') {
      reference_line(g, in + start, i - start);
      if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
        i++;
      start = i + 1;
    }
  }
  if (start < n)
    reference_line(g, in + start, n - start);
}

/* Feeds `in` cut at the given offsets (ascending, ending with n). */
static void split_feed(const char *in, size_t n, const size_t *cuts,
                       size_t ncuts, struct got *g)
{
  cuprum_lines *l;
  size_t at = 0;

  memset(g, 0, sizeof(*g));
  assert_int_equal(cuprum_lines_new(&l, collect, g), 0);
  assert_int_equal(cuprum_lines_set_max(l, line_max), 0);
  g->self = l;
  assert_true(ncuts > 0 && cuts[ncuts - 1] == n);
  for (size_t k = 0; k < ncuts; k++) {
    assert_int_equal(cuprum_lines_feed(l, in + at, cuts[k] - at), 0);
    at = cuts[k];
  }
  assert_int_equal(cuprum_lines_finish(l), 0);
  cuprum_lines_free(l);
}

static void expect_lines(const char *in, const char *want, long count)
{
  size_t n = strlen(in);
  size_t cut[1] = {n};
  struct got g;

  split_feed(in, n, cut, 1, &g);
  assert_string_equal(g.text, want);
  assert_int_equal(g.count, count);
}

static void test_lines_endings(void **state)
{
  (void)state;
  expect_lines("a\nb\n", "a|b|", 2);
  expect_lines("a\r\nb\r\n", "a|b|", 2);
  expect_lines("a\rb\r", "a|b|", 2);
  expect_lines("a\n\nb", "a||b|", 3);
  expect_lines("a\r\rb", "a||b|", 3);
  expect_lines("a\n\rb", "a||b|", 3);
  expect_lines("a\r\n\r\nb", "a||b|", 3);
  expect_lines("\n", "|", 1);
  expect_lines("\r\n", "|", 1);
  expect_lines("", "", 0);
  expect_lines("no ending", "no ending|", 1);
  /* Only \n, \r\n and \r: not \v, \f, \x1c-\x1e, NEL or U+2028. */
  expect_lines("a\vb\fc\x1c\x1d\x1e"
               "d\xc2\x85"
               "e\xe2\x80\xa8"
               "f\n",
               "a\vb\fc\x1c\x1d\x1e"
               "d\xc2\x85"
               "e\xe2\x80\xa8"
               "f|",
               1);
}

static const char corpus[] = "first\r\nsecond\rthird\n\n\r\r\n\rfourth line "
                             "\xc3\xa9\xe2\x82\xac\r\n\x00zero\nlast";

/* Two feeds, cut at every offset. */
static void test_lines_every_cut(void **state)
{
  const size_t n = sizeof(corpus) - 1;
  struct got want;
  struct got g;

  (void)state;
  reference(corpus, n, &want);
  for (size_t i = 0; i <= n; i++) {
    size_t cuts[2] = {i, n};
    split_feed(corpus, n, cuts, 2, &g);
    assert_int_equal(g.count, want.count);
    assert_memory_equal(g.text, want.text, want.len);
  }
}

/* One byte per feed, and every pair of cuts. */
static void test_lines_every_chunking(void **state)
{
  const size_t n = sizeof(corpus) - 1;
  size_t ones[sizeof(corpus)];
  struct got want;
  struct got g;

  (void)state;
  reference(corpus, n, &want);
  for (size_t i = 0; i < n; i++)
    ones[i] = i + 1;
  split_feed(corpus, n, ones, n, &g);
  assert_int_equal(g.count, want.count);
  assert_memory_equal(g.text, want.text, want.len);
  for (size_t i = 0; i <= n; i++)
    for (size_t j = i; j <= n; j++) {
      size_t cuts[3] = {i, j, n};
      split_feed(corpus, n, cuts, 3, &g);
      assert_int_equal(g.count, want.count);
      assert_memory_equal(g.text, want.text, want.len);
    }
}

/* Random input over a small alphabet, random chunkings. */
static void test_lines_random(void **state)
{
  static const char alphabet[] = "ab\r\n\r\n";
  char in[512];
  size_t cuts[64] = {0};
  struct got want;
  struct got g;
  unsigned seed = 12345;

  (void)state;
  for (int round = 0; round < 2000; round++) {
    size_t n = (size_t)(rand_r(&seed) % 200);
    size_t ncuts = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
      in[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
    while (at < n && ncuts < 63) {
      at += 1 + (size_t)(rand_r(&seed) % 9);
      if (at > n)
        at = n;
      cuts[ncuts++] = at;
    }
    if (ncuts == 0 || cuts[ncuts - 1] != n)
      cuts[ncuts++] = n;
    reference(in, n, &want);
    split_feed(in, n, cuts, ncuts, &g);
    assert_int_equal(g.count, want.count);
    assert_memory_equal(g.text, want.text, want.len);
  }
}

/* "\r" ending one stream does not swallow a "\n" starting the next. */
static void test_lines_finish_resets(void **state)
{
  struct got g;
  cuprum_lines *l;

  (void)state;
  memset(&g, 0, sizeof(g));
  assert_int_equal(cuprum_lines_new(&l, collect, &g), 0);
  assert_int_equal(cuprum_lines_feed(l, "x\r", 2), 0);
  assert_int_equal(cuprum_lines_finish(l), 0);
  assert_int_equal(cuprum_lines_feed(l, "\ny", 2), 0);
  assert_int_equal(cuprum_lines_finish(l), 0);
  assert_int_equal(cuprum_lines_finish(l), 0);
  assert_string_equal(g.text, "x||y|");
  cuprum_lines_free(l);
}

/* A line far longer than any feed is gathered whole. */
static struct {
  size_t len;
  long count;
  int ok;
} long_seen;

static int long_cb(void *ctx, const char *line, size_t len)
{
  (void)ctx;
  long_seen.count++;
  long_seen.len = len;
  for (size_t i = 0; i < len; i++)
    if (line[i] != 'q') {
      long_seen.ok = 0;
      break;
    }
  return 0;
}

static void test_lines_spanning_feeds(void **state)
{
  const size_t n = 3 * MiB;
  char *big = malloc(n + 2);
  cuprum_lines *l;

  (void)state;
  assert_non_null(big);
  memset(big, 'q', n);
  big[n] = '\r';
  big[n + 1] = '\n';
  memset(&long_seen, 0, sizeof(long_seen));
  long_seen.ok = 1;
  assert_int_equal(cuprum_lines_new(&l, long_cb, NULL), 0);
  for (size_t at = 0; at < n + 2; at += 4099) {
    size_t k = n + 2 - at < 4099 ? n + 2 - at : 4099;
    assert_int_equal(cuprum_lines_feed(l, big + at, k), 0);
  }
  assert_int_equal(cuprum_lines_finish(l), 0);
  assert_int_equal(long_seen.count, 1);
  assert_int_equal(long_seen.len, n);
  assert_true(long_seen.ok);
  cuprum_lines_free(l);
  free(big);
}

static void test_lines_callback_stop(void **state)
{
  struct got g;
  cuprum_lines *l;

  (void)state;
  memset(&g, 0, sizeof(g));
  g.stop_at = 2;
  g.stop_code = -ECANCELED;
  assert_int_equal(cuprum_lines_new(&l, collect, &g), 0);
  assert_int_equal(cuprum_lines_feed(l, "a\nb\nc\n", 6), -ECANCELED);
  assert_int_equal(g.count, 2);
  g.stop_at = 0;
  assert_int_equal(cuprum_lines_feed(l, "d\n", 2), 0);
  assert_string_equal(g.text, "a|b|d|");
  g.stop_at = 4;
  g.stop_code = 1;
  assert_int_equal(cuprum_lines_feed(l, "e", 1), 0);
  assert_int_equal(cuprum_lines_finish(l), CUPRUM_ESTOPPED);
  cuprum_lines_free(l);
}

static void test_lines_bad_input(void **state)
{
  struct got g;
  cuprum_lines *l = (cuprum_lines *)&g;

  (void)state;
  assert_int_equal(cuprum_lines_new(NULL, collect, &g), CUPRUM_ENULL);
  assert_int_equal(cuprum_lines_new(&l, NULL, &g), CUPRUM_ENULL);
  assert_null(l);
  assert_int_equal(cuprum_lines_feed(NULL, "a", 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_lines_finish(NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_lines_new(&l, collect, &g), 0);
  assert_int_equal(cuprum_lines_feed(l, NULL, 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_lines_feed(l, NULL, 0), 0);
  cuprum_lines_free(l);
  cuprum_lines_free(NULL);
}

static void test_lines_enomem(void **state)
{
  struct got g;
  cuprum_lines *l;

  (void)state;
  test_use_counter(1);
  assert_int_equal(cuprum_lines_new(&l, collect, &g), -ENOMEM);
  assert_null(l);
  assert_int_equal(test_counter.live, 0);
  test_use_counter(2); /* the splitter, then nothing more */
  memset(&g, 0, sizeof(g));
  assert_int_equal(cuprum_lines_new(&l, collect, &g), 0);
  assert_int_equal(cuprum_lines_feed(l, "whole\npartial", 13), -ENOMEM);
  assert_string_equal(g.text, "whole|");
  cuprum_lines_free(l);
  assert_int_equal(test_counter.live, 0);
  cuprum_set_allocator(NULL);
}

/* With a cap, every chunking still gives the reference's pieces: the cuts
 * depend on the line alone.  The corpus puts "\r\n" on and around every
 * cut of the small caps. */
static void test_lines_max_every_chunking(void **state)
{
  static const size_t maxes[] = {1, 2, 3, 4, 5, 8};

  for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
    line_max = maxes[i];
    test_lines_every_cut(state);
    test_lines_every_chunking(state);
    test_lines_random(state);
  }
  line_max = CUPRUM_LINE_UNLIMITED;
}

/* Feeds the strings of `feeds` (NULL-terminated) with a cap of `max`,
 * then finishes; the deliveries must be `want`. */
static void expect_pieces(size_t max, const char *const *feeds,
                          const char *want)
{
  cuprum_lines *l;
  struct got g;

  memset(&g, 0, sizeof(g));
  assert_int_equal(cuprum_lines_new(&l, collect, &g), 0);
  g.self = l;
  assert_int_equal(cuprum_lines_set_max(l, max), 0);
  for (; *feeds != NULL; feeds++)
    assert_int_equal(cuprum_lines_feed(l, *feeds, strlen(*feeds)), 0);
  assert_int_equal(cuprum_lines_finish(l), 0);
  assert_int_equal(cuprum_lines_partial(l), 0);
  assert_string_equal(g.text, want);
  cuprum_lines_free(l);
}

#define PIECES(max, want, ...)                                                 \
  expect_pieces(max, (const char *const[]){__VA_ARGS__, NULL}, want)

/* The cut at the cap: a line of exactly max bytes is one delivery, max + 1
 * two; an ending right at the cut, or "\r\n" split across feeds there,
 * ends the line and adds no empty piece; max 1 cuts every byte. */
static void test_lines_max_boundaries(void **state)
{
  (void)state;
  PIECES(4, "abcd|", "abcd\n");
  PIECES(4, "abcd|", "ab", "cd\n");
  PIECES(4, "abcd|", "abcd", "\n");
  PIECES(4, "abcd|", "abcd");
  PIECES(4, "abcd+e|", "abcde\n");
  PIECES(4, "abcd+e|", "abcd", "e");
  PIECES(4, "abcd+e|x|", "abc", "de\r", "\nx");
  PIECES(4, "abcd|x|", "abcd\r", "\nx");
  PIECES(4, "abcd|x|", "abcd\r\nx");
  PIECES(4, "abcd|x|", "ab", "cd\r", "\n", "x");
  PIECES(4, "abcd+efgh|", "abcdefgh");
  PIECES(4, "abcd+efgh||", "abcdefgh\r\r\n");
  PIECES(4, "abcd+efgh+i|", "abcdefghi\n");
  PIECES(4, "|||", "\n\r\n\r");
  PIECES(1, "a+b|c|", "ab\nc");
  PIECES(1, "a+b|", "a", "b", "\r", "\n");
  PIECES(CUPRUM_LINE_UNLIMITED, "abcdefgh|", "abc", "defgh");
}

static int set_max_inside(void *ctx, const char *line, size_t len)
{
  cuprum_lines **l = ctx;
  (void)line;
  (void)len;
  assert_int_equal(cuprum_lines_set_max(*l, 2), -EBUSY);
  return 0;
}

/* Refusals: 0 (no progress possible), NULL, from inside the callback, and
 * a cap changed while an
 * unfinished line is held; after finish it may change again, and a block
 * grown before is let go so the new cap bounds memory at once. */
static void test_lines_max_refusals(void **state)
{
  char big[1000];
  cuprum_lines *l;
  struct got g;

  (void)state;
  memset(&g, 0, sizeof(g));
  memset(big, 'b', sizeof(big));
  assert_int_equal(cuprum_lines_set_max(NULL, 4), CUPRUM_ENULL);
  assert_int_equal(cuprum_lines_partial(NULL), 0);
  test_use_counter(0);
  assert_int_equal(cuprum_lines_new(&l, collect, &g), 0);
  g.self = l;
  assert_int_equal(cuprum_lines_set_max(l, 0), -EINVAL);
  assert_int_equal(cuprum_lines_feed(l, big, sizeof(big)), 0);
  assert_int_equal(cuprum_lines_set_max(l, 4), CUPRUM_ESTATE);
  assert_int_equal(cuprum_lines_finish(l), 0);
  assert_int_equal(g.count, 1);
  assert_int_equal(g.len, sizeof(big) + 1);
  assert_int_equal(test_counter.live, 2);
  assert_int_equal(cuprum_lines_set_max(l, 4), 0);
  assert_int_equal(test_counter.live, 1); /* the 1000-byte block is gone */
  test_counter.largest = 0;
  assert_int_equal(cuprum_lines_feed(l, big, sizeof(big)), 0);
  assert_true(test_counter.largest <= 4);
  assert_int_equal(cuprum_lines_set_max(l, 8), CUPRUM_ESTATE);
  assert_int_equal(cuprum_lines_feed(l, "\n", 1), 0);
  assert_int_equal(cuprum_lines_set_max(l, 8), 0);
  assert_int_equal(g.count, 1 + 250);
  cuprum_lines_free(l);
  cuprum_set_allocator(NULL);
  assert_int_equal(test_counter.live, 0);

  assert_int_equal(cuprum_lines_new(&l, set_max_inside, &l), 0);
  assert_int_equal(cuprum_lines_feed(l, "a\nbcd\r", 6), 0);
  assert_int_equal(cuprum_lines_set_max(l, 2), 0);
  assert_int_equal(cuprum_lines_feed(l, "\nlong line\n", 11), 0);
  cuprum_lines_free(l);
}

struct pieces {
  struct test_pieces seen;
  const cuprum_lines *self;
};

static int count_piece(void *ctx, const char *line, size_t len)
{
  struct pieces *p = ctx;
  test_piece(&p->seen, line, len, cuprum_lines_partial(p->self));
  return 0;
}

/* A line of 3 MiB + 17 bytes without an ending, fed in chunks of 4099
 * bytes through a cap of 4096: no allocation of the splitter is larger
 * than the cap, every byte arrives in order, in pieces of 4096 but the
 * last.  Without the cap the same line takes a block of its own size. */
static void test_lines_max_bounded(void **state)
{
  const size_t n = 3 * (size_t)MiB + 17;
  const size_t max = 4096;
  char *big = malloc(n);
  struct pieces p;
  cuprum_lines *l;

  (void)state;
  assert_non_null(big);
  test_fill_line(big, n);
  for (int capped = 1; capped >= 0; capped--) {
    test_pieces_init(&p.seen, capped ? max : CUPRUM_LINE_UNLIMITED);
    test_use_counter(0);
    assert_int_equal(cuprum_lines_new(&l, count_piece, &p), 0);
    p.self = l;
    assert_int_equal(cuprum_lines_set_max(l, p.seen.max), 0);
    for (size_t at = 0; at < n; at += 4099) {
      size_t k = n - at < 4099 ? n - at : 4099;
      assert_int_equal(cuprum_lines_feed(l, big + at, k), 0);
    }
    assert_int_equal(cuprum_lines_finish(l), 0);
    cuprum_lines_free(l);
    assert_int_equal(test_counter.live, 0);
    cuprum_set_allocator(NULL);
    assert_int_equal(p.seen.bad, 0);
    assert_int_equal(p.seen.bytes, n);
    assert_true(p.seen.check == test_checksum(TEST_CHECKSUM_INIT, big, n));
    assert_int_equal(p.seen.lines, 1);
    if (capped) {
      assert_int_equal(p.seen.pieces, (long)(n / max + 1));
      assert_true(test_counter.largest <= max);
    } else {
      assert_int_equal(p.seen.pieces, 1);
      assert_true(test_counter.largest >= n);
    }
  }
  free(big);
}

/* A line callback that calls back into its own splitter (see
 * test_lines_reenter_refused and test_lines_free_in_callback). */
struct reenter {
  cuprum_lines *l;
  struct got g;
  /* Free the splitter at this delivery (0: never), then return
   * `after_free`. */
  long free_at;
  int after_free;
};

static int reenter_line(void *ctx, const char *line, size_t len)
{
  struct reenter *r = ctx;
  char big[700];

  memset(big, 'z', sizeof(big));
  if (r->free_at > 0 && r->g.count + 1 == r->free_at) {
    cuprum_lines_free(r->l);
    /* The bytes handed over stay readable until the callback returns. */
    record(&r->g, line, len, 0);
    return r->after_free;
  }
  /* A feed without a line ending would grow the block that holds a line
   * spanning feeds, the block `line` may point into; one with endings
   * would deliver lines in the middle of this one. */
  assert_int_equal(cuprum_lines_feed(r->l, big, sizeof(big)), -EBUSY);
  assert_int_equal(cuprum_lines_feed(r->l, "x\ny\r", 4), -EBUSY);
  assert_int_equal(cuprum_lines_feed(r->l, NULL, 0), -EBUSY);
  assert_int_equal(cuprum_lines_feed(r->l, NULL, 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_lines_finish(r->l), -EBUSY);
  assert_int_equal(cuprum_lines_set_max(r->l, 0), -EINVAL);
  assert_int_equal(cuprum_lines_set_max(r->l, 3), -EBUSY);
  assert_int_equal(cuprum_lines_set_max(r->l, CUPRUM_LINE_UNLIMITED), -EBUSY);
  /* Read after the refused calls: still the bytes of this delivery. */
  return record(&r->g, line, len, cuprum_lines_partial(r->l));
}

/* The input of the re-entrance tests: lines short and long, spanning
 * feeds, cut at a cap of 5, with every ending, the last unterminated. */
static const char reenter_in[] = "one\ntwo\r\nthree\rfour four four\n\n"
                                 "a line longer than the rest of them\r\n"
                                 "\rlast, without an ending";

/* Every call that would change the splitter, made from its callback, is
 * refused with -EBUSY and changes nothing: whatever the chunking, the
 * lines (and pieces) delivered are the reference's, with or without a
 * cap. */
static void test_lines_reenter_refused(void **state)
{
  const size_t n = sizeof(reenter_in) - 1;
  const size_t steps[] = {1, 2, 3, 7, 16, n};
  const size_t maxes[] = {CUPRUM_LINE_UNLIMITED, 5};
  struct reenter r;
  struct got want;

  (void)state;
  for (size_t m = 0; m < 2; m++) {
    line_max = maxes[m];
    reference(reenter_in, n, &want);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
      memset(&r, 0, sizeof(r));
      test_use_counter(0);
      assert_int_equal(cuprum_lines_new(&r.l, reenter_line, &r), 0);
      assert_int_equal(cuprum_lines_set_max(r.l, line_max), 0);
      for (size_t at = 0; at < n; at += steps[i]) {
        size_t k = n - at < steps[i] ? n - at : steps[i];
        assert_int_equal(cuprum_lines_feed(r.l, reenter_in + at, k), 0);
      }
      assert_int_equal(cuprum_lines_finish(r.l), 0);
      /* Still usable after the refusals. */
      assert_int_equal(cuprum_lines_feed(r.l, "again\n", 6), 0);
      cuprum_lines_free(r.l);
      assert_int_equal(test_counter.live, 0);
      cuprum_set_allocator(NULL);
      assert_int_equal(r.g.count, want.count + 1);
      assert_true(r.g.len == want.len + 6);
      assert_memory_equal(r.g.text, want.text, want.len);
      assert_string_equal(r.g.text + want.len, "again|");
    }
  }
  line_max = CUPRUM_LINE_UNLIMITED;
}

/* Frees the splitter from its callback at delivery `at` of reenter_in
 * fed in chunks of `step` bytes and capped at `max`, the callback then
 * returning `code`: the feed or finish that ran it stops there, returns
 * the callback's code (CUPRUM_ESTOPPED for 0 or a positive one) and
 * releases the splitter.  Returns 1 when `at` was reached. */
static int free_at(size_t step, size_t max, long at, int code)
{
  const size_t n = sizeof(reenter_in) - 1;
  const int want_rc = code < 0 ? code : CUPRUM_ESTOPPED;
  struct reenter r;
  int rc = 0;

  memset(&r, 0, sizeof(r));
  r.free_at = at;
  r.after_free = code;
  test_use_counter(0);
  assert_int_equal(cuprum_lines_new(&r.l, reenter_line, &r), 0);
  assert_int_equal(cuprum_lines_set_max(r.l, max), 0);
  for (size_t off = 0; off < n && rc == 0; off += step) {
    size_t k = n - off < step ? n - off : step;
    rc = cuprum_lines_feed(r.l, reenter_in + off, k);
  }
  if (rc == 0)
    rc = cuprum_lines_finish(r.l);
  if (rc == 0) {
    /* Fewer deliveries than `at`: nothing was freed. */
    assert_true(r.g.count < at);
    cuprum_lines_free(r.l);
  } else {
    assert_int_equal(rc, want_rc);
    /* Nothing after the delivery that freed it. */
    assert_int_equal(r.g.count, at);
  }
  assert_int_equal(test_counter.live, 0);
  cuprum_set_allocator(NULL);
  return rc != 0;
}

/* A free from the callback waits for the feed or finish that runs it:
 * at every delivery (from the caller's bytes, from the block of a line
 * spanning feeds, a piece cut at the cap, the final line of finish), the
 * call stops there, returns the stop code and leaves nothing allocated.
 * The callback reads its bytes after the free. */
static void test_lines_free_in_callback(void **state)
{
  const size_t steps[] = {1, 4, 9, sizeof(reenter_in)};
  const size_t maxes[] = {CUPRUM_LINE_UNLIMITED, 5};
  const int codes[] = {0, 1, -ECANCELED};

  (void)state;
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
    for (size_t m = 0; m < 2; m++)
      for (long at = 1;; at++) {
        int reached = 0;
        for (size_t c = 0; c < 3; c++)
          reached = free_at(steps[i], maxes[m], at, codes[c]);
        if (!reached)
          break;
      }
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_fd_setup, test_fd_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_lines_endings),          T(test_lines_every_cut),
      T(test_lines_every_chunking),   T(test_lines_random),
      T(test_lines_finish_resets),    T(test_lines_spanning_feeds),
      T(test_lines_callback_stop),    T(test_lines_bad_input),
      T(test_lines_enomem),           T(test_lines_max_every_chunking),
      T(test_lines_max_boundaries),   T(test_lines_max_refusals),
      T(test_lines_max_bounded),      T(test_lines_reenter_refused),
      T(test_lines_free_in_callback),
  };
  return cmocka_run_group_tests_name("lines", tests, NULL, NULL);
}
