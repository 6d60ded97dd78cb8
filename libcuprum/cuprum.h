/* SPDX-License-Identifier: ISC */
/*
 * cuprum.h - the public interface of libcuprum, cuprum's stream engine.
 *
 * libcuprum moves bytes between the stages of a pipeline and captures,
 * tees and line-splits their output.  It knows nothing of processes or of
 * Python: it works on file descriptors and byte buffers that the caller
 * owns.
 *
 * Conventions, which hold for every function below unless its comment says
 * otherwise:
 *
 *  - Functions returning int return 0 (or a non-negative count) on success
 *    and a negative error code on failure: either a negated errno value
 *    (-EBADF, -ENOMEM, -EIO, ...) passed through intact from the system
 *    call that failed, or one of the library's own CUPRUM_E* codes, which
 *    sit outside the errno range.  cuprum_strerror() names every one.
 *  - Descriptors are lent, never given: the library never closes a
 *    descriptor it did not open, and closes every descriptor it opens.
 *  - The library never exits, aborts, prints, or changes signal
 *    dispositions.  Writes that would raise SIGPIPE are made with SIGPIPE
 *    blocked in the calling thread only, and a SIGPIPE the library caused
 *    is consumed before the call returns.
 *  - EINTR is retried; descriptors in non-blocking mode are waited on with
 *    poll(), never spun on.
 *  - Handles are opaque; *_new() makes one, *_free() releases it, and
 *    *_free(NULL) does nothing.  A handle may be used by one thread at a
 *    time.
 */
#ifndef CUPRUM_H
#define CUPRUM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define CUPRUM_API __attribute__((visibility("default")))
#define CUPRUM_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define CUPRUM_API
#define CUPRUM_WARN_UNUSED
#endif

/* Version of the headers this program was compiled against. */
#define CUPRUM_VERSION_MAJOR 0
#define CUPRUM_VERSION_MINOR 1
#define CUPRUM_VERSION_PATCH 0
#define CUPRUM_VERSION_STRING "0.1.0"

/*
 * Returns the version of the library actually loaded, as "MAJOR.MINOR.PATCH".
 * The string is static; do not free it.
 */
CUPRUM_API const char *cuprum_version(void);

/* ------------------------------------------------------------------------
 * Errors
 */

/*
 * The library's own error codes.  They are negative and below -4095, so
 * they never collide with a negated errno value.
 */
enum cuprum_error {
  /* A buffer or read size outside CUPRUM_BUFFER_SIZE_MIN..MAX. */
  CUPRUM_EBUFSIZE = -20001,
  /* A required pointer argument (handle, callback, output) was NULL. */
  CUPRUM_ENULL = -20002,
  /* An unknown bit was set in a flags argument. */
  CUPRUM_EFLAGS = -20003,
  /* A callback asked to stop with a positive value (see the callbacks). */
  CUPRUM_ESTOPPED = -20004,
};

/*
 * Returns a static, human-readable description of any code a cuprum
 * function returns: 0, a negated errno value, or a CUPRUM_E* code.  Unknown
 * codes get a generic description.  Never returns NULL; thread-safe.
 */
CUPRUM_API const char *cuprum_strerror(int code);

/* ------------------------------------------------------------------------
 * Memory
 */

/*
 * The allocator every allocation of the library goes through.  realloc_fn
 * must behave like realloc(3) (realloc_fn(ctx, NULL, n) allocates) and
 * free_fn like free(3) (free_fn(ctx, NULL) does nothing).
 */
typedef struct cuprum_allocator {
  void *(*realloc_fn)(void *ctx, void *ptr, size_t size);
  void (*free_fn)(void *ctx, void *ptr);
  void *ctx;
} cuprum_allocator;

/*
 * Replaces the allocator (NULL restores the C library's realloc/free).
 * Call it before any other cuprum function, from one thread: memory
 * allocated by one allocator must be released by the same one.  Useful for
 * accounting and for fault injection in tests.
 */
CUPRUM_API void cuprum_set_allocator(const cuprum_allocator *allocator);

/* ------------------------------------------------------------------------
 * Sizes
 */

#define CUPRUM_BUFFER_SIZE_MIN ((size_t)1)
#define CUPRUM_BUFFER_SIZE_MAX ((size_t)1 << 30)      /* 1 GiB */
#define CUPRUM_BUFFER_SIZE_DEFAULT ((size_t)64 << 10) /* 64 KiB */

/*
 * Asks the kernel to make the pipe behind fd hold at least `want` bytes
 * (F_SETPIPE_SZ), capped at /proc/sys/fs/pipe-max-size.  Larger pipes mean
 * fewer context switches between stages.  On success returns the new
 * capacity in bytes (which may exceed `want`, or be below it when the cap
 * or the user's pipe quota applies).  Returns -EBADF for a bad descriptor,
 * -EINVAL when fd is not a pipe or `want` is 0 or too large, -EPERM or
 * -EBUSY as fcntl reports them.  fd stays open and owned by the caller.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipe_grow(int fd, size_t want);

/* ------------------------------------------------------------------------
 * pump: copy one descriptor into another until the reader is exhausted
 */

/* Never use splice(2), always read(2)/write(2) through the buffer. */
#define CUPRUM_PUMP_NO_SPLICE 0x1u

/* What a pump did, filled in on success and on failure alike. */
typedef struct cuprum_pump_stats {
  /* Bytes the writer accepted. */
  uint64_t delivered;
  /* Bytes taken from the reader (more than delivered after EPIPE). */
  uint64_t received;
  /* 1 when the writer closed early (EPIPE or ECONNRESET), else 0. */
  int writer_closed;
  /* 1 when the whole transfer used splice, 0 when any part did not. */
  int spliced;
} cuprum_pump_stats;

/*
 * Copies everything from `reader` to `writer` until end of file on the
 * reader, with backpressure: it reads no faster than the writer accepts.
 *
 * When either descriptor is a pipe, the copy uses splice(2) without
 * passing through user space; when the kernel refuses splice for the pair
 * (EINVAL, e.g. a file opened with O_APPEND), the rest of the transfer
 * falls back to read(2)/write(2) through a buffer of `buffer_size` bytes,
 * allocated on first need.  If the writer goes away (EPIPE, ECONNRESET) the
 * pump stops writing but keeps reading and discarding until end of file,
 * so the process feeding the reader never blocks forever; this is a
 * success.  EINTR is retried; EAGAIN on a non-blocking descriptor is waited
 * on with poll().
 *
 * buffer_size must lie in CUPRUM_BUFFER_SIZE_MIN..MAX (use
 * CUPRUM_BUFFER_SIZE_DEFAULT when in doubt); flags is 0 or
 * CUPRUM_PUMP_NO_SPLICE.  `stats` may be NULL.
 *
 * Returns 0 on success, CUPRUM_EBUFSIZE, CUPRUM_EFLAGS, -EBADF for a
 * negative or closed descriptor, -ENOMEM, or the negated errno of the
 * first read or write that failed for another reason (after which `stats`
 * tells how far the copy got).  Neither descriptor is closed; their
 * O_NONBLOCK flags are left as they were.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pump(int reader, int writer,
                                              size_t buffer_size,
                                              unsigned flags,
                                              cuprum_pump_stats *stats);

/* ------------------------------------------------------------------------
 * consume: read a descriptor to end of file, capturing and/or teeing
 */

/*
 * A chunk callback: receives each chunk as it is read, in order.  `data` is
 * valid only during the call.  Return 0 to go on, a negative cuprum or
 * errno code to stop (the consuming function then returns that code), or
 * a positive value to stop with CUPRUM_ESTOPPED.
 */
typedef int (*cuprum_chunk_fn)(void *ctx, const char *data, size_t len);

/* Keep the bytes read (otherwise they are only teed and passed on). */
#define CUPRUM_CONSUME_CAPTURE 0x1u

/* How to consume; set every field, or start from cuprum_consume_opts_init. */
typedef struct cuprum_consume_opts {
  /* CUPRUM_CONSUME_* bits. */
  unsigned flags;
  /* Bytes asked for per read when not capturing, and the first capture
   * buffer; CUPRUM_BUFFER_SIZE_MIN..MAX. */
  size_t read_size;
  /* When >= 0, every chunk is also written to this descriptor as it
   * arrives.  A tee that fails never stops the capture: its first error is
   * reported in cuprum_capture.tee_error and teeing stops there. */
  int tee_fd;
  /* When not NULL, called with every chunk as it arrives. */
  cuprum_chunk_fn on_chunk;
  void *on_chunk_ctx;
} cuprum_consume_opts;

/* Fills `opts` with the defaults: capture, 64 KiB reads, no tee, no
 * callback. */
CUPRUM_API void cuprum_consume_opts_init(cuprum_consume_opts *opts);

/* The outcome of a consume.  Release `data` with cuprum_capture_release. */
typedef struct cuprum_capture {
  /* Every byte read, when capturing; NULL when nothing was captured.  The
   * buffer holds one extra NUL byte after `len`, for convenience. */
  char *data;
  size_t len;
  /* Bytes read in all, captured or not. */
  uint64_t total;
  /* 0, or the negated errno of the first failed tee write. */
  int tee_error;
} cuprum_capture;

/*
 * Reads `reader` until end of file.  With CUPRUM_CONSUME_CAPTURE, the bytes
 * are gathered in one buffer that grows geometrically (each read goes
 * straight into the buffer's free space, so there is no copy per chunk)
 * and is trimmed to size at the end.  Each chunk is teed and passed to the
 * callback as it arrives.
 *
 * `opts` may be NULL for the defaults.  `out` is required and is always
 * initialised, even on failure, so cuprum_capture_release(out) is always
 * right; on failure it keeps the bytes read so far (partial output).
 *
 * Returns 0 on success, CUPRUM_ENULL, CUPRUM_EBUFSIZE, CUPRUM_EFLAGS,
 * -EBADF, -ENOMEM, a callback's stop code, or the negated errno of a read
 * that failed.  `reader` and the tee descriptor stay open.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_consume(int reader, const cuprum_consume_opts *opts,
               cuprum_capture *out);

/* Releases the buffer in `cap` (through the current allocator) and resets
 * it to empty.  NULL does nothing. */
CUPRUM_API void cuprum_capture_release(cuprum_capture *cap);

/* ------------------------------------------------------------------------
 * Lines: an incremental universal-newline splitter
 */

/*
 * A line callback: receives one line without its ending.  `line` is valid
 * only during the call and is not NUL-terminated.  Return values are as
 * for cuprum_chunk_fn.
 */
typedef int (*cuprum_line_fn)(void *ctx, const char *line, size_t len);

typedef struct cuprum_lines cuprum_lines;

/*
 * Makes a splitter that cuts the bytes fed to it into lines and calls
 * `on_line` for each.  Line endings are "\n", "\r\n" and a lone "\r", and
 * nothing else; a "\r\n" split across two feeds is one ending.  Lines that
 * lie wholly inside one feed are passed straight from the caller's buffer;
 * a line spanning feeds is gathered in the splitter's own buffer.
 *
 * Stores the handle in *out.  Returns 0, CUPRUM_ENULL or -ENOMEM.  Release
 * with cuprum_lines_free.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_lines_new(cuprum_lines **out, cuprum_line_fn on_line, void *ctx);

/*
 * Feeds `len` bytes (any chunking works; len may be 0).  Calls the line
 * callback for every line completed.  Returns 0, CUPRUM_ENULL, -ENOMEM, or
 * the callback's stop code; after a stop the rest of this feed is dropped
 * and the splitter may be fed again.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_lines_feed(cuprum_lines *lines, const void *data, size_t len);

/*
 * Ends the input: delivers the final line if it has no ending, then resets
 * the splitter so it can be fed a new stream.  Returns as cuprum_lines_feed.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_lines_finish(cuprum_lines *lines);

/* Releases the splitter.  Pending bytes not yet delivered are dropped. */
CUPRUM_API void cuprum_lines_free(cuprum_lines *lines);

/* ------------------------------------------------------------------------
 * UTF-8 boundaries
 */

/*
 * Returns the length of the longest prefix of data[0..len) that does not
 * end inside a UTF-8 character: at most 3 trailing bytes are left out, and
 * only when they are the valid beginning of a character that the next bytes
 * could complete.  Bytes that can never become valid are not held back,
 * so decoding each prefix separately (with any error policy) gives exactly
 * the decoding of the whole.  data may be NULL when len is 0.
 */
CUPRUM_API size_t cuprum_utf8_complete(const void *data, size_t len);

typedef struct cuprum_utf8 cuprum_utf8;

/*
 * Makes an incremental re-chunker for text sinks: bytes fed to it are passed
 * to `on_chunk` in pieces that never split a UTF-8 character; an incomplete
 * character at the end of a feed is held (at most 3 bytes) until the next
 * feed completes it.  Stores the handle in *out; returns 0, CUPRUM_ENULL or
 * -ENOMEM.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_utf8_new(cuprum_utf8 **out, cuprum_chunk_fn on_chunk, void *ctx);

/* Feeds bytes; returns 0, CUPRUM_ENULL or the callback's stop code. */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_utf8_feed(cuprum_utf8 *u8, const void *data, size_t len);

/* Ends the input: passes on any held bytes (an incomplete character at the
 * very end of the stream) and resets.  Returns as cuprum_utf8_feed. */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_utf8_finish(cuprum_utf8 *u8);

/* Releases the re-chunker.  Held bytes are dropped. */
CUPRUM_API void cuprum_utf8_free(cuprum_utf8 *u8);

#ifdef __cplusplus
}
#endif

#endif /* CUPRUM_H */
