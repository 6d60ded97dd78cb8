/* SPDX-License-Identifier: ISC */
/*
 * testutil.c - shared test support; see testutil.h.
 */
#include "config.h"

#include "cuprum.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

uint64_t test_pattern_checksum(uint64_t size)
{
  char buf[1 << 16];
  uint64_t h = TEST_CHECKSUM_INIT;

  for (uint64_t off = 0; off < size;) {
    size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
    test_pattern_fill(buf, off, n);
    h = test_checksum(h, buf, n);
    off += n;
  }
  return h;
}

uint64_t test_big_size(void)
{
  const char *env = getenv("CUPRUM_TEST_BIG_MIB");
  unsigned long long mib = env != NULL ? strtoull(env, NULL, 10) : 0;
  return (mib > 0 ? mib : 256) * MiB;
}

int test_pattern_check(const char *buf, uint64_t off, size_t n)
{
  for (size_t k = 0; k < n; k++)
    if ((unsigned char)buf[k] != test_pattern_byte(off + k))
      return 0;
  return 1;
}

static const char *helper_path(void)
{
  const char *p = getenv("CUPRUM_TEST_HELPER");
  return p != NULL && *p != '\0' ? p : "tests/cuprum-test-helper";
}

pid_t test_spawn(int in_fd, int out_fd, const char *const *args)
{
  const char *argv[8];
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none;
  sigset_t all;
  size_t n = 0;
  pid_t pid;
  int rc;

  argv[n++] = helper_path();
  while (args[n - 1] != NULL && n < 7) {
    argv[n] = args[n - 1];
    n++;
  }
  argv[n] = NULL;

  assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
  if (in_fd >= 0)
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, in_fd, 0), 0);
  else
    assert_int_equal(
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
  if (out_fd >= 0)
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out_fd, 1), 0);
  else
    assert_int_equal(
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0), 0);
  /* The child starts with default signal actions and an empty mask,
   * whatever the test process set up for itself. */
  assert_int_equal(posix_spawnattr_init(&attr), 0);
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  rc = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    fail_msg("cannot start %s: %s", argv[0], strerror(rc));
  return pid;
}

int test_wait(pid_t pid)
{
  int status;

  while (waitpid(pid, &status, 0) == -1) {
    if (errno != EINTR)
      fail_msg("waitpid: %s", strerror(errno));
  }
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

void test_pipe(int fds[2])
{
  if (pipe2(fds, O_CLOEXEC) != 0)
    fail_msg("pipe2: %s", strerror(errno));
}

void test_close(int *fd)
{
  if (*fd >= 0) {
    assert_int_equal(close(*fd), 0);
    *fd = -1;
  }
}

size_t test_read_all(int fd, char *buf, size_t n)
{
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, n - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    assert_true(r >= 0);
    if (r == 0)
      break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  return len;
}

void test_sum_start(int fd, pid_t *pid, int *out_fd)
{
  static const char *const args[] = {"sum", NULL};
  int p[2];

  test_pipe(p);
  *pid = test_spawn(fd, p[1], args);
  test_close(&p[1]);
  *out_fd = p[0];
}

void test_sum_finish(pid_t pid, int out_fd, uint64_t *len, uint64_t *check)
{
  char text[128];
  unsigned long long l = 0;
  unsigned long long c = 0;

  test_read_all(out_fd, text, sizeof(text));
  test_close(&out_fd);
  assert_int_equal(test_wait(pid), 0);
  assert_int_equal(sscanf(text, "%llu %llu", &l, &c), 2);
  *len = l;
  *check = c;
}

struct test_counter test_counter;

static void *count_realloc(void *ctx, void *ptr, size_t size)
{
  struct test_counter *c = &test_counter;
  void *r;
  (void)ctx;
  c->calls++;
  if (size > c->largest)
    c->largest = size;
  if (c->fail_at > 0 &&
      (c->fail_once ? c->calls == c->fail_at : c->calls >= c->fail_at)) {
    c->failed++;
    return NULL;
  }
  /* At least one byte: realloc(ptr, 0) may free ptr and return NULL,
   * which would read as a failure and lose a block from the count. */
  r = realloc(ptr, size > 0 ? size : 1);
  if (r != NULL && ptr == NULL)
    c->live++;
  return r;
}

static void count_free(void *ctx, void *ptr)
{
  (void)ctx;
  if (ptr != NULL)
    test_counter.live--;
  free(ptr);
}

static void use_counter(long fail_at, int fail_once)
{
  static const cuprum_allocator a = {count_realloc, count_free, NULL};
  memset(&test_counter, 0, sizeof(test_counter));
  test_counter.fail_at = fail_at;
  test_counter.fail_once = fail_once;
  cuprum_set_allocator(&a);
}

void test_use_counter(long fail_at)
{
  use_counter(fail_at, 0);
}

void test_use_counter_once(long fail_at)
{
  use_counter(fail_at, 1);
}

int test_under_qemu(void)
{
  return getenv("CUPRUM_CROSS_QEMU") != NULL;
}

const char *test_emulator(void)
{
  const char *pre = getenv("LD_PRELOAD");
  if (test_under_qemu())
    return "qemu-user";
  if (pre != NULL && strstr(pre, "vgpreload") != NULL)
    return "valgrind";
  return NULL;
}

static int count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  int n = 0;

  if (d == NULL)
    return -1;
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n;
}

static int fds_before;

int test_fd_setup(void **state)
{
  (void)state;
  fds_before = count_fds();
  return 0;
}

int test_fd_teardown(void **state)
{
  int after = count_fds();

  (void)state;
  if (after != fds_before) {
    fprintf(stderr, "descriptor leak: %d open before the test, %d after\n",
            fds_before, after);
    return -1;
  }
  return 0;
}

void test_fill_line(char *buf, size_t n)
{
  test_pattern_fill(buf, 0, n);
  for (size_t i = 0; i < n; i++)
    if (buf[i] == '\n' || buf[i] == '\r')
      buf[i] = 'x';
}

void test_pieces_init(struct test_pieces *p, size_t max)
{
  memset(p, 0, sizeof(*p));
  p->max = max;
  p->check = TEST_CHECKSUM_INIT;
}

void test_piece(struct test_pieces *p, const char *data, size_t len,
                int partial)
{
  if (len > p->max || (partial && len != p->max))
    p->bad = 1;
  p->bytes += len;
  p->check = test_checksum(p->check, data, len);
  p->pieces++;
  p->lines += !partial;
}

volatile sig_atomic_t test_storm_ticks;

static void storm_tick(int sig)
{
  (void)sig;
  test_storm_ticks++;
}

void test_storm_start(long usec)
{
  struct sigaction sa;
  struct itimerval it;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = storm_tick; /* no SA_RESTART */
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
  test_storm_ticks = 0;
  it.it_interval.tv_sec = it.it_value.tv_sec = usec / 1000000;
  it.it_interval.tv_usec = it.it_value.tv_usec = usec % 1000000;
  assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

void test_storm_stop(void)
{
  struct itimerval off;
  struct sigaction sa;

  memset(&off, 0, sizeof(off));
  assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
}
