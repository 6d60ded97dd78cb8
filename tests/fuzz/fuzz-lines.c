/* SPDX-License-Identifier: ISC */
/*
 * fuzz-lines.c - libFuzzer harness for the line splitter (cuprum_lines_*).
 *
 * Input: byte 0 and 1 seed the chunking, and the top four bits of that
 * seed pick a line cap (cuprum_lines_set_max; 0: none, else 1..15 bytes);
 * byte 2 picks the delivery at which the callback asks to stop (0: never),
 * byte 3 the allocation that fails (0: none); the rest is the stream.  The
 * stream is fed in pseudo-random chunks (0..32 bytes, so "\r\n" often
 * straddles a feed) and finished; the deliveries must be those of a
 * reference splitter run over the whole stream at once, a capped line cut
 * into pieces of exactly the cap while more follows (each flagged by
 * cuprum_lines_partial), and under a cap no allocation after the handle's
 * may exceed the cap.
 */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

FUZZ_ALLOC_STATE;

/* The reference: the deliveries of the whole stream, as offsets. */
struct ref_line {
  size_t start;
  size_t len;
  int partial;
};

static size_t ref_split(const uint8_t *s, size_t n, struct ref_line *out)
{
  size_t count = 0;
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\n' && s[i] != '\r')
      continue;
    out[count].start = start;
    out[count].len = i - start;
    out[count].partial = 0;
    count++;
    if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
      i++;
    start = i + 1;
  }
  if (start < n) {
    out[count].start = start;
    out[count].len = n - start;
    out[count].partial = 0;
    count++;
  }
  return count;
}

/* The reference lines cut at `cap` (0: none) into `out`; returns the count
 * of deliveries. */
static size_t ref_cut(const struct ref_line *lines, size_t n, size_t cap,
                      struct ref_line *out)
{
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    size_t start = lines[i].start;
    size_t rest = lines[i].len;
    for (; cap != 0 && rest > cap; start += cap, rest -= cap)
      out[count++] = (struct ref_line){start, cap, 1};
    out[count++] = (struct ref_line){start, rest, 0};
  }
  return count;
}

struct seen {
  cuprum_lines *lines;
  const uint8_t *stream;
  const struct ref_line *ref;
  size_t n_ref;
  size_t got;
  size_t stop_at; /* 1-based line whose callback returns 1; 0: never */
};

static int on_line(void *ctx, const char *line, size_t len)
{
  struct seen *s = ctx;
  FUZZ_CHECK(s->got < s->n_ref);
  FUZZ_CHECK(len == s->ref[s->got].len);
  FUZZ_CHECK(len == 0 ||
             memcmp(line, s->stream + s->ref[s->got].start, len) == 0);
  FUZZ_CHECK(cuprum_lines_partial(s->lines) == s->ref[s->got].partial);
  /* The splitter refuses its own callback's calls that would change it. */
  FUZZ_CHECK(cuprum_lines_set_max(s->lines, 7) == -EBUSY);
  FUZZ_CHECK(cuprum_lines_feed(s->lines, "x\n", 2) == -EBUSY);
  FUZZ_CHECK(cuprum_lines_finish(s->lines) == -EBUSY);
  s->got++;
  return s->got == s->stop_at ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_in in = {data, size};
  uint32_t seed = fuzz_u16(&in);
  size_t cap = seed >> 12;
  struct seen s;
  struct ref_line *whole;
  struct ref_line *ref;
  cuprum_lines *lines = NULL;
  unsigned fail_at;
  size_t off = 0;
  int rc = 0;

  memset(&s, 0, sizeof(s));
  s.stop_at = fuzz_byte(&in);
  fail_at = fuzz_byte(&in);
  s.stream = in.p;
  /* At most one line per byte (or one unended), and under a cap at most
   * one more piece per byte. */
  whole = malloc((in.n + 1) * sizeof(*whole));
  ref = malloc((2 * in.n + 1) * sizeof(*ref));
  if (whole == NULL || ref == NULL) {
    free(whole);
    free(ref);
    return 0;
  }
  s.ref = ref;
  s.n_ref = ref_cut(whole, ref_split(in.p, in.n, whole), cap, ref);

  fuzz_alloc_arm(fail_at, 0);
  rc = cuprum_lines_new(&lines, on_line, &s);
  if (rc == -ENOMEM) {
    FUZZ_CHECK(fail_at != 0 && lines == NULL);
    goto out;
  }
  FUZZ_CHECK(rc == 0 && lines != NULL);
  s.lines = lines;
  FUZZ_CHECK(cuprum_lines_partial(lines) == 0);
  FUZZ_CHECK(cuprum_lines_set_max(lines, 0) == -EINVAL);
  if (cap != 0)
    FUZZ_CHECK(cuprum_lines_set_max(lines, cap) == 0);
  fuzz_alloc_state.largest = 0;
  FUZZ_CHECK(cuprum_lines_feed(NULL, "", 0) == CUPRUM_ENULL);
  FUZZ_CHECK(cuprum_lines_feed(lines, NULL, 1) == CUPRUM_ENULL);
  while (off < in.n) {
    size_t chunk = fuzz_next(&seed) % 33;
    if (chunk > in.n - off)
      chunk = in.n - off;
    rc = cuprum_lines_feed(lines, in.p + off, chunk);
    off += chunk;
    if (rc != 0)
      break;
  }
  if (rc == 0)
    rc = cuprum_lines_finish(lines);
  FUZZ_CHECK(cap == 0 || fuzz_alloc_state.largest <= cap);
  if (rc == 0) {
    /* Every line delivered, none stopped, no allocation failed. */
    FUZZ_CHECK(s.got == s.n_ref);
    FUZZ_CHECK(s.stop_at == 0 || s.stop_at > s.n_ref);
  } else if (rc == CUPRUM_ESTOPPED) {
    FUZZ_CHECK(s.got == s.stop_at);
  } else {
    FUZZ_CHECK(rc == -ENOMEM && fuzz_alloc_state.failed == 1);
    FUZZ_CHECK(s.got <= s.n_ref);
  }
  /* A finished splitter starts a new stream: one line, then nothing. */
  if (rc == 0) {
    s.stream = (const uint8_t *)"x\r";
    struct ref_line one = {0, 1, 0};
    s.ref = &one;
    s.n_ref = 1;
    s.got = 0;
    s.stop_at = 0;
    fuzz_alloc_disarm();
    FUZZ_CHECK(cuprum_lines_feed(lines, "x\r", 2) == 0);
    FUZZ_CHECK(cuprum_lines_finish(lines) == 0);
    FUZZ_CHECK(s.got == 1);
  }
out:
  cuprum_lines_free(lines);
  fuzz_alloc_disarm();
  free(whole);
  free(ref);
  return 0;
}
