/* SPDX-License-Identifier: ISC */
/*
 * test-pipeline.c - pipelines: bytes through several stages, capture with
 * and without a byte cap, tee, chunk and line callbacks, early close (yes |
 * head), fail-fast in every position, timeouts against a child that ignores
 * SIGTERM, process-group stops reaching a grandchild, the step API driven
 * by the test's own poll loop, many threads at once, the allocator failing
 * at every allocation, descriptors running out, an EINTR storm, and a
 * stage reaped elsewhere whose pid went to another child.  Every
 * test checks that no descriptor and no child is left behind.
 */
#include "config.h"

#include "pipeutil.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cmocka.h>

/* A buffer holding the test pattern. */
static char *pattern(size_t n)
{
  char *p = malloc(n);
  assert_non_null(p);
  test_pattern_fill(p, 0, n);
  return p;
}

/* input | cat | cat | sum, checked through the checksum. */
static void test_three_stages(void **state)
{
  size_t size = 3 * (size_t)MiB + 17;
  char *in = pattern(size);
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  char want[64];
  (void)state;

  pu_add(pl, pu_cmd("cat"));
  pu_add(pl, pu_cmd("cat"));
  pu_add(pl, pu_cmd("sum"));
  assert_int_equal(cuprum_pipeline_size(pl), 3);
  assert_int_equal(cuprum_pipeline_set_input(pl, in, size), 0);
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, 600000, 1000), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_done(pl), 1);
  for (size_t i = 0; i < 3; i++) {
    pu_expect_status(pl, i, 0, 0, CUPRUM_STOP_NONE);
    assert_true(cuprum_pipeline_pid(pl, i) > 0);
  }
  assert_int_equal(cuprum_pipeline_pid(pl, 3), -1);
  assert_int_equal(cuprum_pipeline_output(pl, 2, CUPRUM_STDOUT, 0, &out), 0);
  snprintf(want, sizeof(want), "%llu %llu\n", (unsigned long long)size,
           (unsigned long long)test_pattern_checksum(size));
  assert_string_equal(out.data, want);
  cuprum_pipeline_free(pl);
  free(in);
}

/* The first stage reads a lent descriptor directly. */
static void test_input_fd(void **state)
{
  int p[2];
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  (void)state;

  test_pipe(p);
  assert_int_equal(write(p[1], "from fd", 7), 7);
  test_close(&p[1]);
  pu_add(pl, pu_cmd("cat"));
  assert_int_equal(cuprum_pipeline_set_input_fd(pl, p[0]), 0);
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 100), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_true(fcntl(p[0], F_GETFD) != -1);
  test_close(&p[0]);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 1, &out), 0);
  assert_int_equal(out.len, 7);
  assert_memory_equal(out.data, "from fd", 7);
  cuprum_pipeline_free(pl);
  cuprum_capture_release(&out);
}

static void test_byte_cap(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  (void)state;

  pu_add(pl, pu_cmd("emit", "300000"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 1000), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, 1000);
  assert_int_equal(out.total, 300000);
  assert_true(test_pattern_check(out.data, 0, out.len));
  assert_int_equal(out.data[out.len], '\0');
  cuprum_pipeline_free(pl);

  /* A cap of one byte, on stderr. */
  pl = pu_pipeline();
  pu_add(pl, pu_cmd("eprint", "abc"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDERR, 1), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDERR, 0, &out), 0);
  assert_int_equal(out.len, 1);
  assert_int_equal(out.total, 3);
  assert_string_equal(out.data, "a");
  cuprum_pipeline_free(pl);
}

struct seen {
  char text[256];
  size_t len;
  int stop_after;
  int calls;
};

static int collect(void *ctx, size_t stage, int stream, const char *data,
                   size_t len)
{
  struct seen *s = ctx;
  int n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%zu%c[%.*s]",
                   stage, stream == CUPRUM_STDOUT ? 'o' : 'e', (int)len, data);
  if (n > 0 && (size_t)n < sizeof(s->text) - s->len)
    s->len += (size_t)n;
  s->calls++;
  return s->stop_after > 0 && s->calls >= s->stop_after ? 1 : 0;
}

static void test_stderr_lines_tee(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  struct seen lines = {{0}, 0, 0, 0};
  struct seen chunks = {{0}, 0, 0, 0};
  cuprum_capture e0;
  cuprum_capture e1;
  cuprum_capture o;
  int tee[2];
  char buf[64];
  (void)state;

  test_pipe(tee);
  pu_add(pl, pu_cmd("eprint", "x\r\ny"));
  pu_add(pl, pu_cmd("print", "a\nb\rc"));
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDERR, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDOUT, tee[1]), 0);
  assert_int_equal(cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, collect, &lines),
                   0);
  assert_int_equal(
      cuprum_pipeline_on_chunk(pl, CUPRUM_STDERR, collect, &chunks), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_string_equal(lines.text, "1o[a]1o[b]1o[c]");
  assert_string_equal(chunks.text, "0e[x\r\ny]");
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDERR, 1, &e0), 0);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDERR, 1, &e1), 0);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, &o), 0);
  assert_string_equal(e0.data, "x\r\ny");
  assert_null(e1.data);
  assert_int_equal(e1.len, 0);
  /* Teed, not captured. */
  assert_null(o.data);
  assert_int_equal(o.total, 5);
  assert_int_equal(o.tee_error, 0);
  cuprum_pipeline_free(pl);
  cuprum_capture_release(&e0);
  cuprum_capture_release(&e1);
  test_close(&tee[1]);
  assert_int_equal(read(tee[0], buf, sizeof(buf)), 5);
  assert_memory_equal(buf, "a\nb\rc", 5);
  test_close(&tee[0]);
}

/* A callback that asks to stop cancels the run with CUPRUM_ESTOPPED. */
static void test_callback_stop(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  struct seen chunks = {{0}, 0, 1, 0};
  (void)state;

  pu_add(pl, pu_cmd("endless"));
  assert_int_equal(
      cuprum_pipeline_on_chunk(pl, CUPRUM_STDOUT, collect, &chunks), 0);
  assert_int_equal(cuprum_pipeline_run(pl), CUPRUM_ESTOPPED);
  assert_int_equal(cuprum_pipeline_done(pl), 1);
  pu_expect_status(pl, 0, -1, SIGKILL, CUPRUM_STOP_CANCEL);
  cuprum_pipeline_free(pl);
}

/* yes | head: the endless writer dies of SIGPIPE, an early close, and the
 * pipeline finishes, also with fail-fast on. */
static void test_early_close(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  (void)state;

  pu_add(pl, pu_cmd("endless"));
  pu_add(pl, pu_cmd("head", "10"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 64), 0);
  assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_FAIL_FAST), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  pu_expect_status(pl, 0, -1, SIGPIPE, CUPRUM_STOP_EARLY_CLOSE);
  pu_expect_status(pl, 1, 0, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, 10);
  assert_true(test_pattern_check(out.data, 0, 10));
  cuprum_pipeline_free(pl);
}

/* The first stage stops reading its stdin: the rest of the input is
 * dropped without an error. */
static void test_input_early_close(void **state)
{
  size_t size = 4 * (size_t)MiB;
  char *in = pattern(size);
  cuprum_pipeline *pl = pu_pipeline();
  (void)state;

  pu_add(pl, pu_cmd("head", "3"));
  assert_int_equal(cuprum_pipeline_set_input(pl, in, size), 0);
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 64), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  cuprum_pipeline_free(pl);
  free(in);
}

/* Stage `bad` fails among three long sleepers: fail-fast stops the rest. */
static void test_fail_fast_every_position(void **state)
{
  (void)state;
  for (size_t bad = 0; bad < 3; bad++) {
    cuprum_pipeline *pl = pu_pipeline();
    for (size_t i = 0; i < 3; i++)
      pu_add(pl, i == bad ? pu_cmd("exit", "3") : pu_cmd("sleep", "60000"));
    assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_FAIL_FAST),
                     0);
    assert_int_equal(cuprum_pipeline_run(pl), 0);
    for (size_t i = 0; i < 3; i++)
      if (i == bad)
        pu_expect_status(pl, i, 3, 0, CUPRUM_STOP_NONE);
      else
        pu_expect_status(pl, i, -1, SIGTERM, CUPRUM_STOP_FAIL_FAST);
    assert_int_equal(cuprum_pipeline_stopped(pl), CUPRUM_STOP_FAIL_FAST);
    cuprum_pipeline_free(pl);
  }
}

/* Without fail-fast a failure is only data. */
static void test_no_fail_fast(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  (void)state;
  pu_add(pl, pu_cmd("exit", "1"));
  pu_add(pl, pu_cmd("sleep", "50"));
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  pu_expect_status(pl, 0, 1, 0, CUPRUM_STOP_NONE);
  pu_expect_status(pl, 1, 0, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_stopped(pl), CUPRUM_STOP_NONE);
  cuprum_pipeline_free(pl);
}

/* A child that ignores SIGTERM gets SIGKILL after the grace.  The timeout
 * leaves the helper ample time to ignore SIGTERM first; its "ready" line
 * in the capture shows that it had. */
static void test_timeout_stubborn(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  (void)state;

  pu_add(pl, pu_cmd("stubborn"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 64), 0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, 2000, 100), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
  assert_string_equal(out.data, "ready\n");
  pu_expect_status(pl, 0, -1, SIGKILL, CUPRUM_STOP_TIMEOUT);
  cuprum_pipeline_free(pl);
}

static void test_step_api(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  (void)state;

  pu_add(pl, pu_cmd("emit", "1000000"));
  pu_add(pl, pu_cmd("cat"));
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_step(pl), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_cancel(pl), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  assert_int_equal(cuprum_pipeline_start(pl), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, &out),
                   CUPRUM_ESTATE);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_CANCEL), 1);
  assert_int_equal(cuprum_pipeline_done(pl), 1);
  assert_int_equal(cuprum_pipeline_pollfds(pl, NULL, 0), 0);
  assert_int_equal(cuprum_pipeline_timeout(pl), 0);
  assert_int_equal(cuprum_pipeline_cancel(pl), 0);
  assert_int_equal(cuprum_pipeline_step(pl), 1);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, 1000000);
  assert_true(test_pattern_check(out.data, 0, out.len));
  cuprum_pipeline_free(pl);
}

/* Cancel, from the loop, a stubborn child once it is ready. */
static void test_step_cancel_stubborn(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  volatile int ready = 0;
  (void)state;

  pu_add(pl, pu_cmd("stubborn"));
  assert_int_equal(
      cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, pu_note_line, (void *)&ready),
      0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, -1, 50), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  assert_int_equal(pu_drive(pl, &ready, PU_FLAG_CANCEL), 1);
  pu_expect_status(pl, 0, -1, SIGKILL, CUPRUM_STOP_CANCEL);
  assert_int_equal(cuprum_pipeline_stopped(pl), CUPRUM_STOP_CANCEL);
  cuprum_pipeline_free(pl);
}

/* With a new process group, a stop reaches the stage's own child: its
 * copy of the lent stderr pipe closes. */
static void test_pgroup_reaches_grandchild(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  volatile int ready = 0;
  cuprum_cmd *cmd = pu_cmd("grandchild");
  struct pollfd p;
  int err[2];
  char c;
  (void)state;

  test_pipe(err);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDERR, err[1]), 0);
  pu_add(pl, cmd);
  assert_int_equal(
      cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, pu_note_line, (void *)&ready),
      0);
  assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_NEW_PGROUP),
                   0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, -1, 2000), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  test_close(&err[1]);
  assert_int_equal(pu_drive(pl, &ready, PU_FLAG_CANCEL), 1);
  pu_expect_status(pl, 0, -1, SIGTERM, CUPRUM_STOP_CANCEL);
  cuprum_pipeline_free(pl);
  /* End of file once the grandchild is gone (a bound, not a timing). */
  p.fd = err[0];
  p.events = POLLIN;
  assert_int_equal(poll(&p, 1, 30000), 1);
  assert_int_equal(read(err[0], &c, 1), 0);
  test_close(&err[0]);
}

/* Freeing a running pipeline kills and reaps it. */
static void test_free_running(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  (void)state;
  pu_add(pl, pu_cmd("endless"));
  pu_add(pl, pu_cmd("cat"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 10), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  cuprum_pipeline_free(pl);
}

static void *thread_main(void *arg)
{
  size_t size = 200000 + (size_t)(uintptr_t)arg;
  char *in = malloc(size);
  cuprum_pipeline *pl = NULL;
  cuprum_capture out = {0};
  intptr_t ok = 0;

  if (in == NULL || cuprum_pipeline_new(&pl) != 0)
    goto done;
  test_pattern_fill(in, 0, size);
  if (cuprum_pipeline_add(pl, pu_cmd("cat")) != 0 ||
      cuprum_pipeline_add(pl, pu_cmd("cat")) != 0 ||
      cuprum_pipeline_set_input(pl, in, size) != 0 ||
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED) !=
          0 ||
      cuprum_pipeline_run(pl) != 0 ||
      cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, &out) != 0)
    goto done;
  ok = out.len == size && memcmp(out.data, in, size) == 0;
done:
  cuprum_pipeline_free(pl);
  free(in);
  return (void *)ok;
}

static void test_threads(void **state)
{
  pthread_t t[16];
  void *ok[16] = {NULL};
  int created = 0;
  (void)state;
  while (created < 16 && pthread_create(&t[created], NULL, thread_main,
                                        (void *)(uintptr_t)created) == 0)
    created++;
  /* Every thread started is joined before anything is asserted, so a
   * failure is reported as such, not as a leaked thread. */
  for (int i = 0; i < created; i++)
    assert_int_equal(pthread_join(t[i], &ok[i]), 0);
  assert_int_equal(created, 16);
  for (int i = 0; i < 16; i++)
    assert_true(ok[i] == (void *)1);
}

static int attempt(void)
{
  cuprum_pipeline *pl = NULL;
  cuprum_capture out = {0};
  cuprum_cmd *a = pu_cmd("cat");
  cuprum_cmd *b = pu_cmd("eprint", "e\n");
  int rc = -ENOMEM;
  int seen = 0;

  if (a == NULL || b == NULL || cuprum_cmd_setenv(a, "X", "1") != 0 ||
      cuprum_pipeline_new(&pl) != 0)
    goto done;
  if (cuprum_pipeline_add(pl, a) != 0)
    goto done;
  a = NULL;
  if (cuprum_pipeline_add(pl, b) != 0)
    goto done;
  b = NULL;
  if (cuprum_pipeline_set_input(pl, "in\n", 3) != 0 ||
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 100) != 0 ||
      cuprum_pipeline_capture(pl, CUPRUM_STDERR, 100) != 0 ||
      cuprum_pipeline_on_line(pl, CUPRUM_STDERR, pu_note_line, &seen) != 0)
    goto done;
  rc = cuprum_pipeline_run(pl);
  if (rc == 0) {
    rc = cuprum_pipeline_output(pl, 1, CUPRUM_STDERR, 1, &out);
    if (rc == 0 && (out.len != 2 || memcmp(out.data, "e\n", 2) != 0))
      rc = -EIO;
  }
done:
  cuprum_cmd_free(a);
  cuprum_cmd_free(b);
  cuprum_pipeline_free(pl);
  cuprum_capture_release(&out);
  return rc;
}

/* Allocation k of a whole run fails, for every k until a run makes fewer
 * than k: each run ends in -ENOMEM with no block and no child left. */
static void test_allocator_failures(void **state)
{
  long k;
  int rc;
  (void)state;

  for (k = 1;; k++) {
    test_use_counter_once(k);
    rc = attempt();
    assert_int_equal(test_counter.live, 0);
    assert_true(pu_no_children());
    if (test_counter.failed == 0)
      break;
    assert_int_equal(rc, -ENOMEM);
  }
  cuprum_set_allocator(NULL);
  assert_int_equal(rc, 0);
  assert_true(k > 6); /* a run makes more than 5 allocations */
}

static int count_open_fds(void)
{
  int n = 0;
  for (int fd = 0; fd < 1024; fd++)
    if (fcntl(fd, F_GETFD) != -1)
      n++;
  return n;
}

/* In a forked child: with the descriptor limit lowered step by step, a
 * run either succeeds or fails with -EMFILE, leaking nothing. */
static int emfile_child(void)
{
  int base = count_open_fds();
  struct rlimit wide;
  if (getrlimit(RLIMIT_NOFILE, &wide) != 0)
    return 9;
  /* Descriptors are allocated lowest first: count them from 0. */
  for (rlim_t extra = 0; extra < 32; extra++) {
    struct rlimit rl = {(rlim_t)base + extra, wide.rlim_max};
    cuprum_pipeline *pl = NULL;
    int rc;
    if (cuprum_pipeline_new(&pl) != 0 ||
        cuprum_pipeline_add(pl, pu_cmd("print", "x")) != 0 ||
        cuprum_pipeline_add(pl, pu_cmd("cat")) != 0 ||
        cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 10) != 0 ||
        cuprum_pipeline_capture(pl, CUPRUM_STDERR, 10) != 0)
      return 10;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      return 11;
    rc = cuprum_pipeline_run(pl);
    cuprum_pipeline_free(pl);
    if (setrlimit(RLIMIT_NOFILE, &wide) != 0)
      return 12;
    if (count_open_fds() != base)
      return 13;
    if (!pu_no_children())
      return 14;
    if (rc == 0)
      return extra > 0 ? 0 : 15;
    if (rc != -EMFILE)
      return 16;
  }
  return 17;
}

static void test_emfile(void **state)
{
  pid_t pid;
  (void)state;
  fflush(NULL);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(emfile_child());
  assert_int_equal(test_wait(pid), 0);
}

/* A timer signal every millisecond, without SA_RESTART, while a pipeline runs:
 * every interrupted call is retried. */
static void test_eintr_storm(void **state)
{
  long tick = 1000;
  size_t size = 2 * (size_t)MiB;
  char *in = pattern(size);
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  (void)state;

  /* Under valgrind a signal costs more than a millisecond to deliver, and
   * a 1 ms storm would interrupt every call before it starts; qemu-user
   * gets the same slower storm. */
  if (test_emulator() != NULL)
    tick = 20000;
#if defined(__i386__)
  /* qemu-i386 (seen with Debian's qemu-user 7.2) dies silently, status
   * 255, under a timer-signal storm, whatever the program does; arm64
   * and s390x under qemu, and every native run, take the storm. */
  if (test_under_qemu()) {
    fprintf(stderr, "# skipped under qemu-i386: it dies under a signal "
                    "storm\n");
    cuprum_pipeline_free(pl);
    free(in);
    return;
  }
#endif
  test_storm_start(tick);
  pu_add(pl, pu_cmd("cat"));
  pu_add(pl, pu_cmd("cat"));
  assert_int_equal(cuprum_pipeline_set_input(pl, in, size), 0);
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  test_storm_stop();
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  pu_expect_status(pl, 1, 0, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, size);
  assert_memory_equal(out.data, in, size);
  cuprum_pipeline_free(pl);
  free(in);
}

static void test_write_all(void **state)
{
  int p[2];
  size_t w = 99;
  char buf[8];
  (void)state;
  test_pipe(p);
  assert_int_equal(cuprum_write_all(p[1], "abc", 3, &w), 0);
  assert_int_equal(w, 3);
  assert_int_equal(read(p[0], buf, sizeof(buf)), 3);
  test_close(&p[0]);
  /* No reader: -EPIPE, and the process is still here. */
  assert_int_equal(cuprum_write_all(p[1], "abc", 3, &w), -EPIPE);
  assert_int_equal(w, 0);
  test_close(&p[1]);
  assert_int_equal(cuprum_write_all(-1, "abc", 3, NULL), -EBADF);
  assert_int_equal(cuprum_write_all(1, NULL, 3, NULL), CUPRUM_ENULL);
}

/* Captures past 4 MiB take the huge-page path of the capture buffer: every
 * byte arrives, in order, with and without a limit that falls inside it,
 * and a taken capture holds no more memory than its bytes. */
static void test_large_capture(void **state)
{
  size_t size = 9 * (size_t)MiB + 5;
  size_t limits[] = {CUPRUM_CAPTURE_UNLIMITED, 5 * (size_t)MiB + 3};
  char *in = pattern(size);
  (void)state;

  for (size_t i = 0; i < 2; i++) {
    cuprum_pipeline *pl = pu_pipeline();
    size_t keep = i == 0 ? size : limits[i];
    cuprum_capture out;

    pu_add(pl, pu_cmd("cat"));
    assert_int_equal(cuprum_pipeline_set_input(pl, in, size), 0);
    assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, limits[i]), 0);
    assert_int_equal(cuprum_pipeline_run(pl), 0);
    pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
    assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 1, &out), 0);
    assert_int_equal(out.len, keep);
    assert_int_equal(out.total, size);
    assert_memory_equal(out.data, in, keep);
    assert_int_equal(out.data[keep], '\0');
#ifdef __GLIBC__
    /* Taken, the block is trimmed to its length: it keeps no more than
     * the page its end falls in of the map it grew in. */
    assert_true(malloc_usable_size(out.data) < keep + 1 + 4096);
#endif
    cuprum_pipeline_free(pl);
    cuprum_capture_release(&out);
  }
  free(in);
}

/* A pipe the pipeline reads (a captured or teed stdout, a teed stderr) is the
 * kernel's default size until 64 KiB came through it, then pipe-max-size
 * (up to 1 MiB), unless the kernel refuses (an unprivileged user past
 * pipe-user-pages-soft), which a probe pipe grown by the test itself
 * tells; a short output never grows it.  Writing 1 MiB into a default
 * pipe returns only once the reader took most of it, so the size is seen
 * after the grow. */
static void test_capture_pipe_grows(void **state)
{
  /* The helper's mode, the size it writes, and whether that stream is
   * teed (to /dev/null) rather than captured. */
  static const struct {
    const char *mode;
    const char *size;
    int tee;
  } cases[] = {{"pipesize", "100", 0},
               {"pipesize", "1048576", 0},
               {"pipesize", "1048576", 1},
               {"epipesize", "100", 1},
               {"epipesize", "1048576", 1}};
  int p[2];
  int dflt;
  int grown;
  long want = 1L << 20;
  FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
  (void)state;

  if (f != NULL) {
    long max = 0;
    if (fscanf(f, "%ld", &max) == 1 && max > 0 && max < want)
      want = max;
    fclose(f);
  }
  test_pipe(p);
  dflt = fcntl(p[1], F_GETPIPE_SZ);
  /* What growing a pipe gives this process now: the size, or the default
   * when the kernel refuses. */
  grown = dflt >= want ? dflt : fcntl(p[1], F_SETPIPE_SZ, (int)want);
  if (grown < 0)
    grown = dflt;
  test_close(&p[0]);
  test_close(&p[1]);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    /* The helper tells the size on the other stream, captured. */
    int written = cases[i].mode[0] == 'e' ? CUPRUM_STDERR : CUPRUM_STDOUT;
    int told = written == CUPRUM_STDOUT ? CUPRUM_STDERR : CUPRUM_STDOUT;
    unsigned long size = strtoul(cases[i].size, NULL, 10);
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    cuprum_pipeline *pl = pu_pipeline();
    cuprum_capture data;
    cuprum_capture tell;

    assert_true(null_fd >= 0);
    pu_add(pl, pu_cmd(cases[i].mode, cases[i].size));
    if (cases[i].tee)
      assert_int_equal(cuprum_pipeline_tee(pl, written, null_fd), 0);
    else
      assert_int_equal(
          cuprum_pipeline_capture(pl, written, CUPRUM_CAPTURE_UNLIMITED), 0);
    assert_int_equal(
        cuprum_pipeline_capture(pl, told, CUPRUM_CAPTURE_UNLIMITED), 0);
    assert_int_equal(cuprum_pipeline_run(pl), 0);
    pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
    assert_int_equal(cuprum_pipeline_output(pl, 0, written, 0, &data), 0);
    assert_int_equal(data.total, size);
    assert_int_equal(cuprum_pipeline_output(pl, 0, told, 0, &tell), 0);
    assert_non_null(tell.data);
    assert_int_equal(strtol(tell.data, NULL, 10), size < 65536 ? dflt : grown);
    cuprum_pipeline_free(pl);
    test_close(&null_fd);
  }
}

struct line_pieces {
  struct test_pieces seen;
  const cuprum_pipeline *pl;
  int other_stream;
};

static int count_line_piece(void *ctx, size_t stage, int stream,
                            const char *data, size_t len)
{
  struct line_pieces *p = ctx;
  if (stage != 1 || stream != CUPRUM_STDOUT)
    p->other_stream = 1;
  test_piece(&p->seen, data, len, cuprum_pipeline_line_partial(p->pl));
  return 0;
}

/* A 3 MiB line without an ending and then a short one, through cat, with
 * a line cap of 4096 on stdout: every byte reaches the callback in order,
 * in pieces of 4096 but the last of each line, and the pipeline's largest
 * allocation is its 64 KiB read buffer, not the line.  The cap is
 * refused at 0, for a bad stream, and once started. */
static void test_line_max(void **state)
{
  const size_t n = 3 * (size_t)MiB + 5;
  const size_t max = 4096;
  char *in = malloc(n + 6);
  cuprum_pipeline *pl;
  struct line_pieces p = {{0}, NULL, 0};
  (void)state;

  assert_non_null(in);
  test_fill_line(in, n);
  memcpy(in + n, "\nshort", 6);
  test_pieces_init(&p.seen, max);
  test_use_counter(0);
  pl = pu_pipeline();
  p.pl = pl;
  pu_add(pl, pu_cmd("cat"));
  pu_add(pl, pu_cmd("cat"));
  assert_int_equal(cuprum_pipeline_set_line_max(NULL, CUPRUM_STDOUT, max),
                   CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_set_line_max(pl, CUPRUM_STDOUT, 0), -EINVAL);
  assert_int_equal(cuprum_pipeline_set_line_max(pl, CUPRUM_STDIN, max),
                   -EINVAL);
  assert_int_equal(cuprum_pipeline_set_line_max(pl, CUPRUM_STDOUT, max), 0);
  assert_int_equal(
      cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, count_line_piece, &p), 0);
  assert_int_equal(cuprum_pipeline_set_input(pl, in, n + 6), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  assert_int_equal(cuprum_pipeline_set_line_max(pl, CUPRUM_STDOUT, max),
                   CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_line_partial(pl), 0);
  assert_int_equal(cuprum_pipeline_run(pl), CUPRUM_ESTATE);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_CANCEL), 1);
  pu_expect_status(pl, 1, 0, 0, CUPRUM_STOP_NONE);
  cuprum_pipeline_free(pl);
  assert_int_equal(test_counter.live, 0);
  assert_true(test_counter.largest <= (size_t)64 << 10);
  cuprum_set_allocator(NULL);
  assert_int_equal(cuprum_pipeline_line_partial(NULL), 0);
  assert_int_equal(p.other_stream, 0);
  assert_int_equal(p.seen.bad, 0);
  assert_int_equal(p.seen.bytes, n + 5);
  assert_true(
      p.seen.check ==
      test_checksum(test_checksum(TEST_CHECKSUM_INIT, in, n), "short", 5));
  assert_int_equal(p.seen.lines, 2);
  assert_int_equal(p.seen.pieces, (long)(n / max + 1) + 1);
  free(in);
}

#define T(f) cmocka_unit_test_setup_teardown(f, pu_setup, pu_teardown)

/* With SIGCHLD ignored the kernel reaps the stages itself, and a
 * waitpid(-1) elsewhere would take them as well: the run still ends, with
 * the output whole, and each status reads as unknown (-ECHILD), neither
 * success nor a failure that fail-fast acts on.  The alarm turns a run
 * that never ends into a failure. */
static void test_reaped_elsewhere(void **state)
{
  struct sigaction ign;
  struct sigaction old;
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  int code;
  int sig;
  cuprum_stop why;
  (void)state;

  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_DFL;
  /* An earlier test may have left a SIGALRM handler. */
  assert_int_equal(sigaction(SIGALRM, &ign, NULL), 0);
  ign.sa_handler = SIG_IGN;
  assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
  pu_add(pl, pu_cmd("emit", "100000"));
  pu_add(pl, pu_cmd("cat"));
  pu_add(pl, pu_cmd("exit", "3"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 64), 0);
  assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_FAIL_FAST), 0);
  alarm(20);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  alarm(0);
  assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
  assert_int_equal(cuprum_pipeline_done(pl), 1);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(cuprum_pipeline_status(pl, i, &code, &sig, &why), -ECHILD);
    assert_int_equal(code, -1);
    assert_int_equal(sig, 0);
  }
  assert_int_equal(cuprum_pipeline_output(pl, 2, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, 0);
  cuprum_pipeline_free(pl);

  /* Freeing a running pipeline reaps the same way. */
  assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
  pl = pu_pipeline();
  pu_add(pl, pu_cmd("sleep", "5000"));
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  alarm(20);
  cuprum_pipeline_free(pl);
  alarm(0);
  assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
}

/* The stage exits at once, but the child it leaves behind holds its
 * stdout: a stop then cuts that output without ending the stage, and
 * cuprum_pipeline_stopped says so.  With a new process group the stop
 * kills the child; without one the library closes the pipe once the grace
 * is over (the child dies of SIGPIPE when it writes, later).  First a
 * cancel once the stage has surely exited, then a timeout. */
static void test_stop_cuts_orphan_output(void **state)
{
  (void)state;
  for (int run = 0; run < 3; run++) {
    cuprum_pipeline *pl = pu_pipeline();
    cuprum_capture out;
    int group = run > 0;
    pu_add(pl, pu_cmd("orphan", group ? "60000" : "1000"));
    assert_int_equal(
        cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED),
        0);
    /* Long enough for the stage to print under an emulator. */
    assert_int_equal(cuprum_pipeline_set_timeout(pl, run == 2 ? 1000 : -1, 100),
                     0);
    if (group)
      assert_int_equal(
          cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_NEW_PGROUP), 0);
    assert_int_equal(cuprum_pipeline_stopped(pl), CUPRUM_STOP_NONE);
    assert_int_equal(cuprum_pipeline_start(pl), 0);
    if (run < 2) {
      pu_wait_exited(pl, 0);
      assert_int_equal(cuprum_pipeline_cancel(pl), 0);
    }
    assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
    if (run < 2) {
      pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
      assert_int_equal(cuprum_pipeline_stopped(pl), CUPRUM_STOP_CANCEL);
    } else {
      assert_int_equal(cuprum_pipeline_stopped(pl), CUPRUM_STOP_TIMEOUT);
    }
    assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
    assert_int_equal(out.len, 6);
    assert_memory_equal(out.data, "early\n", 6);
    cuprum_pipeline_free(pl);
  }
  assert_int_equal(cuprum_pipeline_stopped(NULL), CUPRUM_STOP_NONE);
}

/* No stop is reported where there was nothing to stop: a run that was
 * complete when first stepped after its deadline, and a failure under
 * fail-fast when every stage had already ended. */
static void test_no_stop_when_complete(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  (void)state;

  pu_add(pl, pu_cmd("print", "all"));
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, 50, 1000), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  /* The stage has ended, its output at its end, long before this step. */
  pu_wait_exited(pl, 0);
  usleep(200000);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_stopped(pl), CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, 3);
  cuprum_pipeline_free(pl);

  pl = pu_pipeline();
  pu_add(pl, pu_cmd("exit", "1"));
  assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_FAIL_FAST), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  pu_expect_status(pl, 0, 1, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_stopped(pl), CUPRUM_STOP_NONE);
  cuprum_pipeline_free(pl);
}

/* A stopped stage (SIGSTOP; SIGTTIN in a background group) acts on the
 * stop's SIGTERM: it is continued, not left for the SIGKILL. */
static void test_stop_continues_stopped_stage(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  siginfo_t info;
  pid_t pid;
  (void)state;

  pu_add(pl, pu_cmd("sleep", "60000"));
  assert_int_equal(cuprum_pipeline_set_timeout(pl, -1, 600000), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  pid = (pid_t)cuprum_pipeline_pid(pl, 0);
  assert_int_equal(kill(pid, SIGSTOP), 0);
  memset(&info, 0, sizeof(info));
  assert_int_equal(waitid(P_PID, (id_t)pid, &info, WSTOPPED | WNOWAIT), 0);
  assert_int_equal(info.si_code, CLD_STOPPED);
  assert_int_equal(cuprum_pipeline_cancel(pl), 0);
  alarm(20);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  alarm(0);
  pu_expect_status(pl, 0, -1, SIGTERM, CUPRUM_STOP_CANCEL);
  cuprum_pipeline_free(pl);
}

/* Holds the library's next allocation until stage 0 of `hold_pl` has ended
 * and, SIGCHLD being ignored, been reaped by the kernel. */
static cuprum_pipeline *hold_pl;

static void *hold_realloc(void *ctx, void *ptr, size_t size)
{
  long pid = hold_pl != NULL ? cuprum_pipeline_pid(hold_pl, 0) : -1;
  (void)ctx;
  if (pid > 0) {
    hold_pl = NULL;
    while (kill((pid_t)pid, 0) == 0)
      usleep(1000);
  }
  return realloc(ptr, size);
}

static void hold_free(void *ctx, void *ptr)
{
  (void)ctx;
  free(ptr);
}

/* With SIGCHLD ignored, the group's leader may be gone (reaped by the
 * kernel, the group empty) before the next stage joins: that stage leads
 * a new group instead of failing to start with -EPERM. */
static void test_pgroup_leader_gone(void **state)
{
  const cuprum_allocator hold = {hold_realloc, hold_free, NULL};
  struct sigaction ign;
  struct sigaction old;
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_cmd *cmd = pu_cmd("sleep", "10");
  int code;
  (void)state;

  /* The environment overlay makes the second stage's start allocate. */
  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_setenv(cmd, "CUPRUM_TEST", "1"), 0);
  pu_add(pl, pu_cmd("exit", "0"));
  pu_add(pl, cmd);
  assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_NEW_PGROUP),
                   0);
  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_IGN;
  assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
  hold_pl = pl;
  cuprum_set_allocator(&hold);
  alarm(20);
  code = cuprum_pipeline_run(pl);
  alarm(0);
  cuprum_set_allocator(NULL);
  hold_pl = NULL;
  assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
  assert_int_equal(code, 0);
  assert_int_equal(cuprum_pipeline_failed_stage(pl), -1);
  assert_int_equal(cuprum_pipeline_stopped(pl), CUPRUM_STOP_NONE);
  cuprum_pipeline_free(pl);
}

/* clone3's arguments (Linux 5.5: set_tid), as the kernel lays them out. */
struct pu_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
      tls, set_tid, set_tid_size;
};

/* A child of this process given the pid `pid`, as fork(2) makes one
 * (returns 0 in the child); -1 where the kernel cannot (no clone3, no
 * privilege over the pid namespace). */
static pid_t fork_with_pid(pid_t pid)
{
#ifdef SYS_clone3
  struct pu_clone_args args;
  pid_t tid = pid;

  memset(&args, 0, sizeof(args));
  args.exit_signal = SIGCHLD;
  args.set_tid = (uint64_t)(uintptr_t)&tid;
  args.set_tid_size = 1;
  return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/* pid 1 of a new pid namespace: stage 0 of a running pipeline is reaped
 * by someone else and its pid given to a new child of this process, the
 * impostor; cancelling and finishing the pipeline must neither signal nor
 * reap the impostor.  Returns 0 when so, 77 when this system cannot give a
 * pid, another code for the check that failed (no cmocka in here). */
static int pid_reuse_init(void)
{
  cuprum_pipeline *pl = NULL;
  struct pollfd fds[16];
  int gate[2];
  pid_t stolen;
  pid_t impostor;
  int st;
  int rc;
  int code;
  int sig;
  cuprum_stop why;

  if (cuprum_pipeline_new(&pl) != 0)
    return 10;
  for (int i = 0; i < 2; i++) {
    cuprum_cmd *cmd = pu_cmd("sleep", "60000");
    if (cmd == NULL || cuprum_pipeline_add(pl, cmd) != 0)
      return 11;
  }
  if (cuprum_pipeline_start(pl) != 0)
    return 12;
  stolen = (pid_t)cuprum_pipeline_pid(pl, 0);
  if (kill(stolen, SIGKILL) != 0 || waitpid(stolen, &st, 0) != stolen)
    return 13;
  if (pipe(gate) != 0)
    return 14;
  impostor = fork_with_pid(stolen);
  if (impostor == 0) {
    char c;
    close(gate[1]);
    _exit(read(gate[0], &c, 1) == 0 ? 7 : 8);
  }
  close(gate[0]);
  if (impostor < 0) {
    fprintf(stderr, "clone3 with set_tid: %s\n", strerror(errno));
    cuprum_pipeline_free(pl);
    return 77;
  }
  if (cuprum_pipeline_cancel(pl) != 0)
    return 15;
  while ((rc = cuprum_pipeline_step(pl)) == 0) {
    int n = cuprum_pipeline_pollfds(pl, fds, 16);
    if (n < 0 || n > 16)
      return 16;
    (void)poll(fds, (nfds_t)n, cuprum_pipeline_timeout(pl));
  }
  if (rc != 1)
    return 17;
  if (cuprum_pipeline_status(pl, 0, &code, &sig, &why) != -ECHILD)
    return 18;
  if (cuprum_pipeline_status(pl, 1, &code, &sig, &why) != 0 || sig != SIGTERM ||
      why != CUPRUM_STOP_CANCEL)
    return 19;
  cuprum_pipeline_free(pl);
  /* The impostor still runs, and is still this process's to reap. */
  if (waitpid(impostor, &st, WNOHANG) != 0)
    return 20;
  close(gate[1]);
  if (waitpid(impostor, &st, 0) != impostor || !WIFEXITED(st) ||
      WEXITSTATUS(st) != 7)
    return 21;
  return 0;
}

/* A stage reaped by someone else whose pid went to another child of the
 * process: the pipeline signals and reaps through pidfds, never by pid.
 * Needs a user and pid namespace of its own (skipped where there is none)
 * to choose a pid. */
static void test_pid_reused(void **state)
{
  pid_t runner;
  int st;
  (void)state;

  /* cmocka's skip() prints "not ok" in TAP: a skip says why and returns. */
  if (pu_no_sync_exec_errors() != NULL) {
    fprintf(stderr, "# skipped: %s\n", pu_no_sync_exec_errors());
    return;
  }
  runner = fork();
  assert_true(runner >= 0);
  if (runner == 0) {
    pid_t init;
    if (unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0) {
      fprintf(stderr, "unshare: %s\n", strerror(errno));
      _exit(77);
    }
    init = fork();
    if (init == 0)
      _exit(pid_reuse_init());
    if (init < 0 || waitpid(init, &st, 0) != init)
      _exit(30);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  assert_int_equal(waitpid(runner, &st, 0), runner);
  assert_true(WIFEXITED(st));
  if (WEXITSTATUS(st) == 77) {
    fprintf(stderr, "# skipped: no pid of the test's choosing here\n");
    return;
  }
  assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_three_stages),
      T(test_input_fd),
      T(test_byte_cap),
      T(test_stderr_lines_tee),
      T(test_callback_stop),
      T(test_early_close),
      T(test_input_early_close),
      T(test_fail_fast_every_position),
      T(test_no_fail_fast),
      T(test_timeout_stubborn),
      T(test_step_api),
      T(test_step_cancel_stubborn),
      T(test_pgroup_reaches_grandchild),
      T(test_free_running),
      T(test_threads),
      T(test_allocator_failures),
      T(test_emfile),
      T(test_eintr_storm),
      T(test_write_all),
      T(test_large_capture),
      T(test_capture_pipe_grows),
      T(test_line_max),
      T(test_reaped_elsewhere),
      T(test_pid_reused),
      T(test_stop_cuts_orphan_output),
      T(test_no_stop_when_complete),
      T(test_stop_continues_stopped_stage),
      T(test_pgroup_leader_gone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
