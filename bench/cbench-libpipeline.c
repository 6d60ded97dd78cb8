/* SPDX-License-Identifier: ISC */
/*
 * cbench-libpipeline.c - the benchmark's libpipeline driver: the same
 * trials as cbench-cuprum.c through libpipeline, reading the output with
 * pipeline_read into one growing buffer (what a C program keeping the
 * whole output does).  Run by bench/cdrivers.py; built only where
 * configure found libpipeline.
 *
 *   cbench-libpipeline capture FILE     cat FILE, stdout captured
 *   cbench-libpipeline pipeline FILE    cat FILE | cat | cat | cat
 *   cbench-libpipeline spawn N TRUE     N sequential runs of TRUE
 *
 * Prints the figure a correct trial yields on stdout; on an error, a
 * message on stderr and exit status 1 (libpipeline itself exits on some).
 */
#include <pipeline.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes asked of pipeline_read at a time. */
#define READ_SIZE ((size_t)64 << 10)

static int run_cats(const char *file, size_t stages, size_t *len)
{
  pipeline *p = pipeline_new_command_args("cat", file, (void *)NULL);
  char *buf = NULL;
  size_t used = 0;
  size_t cap = 0;
  int status;

  for (size_t i = 1; i < stages; i++)
    pipeline_command_args(p, "cat", (void *)NULL);
  pipeline_want_out(p, -1);
  pipeline_start(p);
  for (;;) {
    size_t n = READ_SIZE;
    const char *chunk = pipeline_read(p, &n);
    if (chunk == NULL || n == 0)
      break;
    if (cap - used < n + 1) {
      size_t ncap = cap ? cap : READ_SIZE;
      char *nb;
      while (ncap - used < n + 1)
        ncap *= 2;
      nb = realloc(buf, ncap);
      if (nb == NULL) {
        free(buf);
        pipeline_free(p);
        fprintf(stderr, "cbench-libpipeline: out of memory\n");
        return -1;
      }
      buf = nb;
      cap = ncap;
    }
    memcpy(buf + used, chunk, n);
    used += n;
    buf[used] = '\0';
  }
  status = pipeline_wait(p);
  pipeline_free(p);
  free(buf);
  if (status != 0) {
    fprintf(stderr, "cbench-libpipeline: pipeline status %d\n", status);
    return -1;
  }
  *len = used;
  return 0;
}

int main(int argc, char **argv)
{
  size_t len = 0;

  if (argc == 3 && strcmp(argv[1], "capture") == 0) {
    if (run_cats(argv[2], 1, &len) < 0)
      return 1;
    printf("%zu\n", len);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "pipeline") == 0) {
    if (run_cats(argv[2], 4, &len) < 0)
      return 1;
    printf("%zu\n", len);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "spawn") == 0) {
    long n = strtol(argv[2], NULL, 10);
    long ok = 0;
    for (long i = 0; i < n; i++) {
      pipeline *p = pipeline_new_command_args(argv[3], (void *)NULL);
      ok += pipeline_run(p) == 0; /* pipeline_run frees p */
    }
    printf("%ld\n", ok);
    return 0;
  }
  fprintf(stderr, "usage: cbench-libpipeline capture FILE | pipeline FILE | "
                  "spawn N PROGRAM\n");
  return 2;
}
