/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native - private declarations shared by the extension's files.
 *
 * One file per concern: module.c (module definition, multi-phase init,
 * module state, the libcuprum error mapping), codecs.c, lines.c
 * (LineSplitter and LineEvents), capture.c, tee.c, pump.c and consume.c
 * (the blocking calls), spawn.c (children through cuprum_cmd_spawn).  Nothing
 * here is exported from the shared object: only PyInit__native is.
 */
#ifndef CUPRUM_NATIVE_H
#define CUPRUM_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cuprum.h>

#include <stddef.h>

#pragma GCC visibility push(hidden)

/* ------------------------------------------------------------------------
 * Codecs (codecs.c)
 */

enum native_codec_kind { CODEC_UTF8, CODEC_LATIN1, CODEC_ASCII, CODEC_OTHER };

typedef struct {
  enum native_codec_kind kind;
  /* The codec's canonical name and the error policy, both owned; both
   * str, so they can never be part of a reference cycle. */
  PyObject *name;
  PyObject *errors;
  /* 1 when "\n" and "\r" bytes always stand for those characters, so the
   * byte stream can be split before decoding. */
  int splittable;
} native_codec;

/* ------------------------------------------------------------------------
 * Module state (module.c): everything the module keeps between calls, one
 * per module object, so one per interpreter.
 */

typedef struct {
  /* The heap types, created from their specs by the exec slot. */
  PyTypeObject *line_splitter_type;
  PyTypeObject *event_batch_type;
  PyTypeObject *ready_type;
  PyTypeObject *async_events_type;
  PyTypeObject *capture_type;
  PyTypeObject *fd_tee_type;
  PyTypeObject *process_type;
  /* The pure engine's classes for the few cases handed over to it, and
   * inspect.isawaitable; each looked up on first use (NULL until then):
   * looking them up per object cost more than the object. */
  PyObject *pure_text_tee;
  PyObject *pure_line_splitter;
  PyObject *pure_line_events;
  PyObject *isawaitable;
  /* The last codec and error policy looked up (see codecs.c). */
  struct {
    char encoding[32];
    char errors[32];
    PyObject *name;
    PyObject *errors_obj;
  } last_codec;
  /* The layout of cuprum.events.ExecEvent, read from its _fields when the
   * module is executed: how many fields, and where the timestamp and the
   * line of a line event go. */
  Py_ssize_t event_fields;
  Py_ssize_t event_timestamp;
  Py_ssize_t event_line;
} native_state;

/* The state of the module object `module` (a cuprum._native). */
native_state *native_state_of(PyObject *module);

/* Returns the pure engine's (cuprum._streams_pure) class `attr`, imported
 * on first use into *slot, a field of the module state that keeps the
 * reference; a borrowed reference, or NULL with an exception set. */
PyObject *native_pure_class(const char *attr, PyObject **slot);

/* ------------------------------------------------------------------------
 * Errors (module.c)
 */

/* Stores in *out the C int of a Python int.  Returns 0, or -1 with
 * OverflowError (outside the C range) or the conversion's error set. */
int native_as_int(PyObject *obj, int *out);

/* Sets the Python exception for a libcuprum code and returns NULL: ValueError
 * for bad arguments, MemoryError, OSError (its subclass by errno) for
 * -errno, RuntimeError otherwise.  CUPRUM_ESTOPPED with an exception already
 * set (a callback raised) keeps that exception. */
PyObject *native_raise_code(int rc);

/* ------------------------------------------------------------------------
 * Codecs (codecs.c)
 */

/* Fills `c` for the codec and error policy, through the state's cache of
 * the last pair.  Returns 0, or -1 with LookupError set when either is
 * unknown (then `c` holds nothing). */
int native_codec_init(native_state *st, native_codec *c, const char *encoding,
                      const char *errors);

/* Releases what `c` holds; `c` may be zeroed or already cleared. */
void native_codec_clear(native_codec *c);

/* Returns a new reference to the text of `len` bytes at `data`, or NULL
 * with the decoder's exception set. */
PyObject *native_codec_decode(const native_codec *c, const char *data,
                              size_t len);

/* Advises the memory of a large str for transparent huge pages (a hint:
 * failures are ignored). */
void native_advise_huge(PyObject *text);

/* ------------------------------------------------------------------------
 * The objects and the module's functions.  Each *_add_type creates its
 * heap type from its spec for `module` and stores it in `st`: 0, or -1
 * with an exception set.  The module functions take the module object.
 */

int native_lines_add_type(PyObject *module, native_state *st);
int native_capture_add_type(PyObject *module, native_state *st);
int native_tee_add_type(PyObject *module, native_state *st);
int native_spawn_add_type(PyObject *module, native_state *st);
int native_aevents_add_type(PyObject *module, native_state *st);

/* LineSplitter(encoding, errors, callback) (lines.c) */
PyObject *native_line_splitter(PyObject *module, PyObject *args);
/* LineEvents(encoding, errors, event_type, template, hooks, pending,
 * batches=None) */
PyObject *native_line_events(PyObject *module, PyObject *args);
/* AsyncEvents(refill) (aevents.c) */
PyObject *native_async_events(PyObject *module, PyObject *refill);
/* Capture(encoding, errors) (capture.c) */
PyObject *native_capture(PyObject *module, PyObject *args);
/* TextTee(sink, encoding, errors) (tee.c) */
PyObject *native_text_tee(PyObject *module, PyObject *args);
/* pump(reader_fd, writer_fd, buffer_size=65536) (pump.c) */
PyObject *native_pump(PyObject *module, PyObject *args, PyObject *kw);
/* consume(fd, *, encoding, errors, capture, tee, on_line) (consume.c) */
PyObject *native_consume(PyObject *module, PyObject *args, PyObject *kw);
/* spawn(argv, *, stdin, stdout, stderr, cwd, env, process_group) (spawn.c) */
PyObject *native_spawn(PyObject *module, PyObject *args, PyObject *kw);

#pragma GCC visibility pop

#endif /* CUPRUM_NATIVE_H */
