/* SPDX-License-Identifier: ISC */
/*
 * cuprum-plumb - run `cat FILE | cat | wc -c` through libcuprum, with a
 * 60 second timeout, and check the count against the file's size.
 *
 * libcuprum spawns the three stages, joins them with enlarged pipes,
 * captures the last stage's stdout and reaps every child.  Usage:
 * cuprum-plumb FILE.  Exit status 0 when the count matches, 1 otherwise
 * (or when the pipeline fails), 2 for a usage error.
 *
 * Build it against an installed libcuprum with
 *   cc -std=c11 cuprum-plumb.c $(pkg-config --cflags --libs cuprum)
 */
#define _POSIX_C_SOURCE 200809L
#include <cuprum.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

/* Makes a command of argv and appends it to pl. */
static int add(cuprum_pipeline *pl, const char *const *argv)
{
  cuprum_cmd *cmd;
  int rc = cuprum_cmd_new(&cmd, argv);

  if (rc == 0 && (rc = cuprum_pipeline_add(pl, cmd)) < 0)
    cuprum_cmd_free(cmd);
  return rc;
}

int main(int argc, char **argv)
{
  const char *cat_file[] = {"cat", NULL, NULL};
  const char *cat[] = {"cat", NULL};
  const char *wc[] = {"wc", "-c", NULL};
  cuprum_pipeline *pl = NULL;
  cuprum_capture out = {0};
  struct stat sb;
  struct timespec t0, t1;
  unsigned long long counted = 0;
  int rc, code[3] = {-1, -1, -1};

  if (argc != 2 || stat(argv[1], &sb) != 0) {
    fprintf(stderr, "usage: cuprum-plumb FILE\n");
    return 2;
  }
  cat_file[1] = argv[1];
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if ((rc = cuprum_pipeline_new(&pl)) == 0 && (rc = add(pl, cat_file)) == 0 &&
      (rc = add(pl, cat)) == 0 && (rc = add(pl, wc)) == 0 &&
      (rc = cuprum_pipeline_capture(pl, CUPRUM_STDOUT, 64)) == 0 &&
      (rc = cuprum_pipeline_set_timeout(pl, 60000, 1000)) == 0 &&
      (rc = cuprum_pipeline_run(pl)) == 0) {
    for (size_t i = 0; i < 3 && rc == 0; i++)
      rc = cuprum_pipeline_status(pl, i, &code[i], NULL, NULL);
    if (rc == 0)
      rc = cuprum_pipeline_output(pl, 2, CUPRUM_STDOUT, 0, &out);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc < 0) {
    fprintf(stderr, "cuprum-plumb: %s\n", cuprum_strerror(rc));
    cuprum_pipeline_free(pl);
    return 1;
  }
  if (out.data != NULL)
    counted = strtoull(out.data, NULL, 10);
  printf("cat %s | cat | wc -c  ->  %llu bytes in %.3f s\n", argv[1], counted,
         (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  cuprum_pipeline_free(pl);
  if (code[0] != 0 || code[1] != 0 || code[2] != 0 ||
      counted != (unsigned long long)sb.st_size) {
    fprintf(stderr,
            "cuprum-plumb: mismatch (file has %lld bytes; exits %d %d %d)\n",
            (long long)sb.st_size, code[0], code[1], code[2]);
    return 1;
  }
  return 0;
}
