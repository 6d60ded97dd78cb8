/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native pump: the blocking copy from one descriptor to another,
 * cuprum_pump with the GIL released.
 */
#include "native.h"

/* Stores in *out a buffer_size argument: TypeError unless an int,
 * ValueError outside libcuprum's range.  Returns 0 or -1. */
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

PyObject *native_pump(PyObject *module, PyObject *args, PyObject *kw)
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
  Py_END_ALLOW_THREADS if (rc < 0) return native_raise_code(rc);
  return PyLong_FromUnsignedLongLong(st.delivered);
}
