/* SPDX-License-Identifier: ISC */
/*
 * cuprum-plumb - run `cat FILE | cat | wc -c` with libcuprum doing the
 * plumbing, and check the count against the file's size.
 *
 * The first two stages are joined through the parent by cuprum_pump()
 * (splice(2) between two pipes), the last stage's output is captured by
 * cuprum_consume().  Usage: cuprum-plumb FILE
 */
#include "config.h"

#include <cuprum.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Starts argv[0] from PATH with stdin/stdout on in/out; returns pid or -1. */
static pid_t start(char *const argv[], int in, int out)
{
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int rc;

  posix_spawn_file_actions_init(&fa);
  if (in >= 0)
    posix_spawn_file_actions_adddup2(&fa, in, 0);
  if (out >= 0)
    posix_spawn_file_actions_adddup2(&fa, out, 1);
  rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    fprintf(stderr, "cuprum-plumb: cannot run %s: %s\n", argv[0], strerror(rc));
    return -1;
  }
  return pid;
}

static int finish(pid_t pid)
{
  int status;
  while (waitpid(pid, &status, 0) == -1)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

int main(int argc, char **argv)
{
  char *cat_file[] = {"cat", NULL, NULL};
  char *cat[] = {"cat", NULL};
  char *wc[] = {"wc", "-c", NULL};
  int a[2], b[2], c[2], d[2];
  pid_t p1, p2, p3;
  cuprum_pump_stats st;
  cuprum_capture out;
  struct stat sb;
  struct timespec t0, t1;
  unsigned long long counted = 0;
  int rc, rc_out, s1, s2, s3;

  if (argc != 2 || stat(argv[1], &sb) != 0) {
    fprintf(stderr, "usage: cuprum-plumb FILE\n");
    return 2;
  }
  cat_file[1] = argv[1];
  if (pipe2(a, O_CLOEXEC) || pipe2(b, O_CLOEXEC) || pipe2(c, O_CLOEXEC) ||
      pipe2(d, O_CLOEXEC)) {
    perror("cuprum-plumb: pipe2");
    return 1;
  }
  /* Bigger pipes mean fewer context switches; failure only costs speed. */
  (void)!cuprum_pipe_grow(a[1], 1 << 20);
  (void)!cuprum_pipe_grow(b[1], 1 << 20);
  (void)!cuprum_pipe_grow(c[1], 1 << 20);

  clock_gettime(CLOCK_MONOTONIC, &t0);
  p1 = start(cat_file, -1, a[1]);
  p2 = start(cat, b[0], c[1]);
  p3 = start(wc, c[0], d[1]);
  close_fd(&a[1]);
  close_fd(&b[0]);
  close_fd(&c[0]);
  close_fd(&c[1]);
  close_fd(&d[1]);
  if (p1 < 0 || p2 < 0 || p3 < 0)
    return 1;

  /* Stage 1 -> stage 2 through the engine, then capture stage 3. */
  rc = cuprum_pump(a[0], b[1], CUPRUM_BUFFER_SIZE_DEFAULT, 0, &st);
  close_fd(&a[0]);
  close_fd(&b[1]);
  rc_out = cuprum_consume(d[0], NULL, &out);
  close_fd(&d[0]);
  s1 = finish(p1);
  s2 = finish(p2);
  s3 = finish(p3);
  clock_gettime(CLOCK_MONOTONIC, &t1);

  if (rc < 0 || rc_out < 0) {
    fprintf(stderr, "cuprum-plumb: %s\n",
            cuprum_strerror(rc < 0 ? rc : rc_out));
    cuprum_capture_release(&out);
    return 1;
  }
  if (out.data != NULL)
    counted = strtoull(out.data, NULL, 10);
  printf("cat %s | cat | wc -c  ->  %llu bytes (pumped %llu, %s) in %.3f s\n",
         argv[1], counted, (unsigned long long)st.delivered,
         st.spliced ? "splice" : "read/write",
         (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  cuprum_capture_release(&out);
  if (s1 != 0 || s2 != 0 || s3 != 0 ||
      counted != (unsigned long long)sb.st_size ||
      st.delivered != (uint64_t)sb.st_size) {
    fprintf(stderr,
            "cuprum-plumb: mismatch (file has %lld bytes; exits %d %d %d)\n",
            (long long)sb.st_size, s1, s2, s3);
    return 1;
  }
  return 0;
}
