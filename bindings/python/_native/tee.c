/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native tee: raw bytes to a descriptor through libcuprum's
 * cuprum_write_all, without Python in the way;
 * Python streams go through the pure engine's TextTee, which knows text
 * sinks from binary ones.
 */
#include "native.h"

typedef struct {
  PyObject_HEAD int fd;
} FdTeeObject;

/* Writes all of buf to fd through libcuprum's write loop, with the GIL
 * released.  Returns 0 or a negative libcuprum code (-EPIPE included). */
static int write_fd(int fd, const char *buf, size_t len)
{
  PyThreadState *ts = PyEval_SaveThread();
  int rc = cuprum_write_all(fd, buf, len, NULL);

  PyEval_RestoreThread(ts);
  return rc;
}

/* An FdTee holds no Python object but its type. */
static int FdTee_traverse(PyObject *op, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(op));
  return 0;
}

static void FdTee_dealloc(PyObject *op)
{
  PyTypeObject *tp = Py_TYPE(op);

  PyObject_GC_UnTrack(op);
  tp->tp_free(op);
  Py_DECREF(tp);
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
    return native_raise_code(rc);
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

static PyType_Slot FdTee_slots[] = {
    {Py_tp_dealloc, FdTee_dealloc},
    {Py_tp_traverse, FdTee_traverse},
    {Py_tp_methods, FdTee_methods},
    {Py_tp_doc, "Tee to a file descriptor."},
    {0, NULL},
};

/* Made only by the module's TextTee(). */
static PyType_Spec FdTee_spec = {
    .name = "cuprum._native.FdTee",
    .basicsize = sizeof(FdTeeObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = FdTee_slots,
};

int native_tee_add_type(PyObject *module, native_state *st)
{
  st->fd_tee_type =
      (PyTypeObject *)PyType_FromModuleAndSpec(module, &FdTee_spec, NULL);
  return st->fd_tee_type == NULL ? -1 : 0;
}

/* TextTee(sink, encoding, errors): an FdTee for a descriptor, the pure
 * engine's TextTee for a Python stream. */
PyObject *native_text_tee(PyObject *module, PyObject *args)
{
  native_state *st = native_state_of(module);
  PyObject *sink;
  const char *encoding;
  const char *errors;
  FdTeeObject *self;
  int fd;

  if (PyTuple_GET_SIZE(args) > 0) {
    sink = PyTuple_GET_ITEM(args, 0);
    if (!PyLong_Check(sink) || PyBool_Check(sink)) {
      /* A Python stream: the pure tee knows text sinks from binary ones.
       * Handed the arguments untouched, so it checks them itself. */
      PyObject *cls = native_pure_class("TextTee", &st->pure_text_tee);
      return cls == NULL ? NULL : PyObject_Call(cls, args, NULL);
    }
  }
  if (!PyArg_ParseTuple(args, "Oss:TextTee", &sink, &encoding, &errors))
    return NULL;
  if (native_as_int(sink, &fd) < 0)
    return NULL;
  self = (FdTeeObject *)st->fd_tee_type->tp_alloc(st->fd_tee_type, 0);
  if (self == NULL)
    return NULL;
  self->fd = fd;
  return (PyObject *)self;
}
