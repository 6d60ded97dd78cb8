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
#include <stdarg.h>
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

/* A command running the helper with up to 6 arguments (NULL-terminated);
 * NULL when cuprum_cmd_new fails. */
static inline cuprum_cmd *pu_cmd(const char *mode, ...)
{
  const char *argv[9];
  size_t n = 0;
  va_list ap;
  cuprum_cmd *cmd = NULL;

  argv[n++] = pu_helper();
  argv[n++] = mode;
  va_start(ap, mode);
  for (const char *a; n < 8 && (a = va_arg(ap, const char *)) != NULL;)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  if (cuprum_cmd_new(&cmd, argv) != 0)
    return NULL;
  return cmd;
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

#endif
