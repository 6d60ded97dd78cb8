/* SPDX-License-Identifier: ISC */
/*
 * test-pump.c - the pump contract: byte-exact copies with and without
 * splice, the splice fallback, EPIPE drain, EINTR, EAGAIN, buffer bounds,
 * bad descriptors, and descriptors left open.
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

/* source | pump | sum: the descriptors a pump under test copies between,
 * and the children at either end. */
struct route {
  int in;        /* what the pump reads: the source's pipe, or the test's */
  int out;       /* what the pump writes: the pipe sum reads */
  pid_t emitter; /* the helper writing into `in`, or 0 */
  pid_t summer;
  int sum_out;
};

/* Starts sum on a new pipe (r->out), and with args the helper running them
 * on another (r->in); without, r->in is -1 for the test to fill. */
static void route_start(struct route *r, const char *const *args)
{
  int up[2];
  int down[2];

  r->in = -1;
  r->emitter = 0;
  if (args != NULL) {
    test_pipe(up);
    r->emitter = test_spawn(-1, up[1], args);
    test_close(&up[1]);
    r->in = up[0];
  }
  test_pipe(down);
  test_sum_start(down[0], &r->summer, &r->sum_out);
  test_close(&down[0]);
  r->out = down[1];
}

/* Closes the pump's descriptors and checks that sum saw exactly the first
 * `size` bytes of the pattern and the source exited 0. */
static void route_finish(struct route *r, uint64_t size)
{
  uint64_t len;
  uint64_t check;

  test_close(&r->in);
  test_close(&r->out);
  test_sum_finish(r->summer, r->sum_out, &len, &check);
  if (r->emitter != 0)
    assert_int_equal(test_wait(r->emitter), 0);
  assert_int_equal(len, size);
  assert_int_equal(check, test_pattern_checksum(size));
}

/* emit SIZE | pump | sum, checked byte for byte through the checksum. */
static void pump_through(uint64_t size, size_t bufsize, unsigned flags,
                         int expect_spliced)
{
  char arg[32];
  const char *args[] = {"emit", arg, NULL};
  struct route r;
  cuprum_pump_stats st;

  snprintf(arg, sizeof(arg), "%llu", (unsigned long long)size);
  route_start(&r, args);
  assert_int_equal(cuprum_pump(r.in, r.out, bufsize, flags, &st), 0);
  assert_int_equal(st.delivered, size);
  assert_int_equal(st.received, size);
  assert_int_equal(st.writer_closed, 0);
  assert_int_equal(st.spliced, expect_spliced);
  /* The lent descriptors are still open. */
  assert_true(fcntl(r.in, F_GETFD) != -1);
  assert_true(fcntl(r.out, F_GETFD) != -1);
  route_finish(&r, size);
}

static void test_pump_small_splice(void **state)
{
  (void)state;
  pump_through(100000, CUPRUM_BUFFER_SIZE_DEFAULT, 0, 1);
}

static void test_pump_empty(void **state)
{
  (void)state;
  pump_through(0, CUPRUM_BUFFER_SIZE_DEFAULT, 0, 1);
}

static void test_pump_big_splice(void **state)
{
  (void)state;
  pump_through(test_big_size(), CUPRUM_BUFFER_SIZE_DEFAULT, 0, 1);
}

static void test_pump_big_copy(void **state)
{
  (void)state;
  pump_through(test_big_size(), CUPRUM_BUFFER_SIZE_DEFAULT,
               CUPRUM_PUMP_NO_SPLICE, 0);
}

static void test_pump_buffer_one_byte(void **state)
{
  (void)state;
  pump_through(5000, 1, CUPRUM_PUMP_NO_SPLICE, 0);
  pump_through(5000, 1, 0, 1);
}

static void test_pump_buffer_max(void **state)
{
  (void)state;
  pump_through(3 * MiB, CUPRUM_BUFFER_SIZE_MAX, CUPRUM_PUMP_NO_SPLICE, 0);
}

static void test_pump_buffer_bounds(void **state)
{
  int p[2];
  cuprum_pump_stats st;

  (void)state;
  test_pipe(p);
  assert_int_equal(cuprum_pump(p[0], p[1], 0, 0, &st), CUPRUM_EBUFSIZE);
  assert_int_equal(cuprum_pump(p[0], p[1], CUPRUM_BUFFER_SIZE_MAX + 1, 0, &st),
                   CUPRUM_EBUFSIZE);
  assert_int_equal(cuprum_pump(p[0], p[1], (size_t)-1, 0, NULL),
                   CUPRUM_EBUFSIZE);
  assert_int_equal(st.delivered, 0);
  test_close(&p[0]);
  test_close(&p[1]);
}

static void test_pump_bad_args(void **state)
{
  int p[2];
  int closed;

  (void)state;
  test_pipe(p);
  closed = dup(p[0]);
  test_close(&closed);
  closed = p[1] + 100;
  assert_int_equal(cuprum_pump(-1, p[1], 64, 0, NULL), -EBADF);
  assert_int_equal(cuprum_pump(p[0], -5, 64, 0, NULL), -EBADF);
  assert_int_equal(cuprum_pump(p[0], closed, 64, 0, NULL), -EBADF);
  assert_int_equal(cuprum_pump(closed, p[1], 64, 0, NULL), -EBADF);
  assert_int_equal(cuprum_pump(p[0], p[1], 64, 0x80, NULL), CUPRUM_EFLAGS);
  test_close(&p[0]);
  test_close(&p[1]);
}

/* A writer that goes away early: the pump drains the reader to EOF so the
 * emitter finishes normally, and nobody dies of SIGPIPE. */
static void drain_case(unsigned flags, int sigpipe_was_pending)
{
  const char *emit_args[] = {"emit", "8388608", NULL};
  const char *head_args[] = {"head", "1000", NULL};
  int up[2];
  int down[2];
  pid_t emitter;
  pid_t header;
  cuprum_pump_stats st;
  sigset_t pending;

  test_pipe(up);
  test_pipe(down);
  emitter = test_spawn(-1, up[1], emit_args);
  header = test_spawn(down[0], -1, head_args);
  test_close(&up[1]);
  test_close(&down[0]);

  /* head takes 1000 bytes and exits; 8 MiB cannot fit in the pipe, so the
   * pump surely meets the closed reader. */
  assert_int_equal(cuprum_pump(up[0], down[1], 4096, flags, &st), 0);
  assert_int_equal(test_wait(header), 0);
  assert_int_equal(st.writer_closed, 1);
  assert_int_equal(st.received, 8 * MiB);
  assert_true(st.delivered < 8 * MiB);
  assert_int_equal(test_wait(emitter), 0);
  assert_int_equal(sigpending(&pending), 0);
  assert_int_equal(sigismember(&pending, SIGPIPE), sigpipe_was_pending);
  test_close(&up[0]);
  test_close(&down[1]);
}

static void test_pump_epipe_drain_splice(void **state)
{
  (void)state;
  drain_case(0, 0);
}

static void test_pump_epipe_drain_copy(void **state)
{
  (void)state;
  drain_case(CUPRUM_PUMP_NO_SPLICE, 0);
}

/* A SIGPIPE that the caller had pending before the pump stays pending. */
static void test_pump_keeps_callers_sigpipe(void **state)
{
  sigset_t set;
  sigset_t old;
  sigset_t pending;
  int p[2];

  (void)state;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
  assert_int_equal(raise(SIGPIPE), 0);
  drain_case(0, 1);
  assert_int_equal(sigpending(&pending), 0);
  assert_int_equal(sigismember(&pending, SIGPIPE), 1);
  /* Consume it so that unblocking does not kill the test. */
  {
    int sig;
    assert_int_equal(sigwait(&set, &sig), 0);
  }
  assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
  (void)p;
}

/* A blocking pump interrupted by a signal without SA_RESTART, many times
 * over, still delivers every byte. */
static void eintr_case(unsigned flags)
{
  const char *args[] = {"trickle", "200", "1", NULL};
  struct route r;
  cuprum_pump_stats st;

  route_start(&r, args);
  test_storm_start(2000);
  assert_int_equal(cuprum_pump(r.in, r.out, 512, flags, &st), 0);
  test_storm_stop();
  assert_true(test_storm_ticks > 10);
  assert_int_equal(st.delivered, 200 * 4096);
  route_finish(&r, 200 * 4096);
}

static void test_pump_eintr_splice(void **state)
{
  (void)state;
  eintr_case(0);
}

static void test_pump_eintr_copy(void **state)
{
  (void)state;
  eintr_case(CUPRUM_PUMP_NO_SPLICE);
}

/* Non-blocking descriptors on both sides: EAGAIN is waited on with poll
 * (a slow producer and a slow consumer), and the flags are left alone. */
static void eagain_case(unsigned flags)
{
  const char *args[] = {"trickle", "64", "2", NULL};
  struct route r;
  cuprum_pump_stats st;

  route_start(&r, args);
  assert_int_equal(fcntl(r.in, F_SETFL, O_NONBLOCK), 0);
  assert_int_equal(fcntl(r.out, F_SETFL, O_NONBLOCK), 0);
  assert_int_equal(cuprum_pump(r.in, r.out, 1000, flags, &st), 0);
  assert_int_equal(st.delivered, 64 * 4096);
  assert_true(fcntl(r.in, F_GETFL) & O_NONBLOCK);
  assert_true(fcntl(r.out, F_GETFL) & O_NONBLOCK);
  route_finish(&r, 64 * 4096);
}

static void test_pump_eagain_splice(void **state)
{
  (void)state;
  eagain_case(0);
}

static void test_pump_eagain_copy(void **state)
{
  (void)state;
  eagain_case(CUPRUM_PUMP_NO_SPLICE);
}

/* A fast producer into a full non-blocking pipe read slowly: the pump waits
 * for room instead of failing or spinning. */
static void test_pump_eagain_full_writer(void **state)
{
  const char *emit_args[] = {"emit", "4194304", NULL};
  struct route r;
  cuprum_pump_stats st;

  (void)state;
  route_start(&r, emit_args);
  assert_int_equal(fcntl(r.out, F_SETFL, O_NONBLOCK), 0);
  assert_int_equal(cuprum_pump(r.in, r.out, 1 << 16, 0, &st), 0);
  assert_int_equal(st.delivered, 4 * MiB);
  route_finish(&r, 4 * MiB);
}

static int temp_file(int extra_flags)
{
  char name[] = "/tmp/cuprum-test-XXXXXX";
  int fd = mkostemp(name, O_CLOEXEC | extra_flags);
  assert_true(fd >= 0);
  assert_int_equal(unlink(name), 0);
  return fd;
}

static void check_file(int fd, uint64_t size)
{
  char *buf = malloc(size + 1);
  ssize_t n;

  assert_non_null(buf);
  n = pread(fd, buf, size + 1, 0);
  assert_int_equal(n, (ssize_t)size);
  assert_true(test_pattern_check(buf, 0, size));
  free(buf);
}

/* splice(2) refuses a file opened with O_APPEND (EINVAL): the pump carries
 * on with read/write and the copy is still exact. */
static void test_pump_splice_einval_fallback(void **state)
{
  const char *args[] = {"emit", "3000000", NULL};
  int up[2];
  int file = temp_file(O_APPEND);
  pid_t emitter;
  cuprum_pump_stats st;

  (void)state;
  test_pipe(up);
  emitter = test_spawn(-1, up[1], args);
  test_close(&up[1]);
  assert_int_equal(cuprum_pump(up[0], file, 1 << 16, 0, &st), 0);
  assert_int_equal(st.spliced, 0);
  assert_int_equal(st.delivered, 3000000);
  assert_int_equal(test_wait(emitter), 0);
  check_file(file, 3000000);
  test_close(&up[0]);
  test_close(&file);
}

/* A regular file into a pipe: splice reads files too. */
static void test_pump_file_to_pipe(void **state)
{
  const uint64_t size = 2 * MiB + 77;
  struct route r;
  cuprum_pump_stats st;
  char *buf = malloc(size);

  (void)state;
  route_start(&r, NULL);
  r.in = temp_file(0);
  assert_non_null(buf);
  test_pattern_fill(buf, 0, size);
  assert_int_equal(pwrite(r.in, buf, size, 0), (ssize_t)size);
  free(buf);
  assert_int_equal(cuprum_pump(r.in, r.out, 1 << 16, 0, &st), 0);
  assert_int_equal(st.delivered, size);
  route_finish(&r, size);
}

/* Errors other than a closed writer come back with their errno intact. */
static void test_pump_read_error_errno(void **state)
{
  int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int p[2];

  (void)state;
  assert_true(dir >= 0);
  test_pipe(p);
  assert_int_equal(cuprum_pump(dir, p[1], 4096, 0, NULL), -EISDIR);
  assert_int_equal(cuprum_pump(dir, p[1], 4096, CUPRUM_PUMP_NO_SPLICE, NULL),
                   -EISDIR);
  /* Reading the write end of a pipe. */
  assert_int_equal(cuprum_pump(p[1], p[1], 4096, CUPRUM_PUMP_NO_SPLICE, NULL),
                   -EBADF);
  test_close(&dir);
  test_close(&p[0]);
  test_close(&p[1]);
}

static void test_pipe_grow(void **state)
{
  int p[2];
  int file = temp_file(0);
  int got;

  (void)state;
  test_pipe(p);
  got = cuprum_pipe_grow(p[1], 1 << 20);
  assert_true(got >= (1 << 16));
  assert_true(cuprum_pipe_grow(p[1], 1) >= got);
  assert_int_equal(cuprum_pipe_grow(p[1], 0), -EINVAL);
  assert_int_equal(cuprum_pipe_grow(-1, 4096), -EBADF);
  assert_int_equal(cuprum_pipe_grow(file, 1 << 20), -EINVAL);
  test_close(&p[0]);
  test_close(&p[1]);
  test_close(&file);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_fd_setup, test_fd_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_pump_small_splice),
      T(test_pump_empty),
      T(test_pump_big_splice),
      T(test_pump_big_copy),
      T(test_pump_buffer_one_byte),
      T(test_pump_buffer_max),
      T(test_pump_buffer_bounds),
      T(test_pump_bad_args),
      T(test_pump_epipe_drain_splice),
      T(test_pump_epipe_drain_copy),
      T(test_pump_keeps_callers_sigpipe),
      T(test_pump_eintr_splice),
      T(test_pump_eintr_copy),
      T(test_pump_eagain_splice),
      T(test_pump_eagain_copy),
      T(test_pump_eagain_full_writer),
      T(test_pump_splice_einval_fallback),
      T(test_pump_file_to_pipe),
      T(test_pump_read_error_errno),
      T(test_pipe_grow),
  };
  return cmocka_run_group_tests_name("pump", tests, NULL, NULL);
}
