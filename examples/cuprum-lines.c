/* SPDX-License-Identifier: ISC */
/*
 * cuprum-lines - run a command, count the lines it writes on stdout, and
 * optionally keep a copy of that output in a file.
 *
 *   cuprum-lines [-t SECONDS] [-o FILE] [--] COMMAND [ARG...]
 *
 * COMMAND is looked up in PATH; its stdin and stderr are this program's.
 * Its stdout is read by libcuprum, split into lines (ended by \n, \r\n or
 * a lone \r; a last line without an ending counts too) and, with -o,
 * copied to FILE (created or truncated).  The count is printed on stdout
 * once the command has ended.  With -t, the command gets SIGTERM after
 * SECONDS (a decimal number, fractions allowed) and SIGKILL one second
 * later.
 *
 * Exit status, as timeout(1) has it: the command's own status; 128+N when
 * signal N ended it; 124 when the timeout stopped it; 125 when
 * cuprum-lines itself failed (usage, FILE, a library error); 126 when
 * COMMAND could not be run; 127 when it was not found.
 *
 * Build it against an installed libcuprum with
 *   cc -std=c11 cuprum-lines.c $(pkg-config --cflags --libs cuprum)
 */
#define _POSIX_C_SOURCE 200809L
#include <cuprum.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  EXIT_TIMEDOUT = 124,
  EXIT_OWN = 125,
  EXIT_CANNOT_RUN = 126,
  EXIT_NOT_FOUND = 127
};

static int usage(void)
{
  fputs("usage: cuprum-lines [-t SECONDS] [-o FILE] [--] COMMAND [ARG...]\n",
        stderr);
  return EXIT_OWN;
}

/* The line callback: counts; the line itself is not needed. */
static int count_line(void *ctx, size_t stage, int stream, const char *line,
                      size_t len)
{
  (void)stage;
  (void)stream;
  (void)line;
  (void)len;
  ++*(unsigned long long *)ctx;
  return 0;
}

/* Parses SECONDS into milliseconds, rounded up; -1 when not valid. */
static int64_t parse_timeout(const char *text)
{
  char *end;
  double s;

  errno = 0;
  s = strtod(text, &end);
  if (end == text || *end != '\0' || errno != 0 || !(s > 0 && s <= 1e9))
    return -1;
  return (int64_t)(s * 1000.0 + 0.999);
}

/* Builds the one-stage pipeline and runs it; returns 0 or a code. */
static int run(cuprum_pipeline *pl, char **argv, int tee_fd, int64_t timeout_ms,
               unsigned long long *lines)
{
  cuprum_cmd *cmd;
  int rc = cuprum_cmd_new(&cmd, (const char *const *)argv);

  if (rc < 0)
    return rc;
  if ((rc = cuprum_pipeline_add(pl, cmd)) < 0) {
    cuprum_cmd_free(cmd);
    return rc;
  }
  if ((rc = cuprum_pipeline_on_line(pl, CUPRUM_STDOUT, count_line, lines)) < 0)
    return rc;
  if (tee_fd >= 0 && (rc = cuprum_pipeline_tee(pl, CUPRUM_STDOUT, tee_fd)) < 0)
    return rc;
  if (timeout_ms > 0 &&
      (rc = cuprum_pipeline_set_timeout(pl, timeout_ms, 1000)) < 0)
    return rc;
  return cuprum_pipeline_run(pl);
}

int main(int argc, char **argv)
{
  const char *file = NULL;
  const char *timeout_text = NULL;
  int64_t timeout_ms = -1;
  unsigned long long lines = 0;
  cuprum_pipeline *pl = NULL;
  cuprum_capture out;
  cuprum_stop why = CUPRUM_STOP_NONE;
  int i, fd = -1, rc, code = -1, sig = 0, status;

  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
      timeout_text = argv[++i];
      if ((timeout_ms = parse_timeout(timeout_text)) < 0) {
        fprintf(stderr,
                "cuprum-lines: bad timeout '%s' (seconds, more than 0)\n",
                timeout_text);
        return EXIT_OWN;
      }
    } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
      file = argv[++i];
    } else {
      return usage();
    }
  }
  if (i >= argc)
    return usage();

  if (file != NULL &&
      (fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0) {
    fprintf(stderr, "cuprum-lines: %s: %s\n", file, strerror(errno));
    return EXIT_OWN;
  }
  if ((rc = cuprum_pipeline_new(&pl)) == 0)
    rc = run(pl, argv + i, fd, timeout_ms, &lines);
  if (rc == 0)
    rc = cuprum_pipeline_status(pl, 0, &code, &sig, &why);
  if (rc == 0)
    rc = cuprum_pipeline_output(pl, 0, CUPRUM_STDOUT, 0, &out);
  if (rc < 0) {
    if (pl != NULL && cuprum_pipeline_failed_stage(pl) >= 0) {
      fprintf(stderr, "cuprum-lines: cannot run %s: %s\n", argv[i],
              cuprum_strerror(rc));
      status = rc == -ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
    } else {
      fprintf(stderr, "cuprum-lines: %s\n", cuprum_strerror(rc));
      status = EXIT_OWN;
    }
    cuprum_pipeline_free(pl);
    if (fd >= 0)
      close(fd);
    return status;
  }
  /* The timeout may also have cut output that a process the command left
   * behind was still writing, after the command itself had exited. */
  if (cuprum_pipeline_stopped(pl) == CUPRUM_STOP_TIMEOUT)
    why = CUPRUM_STOP_TIMEOUT;
  cuprum_pipeline_free(pl);

  if (why == CUPRUM_STOP_TIMEOUT) {
    fprintf(stderr, "cuprum-lines: %s timed out after %s s\n", argv[i],
            timeout_text);
    status = EXIT_TIMEDOUT;
  } else if (sig != 0) {
    fprintf(stderr, "cuprum-lines: %s was killed by signal %d\n", argv[i], sig);
    status = 128 + sig;
  } else {
    status = code;
  }
  if (fd >= 0) {
    if (out.tee_error != 0) {
      fprintf(stderr, "cuprum-lines: writing %s: %s\n", file,
              cuprum_strerror(out.tee_error));
      status = EXIT_OWN;
    }
    if (close(fd) != 0) {
      fprintf(stderr, "cuprum-lines: closing %s: %s\n", file, strerror(errno));
      status = EXIT_OWN;
    }
  }
  printf("%llu\n", lines);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "cuprum-lines: writing the count: %s\n", strerror(errno));
    status = EXIT_OWN;
  }
  return status;
}
