/* SPDX-License-Identifier: ISC */
/*
 * test-cmd.c - one command through a one-stage pipeline: argv, the
 * environment overlay, the working directory, every kind of redirection,
 * descriptors the child must not inherit, and exec failures reported as
 * -errno with nothing leaked and nothing left running.
 */
#include "config.h"

#include "pipeutil.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* Runs cmd alone, capturing stdout into out (caller frees with
 * cuprum_capture_release); returns the exit code. */
static int run1(cuprum_cmd *cmd, cuprum_capture *out)
{
  cuprum_pipeline *pl = NULL;
  int code = -2;

  assert_non_null(cmd);
  assert_int_equal(cuprum_pipeline_new(&pl), 0);
  assert_int_equal(cuprum_pipeline_add(pl, cmd), 0);
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  assert_int_equal(cuprum_pipeline_status(pl, 0, &code, NULL, NULL), 0);
  assert_int_equal(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 1, out), 0);
  cuprum_pipeline_free(pl);
  return code;
}

static void expect_output(cuprum_cmd *cmd, int code, const char *want)
{
  cuprum_capture out;
  assert_int_equal(run1(cmd, &out), code);
  assert_int_equal(out.len, strlen(want));
  if (out.len > 0)
    assert_string_equal(out.data, want);
  cuprum_capture_release(&out);
}

/* Runs cmd alone, whose stdout goes elsewhere (nothing is captured);
 * returns the exit code. */
static int run_quiet(cuprum_cmd *cmd)
{
  cuprum_capture out;
  int code = run1(cmd, &out);

  assert_int_equal(out.len, 0);
  cuprum_capture_release(&out);
  return code;
}

static void test_argv(void **state)
{
  (void)state;
  expect_output(pu_cmd("argv", "a b", "", "c\"d"), 0, "a b\n\nc\"d\n");
}

static void test_exit_code(void **state)
{
  (void)state;
  expect_output(pu_cmd("exit", "7"), 7, "");
}

static void test_env_overlay(void **state)
{
  cuprum_cmd *cmd = pu_cmd("env", "CUPRUM_T1");
  (void)state;
  assert_int_equal(setenv("CUPRUM_T1", "parent", 1), 0);
  expect_output(cmd, 0, "parent\n");

  cmd = pu_cmd("env", "CUPRUM_T1");
  assert_int_equal(cuprum_cmd_setenv(cmd, "CUPRUM_T1", "child=1"), 0);
  expect_output(cmd, 0, "child=1\n");

  cmd = pu_cmd("env", "CUPRUM_T1");
  assert_int_equal(cuprum_cmd_unsetenv(cmd, "CUPRUM_T1"), 0);
  expect_output(cmd, 0, "(unset)\n");

  cmd = pu_cmd("env", "CUPRUM_T2");
  assert_int_equal(cuprum_cmd_setenv(cmd, "CUPRUM_T2", "x"), 0);
  assert_int_equal(cuprum_cmd_clearenv(cmd), 0);
  expect_output(cmd, 0, "(unset)\n");

  cmd = pu_cmd("env", "CUPRUM_T1");
  assert_int_equal(cuprum_cmd_clearenv(cmd), 0);
  assert_int_equal(cuprum_cmd_setenv(cmd, "CUPRUM_T1", "only"), 0);
  expect_output(cmd, 0, "only\n");
  assert_int_equal(unsetenv("CUPRUM_T1"), 0);

  cmd = pu_cmd("env", "X");
  assert_int_equal(cuprum_cmd_setenv(cmd, "A=B", "x"), -EINVAL);
  assert_int_equal(cuprum_cmd_setenv(cmd, "", "x"), -EINVAL);
  assert_int_equal(cuprum_cmd_unsetenv(cmd, "A=B"), -EINVAL);
  assert_int_equal(cuprum_cmd_setenv(cmd, NULL, "x"), CUPRUM_ENULL);
  cuprum_cmd_free(cmd);
}

static void test_cwd(void **state)
{
  cuprum_cmd *cmd = pu_cmd("cwd");
  (void)state;
  assert_int_equal(cuprum_cmd_chdir(cmd, "/"), 0);
  expect_output(cmd, 0, "/\n");
}

/* Reads the file at path into buf (n bytes, NUL-terminated). */
static void read_file(const char *path, char *buf, size_t n)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  test_read_all(fd, buf, n);
  close(fd);
}

static void test_redirect_paths(void **state)
{
  char dir[256];
  char path[300];
  char buf[64];
  cuprum_cmd *cmd;
  (void)state;

  pu_tmpdir(dir, sizeof(dir), "cuprum-test-cmd");
  snprintf(path, sizeof(path), "%s/out", dir);
  pu_write_one_two(path, run_quiet);
  read_file(path, buf, sizeof(buf));
  assert_string_equal(buf, "one\ntwo\n");

  /* stdin from the file, through cat. */
  cmd = pu_cmd("cat");
  assert_int_equal(cuprum_cmd_redirect_path(cmd, CUPRUM_STDIN, path, 0), 0);
  expect_output(cmd, 0, "one\ntwo\n");

  /* Truncation, and stderr into stdout into the file. */
  cmd = pu_cmd("eprint", "err\n");
  assert_int_equal(
      cuprum_cmd_redirect_path(cmd, CUPRUM_STDOUT, path, CUPRUM_PATH_TRUNCATE),
      0);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDERR, CUPRUM_STDIO_STDOUT),
                   0);
  expect_output(cmd, 0, "");
  read_file(path, buf, sizeof(buf));
  assert_string_equal(buf, "err\n");

  cmd = pu_cmd("cat");
  assert_int_equal(
      cuprum_cmd_redirect_path(cmd, CUPRUM_STDIN, path, CUPRUM_PATH_APPEND),
      CUPRUM_EFLAGS);
  assert_int_equal(cuprum_cmd_redirect_path(cmd, CUPRUM_STDOUT, path, 0),
                   CUPRUM_EFLAGS);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDIN, CUPRUM_STDIO_PIPE),
                   -EINVAL);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_STDOUT),
                   -EINVAL);
  assert_int_equal(cuprum_cmd_redirect(cmd, 3, CUPRUM_STDIO_NULL), -EINVAL);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDIN, -1), -EBADF);
  cuprum_cmd_free(cmd);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(rmdir(dir), 0);
}

static void test_redirect_null_and_fd(void **state)
{
  int p[2];
  char buf[64];
  ssize_t n;
  cuprum_cmd *cmd;
  (void)state;

  /* stdin from /dev/null: cat ends at once. */
  cmd = pu_cmd("cat");
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDIN, CUPRUM_STDIO_NULL),
                   0);
  expect_output(cmd, 0, "");

  /* stdout to /dev/null: nothing captured even though capture is on. */
  cmd = pu_cmd("print", "gone");
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_NULL),
                   0);
  expect_output(cmd, 0, "");

  /* stdout to a lent descriptor, which stays open. */
  test_pipe(p);
  cmd = pu_cmd("print", "lent\n");
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDOUT, p[1]), 0);
  expect_output(cmd, 0, "");
  assert_true(fcntl(p[1], F_GETFD) != -1);
  test_close(&p[1]);
  n = read(p[0], buf, sizeof(buf) - 1);
  assert_int_equal(n, 5);
  assert_memory_equal(buf, "lent\n", 5);
  test_close(&p[0]);
}

/* A lent descriptor numbered 0..2 must reach the right stream even when
 * it collides with the dup2 targets. */
static void test_redirect_low_fd(void **state)
{
  int saved = fcntl(0, F_DUPFD_CLOEXEC, 3);
  int p[2];
  char buf[16];
  cuprum_cmd *cmd;
  (void)state;

  assert_true(saved >= 0);
  test_pipe(p);
  /* Put the write end on descriptor 0. */
  assert_int_equal(dup2(p[1], 0), 0);
  test_close(&p[1]);
  cmd = pu_cmd("print", "low");
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDOUT, 0), 0);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDIN, CUPRUM_STDIO_NULL),
                   0);
  expect_output(cmd, 0, "");
  assert_int_equal(dup2(saved, 0), 0);
  close(saved);
  assert_int_equal(read(p[0], buf, sizeof(buf)), 3);
  assert_memory_equal(buf, "low", 3);
  test_close(&p[0]);
}

/* A descriptor without close-on-exec is not inherited. */
static void test_closes_other_fds(void **state)
{
  int fd = open("/dev/null", O_RDONLY);
  (void)state;
  assert_true(fd > 2);
  expect_output(pu_cmd("fds"), 0, "none\n");
  close(fd);
}

static void expect_status_code(cuprum_pipeline *pl, int want)
{
  int code = -2;
  assert_int_equal(cuprum_pipeline_status(pl, 0, &code, NULL, NULL), 0);
  assert_int_equal(code, want);
}

static void expect_start_error(cuprum_cmd *cmd, int want)
{
  cuprum_pipeline *pl = NULL;
  assert_non_null(cmd);
  assert_int_equal(cuprum_pipeline_new(&pl), 0);
  assert_int_equal(cuprum_pipeline_add(pl, pu_cmd("endless")), 0);
  assert_int_equal(cuprum_pipeline_add(pl, cmd), 0);
  assert_int_equal(
      cuprum_pipeline_capture(pl, CUPRUM_STDERR, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_start(pl), want);
  assert_int_equal(cuprum_pipeline_failed_stage(pl), 1);
  assert_int_equal(cuprum_pipeline_done(pl), 0);
  assert_int_equal(cuprum_pipeline_step(pl), CUPRUM_ESTATE);
  /* The first stage was started, then killed and reaped. */
  assert_true(pu_no_children());
  cuprum_pipeline_free(pl);
}

/* Where exec errors cannot come back synchronously: the start succeeds and
 * the stage exits with 127, and nothing is left behind either. */
static void expect_exit_127(cuprum_cmd *cmd)
{
  cuprum_pipeline *pl = NULL;
  assert_non_null(cmd);
  assert_int_equal(cuprum_pipeline_new(&pl), 0);
  assert_int_equal(cuprum_pipeline_add(pl, cmd), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  expect_status_code(pl, 127);
  cuprum_pipeline_free(pl);
}

static void test_exec_failures(void **state)
{
  (void)state;
  pu_exec_failures(expect_start_error, expect_exit_127);
}

static void test_bad_arguments(void **state)
{
  const char *empty[] = {"", NULL};
  const char *none[] = {NULL};
  cuprum_cmd *cmd = NULL;
  cuprum_pipeline *pl = NULL;
  (void)state;

  assert_int_equal(cuprum_cmd_new(NULL, empty), CUPRUM_ENULL);
  assert_int_equal(cuprum_cmd_new(&cmd, NULL), CUPRUM_ENULL);
  assert_int_equal(cuprum_cmd_new(&cmd, none), CUPRUM_ENULL);
  assert_int_equal(cuprum_cmd_new(&cmd, empty), -EINVAL);
  assert_null(cmd);
  cuprum_cmd_free(NULL);
  cuprum_pipeline_free(NULL);
  assert_int_equal(cuprum_pipeline_new(&pl), 0);
  assert_int_equal(cuprum_pipeline_start(pl), CUPRUM_ESTATE);
  assert_int_equal(cuprum_pipeline_set_flags(pl, 0x100), CUPRUM_EFLAGS);
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDIN, 1), -EINVAL);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, 1, -1), -EINVAL);
  assert_int_equal(cuprum_pipeline_set_input(pl, NULL, 1), CUPRUM_ENULL);
  assert_int_equal(cuprum_pipeline_add(pl, pu_cmd("cat")), 0);
  /* An explicit stdin on a later stage cuts the join: the first stage's
   * writes meet a closed pipe, an early close. */
  cmd = pu_cmd("cat");
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDIN, CUPRUM_STDIO_NULL),
                   0);
  assert_int_equal(cuprum_pipeline_set_input(pl, "x", 1), 0);
  assert_int_equal(cuprum_pipeline_add(pl, cmd), 0);
  assert_int_equal(cuprum_pipeline_run(pl), 0);
  /* A refused command stays the caller's. */
  cmd = pu_cmd("cat");
  assert_int_equal(cuprum_pipeline_add(pl, cmd), CUPRUM_ESTATE);
  cuprum_cmd_free(cmd);
  assert_int_equal(cuprum_pipeline_start(pl), CUPRUM_ESTATE);
  cuprum_pipeline_free(pl);
  /* An input and an explicit stdin on the first stage conflict. */
  assert_int_equal(cuprum_pipeline_new(&pl), 0);
  cmd = pu_cmd("cat");
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDIN, CUPRUM_STDIO_NULL),
                   0);
  assert_int_equal(cuprum_pipeline_add(pl, cmd), 0);
  assert_int_equal(cuprum_pipeline_set_input(pl, "x", 1), 0);
  assert_int_equal(cuprum_pipeline_start(pl), -EINVAL);
  cuprum_pipeline_free(pl);
}

#define T(f) cmocka_unit_test_setup_teardown(f, pu_setup, pu_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_argv),
      T(test_exit_code),
      T(test_env_overlay),
      T(test_cwd),
      T(test_redirect_paths),
      T(test_redirect_null_and_fd),
      T(test_redirect_low_fd),
      T(test_closes_other_fds),
      T(test_exec_failures),
      T(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
