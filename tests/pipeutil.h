/* SPDX-License-Identifier: ISC */
/*
 * pipeutil.h - what the process and pipeline tests share: commands that
 * run the test helper, a teardown that also fails on a child left behind,
 * and the qemu-user check.
 */
#ifndef CUPRUM_PIPEUTIL_H
#define CUPRUM_PIPEUTIL_H

#include "cuprum.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static inline const char *pu_helper(void)
{
  const char *p = getenv("CUPRUM_TEST_HELPER");
  return p != NULL ? p : "tests/cuprum-test-helper";
}

/* 1 under the cross harness (qemu-user), where a vfork-style posix_spawn
 * runs as a fork and exec errors become exit status 127. */
static inline int pu_under_qemu(void)
{
  return getenv("CUPRUM_CROSS_QEMU") != NULL;
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

#endif
