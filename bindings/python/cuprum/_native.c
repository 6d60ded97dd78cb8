/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native - the stream engine of cuprum/_engine.py over libcuprum.
 *
 * Blocking calls (pump, consume, writes to a tee descriptor) run with the
 * GIL released; Python is re-entered only where Python objects must see the
 * bytes (a tee to a Python stream, line callbacks).  Lines are split in C
 * and each finished line is decoded once and handed to the callback.
 * Errors map to OSError subclasses (by errno), ValueError, TypeError and
 * MemoryError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cuprum.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Errors
 */

/* An int from a Python int, with OverflowError outside the C range. */
static int as_int(PyObject *obj, int *out)
{
  long v = PyLong_AsLong(obj);
  if (v == -1 && PyErr_Occurred())
    return -1;
  if (v < INT_MIN || v > INT_MAX) {
    PyErr_SetString(PyExc_OverflowError, "file descriptor out of range");
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* Sets a Python exception for a libcuprum code; returns NULL.  A
 * CUPRUM_ESTOPPED with an exception already set keeps that exception. */
static PyObject *raise_code(int rc)
{
  if (rc == CUPRUM_ESTOPPED && PyErr_Occurred())
    return NULL;
  if (rc == -ENOMEM)
    return PyErr_NoMemory();
  if (rc == CUPRUM_EBUFSIZE || rc == CUPRUM_EFLAGS || rc == CUPRUM_ENULL) {
    PyErr_SetString(PyExc_ValueError, cuprum_strerror(rc));
    return NULL;
  }
  if (rc < 0 && rc > -4096) {
    errno = -rc;
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  PyErr_Format(PyExc_RuntimeError, "libcuprum: %s (%d)", cuprum_strerror(rc),
               rc);
  return NULL;
}

/* ------------------------------------------------------------------------
 * Codecs: a decoder chosen once, with direct calls for the common codecs.
 */

enum codec_kind { CODEC_UTF8, CODEC_LATIN1, CODEC_ASCII, CODEC_OTHER };

typedef struct {
  enum codec_kind kind;
  /* The codec's canonical name and the error policy, both owned. */
  PyObject *name;
  PyObject *errors;
  /* 1 when "\n" and "\r" bytes always stand for those characters, so the
   * byte stream can be split before decoding. */
  int splittable;
} codec;

static void codec_clear(codec *c)
{
  Py_CLEAR(c->name);
  Py_CLEAR(c->errors);
}

/* Canonical names of codecs in which bytes 0x0A and 0x0D never occur inside
 * a multi-byte sequence and each stands for its ASCII character alone. */
static const char *const splittable_codecs[] = {
    "utf-8",      "ascii",      "latin-1",    "iso8859-2",  "iso8859-3",
    "iso8859-4",  "iso8859-5",  "iso8859-6",  "iso8859-7",  "iso8859-8",
    "iso8859-9",  "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15",
    "iso8859-16", "cp1250",     "cp1251",     "cp1252",     "cp1253",
    "cp1254",     "cp1255",     "cp1256",     "cp1257",     "cp1258",
    "cp437",      "cp850",      "koi8-r",     "koi8-u",     NULL};

/* The last codec and error policy looked up.  Every run makes a capture
 * and a splitter per channel, nearly always for the same pair; without
 * this, looking the codec up again made each native object cost four
 * times the pure engine's.  Guarded by the GIL (the module uses
 * single-phase initialisation, so one interpreter). */
static struct {
  char encoding[32];
  char errors[32];
  PyObject *name;
  PyObject *errors_obj;
} last_codec;

/* Looks the codec up (LookupError when unknown) and checks the error
 * handler (LookupError when unknown), or takes both from last_codec.
 * Returns 0 or -1. */
static int codec_lookup(codec *c, const char *encoding, const char *errors)
{
  PyObject *info;
  PyObject *handler;

  if (last_codec.name != NULL && strcmp(encoding, last_codec.encoding) == 0 &&
      strcmp(errors, last_codec.errors) == 0) {
    c->name = Py_NewRef(last_codec.name);
    c->errors = Py_NewRef(last_codec.errors_obj);
    return 0;
  }
  {
    PyObject *codecs = PyImport_ImportModule("codecs");
    if (codecs == NULL)
      return -1;
    info = PyObject_CallMethod(codecs, "lookup", "s", encoding);
    Py_DECREF(codecs);
  }
  if (info == NULL)
    return -1;
  c->name = PyObject_GetAttrString(info, "name");
  Py_DECREF(info);
  if (c->name == NULL)
    return -1;
  handler = PyCodec_LookupError(errors);
  if (handler == NULL)
    return -1;
  Py_DECREF(handler);
  c->errors = PyUnicode_FromString(errors);
  if (c->errors == NULL)
    return -1;
  if (strlen(encoding) < sizeof(last_codec.encoding) &&
      strlen(errors) < sizeof(last_codec.errors)) {
    strcpy(last_codec.encoding, encoding);
    strcpy(last_codec.errors, errors);
    Py_XSETREF(last_codec.name, Py_NewRef(c->name));
    Py_XSETREF(last_codec.errors_obj, Py_NewRef(c->errors));
  }
  return 0;
}

/* Fills `c` for the codec and error policy: LookupError when either is
 * unknown.  Returns 0 or -1. */
static int codec_init(codec *c, const char *encoding, const char *errors)
{
  const char *name;

  memset(c, 0, sizeof(*c));
  if (codec_lookup(c, encoding, errors) < 0) {
    codec_clear(c);
    return -1;
  }
  name = PyUnicode_AsUTF8(c->name);
  if (name == NULL) {
    codec_clear(c);
    return -1;
  }
  c->kind = strcmp(name, "utf-8") == 0       ? CODEC_UTF8
            : strcmp(name, "latin-1") == 0   ? CODEC_LATIN1
            : strcmp(name, "iso8859-1") == 0 ? CODEC_LATIN1
            : strcmp(name, "ascii") == 0     ? CODEC_ASCII
                                             : CODEC_OTHER;
  for (const char *const *s = splittable_codecs; *s != NULL; s++)
    if (strcmp(name, *s) == 0 || c->kind == CODEC_LATIN1)
      c->splittable = 1;
  /* Splitting bytes first is exact only when the error policy maps each
   * bad byte to something in place: "ignore" could remove the bytes
   * between "\r" and "\n", and a custom handler could insert a newline. */
  if (strcmp(errors, "strict") != 0 && strcmp(errors, "replace") != 0 &&
      strcmp(errors, "surrogateescape") != 0 &&
      strcmp(errors, "backslashreplace") != 0)
    c->splittable = 0;
  return 0;
}

/* 1 when every byte is below 0x80. */
static int all_ascii(const char *data, size_t len)
{
  const unsigned char *p = (const unsigned char *)data;
  uint64_t acc = 0;
  size_t i = 0;

  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    acc |= w;
    if ((i & 0xFFFF) == 0 && (acc & 0x8080808080808080ull) != 0)
      return 0;
  }
  for (; i < len; i++)
    acc |= p[i];
  return (acc & 0x8080808080808080ull) == 0;
}

/* Advises the memory of a large str, from the page holding its header to
 * the page holding its terminating NUL, for transparent huge pages.  A
 * large str is a map of its own (glibc serves big requests with mmap), so
 * the range is that whole map: advising only the 2 MiB-aligned interior
 * would split it into three, and mremap cannot grow a split map, making
 * every realloc a copy.  Pages are rounded outwards only to whole pages
 * that hold part of the object, and the advice is a hint only: failures
 * are ignored. */
static void advise_huge(PyObject *text)
{
#ifdef MADV_HUGEPAGE
  static uintptr_t page;
  uintptr_t start;
  uintptr_t end;

  if (page == 0) {
    long size = sysconf(_SC_PAGESIZE);
    page = size > 0 ? (uintptr_t)size : 4096;
  }
  start = (uintptr_t)text & ~(page - 1);
  end = (uintptr_t)PyUnicode_DATA(text) +
        (uintptr_t)PyUnicode_GET_LENGTH(text) + 1;
  end = (end + page - 1) & ~(page - 1);
  (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
  (void)text;
#endif
}

/* Large ASCII text decodes to a copy of its bytes under every codec with a
 * kind.  Building the str by hand lets us advise its fresh memory for
 * transparent huge pages before touching it: filling 256 MiB of new memory
 * otherwise costs 65536 page faults, the largest part of a big decode.
 * Returns NULL without an exception when the fast path does not apply. */
#define LARGE_TEXT ((size_t)4 << 20)
static PyObject *decode_large_ascii(const codec *c, const char *data,
                                    size_t len)
{
  PyObject *text;

  if (len < LARGE_TEXT || c->kind == CODEC_OTHER || !all_ascii(data, len))
    return NULL;
  text = PyUnicode_New((Py_ssize_t)len, 127);
  if (text == NULL)
    return NULL;
  advise_huge(text);
  memcpy(PyUnicode_DATA(text), data, len);
  return text;
}

static PyObject *codec_decode(const codec *c, const char *data, size_t len)
{
  const char *errors = PyUnicode_AsUTF8(c->errors);
  Py_ssize_t n = (Py_ssize_t)len;

  if (errors == NULL)
    return NULL;
  {
    PyObject *fast = decode_large_ascii(c, data, len);
    if (fast != NULL || PyErr_Occurred())
      return fast;
  }
  switch (c->kind) {
  case CODEC_UTF8:
    return PyUnicode_DecodeUTF8(data, n, errors);
  case CODEC_LATIN1:
    return PyUnicode_DecodeLatin1(data, n, errors);
  case CODEC_ASCII:
    return PyUnicode_DecodeASCII(data, n, errors);
  default:
    return PyUnicode_Decode(data, n, PyUnicode_AsUTF8(c->name), errors);
  }
}

/* The pure engine's class `attr`, for the few cases where splitting or
 * teeing needs a Python-level incremental decoder (codecs that cannot be
 * split as bytes, Python stream sinks), looked up once into *slot:
 * importing and looking it up per object cost more than the object.
 * *slot keeps its reference for the life of the process. */
static PyObject *pure_class(const char *attr, PyObject **slot)
{
  if (*slot == NULL) {
    PyObject *pure = PyImport_ImportModule("cuprum._streams_pure");
    if (pure == NULL)
      return NULL;
    *slot = PyObject_GetAttrString(pure, attr);
    Py_DECREF(pure);
  }
  return *slot;
}

static PyObject *pure_text_tee_cls;
static PyObject *pure_line_splitter_cls;
static PyObject *pure_line_events_cls;

/* ------------------------------------------------------------------------
 * LineSplitter
 */

typedef struct {
  PyObject_HEAD cuprum_lines *lines;
  PyObject *callback;
  codec codec;
  /* Set while finish() delivers the final, unterminated line. */
  int finishing;
  /* Event mode (LineEvents): each line becomes an instance of event_type,
   * a tuple subclass, copied from template with the timestamp and the line
   * filled in, and is passed to every hook; awaitable results are appended
   * to pending.  All NULL in callback mode. */
  PyTypeObject *event_type;
  PyObject *template;
  PyObject *hooks;
  PyObject *pending;
  PyObject *isawaitable;
  /* The wall-clock time of the feed() or finish() being delivered: every
   * line a read completes carries the time that read was handed over. */
  PyObject *stamp;
} LineSplitterObject;

/* Field positions in the event tuple (cuprum.events.ExecEvent). */
#define EVENT_TIMESTAMP 6
#define EVENT_LINE 7

static PyObject *wall_clock(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return PyFloat_FromDouble((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
}

/* Builds one line event and hands it to every hook; 0 or CUPRUM_ESTOPPED
 * with an exception set.  Steals `text`. */
static int deliver_event(LineSplitterObject *self, PyObject *text)
{
  Py_ssize_t n = PyTuple_GET_SIZE(self->template);
  Py_ssize_t nhooks = PyTuple_GET_SIZE(self->hooks);
  PyObject *event = self->event_type->tp_alloc(self->event_type, n);
  PyObject *stamp;
  int rc = 0;

  if (event == NULL) {
    Py_DECREF(text);
    return CUPRUM_ESTOPPED;
  }
  stamp = self->stamp != NULL ? Py_NewRef(self->stamp) : wall_clock();
  if (stamp == NULL) {
    Py_DECREF(text);
    Py_DECREF(event);
    return CUPRUM_ESTOPPED;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = i == EVENT_TIMESTAMP ? stamp
                     : i == EVENT_LINE
                         ? text
                         : Py_NewRef(PyTuple_GET_ITEM(self->template, i));
    PyTuple_SET_ITEM(event, i, item);
  }
  for (Py_ssize_t h = 0; h < nhooks && rc == 0; h++) {
    PyObject *res =
        PyObject_CallOneArg(PyTuple_GET_ITEM(self->hooks, h), event);
    if (res == NULL) {
      rc = CUPRUM_ESTOPPED;
      break;
    }
    if (res != Py_None) {
      PyObject *flag = PyObject_CallOneArg(self->isawaitable, res);
      int yes = flag != NULL ? PyObject_IsTrue(flag) : -1;
      Py_XDECREF(flag);
      if (yes < 0 || (yes > 0 && PyList_Append(self->pending, res) < 0))
        rc = CUPRUM_ESTOPPED;
    }
    Py_DECREF(res);
  }
  Py_DECREF(event);
  return rc;
}

static int deliver_line(void *ctx, const char *line, size_t len)
{
  LineSplitterObject *self = ctx;
  PyObject *text = codec_decode(&self->codec, line, len);
  PyObject *res;

  if (text == NULL)
    return CUPRUM_ESTOPPED;
  /* A final line whose bytes all decode to nothing (errors="ignore") is no
   * line: the text stream simply ended after the last line ending. */
  if (self->finishing && PyUnicode_GET_LENGTH(text) == 0) {
    Py_DECREF(text);
    return 0;
  }
  if (self->event_type != NULL)
    return deliver_event(self, text);
  res = PyObject_CallOneArg(self->callback, text);
  Py_DECREF(text);
  if (res == NULL)
    return CUPRUM_ESTOPPED;
  Py_DECREF(res);
  return 0;
}

static void LineSplitter_dealloc(LineSplitterObject *self)
{
  cuprum_lines_free(self->lines);
  Py_XDECREF(self->callback);
  Py_XDECREF(self->event_type);
  Py_XDECREF(self->template);
  Py_XDECREF(self->hooks);
  Py_XDECREF(self->pending);
  Py_XDECREF(self->isawaitable);
  Py_XDECREF(self->stamp);
  codec_clear(&self->codec);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* In event mode, takes the time for the lines about to be delivered.
 * Returns 0, or -1 with an exception set. */
static int splitter_stamp(LineSplitterObject *self)
{
  PyObject *stamp;

  if (self->event_type == NULL)
    return 0;
  stamp = wall_clock();
  if (stamp == NULL)
    return -1;
  Py_XSETREF(self->stamp, stamp);
  return 0;
}

static PyObject *LineSplitter_feed(LineSplitterObject *self, PyObject *arg)
{
  Py_buffer view;
  int rc;

  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
    return NULL;
  if (splitter_stamp(self) < 0) {
    PyBuffer_Release(&view);
    return NULL;
  }
  rc = cuprum_lines_feed(self->lines, view.buf, (size_t)view.len);
  Py_CLEAR(self->stamp);
  PyBuffer_Release(&view);
  if (rc < 0)
    return raise_code(rc);
  Py_RETURN_NONE;
}

static PyObject *LineSplitter_finish(LineSplitterObject *self,
                                     PyObject *Py_UNUSED(ignored))
{
  int rc;

  if (splitter_stamp(self) < 0)
    return NULL;
  self->finishing = 1;
  rc = cuprum_lines_finish(self->lines);
  self->finishing = 0;
  Py_CLEAR(self->stamp);
  if (rc < 0)
    return raise_code(rc);
  Py_RETURN_NONE;
}

static PyMethodDef LineSplitter_methods[] = {
    {"feed", (PyCFunction)LineSplitter_feed, METH_O,
     "Consume a chunk, delivering every completed line."},
    {"finish", (PyCFunction)LineSplitter_finish, METH_NOARGS,
     "Deliver a final line without an ending, if any, and reset."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LineSplitterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cuprum._native.LineSplitter",
    .tp_basicsize = sizeof(LineSplitterObject),
    .tp_dealloc = (destructor)LineSplitter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Universal-newline line splitter over libcuprum.",
    .tp_methods = LineSplitter_methods,
};

/* A splitter with every field empty and its codec looked up; NULL with an
 * exception on failure.  The caller adds the C splitter and the mode. */
static LineSplitterObject *splitter_alloc(const char *encoding,
                                          const char *errors)
{
  LineSplitterObject *self =
      PyObject_New(LineSplitterObject, &LineSplitterType);

  if (self == NULL)
    return NULL;
  self->lines = NULL;
  self->callback = NULL;
  self->finishing = 0;
  self->event_type = NULL;
  self->template = self->hooks = self->pending = self->isawaitable = NULL;
  self->stamp = NULL;
  memset(&self->codec, 0, sizeof(self->codec));
  if (codec_init(&self->codec, encoding, errors) < 0) {
    Py_DECREF(self);
    return NULL;
  }
  return self;
}

/* LineSplitter(encoding, errors, callback): a C splitter for codecs whose
 * bytes can be split before decoding, the pure one otherwise. */
static PyObject *make_line_splitter(PyObject *module, PyObject *args)
{
  const char *encoding;
  const char *errors;
  PyObject *callback;
  LineSplitterObject *self;
  int rc;

  (void)module;
  if (!PyArg_ParseTuple(args, "ssO:LineSplitter", &encoding, &errors,
                        &callback))
    return NULL;
  if (!PyCallable_Check(callback)) {
    PyErr_SetString(PyExc_TypeError, "LineSplitter callback must be callable");
    return NULL;
  }
  self = splitter_alloc(encoding, errors);
  if (self == NULL)
    return NULL;
  if (!self->codec.splittable) {
    PyObject *cls = pure_class("LineSplitter", &pure_line_splitter_cls);
    Py_DECREF(self);
    return cls == NULL ? NULL : PyObject_Call(cls, args, NULL);
  }
  Py_INCREF(callback);
  self->callback = callback;
  rc = cuprum_lines_new(&self->lines, deliver_line, self);
  if (rc < 0) {
    Py_DECREF(self);
    return raise_code(rc);
  }
  return (PyObject *)self;
}

/* LineEvents(encoding, errors, event_type, template, hooks, pending): a
 * splitter that turns each line straight into an event for the hooks; the
 * pure one when the codec or error policy cannot be split as bytes. */
static PyObject *make_line_events(PyObject *module, PyObject *args)
{
  const char *encoding;
  const char *errors;
  PyObject *type;
  PyObject *template;
  PyObject *hooks;
  PyObject *pending;
  static PyObject *isawaitable;
  LineSplitterObject *self;
  int rc;

  (void)module;
  if (!PyArg_ParseTuple(args, "ssOO!O!O!:LineEvents", &encoding, &errors, &type,
                        &PyTuple_Type, &template, &PyTuple_Type, &hooks,
                        &PyList_Type, &pending))
    return NULL;
  if (!PyType_Check(type) ||
      !PyType_IsSubtype((PyTypeObject *)type, &PyTuple_Type) ||
      PyTuple_GET_SIZE(template) <= EVENT_LINE) {
    PyErr_SetString(PyExc_TypeError,
                    "LineEvents needs a tuple subclass and a template of its "
                    "fields");
    return NULL;
  }
  self = splitter_alloc(encoding, errors);
  if (self == NULL)
    return NULL;
  if (!self->codec.splittable) {
    /* Codecs and policies whose bytes cannot be split before decoding:
     * the pure LineEvents decodes first, with the same contract. */
    PyObject *cls = pure_class("LineEvents", &pure_line_events_cls);
    Py_DECREF(self);
    return cls == NULL ? NULL : PyObject_Call(cls, args, NULL);
  }
  if (isawaitable == NULL) {
    /* Looked up once for the life of the process, as the pure classes. */
    PyObject *inspect = PyImport_ImportModule("inspect");
    if (inspect == NULL) {
      Py_DECREF(self);
      return NULL;
    }
    isawaitable = PyObject_GetAttrString(inspect, "isawaitable");
    Py_DECREF(inspect);
    if (isawaitable == NULL) {
      Py_DECREF(self);
      return NULL;
    }
  }
  self->isawaitable = Py_NewRef(isawaitable);
  self->event_type = (PyTypeObject *)Py_NewRef(type);
  self->template = Py_NewRef(template);
  self->hooks = Py_NewRef(hooks);
  self->pending = Py_NewRef(pending);
  rc = cuprum_lines_new(&self->lines, deliver_line, self);
  if (rc < 0) {
    Py_DECREF(self);
    return raise_code(rc);
  }
  return (PyObject *)self;
}

/* ------------------------------------------------------------------------
 * Capture
 */

typedef struct {
  PyObject_HEAD char *buf;
  size_t len;
  size_t cap;
  /* Large captures are read straight into the str they will become: a
   * compact ASCII str of `cap` characters whose data is `buf`.  NULL while
   * the capture is small and `buf` is malloc'd. */
  PyObject *text;
  codec codec;
} CaptureObject;

/* Captures up to this size live in malloc'd memory.  Larger ones move into
 * a str object that grows by realloc (mremap for maps this large, so
 * growing never copies), advised for transparent huge pages, which cuts
 * the page faults of filling fresh memory by up to 512 times.  If the
 * bytes turn out to be ASCII, finishing only trims the str: one region,
 * no copy. */
#define CAPTURE_TEXT_THRESHOLD ((size_t)4 << 20)

static void capture_release(CaptureObject *self)
{
  if (self->text != NULL)
    Py_CLEAR(self->text);
  else
    free(self->buf);
  self->buf = NULL;
  self->len = self->cap = 0;
}

static void Capture_dealloc(CaptureObject *self)
{
  capture_release(self);
  codec_clear(&self->codec);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The capacity of a large capture's str, at least `need`: a power of two
 * times 8 MiB, less TEXT_SLACK for the str header, its NUL and the chunk
 * header glibc puts in front.  The map holding the str is then a whole
 * number of 2 MiB pages, so the kernel places it, and every mremap that
 * grows it, on a 2 MiB boundary: its huge pages move whole instead of
 * being split into 4 KiB mappings that must be faulted in again. */
#define TEXT_SLACK ((size_t)128)
static size_t text_capacity(size_t need)
{
  size_t map = (size_t)8 << 20;

  while (map - TEXT_SLACK < need && map <= PY_SSIZE_T_MAX / 2)
    map *= 2;
  return map - TEXT_SLACK < need ? need : map - TEXT_SLACK;
}

/* Makes room for `more` bytes after len.  Returns 0, or -1 with
 * MemoryError set. */
static int capture_reserve(CaptureObject *self, size_t more)
{
  size_t cap;

  if (self->cap - self->len >= more && self->buf != NULL)
    return 0;
  if (more > PY_SSIZE_T_MAX - self->len) {
    PyErr_NoMemory();
    return -1;
  }
  cap = self->cap ? self->cap : 65536;
  while (cap < self->len + more)
    cap = cap > PY_SSIZE_T_MAX / 2 ? self->len + more : cap * 2;
  if (cap > CAPTURE_TEXT_THRESHOLD)
    cap = text_capacity(self->len + more);
  if (cap <= CAPTURE_TEXT_THRESHOLD) {
    char *nb = realloc(self->buf, cap);
    if (nb == NULL) {
      PyErr_NoMemory();
      return -1;
    }
    self->buf = nb;
  } else if (self->text == NULL) {
    PyObject *text = PyUnicode_New((Py_ssize_t)cap, 127);
    if (text == NULL)
      return -1;
    self->text = text;
    advise_huge(text);
    if (self->len > 0)
      memcpy(PyUnicode_DATA(text), self->buf, self->len);
    free(self->buf);
    self->buf = (char *)PyUnicode_DATA(text);
  } else {
    /* Only this object holds the str and it was never hashed, so CPython
     * resizes it in place (realloc); on failure it is left as it was. */
    if (PyUnicode_Resize(&self->text, (Py_ssize_t)cap) < 0)
      return -1;
    self->buf = (char *)PyUnicode_DATA(self->text);
    advise_huge(self->text);
  }
  self->cap = cap;
  return 0;
}

static PyObject *Capture_feed(CaptureObject *self, PyObject *arg)
{
  Py_buffer view;

  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
    return NULL;
  if (capture_reserve(self, (size_t)view.len) < 0) {
    PyBuffer_Release(&view);
    return NULL;
  }
  memcpy(self->buf + self->len, view.buf, (size_t)view.len);
  self->len += (size_t)view.len;
  PyBuffer_Release(&view);
  Py_RETURN_NONE;
}

/* read_from(fd, size) -> int: one read(2) of up to `size` bytes straight
 * into the capture, with the GIL released; 0 at end of file.  Raises
 * BlockingIOError on EAGAIN and OSError on failure, as os.read does. */
static PyObject *Capture_read_from(CaptureObject *self, PyObject *args)
{
  int fd;
  Py_ssize_t size;
  ssize_t n;
  int err = 0;

  if (!PyArg_ParseTuple(args, "in:read_from", &fd, &size))
    return NULL;
  if (size <= 0) {
    PyErr_SetString(PyExc_ValueError, "read_from size must be positive");
    return NULL;
  }
  if (capture_reserve(self, (size_t)size) < 0)
    return NULL;
  do {
    Py_BEGIN_ALLOW_THREADS n = read(fd, self->buf + self->len, (size_t)size);
    err = errno;
    Py_END_ALLOW_THREADS
  } while (n < 0 && err == EINTR && PyErr_CheckSignals() == 0);
  if (n < 0) {
    if (PyErr_Occurred())
      return NULL;
    errno = err;
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  self->len += (size_t)n;
  return PyLong_FromSsize_t(n);
}

static PyObject *Capture_finish(CaptureObject *self,
                                PyObject *Py_UNUSED(ignored))
{
  PyObject *text;

  if (self->text != NULL && self->codec.kind != CODEC_OTHER &&
      all_ascii(self->buf, self->len)) {
    /* ASCII decodes to itself under every codec with a kind: the str
     * being filled is the result once trimmed to length. */
    if (PyUnicode_Resize(&self->text, (Py_ssize_t)self->len) < 0)
      return NULL;
    text = self->text;
    self->text = NULL;
    self->buf = NULL;
    self->len = self->cap = 0;
    return text;
  }
  text = codec_decode(&self->codec, self->buf ? self->buf : "", self->len);
  capture_release(self);
  return text;
}

static PyObject *Capture_nbytes(CaptureObject *self, void *closure)
{
  (void)closure;
  return PyLong_FromSize_t(self->len);
}

static PyMethodDef Capture_methods[] = {
    {"feed", (PyCFunction)Capture_feed, METH_O, "Append a chunk."},
    {"read_from", (PyCFunction)Capture_read_from, METH_VARARGS,
     "read_from(fd, size) -> int: read once from fd straight into the "
     "capture; 0 at end of file."},
    {"finish", (PyCFunction)Capture_finish, METH_NOARGS,
     "Return the decoded text of everything fed and release it."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Capture_getset[] = {
    {"nbytes", (getter)Capture_nbytes, NULL, "Bytes fed so far.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CaptureType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cuprum._native.Capture",
    .tp_basicsize = sizeof(CaptureObject),
    .tp_dealloc = (destructor)Capture_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Capture accumulator: one growing buffer, one decode.",
    .tp_methods = Capture_methods,
    .tp_getset = Capture_getset,
};

static PyObject *make_capture(PyObject *module, PyObject *args)
{
  const char *encoding;
  const char *errors;
  CaptureObject *self;

  (void)module;
  if (!PyArg_ParseTuple(args, "ss:Capture", &encoding, &errors))
    return NULL;
  self = PyObject_New(CaptureObject, &CaptureType);
  if (self == NULL)
    return NULL;
  self->buf = NULL;
  self->len = self->cap = 0;
  self->text = NULL;
  memset(&self->codec, 0, sizeof(self->codec));
  if (codec_init(&self->codec, encoding, errors) < 0) {
    Py_DECREF(self);
    return NULL;
  }
  return (PyObject *)self;
}

/* ------------------------------------------------------------------------
 * TextTee: raw bytes to a descriptor without Python in the way; Python
 * streams go through the pure engine's tee, which knows their kinds.
 */

typedef struct {
  PyObject_HEAD int fd;
} FdTeeObject;

/* Writes all of buf to fd with the GIL released; waits out EAGAIN. */
static int write_fd(int fd, const char *buf, size_t len)
{
  int rc = 0;

  Py_BEGIN_ALLOW_THREADS while (len > 0)
  {
    ssize_t n = write(fd, buf, len);
    if (n >= 0) {
      buf += n;
      len -= (size_t)n;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN) {
      struct pollfd p = {fd, POLLOUT, 0};
      (void)poll(&p, 1, -1);
      continue;
    }
    rc = -errno;
    break;
  }
  Py_END_ALLOW_THREADS return rc;
}

static PyObject *FdTee_feed(FdTeeObject *self, PyObject *arg)
{
  Py_buffer view;
  int rc;

  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
    return NULL;
  rc = write_fd(self->fd, view.buf, (size_t)view.len);
  PyBuffer_Release(&view);
  if (rc < 0)
    return raise_code(rc);
  Py_RETURN_NONE;
}

static PyObject *FdTee_finish(FdTeeObject *self, PyObject *Py_UNUSED(ignored))
{
  (void)self;
  Py_RETURN_NONE;
}

static PyMethodDef FdTee_methods[] = {
    {"feed", (PyCFunction)FdTee_feed, METH_O, "Copy a chunk to the fd."},
    {"finish", (PyCFunction)FdTee_finish, METH_NOARGS, "Nothing is held."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FdTeeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cuprum._native.FdTee",
    .tp_basicsize = sizeof(FdTeeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Tee to a file descriptor.",
    .tp_methods = FdTee_methods,
};

static PyObject *make_text_tee(PyObject *module, PyObject *args)
{
  PyObject *sink;
  const char *encoding;
  const char *errors;
  PyObject *cls;
  FdTeeObject *self;
  int fd;

  (void)module;
  if (PyTuple_GET_SIZE(args) > 0) {
    sink = PyTuple_GET_ITEM(args, 0);
    if (!PyLong_Check(sink) || PyBool_Check(sink)) {
      /* A Python stream: the pure tee knows text sinks from binary ones.
       * Handed the arguments untouched, so it checks them itself. */
      cls = pure_class("TextTee", &pure_text_tee_cls);
      return cls == NULL ? NULL : PyObject_Call(cls, args, NULL);
    }
  }
  if (!PyArg_ParseTuple(args, "Oss:TextTee", &sink, &encoding, &errors))
    return NULL;
  if (as_int(sink, &fd) < 0)
    return NULL;
  self = PyObject_New(FdTeeObject, &FdTeeType);
  if (self == NULL)
    return NULL;
  self->fd = fd;
  return (PyObject *)self;
}

/* ------------------------------------------------------------------------
 * pump
 */

static int size_arg(PyObject *obj, size_t *out)
{
  if (PyBool_Check(obj) || !PyLong_Check(obj)) {
    PyErr_Format(PyExc_TypeError, "buffer_size must be an int, got %s",
                 Py_TYPE(obj)->tp_name);
    return -1;
  }
  {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
      return -1;
    if (overflow != 0 || v < (long long)CUPRUM_BUFFER_SIZE_MIN ||
        v > (long long)CUPRUM_BUFFER_SIZE_MAX) {
      PyErr_Format(PyExc_ValueError,
                   "buffer_size must be between 1 and %zu bytes, got %S",
                   (size_t)CUPRUM_BUFFER_SIZE_MAX, obj);
      return -1;
    }
    *out = (size_t)v;
  }
  return 0;
}

static PyObject *native_pump(PyObject *module, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"reader_fd", "writer_fd", "buffer_size", NULL};
  int reader;
  int writer;
  PyObject *size_obj = NULL;
  size_t size = CUPRUM_BUFFER_SIZE_DEFAULT;
  cuprum_pump_stats st;
  int rc;

  (void)module;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "ii|O:pump", kwlist, &reader,
                                   &writer, &size_obj))
    return NULL;
  if (size_obj != NULL && size_arg(size_obj, &size) < 0)
    return NULL;
  Py_BEGIN_ALLOW_THREADS rc = cuprum_pump(reader, writer, size, 0, &st);
  Py_END_ALLOW_THREADS if (rc < 0) return raise_code(rc);
  return PyLong_FromUnsignedLongLong(st.delivered);
}

/* ------------------------------------------------------------------------
 * consume
 */

struct consume_ctx {
  PyThreadState *ts;
  PyObject *tee;      /* a Python tee object, or NULL */
  PyObject *splitter; /* a splitter object, or NULL */
};

/* Called by cuprum_consume with the GIL released: takes it back only to
 * hand the chunk to the Python-level sinks. */
static int consume_chunk(void *ctx, const char *data, size_t len)
{
  struct consume_ctx *c = ctx;
  int rc = 0;
  PyObject *chunk;

  PyEval_RestoreThread(c->ts);
  chunk = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
  if (chunk == NULL) {
    rc = CUPRUM_ESTOPPED;
  } else {
    PyObject *sinks[2] = {c->tee, c->splitter};
    for (int i = 0; i < 2 && rc == 0; i++) {
      PyObject *res;
      if (sinks[i] == NULL)
        continue;
      res = PyObject_CallMethod(sinks[i], "feed", "O", chunk);
      if (res == NULL)
        rc = CUPRUM_ESTOPPED;
      Py_XDECREF(res);
    }
    Py_DECREF(chunk);
  }
  c->ts = PyEval_SaveThread();
  return rc;
}

static PyObject *finish_sink(PyObject *sink)
{
  if (sink == NULL)
    Py_RETURN_NONE;
  return PyObject_CallMethod(sink, "finish", NULL);
}

static PyObject *native_consume(PyObject *module, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"fd",  "encoding", "errors", "capture",
                           "tee", "on_line",  NULL};
  int fd;
  const char *encoding = "utf-8";
  const char *errors = "replace";
  int capture = 1;
  PyObject *tee = Py_None;
  PyObject *on_line = Py_None;
  struct consume_ctx ctx = {NULL, NULL, NULL};
  cuprum_consume_opts opts;
  cuprum_capture cap;
  codec cd;
  PyObject *result = NULL;
  int rc;

  if (!PyArg_ParseTupleAndKeywords(args, kw, "i|$sspOO:consume", kwlist, &fd,
                                   &encoding, &errors, &capture, &tee,
                                   &on_line))
    return NULL;
  if (codec_init(&cd, encoding, errors) < 0)
    return NULL;
  cuprum_consume_opts_init(&opts);
  opts.flags = capture ? CUPRUM_CONSUME_CAPTURE : 0;
  if (tee != Py_None) {
    if (PyLong_Check(tee) && !PyBool_Check(tee)) {
      if (as_int(tee, &opts.tee_fd) < 0)
        goto out;
    } else {
      PyObject *targs = Py_BuildValue("(Oss)", tee, encoding, errors);
      if (targs == NULL)
        goto out;
      ctx.tee = make_text_tee(module, targs);
      Py_DECREF(targs);
      if (ctx.tee == NULL)
        goto out;
    }
  }
  if (on_line != Py_None) {
    PyObject *largs = Py_BuildValue("(ssO)", encoding, errors, on_line);
    if (largs == NULL)
      goto out;
    ctx.splitter = make_line_splitter(module, largs);
    Py_DECREF(largs);
    if (ctx.splitter == NULL)
      goto out;
  }
  if (ctx.tee != NULL || ctx.splitter != NULL) {
    opts.on_chunk = consume_chunk;
    opts.on_chunk_ctx = &ctx;
  }
  opts.read_size = 1 << 20;

  ctx.ts = PyEval_SaveThread();
  rc = cuprum_consume(fd, &opts, &cap);
  PyEval_RestoreThread(ctx.ts);

  if (rc < 0) {
    cuprum_capture_release(&cap);
    raise_code(rc);
    goto out;
  }
  /* A tee that failed (a closed pipe included) is an error, as a write to
   * that sink from Python would be; the capture itself was completed. */
  if (cap.tee_error < 0) {
    int tee_error = cap.tee_error;
    cuprum_capture_release(&cap);
    raise_code(tee_error);
    goto out;
  }
  {
    PyObject *r1 = finish_sink(ctx.tee);
    PyObject *r2 = r1 != NULL ? finish_sink(ctx.splitter) : NULL;
    Py_XDECREF(r1);
    Py_XDECREF(r2);
    if (r2 == NULL) {
      cuprum_capture_release(&cap);
      goto out;
    }
  }
  if (capture) {
    result = codec_decode(&cd, cap.data ? cap.data : "", cap.len);
  } else {
    result = Py_NewRef(Py_None);
  }
  cuprum_capture_release(&cap);
out:
  Py_XDECREF(ctx.tee);
  Py_XDECREF(ctx.splitter);
  codec_clear(&cd);
  return result;
}

/* ------------------------------------------------------------------------
 * Module
 */

static PyObject *native_is_available(PyObject *module,
                                     PyObject *Py_UNUSED(ignored))
{
  (void)module;
  Py_RETURN_TRUE;
}

static PyObject *native_library_version(PyObject *module,
                                        PyObject *Py_UNUSED(ignored))
{
  (void)module;
  return PyUnicode_FromString(cuprum_version());
}

static PyMethodDef native_methods[] = {
    {"pump", (PyCFunction)(void (*)(void))native_pump,
     METH_VARARGS | METH_KEYWORDS,
     "pump(reader_fd, writer_fd, buffer_size=65536) -> int\n\n"
     "Copy reader to writer until EOF (splice where possible); bytes "
     "delivered."},
    {"consume", (PyCFunction)(void (*)(void))native_consume,
     METH_VARARGS | METH_KEYWORDS,
     "consume(fd, *, encoding='utf-8', errors='replace', capture=True, "
     "tee=None, on_line=None) -> str | None"},
    {"LineSplitter", make_line_splitter, METH_VARARGS,
     "LineSplitter(encoding, errors, callback)"},
    {"LineEvents", make_line_events, METH_VARARGS,
     "LineEvents(encoding, errors, event_type, template, hooks, pending): "
     "a line splitter that builds each line's event in C, or None"},
    {"Capture", make_capture, METH_VARARGS, "Capture(encoding, errors)"},
    {"TextTee", make_text_tee, METH_VARARGS, "TextTee(sink, encoding, errors)"},
    {"is_available", native_is_available, METH_NOARGS,
     "True: the extension and libcuprum are loaded."},
    {"library_version", native_library_version, METH_NOARGS,
     "The version of the libcuprum actually loaded."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cuprum._native",
    .m_doc = "cuprum's stream engine over libcuprum.",
    .m_size = -1,
    .m_methods = native_methods,
};

/*
 * The cuprum.h version this module was compiled against, as text in the
 * binary: when the loader refuses the module (a libcuprum older than the
 * header lacks a symbol), _native_shim.py reads it from the file to name
 * both versions.
 */
__attribute__((used)) static const char built_against[] =
    "cuprum._native was built against libcuprum " CUPRUM_VERSION_STRING;

/*
 * Refuses a libcuprum older than the header this module was compiled
 * against: it may lack what the header promises.  Returns 0, or -1 with
 * ImportError set naming both versions and the library's path.
 */
static int check_library_version(void)
{
  const char *loaded = cuprum_version();
  int major = 0, minor = 0, patch = 0;
  int cmp = -1; /* an unreadable version counts as older */
  Dl_info info;
  const char *path = "an unknown path";

  if (sscanf(loaded, "%d.%d.%d", &major, &minor, &patch) == 3) {
    if (major != CUPRUM_VERSION_MAJOR)
      cmp = major - CUPRUM_VERSION_MAJOR;
    else if (minor != CUPRUM_VERSION_MINOR)
      cmp = minor - CUPRUM_VERSION_MINOR;
    else
      cmp = patch - CUPRUM_VERSION_PATCH;
  }
  if (cmp >= 0)
    return 0;
  if (dladdr((void *)cuprum_version, &info) != 0 && info.dli_fname != NULL)
    path = info.dli_fname;
  PyErr_Format(PyExc_ImportError,
               "%s but loaded libcuprum %s from %s: rebuild the binding "
               "against that library, or make a libcuprum %s or newer the "
               "one the loader finds first",
               built_against, loaded, path, CUPRUM_VERSION_STRING);
  return -1;
}

PyMODINIT_FUNC PyInit__native(void)
{
  PyObject *m;

  if (check_library_version() < 0)
    return NULL;
  if (PyType_Ready(&LineSplitterType) < 0 || PyType_Ready(&CaptureType) < 0 ||
      PyType_Ready(&FdTeeType) < 0)
    return NULL;
  m = PyModule_Create(&native_module);
  if (m == NULL)
    return NULL;
  if (PyModule_AddStringConstant(m, "name", "native") < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
