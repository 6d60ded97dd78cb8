/* SPDX-License-Identifier: ISC */
/*
 * test-hunt.c - the process and pipeline API used the way a careless C
 * caller might: setters after the start (of the pipeline, and of its
 * commands once added), a pipeline run twice or with no stages, results
 * asked for out of range, bad environment names, a redirection into a
 * missing directory, byte caps of 0 and 1, a tee to a closed descriptor, a
 * line callback that fails, timeouts and graces of 0 and of the largest
 * value, freeing in the middle of a run.  Every test checks that no
 * descriptor and no child is left behind.
 */
#include "config.h"

#include "pipeutil.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

/* Every setter refuses a started and a finished pipeline, and nothing it
 * was asked changes the results. */
static void test_setters_after_start(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  int step;
  (void)state;

  pu_add(pl, pu_cmd("print", "hi\n"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 64), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  for (step = 0; step < 2; step++) {
    cuprum_cmd *cmd = pu_cmd("exit", "0");
    assert_int_equal(cuprum_pipeline_add(pl, cmd), CUPRUM_ESTATE);
    cuprum_cmd_free(cmd);
    assert_int_equal(cuprum_pipeline_set_input(pl, "x", 1), CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_set_input_fd(pl, 0), CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 0),
                     CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDOUT, 1), CUPRUM_ESTATE);
    assert_int_equal(
        cuprum_pipeline_on_chunk(pl, CUPRUM_STDOUT, pu_note_line, NULL),
        CUPRUM_ESTATE);
    assert_int_equal(
        cuprum_pipeline_on_line(pl, CUPRUM_STDERR, pu_note_line, NULL),
        CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_set_line_max(pl, CUPRUM_STDOUT, 1),
                     CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_set_timeout(pl, 0, 0), CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_FAIL_FAST),
                     CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_start(pl), CUPRUM_ESTATE);
    if (step == 0)
      assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  }
  /* A second run is refused and keeps the first run's results. */
  assert_int_equal(cuprum_pipeline_run(pl), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_size(pl), 1);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
  assert_string_equal(out.data, "hi\n");
  cuprum_pipeline_free(pl);
}

/* Every setter of a command refuses it with CUPRUM_ESTATE once a pipeline
 * owns it, after checking its arguments, and cuprum_cmd_free does nothing
 * to it. */
static void expect_cmd_owned(cuprum_cmd *cmd)
{
  assert_int_equal(cuprum_cmd_setenv(cmd, "A", "1"), CUPRUM_ESTATE);
  assert_int_equal(cuprum_cmd_setenv(cmd, "", "1"), -EINVAL);
  assert_int_equal(cuprum_cmd_unsetenv(cmd, "A"), CUPRUM_ESTATE);
  assert_int_equal(cuprum_cmd_unsetenv(cmd, "A=B"), -EINVAL);
  assert_int_equal(cuprum_cmd_clearenv(cmd), CUPRUM_ESTATE);
  assert_int_equal(cuprum_cmd_chdir(cmd, "/nonexistent/dir"), CUPRUM_ESTATE);
  assert_int_equal(cuprum_cmd_chdir(cmd, NULL), CUPRUM_ESTATE);
  assert_int_equal(
      cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_INHERIT),
      CUPRUM_ESTATE);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDIN, CUPRUM_STDIO_PIPE),
                   -EINVAL);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDOUT, 1),
                   CUPRUM_ESTATE);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDOUT, -1), -EBADF);
  assert_int_equal(cuprum_cmd_redirect_path(cmd, CUPRUM_STDOUT,
                                            "/nonexistent/out",
                                            CUPRUM_PATH_TRUNCATE),
                   CUPRUM_ESTATE);
  assert_int_equal(cuprum_cmd_redirect_path(cmd, CUPRUM_STDOUT, "out", 0),
                   CUPRUM_EFLAGS);
  /* Freeing it leaves it to the pipeline: not a double free (ASan and
   * valgrind would see one when the pipeline is freed). */
  cuprum_cmd_free(cmd);
}

/* The commands of a pipeline refuse their setters once added: before the
 * start, while it runs and once it is done.  Changed mid-run, the first
 * stage's stdout would have made yes | head a failure instead of an early
 * close. */
static void test_cmd_setters_once_added(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_cmd *yes = pu_cmd("endless");
  cuprum_cmd *head = pu_cmd("head", "10");
  cuprum_capture out;
  (void)state;

  pu_add(pl, yes);
  pu_add(pl, head);
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 64), 0);
  expect_cmd_owned(yes);
  expect_cmd_owned(head);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  expect_cmd_owned(yes);
  expect_cmd_owned(head);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  expect_cmd_owned(yes);
  pu_expect_status(pl, 0, -1, SIGPIPE, CUPRUM_STOP_EARLY_CLOSE);
  pu_expect_status(pl, 1, 0, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, 10);
  cuprum_pipeline_free(pl);
}

/* No stages: nothing to start, nothing to step, nothing to ask. */
static void test_no_stages(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  struct pollfd p;
  (void)state;

  assert_int_equal(cuprum_pipeline_size(pl), 0);
  assert_int_equal(cuprum_pipeline_run(pl), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_start(pl), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_step(pl), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_cancel(pl), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_done(pl), 0);
  assert_int_equal(cuprum_pipeline_pollfds(pl, &p, 1), 0);
  assert_int_equal(cuprum_pipeline_status(pl, 0, NULL, NULL, NULL), -EINVAL);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out),
                   -EINVAL);
  assert_int_equal(cuprum_pipeline_pid(pl, 0), -1);
  assert_int_equal(cuprum_pipeline_failed_stage(pl), -1);
  cuprum_pipeline_free(pl);
}

/* Results out of range, bad streams and NULL outputs. */
static void test_results_out_of_range(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  (void)state;

  pu_add(pl, pu_cmd("print", "a"));
  pu_add(pl, pu_cmd("cat"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 16), 0);
  assert_int_equal(cuprum_pipeline_status(pl, 0, NULL, NULL, NULL),
                   CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_status(pl, 2, NULL, NULL, NULL), -EINVAL);
  assert_int_equal(cuprum_pipeline_status(pl, SIZE_MAX, NULL, NULL, NULL),
                   -EINVAL);
  assert_int_equal(cuprum_pipeline_status(pl, 1, NULL, NULL, NULL), 0);
  assert_int_equal(cuprum_pipeline_pid(pl, 2), -1);
  assert_true(cuprum_pipeline_pid(pl, 1) > 0);
  assert_int_equal(cuprum_pipeline_output(pl, 2, CUPRUM_STDOUT, 0, &out),
                   -EINVAL);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDIN, 0, &out),
                   -EINVAL);
  assert_int_equal(cuprum_pipeline_output(pl, 1, 3, 0, &out), -EINVAL);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, NULL),
                   CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_output(NULL, 0, CUPRUM_STDOUT, 0, &out),
                   CUPRUM_ENULL);
  /* Taken twice: the second time there is nothing left. */
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 1, &out), 0);
  assert_int_equal(out.len, 1);
  assert_string_equal(out.data, "a");
  cuprum_capture_release(&out);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 1, &out), 0);
  assert_null(out.data);
  assert_int_equal(out.len, 0);
  assert_int_equal(out.total, 1);
  cuprum_pipeline_free(pl);
}

/* Bad commands and environment names are refused at once. */
static void test_bad_cmd_input(void **state)
{
  const char *empty[] = {"", NULL};
  const char *none[] = {NULL};
  cuprum_cmd *cmd = NULL;
  (void)state;

  assert_int_equal(cuprum_cmd_new(&cmd, empty), -EINVAL);
  assert_null(cmd);
  assert_int_equal(cuprum_cmd_new(&cmd, none), CUPRUM_ENULL);
  assert_int_equal(cuprum_cmd_new(&cmd, NULL), CUPRUM_ENULL);
  cmd = pu_cmd("env", "A");
  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_setenv(cmd, "", "x"), -EINVAL);
  assert_int_equal(cuprum_cmd_setenv(cmd, "A=B", "x"), -EINVAL);
  assert_int_equal(cuprum_cmd_setenv(cmd, "=", "x"), -EINVAL);
  assert_int_equal(cuprum_cmd_setenv(cmd, "A", NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_cmd_unsetenv(cmd, ""), -EINVAL);
  assert_int_equal(cuprum_cmd_unsetenv(cmd, "A=B"), -EINVAL);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDIN, CUPRUM_STDIO_PIPE),
                   -EINVAL);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_STDOUT),
                   -EINVAL);
  assert_int_equal(cuprum_cmd_redirect(cmd, 3, CUPRUM_STDIO_NULL), -EINVAL);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, (cuprum_stdio)99),
                   -EINVAL);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDOUT, -1), -EBADF);
  assert_int_equal(
      cuprum_cmd_redirect_path(cmd, CUPRUM_STDIN, "/x", CUPRUM_PATH_TRUNCATE),
      CUPRUM_EFLAGS);
  assert_int_equal(cuprum_cmd_redirect_path(cmd, CUPRUM_STDOUT, "/x", 0),
                   CUPRUM_EFLAGS);
  assert_int_equal(cuprum_cmd_redirect_path(cmd, CUPRUM_STDOUT, "/x", 3),
                   CUPRUM_EFLAGS);
  cuprum_cmd_free(cmd);
}

/* A long argv and a long environment value reach the child whole. */
static void test_long_argv_env(void **state)
{
  size_t n = (size_t)100 << 10;
  char *big = malloc(n + 1);
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_cmd *cmd;
  cuprum_capture out;
  (void)state;

  assert_non_null(big);
  memset(big, 'v', n);
  big[n] = '\0';
  cmd = pu_cmd("env", "CUPRUM_HUNT_BIG");
  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_setenv(cmd, "CUPRUM_HUNT_BIG", big), 0);
  pu_add(pl, cmd);
  pu_add(pl, pu_cmd("cat"));
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, n + 1);
  assert_memory_equal(out.data, big, n);
  cuprum_pipeline_free(pl);

  pl = pu_pipeline();
  pu_add(pl, pu_cmd("print", big));
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, n);
  cuprum_pipeline_free(pl);
  free(big);

  /* One argument over the kernel's 128 KiB limit: -E2BIG from the start,
   * the stage before it gone. */
  if (pu_no_sync_exec_errors() != NULL)
    return;
  n = (size_t)200 << 10;
  big = malloc(n + 1);
  assert_non_null(big);
  memset(big, 'w', n);
  big[n] = '\0';
  pl = pu_pipeline();
  pu_add(pl, pu_cmd("endless"));
  pu_add(pl, pu_cmd("print", big));
  assert_int_equal(cuprum_pipeline_run(pl), -E2BIG);
  assert_int_equal(cuprum_pipeline_failed_stage(pl), 1);
  assert_true(pu_no_children());
  cuprum_pipeline_free(pl);
  free(big);
}

/* A redirection into a missing directory, in any stage: the start fails
 * with -ENOENT naming the stage, and the stages started before it are
 * gone, their descriptors closed. */
static void test_redirect_missing_dir(void **state)
{
  (void)state;
  /* Emulated, the failed open is the child's exit status 127 (cmocka's
   * skip() prints "not ok" in TAP, so the test says why and returns). */
  if (pu_no_sync_exec_errors() != NULL) {
    fprintf(stderr, "# skipped: %s\n", pu_no_sync_exec_errors());
    return;
  }
  for (size_t bad = 0; bad < 3; bad++) {
    cuprum_pipeline *pl = pu_pipeline();
    cuprum_capture out;
    for (size_t i = 0; i < 3; i++) {
      cuprum_cmd *cmd = i == 0 ? pu_cmd("endless") : pu_cmd("cat");
      assert_non_null(cmd);
      if (i == bad)
        assert_int_equal(cuprum_cmd_redirect_path(cmd, CUPRUM_STDERR,
                                                  "/nonexistent/cuprum-dir/err",
                                                  CUPRUM_PATH_APPEND),
                         0);
      pu_add(pl, cmd);
    }
    assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 16), 0);
    assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDERR, 16), 0);
    assert_int_equal(cuprum_pipeline_run(pl), -ENOENT);
    assert_int_equal(cuprum_pipeline_failed_stage(pl), (long)bad);
    assert_int_equal(cuprum_pipeline_done(pl), 0);
    assert_int_equal(cuprum_pipeline_step(pl), CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_cancel(pl), CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_start(pl), CUPRUM_ESTATE);
    assert_int_equal(cuprum_pipeline_pollfds(pl, NULL, 0), 0);
    assert_int_equal(cuprum_pipeline_output(pl, 2, CUPRUM_STDOUT, 0, &out),
                     CUPRUM_ESTATE);
    assert_true(pu_no_children());
    cuprum_pipeline_free(pl);
  }
}

/* The working directory is a file, stdin a closed descriptor. */
static void test_chdir_file_stdin_closed(void **state)
{
  cuprum_pipeline *pl;
  cuprum_cmd *cmd;
  int fds[2];
  int closed;
  (void)state;

  /* Emulated, the failed chdir is the child's exit status 127. */
  if (pu_no_sync_exec_errors() != NULL) {
    fprintf(stderr, "# skipped: %s\n", pu_no_sync_exec_errors());
    return;
  }
  pl = pu_pipeline();
  cmd = pu_cmd("exit", "0");
  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_chdir(cmd, "/dev/null"), 0);
  pu_add(pl, pu_cmd("endless"));
  pu_add(pl, cmd);
  assert_int_equal(cuprum_pipeline_run(pl), -ENOTDIR);
  assert_int_equal(cuprum_pipeline_failed_stage(pl), 1);
  assert_true(pu_no_children());
  cuprum_pipeline_free(pl);

  /* A descriptor number that is surely closed: one just closed (the
   * pipeline makes no descriptor before it spawns this stage). */
  test_pipe(fds);
  closed = fds[0];
  test_close(&fds[0]);
  test_close(&fds[1]);
  pl = pu_pipeline();
  pu_add(pl, pu_cmd("cat"));
  assert_int_equal(cuprum_pipeline_set_input_fd(pl, closed), 0);
  assert_int_equal(cuprum_pipeline_run(pl), -EBADF);
  assert_int_equal(cuprum_pipeline_failed_stage(pl), 0);
  cuprum_pipeline_free(pl);
}

static int count_bytes(void *ctx, size_t stage, int stream, const char *data,
                       size_t len)
{
  (void)stage;
  (void)stream;
  (void)data;
  *(size_t *)ctx += len;
  return 0;
}

/* Byte caps of 0 (no capture; a chunk callback keeps stdout a pipe) and
 * 1. */
static void test_capture_cap_0_1(void **state)
{
  (void)state;
  for (size_t limit = 0; limit < 2; limit++) {
    cuprum_pipeline *pl = pu_pipeline();
    cuprum_capture out;
    size_t seen = 0;
    pu_add(pl, pu_cmd("emit", "100000"));
    assert_int_equal(
        cuprum_pipeline_on_chunk(pl, CUPRUM_STDOUT, count_bytes, &seen), 0);
    assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, limit), 0);
    assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDERR, limit), 0);
    assert_int_equal(cuprum_pipeline_run(pl), 0);
    pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
    assert_int_equal(seen, 100000);
    assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
    assert_int_equal(out.len, limit);
    assert_int_equal(out.total, 100000);
    if (limit == 0) {
      assert_null(out.data);
    } else {
      assert_int_equal(out.total, 100000);
      assert_true(test_pattern_check(out.data, 0, 1));
      assert_int_equal(out.data[1], '\0');
    }
    assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDERR, 0, &out), 0);
    assert_null(out.data);
    assert_int_equal(out.len, 0);
    cuprum_pipeline_free(pl);
  }
}

/* A tee to a descriptor not open for writing (a pipe's read end: a closed
 * number could be reused by the pipeline's own pipes) stops the tee,
 * never the run. */
static void test_tee_closed(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  int fds[2];
  (void)state;

  test_pipe(fds);
  pu_add(pl, pu_cmd("emit", "70000"));
  assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDOUT, fds[0]), 0);
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.len, 70000);
  assert_int_equal(out.tee_error, -EBADF);
  cuprum_pipeline_free(pl);
  test_close(&fds[0]);
  test_close(&fds[1]);
}

/* A tee to a non-blocking pipe whose reader is gone: -EPIPE, no signal. */
static void test_tee_nonblocking_epipe(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_capture out;
  int fds[2];
  (void)state;

  test_pipe(fds);
  assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
  test_close(&fds[0]);
  pu_add(pl, pu_cmd("emit", "70000"));
  assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDOUT, fds[1]), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
  assert_int_equal(out.tee_error, -EPIPE);
  assert_int_equal(out.total, 70000);
  cuprum_pipeline_free(pl);
  test_close(&fds[1]);
}

static int fail_line(void *ctx, size_t stage, int stream, const char *data,
                     size_t len)
{
  (void)stage;
  (void)stream;
  (void)data;
  (void)len;
  return *(const int *)ctx;
}

/* A line callback's error code (or a positive value) ends the run with
 * it, also on a last line without an ending, and nothing is left. */
static void test_line_callback_error(void **state)
{
  const int codes[] = {-EIO, 7};
  const int want[] = {-EIO, CUPRUM_ESTOPPED};
  (void)state;

  for (size_t i = 0; i < 2; i++)
    for (int endless = 0; endless < 2; endless++) {
      cuprum_pipeline *pl = pu_pipeline();
      pu_add(pl, endless ? pu_cmd("endless") : pu_cmd("print", "no ending"));
      assert_int_equal(cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, fail_line,
                                               (void *)&codes[i]),
                       0);
      assert_int_equal(cuprum_pipeline_run(pl), want[i]);
      assert_int_equal(cuprum_pipeline_done(pl), 1);
      assert_int_equal(cuprum_pipeline_step(pl), 1);
      assert_true(pu_no_children());
      if (endless)
        pu_expect_status(pl, 0, -1, SIGKILL, CUPRUM_STOP_CANCEL);
      cuprum_pipeline_free(pl);
    }
}

/* Timeout 0 stops at once; the largest timeout never fires. */
static void test_timeout_extremes(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  (void)state;

  pu_add(pl, pu_cmd("sleep", "60000"));
  assert_int_equal(cuprum_pipeline_set_timeout(pl, 0, 0), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  pu_expect_status(pl, 0, -1, SIGKILL, CUPRUM_STOP_TIMEOUT);
  cuprum_pipeline_free(pl);

  pl = pu_pipeline();
  pu_add(pl, pu_cmd("print", "x"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 16), 0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, INT64_MAX, INT64_MAX), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  assert_int_not_equal(cuprum_pipeline_timeout(pl), 0);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  cuprum_pipeline_free(pl);
}

/* The largest grace means SIGTERM and no SIGKILL: a child that ignores
 * SIGTERM keeps running until the test ends it itself, with SIGUSR1 (a
 * SIGKILL sent before it would win). */
static void test_huge_grace(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  volatile int ready = 0;
  int step;
  (void)state;

  pu_add(pl, pu_cmd("stubborn"));
  assert_int_equal(
      cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, pu_note_line, (void *)&ready),
      0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, -1, INT64_MAX), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  assert_int_equal(pu_drive(pl, &ready, PU_FLAG_RETURN), 0);
  assert_int_equal(cuprum_pipeline_cancel(pl), 0);
  /* The grace is not over: nothing is due now. */
  assert_int_not_equal(cuprum_pipeline_timeout(pl), 0);
  for (step = 0; step < 3; step++)
    assert_int_equal(cuprum_pipeline_step(pl), 0);
  (void)kill((pid_t)cuprum_pipeline_pid(pl, 0), SIGUSR1);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  pu_expect_status(pl, 0, -1, SIGUSR1, CUPRUM_STOP_CANCEL);
  cuprum_pipeline_free(pl);
}

/* Freed between steps, at every point of a run: nothing is left. */
static void test_free_mid_step(void **state)
{
  (void)state;
  for (int steps = 0; steps < 6; steps++) {
    cuprum_pipeline *pl = pu_pipeline();
    pu_add(pl, pu_cmd("endless"));
    pu_add(pl, pu_cmd("cat"));
    pu_add(pl, pu_cmd("head", "1000000"));
    assert_int_equal(
        cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED),
        0);
    assert_int_equal(cuprum_pipeline_set_input(pl, "abc", 3), 0);
    assert_int_equal(cuprum_pipeline_start(pl), 0);
    for (int i = 0; i < steps; i++)
      if (cuprum_pipeline_step(pl) != 0)
        break;
    if (steps == 5)
      assert_int_equal(cuprum_pipeline_cancel(pl), 0);
    cuprum_pipeline_free(pl);
    assert_true(pu_no_children());
  }
}

struct seen {
  volatile int ready;
  long pid;
  char err[64];
  size_t err_len;
  int err_lines;
};

static int seen_line(void *ctx, size_t stage, int stream, const char *data,
                     size_t len)
{
  struct seen *s = ctx;
  (void)stage;
  if (stream == CUPRUM_STDOUT) {
    char buf[32];
    assert_true(len < sizeof(buf));
    memcpy(buf, data, len);
    buf[len] = '\0';
    s->pid = strtol(buf, NULL, 10);
    s->ready = 1;
    return 0;
  }
  assert_true(len <= sizeof(s->err) - s->err_len);
  memcpy(s->err + s->err_len, data, len);
  s->err_len += len;
  s->err_lines++;
  return 0;
}

/* Killed while a grandchild keeps its outputs open: the pipeline reads
 * what is there and closes them; a last line without an ending is still a
 * line, as at end of file. */
static void test_killed_last_line(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  struct seen s = {0, 0, {0}, 0, 0};
  cuprum_capture out;
  (void)state;

  pu_add(pl, pu_cmd("grandchild", "partial"));
  assert_int_equal(cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, seen_line, &s),
                   0);
  assert_int_equal(cuprum_pipeline_on_line(pl, CUPRUM_STDERR, seen_line, &s),
                   0);
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDERR, 64), 0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, -1, 0), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  assert_int_equal(pu_drive(pl, &s.ready, PU_FLAG_RETURN), 0);
  assert_true(s.pid > 0);
  assert_int_equal(cuprum_pipeline_cancel(pl), 0);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  assert_int_equal(kill((pid_t)s.pid, SIGKILL), 0);
  pu_expect_status(pl, 0, -1, SIGKILL, CUPRUM_STOP_CANCEL);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDERR, 0, &out), 0);
  assert_string_equal(out.data, "partial");
  assert_int_equal(s.err_lines, 1);
  assert_int_equal(s.err_len, 7);
  assert_memory_equal(s.err, "partial", 7);
  cuprum_pipeline_free(pl);
}

/* NULL where the header says it is refused, or allowed. */
static void test_null_args(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  struct pollfd p;
  (void)state;

  cuprum_pipeline_free(NULL);
  cuprum_cmd_free(NULL);
  assert_int_equal(cuprum_pipeline_new(NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_size(NULL), 0);
  assert_int_equal(cuprum_pipeline_done(NULL), 0);
  assert_int_equal(cuprum_pipeline_timeout(NULL), 0);
  assert_int_equal(cuprum_pipeline_pollfds(NULL, &p, 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_pollfds(pl, NULL, 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_pollfds(pl, NULL, 0), 0);
  assert_int_equal(cuprum_pipeline_pid(NULL, 0), -1);
  assert_int_equal(cuprum_pipeline_failed_stage(NULL), -1);
  assert_int_equal(cuprum_pipeline_step(NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_cancel(NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_run(NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_start(NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_status(NULL, 0, NULL, NULL, NULL),
                   CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_add(pl, NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_add(NULL, NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_set_input(pl, NULL, 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_set_input(pl, NULL, 0), 0);
  assert_int_equal(cuprum_pipeline_set_input_fd(pl, -1), -EBADF);
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDIN, 1), -EINVAL);
  assert_int_equal(cuprum_pipeline_tee(pl, 7, 1), -EINVAL);
  assert_int_equal(cuprum_pipeline_on_chunk(pl, -1, NULL, NULL), -EINVAL);
  assert_int_equal(cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, NULL, NULL), 0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, 5, -1), -EINVAL);
  assert_int_equal(cuprum_pipeline_set_flags(pl, 0x4u), CUPRUM_EFLAGS);
  assert_int_equal(cuprum_cmd_chdir(NULL, "/"), CUPRUM_ENULL);
  assert_int_equal(cuprum_cmd_clearenv(NULL), CUPRUM_ENULL);
  cuprum_pipeline_free(pl);
}

/* Captures the last stage's stdout (at most 64 bytes), runs the pipeline
 * and checks that stdout was `want`. */
static void run_expect_stdout(cuprum_pipeline *pl, const char *want)
{
  cuprum_capture out;
  size_t last = cuprum_pipeline_size(pl) - 1;

  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 64), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_output(pl, last, CUPRUM_STDOUT, 0, &out), 0);
  assert_string_equal(out.data, want);
}

/* The helper printing CUPRUM_HUNT_A, which the overlay sets to 1 and then
 * 2, next to a variable it sets and then unsets. */
static cuprum_cmd *env_a_cmd(void)
{
  cuprum_cmd *a = pu_cmd("env", "CUPRUM_HUNT_A");

  assert_non_null(a);
  assert_int_equal(cuprum_cmd_setenv(a, "CUPRUM_HUNT_A", "1"), 0);
  assert_int_equal(cuprum_cmd_setenv(a, "CUPRUM_HUNT_A", "2"), 0);
  assert_int_equal(cuprum_cmd_setenv(a, "CUPRUM_HUNT_AA", "x"), 0);
  assert_int_equal(cuprum_cmd_unsetenv(a, "CUPRUM_HUNT_AA"), 0);
  return a;
}

/* Overlay operations apply in call order. */
static void test_env_order(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_cmd *b = pu_cmd("env", "CUPRUM_HUNT_B");
  (void)state;

  assert_non_null(b);
  assert_int_equal(cuprum_cmd_setenv(b, "CUPRUM_HUNT_A", "1"), 0);
  assert_int_equal(cuprum_cmd_clearenv(b), 0);
  assert_int_equal(cuprum_cmd_setenv(b, "CUPRUM_HUNT_B", ""), 0);
  pu_add(pl, env_a_cmd());
  pu_add(pl, b);
  run_expect_stdout(pl, "\n");
  cuprum_pipeline_free(pl);

  pl = pu_pipeline();
  pu_add(pl, env_a_cmd());
  run_expect_stdout(pl, "2\n");
  cuprum_pipeline_free(pl);
}

/* More stages than run()'s first poll array holds. */
static void test_many_stages(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  (void)state;

  for (int i = 0; i < 24; i++)
    pu_add(pl, pu_cmd("cat"));
  assert_int_equal(cuprum_pipeline_set_input(pl, "many\n", 5), 0);
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDERR, 64), 0);
  run_expect_stdout(pl, "many\n");
  for (size_t i = 0; i < 24; i++)
    pu_expect_status(pl, i, 0, 0, CUPRUM_STOP_NONE);
  cuprum_pipeline_free(pl);
}

/* An input and an explicit stdin conflict, at every start. */
static void test_input_conflict(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_cmd *cmd = pu_cmd("cat");
  (void)state;

  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDIN, CUPRUM_STDIO_NULL),
                   0);
  pu_add(pl, cmd);
  assert_int_equal(cuprum_pipeline_set_input(pl, "x", 1), 0);
  assert_int_equal(cuprum_pipeline_run(pl), -EINVAL);
  assert_int_equal(cuprum_pipeline_start(pl), -EINVAL);
  assert_int_equal(cuprum_pipeline_set_input_fd(pl, 0), 0);
  assert_int_equal(cuprum_pipeline_start(pl), -EINVAL);
  assert_int_equal(cuprum_pipeline_failed_stage(pl), -1);
  cuprum_pipeline_free(pl);
}

/* cuprum_cmd_spawn refusals leave pid and pidfd at -1. */
static void test_spawn_refusals(void **state)
{
  cuprum_cmd *cmd = pu_cmd("exit", "0");
  pid_t pid = 5;
  int pidfd = 5;
  (void)state;

  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0x8u, 0, &pid, &pidfd), CUPRUM_EFLAGS);
  assert_int_equal(pid, -1);
  assert_int_equal(pidfd, -1);
  pid = 5;
  assert_int_equal(cuprum_cmd_spawn(cmd, CUPRUM_SPAWN_PGROUP, -3, &pid, NULL),
                   -EINVAL);
  assert_int_equal(pid, -1);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, NULL, &pidfd), CUPRUM_ENULL);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDERR, CUPRUM_STDIO_PIPE),
                   0);
  pid = 5;
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, &pid, &pidfd), -EINVAL);
  assert_int_equal(pid, -1);
  assert_int_equal(cuprum_cmd_redirect_path(cmd, CUPRUM_STDERR,
                                            "/nonexistent/cuprum-dir/e",
                                            CUPRUM_PATH_TRUNCATE),
                   0);
  pidfd = 5;
  if (pu_no_sync_exec_errors() == NULL) {
    assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, &pid, &pidfd), -ENOENT);
    assert_int_equal(pid, -1);
    assert_int_equal(pidfd, -1);
  }
  cuprum_cmd_free(cmd);
}

/* A command belongs to one pipeline, once: adding it again, to the same
 * pipeline or another, is refused (it would be freed twice). */
static void test_add_twice(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_pipeline *other = pu_pipeline();
  cuprum_cmd *cmd = pu_cmd("exit", "0");
  (void)state;

  pu_add(pl, cmd);
  assert_int_equal(cuprum_pipeline_add(pl, cmd), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_add(other, cmd), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_size(pl), 1);
  assert_int_equal(cuprum_pipeline_size(other), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  cuprum_pipeline_free(other);
  cuprum_pipeline_free(pl);
}

/* A non-last stage whose stdout is a caller's pipe with no reader dies
 * of SIGPIPE: no next stage closed its end, so that is a failure, not an
 * early close, and fail-fast stops the others. */
static void test_sigpipe_not_early_close(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_cmd *cmd = pu_cmd("emit", "100000");
  int fds[2];
  (void)state;

  test_pipe(fds);
  test_close(&fds[0]);
  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDOUT, fds[1]), 0);
  pu_add(pl, cmd);
  pu_add(pl, pu_cmd("sleep", "60000"));
  assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_FAIL_FAST), 0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, -1, 0), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  test_close(&fds[1]);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  pu_expect_status(pl, 0, -1, SIGPIPE, CUPRUM_STOP_NONE);
  pu_expect_status(pl, 1, -1, SIGKILL, CUPRUM_STOP_FAIL_FAST);
  cuprum_pipeline_free(pl);
}

/* A tee descriptor below -1 is refused and changes nothing; -1 turns the
 * tee off. */
static void test_tee_bad_fd(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  size_t seen = 0;
  char buf[16];
  int fds[2];
  (void)state;

  test_pipe(fds);
  pu_add(pl, pu_cmd("print", "hello"));
  assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDOUT, fds[1]), 0);
  assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDOUT, -2), -EINVAL);
  assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDOUT, INT_MIN), -EINVAL);
  assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDERR, -2), -EINVAL);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  cuprum_pipeline_free(pl);
  test_close(&fds[1]);
  assert_int_equal(test_read_all(fds[0], buf, sizeof(buf)), 5);
  assert_string_equal(buf, "hello");
  test_close(&fds[0]);

  /* Turned off again with -1: the bytes read go to the callback only. */
  pl = pu_pipeline();
  test_pipe(fds);
  pu_add(pl, pu_cmd("print", "hello"));
  assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDOUT, fds[1]), 0);
  assert_int_equal(cuprum_pipeline_tee(pl, CUPRUM_STDOUT, -1), 0);
  assert_int_equal(
      cuprum_pipeline_on_chunk(pl, CUPRUM_STDOUT, count_bytes, &seen), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(seen, 5);
  cuprum_pipeline_free(pl);
  test_close(&fds[1]);
  assert_int_equal(test_read_all(fds[0], buf, sizeof(buf)), 0);
  test_close(&fds[0]);
}

/* cuprum_pipeline_output for the stdout of a stage that is not the last
 * is -EINVAL (it fed the next stage: nothing can have been captured),
 * unless its command piped it to the pipeline.  The last stage's stdout
 * and every stderr stay valid requests, captured or not. */
static void test_output_never_read(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  cuprum_cmd *cmd;
  cuprum_capture out;
  size_t seen = 0;
  (void)state;

  pu_add(pl, pu_cmd("print", "a"));
  pu_add(pl, pu_cmd("cat"));
  pu_add(pl, pu_cmd("cat"));
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 16), 0);
  /* Known before the start: refused before CUPRUM_ESTATE. */
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out),
                   -EINVAL);
  assert_int_equal(cuprum_pipeline_output(pl, 2, CUPRUM_STDOUT, 0, &out),
                   CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(cuprum_pipeline_output(pl, i, CUPRUM_STDOUT, 1, &out),
                     -EINVAL);
    assert_null(out.data);
  }
  /* Not asked for, so not captured: still a valid request. */
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(cuprum_pipeline_output(pl, i, CUPRUM_STDERR, 0, &out), 0);
    assert_null(out.data);
    assert_int_equal(out.total, 0);
  }
  assert_int_equal(cuprum_pipeline_output(pl, 2, CUPRUM_STDOUT, 0, &out), 0);
  assert_string_equal(out.data, "a");
  cuprum_pipeline_free(pl);

  /* A middle stage whose command pipes its stdout to the pipeline is read
   * (the next stage's stdin is then empty); a middle stdout sent to
   * /dev/null is not; the last stage's stdout sent there is valid and
   * empty. */
  pl = pu_pipeline();
  cmd = pu_cmd("print", "mid");
  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_PIPE),
                   0);
  pu_add(pl, cmd);
  cmd = pu_cmd("print", "y");
  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_NULL),
                   0);
  pu_add(pl, cmd);
  cmd = pu_cmd("print", "x");
  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_NULL),
                   0);
  pu_add(pl, cmd);
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 16), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out), 0);
  assert_string_equal(out.data, "mid");
  assert_int_equal(cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 0, &out),
                   -EINVAL);
  assert_int_equal(cuprum_pipeline_output(pl, 2, CUPRUM_STDOUT, 0, &out), 0);
  assert_null(out.data);
  assert_int_equal(out.total, 0);
  cuprum_pipeline_free(pl);

  /* Read but not captured (a callback only): counted, nothing kept. */
  pl = pu_pipeline();
  pu_add(pl, pu_cmd("emit", "1000"));
  assert_int_equal(
      cuprum_pipeline_on_chunk(pl, CUPRUM_STDOUT, count_bytes, &seen), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 1, &out), 0);
  assert_null(out.data);
  assert_int_equal(out.total, 1000);
  assert_int_equal(seen, 1000);
  cuprum_pipeline_free(pl);
}

/* Blocks until stage `stage` has exited, without reaping it: the
 * pipeline still sees it running until its next step. */
static void wait_exited(cuprum_pipeline *pl, size_t stage)
{
  siginfo_t info;
  int rc;

  memset(&info, 0, sizeof(info));
  do
    rc = waitid(P_PID, (id_t)cuprum_pipeline_pid(pl, stage), &info,
                WEXITED | WNOWAIT);
  while (rc == -1 && errno == EINTR);
  assert_int_equal(rc, 0);
}

static int fail_chunk(void *ctx, size_t stage, int stream, const char *data,
                      size_t len)
{
  (void)ctx;
  (void)stage;
  (void)stream;
  (void)data;
  (void)len;
  return -EIO;
}

/* A stage that had exited on its own before cuprum decided to stop the
 * others keeps its own status, with no stop reason: by fail-fast (the
 * failing stage comes first, so it is reaped first), by a cancel, and by
 * a library error.  Deterministic: the test waits until the stages have
 * exited (waitid with WNOWAIT) before the pipeline's first step. */
static void test_stop_spares_exited(void **state)
{
  cuprum_pipeline *pl = pu_pipeline();
  (void)state;

  pu_add(pl, pu_cmd("exit", "3"));
  pu_add(pl, pu_cmd("exit", "0"));
  pu_add(pl, pu_cmd("exit", "4"));
  pu_add(pl, pu_cmd("sleep", "60000"));
  assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_FAIL_FAST), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  for (size_t i = 0; i < 3; i++)
    wait_exited(pl, i);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  pu_expect_status(pl, 0, 3, 0, CUPRUM_STOP_NONE);
  pu_expect_status(pl, 1, 0, 0, CUPRUM_STOP_NONE);
  pu_expect_status(pl, 2, 4, 0, CUPRUM_STOP_NONE);
  pu_expect_status(pl, 3, -1, SIGTERM, CUPRUM_STOP_FAIL_FAST);
  cuprum_pipeline_free(pl);

  pl = pu_pipeline();
  pu_add(pl, pu_cmd("exit", "0"));
  pu_add(pl, pu_cmd("sleep", "60000"));
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  wait_exited(pl, 0);
  assert_int_equal(cuprum_pipeline_cancel(pl), 0);
  assert_int_equal(pu_drive(pl, NULL, PU_FLAG_RETURN), 1);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  pu_expect_status(pl, 1, -1, SIGTERM, CUPRUM_STOP_CANCEL);
  cuprum_pipeline_free(pl);

  pl = pu_pipeline();
  pu_add(pl, pu_cmd("print", "x"));
  assert_int_equal(
      cuprum_pipeline_on_chunk(pl, CUPRUM_STDOUT, fail_chunk, NULL), 0);
  assert_int_equal(cuprum_pipeline_start(pl), 0);
  wait_exited(pl, 0);
  assert_int_equal(cuprum_pipeline_step(pl), -EIO);
  pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
  cuprum_pipeline_free(pl);
}

#define T(f) cmocka_unit_test_setup_teardown(f, pu_setup, pu_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_setters_after_start),
      T(test_cmd_setters_once_added),
      T(test_no_stages),
      T(test_results_out_of_range),
      T(test_bad_cmd_input),
      T(test_long_argv_env),
      T(test_redirect_missing_dir),
      T(test_chdir_file_stdin_closed),
      T(test_capture_cap_0_1),
      T(test_tee_closed),
      T(test_tee_nonblocking_epipe),
      T(test_line_callback_error),
      T(test_timeout_extremes),
      T(test_huge_grace),
      T(test_free_mid_step),
      T(test_killed_last_line),
      T(test_null_args),
      T(test_env_order),
      T(test_many_stages),
      T(test_input_conflict),
      T(test_spawn_refusals),
      T(test_add_twice),
      T(test_sigpipe_not_early_close),
      T(test_tee_bad_fd),
      T(test_output_never_read),
      T(test_stop_spares_exited),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
