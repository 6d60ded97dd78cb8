/* SPDX-License-Identifier: ISC */
/*
 * pipeline.c - autopkgtest for libcuprum-dev: a program built against the
 * installed library with nothing but `pkg-config --cflags --libs cuprum`.
 *
 * It runs `seq 1 N | tr 0-9 a-j` with posix_spawn, the parent joining the
 * two children through cuprum_pump() (in a thread of its own, so that tr
 * never waits on a full output pipe) and capturing the last stage with
 * cuprum_consume(), whose chunk callback feeds a cuprum_lines splitter.
 * The captured bytes and every line are checked against the text computed
 * here.  Usage: pipeline [N]  (default 200000).  Exit status 0 on success.
 */
#define _GNU_SOURCE
#include <cuprum.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct line_check {
  unsigned long next; /* the number the next line must spell */
  unsigned long bad;  /* lines that did not match */
};

/* Writes `n` in decimal with the digits 0-9 spelt a-j; returns length. */
static size_t spell(unsigned long n, char *buf)
{
  char tmp[32];
  size_t len = 0;

  do {
    tmp[len++] = (char)('a' + n % 10);
    n /= 10;
  } while (n != 0);
  for (size_t i = 0; i < len; i++)
    buf[i] = tmp[len - 1 - i];
  return len;
}

static int on_line(void *ctx, const char *line, size_t len)
{
  struct line_check *check = ctx;
  char want[32];
  size_t want_len = spell(check->next, want);

  if (len != want_len || memcmp(line, want, len) != 0)
    check->bad++;
  check->next++;
  return 0;
}

static int on_chunk(void *ctx, const char *data, size_t len)
{
  return cuprum_lines_feed(ctx, data, len);
}

struct pump_job {
  int in;
  int out;
  int rc;
  cuprum_pump_stats st;
};

/* seq -> tr through the engine; closes both ends when done. */
static void *pump(void *arg)
{
  struct pump_job *job = arg;

  job->rc =
      cuprum_pump(job->in, job->out, CUPRUM_BUFFER_SIZE_DEFAULT, 0, &job->st);
  close(job->in);
  close(job->out);
  return NULL;
}

static pid_t start(char *const argv[], int in, int out)
{
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int rc;

  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    fprintf(stderr, "pipeline: cannot run %s: %s\n", argv[0], strerror(rc));
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

int main(int argc, char **argv)
{
  unsigned long count = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
  char number[32];
  char *seq[] = {"seq", "1", number, NULL};
  char *tr[] = {"tr", "0-9", "a-j", NULL};
  struct line_check check = {1, 0};
  cuprum_consume_opts opts;
  struct pump_job job;
  pthread_t pumper;
  cuprum_capture out;
  cuprum_lines *lines = NULL;
  char *want;
  size_t want_len = 0;
  int a[2], b[2], c[2];
  int devnull, rc_out, rc_lines, s1, s2, ok;
  pid_t p1, p2;

  if (strcmp(cuprum_version(), CUPRUM_VERSION_STRING) != 0) {
    fprintf(stderr, "pipeline: library %s, header %s\n", cuprum_version(),
            CUPRUM_VERSION_STRING);
    return 1;
  }
  if (count == 0) {
    fprintf(stderr, "usage: pipeline [N > 0]\n");
    return 2;
  }
  snprintf(number, sizeof(number), "%lu", count);
  devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || pipe2(a, O_CLOEXEC) || pipe2(b, O_CLOEXEC) ||
      pipe2(c, O_CLOEXEC)) {
    perror("pipeline: open or pipe2");
    return 1;
  }
  if (cuprum_lines_new(&lines, on_line, &check) != 0) {
    fprintf(stderr, "pipeline: cuprum_lines_new failed\n");
    return 1;
  }
  p1 = start(seq, devnull, a[1]);
  p2 = start(tr, b[0], c[1]);
  close(devnull);
  close(a[1]);
  close(b[0]);
  close(c[1]);
  if (p1 < 0 || p2 < 0)
    return 1;

  job.in = a[0];
  job.out = b[1];
  if (pthread_create(&pumper, NULL, pump, &job) != 0) {
    fprintf(stderr, "pipeline: pthread_create failed\n");
    return 1;
  }
  cuprum_consume_opts_init(&opts);
  opts.on_chunk = on_chunk;
  opts.on_chunk_ctx = lines;
  rc_out = cuprum_consume(c[0], &opts, &out);
  close(c[0]);
  pthread_join(pumper, NULL);
  rc_lines = cuprum_lines_finish(lines);
  cuprum_lines_free(lines);
  s1 = finish(p1);
  s2 = finish(p2);
  if (job.rc != 0 || rc_out != 0 || rc_lines != 0) {
    fprintf(stderr, "pipeline: pump: %s; consume: %s; lines: %s\n",
            cuprum_strerror(job.rc), cuprum_strerror(rc_out),
            cuprum_strerror(rc_lines));
    cuprum_capture_release(&out);
    return 1;
  }

  want = malloc((size_t)count * 24);
  if (want == NULL) {
    perror("pipeline: malloc");
    return 1;
  }
  for (unsigned long i = 1; i <= count; i++) {
    want_len += spell(i, want + want_len);
    want[want_len++] = '\n';
  }
  ok = s1 == 0 && s2 == 0 && out.len == want_len &&
       memcmp(out.data, want, want_len) == 0 && job.st.delivered == want_len &&
       check.next == count + 1 && check.bad == 0;
  printf("pipeline: libcuprum %s ran seq 1 %lu | tr 0-9 a-j: pumped %llu "
         "bytes (%s), captured %zu of %zu, %lu lines, %lu wrong, exits %d "
         "%d: %s\n",
         cuprum_version(), count, (unsigned long long)job.st.delivered,
         job.st.spliced ? "splice" : "read/write", out.len, want_len,
         check.next - 1, check.bad, s1, s2, ok ? "ok" : "FAILED");
  free(want);
  cuprum_capture_release(&out);
  return ok ? 0 : 1;
}
