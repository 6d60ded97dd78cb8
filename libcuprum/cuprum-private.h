/* SPDX-License-Identifier: ISC */
/*
 * cuprum-private.h - declarations shared by libcuprum's own sources.
 * Nothing here is installed or exported.
 */
#ifndef CUPRUM_PRIVATE_H
#define CUPRUM_PRIVATE_H

#include "cuprum.h"

#include <stddef.h>

#define CUPRUM__HIDDEN __attribute__((visibility("hidden")))

/* Allocation through the allocator set with cuprum_set_allocator(). */
CUPRUM__HIDDEN void *cuprum__malloc(size_t size);
CUPRUM__HIDDEN void *cuprum__realloc(void *ptr, size_t size);
CUPRUM__HIDDEN void cuprum__free(void *ptr);
/* Whether cuprum__malloc is the C library's (no cuprum_set_allocator in
 * force): only then may the engine advise the memory of its blocks. */
CUPRUM__HIDDEN int cuprum__allocator_is_libc(void);

/* 1 when size is a valid buffer size, else 0. */
static inline int cuprum__size_ok(size_t size)
{
  return size >= CUPRUM_BUFFER_SIZE_MIN && size <= CUPRUM_BUFFER_SIZE_MAX;
}

/* 0 when fd is an open descriptor, else -EBADF. */
CUPRUM__HIDDEN int cuprum__check_fd(int fd);

/*
 * Waits until fd is ready for `events` (POLLIN or POLLOUT), retrying EINTR.
 * Returns 0 once ready (or hung up / in error, which the next I/O call will
 * report), or a negated errno.
 */
CUPRUM__HIDDEN int cuprum__wait(int fd, short events);

/*
 * read(2) that retries EINTR and waits on EAGAIN.  Returns the byte count
 * (0 at end of file) or a negated errno.
 */
CUPRUM__HIDDEN long cuprum__read(int fd, void *buf, size_t len);

/*
 * read(2) that retries EINTR but does not wait: -EAGAIN when a
 * non-blocking fd has nothing.  Returns the byte count (0 at end of file)
 * or a negated errno.
 */
CUPRUM__HIDDEN long cuprum__read_nowait(int fd, void *buf, size_t len);

/* A capture prefaults (cuprum__prefault) once this much came in, so that a
 * short output does not pay for pages it never fills. */
#define CUPRUM__PREFAULT_AFTER ((uint64_t)64 << 10)

/*
 * Before a read(2) of up to *want bytes of fd into buf + from: lowers
 * *want to what fd holds now (FIONREAD), when that is known and not 0, and
 * touches the pages of buf from `from` (or *touched, if higher) to from +
 * *want, setting *touched there.  A page first touched by the read itself
 * is faulted in and zeroed with the pipe's lock held (for a huge page,
 * 2 MiB of zeroing) while the writer waits for that lock, spinning:
 * profiled, `cat` spent a third of a 256 MiB capture so.  Touched here,
 * the zeroing overlaps the writer's next writes; bounded by what the pipe
 * holds, no page is touched that the read does not fill.  Writes zeros:
 * the range must hold nothing yet.
 */
CUPRUM__HIDDEN void cuprum__prefault(int fd, char *buf, size_t from,
                                     size_t *want, size_t *touched);

/*
 * Writes all of buf, retrying EINTR, waiting on EAGAIN, and continuing after
 * short writes.  Returns 0 or a negated errno; *written (optional) counts
 * the bytes the writer took.  The caller must have SIGPIPE blocked (see
 * cuprum__sigpipe_block).
 */
CUPRUM__HIDDEN int cuprum__write_all(int fd, const void *buf, size_t len,
                                     size_t *written);

/*
 * SIGPIPE handling that leaves dispositions alone: block SIGPIPE in the
 * calling thread for the span of a call and, when that call hit EPIPE,
 * consume the SIGPIPE it raised before restoring the mask.  A SIGPIPE that
 * was already pending before the call is left pending.
 */
typedef struct cuprum__sigpipe_guard {
  int was_pending;
  int was_blocked;
  int active;
} cuprum__sigpipe_guard;

CUPRUM__HIDDEN void cuprum__sigpipe_block(cuprum__sigpipe_guard *guard);
CUPRUM__HIDDEN void cuprum__sigpipe_restore(cuprum__sigpipe_guard *guard,
                                            int saw_epipe);

/* Calls a chunk/line callback and maps its return to a library code. */
static inline int cuprum__callback_code(int rc)
{
  if (rc > 0)
    return CUPRUM_ESTOPPED;
  return rc;
}

/*
 * The re-entrance guard of a handle that runs user code (a pipeline's
 * callbacks, a line splitter's, a UTF-8 re-chunker's, a capture buffer's
 * storage hook; see libcuprum(7)).  While `busy`, the calls that would
 * change the handle return -EBUSY, and a free only sets `free_pending`:
 * the call that ran the user code releases the handle once it returned.
 */
struct cuprum__guard {
  int busy;
  int free_pending;
};

/* A free asked for while user code runs: 1 when it is deferred. */
static inline int cuprum__guard_defer_free(struct cuprum__guard *g)
{
  if (g->busy)
    g->free_pending = 1;
  return g->busy;
}

/* Ends a callback run under `g` (g->busy set before it): its mapped
 * result, or CUPRUM_ESTOPPED when it returned 0 but freed the handle, so
 * that the call running it stops as for a stop code. */
static inline int cuprum__guard_leave(struct cuprum__guard *g, int rc)
{
  g->busy = 0;
  return rc == 0 && g->free_pending ? CUPRUM_ESTOPPED : rc;
}

/* ------------------------------------------------------------------------
 * The capture buffer (capbuf.c), also the block cuprum_consume grows.
 */

struct cuprum_capbuf {
  /* The block: `cap` bytes, of which `len` hold data and one more is kept
   * for the NUL after it.  In tail mode `len` may pass `max` until the
   * next compaction; the kept bytes are then the last `max`. */
  char *buf;
  size_t len;
  size_t cap;
  /* Room offered by the last reserve, 0 when none is outstanding. */
  size_t reserved;
  /* The block's pages below this offset are touched (cuprum__prefault). */
  size_t touched;
  uint64_t total;
  size_t max;
  int mode;
  /* 1 while every byte taken into the block was below 0x80. */
  int ascii;
  cuprum_storage_fn storage;
  void *storage_ctx;
  /* Busy while the storage hook runs; a free from it is released by the
   * call that ran it (CUPRUM_ESTOPPED). */
  struct cuprum__guard guard;
};

/* Makes *cb an empty, unlimited buffer on the library's allocator. */
CUPRUM__HIDDEN void cuprum__capbuf_init(cuprum_capbuf *cb);

/* Makes room for `want` more bytes after cb->len (doubling; never past
 * what a capped buffer can use).  0 or -ENOMEM (cb unchanged), or
 * CUPRUM_ESTOPPED when the storage hook freed the buffer (the caller
 * releases it, see capbuf.c). */
CUPRUM__HIDDEN int cuprum__capbuf_room(cuprum_capbuf *cb, size_t want);

/* ------------------------------------------------------------------------
 * Commands (cmd.c), read by the pipeline engine (pipeline.c).
 */

/* How a standard stream of a command is set: a cuprum_stdio value, or one
 * of these two. */
#define CUPRUM__STDIO_FD 100
#define CUPRUM__STDIO_PATH 101

struct cuprum__redir {
  int how;
  int fd;
  char *path;
  unsigned flags;
};

/* One environment change; `entry` is "NAME=VALUE" for a set, "NAME" for an
 * unset, NULL for a clear. */
struct cuprum__envop {
  char *entry;
  size_t name_len;
  int set;
};

struct cuprum_cmd {
  char **argv;
  struct cuprum__envop *env;
  size_t n_env;
  size_t cap_env;
  char *dir;
  struct cuprum__redir io[3];
  /* Added to a pipeline, which frees it. */
  int owned;
};

/* Copies s through the library's allocator; NULL when out of memory. */
CUPRUM__HIDDEN char *cuprum__strdup(const char *s);

/* Frees a command, owned by a pipeline or not (cuprum_cmd_free leaves an
 * owned one to its pipeline). */
CUPRUM__HIDDEN void cuprum__cmd_release(cuprum_cmd *cmd);

/*
 * Builds the environment the command runs with: environ with the overlay
 * applied.  Stores a NULL-terminated array in *out (the strings are
 * borrowed from environ and the command; free only the array), or NULL
 * when there is no overlay (use environ).  Returns 0 or -ENOMEM.
 */
CUPRUM__HIDDEN int cuprum__cmd_envp(const cuprum_cmd *cmd, char ***out);

#endif /* CUPRUM_PRIVATE_H */
