/* SPDX-License-Identifier: ISC */
/*
 * pipeutil.h - what the process and pipeline tests share: commands that
 * run the test helper, a teardown that also fails on a child left behind,
 * the qemu-user check, a scratch directory, writing a file through
 * redirections, the commands whose start must fail, and making, filling
 * and checking pipelines.
 */
#ifndef CUPRUM_PIPEUTIL_H
#define CUPRUM_PIPEUTIL_H

#include "cuprum.h"
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static inline const char *pu_helper(void)
{
  const char *p = getenv("CUPRUM_TEST_HELPER");
  return p != NULL ? p : "tests/cuprum-test-helper";
}

/*
 * Why posix_spawn cannot report exec errors here, or NULL when it can.
 * glibc's posix_spawn learns of a failed exec through memory shared with a
 * CLONE_VM|CLONE_VFORK child; qemu-user and valgrind (test_emulator) run
 * that clone as a plain fork, so the exec error becomes exit status 127.
 */
static inline const char *pu_no_sync_exec_errors(void)
{
  if (test_emulator() == NULL)
    return NULL;
  return test_under_qemu() ? "qemu-user runs posix_spawn's vfork as a fork"
                           : "valgrind runs posix_spawn's vfork as a fork";
}

/* A command running the helper with the arguments of the array `args`
 * (NULL-terminated); NULL when cuprum_cmd_new fails. */
static inline cuprum_cmd *pu_cmdv(const char *const *args)
{
  const char *argv[16];
  size_t n = 0;
  cuprum_cmd *cmd = NULL;

  argv[n++] = pu_helper();
  for (; n < 15 && args[n - 1] != NULL; n++)
    argv[n] = args[n - 1];
  argv[n] = NULL;
  if (cuprum_cmd_new(&cmd, argv) != 0)
    return NULL;
  return cmd;
}

/* pu_cmd("mode", "arg", ...): the helper in that mode. */
#define pu_cmd(...) pu_cmdv((const char *const[]){__VA_ARGS__, NULL})

/* A new directory under $TMPDIR (else /tmp) named after `name`, into
 * dir (n bytes); the test removes it. */
static inline void pu_tmpdir(char *dir, size_t n, const char *name)
{
  const char *t = getenv("TMPDIR");
  snprintf(dir, n, "%s/%s.XXXXXX", t != NULL ? t : "/tmp", name);
  assert_non_null(mkdtemp(dir));
}

/*
 * Writes "one\n" and then "two\n" into the file at path through the stdout
 * of two commands, the file opened for the first with truncation and for
 * the second for appending: it then holds "one\ntwo\n".  `run` runs a
 * command to its end, taking it over, and returns its exit status.
 */
static inline void pu_write_one_two(const char *path,
                                    int (*run)(cuprum_cmd *cmd))
{
  cuprum_cmd *cmd = pu_cmd("print", "one\n");

  assert_int_equal(
      cuprum_cmd_redirect_path(cmd, CUPRUM_STDOUT, path, CUPRUM_PATH_TRUNCATE),
      0);
  assert_int_equal(run(cmd), 0);
  cmd = pu_cmd("print", "two\n");
  assert_int_equal(
      cuprum_cmd_redirect_path(cmd, CUPRUM_STDOUT, path, CUPRUM_PATH_APPEND),
      0);
  assert_int_equal(run(cmd), 0);
}

/*
 * The commands whose start must fail, each handed with the error it must
 * fail with to `expect`, which takes the command over: a program missing
 * by path and by name, one not executable, a working directory missing or
 * not a directory, an input file missing.  Where exec errors cannot come
 * back synchronously (pu_no_sync_exec_errors), the missing program and the
 * missing directory go to `expect_127` instead, which must see the child
 * exit with status 127.
 */
static inline void pu_exec_failures(void (*expect)(cuprum_cmd *cmd, int want),
                                    void (*expect_127)(cuprum_cmd *cmd))
{
  const char *missing[] = {"/nonexistent/cuprum-no-such-program", NULL};
  const char *nopath[] = {"cuprum-no-such-program-in-path", NULL};
  const char *notexec[] = {"/dev/null", NULL};
  const char *why = pu_no_sync_exec_errors();
  cuprum_cmd *cmd = NULL;

  if (why != NULL) {
    fprintf(stderr, "# %s: checking exit status 127 instead\n", why);
    assert_int_equal(cuprum_cmd_new(&cmd, missing), 0);
    expect_127(cmd);
    cmd = pu_cmd("exit", "0");
    assert_int_equal(cuprum_cmd_chdir(cmd, "/nonexistent/dir"), 0);
    expect_127(cmd);
    return;
  }
  assert_int_equal(cuprum_cmd_new(&cmd, missing), 0);
  expect(cmd, -ENOENT);
  assert_int_equal(cuprum_cmd_new(&cmd, nopath), 0);
  expect(cmd, -ENOENT);
  assert_int_equal(cuprum_cmd_new(&cmd, notexec), 0);
  expect(cmd, -EACCES);
  cmd = pu_cmd("exit", "0");
  assert_int_equal(cuprum_cmd_chdir(cmd, "/nonexistent/dir"), 0);
  expect(cmd, -ENOENT);
  cmd = pu_cmd("exit", "0");
  assert_int_equal(cuprum_cmd_chdir(cmd, "/dev/null"), 0);
  expect(cmd, -ENOTDIR);
  cmd = pu_cmd("cat");
  assert_int_equal(
      cuprum_cmd_redirect_path(cmd, CUPRUM_STDIN, "/nonexistent/in", 0), 0);
  expect(cmd, -ENOENT);
}

/* A new, empty pipeline; fails the test when it cannot be made. */
static inline cuprum_pipeline *pu_pipeline(void)
{
  cuprum_pipeline *pl = NULL;
  assert_int_equal(cuprum_pipeline_new(&pl), 0);
  return pl;
}

/* Appends cmd (from pu_cmd, so NULL fails the test) as the next stage. */
static inline void pu_add(cuprum_pipeline *pl, cuprum_cmd *cmd)
{
  assert_non_null(cmd);
  assert_int_equal(cuprum_pipeline_add(pl, cmd), 0);
}

/* Stage `stage` was reaped with exit status `code` (-1: a signal),
 * signal `sig` (0: none) and stop reason `stop`. */
static inline void pu_expect_status(cuprum_pipeline *pl, size_t stage, int code,
                                    int sig, cuprum_stop stop)
{
  int c;
  int s;
  cuprum_stop why;
  assert_int_equal(cuprum_pipeline_status(pl, stage, &c, &s, &why), 0);
  assert_int_equal(c, code);
  assert_int_equal(s, sig);
  assert_int_equal(why, stop);
}

/* A line callback that sets the int at ctx to 1 (a "ready" flag). */
static inline int pu_note_line(void *ctx, size_t stage, int stream,
                               const char *data, size_t len)
{
  (void)stage;
  (void)stream;
  (void)data;
  (void)len;
  *(volatile int *)ctx = 1;
  return 0;
}

/* 1 when this process has no child left (reaped or running). */
static inline int pu_no_children(void)
{
  return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

static inline int pu_setup(void **state)
{
  return test_fd_setup(state);
}

static inline int pu_teardown(void **state)
{
  if (!pu_no_children()) {
    fprintf(stderr, "a child process was left behind\n");
    while (waitpid(-1, NULL, 0) > 0)
      ;
    return -1;
  }
  return test_fd_teardown(state);
}

/* Waits until started stage `stage` of pl has exited, leaving it for the
 * pipeline to reap (WNOWAIT). */
static inline void pu_wait_exited(cuprum_pipeline *pl, size_t stage)
{
  siginfo_t info;
  id_t pid = (id_t)cuprum_pipeline_pid(pl, stage);

  memset(&info, 0, sizeof(info));
  while (waitid(P_PID, pid, &info, WEXITED | WNOWAIT) != 0)
    assert_int_equal(errno, EINTR);
}

/* What pu_drive does when `*flag` becomes set. */
enum pu_on_flag {
  PU_FLAG_RETURN, /* stop stepping and return 0 */
  PU_FLAG_CANCEL  /* cancel the pipeline once, then step until done */
};

/* Steps a started pipeline with the test's own poll loop until done (the
 * last step's result), acting on `*flag` (NULL: none) as `on_flag` says. */
static inline int pu_drive(cuprum_pipeline *pl, volatile int *flag,
                           enum pu_on_flag on_flag)
{
  struct pollfd fds[16];
  int rc;

  while ((rc = cuprum_pipeline_step(pl)) == 0) {
    int n = cuprum_pipeline_pollfds(pl, fds, 16);
    assert_true(n >= 0 && n <= 16);
    assert_int_equal(cuprum_pipeline_pollfds(pl, NULL, 0), n);
    if (flag != NULL && *flag) {
      if (on_flag == PU_FLAG_RETURN)
        return 0;
      assert_int_equal(cuprum_pipeline_cancel(pl), 0);
      flag = NULL; /* once */
    }
    if (poll(fds, (nfds_t)n, cuprum_pipeline_timeout(pl)) < 0)
      assert_int_equal(errno, EINTR);
  }
  return rc;
}

#endif
