/* SPDX-License-Identifier: ISC */
/*
 * test-load.c - load on the pipeline API: 16 threads each drive 4
 * pipelines of 4 stages (`cat | cat | cat | cat` of the test helper) at
 * once from their own poll(2) loop, so 64 pipelines and 256 processes run
 * together; every output is compared byte for byte with its input.  The
 * rounds repeat, and after each the open descriptors must be those before
 * the first, no child may be left, and the heap in use (mallinfo2) must not
 * grow from round to round.
 *
 * Knobs (make soak sets them): CUPRUM_LOAD_KIB, the input of each pipeline
 * (default 1024; 64 under valgrind or qemu-user), and CUPRUM_LOAD_ROUNDS
 * (default 3).
 */
#include "config.h"

#include "pipeutil.h"

#include <dirent.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define THREADS 16
#define PER_THREAD 4
#define STAGES 4

struct job {
  size_t size;   /* bytes through each pipeline */
  unsigned seed; /* makes each pipeline's input differ */
  int ok;        /* 1 when every output matched */
  char why[160]; /* what went wrong, otherwise */
};

static long env_long(const char *name, long fallback)
{
  const char *s = getenv(name);
  char *end = NULL;
  long v;

  if (s == NULL || *s == '\0')
    return fallback;
  v = strtol(s, &end, 10);
  return (end != NULL && *end == '\0' && v > 0) ? v : fallback;
}

static size_t load_size(void)
{
  long kib = test_emulator() != NULL ? 64 : 1024;
  return (size_t)env_long("CUPRUM_LOAD_KIB", kib) * 1024;
}

static int open_fd_count(void)
{
  DIR *d = opendir("/proc/self/fd");
  const struct dirent *e;
  int n = 0;

  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

static cuprum_pipeline *make_pipeline(const char *in, size_t size)
{
  cuprum_pipeline *pl = NULL;

  if (cuprum_pipeline_new(&pl) != 0)
    return NULL;
  for (int s = 0; s < STAGES; s++)
    if (cuprum_pipeline_add(pl, pu_cmd("cat")) != 0)
      goto fail;
  if (cuprum_pipeline_set_input(pl, in, size) != 0 ||
      cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED) !=
          0 ||
      cuprum_pipeline_set_timeout(pl, 300000, 1000) != 0)
    goto fail;
  return pl;
fail:
  cuprum_pipeline_free(pl);
  return NULL;
}

/* Steps every pipeline of `pl` until all are done, from one poll loop. */
static int drive(cuprum_pipeline **pl, size_t n, char *why, size_t whylen)
{
  struct pollfd fds[PER_THREAD * 16];
  size_t left = n;

  while (left > 0) {
    size_t used = 0;
    int wait = -1;

    for (size_t i = 0; i < n; i++) {
      int got, t;
      if (cuprum_pipeline_done(pl[i]))
        continue;
      got = cuprum_pipeline_pollfds(pl[i], fds + used,
                                    sizeof fds / sizeof fds[0] - used);
      if (got < 0 || (size_t)got > sizeof fds / sizeof fds[0] - used) {
        snprintf(why, whylen, "pollfds returned %d", got);
        return -1;
      }
      used += (size_t)got;
      t = cuprum_pipeline_timeout(pl[i]);
      if (t >= 0 && (wait < 0 || t < wait))
        wait = t;
    }
    if (poll(fds, used, wait) < 0 && errno != EINTR) {
      snprintf(why, whylen, "poll: %s", strerror(errno));
      return -1;
    }
    for (size_t i = 0; i < n; i++) {
      int rc;
      if (cuprum_pipeline_done(pl[i]))
        continue;
      rc = cuprum_pipeline_step(pl[i]);
      if (rc < 0) {
        snprintf(why, whylen, "step: %s", cuprum_strerror(rc));
        return -1;
      }
      if (rc == 1)
        left--;
    }
  }
  return 0;
}

static int check(cuprum_pipeline *pl, const char *in, size_t size, char *why,
                 size_t whylen)
{
  cuprum_capture out = {0};
  int ok = 1;

  for (size_t s = 0; s < STAGES; s++) {
    int code = -2, sig = -2;
    if (cuprum_pipeline_status(pl, s, &code, &sig, NULL) != 0 || code != 0) {
      snprintf(why, whylen, "stage %zu: exit %d, signal %d", s, code, sig);
      return 0;
    }
  }
  if (cuprum_pipeline_output(pl, STAGES - 1, CUPRUM_STDOUT, 0, &out) != 0) {
    snprintf(why, whylen, "no output");
    return 0;
  }
  if (out.len != size || memcmp(out.data, in, size) != 0) {
    snprintf(why, whylen, "output of %zu bytes differs from the %zu in",
             out.len, size);
    ok = 0;
  }
  return ok;
}

static void *thread_main(void *arg)
{
  struct job *job = arg;
  char *in[PER_THREAD] = {NULL};
  cuprum_pipeline *pl[PER_THREAD] = {NULL};
  size_t started = 0;

  job->ok = 0;
  for (size_t i = 0; i < PER_THREAD; i++) {
    in[i] = malloc(job->size);
    if (in[i] == NULL) {
      snprintf(job->why, sizeof job->why, "out of memory");
      goto done;
    }
    test_pattern_fill(in[i], (size_t)job->seed * PER_THREAD + i, job->size);
    pl[i] = make_pipeline(in[i], job->size);
    if (pl[i] == NULL) {
      snprintf(job->why, sizeof job->why, "pipeline %zu not built", i);
      goto done;
    }
  }
  for (; started < PER_THREAD; started++) {
    int rc = cuprum_pipeline_start(pl[started]);
    if (rc != 0) {
      snprintf(job->why, sizeof job->why, "start: %s", cuprum_strerror(rc));
      goto done;
    }
  }
  if (drive(pl, PER_THREAD, job->why, sizeof job->why) != 0)
    goto done;
  job->ok = 1;
  for (size_t i = 0; i < PER_THREAD && job->ok; i++)
    job->ok = check(pl[i], in[i], job->size, job->why, sizeof job->why);
done:
  /* Freeing a pipeline still running kills and reaps it. */
  for (size_t i = 0; i < PER_THREAD; i++) {
    cuprum_pipeline_free(pl[i]);
    free(in[i]);
  }
  return NULL;
}

static void one_round(size_t size, unsigned round)
{
  pthread_t t[THREADS];
  struct job jobs[THREADS];

  for (unsigned i = 0; i < THREADS; i++) {
    jobs[i] = (struct job){.size = size, .seed = round * THREADS + i};
    assert_int_equal(pthread_create(&t[i], NULL, thread_main, &jobs[i]), 0);
  }
  for (unsigned i = 0; i < THREADS; i++)
    assert_int_equal(pthread_join(t[i], NULL), 0);
  for (unsigned i = 0; i < THREADS; i++) {
    if (!jobs[i].ok)
      fail_msg("round %u, thread %u: %s", round, i, jobs[i].why);
  }
}

static void test_sixty_four_pipelines_from_sixteen_threads(void **state)
{
  size_t size = load_size();
  long rounds = env_long("CUPRUM_LOAD_ROUNDS", 3);
  int fds = open_fd_count();
  size_t heap_after_first = 0;
  (void)state;

  assert_true(fds > 0);
  for (long r = 0; r < rounds; r++) {
    struct mallinfo2 mi;
    one_round(size, (unsigned)r);
    assert_int_equal(open_fd_count(), fds);
    assert_true(pu_no_children());
    mi = mallinfo2();
    if (r == 0)
      heap_after_first = mi.uordblks;
    else if (mi.uordblks > heap_after_first + (1u << 20))
      fail_msg("heap in use grew from %zu to %zu bytes by round %ld",
               heap_after_first, mi.uordblks, r + 1);
    printf("# round %ld: %d pipelines x %d stages x %zu bytes, checked; "
           "%d descriptors open, heap in use %zu bytes\n",
           r + 1, THREADS * PER_THREAD, STAGES, size, fds, mi.uordblks);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_sixty_four_pipelines_from_sixteen_threads, pu_setup,
          pu_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
