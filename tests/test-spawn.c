/* SPDX-License-Identifier: ISC */
/*
 * test-spawn.c - cuprum_cmd_spawn, one child whose lifecycle the caller
 * owns: redirections to lent descriptors, files and /dev/null, stderr
 * merged, the environment and directory, process groups, the pidfd with
 * poll, the signal state (reset, or kept but for SIGPIPE), exec failures as
 * -errno with nothing leaked and nothing left running, allocation failure, and
 * bad arguments.
 */
#include "config.h"

#include "pipeutil.h"

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* Spawns cmd (which stays the caller's), waits for it and frees it;
 * returns its exit status. */
static int spawn_wait(cuprum_cmd *cmd)
{
  pid_t pid = -1;
  int pidfd = -1;

  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, &pid, &pidfd), 0);
  assert_true(pid > 0);
  test_close(&pidfd);
  cuprum_cmd_free(cmd);
  return test_wait(pid);
}

/* Runs cmd with stdout (and, with merge, stderr) into a pipe; returns the
 * exit status and the output in buf. */
static int spawn_output(cuprum_cmd *cmd, int merge, char *buf, size_t n)
{
  int p[2];
  int code;

  test_pipe(p);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDOUT, p[1]), 0);
  if (merge)
    assert_int_equal(
        cuprum_cmd_redirect(cmd, CUPRUM_STDERR, CUPRUM_STDIO_STDOUT), 0);
  code = spawn_wait(cmd);
  /* The lent end stayed open: the library never closes it. */
  assert_true(fcntl(p[1], F_GETFD) != -1);
  test_close(&p[1]);
  test_read_all(p[0], buf, n);
  test_close(&p[0]);
  return code;
}

static void test_stdin_stdout_fds(void **state)
{
  int in[2];
  int out[2];
  char buf[64];
  pid_t pid = -1;
  int pidfd = -1;
  cuprum_cmd *cmd = pu_cmd("cat");
  (void)state;

  test_pipe(in);
  test_pipe(out);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDIN, in[0]), 0);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDOUT, out[1]), 0);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, &pid, &pidfd), 0);
  cuprum_cmd_free(cmd);
  test_close(&in[0]);
  test_close(&out[1]);
  assert_int_equal(write(in[1], "through\n", 8), 8);
  test_close(&in[1]);
  assert_int_equal(test_read_all(out[0], buf, sizeof(buf)), 8);
  assert_string_equal(buf, "through\n");
  test_close(&out[0]);
  test_close(&pidfd);
  assert_int_equal(test_wait(pid), 0);
}

static void test_merge_null_and_paths(void **state)
{
  char buf[64];
  char dir[256];
  char path[300];
  cuprum_cmd *cmd;
  (void)state;

  /* stderr into stdout's pipe. */
  assert_int_equal(spawn_output(pu_cmd("eprint", "merged"), 1, buf, 64), 0);
  assert_string_equal(buf, "merged");
  /* stdout to /dev/null. */
  cmd = pu_cmd("print", "gone");
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_NULL),
                   0);
  assert_int_equal(spawn_wait(cmd), 0);
  /* stdout to a file, truncated then appended to; stdin from it. */
  pu_tmpdir(dir, sizeof(dir), "cuprum-test-spawn");
  snprintf(path, sizeof(path), "%s/out", dir);
  pu_write_one_two(path, spawn_wait);
  cmd = pu_cmd("cat");
  assert_int_equal(cuprum_cmd_redirect_path(cmd, CUPRUM_STDIN, path, 0), 0);
  assert_int_equal(spawn_output(cmd, 0, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "one\ntwo\n");
  assert_int_equal(unlink(path), 0);
  assert_int_equal(rmdir(dir), 0);
}

static void test_env_cwd_and_fds(void **state)
{
  char buf[64];
  cuprum_cmd *cmd = pu_cmd("env", "CUPRUM_SPAWN_T");
  int leak = open("/dev/null", O_RDONLY); /* not close-on-exec */
  (void)state;

  assert_true(leak > 2);
  assert_int_equal(cuprum_cmd_setenv(cmd, "CUPRUM_SPAWN_T", "set"), 0);
  assert_int_equal(spawn_output(cmd, 0, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "set\n");
  cmd = pu_cmd("cwd");
  assert_int_equal(cuprum_cmd_chdir(cmd, "/"), 0);
  assert_int_equal(spawn_output(cmd, 0, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "/\n");
  /* Only the three standard streams reach the child. */
  assert_int_equal(spawn_output(pu_cmd("fds"), 0, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "none\n");
  close(leak);
}

/* A command may be spawned again: spawning leaves it unchanged. */
static void test_spawn_twice(void **state)
{
  cuprum_cmd *cmd = pu_cmd("exit", "3");
  pid_t a = -1;
  pid_t b = -1;
  (void)state;

  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, &a, NULL), 0);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, &b, NULL), 0);
  assert_true(a > 0 && b > 0 && a != b);
  assert_int_equal(test_wait(a), 3);
  assert_int_equal(test_wait(b), 3);
  cuprum_cmd_free(cmd);
}

/* 1 under qemu-user (the cross harness), after saying why the test is
 * skipped there (cmocka's skip() prints "not ok" in TAP). */
static int skip_under_qemu(const char *why)
{
  if (!test_under_qemu())
    return 0;
  fprintf(stderr, "# skipped under qemu-user: %s\n", why);
  return 1;
}

static void test_process_group(void **state)
{
  cuprum_cmd *cmd = NULL;
  pid_t lead = -1;
  pid_t member = -1;
  pid_t plain = -1;
  (void)state;

  if (skip_under_qemu("posix_spawn runs as a fork there, so the child joins "
                      "its group after the spawn returns"))
    return;
  cmd = pu_cmd("sleep", "60000");

  assert_int_equal(cuprum_cmd_spawn(cmd, CUPRUM_SPAWN_PGROUP, 0, &lead, NULL),
                   0);
  assert_int_equal(getpgid(lead), lead);
  assert_int_equal(
      cuprum_cmd_spawn(cmd, CUPRUM_SPAWN_PGROUP, lead, &member, NULL), 0);
  assert_int_equal(getpgid(member), lead);
  /* Without the flag the child stays in the caller's group; pgid is
   * ignored. */
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, lead, &plain, NULL), 0);
  assert_int_equal(getpgid(plain), getpgrp());
  /* One signal to the group reaches both of its members. */
  assert_int_equal(kill(-lead, SIGKILL), 0);
  assert_int_equal(test_wait(lead), 128 + SIGKILL);
  assert_int_equal(test_wait(member), 128 + SIGKILL);
  assert_int_equal(kill(plain, SIGKILL), 0);
  assert_int_equal(test_wait(plain), 128 + SIGKILL);
  cuprum_cmd_free(cmd);
}

static void test_pidfd_poll(void **state)
{
  int in[2];
  pid_t pid = -1;
  int pidfd = -1;
  struct pollfd p;
  cuprum_cmd *cmd = pu_cmd("cat");
  (void)state;

  test_pipe(in);
  assert_int_equal(cuprum_cmd_redirect_fd(cmd, CUPRUM_STDIN, in[0]), 0);
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_NULL),
                   0);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, &pid, &pidfd), 0);
  cuprum_cmd_free(cmd);
  test_close(&in[0]);
  if (pidfd < 0) {
    /* A kernel before 5.3: no pidfd, the pid still works. */
    fprintf(stderr, "# no pidfd_open here: checking the pid only\n");
  } else {
    assert_true((fcntl(pidfd, F_GETFD) & FD_CLOEXEC) != 0);
    /* Running: the pidfd is not readable. */
    p.fd = pidfd;
    p.events = POLLIN;
    p.revents = 0;
    assert_int_equal(poll(&p, 1, 0), 0);
    /* cat ends at end of input: the pidfd turns readable. */
    test_close(&in[1]);
    p.revents = 0;
    assert_int_equal(poll(&p, 1, -1), 1);
    assert_true((p.revents & POLLIN) != 0);
    test_close(&pidfd);
  }
  test_close(&in[1]);
  assert_int_equal(test_wait(pid), 0);
}

/* The helper by its name alone, with PATH set by the overlay to `path`
 * (NULL: the environment cleared, so PATH unset). */
static cuprum_cmd *helper_by_name(const char *path, char *name, size_t n)
{
  const char *helper = pu_helper();
  const char *slash = strrchr(helper, '/');
  const char *argv[] = {name, "exit", "5", NULL};
  cuprum_cmd *cmd = NULL;

  assert_non_null(slash);
  snprintf(name, n, "%s", slash + 1);
  assert_int_equal(cuprum_cmd_new(&cmd, argv), 0);
  if (path != NULL)
    assert_int_equal(cuprum_cmd_setenv(cmd, "PATH", path), 0);
  else
    assert_int_equal(cuprum_cmd_clearenv(cmd), 0);
  return cmd;
}

/* The mask `field` ("SigIgn", "SigBlk") of process pid, from /proc. */
static unsigned long long proc_mask(pid_t pid, const char *field)
{
  char path[64];
  char line[256];
  unsigned long long mask = 0;
  size_t n = strlen(field);
  FILE *f;

  snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
  f = fopen(path, "re");
  assert_non_null(f);
  while (fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, field, n) == 0 && line[n] == ':')
      mask = strtoull(line + n + 1, NULL, 16);
  fclose(f);
  return mask;
}

#define SIGBIT(s) (1ull << ((s)-1))

/* Spawns a sleeping helper with `flags` and returns its SigIgn and SigBlk
 * masks, then kills and reaps it. */
static void child_signals(unsigned flags, unsigned long long *ign,
                          unsigned long long *blk)
{
  cuprum_cmd *cmd = pu_cmd("sleep", "60000");
  pid_t pid = -1;

  assert_int_equal(cuprum_cmd_spawn(cmd, flags, 0, &pid, NULL), 0);
  cuprum_cmd_free(cmd);
  *ign = proc_mask(pid, "SigIgn");
  *blk = proc_mask(pid, "SigBlk");
  assert_int_equal(kill(pid, SIGKILL), 0);
  assert_int_equal(test_wait(pid), 128 + SIGKILL);
}

static void test_signal_state(void **state)
{
  struct sigaction ign;
  struct sigaction old_hup;
  struct sigaction old_pipe;
  sigset_t usr1;
  sigset_t old_mask;
  unsigned long long i;
  unsigned long long b;
  (void)state;

  if (skip_under_qemu("/proc shows the emulator's own signal state"))
    return;
  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_IGN;
  assert_int_equal(sigaction(SIGHUP, &ign, &old_hup), 0);
  assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &old_mask), 0);
  /* By default everything is reset: nothing ignored, nothing blocked, not
   * even glibc's own signals 32 and 33 (its posix_spawn leaves them
   * ignored unless told otherwise). */
  child_signals(0, &i, &b);
  assert_true(i == 0);
  assert_true(b == 0);
  /* Kept, as exec keeps them, but for SIGPIPE and SIGXFSZ. */
  child_signals(CUPRUM_SPAWN_KEEP_SIGNALS, &i, &b);
  assert_true((i & SIGBIT(SIGHUP)) != 0);
  assert_true(i == (proc_mask(getpid(), "SigIgn") &
                    ~(SIGBIT(SIGPIPE) | SIGBIT(SIGXFSZ))));
  assert_true((b & SIGBIT(SIGUSR1)) != 0);
  assert_int_equal(sigprocmask(SIG_SETMASK, &old_mask, NULL), 0);
  assert_int_equal(sigaction(SIGHUP, &old_hup, NULL), 0);
  assert_int_equal(sigaction(SIGPIPE, &old_pipe, NULL), 0);
}

/* cuprum_cmd_spawn must fail with `want` and leave nothing behind. */
static void expect_failure(cuprum_cmd *cmd, int want)
{
  pid_t pid = 1234;
  int pidfd = 1234;

  assert_non_null(cmd);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, &pid, &pidfd), want);
  assert_int_equal(pid, -1);
  assert_int_equal(pidfd, -1);
  assert_true(pu_no_children());
  cuprum_cmd_free(cmd);
}

/* Where exec errors cannot come back synchronously: the spawn succeeds
 * and the child exits with 127. */
static void expect_exit_127(cuprum_cmd *cmd)
{
  assert_int_equal(spawn_wait(cmd), 127);
}

static void test_exec_failures(void **state)
{
  (void)state;
  pu_exec_failures(expect_failure, expect_exit_127);
}

/* A name without a slash is looked up in the PATH the child gets, as
 * execvp would in the child, not in the caller's. */
static void test_path_of_the_overlay(void **state)
{
  char dir[512];
  char name[256];
  char decoy[800];
  int fd;
  (void)state;

  if (skip_under_qemu("the helper is a script that finds qemu through PATH"))
    return;
  snprintf(dir, sizeof(dir), "%s", pu_helper());
  *strrchr(dir, '/') = '\0';
  /* Found through the overlay's PATH, after a directory without it. */
  snprintf(decoy, sizeof(decoy), "/nonexistent:%s", dir);
  assert_int_equal(spawn_wait(helper_by_name(decoy, name, sizeof(name))), 5);
  /* Not in the overlay's PATH, nor in the default one when it is unset:
   * refused at once, even where exec errors cannot come back. */
  expect_failure(helper_by_name("/nonexistent", name, sizeof(name)), -ENOENT);
  expect_failure(helper_by_name(NULL, name, sizeof(name)), -ENOENT);
  /* An empty element is the working directory the child will have. */
  {
    cuprum_cmd *cmd = helper_by_name(":", name, sizeof(name));
    assert_int_equal(cuprum_cmd_chdir(cmd, dir), 0);
    assert_int_equal(spawn_wait(cmd), 5);
  }
  /* Found, but not executable: -EACCES. */
  pu_tmpdir(dir, sizeof(dir), "cuprum-test-spawn");
  snprintf(decoy, sizeof(decoy), "%s/%s", dir, name);
  fd = open(decoy, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  close(fd);
  if (geteuid() != 0 || access(decoy, X_OK) != 0)
    expect_failure(helper_by_name(dir, name, sizeof(name)), -EACCES);
  assert_int_equal(unlink(decoy), 0);
  assert_int_equal(rmdir(dir), 0);
}

static void test_out_of_memory(void **state)
{
  cuprum_cmd *cmd = pu_cmd("exit", "0");
  (void)state;

  /* The environment overlay is built at spawn time: from there on every
   * allocation fails. */
  assert_int_equal(cuprum_cmd_setenv(cmd, "CUPRUM_SPAWN_T", "x"), 0);
  test_use_counter(1);
  expect_failure(cmd, -ENOMEM);
  assert_true(test_counter.failed > 0);
  cuprum_set_allocator(NULL);
}

static void test_bad_arguments(void **state)
{
  cuprum_cmd *cmd = pu_cmd("exit", "0");
  pid_t pid = 1234;
  int pidfd = 1234;
  (void)state;

  assert_int_equal(cuprum_cmd_spawn(NULL, 0, 0, &pid, &pidfd), CUPRUM_ENULL);
  assert_int_equal(pid, -1);
  assert_int_equal(pidfd, -1);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, NULL, &pidfd), CUPRUM_ENULL);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0x100, 0, &pid, &pidfd),
                   CUPRUM_EFLAGS);
  assert_int_equal(cuprum_cmd_spawn(cmd, CUPRUM_SPAWN_PGROUP, -1, &pid, NULL),
                   -EINVAL);
  /* Nobody would read a pipe: refused. */
  assert_int_equal(cuprum_cmd_redirect(cmd, CUPRUM_STDOUT, CUPRUM_STDIO_PIPE),
                   0);
  assert_int_equal(cuprum_cmd_spawn(cmd, 0, 0, &pid, &pidfd), -EINVAL);
  assert_int_equal(pid, -1);
  assert_true(pu_no_children());
  cuprum_cmd_free(cmd);
}

#define T(f) cmocka_unit_test_setup_teardown(f, pu_setup, pu_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_stdin_stdout_fds),    T(test_merge_null_and_paths),
      T(test_env_cwd_and_fds),     T(test_spawn_twice),
      T(test_process_group),       T(test_pidfd_poll),
      T(test_signal_state),        T(test_exec_failures),
      T(test_path_of_the_overlay), T(test_out_of_memory),
      T(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
