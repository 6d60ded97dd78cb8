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

/*
 * Why posix_spawn cannot report exec errors here, or NULL when it can.
 * glibc's posix_spawn learns of a failed exec through memory shared with a
 * CLONE_VM|CLONE_VFORK child; qemu-user (the cross harness, which sets
 * CUPRUM_CROSS_QEMU) and valgrind (whose preload is in LD_PRELOAD) run
 * that clone as a plain fork, so the exec error becomes exit status 127.
 */
static inline const char *pu_no_sync_exec_errors(void)
{
  const char *pre = getenv("LD_PRELOAD");
  if (getenv("CUPRUM_CROSS_QEMU") != NULL)
    return "qemu-user runs posix_spawn's vfork as a fork";
  if (pre != NULL && strstr(pre, "vgpreload") != NULL)
    return "valgrind runs posix_spawn's vfork as a fork";
  return NULL;
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
