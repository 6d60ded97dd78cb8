/* SPDX-License-Identifier: ISC */
/*
 * pipeline.c - autopkgtest for libcuprum-dev: a program built against the
 * installed library with nothing but `pkg-config --cflags --libs cuprum`.
 *
 * It runs `seq 1 N | tr 0-9 a-j` (stdin /dev/null, a 5 minute timeout,
 * fail-fast) with the cuprum_pipeline API, which spawns both stages, joins
 * them and reaps them, capturing the last stage's stdout and passing each
 * of its lines to a callback.  The captured bytes and every line are
 * checked against the text computed here.  Usage: pipeline [N]  (default
 * 200000).  Exit status 0 on success.
 */
#define _POSIX_C_SOURCE 200809L
#include <cuprum.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int on_line(void *ctx, size_t stage, int stream, const char *line,
                   size_t len)
{
  struct line_check *check = ctx;
  char want[32];
  size_t want_len = spell(check->next, want);

  if (stage != 1 || stream != CUPRUM_STDOUT || len != want_len ||
      memcmp(line, want, len) != 0)
    check->bad++;
  check->next++;
  return 0;
}

/* Makes a command of argv with stdin `in` and appends it to pl. */
static int add(cuprum_pipeline *pl, const char *const *argv, cuprum_stdio in)
{
  cuprum_cmd *cmd;
  int rc = cuprum_cmd_new(&cmd, argv);

  if (rc == 0 && (rc = cuprum_cmd_redirect(cmd, CUPRUM_STDIN, in)) == 0 &&
      (rc = cuprum_pipeline_add(pl, cmd)) == 0)
    return 0;
  cuprum_cmd_free(cmd);
  return rc;
}

int main(int argc, char **argv)
{
  unsigned long count = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
  char number[32];
  const char *seq[] = {"seq", "1", number, NULL};
  const char *tr[] = {"tr", "0-9", "a-j", NULL};
  struct line_check check = {1, 0};
  cuprum_pipeline *pl = NULL;
  cuprum_capture out = {0};
  char *want;
  size_t want_len = 0;
  int rc, s1 = -1, s2 = -1, ok;

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
  if ((rc = cuprum_pipeline_new(&pl)) == 0 &&
      (rc = add(pl, seq, CUPRUM_STDIO_NULL)) == 0 &&
      (rc = add(pl, tr, CUPRUM_STDIO_DEFAULT)) == 0 &&
      (rc = cuprum_pipeline_capture(pl, CUPRUM_STDOUT,
                                    CUPRUM_CAPTURE_UNLIMITED)) == 0 &&
      (rc = cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, on_line, &check)) == 0 &&
      (rc = cuprum_pipeline_set_timeout(pl, 300000, 1000)) == 0 &&
      (rc = cuprum_pipeline_set_flags(pl, CUPRUM_PIPELINE_FAIL_FAST)) == 0 &&
      (rc = cuprum_pipeline_run(pl)) == 0 &&
      (rc = cuprum_pipeline_status(pl, 0, &s1, NULL, NULL)) == 0 &&
      (rc = cuprum_pipeline_status(pl, 1, &s2, NULL, NULL)) == 0)
    rc = cuprum_pipeline_output(pl, 1, CUPRUM_STDOUT, 1, &out);
  cuprum_pipeline_free(pl);
  if (rc != 0) {
    fprintf(stderr, "pipeline: seq 1 %lu | tr 0-9 a-j: %s\n", count,
            cuprum_strerror(rc));
    return 1;
  }

  want = malloc((size_t)count * 24);
  if (want == NULL) {
    perror("pipeline: malloc");
    cuprum_capture_release(&out);
    return 1;
  }
  for (unsigned long i = 1; i <= count; i++) {
    want_len += spell(i, want + want_len);
    want[want_len++] = '\n';
  }
  ok = s1 == 0 && s2 == 0 && out.len == want_len && out.total == want_len &&
       memcmp(out.data, want, want_len) == 0 && check.next == count + 1 &&
       check.bad == 0;
  printf("pipeline: libcuprum %s ran seq 1 %lu | tr 0-9 a-j: captured %zu "
         "of %zu bytes, %lu lines, %lu wrong, exits %d %d: %s\n",
         cuprum_version(), count, out.len, want_len, check.next - 1, check.bad,
         s1, s2, ok ? "ok" : "FAILED");
  free(want);
  cuprum_capture_release(&out);
  return ok ? 0 : 1;
}
