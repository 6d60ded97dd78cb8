/* SPDX-License-Identifier: ISC */
/*
 * cuprum-test-helper - the child process of the C tests, so that they need
 * no system tools.  Modes:
 *
 *   emit SIZE          write SIZE bytes of the test pattern to stdout
 *   trickle COUNT MS   write COUNT 4 KiB blocks of the pattern, MS ms apart
 *   endless            write the pattern until killed or stdout closes
 *   cat                copy stdin to stdout
 *   head SIZE          copy SIZE bytes of stdin to stdout, then exit
 *   sum                read stdin to EOF; print "LENGTH CHECKSUM"
 *   sleep MS           sleep, then exit
 *
 * Exit status 0 on success, 2 on bad usage, 3 on an I/O error.  SIGPIPE
 * keeps its default action, as in any ordinary program.
 */
#include "config.h"

#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int emit(uint64_t size, long pause_ms, size_t block)
{
  static char buf[1 << 16];
  uint64_t off = 0;

  while (off < size) {
    size_t n = size - off < block ? (size_t)(size - off) : block;
    test_pattern_fill(buf, off, n);
    if (write_all(1, buf, n) < 0)
      return 3;
    off += n;
    if (pause_ms > 0)
      sleep_ms(pause_ms);
  }
  return 0;
}

static int copy(uint64_t limit)
{
  static char buf[1 << 16];
  uint64_t done = 0;

  while (done < limit) {
    size_t want =
        limit - done < sizeof(buf) ? (size_t)(limit - done) : sizeof(buf);
    ssize_t n = read(0, buf, want);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return 3;
    if (n == 0)
      break;
    if (write_all(1, buf, (size_t)n) < 0)
      return 3;
    done += (uint64_t)n;
  }
  return 0;
}

static int sum(void)
{
  static char buf[1 << 16];
  uint64_t len = 0;
  uint64_t check = TEST_CHECKSUM_INIT;

  for (;;) {
    ssize_t n = read(0, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return 3;
    if (n == 0)
      break;
    check = test_checksum(check, buf, (size_t)n);
    len += (uint64_t)n;
  }
  printf("%llu %llu\n", (unsigned long long)len, (unsigned long long)check);
  return fflush(stdout) == 0 ? 0 : 3;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  unsigned long long a = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
  long b = argc > 3 ? strtol(argv[3], NULL, 10) : 0;

  if (strcmp(mode, "emit") == 0 && argc == 3)
    return emit(a, 0, 1 << 16);
  if (strcmp(mode, "trickle") == 0 && argc == 4)
    return emit(a * 4096, b, 4096);
  if (strcmp(mode, "endless") == 0)
    return emit(UINT64_MAX, 0, 1 << 16);
  if (strcmp(mode, "cat") == 0)
    return copy(UINT64_MAX);
  if (strcmp(mode, "head") == 0 && argc == 3)
    return copy(a);
  if (strcmp(mode, "sum") == 0)
    return sum();
  if (strcmp(mode, "sleep") == 0 && argc == 3) {
    sleep_ms((long)a);
    return 0;
  }
  fprintf(stderr, "usage: %s emit|trickle|endless|cat|head|sum|sleep ...\n",
          argv[0]);
  return 2;
}
