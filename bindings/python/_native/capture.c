/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native capture: the Capture accumulator, one growing buffer and
 * one decode at the end.
 */
#include "native.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  PyObject_HEAD char *buf;
  size_t len;
  size_t cap;
  /* Large captures are read straight into the str they will become: a
   * compact ASCII str of `cap` characters whose data is `buf`.  NULL while
   * the capture is small and `buf` is malloc'd. */
  PyObject *text;
  native_codec codec;
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

/* A Capture holds only strs (its text and its codec's names), which cannot
 * refer back to it: the collector needs to see only its type. */
static int Capture_traverse(PyObject *op, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(op));
  return 0;
}

static void Capture_dealloc(PyObject *op)
{
  CaptureObject *self = (CaptureObject *)op;
  PyTypeObject *tp = Py_TYPE(op);

  PyObject_GC_UnTrack(op);
  capture_release(self);
  native_codec_clear(&self->codec);
  tp->tp_free(op);
  Py_DECREF(tp);
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
    native_advise_huge(text);
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
    native_advise_huge(self->text);
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
      native_all_ascii(self->buf, self->len)) {
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
  text =
      native_codec_decode(&self->codec, self->buf ? self->buf : "", self->len);
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

static PyType_Slot Capture_slots[] = {
    {Py_tp_dealloc, Capture_dealloc},
    {Py_tp_traverse, Capture_traverse},
    {Py_tp_methods, Capture_methods},
    {Py_tp_getset, Capture_getset},
    {Py_tp_doc, "Capture accumulator: one growing buffer, one decode."},
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

/* Capture(encoding, errors): LookupError when either is unknown. */
PyObject *native_capture(PyObject *module, PyObject *args)
{
  native_state *st = native_state_of(module);
  const char *encoding;
  const char *errors;
  CaptureObject *self;

  if (!PyArg_ParseTuple(args, "ss:Capture", &encoding, &errors))
    return NULL;
  self = (CaptureObject *)st->capture_type->tp_alloc(st->capture_type, 0);
  if (self == NULL)
    return NULL;
  if (native_codec_init(st, &self->codec, encoding, errors) < 0) {
    Py_DECREF(self);
    return NULL;
  }
  return (PyObject *)self;
}
