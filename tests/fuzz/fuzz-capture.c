/* SPDX-License-Identifier: ISC */
/*
 * fuzz-capture.c - libFuzzer harness for capture: cuprum_consume over a
 * memfd the harness fills, and the byte cap of cuprum_pipeline_capture
 * through a real pipeline (/bin/cat fed with cuprum_pipeline_set_input).
 *
 * Byte 0 picks the mode: when its low two bits are 0, the pipeline (one
 * process per input, so a quarter of the runs); otherwise cuprum_consume.
 *
 * consume: bytes 1-2 the read size (1..65536), byte 3 flags (1: capture,
 * 2: tee into a second memfd, 4: a chunk callback), byte 4 the chunk at
 * which the callback stops (0: never), byte 5 the allocation that fails
 * (0: none); the rest is the stream.  Model: the stream, in order: the
 * capture holds it all (or on failure a prefix), total counts every byte
 * read, the callback saw the same bytes in chunks of at most the read size
 * when not capturing, the tee got every byte.
 *
 * pipeline: bytes 1-2 the cap (0xFFFF: CUPRUM_CAPTURE_UNLIMITED, else
 * 1..65535); the rest is the input of cat.  Model: the capture holds the
 * first min(cap, n) bytes of the input, NUL-terminated (NULL when none),
 * total is n, cat exited 0, and cat is reaped once the pipeline is freed.
 */
#define _GNU_SOURCE 1
#include "fuzz.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

FUZZ_ALLOC_STATE;

struct seen {
  const uint8_t *stream;
  size_t off;
  size_t max_chunk;
  unsigned chunks;
  unsigned stop_at;
};

static int on_chunk(void *ctx, const char *data, size_t len)
{
  struct seen *s = ctx;
  FUZZ_CHECK(len > 0 && len <= s->max_chunk);
  FUZZ_CHECK(memcmp(data, s->stream + s->off, len) == 0);
  s->off += len;
  s->chunks++;
  return s->chunks == s->stop_at ? 1 : 0;
}

static int memfd_with(const uint8_t *p, size_t n)
{
  int fd = memfd_create("fuzz-capture", MFD_CLOEXEC);
  size_t done = 0;
  if (fd < 0)
    abort();
  while (done < n) {
    ssize_t w = write(fd, p + done, n - done);
    if (w <= 0)
      abort();
    done += (size_t)w;
  }
  if (lseek(fd, 0, SEEK_SET) != 0)
    abort();
  return fd;
}

static void fuzz_consume(fuzz_in *in)
{
  size_t read_size = (size_t)fuzz_u16(in) + 1;
  uint8_t how = fuzz_byte(in);
  unsigned stop_at = fuzz_byte(in);
  unsigned fail_at = fuzz_byte(in);
  struct seen s = {in->p, 0, 0, 0, stop_at};
  cuprum_consume_opts o;
  cuprum_capture cap;
  int reader = memfd_with(in->p, in->n);
  int tee = (how & 2) ? memfd_with(NULL, 0) : -1;
  int rc;

  cuprum_consume_opts_init(&o);
  o.flags = (how & 1) ? CUPRUM_CONSUME_CAPTURE : 0;
  o.read_size = read_size;
  o.tee_fd = tee;
  if (how & 4) {
    o.on_chunk = on_chunk;
    o.on_chunk_ctx = &s;
  }
  s.max_chunk = (how & 1) ? (size_t)-1 : read_size;
  fuzz_alloc_arm(fail_at, 0);
  rc = cuprum_consume(reader, &o, &cap);
  fuzz_alloc_disarm();

  FUZZ_CHECK(cap.total <= in->n);
  FUZZ_CHECK(cap.tee_error == 0);
  if (how & 1) {
    FUZZ_CHECK(cap.len <= cap.total);
    FUZZ_CHECK(cap.len == 0 || memcmp(cap.data, in->p, cap.len) == 0);
  } else {
    FUZZ_CHECK(cap.data == NULL && cap.len == 0);
  }
  if (how & 4)
    FUZZ_CHECK(s.off == cap.total);
  if (rc == 0) {
    FUZZ_CHECK(cap.total == in->n);
    FUZZ_CHECK(stop_at == 0 || !(how & 4) || s.chunks < stop_at);
    if (how & 1) {
      FUZZ_CHECK(cap.len == in->n);
      FUZZ_CHECK(in->n == 0 ? cap.data == NULL : cap.data[cap.len] == '\0');
    }
  } else if (rc == CUPRUM_ESTOPPED) {
    FUZZ_CHECK((how & 4) && s.chunks == stop_at);
  } else {
    FUZZ_CHECK(rc == -ENOMEM && fuzz_alloc_state.failed == 1);
  }
  if (tee >= 0) {
    /* The tee holds exactly what was read. */
    char *t = malloc(cap.total + 1);
    ssize_t got;
    FUZZ_CHECK(t != NULL);
    FUZZ_CHECK(lseek(tee, 0, SEEK_SET) == 0);
    got = read(tee, t, cap.total + 1);
    FUZZ_CHECK(got >= 0 && (uint64_t)got == cap.total);
    FUZZ_CHECK(got == 0 || memcmp(t, in->p, (size_t)got) == 0);
    free(t);
    close(tee);
  }
  cuprum_capture_release(&cap);
  FUZZ_CHECK(cap.data == NULL && cap.len == 0);
  close(reader);
}

static void fuzz_pipeline(fuzz_in *in)
{
  unsigned v = fuzz_u16(in);
  size_t limit = v == 0xFFFF ? CUPRUM_CAPTURE_UNLIMITED : (size_t)v + 1;
  size_t want = limit < in->n ? limit : in->n;
  const char *argv[] = {"/bin/cat", NULL};
  cuprum_pipeline *pl = NULL;
  cuprum_cmd *cmd = NULL;
  cuprum_capture cap;
  int code = -2;
  pid_t pid;

  FUZZ_CHECK(cuprum_pipeline_new(&pl) == 0);
  FUZZ_CHECK(cuprum_cmd_new(&cmd, argv) == 0);
  FUZZ_CHECK(cuprum_pipeline_add(pl, cmd) == 0);
  FUZZ_CHECK(cuprum_pipeline_set_input(pl, in->p, in->n) == 0);
  FUZZ_CHECK(cuprum_pipeline_capture(pl, CUPRUM_STDOUT, limit) == 0);
  FUZZ_CHECK(cuprum_pipeline_run(pl) == 0);
  FUZZ_CHECK(cuprum_pipeline_status(pl, 0, &code, NULL, NULL) == 0);
  FUZZ_CHECK(code == 0);
  FUZZ_CHECK(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &cap) == 0);
  FUZZ_CHECK(cap.total == in->n);
  FUZZ_CHECK(cap.len == want);
  FUZZ_CHECK(want == 0 ? cap.data == NULL
                       : memcmp(cap.data, in->p, want) == 0 &&
                             cap.data[want] == '\0');
  FUZZ_CHECK(cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 1, &cap) == 0);
  FUZZ_CHECK(cap.len == want);
  cuprum_capture_release(&cap);
  pid = (pid_t)cuprum_pipeline_pid(pl, 0);
  FUZZ_CHECK(pid > 0);
  cuprum_pipeline_free(pl);
  /* cat was reaped: no zombie, nothing running. */
  FUZZ_CHECK(waitpid(pid, NULL, WNOHANG) == -1 && errno == ECHILD);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_in in = {data, size};
  if ((fuzz_byte(&in) & 3) == 0)
    fuzz_pipeline(&in);
  else
    fuzz_consume(&in);
  return 0;
}
