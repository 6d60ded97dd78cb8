/* SPDX-License-Identifier: ISC */
/*
 * cbench-cuprum.c - the benchmark's libcuprum driver: one trial of a C
 * scenario through libcuprum's pipeline API, run by bench/cdrivers.py.
 *
 *   cbench-cuprum capture FILE     cat FILE, stdout captured
 *   cbench-cuprum pipeline FILE    cat FILE | cat | cat | cat, last captured
 *   cbench-cuprum spawn N TRUE     N sequential runs of the program TRUE
 *
 * Prints the figure a correct trial yields (bytes captured, or successful
 * runs) on stdout; on any error, a message on stderr and exit status 1.
 */
#include <cuprum.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int rc)
{
  if (rc > 0)
    fprintf(stderr, "cbench-cuprum: %s: a stage did not exit 0\n", what);
  else
    fprintf(stderr, "cbench-cuprum: %s: %s\n", what, cuprum_strerror(rc));
  return 1;
}

/* Runs `stages` cats, the first reading FILE, capturing the last stdout;
 * stores its length in *len.  Returns 0, 1 when a stage did not exit 0, or
 * a library code. */
static int run_cats(const char *file, size_t stages, size_t *len)
{
  const char *first[] = {"cat", file, NULL};
  const char *rest[] = {"cat", NULL};
  cuprum_pipeline *pl = NULL;
  cuprum_capture cap;
  int rc = cuprum_pipeline_new(&pl);

  for (size_t i = 0; rc == 0 && i < stages; i++) {
    cuprum_cmd *cmd = NULL;
    rc = cuprum_cmd_new(&cmd, i == 0 ? first : rest);
    if (rc == 0 && (rc = cuprum_pipeline_add(pl, cmd)) < 0)
      cuprum_cmd_free(cmd);
  }
  if (rc == 0)
    rc = cuprum_pipeline_capture(pl, CUPRUM_STDOUT, CUPRUM_CAPTURE_UNLIMITED);
  if (rc == 0)
    rc = cuprum_pipeline_run(pl);
  for (size_t i = 0; rc == 0 && i < stages; i++) {
    int code = -1;
    rc = cuprum_pipeline_status(pl, i, &code, NULL, NULL);
    if (rc == 0 && code != 0)
      rc = 1;
  }
  if (rc == 0 && (rc = cuprum_pipeline_output(pl, stages - 1, CUPRUM_STDOUT, 1,
                                              &cap)) == 0) {
    *len = cap.len;
    cuprum_capture_release(&cap);
  }
  cuprum_pipeline_free(pl);
  return rc;
}

static int spawn(long n, const char *prog, long *ok)
{
  const char *argv[] = {prog, NULL};

  *ok = 0;
  for (long i = 0; i < n; i++) {
    cuprum_pipeline *pl = NULL;
    cuprum_cmd *cmd = NULL;
    int code = -1;
    int rc = cuprum_pipeline_new(&pl);
    if (rc == 0 && (rc = cuprum_cmd_new(&cmd, argv)) == 0 &&
        (rc = cuprum_pipeline_add(pl, cmd)) < 0)
      cuprum_cmd_free(cmd);
    if (rc == 0)
      rc = cuprum_pipeline_run(pl);
    if (rc == 0)
      rc = cuprum_pipeline_status(pl, 0, &code, NULL, NULL);
    cuprum_pipeline_free(pl);
    if (rc < 0)
      return rc;
    *ok += code == 0;
  }
  return 0;
}

int main(int argc, char **argv)
{
  size_t len = 0;
  int rc;

  if (argc == 3 && strcmp(argv[1], "capture") == 0) {
    if ((rc = run_cats(argv[2], 1, &len)) != 0)
      return fail("capture", rc);
    printf("%zu\n", len);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "pipeline") == 0) {
    if ((rc = run_cats(argv[2], 4, &len)) != 0)
      return fail("pipeline", rc);
    printf("%zu\n", len);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "spawn") == 0) {
    long n = strtol(argv[2], NULL, 10);
    long ok = 0;
    if ((rc = spawn(n, argv[3], &ok)) < 0)
      return fail("spawn", rc);
    printf("%ld\n", ok);
    return 0;
  }
  fprintf(stderr, "usage: cbench-cuprum capture FILE | pipeline FILE | "
                  "spawn N PROGRAM\n");
  return 2;
}
