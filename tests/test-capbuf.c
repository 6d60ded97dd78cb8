/* SPDX-License-Identifier: ISC */
/*
 * test-capbuf.c - the capture buffer contract: exact bytes at every cap
 * boundary in both modes and under any chunking, bounded memory, reads
 * that do not wait, ASCII tracking, the storage hook, detach, bad input,
 * and allocation failure at every allocation without leaks.
 */
#include "config.h"

#include "cuprum.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static cuprum_capbuf *make(size_t max, int mode)
{
  cuprum_capbuf *cb = NULL;
  assert_int_equal(cuprum_capbuf_new(&cb), 0);
  assert_non_null(cb);
  assert_int_equal(cuprum_capbuf_set_limit(cb, max, mode), 0);
  return cb;
}

/* Feeds `len` bytes of `src` in chunks of `step` bytes. */
static void feed_all(cuprum_capbuf *cb, const char *src, size_t len,
                     size_t step)
{
  for (size_t off = 0; off < len; off += step) {
    size_t n = len - off < step ? len - off : step;
    assert_int_equal(cuprum_capbuf_feed(cb, src + off, n), 0);
  }
}

/* Takes `len` bytes of `src` in chunks through reserve and commit. */
static void commit_all(cuprum_capbuf *cb, const char *src, size_t len,
                       size_t step)
{
  for (size_t off = 0; off < len; off += step) {
    size_t n = len - off < step ? len - off : step;
    void *space;
    assert_int_equal(cuprum_capbuf_reserve(cb, step, &space), 0);
    memcpy(space, src + off, n);
    assert_int_equal(cuprum_capbuf_commit(cb, n), 0);
  }
}

static void assert_kept(const cuprum_capbuf *cb, const char *want, size_t len)
{
  size_t got_len = 99;
  const char *got = cuprum_capbuf_data(cb, &got_len);
  assert_int_equal(got_len, len);
  if (got == NULL) {
    assert_int_equal(len, 0);
    return;
  }
  assert_memory_equal(got, want, len);
  assert_int_equal(got[len], '\0');
}

/* Every cap from 0 to past the input, both modes, feeding or committing
 * in chunks of 1, 3, the input's size and more. */
static void test_capbuf_boundaries(void **state)
{
  static const char in[] = "abcdefghij";
  const size_t n = sizeof(in) - 1;
  static const size_t caps[] = {0, 1, 9, 10, 11, CUPRUM_CAP_UNLIMITED};
  static const size_t steps[] = {1, 3, 10, 64};
  (void)state;

  for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
    for (int mode = CUPRUM_CAP_HEAD; mode <= CUPRUM_CAP_TAIL; mode++)
      for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++)
        for (int how = 0; how < 2; how++) {
          cuprum_capbuf *cb = make(caps[c], mode);
          size_t keep = caps[c] < n ? caps[c] : n;
          const char *want = mode == CUPRUM_CAP_HEAD ? in : in + (n - keep);
          if (how == 0)
            feed_all(cb, in, n, steps[s]);
          else
            commit_all(cb, in, n, steps[s]);
          assert_kept(cb, want, keep);
          assert_int_equal(cuprum_capbuf_total(cb), n);
          assert_int_equal(cuprum_capbuf_ascii(cb), 1);
          cuprum_capbuf_free(cb);
        }
}

static void fill(char *buf, size_t len)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = (char)(i * 7 % 251);
}

/* A long stream under a cap: the right bytes, and a block that never
 * outgrows the cap (head: cap + one chunk; tail: twice that). */
static void test_capbuf_bounded_memory(void **state)
{
  const size_t total = 8u << 20;
  const size_t max = 100000;
  const size_t step = 65536;
  char *src = malloc(total);
  (void)state;

  assert_non_null(src);
  fill(src, total);
  for (int mode = CUPRUM_CAP_HEAD; mode <= CUPRUM_CAP_TAIL; mode++) {
    for (int how = 0; how < 2; how++) {
      cuprum_capbuf *cb;
      test_use_counter(0);
      cb = make(max, mode);
      if (how == 0)
        feed_all(cb, src, total, step);
      else
        commit_all(cb, src, total, step);
      assert_kept(cb, mode == CUPRUM_CAP_HEAD ? src : src + total - max, max);
      assert_int_equal(cuprum_capbuf_total(cb), total);
      assert_true(test_counter.largest <=
                  (mode == CUPRUM_CAP_HEAD ? 1 : 2) * max + step + 1);
      cuprum_capbuf_free(cb);
      assert_int_equal(test_counter.live, 0);
      cuprum_set_allocator(NULL);
    }
  }
  free(src);
}

/* Without a cap the block grows geometrically: few reallocations. */
static void test_capbuf_unlimited_growth(void **state)
{
  const size_t total = 16u << 20;
  char *src = malloc(total);
  cuprum_capbuf *cb;
  (void)state;

  assert_non_null(src);
  fill(src, total);
  test_use_counter(0);
  cb = make(CUPRUM_CAP_UNLIMITED, CUPRUM_CAP_HEAD);
  commit_all(cb, src, total, 4096);
  assert_kept(cb, src, total);
  assert_true(test_counter.calls < 40);
  cuprum_capbuf_free(cb);
  assert_int_equal(test_counter.live, 0);
  cuprum_set_allocator(NULL);
  free(src);
}

/* ASCII is tracked over the kept bytes; a tail chunk that replaces all
 * kept bytes forgets what came before. */
static void test_capbuf_ascii(void **state)
{
  cuprum_capbuf *cb = make(CUPRUM_CAP_UNLIMITED, CUPRUM_CAP_HEAD);
  (void)state;

  assert_int_equal(cuprum_capbuf_ascii(cb), 1);
  assert_int_equal(cuprum_capbuf_feed(cb, "plain text\n", 11), 0);
  assert_int_equal(cuprum_capbuf_ascii(cb), 1);
  assert_int_equal(cuprum_capbuf_feed(cb, "caf\xc3\xa9", 5), 0);
  assert_int_equal(cuprum_capbuf_ascii(cb), 0);
  cuprum_capbuf_free(cb);

  /* Bytes past a head cap are not kept, so they do not count. */
  cb = make(4, CUPRUM_CAP_HEAD);
  assert_int_equal(cuprum_capbuf_feed(cb, "abcd\xff", 5), 0);
  assert_int_equal(cuprum_capbuf_ascii(cb), 1);
  cuprum_capbuf_free(cb);

  cb = make(4, CUPRUM_CAP_TAIL);
  assert_int_equal(cuprum_capbuf_feed(cb, "\xff", 1), 0);
  assert_int_equal(cuprum_capbuf_ascii(cb), 0);
  assert_int_equal(cuprum_capbuf_feed(cb, "wxyz", 4), 0);
  assert_int_equal(cuprum_capbuf_ascii(cb), 1);
  assert_kept(cb, "wxyz", 4);
  assert_int_equal(cuprum_capbuf_ascii(NULL), 0);
  cuprum_capbuf_free(cb);
}

/* Reads go straight into the block, do not wait, and report EOF. */
static void test_capbuf_read(void **state)
{
  int p[2];
  cuprum_capbuf *cb = make(5, CUPRUM_CAP_TAIL);
  (void)state;

  test_pipe(p);
  assert_int_equal(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK), 0);
  assert_int_equal(cuprum_capbuf_read(cb, p[0], 4096), -EAGAIN);
  assert_int_equal(write(p[1], "hello, world", 12), 12);
  assert_int_equal(cuprum_capbuf_read(cb, p[0], 4096), 12);
  assert_kept(cb, "world", 5);
  assert_int_equal(cuprum_capbuf_total(cb), 12);
  test_close(&p[1]);
  assert_int_equal(cuprum_capbuf_read(cb, p[0], 4096), 0);
  assert_int_equal(cuprum_capbuf_read(cb, -1, 4096), -EBADF);
  assert_int_equal(cuprum_capbuf_read(cb, p[0], 0), CUPRUM_EBUFSIZE);
  assert_int_equal(cuprum_capbuf_read(NULL, p[0], 4096), CUPRUM_ENULL);
  assert_kept(cb, "world", 5);
  test_close(&p[0]);
  cuprum_capbuf_free(cb);
}

/* A storage hook that hands out its own blocks, rounded up. */
static struct {
  long grows;
  long releases;
  int fail;
  void *block;
} hook;

static void *hook_storage(void *ctx, void *data, size_t len, size_t *size)
{
  void *nb;
  assert_ptr_equal(ctx, &hook);
  assert_ptr_equal(data, hook.block);
  if (*size == 0) {
    hook.releases++;
    free(data);
    hook.block = NULL;
    return NULL;
  }
  if (hook.fail)
    return NULL;
  hook.grows++;
  *size = (*size + 1023) & ~(size_t)1023;
  nb = malloc(*size);
  if (nb == NULL)
    return NULL;
  if (len > 0)
    memcpy(nb, data, len);
  free(data);
  hook.block = nb;
  return nb;
}

static void test_capbuf_storage_hook(void **state)
{
  char src[5000];
  cuprum_capbuf *cb = NULL;
  cuprum_capture out;
  void *space;
  (void)state;

  memset(&hook, 0, sizeof(hook));
  fill(src, sizeof(src));
  assert_int_equal(cuprum_capbuf_new(&cb), 0);
  assert_int_equal(cuprum_capbuf_set_storage(cb, hook_storage, &hook), 0);
  feed_all(cb, src, sizeof(src), 700);
  assert_kept(cb, src, sizeof(src));
  assert_ptr_equal(cuprum_capbuf_data(cb, NULL), hook.block);
  assert_true(hook.grows >= 1);

  /* A hook that fails leaves everything as it was. */
  hook.fail = 1;
  assert_int_equal(cuprum_capbuf_reserve(cb, 1u << 20, &space), -ENOMEM);
  assert_null(space);
  assert_int_equal(cuprum_capbuf_feed(cb, src, sizeof(src)), -ENOMEM);
  assert_kept(cb, src, sizeof(src));
  assert_int_equal(cuprum_capbuf_total(cb), sizeof(src));
  hook.fail = 0;

  /* The block can change hands only while there is none. */
  assert_int_equal(cuprum_capbuf_set_storage(cb, NULL, NULL), CUPRUM_ESTATE);

  /* Detach hands the hook's block over; the buffer starts again. */
  assert_int_equal(cuprum_capbuf_detach(cb, &out), 0);
  assert_ptr_equal(out.data, hook.block);
  assert_int_equal(out.len, sizeof(src));
  assert_int_equal(out.total, sizeof(src));
  assert_memory_equal(out.data, src, sizeof(src));
  assert_int_equal(cuprum_capbuf_total(cb), 0);
  assert_null(cuprum_capbuf_data(cb, NULL));
  free(out.data);
  hook.block = NULL;

  /* Freeing releases a block through the hook. */
  assert_int_equal(cuprum_capbuf_feed(cb, "x", 1), 0);
  cuprum_capbuf_free(cb);
  assert_int_equal(hook.releases, 1);
  assert_null(hook.block);
}

/* Detach without a hook: the block is the library allocator's, released
 * with cuprum_capture_release; a tail is compacted to the block's start. */
static void test_capbuf_detach(void **state)
{
  cuprum_capbuf *cb;
  cuprum_capture out;
  (void)state;

  test_use_counter(0);
  cb = make(3, CUPRUM_CAP_TAIL);
  assert_int_equal(cuprum_capbuf_feed(cb, "ab", 2), 0);
  assert_int_equal(cuprum_capbuf_feed(cb, "cde", 3), 0);
  assert_int_equal(cuprum_capbuf_feed(cb, "f", 1), 0);
  assert_int_equal(cuprum_capbuf_detach(cb, &out), 0);
  assert_int_equal(out.len, 3);
  assert_int_equal(out.total, 6);
  assert_memory_equal(out.data, "def", 4);
  assert_int_equal(out.tee_error, 0);
  cuprum_capture_release(&out);
  /* Empty again: the limit may change. */
  assert_int_equal(cuprum_capbuf_set_limit(cb, 1, CUPRUM_CAP_HEAD), 0);
  assert_int_equal(cuprum_capbuf_detach(cb, &out), 0);
  assert_null(out.data);
  assert_int_equal(out.len, 0);
  cuprum_capbuf_free(cb);
  assert_int_equal(test_counter.live, 0);
  cuprum_set_allocator(NULL);
}

/* Every allocation, failing in turn: -ENOMEM, the kept bytes intact, and
 * nothing leaked. */
static void test_capbuf_enomem(void **state)
{
  char src[300000];
  (void)state;

  fill(src, sizeof(src));
  for (long fail_at = 1; fail_at < 64; fail_at++) {
    cuprum_capbuf *cb = NULL;
    size_t done = 0;
    int rc = 0;
    test_use_counter(fail_at);
    rc = cuprum_capbuf_new(&cb);
    if (rc < 0) {
      assert_int_equal(rc, -ENOMEM);
      assert_null(cb);
      assert_int_equal(test_counter.live, 0);
      cuprum_set_allocator(NULL);
      continue;
    }
    while (done < sizeof(src)) {
      rc = cuprum_capbuf_feed(cb, src + done, 10000);
      if (rc < 0)
        break;
      done += 10000;
    }
    if (rc < 0) {
      assert_int_equal(rc, -ENOMEM);
      assert_kept(cb, src, done);
      assert_int_equal(cuprum_capbuf_total(cb), done);
    }
    cuprum_capbuf_free(cb);
    assert_int_equal(test_counter.live, 0);
    cuprum_set_allocator(NULL);
  }
}

static void test_capbuf_bad_input(void **state)
{
  cuprum_capbuf *cb = make(CUPRUM_CAP_UNLIMITED, CUPRUM_CAP_HEAD);
  cuprum_capture out;
  void *space = &space;
  size_t len = 7;
  (void)state;

  assert_int_equal(cuprum_capbuf_new(NULL), CUPRUM_ENULL);
  cuprum_capbuf_free(NULL);
  assert_int_equal(cuprum_capbuf_set_storage(NULL, NULL, NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_capbuf_set_limit(NULL, 1, CUPRUM_CAP_HEAD),
                   CUPRUM_ENULL);
  assert_int_equal(cuprum_capbuf_set_limit(cb, 1, 2), CUPRUM_EFLAGS);
  assert_int_equal(cuprum_capbuf_set_limit(cb, 1, -1), CUPRUM_EFLAGS);
  assert_int_equal(cuprum_capbuf_reserve(NULL, 1, &space), CUPRUM_ENULL);
  assert_int_equal(cuprum_capbuf_reserve(cb, 1, NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_capbuf_reserve(cb, 0, &space), CUPRUM_EBUFSIZE);
  assert_null(space);
  assert_int_equal(cuprum_capbuf_commit(NULL, 0), CUPRUM_ENULL);
  /* Nothing reserved: only 0 bytes may be committed. */
  assert_int_equal(cuprum_capbuf_commit(cb, 1), CUPRUM_ESTATE);
  assert_int_equal(cuprum_capbuf_commit(cb, 0), 0);
  assert_int_equal(cuprum_capbuf_reserve(cb, 4, &space), 0);
  assert_int_equal(cuprum_capbuf_commit(cb, 5), CUPRUM_ESTATE);
  memcpy(space, "abcd", 4);
  assert_int_equal(cuprum_capbuf_commit(cb, 4), 0);
  /* A reservation is used once. */
  assert_int_equal(cuprum_capbuf_commit(cb, 1), CUPRUM_ESTATE);
  assert_int_equal(cuprum_capbuf_feed(NULL, "x", 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_capbuf_feed(cb, NULL, 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_capbuf_feed(cb, NULL, 0), 0);
  {
    /* NULL with 0 under a tail cap of 0 too, where the chunk "fills the
     * cap": no undefined behaviour, nothing counted. */
    cuprum_capbuf *zero = make(0, CUPRUM_CAP_TAIL);
    assert_int_equal(cuprum_capbuf_feed(zero, NULL, 0), 0);
    assert_int_equal(cuprum_capbuf_total(zero), 0);
    cuprum_capbuf_free(zero);
  }
  /* The limit is fixed once bytes came in. */
  assert_int_equal(cuprum_capbuf_set_limit(cb, 1, CUPRUM_CAP_HEAD),
                   CUPRUM_ESTATE);
  assert_null(cuprum_capbuf_data(NULL, &len));
  assert_int_equal(len, 0);
  assert_int_equal(cuprum_capbuf_total(NULL), 0);
  assert_int_equal(cuprum_capbuf_detach(NULL, &out), CUPRUM_ENULL);
  assert_int_equal(cuprum_capbuf_detach(cb, NULL), CUPRUM_ENULL);
  assert_kept(cb, "abcd", 4);
  cuprum_capbuf_free(cb);
}

/* A storage hook that calls back into its own buffer: every call that
 * would change it is refused, the readers still answer for the buffer as
 * it was, and at grow `free_at` (0: never) it frees the buffer, then
 * grants the block or, with `fail`, refuses it. */
struct reenter_hook {
  cuprum_capbuf *cb;
  void *block;
  long grows;
  long releases;
  long free_at;
  int fail;
  int fd;
};

static void *reenter_storage(void *ctx, void *data, size_t len, size_t *size)
{
  struct reenter_hook *h = ctx;
  cuprum_capture out;
  size_t kept = 99;
  void *space = &space;
  void *nb;

  assert_ptr_equal(data, h->block);
  /* The readers: the buffer as the call found it. */
  assert_ptr_equal(cuprum_capbuf_data(h->cb, &kept), data);
  assert_int_equal(kept, data == NULL ? 0 : len);
  /* Arguments first, then -EBUSY, and nothing changes. */
  assert_int_equal(cuprum_capbuf_reserve(h->cb, 0, &space), CUPRUM_EBUFSIZE);
  assert_int_equal(cuprum_capbuf_reserve(h->cb, 64, &space), -EBUSY);
  assert_null(space);
  assert_int_equal(cuprum_capbuf_commit(h->cb, 0), -EBUSY);
  assert_int_equal(cuprum_capbuf_feed(h->cb, NULL, 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_capbuf_feed(h->cb, "abc", 3), -EBUSY);
  assert_int_equal(cuprum_capbuf_read(h->cb, h->fd, 0), CUPRUM_EBUFSIZE);
  assert_int_equal(cuprum_capbuf_read(h->cb, h->fd, 4096), -EBUSY);
  assert_int_equal(cuprum_capbuf_detach(h->cb, &out), -EBUSY);
  assert_null(out.data);
  assert_int_equal(cuprum_capbuf_set_limit(h->cb, 4, 7), CUPRUM_EFLAGS);
  assert_int_equal(cuprum_capbuf_set_limit(h->cb, 4, CUPRUM_CAP_HEAD), -EBUSY);
  assert_int_equal(cuprum_capbuf_set_storage(h->cb, NULL, NULL), -EBUSY);
  if (*size == 0) {
    h->releases++;
    /* The buffer is being freed already: one free too many, ignored. */
    cuprum_capbuf_free(h->cb);
    free(data);
    h->block = NULL;
    return NULL;
  }
  h->grows++;
  if (h->grows == h->free_at) {
    cuprum_capbuf_free(h->cb);
    /* Deferred: the buffer still answers until the hook returns. */
    assert_int_equal(cuprum_capbuf_feed(h->cb, "abc", 3), -EBUSY);
    if (h->fail)
      return NULL;
  }
  *size = (*size + 1023) & ~(size_t)1023;
  nb = malloc(*size);
  assert_non_null(nb);
  if (len > 0)
    memcpy(nb, data, len);
  free(data);
  h->block = nb;
  return nb;
}

static void reenter_hook_init(struct reenter_hook *h, int fd)
{
  memset(h, 0, sizeof(*h));
  h->fd = fd;
  test_use_counter(0);
  assert_int_equal(cuprum_capbuf_new(&h->cb), 0);
  assert_int_equal(cuprum_capbuf_set_storage(h->cb, reenter_storage, h), 0);
}

/* Calls on the buffer from inside its storage hook that would change it
 * are refused with -EBUSY and change nothing: fed, committed and read
 * bytes all arrive, in order, through every grow. */
static void test_capbuf_reenter_refused(void **state)
{
  char src[9000];
  struct reenter_hook h;
  int p[2];
  void *space;
  (void)state;

  fill(src, sizeof(src));
  test_pipe(p);
  reenter_hook_init(&h, p[0]);
  feed_all(h.cb, src, 3000, 700);
  commit_all(h.cb, src + 3000, 3000, 900);
  assert_int_equal(write(p[1], src + 6000, 3000), 3000);
  for (size_t got = 0; got < 3000;) {
    long n = cuprum_capbuf_read(h.cb, p[0], 1000);
    assert_true(n > 0);
    got += (size_t)n;
  }
  assert_true(h.grows >= 3);
  assert_kept(h.cb, src, sizeof(src));
  assert_int_equal(cuprum_capbuf_total(h.cb), sizeof(src));
  /* Usable as ever: a reserve that needs no grow, a detach. */
  assert_int_equal(cuprum_capbuf_reserve(h.cb, 1, &space), 0);
  assert_int_equal(cuprum_capbuf_commit(h.cb, 0), 0);
  cuprum_capbuf_free(h.cb);
  assert_int_equal(h.releases, 1);
  assert_null(h.block);
  assert_int_equal(test_counter.live, 0);
  cuprum_set_allocator(NULL);
  test_close(&p[0]);
  test_close(&p[1]);
}

/* A free from inside the storage hook waits for the call that ran it:
 * _reserve, _feed and _read (first grow or a later one, the hook granting
 * the block or not) return CUPRUM_ESTOPPED, take nothing (a read reads
 * nothing), and release the buffer and its block through the hook. */
static void test_capbuf_free_in_hook(void **state)
{
  char src[3000];
  char rest[8];
  struct reenter_hook h;
  int p[2];
  (void)state;

  fill(src, sizeof(src));
  for (int call = 0; call < 3; call++)
    for (long at = 1; at <= 2; at++)
      for (int fail = 0; fail <= 1; fail++) {
        void *space = &space;
        long rc;
        test_pipe(p);
        reenter_hook_init(&h, p[0]);
        h.free_at = at;
        h.fail = fail;
        if (at == 2)
          assert_int_equal(cuprum_capbuf_feed(h.cb, src, 10), 0);
        assert_int_equal(write(p[1], src, 8), 8);
        if (call == 0) {
          rc = cuprum_capbuf_reserve(h.cb, sizeof(src), &space);
          assert_null(space);
        } else if (call == 1) {
          rc = cuprum_capbuf_feed(h.cb, src, sizeof(src));
        } else {
          rc = cuprum_capbuf_read(h.cb, p[0], sizeof(src));
        }
        assert_int_equal(rc, CUPRUM_ESTOPPED);
        assert_int_equal(h.grows, at);
        /* A block granted, or one held before, went back to the hook. */
        assert_int_equal(h.releases, at == 2 || !fail ? 1 : 0);
        assert_null(h.block);
        assert_int_equal(test_counter.live, 0);
        cuprum_set_allocator(NULL);
        /* The read did not happen: the bytes wait in the pipe. */
        assert_int_equal(read(p[0], rest, sizeof(rest)), 8);
        test_close(&p[0]);
        test_close(&p[1]);
      }
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_fd_setup, test_fd_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_capbuf_boundaries),
      T(test_capbuf_bounded_memory),
      T(test_capbuf_unlimited_growth),
      T(test_capbuf_ascii),
      T(test_capbuf_read),
      T(test_capbuf_storage_hook),
      T(test_capbuf_detach),
      T(test_capbuf_enomem),
      T(test_capbuf_bad_input),
      T(test_capbuf_reenter_refused),
      T(test_capbuf_free_in_hook),
  };
  return cmocka_run_group_tests_name("capbuf", tests, NULL, NULL);
}
