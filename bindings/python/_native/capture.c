/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native capture: the Capture accumulator over libcuprum's capture
 * buffer (cuprum_capbuf), with its optional byte cap.  The binding owns
 * only the storage, through the buffer's storage hook: large captures live
 * in the str they will become, so finishing an ASCII capture is a trim.
 */
#include "native.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum capture_mode { MODE_TRUNCATE, MODE_TAIL, MODE_KILL };

typedef struct {
  PyObject_HEAD cuprum_capbuf *cb;
  /* The str whose data is the buffer's block once the capture is large (a
   * compact ASCII str, one character per byte); NULL while the block is
   * small and malloc'd. */
  PyObject *text;
  native_codec codec;
  /* The cap (SIZE_MAX: none) and what to do past it. */
  size_t max_bytes;
  enum capture_mode mode;
  /* Called once when a truncate or kill capture first passes its cap. */
  PyObject *on_exceeded;
  /* Bytes counted before the last finish() (which empties the buffer):
   * nbytes and truncated still tell about the finished stream. */
  uint64_t finished;
  /* The method using the block while other Python code may run, else
   * NULL: read_from() while it reads with the GIL released, finish() while
   * it decodes (a codec or error handler may be Python code, and may let
   * other threads run).  Set and tested only with the GIL held.
   * Meanwhile feed(), finish() and read_from(), which would move, free or
   * fill the block under that method, raise RuntimeError; nbytes and
   * truncated tell the count as it was when it began (busy_total), as the
   * reading thread updates the buffer's own. */
  const char *busy;
  uint64_t busy_total;
} CaptureObject;

/* Every byte fed, kept or not, finished or not. */
static uint64_t capture_total(const CaptureObject *self)
{
  if (self->busy != NULL)
    return self->busy_total;
  return self->finished + cuprum_capbuf_total(self->cb);
}

/* Raises RuntimeError and returns -1 when another call is using the
 * block (see busy), so `method` must leave it alone; else returns 0. */
static int capture_refuse_busy(const CaptureObject *self, const char *method)
{
  if (self->busy == NULL)
    return 0;
  /* Nothing but another thread can run during a read; a finish()'s codec
   * may call back in the same thread too. */
  PyErr_Format(PyExc_RuntimeError, "Capture.%s() called while Capture.%s() %s",
               method, self->busy,
               strcmp(self->busy, "read_from") == 0 ? "runs in another thread"
                                                    : "decodes the capture");
  return -1;
}

static void capture_set_busy(CaptureObject *self, const char *method)
{
  self->busy_total = capture_total(self);
  self->busy = method;
}

/* Blocks up to this size are malloc'd.  Larger ones are a str that grows
 * by realloc (mremap for maps this large, so growing never copies),
 * advised for transparent huge pages, which cuts the page faults of
 * filling fresh memory by up to 512 times. */
#define CAPTURE_TEXT_THRESHOLD ((size_t)4 << 20)
/* The first block: a 64 KiB read's worth. */
#define CAPTURE_FIRST_BLOCK ((size_t)65536)

/* The length of a large capture's str, at least `need`: a power of two
 * times TEXT_FIRST_MAP, less TEXT_SLACK for the str header, its NUL and
 * the chunk header glibc puts in front.  Two reasons for the size:
 * - glibc serves a request from a map of its own only above its mmap
 *   threshold, which rises (up to 4 MiB * sizeof(long)) each time a mapped
 *   block is freed: once an earlier capture's str was freed, a str of 8 or
 *   16 MiB came from the heap, where growing copies it and its pages are
 *   neither huge nor kept (a long-running program measured 4.2 times the
 *   page faults).  TEXT_FIRST_MAP, twice that, is above every threshold
 *   glibc sets by itself: 64 MiB on 64-bit systems, 32 MiB on 32-bit ones.
 * - The map is a whole number of 2 MiB pages, so the kernel places it, and
 *   every mremap that grows it, on a 2 MiB boundary: its huge pages move
 *   whole instead of being split into 4 KiB mappings that must be faulted
 *   in again.
 * Only the pages written are touched (unless Python's debug allocator
 * hooks, as with -X dev, fill every new block); finish() gives the rest
 * back. */
#define TEXT_SLACK ((size_t)128)
#define TEXT_FIRST_MAP (((size_t)8 << 20) * sizeof(long))
static size_t text_capacity(size_t need)
{
  size_t map = TEXT_FIRST_MAP;

  while (map - TEXT_SLACK < need && map <= PY_SSIZE_T_MAX / 2)
    map *= 2;
  return map - TEXT_SLACK < need ? need : map - TEXT_SLACK;
}

/* The buffer's storage hook (cuprum_storage_fn), always called with the
 * GIL held: the read path reserves before releasing it.  A str of length
 * n offers n + 1 bytes, its NUL included. */
static void *capture_storage(void *ctx, void *data, size_t len, size_t *size)
{
  CaptureObject *self = ctx;
  size_t want = *size;
  size_t chars;

  if (want == 0) {
    if (self->text != NULL)
      Py_CLEAR(self->text);
    else
      free(data);
    return NULL;
  }
  if (want <= CAPTURE_TEXT_THRESHOLD) {
    char *nb;
    if (want < CAPTURE_FIRST_BLOCK)
      want = CAPTURE_FIRST_BLOCK;
    nb = realloc(data, want);
    if (nb == NULL)
      return NULL;
    *size = want;
    return nb;
  }
  if (want - 1 > (size_t)PY_SSIZE_T_MAX)
    return NULL;
  chars = text_capacity(want - 1);
  if (self->text == NULL) {
    PyObject *text = PyUnicode_New((Py_ssize_t)chars, 127);
    if (text == NULL) {
      PyErr_Clear();
      return NULL;
    }
    native_advise_huge(text);
    if (len > 0)
      memcpy(PyUnicode_DATA(text), data, len);
    free(data);
    self->text = text;
  } else {
    /* Only this object holds the str and it was never hashed, so CPython
     * resizes it in place (realloc); on failure it is left as it was. */
    if (PyUnicode_Resize(&self->text, (Py_ssize_t)chars) < 0) {
      PyErr_Clear();
      return NULL;
    }
    native_advise_huge(self->text);
  }
  *size = chars + 1;
  return PyUnicode_DATA(self->text);
}

/* on_exceeded reaches the run that holds this capture: the collector must
 * see it.  The codec's strs cannot refer back. */
static int Capture_traverse(PyObject *op, visitproc visit, void *arg)
{
  CaptureObject *self = (CaptureObject *)op;

  Py_VISIT(Py_TYPE(op));
  Py_VISIT(self->on_exceeded);
  return 0;
}

static int Capture_clear(PyObject *op)
{
  Py_CLEAR(((CaptureObject *)op)->on_exceeded);
  return 0;
}

static void Capture_dealloc(PyObject *op)
{
  CaptureObject *self = (CaptureObject *)op;
  PyTypeObject *tp = Py_TYPE(op);

  PyObject_GC_UnTrack(op);
  cuprum_capbuf_free(self->cb);
  self->cb = NULL;
  Py_CLEAR(self->text);
  (void)Capture_clear(op);
  native_codec_clear(&self->codec);
  tp->tp_free(op);
  Py_DECREF(tp);
}

/* Calls on_exceeded when the bytes just taken carried a truncate or kill
 * capture past its cap (`before` is the count before them).  0, or -1
 * with the callback's exception set. */
static int capture_check_cap(CaptureObject *self, uint64_t before)
{
  uint64_t after = capture_total(self);
  PyObject *res;

  if (self->mode == MODE_TAIL || self->on_exceeded == NULL ||
      self->max_bytes == SIZE_MAX || before > self->max_bytes ||
      after <= self->max_bytes)
    return 0;
  res = PyObject_CallNoArgs(self->on_exceeded);
  if (res == NULL)
    return -1;
  Py_DECREF(res);
  return 0;
}

static PyObject *Capture_feed(CaptureObject *self, PyObject *arg)
{
  uint64_t before = capture_total(self);
  Py_buffer view;
  int rc;

  if (capture_refuse_busy(self, "feed") < 0)
    return NULL;
  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
    return NULL;
  /* Getting the buffer may run Python code (a class's __buffer__). */
  if (capture_refuse_busy(self, "feed") < 0) {
    PyBuffer_Release(&view);
    return NULL;
  }
  rc = cuprum_capbuf_feed(self->cb, view.buf, (size_t)view.len);
  PyBuffer_Release(&view);
  if (rc < 0)
    return native_raise_code(rc);
  if (capture_check_cap(self, before) < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* read_from(fd, size) -> int: one read(2) of up to `size` bytes straight
 * into the capture, with the GIL released; 0 at end of file.  Raises
 * BlockingIOError on EAGAIN and OSError on failure, as os.read does.
 *
 * While the GIL is released the read fills the block the buffer owns, so
 * the object is marked busy: the other methods refuse to touch the buffer
 * until the read is back.  `self` stays alive meanwhile: the caller holds
 * it for the call, and tp_clear leaves the buffer alone. */
static PyObject *Capture_read_from(CaptureObject *self, PyObject *args)
{
  uint64_t before;
  int fd;
  Py_ssize_t size;
  void *space;
  long n;
  int rc;

  if (!PyArg_ParseTuple(args, "in:read_from", &fd, &size))
    return NULL;
  /* After the parsing, which may run Python code (__index__). */
  if (capture_refuse_busy(self, "read_from") < 0)
    return NULL;
  before = capture_total(self);
  if (size <= 0) {
    PyErr_SetString(PyExc_ValueError, "read_from size must be positive");
    return NULL;
  }
  /* The storage hook needs the GIL: make the room while holding it, so the
   * read itself never calls the hook. */
  rc = cuprum_capbuf_reserve(self->cb, (size_t)size, &space);
  if (rc < 0)
    return native_raise_code(rc);
  capture_set_busy(self, "read_from");
  {
    PyThreadState *ts = PyEval_SaveThread();
    n = cuprum_capbuf_read(self->cb, fd, (size_t)size);
    PyEval_RestoreThread(ts);
  }
  self->busy = NULL;
  if (n < 0)
    return native_raise_code((int)n);
  if (capture_check_cap(self, before) < 0)
    return NULL;
  return PyLong_FromLong(n);
}

/* The decoded text of `len` kept bytes at `data` that end where a cap cut
 * the stream: an incomplete final character is held back and dropped, as
 * an incremental decoder not told the input is final would. */
static PyObject *decode_head(const native_codec *c, const char *data,
                             size_t len)
{
  const char *errors = PyUnicode_AsUTF8(c->errors);
  const char *name;
  PyObject *dec;
  PyObject *bytes;
  PyObject *text;

  if (errors == NULL)
    return NULL;
  if (c->kind == CODEC_UTF8) {
    Py_ssize_t consumed = 0;
    return PyUnicode_DecodeUTF8Stateful(data, (Py_ssize_t)len, errors,
                                        &consumed);
  }
  if (c->kind != CODEC_OTHER)
    return native_codec_decode(c, data, len);
  name = PyUnicode_AsUTF8(c->name);
  if (name == NULL)
    return NULL;
  /* Byte order 0: from a leading mark, else the machine's, as bytes.decode
   * reads it (Python's incremental decoder raises without a mark). */
  if (strcmp(name, "utf-16") == 0) {
    int order = 0;
    Py_ssize_t consumed = 0;
    return PyUnicode_DecodeUTF16Stateful(data, (Py_ssize_t)len, errors, &order,
                                         &consumed);
  }
  if (strcmp(name, "utf-32") == 0) {
    int order = 0;
    Py_ssize_t consumed = 0;
    return PyUnicode_DecodeUTF32Stateful(data, (Py_ssize_t)len, errors, &order,
                                         &consumed);
  }
  dec = PyCodec_IncrementalDecoder(name, errors);
  if (dec == NULL)
    return NULL;
  bytes = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
  if (bytes == NULL) {
    Py_DECREF(dec);
    return NULL;
  }
  text = PyObject_CallMethod(dec, "decode", "OO", bytes, Py_False);
  Py_DECREF(bytes);
  Py_DECREF(dec);
  return text;
}

static PyObject *Capture_finish(CaptureObject *self,
                                PyObject *Py_UNUSED(ignored))
{
  int truncated;
  int ascii;
  cuprum_capture out;
  PyObject *text;
  size_t skip = 0;
  int rc;

  if (capture_refuse_busy(self, "finish") < 0)
    return NULL;
  truncated = capture_total(self) > (uint64_t)self->max_bytes;
  ascii = self->codec.kind != CODEC_OTHER && cuprum_capbuf_ascii(self->cb);
  if (ascii && self->text != NULL) {
    /* ASCII decodes to itself under every codec with a kind, and no
     * character can be cut: the str being filled is the result once
     * trimmed to length.  Detaching leaves its data at the block's start
     * (a tail capture is compacted first). */
    rc = cuprum_capbuf_detach(self->cb, &out);
    if (rc < 0)
      return native_raise_code(rc);
    self->finished += out.total;
    text = self->text;
    self->text = NULL;
    if (PyUnicode_Resize(&text, (Py_ssize_t)out.len) < 0) {
      Py_DECREF(text);
      return NULL;
    }
    return text;
  }
  /* `data` points into the block: no call may change the buffer while the
   * codec, which may be Python code, decodes it. */
  capture_set_busy(self, "finish");
  {
    size_t len;
    const char *data = cuprum_capbuf_data(self->cb, &len);
    if (data == NULL)
      data = "";
    if (ascii) {
      text = PyUnicode_New((Py_ssize_t)len, 127);
      if (text != NULL)
        memcpy(PyUnicode_DATA(text), data, len);
    } else if (truncated && self->mode != MODE_TAIL) {
      text = decode_head(&self->codec, data, len);
    } else {
      /* A tail cut in UTF-8 drops the continuation bytes of the character
       * the cut went through.  Under utf-8-sig the stream's start, and
       * with it any BOM, is gone: the tail is plain UTF-8 (a U+FEFF in it
       * is text), as in the pure engine. */
      int sig =
          truncated && self->codec.kind == CODEC_OTHER &&
          PyUnicode_CompareWithASCIIString(self->codec.name, "utf-8-sig") == 0;
      if (truncated && (self->codec.kind == CODEC_UTF8 || sig))
        while (skip < len && skip < 3 &&
               ((unsigned char)data[skip] & 0xC0) == 0x80)
          skip++;
      if (sig) {
        const char *errors = PyUnicode_AsUTF8(self->codec.errors);
        text = errors == NULL
                   ? NULL
                   : PyUnicode_DecodeUTF8(data + skip, (Py_ssize_t)(len - skip),
                                          errors);
      } else {
        text = native_codec_decode(&self->codec, data + skip, len - skip);
      }
    }
  }
  self->busy = NULL;
  rc = cuprum_capbuf_detach(self->cb, &out);
  self->finished += out.total;
  if (self->text != NULL)
    Py_CLEAR(self->text);
  else
    free(out.data);
  if (rc < 0) {
    Py_XDECREF(text);
    return native_raise_code(rc);
  }
  return text;
}

static PyObject *Capture_nbytes(CaptureObject *self, void *closure)
{
  (void)closure;
  /* As the references count: the pure Capture starts again at 0 after
   * finish(), BoundedCapture (a capped one) goes on counting. */
  return PyLong_FromUnsignedLongLong(
      (unsigned long long)(self->max_bytes == SIZE_MAX
                               ? capture_total(self) - self->finished
                               : capture_total(self)));
}

static PyObject *Capture_truncated(CaptureObject *self, void *closure)
{
  (void)closure;
  return PyBool_FromLong(capture_total(self) > (uint64_t)self->max_bytes);
}

static PyObject *Capture_get_on_exceeded(CaptureObject *self, void *closure)
{
  (void)closure;
  return Py_NewRef(self->on_exceeded != NULL ? self->on_exceeded : Py_None);
}

static int Capture_set_on_exceeded(CaptureObject *self, PyObject *value,
                                   void *closure)
{
  (void)closure;
  if (value != NULL && value != Py_None && !PyCallable_Check(value)) {
    PyErr_SetString(PyExc_TypeError, "on_exceeded must be callable or None");
    return -1;
  }
  Py_XSETREF(self->on_exceeded,
             value == NULL || value == Py_None ? NULL : Py_NewRef(value));
  return 0;
}

static PyMethodDef Capture_methods[] = {
    {"feed", (PyCFunction)Capture_feed, METH_O, "Append a chunk."},
    {"read_from", (PyCFunction)Capture_read_from, METH_VARARGS,
     "read_from(fd, size) -> int: read once from fd straight into the "
     "capture; 0 at end of file."},
    {"finish", (PyCFunction)Capture_finish, METH_NOARGS,
     "Return the decoded text of everything kept and release it."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Capture_getset[] = {
    {"nbytes", (getter)Capture_nbytes, NULL, "Bytes fed so far, kept or not.",
     NULL},
    {"truncated", (getter)Capture_truncated, NULL,
     "True once more than max_bytes bytes were fed.", NULL},
    {"on_exceeded", (getter)Capture_get_on_exceeded,
     (setter)Capture_set_on_exceeded,
     "Called once when a truncate or kill capture first passes its cap.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Capture_slots[] = {
    {Py_tp_dealloc, Capture_dealloc},
    {Py_tp_traverse, Capture_traverse},
    {Py_tp_clear, Capture_clear},
    {Py_tp_methods, Capture_methods},
    {Py_tp_getset, Capture_getset},
    {Py_tp_doc, "Capture accumulator over libcuprum's capture buffer."},
    {0, NULL},
};

/* Made only by the module's Capture(). */
static PyType_Spec Capture_spec = {
    .name = "cuprum._native.Capture",
    .basicsize = sizeof(CaptureObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Capture_slots,
};

int native_capture_add_type(PyObject *module, native_state *st)
{
  st->capture_type =
      (PyTypeObject *)PyType_FromModuleAndSpec(module, &Capture_spec, NULL);
  return st->capture_type == NULL ? -1 : 0;
}

/* Parses Capture's optional cap: max_bytes (None or an int >= 0) and mode
 * ("truncate", "tail" or "kill").  0, or -1 with ValueError/TypeError. */
static int parse_cap(PyObject *max_obj, const char *mode, size_t *max_bytes,
                     enum capture_mode *out)
{
  *max_bytes = SIZE_MAX;
  if (strcmp(mode, "truncate") == 0)
    *out = MODE_TRUNCATE;
  else if (strcmp(mode, "tail") == 0)
    *out = MODE_TAIL;
  else if (strcmp(mode, "kill") == 0)
    *out = MODE_KILL;
  else {
    PyErr_Format(PyExc_ValueError,
                 "Capture mode must be 'truncate', 'tail' or 'kill', not '%s'",
                 mode);
    return -1;
  }
  if (max_obj == NULL || max_obj == Py_None)
    return 0;
  if (!PyLong_Check(max_obj) || PyBool_Check(max_obj)) {
    PyErr_SetString(PyExc_TypeError, "Capture max_bytes must be an int");
    return -1;
  }
  {
    Py_ssize_t n = PyLong_AsSsize_t(max_obj);
    if (n == -1 && PyErr_Occurred())
      return -1;
    if (n < 0) {
      PyErr_SetString(PyExc_ValueError, "Capture max_bytes must be >= 0");
      return -1;
    }
    *max_bytes = (size_t)n;
  }
  return 0;
}

/* Capture(encoding, errors, max_bytes=None, mode="truncate"): LookupError
 * when the codec or policy is unknown. */
PyObject *native_capture(PyObject *module, PyObject *args)
{
  native_state *st = native_state_of(module);
  const char *encoding;
  const char *errors;
  PyObject *max_obj = NULL;
  const char *mode = "truncate";
  CaptureObject *self;
  int rc;

  if (!PyArg_ParseTuple(args, "ss|Os:Capture", &encoding, &errors, &max_obj,
                        &mode))
    return NULL;
  self = (CaptureObject *)st->capture_type->tp_alloc(st->capture_type, 0);
  if (self == NULL)
    return NULL;
  if (parse_cap(max_obj, mode, &self->max_bytes, &self->mode) < 0 ||
      native_codec_init(st, &self->codec, encoding, errors) < 0) {
    Py_DECREF(self);
    return NULL;
  }
  rc = cuprum_capbuf_new(&self->cb);
  if (rc == 0)
    rc = cuprum_capbuf_set_storage(self->cb, capture_storage, self);
  if (rc == 0)
    rc = cuprum_capbuf_set_limit(self->cb, self->max_bytes,
                                 self->mode == MODE_TAIL ? CUPRUM_CAP_TAIL
                                                         : CUPRUM_CAP_HEAD);
  if (rc < 0) {
    Py_DECREF(self);
    return native_raise_code(rc);
  }
  return (PyObject *)self;
}
