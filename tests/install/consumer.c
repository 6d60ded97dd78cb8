/* SPDX-License-Identifier: ISC */
/*
 * consumer.c - the install-route test: a program built outside the source
 * tree with `pkg-config --cflags --libs cuprum` against the installed
 * library.  It pumps 256 MiB (or argv[1] MiB) of a known pattern through
 * cuprum_pump() between two pipes, captures it with cuprum_consume(), and
 * checks every byte.  Exit status 0 on success.
 */
#include <cuprum.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t total;

static unsigned char pattern(uint64_t i)
{
  return (unsigned char)((i * 2654435761u) >> 13 ^ i);
}

static void *produce(void *arg)
{
  int fd = *(int *)arg;
  static unsigned char buf[1 << 16];
  uint64_t off = 0;

  while (off < total) {
    size_t n = total - off < sizeof(buf) ? (size_t)(total - off) : sizeof(buf);
    size_t done = 0;
    for (size_t k = 0; k < n; k++)
      buf[k] = pattern(off + k);
    while (done < n) {
      ssize_t w = write(fd, buf + done, n - done);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return (void *)1;
      done += (size_t)w;
    }
    off += n;
  }
  close(fd);
  return NULL;
}

struct pump_job {
  int in;
  int out;
  int rc;
  cuprum_pump_stats st;
};

static void *pump(void *arg)
{
  struct pump_job *j = arg;
  j->rc = cuprum_pump(j->in, j->out, CUPRUM_BUFFER_SIZE_DEFAULT, 0, &j->st);
  close(j->in);
  close(j->out);
  return NULL;
}

int main(int argc, char **argv)
{
  int a[2];
  int b[2];
  pthread_t producer;
  pthread_t pumper;
  struct pump_job job;
  cuprum_capture cap;
  void *produced;
  int rc;

  total = (uint64_t)(argc > 1 ? strtoull(argv[1], NULL, 10) : 256) << 20;
  if (pipe2(a, O_CLOEXEC) != 0 || pipe2(b, O_CLOEXEC) != 0) {
    perror("pipe2");
    return 1;
  }
  job.in = a[0];
  job.out = b[1];
  pthread_create(&producer, NULL, produce, &a[1]);
  pthread_create(&pumper, NULL, pump, &job);
  rc = cuprum_consume(b[0], NULL, &cap);
  pthread_join(producer, &produced);
  pthread_join(pumper, NULL);
  close(b[0]);
  if (rc != 0 || job.rc != 0 || produced != NULL) {
    fprintf(stderr, "consumer: consume: %s; pump: %s\n", cuprum_strerror(rc),
            cuprum_strerror(job.rc));
    return 1;
  }
  if (cap.len != total || job.st.delivered != total) {
    fprintf(stderr, "consumer: got %zu bytes, pumped %llu, want %llu\n",
            cap.len, (unsigned long long)job.st.delivered,
            (unsigned long long)total);
    return 1;
  }
  for (uint64_t i = 0; i < total; i++) {
    if ((unsigned char)cap.data[i] != pattern(i)) {
      fprintf(stderr, "consumer: byte %llu differs\n", (unsigned long long)i);
      return 1;
    }
  }
  printf("consumer: libcuprum %s pumped (%s) and captured %llu bytes "
         "byte-exact\n",
         cuprum_version(), job.st.spliced ? "splice" : "read/write",
         (unsigned long long)total);
  cuprum_capture_release(&cap);
  return 0;
}
