/* SPDX-License-Identifier: ISC */
/*
 * cuprum.h - the public interface of libcuprum, cuprum's stream engine.
 *
 * libcuprum runs commands and pipelines, moves bytes between their stages,
 * and captures, tees and line-splits their output.  It knows nothing of
 * Python.
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
 *  - A callback runs in the middle of the call that invoked it: calling
 *    back into the same handle is allowed only as far as that handle's
 *    comments say.  A pipeline, a line splitter, a UTF-8 re-chunker and a
 *    capture buffer refuse, with -EBUSY, every call from their own
 *    callbacks (or storage hook) that would drive or change them, and a
 *    free from there waits for the call that ran the callback to return
 *    (cuprum_output_fn, cuprum_line_fn, cuprum_utf8_new,
 *    cuprum_storage_fn).
 */
#ifndef CUPRUM_H
#define CUPRUM_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
  /* The handle is in the wrong state for the call (e.g. a pipeline with
   * no stages started, changed after it started, or read before done).
   * A call from inside the handle's own callback that would drive or
   * change it is -EBUSY instead (see cuprum_output_fn, cuprum_line_fn). */
  CUPRUM_ESTATE = -20005,
};

/*
 * Returns a static, human-readable description of any code a cuprum
 * function returns: 0, a negated errno value, or a CUPRUM_E* code.  Unknown
 * codes get a generic description.  Never returns NULL.  Negated errno
 * values are described by strerrordesc_np(3) where the C library has it
 * (glibc >= 2.32), which is thread-safe; elsewhere by strerror(3), whose
 * buffer another thread's call may overwrite, so the call is thread-safe
 * only for the library's own codes there.
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
 * Replaces the allocator.  NULL, or an allocator whose realloc_fn or
 * free_fn is NULL, restores the defaults (the C library's realloc/free, ctx
 * NULL); the allocator is copied, so *allocator need not outlive the call.
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
 * (F_SETPIPE_SZ), capped at /proc/sys/fs/pipe-max-size.  A larger pipe
 * wakes its reader less often during a large transfer (between two busy
 * processes a small one can be faster: its pages stay in cache, which is
 * why pipelines keep the default between stages).  On success returns the new
 * capacity in bytes (which may exceed `want`, or be below it when the cap
 * applies).  Returns -EBADF for a bad descriptor, -EINVAL when fd is not a
 * pipe or `want` is 0 or too large, and -EPERM when the calling user is
 * over its pipe quota (/proc/sys/fs/pipe-user-pages-soft) or the size
 * would exceed pipe-max-size without CAP_SYS_RESOURCE.  fd stays open and
 * owned by the caller.
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
 * allocated on first need; it falls back the same way when the kernel has
 * no splice (ENOSYS).  If the writer goes away (EPIPE, ECONNRESET) the
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
 * Capture buffers: one growing buffer, optionally capped, whose storage the
 * caller may own
 */

/*
 * A capture buffer keeps the bytes fed or read into it in one contiguous
 * block (no copy per chunk when reading straight into it), counts every
 * byte, tracks whether the bytes are all ASCII, and can keep only the first
 * or only the last N bytes.  Used by one thread at a time.
 */
typedef struct cuprum_capbuf cuprum_capbuf;

/*
 * A storage hook: lets the caller own the capture's block (say, the
 * object the bytes will finally live in), so that the result needs no
 * copy.  Called to grow: `data` is the current block (NULL the first
 * time), of which the first `len` bytes are in use, and *size the least
 * capacity wanted in bytes (room for one NUL byte after the data is
 * included).  Return a block of at least *size bytes whose first `len`
 * bytes are those of `data` (the same block, moved or not), raising *size
 * to the capacity given if it is larger; or NULL, leaving `data` as it
 * was, when out of memory.  Called with *size == 0 to release `data` (the
 * return value is then ignored).  `ctx` is the pointer given with the hook.
 *
 * The hook runs in the middle of the call that needs the block (reserve,
 * feed and read to grow it, free to release it): from inside it, the
 * calls that would change its buffer (cuprum_capbuf_reserve, _commit,
 * _feed, _read, _detach, _set_limit, _set_storage) return -EBUSY, after
 * their argument checks, and change nothing; _data, _total and _ascii
 * answer for the buffer as the call found it.  A cuprum_capbuf_free from
 * the hook waits for it to return: the call that ran it then takes
 * nothing in, releases the buffer (its block through the hook) and
 * returns CUPRUM_ESTOPPED.
 */
typedef void *(*cuprum_storage_fn)(void *ctx, void *data, size_t len,
                                   size_t *size);

/* Keep the first max_bytes bytes (cuprum_capbuf_set_limit). */
#define CUPRUM_CAP_HEAD 0
/* Keep the last max_bytes bytes (cuprum_capbuf_set_limit). */
#define CUPRUM_CAP_TAIL 1
/* No limit on the bytes kept (cuprum_capbuf_set_limit). */
#define CUPRUM_CAP_UNLIMITED SIZE_MAX

/*
 * Makes an empty capture buffer: no limit, storage from the library's
 * allocator.  Stores it in *out (NULL on failure); the caller owns it and
 * releases it with cuprum_capbuf_free.  Returns 0, CUPRUM_ENULL or -ENOMEM.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_capbuf_new(cuprum_capbuf **out);

/* Releases the buffer and its block (through the storage hook, if one is
 * set).  NULL does nothing.  From inside the storage hook the release
 * waits for the hook to return (see cuprum_storage_fn). */
CUPRUM_API void cuprum_capbuf_free(cuprum_capbuf *cb);

/*
 * Makes `fn` (with `ctx`) provide the buffer's block from now on; NULL
 * restores the library's allocator.  Only while the buffer holds no block
 * (before the first byte, or after cuprum_capbuf_detach).  Returns 0,
 * CUPRUM_ENULL (cb NULL) or CUPRUM_ESTATE.
 *
 * Every call below that changes the buffer returns -EBUSY from inside its
 * storage hook (checked after its arguments), and _reserve, _feed and
 * _read return CUPRUM_ESTOPPED when the hook freed the buffer (see
 * cuprum_storage_fn).
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_capbuf_set_storage(cuprum_capbuf *cb, cuprum_storage_fn fn, void *ctx);

/*
 * Keeps at most `max_bytes` bytes: with CUPRUM_CAP_HEAD the first ones
 * (later bytes are counted and dropped), with CUPRUM_CAP_TAIL the last
 * ones (the block then holds up to about twice max_bytes plus one read, so
 * that dropping old bytes costs one copy per max_bytes read).
 * CUPRUM_CAP_UNLIMITED keeps every byte.  Only before the first byte.
 * Returns 0, CUPRUM_ENULL, CUPRUM_EFLAGS (an unknown mode) or
 * CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_capbuf_set_limit(cuprum_capbuf *cb, size_t max_bytes, int mode);

/*
 * Makes room for `want` bytes after the kept data and stores their address
 * in *space: write up to `want` bytes there, then call cuprum_capbuf_commit.
 * The address is valid until the next call on the buffer.  Returns 0,
 * CUPRUM_ENULL (cb or space NULL), -ENOMEM (the buffer is unchanged) or,
 * when want is 0, CUPRUM_EBUFSIZE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_capbuf_reserve(cuprum_capbuf *cb, size_t want, void **space);

/*
 * Takes `n` bytes written at the space of the last cuprum_capbuf_reserve
 * into the count and, as far as the limit allows, into the kept data.
 * Returns 0, CUPRUM_ENULL, or CUPRUM_ESTATE when n is more than the room
 * reserved (nothing is taken then).
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_capbuf_commit(cuprum_capbuf *cb,
                                                       size_t n);

/*
 * Appends a copy of `len` bytes at `data`, as far as the limit allows
 * (only what is kept is copied).  Returns 0, CUPRUM_ENULL (cb NULL, or
 * data NULL with len > 0) or -ENOMEM (then nothing is taken).
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_capbuf_feed(cuprum_capbuf *cb, const void *data, size_t len);

/*
 * One read(2) of up to `size` bytes from `fd` straight into the buffer,
 * retrying EINTR.  Unlike the library's other readers, it does not wait:
 * made for event loops, it returns -EAGAIN when a non-blocking fd has
 * nothing.  The storage hook is called only when the buffer lacks `size`
 * bytes of room, so a caller that must not run it during the read (say,
 * with a lock released) calls cuprum_capbuf_reserve(cb, size, ...) first.
 * Returns the bytes read, 0 at end of file, CUPRUM_ENULL, CUPRUM_EBUFSIZE
 * (size outside CUPRUM_BUFFER_SIZE_MIN..MAX), -ENOMEM, or the negated
 * errno of the read.  fd stays open and owned by the caller.
 */
CUPRUM_API CUPRUM_WARN_UNUSED long cuprum_capbuf_read(cuprum_capbuf *cb, int fd,
                                                      size_t size);

/*
 * The kept bytes: returns their address (followed by a NUL byte; NULL when
 * the buffer has no block) and stores their count in *len (optional).  The
 * address is valid until the next call that changes the buffer.  NULL for
 * cb NULL.
 */
CUPRUM_API const char *cuprum_capbuf_data(const cuprum_capbuf *cb, size_t *len);

/* Every byte taken in since the buffer was made or detached, kept or not;
 * 0 for NULL.  More than the limit means bytes were dropped. */
CUPRUM_API uint64_t cuprum_capbuf_total(const cuprum_capbuf *cb);

/*
 * 1 when every byte kept is below 0x80, else 0 (also for NULL).  Tracked
 * as the bytes come in, so asking costs nothing; with CUPRUM_CAP_TAIL it
 * may say 0 for kept bytes that are ASCII when a byte since dropped was
 * not.
 */
CUPRUM_API int cuprum_capbuf_ascii(const cuprum_capbuf *cb);

/*
 * Hands the block to the caller and empties the buffer (count, ASCII
 * state and block; the limit and the hook stay).  Fills *out: data (NULL
 * when there is no block; NUL-terminated after len), len and total;
 * tee_error is 0.  Without a storage hook, release out with
 * cuprum_capture_release; with one, the block is the hook's, for the
 * caller to dispose of.  Returns 0 or CUPRUM_ENULL.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_capbuf_detach(cuprum_capbuf *cb,
                                                       cuprum_capture *out);

/* ------------------------------------------------------------------------
 * Lines: an incremental universal-newline splitter
 */

/*
 * A line callback: receives one line without its ending.  `line` is valid
 * only during the call and is not NUL-terminated.  Return values are as
 * for cuprum_chunk_fn.
 *
 * It runs inside cuprum_lines_feed or cuprum_lines_finish, and `line` may
 * point into the splitter's own buffer, so the calls that would change
 * its splitter are refused there with -EBUSY and change nothing:
 * cuprum_lines_feed, _finish and _set_max (their arguments are checked
 * first).  cuprum_lines_partial keeps working.  The callback may also
 * free its splitter: see cuprum_lines_free.
 */
typedef int (*cuprum_line_fn)(void *ctx, const char *line, size_t len);

typedef struct cuprum_lines cuprum_lines;

/* No limit on the bytes of one line delivery (cuprum_lines_set_max,
 * cuprum_pipeline_set_line_max): the default. */
#define CUPRUM_LINE_UNLIMITED ((size_t)-1)

/*
 * Makes a splitter that cuts the bytes fed to it into lines and calls
 * `on_line` for each.  Line endings are "\n", "\r\n" and a lone "\r", and
 * nothing else; a "\r\n" split across two feeds is one ending.  Lines that
 * lie wholly inside one feed are passed straight from the caller's buffer;
 * a line spanning feeds is gathered in the splitter's own buffer, which
 * grows without limit unless cuprum_lines_set_max bounds it.
 *
 * Stores the handle in *out.  Returns 0, CUPRUM_ENULL or -ENOMEM.  Release
 * with cuprum_lines_free.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_lines_new(cuprum_lines **out, cuprum_line_fn on_line, void *ctx);

/*
 * Feeds `len` bytes (any chunking works; len may be 0).  Calls the line
 * callback for every line completed.  Returns 0, CUPRUM_ENULL, -ENOMEM,
 * -EBUSY (from inside the splitter's callback, see cuprum_line_fn), or the
 * callback's stop code; after a stop the rest of this feed is dropped and
 * the splitter may be fed again (unless the callback freed it).
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_lines_feed(cuprum_lines *lines, const void *data, size_t len);

/*
 * Ends the input: delivers the final line if it has no ending, then resets
 * the splitter so it can be fed a new stream.  Returns as cuprum_lines_feed.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_lines_finish(cuprum_lines *lines);

/*
 * Releases the splitter.  Pending bytes not yet delivered are dropped.
 *
 * From inside the splitter's own callback the release waits for the
 * callback to return (its bytes stay valid until then): the feed or
 * finish that called it then stops as if the callback had returned a stop
 * code (its own negative code if it returned one, else CUPRUM_ESTOPPED),
 * nothing more is delivered, the splitter is released, and the call
 * returns that code.  As after any free, `lines` is then invalid.
 */
CUPRUM_API void cuprum_lines_free(cuprum_lines *lines);

/*
 * Bounds memory against hostile input: no callback gets more than `max`
 * bytes, and the splitter holds at most `max` bytes of an unfinished line
 * (CUPRUM_LINE_UNLIMITED, the default: whole lines, however long).  A
 * longer line is delivered in pieces, in order, every byte of it: pieces
 * of exactly `max` bytes while more of the line follows, then the rest
 * (1 to max bytes) as its last piece, which ends the line as usual.
 * cuprum_lines_partial tells the callback which piece it has.  Where the
 * cuts fall depends on the line alone, never on the feeds; a line of
 * exactly `max` bytes is one delivery, as is an empty one.  Call it before
 * the first feed or after cuprum_lines_finish (whenever no unfinished line
 * is held), not from the callback.  Returns 0, CUPRUM_ENULL, -EINVAL (max 0),
 * -EBUSY (called from the callback) or CUPRUM_ESTATE (an unfinished line is
 * held).
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_lines_set_max(cuprum_lines *lines,
                                                       size_t max);

/*
 * Inside the line callback: 1 when the bytes it was handed are a piece of
 * a line cut at the cuprum_lines_set_max limit that more of the line
 * follows, 0 when they end their line (a whole line, or its last piece).
 * 0 outside a callback and for NULL.
 */
CUPRUM_API int cuprum_lines_partial(const cuprum_lines *lines);

/* ------------------------------------------------------------------------
 * Text bytes: ASCII and UTF-8 boundaries
 */

/*
 * 1 when every one of the `len` bytes at data is below 0x80 (so that any
 * ASCII-compatible codec decodes them as a plain copy), else 0; 1 for
 * len 0.  Scans a word at a time and stops soon after the first byte that
 * is not ASCII.  Any alignment; data may be NULL when len is 0; only
 * reads data.  cuprum_capbuf_ascii gives the same verdict on a capture
 * buffer's bytes without a scan.
 */
CUPRUM_API int cuprum_ascii(const void *data, size_t len);

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
 *
 * `on_chunk` runs inside cuprum_utf8_feed or _finish and may be handed the
 * held bytes, kept in the re-chunker: from there, feeding or finishing the
 * same re-chunker returns -EBUSY and changes nothing (after the argument
 * checks).  A cuprum_utf8_free from there waits for the callback to
 * return: the feed or finish then stops as for a stop code (the
 * callback's negative code, else CUPRUM_ESTOPPED), releases the
 * re-chunker and returns that code.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_utf8_new(cuprum_utf8 **out, cuprum_chunk_fn on_chunk, void *ctx);

/* Feeds bytes; returns 0, CUPRUM_ENULL, -EBUSY (from inside the callback)
 * or the callback's stop code. */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_utf8_feed(cuprum_utf8 *u8, const void *data, size_t len);

/* Ends the input: passes on any held bytes (an incomplete character at the
 * very end of the stream) and resets.  Returns as cuprum_utf8_feed. */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_utf8_finish(cuprum_utf8 *u8);

/* Releases the re-chunker.  Held bytes are dropped.  From inside its
 * callback the release waits for the callback to return (see
 * cuprum_utf8_new). */
CUPRUM_API void cuprum_utf8_free(cuprum_utf8 *u8);

/* ------------------------------------------------------------------------
 * Writing: the write loop the engine uses, for callers that need it too
 */

/*
 * Writes all `len` bytes of buf to fd, retrying EINTR, continuing after
 * short writes, and waiting with poll() when fd is non-blocking.  SIGPIPE
 * is blocked in the calling thread for the span of the call and a SIGPIPE
 * the call raised is consumed, so a closed reader gives -EPIPE and never
 * kills the process; dispositions are untouched.  *written (optional)
 * receives the bytes the writer took, also on failure.  Returns 0,
 * CUPRUM_ENULL (buf NULL with len > 0), -EBADF, -EPIPE, or the negated
 * errno of the write that failed.  fd stays open and
 * owned by the caller; buf is only read.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_write_all(int fd, const void *buf,
                                                   size_t len, size_t *written);

/* ------------------------------------------------------------------------
 * Processes and pipelines
 *
 * A cuprum_cmd describes one program to run: argv, environment overlay,
 * working directory and its three standard streams.  A cuprum_pipeline
 * joins one or more commands, stdout of each into stdin of the next,
 * through kernel pipes of the default size (each pipe it reads from is
 * enlarged with cuprum_pipe_grow once 64 KiB came through it); it feeds
 * the first stage, captures, tees or line-splits the last stage's stdout
 * and every stage's stderr, enforces a timeout and fail-fast, and reports
 * per-stage results.
 *
 * It runs to completion with cuprum_pipeline_run(), or step by step from
 * the caller's event loop: cuprum_pipeline_start(), then, until
 * cuprum_pipeline_done(), wait on the descriptors of
 * cuprum_pipeline_pollfds() for at most cuprum_pipeline_timeout() ms and
 * call cuprum_pipeline_step().  cuprum_pipeline_run() is exactly that loop
 * around poll(2).
 *
 * Guarantees: children are spawned by posix_spawn(3) (vfork semantics,
 * never a plain fork), with an empty signal mask and every signal at its
 * default disposition, and with every descriptor other than 0, 1 and 2
 * closed; every descriptor the library creates is close-on-exec; a failed
 * exec (missing program, not executable, bad directory, a redirection
 * path that cannot be opened) is returned synchronously as -errno by
 * cuprum_pipeline_start(), after the stages already started were killed
 * and reaped.  Children are signalled and reaped through their
 * pidfd_open(2) pidfds (pidfd_send_signal, waitid P_PIDFD), opened as
 * soon as posix_spawn returns, so a stage collected by someone else is not
 * confused with a later process given its pid (but for that instant, as
 * posix_spawn gives no pidfd); by pid (kill, waitpid polled on a short
 * tick) only where the kernel has no pidfds or a seccomp filter refuses
 * them.  Out of descriptors for a pidfd, the start fails (-EMFILE).  The
 * library installs no SIGCHLD handler, never calls waitpid(-1) and has no
 * global state (a stage collected by someone else, because the process
 * ignores SIGCHLD or waits for any child, still ends the run: its status
 * is unknown, see cuprum_pipeline_status), so many pipelines may run in many
 * threads (each handle in one thread at a time).  The parent's PATH (getenv) is
 * used to look programs up when argv[0] has no slash.
 */

typedef struct cuprum_cmd cuprum_cmd;
typedef struct cuprum_pipeline cuprum_pipeline;

/* The standard streams, as the `stream` argument of the calls below. */
#define CUPRUM_STDIN 0
#define CUPRUM_STDOUT 1
#define CUPRUM_STDERR 2

/* What a command's standard stream is connected to. */
typedef enum cuprum_stdio {
  /* The pipeline decides: stdin of the first stage is the pipeline's input
   * if one is set, else inherited; stdin of a later stage is the previous
   * stage's stdout; stdout of a non-last stage feeds the next stage; stdout
   * of the last stage and every stderr go to the caller (CUPRUM_STDIO_PIPE)
   * when the pipeline captures, tees or line-splits that stream, else are
   * inherited. */
  CUPRUM_STDIO_DEFAULT = 0,
  /* The calling process's descriptor of the same number. */
  CUPRUM_STDIO_INHERIT = 1,
  /* /dev/null. */
  CUPRUM_STDIO_NULL = 2,
  /* A pipe read by the pipeline (stdout and stderr only): what the
   * pipeline's output settings for that stream say happens to it. */
  CUPRUM_STDIO_PIPE = 3,
  /* stderr only: the same place as this command's stdout. */
  CUPRUM_STDIO_STDOUT = 4
} cuprum_stdio;

/* Flags of cuprum_cmd_redirect_path. */
/* Open for writing, created (mode 0666 & ~umask) and truncated. */
#define CUPRUM_PATH_TRUNCATE 0x1u
/* Open for writing, created and appended to. */
#define CUPRUM_PATH_APPEND 0x2u

/*
 * Makes a command from argv[0..n), where argv is NULL-terminated and
 * argv[0] is the program, looked up when it has no slash in the PATH of
 * the environment the command gets (the caller's, or the overlay's when
 * it sets, unsets or clears), as execvp(3) would in the child, except that
 * an executable file without a #! line is not handed to /bin/sh: its start
 * fails with -ENOEXEC (posix_spawnp(3), as Python's subprocess).  The
 * strings are copied; the caller keeps argv.  Every stream starts as
 * CUPRUM_STDIO_DEFAULT, the environment as the caller's, the working
 * directory as the caller's.  Stores the handle in *out (NULL on failure).
 * Returns 0, CUPRUM_ENULL (out, argv or argv[0] NULL), -EINVAL (argv[0]
 * empty) or -ENOMEM.  Release with cuprum_cmd_free, or give it to a
 * pipeline with cuprum_pipeline_add.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_cmd_new(cuprum_cmd **out,
                                                 const char *const *argv);

/* Releases a command that no pipeline owns.  NULL does nothing, and so
 * does a command that a pipeline owns (cuprum_pipeline_add succeeded): the
 * pipeline frees it with itself, after which the handle is gone. */
CUPRUM_API void cuprum_cmd_free(cuprum_cmd *cmd);

/*
 * The setters below change a command no pipeline owns yet.  On a command
 * added to a pipeline (cuprum_pipeline_add), started or not, they return
 * CUPRUM_ESTATE after checking their arguments and change nothing: the
 * pipeline reads its commands' streams while it runs.
 */

/*
 * Environment overlay, applied in call order over the caller's environment
 * (environ) when the pipeline starts: setenv sets name=value, unsetenv
 * removes name, clearenv drops everything set or inherited before it.
 * name and value are copied.  Return 0, CUPRUM_ENULL, -EINVAL (name empty
 * or containing '='), CUPRUM_ESTATE or -ENOMEM.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_cmd_setenv(cuprum_cmd *cmd, const char *name, const char *value);
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_cmd_unsetenv(cuprum_cmd *cmd,
                                                      const char *name);
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_cmd_clearenv(cuprum_cmd *cmd);

/*
 * Runs the command in `dir` (copied; NULL: the caller's directory).  A
 * directory that cannot be entered makes cuprum_pipeline_start fail with
 * its -errno.  Relative redirection paths are opened first, relative to
 * the caller's directory.  Returns 0, CUPRUM_ENULL (cmd NULL),
 * CUPRUM_ESTATE or -ENOMEM.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_cmd_chdir(cuprum_cmd *cmd,
                                                   const char *dir);

/*
 * Connects `stream` (CUPRUM_STDIN/STDOUT/STDERR) to `how`.  Returns 0,
 * CUPRUM_ENULL, -EINVAL for an unknown stream or value, for
 * CUPRUM_STDIO_PIPE on stdin, or CUPRUM_STDIO_STDOUT on another stream than
 * stderr, or CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_cmd_redirect(cuprum_cmd *cmd, int stream, cuprum_stdio how);

/*
 * Connects `stream` to the caller's descriptor fd, which is lent: it must
 * stay open until cuprum_pipeline_start returns; the child gets its own
 * copy, and the library never closes fd.  Returns 0, CUPRUM_ENULL, -EINVAL
 * (unknown stream), -EBADF (fd negative) or CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_cmd_redirect_fd(cuprum_cmd *cmd,
                                                         int stream, int fd);

/*
 * Connects `stream` to the file `path` (copied), opened by the child: for
 * stdin read-only (flags 0), for stdout and stderr with flags
 * CUPRUM_PATH_TRUNCATE or CUPRUM_PATH_APPEND.  A path that cannot be opened
 * makes cuprum_pipeline_start fail with its -errno.  Returns 0,
 * CUPRUM_ENULL, -EINVAL (unknown stream), CUPRUM_EFLAGS, CUPRUM_ESTATE or
 * -ENOMEM.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_cmd_redirect_path(cuprum_cmd *cmd,
                                                           int stream,
                                                           const char *path,
                                                           unsigned flags);

/* Flags of cuprum_cmd_spawn. */
/* Put the child in process group `pgid`, or in a new group it leads when
 * pgid is 0. */
#define CUPRUM_SPAWN_PGROUP 0x1u
/* Keep the caller's signal mask and the signals it ignores, as exec(2)
 * does, but reset SIGPIPE and SIGXFSZ, which a caller typically ignores
 * only for its own writes, to their defaults (what Python's subprocess
 * does).  Without it the mask is emptied and every disposition reset. */
#define CUPRUM_SPAWN_KEEP_SIGNALS 0x2u

/*
 * Starts `cmd` as one child process whose lifecycle the caller owns: no
 * pipeline waits for, signals or reaps it.  The child gets the command's
 * argv, environment overlay, directory and streams (CUPRUM_STDIO_DEFAULT
 * means inherited here; CUPRUM_STDIO_PIPE is refused, since no pipeline
 * reads it: make a pipe and lend its end with cuprum_cmd_redirect_fd), and
 * starts as a pipeline's stages do: by posix_spawn, every descriptor above
 * 2 closed, the signal mask empty and every disposition at its default
 * (see CUPRUM_SPAWN_KEEP_SIGNALS for the alternative).
 * With CUPRUM_SPAWN_PGROUP it joins process group `pgid` (0: a new group
 * it leads); without, it stays in the caller's and pgid is ignored.
 *
 * On success stores the child's pid in *pid and returns 0; unless pidfd is
 * NULL, *pidfd gets a close-on-exec pidfd of the child (pidfd_open(2)),
 * or -1 when the kernel has none (or a seccomp filter refuses the call);
 * out of descriptors for it, the child is killed and reaped and the call
 * fails with -EMFILE or -ENFILE.  The caller owns both: it must reap the
 * child (waitpid(2), or waitid(2) on the pidfd once it polls readable) and
 * close the pidfd.  cmd stays the caller's, unchanged, and may be spawned
 * again; descriptors it lends are never closed.
 *
 * On failure *pid is -1 and *pidfd -1, nothing is left running or open,
 * and the call returns CUPRUM_ENULL (cmd or pid NULL), CUPRUM_EFLAGS,
 * -EINVAL (pgid negative, or a CUPRUM_STDIO_PIPE stream), -ENOMEM,
 * -EMFILE, or, synchronously, the -errno of what failed in the child:
 * -ENOENT (no such program, directory or stdin file), -EACCES (not
 * executable, or no permission), -ENOTDIR, -EPERM (pgid not joinable),
 * -EBADF (a lent descriptor closed), ...
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_cmd_spawn(const cuprum_cmd *cmd,
                                                   unsigned flags, pid_t pgid,
                                                   pid_t *pid, int *pidfd);

/* Why cuprum stopped a stage, if it did. */
typedef enum cuprum_stop {
  /* It ended on its own: also when it had already exited, not yet reaped,
   * at the moment cuprum decided to stop the stages still running (it is
   * then neither signalled nor marked). */
  CUPRUM_STOP_NONE = 0,
  /* The pipeline's timeout expired. */
  CUPRUM_STOP_TIMEOUT = 1,
  /* Another stage failed and fail-fast was on. */
  CUPRUM_STOP_FAIL_FAST = 2,
  /* cuprum_pipeline_cancel was called, or a library error (see
   * cuprum_pipeline_step) ended the run. */
  CUPRUM_STOP_CANCEL = 3,
  /* Its reader went away: it died of SIGPIPE while its stdout was the pipe
   * to the next stage, as when that stage closed its end.  Not a failure:
   * `yes | head -n 2` succeeds.  A SIGPIPE from a pipe or socket of the
   * stage's own counts the same: the library cannot tell them apart (nor
   * can a shell's pipefail). */
  CUPRUM_STOP_EARLY_CLOSE = 4
} cuprum_stop;

/* Flags of cuprum_pipeline_set_flags. */
/* When a stage fails (exits non-zero, or dies of a signal other than an
 * early-close SIGPIPE), stop every other stage still running. */
#define CUPRUM_PIPELINE_FAIL_FAST 0x1u
/* Put every stage in one new process group (led by the first stage) and
 * send every stop to the whole group, so it reaches grandchildren.  The
 * group is not the terminal's foreground group: a stage that reads the
 * terminal is stopped by SIGTTIN (a stop continues it with SIGCONT after
 * SIGTERM; without a timeout the run waits), and the terminal's Ctrl-C no
 * longer reaches the stages.  Where the first stage has already ended and
 * been reaped (the caller ignores SIGCHLD) with no member left, the next
 * stage leads a new group that the later ones join. */
#define CUPRUM_PIPELINE_NEW_PGROUP 0x2u

/* No limit on captured bytes (cuprum_pipeline_capture). */
#define CUPRUM_CAPTURE_UNLIMITED ((size_t)-1)

/*
 * A callback for pipeline output: `stage` is the index of the stage whose
 * `stream` (CUPRUM_STDOUT or CUPRUM_STDERR) produced `data`, which is valid
 * only during the call.  Return 0 to go on, or a negative code or a
 * positive value to cancel the run (cuprum_pipeline_step then returns that
 * code, or CUPRUM_ESTOPPED for a positive value).
 *
 * It runs inside cuprum_pipeline_step, in the middle of the step's work,
 * so the calls that would drive or change its pipeline are refused there
 * with -EBUSY and change nothing: cuprum_pipeline_start, _step, _run, _add
 * and every setter (_set_input, _set_input_fd, _capture, _tee, _on_chunk,
 * _on_line, _set_line_max, _set_timeout, _set_flags).  Their arguments are
 * checked first, as anywhere.  The run goes on unharmed after a refused
 * call.  What keeps working: the readers (cuprum_pipeline_size, _pid,
 * _status, _done, _failed_stage, _stopped, _pollfds, _timeout, _line_partial,
 * and
 * _output, which says CUPRUM_ESTATE until the pipeline is done), and
 * cuprum_pipeline_cancel, made for this: the stop sequence starts and the
 * stepping goes on.  To end the run at once, return a stop code: every
 * stage is killed and reaped before the step returns it.  The callback may
 * also free its pipeline: see cuprum_pipeline_free.
 */
typedef int (*cuprum_output_fn)(void *ctx, size_t stage, int stream,
                                const char *data, size_t len);

/*
 * Makes an empty pipeline: no stages, no input, nothing captured, no
 * timeout, no flags, a grace of 1000 ms.  Stores it in *out.  Returns 0,
 * CUPRUM_ENULL or -ENOMEM.  Release with cuprum_pipeline_free.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_new(cuprum_pipeline **out);

/*
 * Releases the pipeline, its commands and captured data.  If it is still
 * running, every stage is first killed (SIGKILL, to the group with
 * CUPRUM_PIPELINE_NEW_PGROUP) and reaped, so no stage is left behind; a
 * process a stage started lives on unless it is in the new group.  NULL
 * does nothing.
 *
 * From inside one of the pipeline's own callbacks the release waits for
 * the callback to return, since the step that called it still works on
 * the pipeline: the run then ends as if the callback had returned a stop
 * code (its own negative code if it returned one, else CUPRUM_ESTOPPED),
 * nothing more is delivered, every stage is killed and reaped, the
 * pipeline is released, and cuprum_pipeline_step (or cuprum_pipeline_run)
 * returns that code.  As after any free, pl is then invalid: the loop
 * that steps it, and the code after cuprum_pipeline_run, must not touch
 * it again (nor free it twice).
 */
CUPRUM_API void cuprum_pipeline_free(cuprum_pipeline *pl);

/*
 * Appends `cmd` as the next stage.  On success the pipeline owns cmd (and
 * frees it); on failure the caller still does.  The command's setters
 * refuse it from then on (CUPRUM_ESTATE).  Returns 0, CUPRUM_ENULL, -EBUSY
 * (from inside one of the pipeline's callbacks, see cuprum_output_fn),
 * CUPRUM_ESTATE (already started, or cmd already added to a pipeline) or
 * -ENOMEM.
 *
 * The setters below return -EBUSY in the same case, checked after their
 * arguments and before CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_add(cuprum_pipeline *pl,
                                                      cuprum_cmd *cmd);

/* The number of stages added. */
CUPRUM_API size_t cuprum_pipeline_size(const cuprum_pipeline *pl);

/*
 * Feeds the first stage's stdin from data[0..len), written through a pipe;
 * stdin is closed after the last byte.  The buffer is lent: it must stay
 * valid and unchanged until the pipeline is done.  If the first stage
 * closes its stdin early, the rest is dropped (not an error).  Returns 0,
 * CUPRUM_ENULL (pl NULL, or data NULL with len > 0), -EBUSY or
 * CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_pipeline_set_input(cuprum_pipeline *pl, const void *data, size_t len);

/*
 * Gives the first stage `fd` as its stdin, directly (no copy through the
 * library).  fd is lent: it must stay open until cuprum_pipeline_start
 * returns; the library never closes it.  Returns 0, CUPRUM_ENULL, -EBADF
 * (fd negative), -EBUSY or CUPRUM_ESTATE; a descriptor that is not open
 * makes cuprum_pipeline_start fail with -EBADF (failed stage 0).  Setting an
 * input and an explicit stdin on the first command makes
 * cuprum_pipeline_start fail with -EINVAL.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_pipeline_set_input_fd(cuprum_pipeline *pl, int fd);

/*
 * Captures `stream` (CUPRUM_STDOUT: the last stage's stdout; CUPRUM_STDERR:
 * each stage's stderr, separately) into buffers the pipeline owns, keeping
 * at most `limit` bytes per stage (the first ones; the rest is read and
 * dropped, and cuprum_capture.total shows how much there was).  Use
 * CUPRUM_CAPTURE_UNLIMITED for no limit, 0 to stop capturing.  Returns 0,
 * CUPRUM_ENULL, -EINVAL (bad stream), -EBUSY or CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_pipeline_capture(cuprum_pipeline *pl, int stream, size_t limit);

/*
 * Copies every byte of `stream` (as for cuprum_pipeline_capture; for
 * stderr, every stage's) to fd as it arrives, with blocking writes: a
 * reader that stops reading stalls the step, and with it the timeout,
 * until it reads again (an event loop wants a tee that keeps up, or an
 * output callback).  fd is lent and must stay open until the pipeline is
 * done; -1 turns the tee off.  A failed tee write (EPIPE included) stops
 * that tee, never the run; its code is kept in cuprum_capture.tee_error.
 * Returns 0, CUPRUM_ENULL, -EINVAL (bad stream, or fd below -1; the
 * setting is then unchanged), -EBUSY or CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_tee(cuprum_pipeline *pl,
                                                      int stream, int fd);

/*
 * Calls fn with every chunk of `stream` as it is read (on_chunk) or with
 * every line of it, split as cuprum_lines_new does, per stage (on_line;
 * the line is passed without its ending).  NULL turns the callback off.
 * The callbacks run inside cuprum_pipeline_step, in the caller's thread;
 * what they may call is told at cuprum_output_fn.  Returns 0,
 * CUPRUM_ENULL, -EINVAL, -EBUSY or CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_on_chunk(cuprum_pipeline *pl,
                                                           int stream,
                                                           cuprum_output_fn fn,
                                                           void *ctx);
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_on_line(cuprum_pipeline *pl,
                                                          int stream,
                                                          cuprum_output_fn fn,
                                                          void *ctx);

/*
 * Bounds the lines the on_line callback of `stream` gets, for every stage,
 * as cuprum_lines_set_max does: at most `max` bytes per call and per
 * unfinished line held, a longer line delivered in pieces, every byte of
 * it, in order (CUPRUM_LINE_UNLIMITED, the default: whole lines).  Inside
 * the callback, cuprum_pipeline_line_partial says whether more of the line
 * follows.  Returns 0, CUPRUM_ENULL, -EINVAL (bad stream, or max 0),
 * -EBUSY or CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_pipeline_set_line_max(cuprum_pipeline *pl, int stream, size_t max);

/*
 * Inside an on_line callback of `pl`: 1 when the line it was handed is a
 * piece cut at the cuprum_pipeline_set_line_max limit that more of the
 * line follows, else 0 (also outside a callback, and for NULL).
 */
CUPRUM_API int cuprum_pipeline_line_partial(const cuprum_pipeline *pl);

/*
 * Stops the run `timeout_ms` milliseconds after it starts (negative: never,
 * the default): every stage still running gets SIGTERM (then SIGCONT), and
 * SIGKILL `grace_ms` later if it has not ended by then; with `grace_ms` 0,
 * SIGKILL alone, at once.  Returns 0,
 * CUPRUM_ENULL, -EINVAL (grace_ms negative), -EBUSY or CUPRUM_ESTATE.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_pipeline_set_timeout(cuprum_pipeline *pl, int64_t timeout_ms,
                            int64_t grace_ms);

/* Sets CUPRUM_PIPELINE_* flags (replacing the previous ones).  Returns 0,
 * CUPRUM_ENULL, CUPRUM_EFLAGS, -EBUSY or CUPRUM_ESTATE. */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_set_flags(cuprum_pipeline *pl,
                                                            unsigned flags);

/*
 * Starts every stage and returns without waiting.  Returns 0, CUPRUM_ENULL,
 * -EBUSY (from inside one of the pipeline's callbacks, see
 * cuprum_output_fn), CUPRUM_ESTATE (no stages, or already started),
 * -EINVAL (conflicting
 * stdin), -ENOMEM, -EMFILE/-ENFILE, or the -errno of a stage that could
 * not be started (-ENOENT, -EACCES, -ENOTDIR, ...; see
 * cuprum_pipeline_failed_stage).  On failure nothing is left running or
 * open: stages already started were killed and reaped.  A pipeline starts
 * once.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_start(cuprum_pipeline *pl);

/*
 * Fills fds[0..n) with the descriptors to wait on (fd and events set,
 * revents 0) and returns how many there are, which may exceed n: call again
 * with a larger array then.  0 when done.  The set changes after each step.
 * Returns CUPRUM_ENULL when pl is NULL or fds is NULL with n > 0.
 */
CUPRUM_API int cuprum_pipeline_pollfds(const cuprum_pipeline *pl,
                                       struct pollfd *fds, size_t n);

/*
 * Milliseconds until the pipeline must be stepped even if no descriptor is
 * ready (a timeout, a grace period, or the reaping tick where pidfds are
 * unavailable), rounded up; -1 when there is no such deadline; 0 when
 * overdue or done.  Pass it to poll(2) as is.
 */
CUPRUM_API int cuprum_pipeline_timeout(const cuprum_pipeline *pl);

/*
 * Does the work that is ready without blocking (but for the tees' writes,
 * see cuprum_pipeline_tee): reads ready outputs (capture, tee, callbacks),
 * writes input, reaps ended stages, applies fail-fast, the timeout and the
 * grace.  Call it after the poll, whatever it reported.  Returns 1 when the
 * pipeline is done (every stage reaped, every output read to its end), 0 when
 * it should be called again, or a negative code (-ENOMEM, a read error, a
 * callback's code); after an error the run is cancelled: every stage is killed
 * and reaped before the call returns, and the pipeline is done.  CUPRUM_ESTATE
 * when not started; -EBUSY, changing nothing, from inside one of the pipeline's
 * own callbacks (the step that runs the callback is not over: see
 * cuprum_output_fn).  When a callback freed the pipeline, the step
 * returns the stop code and the pipeline is gone (cuprum_pipeline_free).
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_step(cuprum_pipeline *pl);

/*
 * Asks the stages still running to stop: SIGTERM (then SIGCONT) now,
 * SIGKILL after the grace; keep stepping until done.  Returns 0, CUPRUM_ENULL
 * or CUPRUM_ESTATE (not started).  Cancelling a finished (or cancelled)
 * pipeline does nothing.  Also from inside the pipeline's own callbacks,
 * where it is the way to stop the run and still get the bytes already
 * on their way.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_cancel(cuprum_pipeline *pl);

/* 1 when started and done, else 0. */
CUPRUM_API int cuprum_pipeline_done(const cuprum_pipeline *pl);

/*
 * Starts the pipeline and steps it, waiting with poll(2), until it is done.
 * Returns 0 when every stage ran and was reaped, whatever their exit
 * statuses (read them with cuprum_pipeline_status), or a negative code as
 * cuprum_pipeline_start and cuprum_pipeline_step return them: -EBUSY from
 * inside one of the pipeline's own callbacks, and a callback's stop code
 * after the callback freed the pipeline (which is then gone).
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_run(cuprum_pipeline *pl);

/*
 * The result of stage `stage` once reaped: *exit_code gets its exit status
 * (0..255) or -1 when a signal ended it; *signal_number that signal or 0;
 * *stopped_by the cuprum_stop reason.  Any output pointer may be NULL.
 * Returns 0, CUPRUM_ENULL, -EINVAL (stage out of range), CUPRUM_ESTATE
 * (not reaped yet) or -ECHILD: the stage ended but someone else collected
 * its status (the process ignores SIGCHLD, or a waitpid(-1) elsewhere took
 * it); *exit_code is then -1 and *signal_number 0, and fail-fast did not
 * count it as failed.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int
cuprum_pipeline_status(const cuprum_pipeline *pl, size_t stage, int *exit_code,
                       int *signal_number, cuprum_stop *stopped_by);

/* The process id of a started stage, or -1 (bad stage, not started). */
CUPRUM_API long cuprum_pipeline_pid(const cuprum_pipeline *pl, size_t stage);

/* After cuprum_pipeline_start failed with a stage's -errno, the index of
 * that stage; else -1. */
CUPRUM_API long cuprum_pipeline_failed_stage(const cuprum_pipeline *pl);

/*
 * Why cuprum began to stop the run: CUPRUM_STOP_TIMEOUT, _FAIL_FAST or
 * _CANCEL (also after a failed start, a callback's stop code or a library
 * error), or CUPRUM_STOP_NONE when it ran to its end (and for NULL): a
 * deadline passed, or a failure under fail-fast, when every stage had
 * ended and every output was at its end stops nothing.  Unlike a
 * stage's reason (cuprum_pipeline_status), it is set even when the stop
 * ended no stage: every stage had exited, but a process one of them left
 * behind still held an output open, so the stop cut that output (killing
 * the process with CUPRUM_PIPELINE_NEW_PGROUP, else closing the pipe).  A
 * run is complete only when this is CUPRUM_STOP_NONE.
 */
CUPRUM_API cuprum_stop cuprum_pipeline_stopped(const cuprum_pipeline *pl);

/*
 * What was captured of `stream` of `stage` (CUPRUM_STDOUT: the last stage
 * only): out->data and out->len the bytes kept (NUL-terminated, or NULL
 * when nothing), out->total every byte read (more than len when the limit
 * cut it), out->tee_error the tee's first error.  A stream that was not
 * captured, tee'd or passed to a callback (or that its command sent
 * elsewhere) gives an empty result.  With take == 0 the data stays owned
 * by the pipeline and is valid until it is freed; with take == 1 the
 * caller owns it and releases it with cuprum_capture_release, and the
 * pipeline keeps nothing.  Returns 0, CUPRUM_ENULL, -EINVAL (bad stage or
 * stream, or CUPRUM_STDOUT of a stage other than the last: it fed the next
 * stage, so nothing of it can be captured, unless its command sends it to
 * CUPRUM_STDIO_PIPE; this is checked before CUPRUM_ESTATE) or
 * CUPRUM_ESTATE (not done).  `out` is emptied on every failure.
 */
CUPRUM_API CUPRUM_WARN_UNUSED int cuprum_pipeline_output(cuprum_pipeline *pl,
                                                         size_t stage,
                                                         int stream, int take,
                                                         cuprum_capture *out);

#ifdef __cplusplus
}
#endif

#endif /* CUPRUM_H */
