/* SPDX-License-Identifier: ISC */
/*
 * testutil.h - what the C tests share: the byte pattern and its checksum,
 * spawning the helper program, pipes, and the descriptor-leak check.
 */
#ifndef CUPRUM_TESTUTIL_H
#define CUPRUM_TESTUTIL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MiB ((uint64_t)1 << 20)

/* The test pattern: byte i of every stream is a function of i alone, so a
 * reader can check any stretch of it without the writer's help. */
static inline unsigned char test_pattern_byte(uint64_t i)
{
  uint64_t x = i * 0x9E3779B97F4A7C15ull;
  return (unsigned char)(x >> 56 ^ i);
}

static inline void test_pattern_fill(char *buf, uint64_t off, size_t n)
{
  for (size_t k = 0; k < n; k++)
    buf[k] = (char)test_pattern_byte(off + k);
}

/* FNV-1a over the bytes: order-sensitive, cheap. */
#define TEST_CHECKSUM_INIT 1469598103934665603ull
static inline uint64_t test_checksum(uint64_t h, const char *p, size_t n)
{
  for (size_t k = 0; k < n; k++) {
    h ^= (unsigned char)p[k];
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t test_pattern_checksum(uint64_t size);

/* The size of the "big" transfers: 256 MiB, or CUPRUM_TEST_BIG_MIB MiB when
 * set (the valgrind run uses a few MiB; the contract is the same). */
uint64_t test_big_size(void);

/* 1 when buf holds the pattern from offset `off`, else 0. */
int test_pattern_check(const char *buf, uint64_t off, size_t n);

/*
 * Starts the helper with the given arguments (NULL-terminated), its stdin
 * and stdout set to in_fd and out_fd (-1: /dev/null).  Descriptors other
 * than 0, 1 and 2 are not inherited.  Returns the pid; fails the test on
 * error.
 */
pid_t test_spawn(int in_fd, int out_fd, const char *const *args);

/* Waits for pid; returns its exit status, or 128 + signal. */
int test_wait(pid_t pid);

/* A pipe with both ends close-on-exec; fails the test on error. */
void test_pipe(int fds[2]);

/* Closes fd if it is >= 0 and sets it to -1. */
void test_close(int *fd);

/* Reads fd until end of file into buf (n bytes, NUL-terminated; what does
 * not fit is left unread); returns the length. */
size_t test_read_all(int fd, char *buf, size_t n);

/* Runs "sum" on the read end `fd`: returns length and checksum. */
void test_sum_start(int fd, pid_t *pid, int *out_fd);
void test_sum_finish(pid_t pid, int out_fd, uint64_t *len, uint64_t *check);

/*
 * A counting allocator for cuprum_set_allocator: calls made, blocks live,
 * the largest size asked for, and the calls it failed on purpose.  Call
 * number fail_at fails (0: none), and unless fail_once is set so does
 * every call after it.  test_use_counter(fail_at) zeroes the counts and
 * installs it failing from call fail_at on (memory running out);
 * test_use_counter_once(fail_at) fails that one call only (one allocation
 * refused, the next granted).  cuprum_set_allocator(NULL) puts the
 * default back.
 */
struct test_counter {
  long calls;
  long live;
  long fail_at;
  int fail_once;
  long failed;
  size_t largest;
};
extern struct test_counter test_counter;
void test_use_counter(long fail_at);
void test_use_counter_once(long fail_at);

/* n bytes of the test pattern with every "\n" and "\r" made an 'x': one
 * line without an ending. */
void test_fill_line(char *buf, size_t n);

/*
 * What a line callback under a cap (cuprum_lines_set_max) saw: how many
 * bytes and their checksum (from TEST_CHECKSUM_INIT), how many pieces, and
 * how many lines they ended; `bad` is set by a piece longer than `max`, or
 * by a partial one (more of its line follows) shorter than `max`.
 */
struct test_pieces {
  size_t max;
  uint64_t bytes;
  uint64_t check;
  long pieces;
  long lines;
  int bad;
};
void test_pieces_init(struct test_pieces *p, size_t max);
/* Counts one delivery; `partial` as cuprum_lines_partial reported it. */
void test_piece(struct test_pieces *p, const char *data, size_t len,
                int partial);

/*
 * The emulator this test runs under, or NULL natively: "qemu-user" (the
 * cross harness sets CUPRUM_CROSS_QEMU) or "valgrind" (its preload is in
 * LD_PRELOAD).  Both run posix_spawn's vfork as a fork, and deliver a
 * signal far more slowly than natively.
 */
const char *test_emulator(void);

/* 1 under qemu-user (see test_emulator), else 0. */
int test_under_qemu(void);

/*
 * A SIGALRM storm: test_storm_start arms a timer that sends SIGALRM every
 * `usec` microseconds to a handler that counts them in test_storm_ticks,
 * installed without SA_RESTART, so that every blocking call it hits fails
 * with EINTR.  test_storm_stop disarms it and leaves SIGALRM ignored for
 * the rest of the process (children get the default back at exec): valgrind
 * may deliver a signal it queued after the timer stopped, and the default
 * action would end the test binary ("Alarm clock").
 */
extern volatile sig_atomic_t test_storm_ticks;
void test_storm_start(long usec);
void test_storm_stop(void);

/* cmocka setup/teardown pair that fails a test which leaks a descriptor. */
int test_fd_setup(void **state);
int test_fd_teardown(void **state);

#endif
