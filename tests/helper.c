/* SPDX-License-Identifier: ISC */
/*
 * cuprum-test-helper - the child process of the C tests, so that they need
 * no system tools.  Modes:
 *
 *   emit SIZE          write SIZE bytes of the test pattern to stdout
 *   trickle COUNT MS   write COUNT 4 KiB blocks of the pattern, MS ms apart
 *   endless            write the pattern until killed or stdout closes
 *   cat                copy stdin to stdout
 *   ecat               copy stdin to stderr
 *   head SIZE          copy SIZE bytes of stdin to stdout, then exit
 *   sum                read stdin to EOF; print "LENGTH CHECKSUM"
 *   sleep MS           sleep, then exit
 *   print TEXT         write TEXT to stdout
 *   eprint TEXT        write TEXT to stderr
 *   exit N             exit with status N
 *   argv ARG...        print each ARG on a line
 *   env NAME           print NAME's value, or "(unset)"
 *   cwd                print the working directory
 *   fds                print the open descriptors above 2, or "none"
 *   stubborn           ignore SIGTERM, print "ready", sleep 60 s
 *   grandchild [ERR]   fork a child that sleeps 60 s, write ERR (if given)
 *                      to stderr, print the child's pid, then sleep 60 s too
 *   orphan MS          fork a child that sleeps MS ms, then prints "late";
 *                      print "early" and exit at once
 *   pipesize SIZE      emit SIZE bytes, then print the size of the pipe on
 *                      stdout (F_GETPIPE_SZ) to stderr
 *   epipesize SIZE     the same with stderr and stdout swapped
 *
 * Exit status 0 on success, 2 on bad usage, 3 on an I/O error.  SIGPIPE
 * keeps its default action, as in any ordinary program.
 */
#include "config.h"

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

/* Reads up to n bytes of stdin, retrying EINTR: the count, 0 at end of
 * file, -1 on an error. */
static ssize_t read_in(char *buf, size_t n)
{
  ssize_t r;

  while ((r = read(0, buf, n)) < 0 && errno == EINTR)
    ;
  return r;
}

static int emit(int fd, uint64_t size, long pause_ms, size_t block)
{
  static char buf[1 << 16];
  uint64_t off = 0;

  while (off < size) {
    size_t n = size - off < block ? (size_t)(size - off) : block;
    test_pattern_fill(buf, off, n);
    if (write_all(fd, buf, n) < 0)
      return 3;
    off += n;
    if (pause_ms > 0)
      sleep_ms(pause_ms);
  }
  return 0;
}

static int copy(uint64_t limit, int fd)
{
  static char buf[1 << 16];
  uint64_t done = 0;

  while (done < limit) {
    size_t want =
        limit - done < sizeof(buf) ? (size_t)(limit - done) : sizeof(buf);
    ssize_t n = read_in(buf, want);
    if (n < 0)
      return 3;
    if (n == 0)
      break;
    if (write_all(fd, buf, (size_t)n) < 0)
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
    ssize_t n = read_in(buf, sizeof(buf));
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

static int fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int any = 0;

  if (d == NULL)
    return 3;
  while ((e = readdir(d)) != NULL) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
      continue;
    printf("%d\n", fd);
    any = 1;
  }
  closedir(d);
  if (!any)
    printf("none\n");
  return fflush(stdout) == 0 ? 0 : 3;
}

static int more_modes(int argc, char **argv)
{
  const char *mode = argv[1];
  char buf[4096];

  if (strcmp(mode, "print") == 0 && argc == 3)
    return write_all(1, argv[2], strlen(argv[2]));
  if (strcmp(mode, "eprint") == 0 && argc == 3)
    return write_all(2, argv[2], strlen(argv[2]));
  if (strcmp(mode, "exit") == 0 && argc == 3)
    return atoi(argv[2]);
  if (strcmp(mode, "argv") == 0) {
    for (int i = 2; i < argc; i++)
      printf("%s\n", argv[i]);
    return fflush(stdout) == 0 ? 0 : 3;
  }
  if (strcmp(mode, "env") == 0 && argc == 3) {
    const char *v = getenv(argv[2]);
    printf("%s\n", v != NULL ? v : "(unset)");
    return fflush(stdout) == 0 ? 0 : 3;
  }
  if (strcmp(mode, "cwd") == 0 && getcwd(buf, sizeof(buf)) != NULL) {
    printf("%s\n", buf);
    return fflush(stdout) == 0 ? 0 : 3;
  }
  if (strcmp(mode, "fds") == 0)
    return fds();
  if (strcmp(mode, "stubborn") == 0) {
    signal(SIGTERM, SIG_IGN);
    printf("ready\n");
    fflush(stdout);
    sleep_ms(60000);
    return 0;
  }
  if (strcmp(mode, "grandchild") == 0) {
    pid_t pid = fork();
    if (pid == 0) {
      sleep_ms(60000);
      _exit(0);
    }
    if (pid < 0)
      return 3;
    /* An optional argument goes to stderr first, as is. */
    if (argc > 2 && write_all(2, argv[2], strlen(argv[2])) != 0)
      return 3;
    printf("%ld\n", (long)pid);
    fflush(stdout);
    sleep_ms(60000);
    return 0;
  }
  if (strcmp(mode, "orphan") == 0 && argc == 3) {
    pid_t pid = fork();
    if (pid == 0) {
      sleep_ms(strtol(argv[2], NULL, 10));
      _exit(write_all(1, "late\n", 5) == 0 ? 0 : 3);
    }
    if (pid < 0)
      return 3;
    return write_all(1, "early\n", 6) == 0 ? 0 : 3;
  }
  return -1;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  unsigned long long a = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
  long b = argc > 3 ? strtol(argv[3], NULL, 10) : 0;

  if (strcmp(mode, "emit") == 0 && argc == 3)
    return emit(1, a, 0, 1 << 16);
  if (strcmp(mode, "trickle") == 0 && argc == 4)
    return emit(1, a * 4096, b, 4096);
  if (strcmp(mode, "endless") == 0)
    return emit(1, UINT64_MAX, 0, 1 << 16);
  if (strcmp(mode, "cat") == 0)
    return copy(UINT64_MAX, 1);
  if (strcmp(mode, "ecat") == 0)
    return copy(UINT64_MAX, 2);
  if (strcmp(mode, "head") == 0 && argc == 3)
    return copy(a, 1);
  if (strcmp(mode, "sum") == 0)
    return sum();
  if (strcmp(mode, "sleep") == 0 && argc == 3) {
    sleep_ms((long)a);
    return 0;
  }
  if ((strcmp(mode, "pipesize") == 0 || strcmp(mode, "epipesize") == 0) &&
      argc == 3) {
    /* The stream written, and the other one, which tells its size. */
    int fd = mode[0] == 'e' ? 2 : 1;
    FILE *tell = fd == 1 ? stderr : stdout;
    int rc = emit(fd, a, 0, 1 << 16);
    if (rc == 0)
      fprintf(tell, "%d", fcntl(fd, F_GETPIPE_SZ));
    return rc != 0 || fflush(tell) != 0 ? 3 : 0;
  }
  if (argc > 1) {
    int rc = more_modes(argc, argv);
    if (rc >= 0)
      return rc;
  }
  fprintf(stderr, "usage: %s emit|trickle|endless|cat|head|sum|sleep ...\n",
          argv[0]);
  return 2;
}
