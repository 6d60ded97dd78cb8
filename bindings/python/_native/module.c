/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native - the stream engine of cuprum/_engine.py over libcuprum:
 * the module definition, its initialisation, its state and the mapping of
 * libcuprum's codes to Python exceptions.
 *
 * Blocking calls (pump, consume, writes to a tee descriptor) run with the
 * GIL released; Python is re-entered only where Python objects must see the
 * bytes (a tee to a Python stream, line callbacks).  Lines are split in C
 * and each finished line is decoded once and handed to the callback.
 * Errors map to OSError subclasses (by errno), ValueError, TypeError and
 * MemoryError.
 *
 * Multi-phase initialisation (PEP 489): PyInit__native only returns the
 * definition; the exec slot checks the library, reads the ExecEvent layout
 * and creates the heap types into the module state.  Each module object
 * (one per interpreter) has its own types and caches, and nothing Python
 * lives in a static variable.
 */
#include "native.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>

/* ------------------------------------------------------------------------
 * Errors
 */

int native_as_int(PyObject *obj, int *out)
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

PyObject *native_raise_code(int rc)
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
 * Module state
 */

native_state *native_state_of(PyObject *module)
{
  return (native_state *)PyModule_GetState(module);
}

PyObject *native_pure_class(const char *attr, PyObject **slot)
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

static int native_traverse(PyObject *module, visitproc visit, void *arg)
{
  native_state *st = native_state_of(module);

  if (st == NULL)
    return 0;
  Py_VISIT(st->line_splitter_type);
  Py_VISIT(st->event_batch_type);
  Py_VISIT(st->ready_type);
  Py_VISIT(st->async_events_type);
  Py_VISIT(st->capture_type);
  Py_VISIT(st->fd_tee_type);
  Py_VISIT(st->process_type);
  Py_VISIT(st->pure_text_tee);
  Py_VISIT(st->pure_line_splitter);
  Py_VISIT(st->pure_line_events);
  Py_VISIT(st->isawaitable);
  Py_VISIT(st->last_codec.name);
  Py_VISIT(st->last_codec.errors_obj);
  return 0;
}

static int native_clear(PyObject *module)
{
  native_state *st = native_state_of(module);

  if (st == NULL)
    return 0;
  Py_CLEAR(st->line_splitter_type);
  Py_CLEAR(st->event_batch_type);
  Py_CLEAR(st->ready_type);
  Py_CLEAR(st->async_events_type);
  Py_CLEAR(st->capture_type);
  Py_CLEAR(st->fd_tee_type);
  Py_CLEAR(st->process_type);
  Py_CLEAR(st->pure_text_tee);
  Py_CLEAR(st->pure_line_splitter);
  Py_CLEAR(st->pure_line_events);
  Py_CLEAR(st->isawaitable);
  Py_CLEAR(st->last_codec.name);
  Py_CLEAR(st->last_codec.errors_obj);
  return 0;
}

static void native_free(void *module)
{
  (void)native_clear((PyObject *)module);
}

/* ------------------------------------------------------------------------
 * The ExecEvent layout
 *
 * A line event is a copy of the caller's template with the timestamp and
 * the line filled in, so the C side must know where those two fields sit.
 * They are read here, once per module, from cuprum.events.ExecEvent._fields,
 * the one definition of the layout, instead of being written down a second
 * time in C.  Reading beats generating a header from events.py: setup.py,
 * make, pip and pybuild would each have to run the generator, and the
 * indices cost nothing at run time once kept in the module state (each
 * LineEvents object copies them).  A field renamed or removed in Python
 * makes the import fail, naming the field, rather than fill the wrong slot.
 */

/* The position of the field called `name` in the tuple `fields`, or -1. */
static Py_ssize_t field_index(PyObject *fields, const char *name)
{
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(fields); i++) {
    PyObject *item = PyTuple_GET_ITEM(fields, i);
    if (PyUnicode_Check(item) &&
        PyUnicode_CompareWithASCIIString(item, name) == 0)
      return i;
  }
  return -1;
}

/* Stores ExecEvent's layout in `st`.  Returns 0, or -1 with an exception
 * set: ImportError when a field line events need is missing. */
static int load_event_layout(native_state *st)
{
  PyObject *events = PyImport_ImportModule("cuprum.events");
  PyObject *cls;
  PyObject *fields;
  int rc = -1;

  if (events == NULL)
    return -1;
  cls = PyObject_GetAttrString(events, "ExecEvent");
  Py_DECREF(events);
  if (cls == NULL)
    return -1;
  fields = PyObject_GetAttrString(cls, "_fields");
  Py_DECREF(cls);
  if (fields == NULL)
    return -1;
  if (!PyTuple_Check(fields)) {
    PyErr_Format(PyExc_ImportError,
                 "cuprum._native: cuprum.events.ExecEvent._fields is a %s, "
                 "not the tuple of field names of a named tuple",
                 Py_TYPE(fields)->tp_name);
    goto out;
  }
  st->event_fields = PyTuple_GET_SIZE(fields);
  st->event_timestamp = field_index(fields, "timestamp");
  st->event_line = field_index(fields, "line");
  if (st->event_timestamp < 0 || st->event_line < 0) {
    PyErr_Format(PyExc_ImportError,
                 "cuprum._native fills in the fields 'timestamp' and 'line' "
                 "of line events, but cuprum.events.ExecEvent has no field "
                 "'%s' (its fields: %R)",
                 st->event_timestamp < 0 ? "timestamp" : "line", fields);
    goto out;
  }
  rc = 0;
out:
  Py_DECREF(fields);
  return rc;
}

/* ------------------------------------------------------------------------
 * The library version
 */

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
    {"LineSplitter", native_line_splitter, METH_VARARGS,
     "LineSplitter(encoding, errors, callback)"},
    {"LineEvents", native_line_events, METH_VARARGS,
     "LineEvents(encoding, errors, event_type, template, hooks, pending, "
     "batches=None): a line splitter that builds each line's event in C"},
    {"AsyncEvents", native_async_events, METH_O,
     "AsyncEvents(refill): the async iterator of an async stream's events"},
    {"Capture", native_capture, METH_VARARGS,
     "Capture(encoding, errors, max_bytes=None, mode='truncate')"},
    {"TextTee", native_text_tee, METH_VARARGS,
     "TextTee(sink, encoding, errors)"},
    {"spawn", (PyCFunction)(void (*)(void))native_spawn,
     METH_VARARGS | METH_KEYWORDS,
     "spawn(argv, *, stdin=None, stdout=None, stderr=None, cwd=None, "
     "env=None, process_group=None) -> Process\n\n"
     "Start one child through cuprum_cmd_spawn.  A stream is None "
     "(inherited), a descriptor, -3 (DEVNULL) or, for stderr, -2 (STDOUT)."},
    {"is_available", native_is_available, METH_NOARGS,
     "True: the extension and libcuprum are loaded."},
    {"library_version", native_library_version, METH_NOARGS,
     "The version of the libcuprum actually loaded."},
    {NULL, NULL, 0, NULL},
};

/* Runs once per module object (per interpreter, per import). */
static int native_exec(PyObject *module)
{
  native_state *st = native_state_of(module);

  if (check_library_version() < 0)
    return -1;
  if (load_event_layout(st) < 0)
    return -1;
  if (native_lines_add_type(module, st) < 0 ||
      native_capture_add_type(module, st) < 0 ||
      native_tee_add_type(module, st) < 0 ||
      native_spawn_add_type(module, st) < 0 ||
      native_aevents_add_type(module, st) < 0)
    return -1;
  /* Capture takes RunOutputOptions' cap itself (see cuprum._engine). */
  if (PyModule_AddObjectRef(module, "bounded_capture", Py_True) < 0)
    return -1;
  return PyModule_AddStringConstant(module, "name", "native");
}

/*
 * Py_mod_multiple_interpreters (3.12+): the module keeps every Python
 * object in its state, its types are its own heap types, its only statics
 * are constant, and libcuprum has no global state (one handle per thread),
 * so each interpreter may load it, even one with a GIL of its own.
 */
static PyModuleDef_Slot native_slots[] = {
    {Py_mod_exec, (void *)native_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cuprum._native",
    .m_doc = "cuprum's stream engine over libcuprum.",
    .m_size = sizeof(native_state),
    .m_methods = native_methods,
    .m_slots = native_slots,
    .m_traverse = native_traverse,
    .m_clear = native_clear,
    .m_free = native_free,
};

/* The one exported symbol: the definition, for multi-phase init. */
PyMODINIT_FUNC PyInit__native(void);
PyMODINIT_FUNC PyInit__native(void)
{
  return PyModuleDef_Init(&native_module);
}
