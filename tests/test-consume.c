/* SPDX-License-Identifier: ISC */
/*
 * test-consume.c - the consume contract: byte-exact capture at any size,
 * geometric growth, tee (and a tee that fails), chunk callbacks, EINTR,
 * EAGAIN, bad input, and allocation failure without leaks.
 */
#include "config.h"

#include "cuprum.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

/* A helper child writing the test pattern into a pipe the test reads. */
struct source {
  int fd; /* the read end */
  pid_t pid;
};

/* Starts the helper with `args`, its stdout into a new pipe. */
static struct source source_start(const char *const *args)
{
  struct source src;
  int p[2];

  test_pipe(p);
  src.pid = test_spawn(-1, p[1], args);
  test_close(&p[1]);
  src.fd = p[0];
  return src;
}

/* Starts "emit size": `size` bytes of the pattern, then end of file. */
static struct source emit(uint64_t size)
{
  char arg[32];
  const char *args[] = {"emit", arg, NULL};

  snprintf(arg, sizeof(arg), "%llu", (unsigned long long)size);
  return source_start(args);
}

/* Closes the read end and checks how the helper ended: 0, or 128 + SIGPIPE
 * when the test stopped reading before the end. */
static void source_end(struct source *src, int status)
{
  test_close(&src->fd);
  assert_int_equal(test_wait(src->pid), status);
}

static void capture_size(uint64_t size, size_t read_size)
{
  struct source src = emit(size);
  cuprum_consume_opts o;
  cuprum_capture cap;

  cuprum_consume_opts_init(&o);
  o.read_size = read_size;
  assert_int_equal(cuprum_consume(src.fd, &o, &cap), 0);
  assert_int_equal(cap.len, size);
  assert_int_equal(cap.total, size);
  assert_int_equal(cap.tee_error, 0);
  if (size > 0) {
    assert_non_null(cap.data);
    assert_true(test_pattern_check(cap.data, 0, cap.len));
    assert_int_equal(cap.data[cap.len], '\0');
  }
  assert_true(fcntl(src.fd, F_GETFD) != -1);
  cuprum_capture_release(&cap);
  assert_null(cap.data);
  assert_int_equal(cap.len, 0);
  source_end(&src, 0);
}

static void test_consume_sizes(void **state)
{
  (void)state;
  capture_size(0, CUPRUM_BUFFER_SIZE_DEFAULT);
  capture_size(1, CUPRUM_BUFFER_SIZE_DEFAULT);
  capture_size(1024, CUPRUM_BUFFER_SIZE_DEFAULT);
  capture_size(65535, CUPRUM_BUFFER_SIZE_DEFAULT);
  capture_size(65536, CUPRUM_BUFFER_SIZE_DEFAULT);
  capture_size(65537, CUPRUM_BUFFER_SIZE_DEFAULT);
  capture_size(3000, 1);
  capture_size(100000, CUPRUM_BUFFER_SIZE_MAX);
}

static void test_consume_big(void **state)
{
  (void)state;
  capture_size(test_big_size(), CUPRUM_BUFFER_SIZE_DEFAULT);
}

/* The capture buffer grows geometrically: a 64 MiB capture in 64 KiB reads
 * takes a logarithmic number of reallocations, not one per chunk. */
static void test_consume_geometric_growth(void **state)
{
  struct source src = emit(64 * MiB);
  cuprum_capture cap;

  (void)state;
  test_use_counter(0);
  assert_int_equal(cuprum_consume(src.fd, NULL, &cap), 0);
  assert_int_equal(cap.len, 64 * MiB);
  assert_true(test_counter.calls <= 14);
  assert_true(test_pattern_check(cap.data, 0, cap.len));
  cuprum_capture_release(&cap);
  assert_int_equal(test_counter.live, 0);
  cuprum_set_allocator(NULL);
  source_end(&src, 0);
}

/* A large read_size sizes the first buffer only: a capture that fits in it
 * never asks for more.  (Each read used to want read_size bytes of free
 * room, so 1 GiB reads doubled the buffer to 2 GiB after the first chunk,
 * which a 32-bit process cannot get.) */
static void test_consume_large_read_size(void **state)
{
  struct source src = emit(1000000);
  cuprum_consume_opts o;
  cuprum_capture cap;

  (void)state;
  cuprum_consume_opts_init(&o);
  o.read_size = CUPRUM_BUFFER_SIZE_MAX;
  test_use_counter(0);
  assert_int_equal(cuprum_consume(src.fd, &o, &cap), 0);
  assert_int_equal(cap.len, 1000000);
  assert_true(test_counter.largest <= CUPRUM_BUFFER_SIZE_MAX + 1);
  assert_true(test_pattern_check(cap.data, 0, cap.len));
  cuprum_capture_release(&cap);
  assert_int_equal(test_counter.live, 0);
  cuprum_set_allocator(NULL);
  source_end(&src, 0);
}

/* Every allocation that can fail does so cleanly: -ENOMEM, the bytes read
 * so far kept, nothing leaked, the descriptor still open. */
static void test_consume_enomem(void **state)
{
  (void)state;
  for (long at = 1; at <= 6; at++) {
    struct source src = emit(MiB);
    cuprum_capture cap;
    size_t cap_len;
    int rc;

    test_use_counter(at);
    rc = cuprum_consume(src.fd, NULL, &cap);
    if (rc == 0) {
      /* Only the final trim failed, which is not an error. */
      assert_int_equal(cap.len, MiB);
    } else {
      assert_int_equal(rc, -ENOMEM);
      assert_true(cap.len <= MiB);
      assert_true(test_pattern_check(cap.data, 0, cap.len));
    }
    cap_len = cap.len;
    cuprum_capture_release(&cap);
    assert_int_equal(test_counter.live, 0);
    cuprum_set_allocator(NULL);
    source_end(&src, cap_len == MiB ? 0 : 128 + SIGPIPE);
  }
}

static void test_consume_tee(void **state)
{
  struct source src = emit(5000000);
  cuprum_consume_opts o;
  cuprum_capture cap;
  pid_t summer;
  int sum_out;
  int teep[2];
  uint64_t len;
  uint64_t check;

  (void)state;
  test_pipe(teep);
  test_sum_start(teep[0], &summer, &sum_out);
  test_close(&teep[0]);
  cuprum_consume_opts_init(&o);
  o.tee_fd = teep[1];
  assert_int_equal(cuprum_consume(src.fd, &o, &cap), 0);
  assert_int_equal(cap.len, 5000000);
  assert_int_equal(cap.tee_error, 0);
  assert_true(test_pattern_check(cap.data, 0, cap.len));
  assert_true(fcntl(teep[1], F_GETFD) != -1);
  test_close(&teep[1]);
  test_sum_finish(summer, sum_out, &len, &check);
  assert_int_equal(len, 5000000);
  assert_int_equal(check, test_pattern_checksum(5000000));
  cuprum_capture_release(&cap);
  source_end(&src, 0);
}

/* A tee whose reader went away: capture goes on, the error is reported,
 * and no SIGPIPE reaches the caller. */
static void test_consume_tee_epipe(void **state)
{
  struct source src = emit(2000000);
  cuprum_consume_opts o;
  cuprum_capture cap;
  sigset_t pending;
  int teep[2];

  (void)state;
  test_pipe(teep);
  test_close(&teep[0]);
  cuprum_consume_opts_init(&o);
  o.tee_fd = teep[1];
  assert_int_equal(cuprum_consume(src.fd, &o, &cap), 0);
  assert_int_equal(cap.len, 2000000);
  assert_int_equal(cap.tee_error, -EPIPE);
  assert_int_equal(sigpending(&pending), 0);
  assert_int_equal(sigismember(&pending, SIGPIPE), 0);
  cuprum_capture_release(&cap);
  test_close(&teep[1]);
  source_end(&src, 0);
}

struct chunks {
  uint64_t seen;
  int ok;
  long calls;
  long stop_after;
  int stop_code;
};

static int on_chunk(void *ctx, const char *data, size_t len)
{
  struct chunks *c = ctx;
  if (!test_pattern_check(data, c->seen, len))
    c->ok = 0;
  c->seen += len;
  c->calls++;
  if (c->stop_after > 0 && c->calls >= c->stop_after)
    return c->stop_code;
  return 0;
}

/* Without capture, chunks still reach the callback in order. */
static void test_consume_callback_no_capture(void **state)
{
  struct source src = emit(3000000);
  struct chunks c = {0, 1, 0, 0, 0};
  cuprum_consume_opts o;
  cuprum_capture cap;

  (void)state;
  cuprum_consume_opts_init(&o);
  o.flags = 0;
  o.read_size = 7777;
  o.on_chunk = on_chunk;
  o.on_chunk_ctx = &c;
  assert_int_equal(cuprum_consume(src.fd, &o, &cap), 0);
  assert_null(cap.data);
  assert_int_equal(cap.len, 0);
  assert_int_equal(cap.total, 3000000);
  assert_int_equal(c.seen, 3000000);
  assert_true(c.ok);
  cuprum_capture_release(&cap);
  source_end(&src, 0);
}

static void test_consume_callback_stop(void **state)
{
  (void)state;
  for (int positive = 0; positive <= 1; positive++) {
    struct source src = emit(3000000);
    struct chunks c = {0, 1, 0, 2, positive ? 7 : -ECANCELED};
    cuprum_consume_opts o;
    cuprum_capture cap;

    cuprum_consume_opts_init(&o);
    o.on_chunk = on_chunk;
    o.on_chunk_ctx = &c;
    assert_int_equal(cuprum_consume(src.fd, &o, &cap),
                     positive ? CUPRUM_ESTOPPED : -ECANCELED);
    assert_int_equal(c.calls, 2);
    /* The partial output is kept. */
    assert_int_equal(cap.len, c.seen);
    assert_true(test_pattern_check(cap.data, 0, cap.len));
    cuprum_capture_release(&cap);
    source_end(&src, 128 + SIGPIPE);
  }
}

/* An on_chunk callback that records whether SIGPIPE is blocked. */
static int mask_probe(void *ctx, const char *data, size_t len)
{
  int *blocked = ctx;
  sigset_t cur;

  (void)data;
  (void)len;
  if (sigprocmask(SIG_BLOCK, NULL, &cur) == 0 &&
      sigismember(&cur, SIGPIPE) == 1)
    *blocked = 1;
  return 0;
}

/* With a tee (alive, or whose reader went away), the callback still runs
 * with the caller's signal mask: SIGPIPE is blocked around the tee's own
 * writes only, so a SIGPIPE of the callback's writes is its own. */
static void test_consume_callback_keeps_the_mask(void **state)
{
  (void)state;
  for (int dead = 0; dead <= 1; dead++) {
    struct source src = emit(300000);
    cuprum_consume_opts o;
    cuprum_capture cap;
    sigset_t before;
    sigset_t after;
    int blocked = 0;
    int teep[2];
    pid_t summer = -1;
    int sum_out = -1;
    uint64_t len;
    uint64_t check;

    test_pipe(teep);
    if (!dead)
      test_sum_start(teep[0], &summer, &sum_out);
    test_close(&teep[0]);
    assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &before), 0);
    cuprum_consume_opts_init(&o);
    o.tee_fd = teep[1];
    o.on_chunk = mask_probe;
    o.on_chunk_ctx = &blocked;
    assert_int_equal(cuprum_consume(src.fd, &o, &cap), 0);
    assert_int_equal(cap.tee_error, dead ? -EPIPE : 0);
    assert_int_equal(blocked, 0);
    assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &after), 0);
    assert_int_equal(sigismember(&after, SIGPIPE),
                     sigismember(&before, SIGPIPE));
    test_close(&teep[1]);
    if (!dead)
      test_sum_finish(summer, sum_out, &len, &check);
    cuprum_capture_release(&cap);
    source_end(&src, 0);
  }
}

static void test_consume_eintr(void **state)
{
  const char *args[] = {"trickle", "100", "1", NULL};
  cuprum_capture cap;
  struct source src;

  (void)state;
  src = source_start(args);
  test_storm_start(2000);
  assert_int_equal(cuprum_consume(src.fd, NULL, &cap), 0);
  test_storm_stop();
  assert_true(test_storm_ticks > 10);
  assert_int_equal(cap.len, 100 * 4096);
  assert_true(test_pattern_check(cap.data, 0, cap.len));
  cuprum_capture_release(&cap);
  source_end(&src, 0);
}

static void test_consume_eagain(void **state)
{
  const char *args[] = {"trickle", "50", "2", NULL};
  struct source src = source_start(args);
  cuprum_capture cap;

  (void)state;
  assert_int_equal(fcntl(src.fd, F_SETFL, O_NONBLOCK), 0);
  assert_int_equal(cuprum_consume(src.fd, NULL, &cap), 0);
  assert_int_equal(cap.len, 50 * 4096);
  assert_true(test_pattern_check(cap.data, 0, cap.len));
  assert_true(fcntl(src.fd, F_GETFL) & O_NONBLOCK);
  cuprum_capture_release(&cap);
  source_end(&src, 0);
}

static void test_consume_bad_input(void **state)
{
  cuprum_consume_opts o;
  cuprum_capture cap;
  int p[2];
  int closed;

  (void)state;
  test_pipe(p);
  closed = p[1] + 50;
  assert_int_equal(cuprum_consume(p[0], NULL, NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_consume(-1, NULL, &cap), -EBADF);
  assert_null(cap.data);
  assert_int_equal(cuprum_consume(closed, NULL, &cap), -EBADF);
  cuprum_consume_opts_init(&o);
  o.read_size = 0;
  assert_int_equal(cuprum_consume(p[0], &o, &cap), CUPRUM_EBUFSIZE);
  o.read_size = CUPRUM_BUFFER_SIZE_MAX + 1;
  assert_int_equal(cuprum_consume(p[0], &o, &cap), CUPRUM_EBUFSIZE);
  cuprum_consume_opts_init(&o);
  o.flags = 0x40;
  assert_int_equal(cuprum_consume(p[0], &o, &cap), CUPRUM_EFLAGS);
  cuprum_consume_opts_init(&o);
  o.tee_fd = closed;
  assert_int_equal(cuprum_consume(p[0], &o, &cap), -EBADF);
  /* A read error keeps its errno. */
  assert_int_equal(cuprum_consume(p[1], NULL, &cap), -EBADF);
  cuprum_capture_release(&cap);
  cuprum_capture_release(NULL);
  cuprum_consume_opts_init(NULL);
  test_close(&p[0]);
  test_close(&p[1]);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_fd_setup, test_fd_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_consume_sizes),
      T(test_consume_big),
      T(test_consume_geometric_growth),
      T(test_consume_large_read_size),
      T(test_consume_enomem),
      T(test_consume_tee),
      T(test_consume_tee_epipe),
      T(test_consume_callback_no_capture),
      T(test_consume_callback_stop),
      T(test_consume_callback_keeps_the_mask),
      T(test_consume_eintr),
      T(test_consume_eagain),
      T(test_consume_bad_input),
  };
  return cmocka_run_group_tests_name("consume", tests, NULL, NULL);
}
