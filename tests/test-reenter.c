/* SPDX-License-Identifier: ISC */
/*
 * test-reenter.c - a pipeline's callbacks calling back into their own
 * pipeline: every call that would drive or change it is refused with
 * -EBUSY and changes nothing, the run then finishes with every byte
 * delivered; the readers and cuprum_pipeline_cancel keep working; a free
 * from a callback ends the run and releases the pipeline when the step
 * returns.  Chunk and line callbacks, on stdout and on stderr, under
 * cuprum_pipeline_run and under the step API.  Every test checks that no
 * descriptor and no child is left behind.
 */
#include "config.h"

#include "pipeutil.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Lines of every length from 0 to 60 bytes, the last one without its
 * ending (so it reaches the line callback from the end of the stream). */
static char *lines_input(size_t *len)
{
  size_t cap = 400000;
  char *in = malloc(cap);
  size_t n = 0;

  assert_non_null(in);
  for (size_t i = 0; n + 80 < cap; i++) {
    n += (size_t)snprintf(in + n, cap - n, "%zu:", i);
    for (size_t k = 0; k < i % 61; k++)
      in[n++] = (char)('a' + (i + k) % 26);
    in[n++] = '\n';
  }
  n--; /* no ending on the last line */
  *len = n;
  return in;
}

enum kind { CHUNK, LINE };
enum driver { RUN, STEP };

struct probe {
  cuprum_pipeline *pl;
  /* A command no pipeline owns, offered to cuprum_pipeline_add. */
  cuprum_cmd *spare;
  int stream;
  enum kind kind;
  /* What the callback was handed, lines with "\n" after each. */
  char *got;
  size_t len;
  size_t cap;
  long calls;
  /* Free the pipeline at this call (0: never), then return `after_free`;
   * cancel it at this call (0: never). */
  long free_at;
  int after_free;
  long cancel_at;
};

static void keep(struct probe *p, const char *data, size_t len)
{
  if (p->cap - p->len < len + 1) {
    p->cap = (p->len + len + 1) * 2;
    p->got = realloc(p->got, p->cap);
    assert_non_null(p->got);
  }
  memcpy(p->got + p->len, data, len);
  p->len += len;
  if (p->kind == LINE)
    p->got[p->len++] = '\n';
}

/* Every call that drives or changes the pipeline is refused with -EBUSY;
 * the readers answer as they would between two steps. */
static void expect_busy(struct probe *p)
{
  cuprum_pipeline *pl = p->pl;
  cuprum_capture out = {(char *)"x", 1, 1, 1};
  int code = 7;
  int rc;

  assert_int_equal(cuprum_pipeline_add(pl, p->spare), -EBUSY);
  assert_int_equal(cuprum_pipeline_set_input(pl, "x", 1), -EBUSY);
  assert_int_equal(cuprum_pipeline_set_input_fd(pl, 0), -EBUSY);
  assert_int_equal(cuprum_pipeline_capture(pl, p->stream, 0), -EBUSY);
  assert_int_equal(cuprum_pipeline_tee(pl, p->stream, 1), -EBUSY);
  assert_int_equal(cuprum_pipeline_on_chunk(pl, p->stream, NULL, NULL), -EBUSY);
  assert_int_equal(cuprum_pipeline_on_line(pl, p->stream, NULL, NULL), -EBUSY);
  assert_int_equal(cuprum_pipeline_set_line_max(pl, p->stream, 1), -EBUSY);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, 0, 0), -EBUSY);
  assert_int_equal(cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_FAIL_FAST),
                   -EBUSY);
  assert_int_equal(cuprum_pipeline_start(pl), -EBUSY);
  assert_int_equal(cuprum_pipeline_step(pl), -EBUSY);
  assert_int_equal(cuprum_pipeline_run(pl), -EBUSY);
  /* Arguments are checked first, as outside a callback. */
  assert_int_equal(cuprum_pipeline_capture(pl, CUPRUM_STDIN, 0), -EINVAL);
  assert_int_equal(cuprum_pipeline_set_flags(pl, 0x80u), CUPRUM_EFLAGS);

  assert_int_equal(cuprum_pipeline_size(pl), 1);
  assert_true(cuprum_pipeline_pid(pl, 0) > 0);
  assert_int_equal(cuprum_pipeline_done(pl), 0);
  assert_int_equal(cuprum_pipeline_failed_stage(pl), -1);
  assert_int_equal(cuprum_pipeline_line_partial(pl), 0);
  assert_true(cuprum_pipeline_pollfds(pl, NULL, 0) >= 0);
  assert_true(cuprum_pipeline_timeout(pl) > 0);
  assert_int_equal(cuprum_pipeline_output(pl, 0, p->stream, 1, &out),
                   CUPRUM_ESTATE);
  assert_null(out.data);
  /* Reaped or not yet, depending on how the steps fell. */
  rc = cuprum_pipeline_status(pl, 0, &code, NULL, NULL);
  assert_true(rc == CUPRUM_ESTATE || (rc == 0 && code == 0));
}

static int probe_cb(void *ctx, size_t stage, int stream, const char *data,
                    size_t len)
{
  struct probe *p = ctx;

  assert_int_equal(stage, 0);
  assert_int_equal(stream, p->stream);
  p->calls++;
  if (p->free_at > 0) {
    /* Nothing after the free: the pipeline ends with this call. */
    assert_true(p->calls <= p->free_at);
    if (p->calls == p->free_at) {
      cuprum_pipeline_free(p->pl);
      /* Still refused: the free waits for this callback to return. */
      assert_int_equal(cuprum_pipeline_step(p->pl), -EBUSY);
      return p->after_free;
    }
    return 0;
  }
  if (p->cancel_at > 0) {
    if (p->calls == p->cancel_at) {
      assert_int_equal(cuprum_pipeline_cancel(p->pl), 0);
      assert_int_equal(cuprum_pipeline_cancel(p->pl), 0);
    }
    return 0;
  }
  expect_busy(p);
  keep(p, data, len);
  return 0;
}

/* One stage copying `in` to `stream`, whose bytes reach probe_cb as
 * chunks or lines and are also captured. */
static cuprum_pipeline *probe_pipeline(struct probe *p, int stream,
                                       enum kind kind, const char *in,
                                       size_t len)
{
  cuprum_pipeline *pl = pu_pipeline();

  memset(p, 0, sizeof(*p));
  p->pl = pl;
  p->stream = stream;
  p->kind = kind;
  p->spare = pu_cmd("exit", "0");
  assert_non_null(p->spare);
  pu_add(pl, pu_cmd(stream == CUPRUM_STDOUT ? "cat" : "ecat"));
  assert_int_equal(cuprum_pipeline_set_input(pl, in, len), 0);
  assert_int_equal(
      cuprum_pipeline_capture(pl, stream, CUPRUM_CAPTURE_UNLIMITED), 0);
  assert_int_equal(cuprum_pipeline_set_timeout(pl, 600000, 1000), 0);
  if (kind == CHUNK)
    assert_int_equal(cuprum_pipeline_on_chunk(pl, stream, probe_cb, p), 0);
  else
    assert_int_equal(cuprum_pipeline_on_line(pl, stream, probe_cb, p), 0);
  return pl;
}

static int drive(cuprum_pipeline *pl, enum driver driver)
{
  int rc;

  if (driver == RUN)
    return cuprum_pipeline_run(pl);
  rc = cuprum_pipeline_start(pl);
  if (rc == 0)
    rc = pu_drive(pl, NULL, PU_FLAG_RETURN);
  return rc == 1 ? 0 : rc;
}

static void probe_release(struct probe *p)
{
  cuprum_cmd_free(p->spare);
  free(p->got);
}

/* Every forbidden call, at every call of each kind of callback, on each
 * stream, under each driver: refused, and the run goes on untouched. */
static void test_busy_in_callbacks(void **state)
{
  size_t len;
  char *in = lines_input(&len);
  (void)state;

  for (int kind = CHUNK; kind <= LINE; kind++)
    for (int stream = CUPRUM_STDOUT; stream <= CUPRUM_STDERR; stream++)
      for (int driver = RUN; driver <= STEP; driver++) {
        struct probe p;
        cuprum_pipeline *pl = probe_pipeline(&p, stream, kind, in, len);
        cuprum_capture out;

        assert_int_equal(drive(pl, driver), 0);
        assert_int_equal(cuprum_pipeline_done(pl), 1);
        pu_expect_status(pl, 0, 0, 0, CUPRUM_STOP_NONE);
        assert_true(p.calls > (kind == LINE ? 5000 : 0));
        /* Every byte reached the callback, in order (a line callback's
         * lines each got their "\n" back, the last one too). */
        assert_int_equal(p.len, len + (kind == LINE));
        assert_memory_equal(p.got, in, len);
        /* The capture the callback tried to turn off kept everything. */
        assert_int_equal(cuprum_pipeline_output(pl, 0, stream, 0, &out), 0);
        assert_int_equal(out.len, len);
        assert_memory_equal(out.data, in, len);
        /* The command offered to add is still the caller's. */
        assert_int_equal(cuprum_pipeline_size(pl), 1);
        cuprum_pipeline_free(pl);
        probe_release(&p);
      }
  free(in);
}

/* A free from a callback ends the run as a stop code would: the stage is
 * killed and reaped, nothing is delivered after the free, the
 * step (or run) returns CUPRUM_ESTOPPED (or the callback's own negative
 * code) and the pipeline is released (valgrind and ASan see no leak). */
static void test_free_in_callback(void **state)
{
  size_t len;
  char *in = lines_input(&len);
  (void)state;

  for (int kind = CHUNK; kind <= LINE; kind++)
    for (int stream = CUPRUM_STDOUT; stream <= CUPRUM_STDERR; stream++)
      for (int driver = RUN; driver <= STEP; driver++)
        for (int after = 0; after < 3; after++) {
          const int codes[] = {0, 1, -ENOSPC};
          const int want[] = {CUPRUM_ESTOPPED, CUPRUM_ESTOPPED, -ENOSPC};
          struct probe p;
          probe_pipeline(&p, stream, kind, in, len);

          p.free_at = kind == LINE ? 5 : 1;
          p.after_free = codes[after];
          assert_int_equal(drive(p.pl, driver), want[after]);
          assert_int_equal(p.calls, p.free_at);
          assert_true(pu_no_children());
          probe_release(&p);
        }
  free(in);
}

/* cuprum_pipeline_cancel from a callback starts the stop sequence (twice
 * is once); the run ends with the stage stopped by the cancel. */
static void test_cancel_in_callback(void **state)
{
  (void)state;

  for (int kind = CHUNK; kind <= LINE; kind++)
    for (int driver = RUN; driver <= STEP; driver++) {
      struct probe p;
      cuprum_pipeline *pl = pu_pipeline();

      /* An endless writer: only a stop ends it. */
      memset(&p, 0, sizeof(p));
      p.pl = pl;
      p.stream = CUPRUM_STDOUT;
      p.kind = kind;
      pu_add(pl, pu_cmd("endless"));
      if (kind == CHUNK)
        assert_int_equal(
            cuprum_pipeline_on_chunk(pl, CUPRUM_STDOUT, probe_cb, &p), 0);
      else
        assert_int_equal(
            cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, probe_cb, &p), 0);
      p.cancel_at = 1;
      assert_int_equal(drive(pl, driver), 0);
      assert_true(p.calls >= 1);
      pu_expect_status(pl, 0, -1, SIGTERM, CUPRUM_STOP_CANCEL);
      cuprum_pipeline_free(pl);
      probe_release(&p);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, pu_setup, pu_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_busy_in_callbacks),
      T(test_free_in_callback),
      T(test_cancel_in_callback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
