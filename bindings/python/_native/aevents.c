/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native AsyncEvents: the async iterator of an async stream's
 * events.  An `async for` step through an async generator costs a
 * StopIteration per value on CPython 3.11, about as much as the rest of a
 * line event; here an event already queued is returned by an awaitable
 * (Ready) that completes at once through am_send, with no exception.  Only
 * when the batch being consumed is exhausted does an `async for` step call
 * the Python `refill(events)` coroutine, which waits for the next batch,
 * hands it over with events.feed(iterator) and returns its first event;
 * cancellation, close and errors are then plain Python await semantics.
 */
#include "native.h"

typedef struct {
  PyObject_HEAD
      /* The iterator of the batch being consumed, or NULL. */
      PyObject *current;
  PyObject *refill;
  PyTypeObject *ready_type;
} AsyncEventsObject;

/* A completed awaitable: `await ready` is its value. */
typedef struct {
  PyObject_HEAD PyObject *value;
} ReadyObject;

/* ------------------------------------------------------------------------
 * Ready
 */

static PySendResult Ready_send(PyObject *op, PyObject *Py_UNUSED(arg),
                               PyObject **result)
{
  ReadyObject *self = (ReadyObject *)op;

  if (self->value == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "an event awaited twice");
    *result = NULL;
    return PYGEN_ERROR;
  }
  *result = self->value; /* handed over */
  self->value = NULL;
  return PYGEN_RETURN;
}

/* The same through the iterator protocol (used while tracing): the value
 * travels in a StopIteration, built explicitly since an event is a tuple. */
static PyObject *Ready_next(PyObject *op)
{
  PyObject *value = NULL;
  PyObject *stop;

  if (Ready_send(op, Py_None, &value) == PYGEN_ERROR)
    return NULL;
  stop = PyObject_CallOneArg(PyExc_StopIteration, value);
  Py_DECREF(value);
  if (stop != NULL) {
    PyErr_SetObject(PyExc_StopIteration, stop);
    Py_DECREF(stop);
  }
  return NULL;
}

static void Ready_dealloc(PyObject *op)
{
  ReadyObject *self = (ReadyObject *)op;
  PyTypeObject *tp = Py_TYPE(op);

  Py_CLEAR(self->value);
  tp->tp_free(op);
  Py_DECREF(tp);
}

static PyType_Slot Ready_slots[] = {
    {Py_tp_dealloc, Ready_dealloc},
    {Py_am_await, PyObject_SelfIter},
    {Py_am_send, (void *)Ready_send},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, Ready_next},
    {Py_tp_doc, "An event ready to be taken by await."},
    {0, NULL},
};

/* Holds an event, which cannot refer back to it: no GC support needed. */
static PyType_Spec Ready_spec = {
    .name = "cuprum._native.Ready",
    .basicsize = sizeof(ReadyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Ready_slots,
};

/* ------------------------------------------------------------------------
 * AsyncEvents
 */

static PyObject *async_events_cleared(void)
{
  PyErr_SetString(PyExc_RuntimeError,
                  "AsyncEvents used after the garbage collector cleared it");
  return NULL;
}

static PyObject *AsyncEvents_anext(PyObject *op)
{
  AsyncEventsObject *self = (AsyncEventsObject *)op;
  PyObject *event;
  ReadyObject *ready;

  /* The iterator may run Python code that feeds another one: it is held
   * for its own call, only it is dropped when it ends, and then what it fed
   * is read. */
  while (self->current != NULL) {
    PyObject *iterator = Py_NewRef(self->current);

    event = PyIter_Next(iterator);
    if (event == NULL && !PyErr_Occurred() && self->current == iterator)
      Py_CLEAR(self->current);
    Py_DECREF(iterator);
    if (event != NULL) {
      if (self->ready_type == NULL) {
        Py_DECREF(event);
        return async_events_cleared();
      }
      ready = (ReadyObject *)self->ready_type->tp_alloc(self->ready_type, 0);
      if (ready == NULL) {
        Py_DECREF(event);
        return NULL;
      }
      ready->value = event;
      return (PyObject *)ready;
    }
    if (PyErr_Occurred())
      return NULL;
  }
  if (self->refill == NULL || self->ready_type == NULL)
    return async_events_cleared();
  {
    PyObject *refill = Py_NewRef(self->refill);
    PyObject *awaitable = PyObject_CallOneArg(refill, op);
    Py_DECREF(refill);
    return awaitable;
  }
}

static PyObject *AsyncEvents_feed(PyObject *op, PyObject *iterator)
{
  AsyncEventsObject *self = (AsyncEventsObject *)op;

  if (!PyIter_Check(iterator)) {
    PyErr_SetString(PyExc_TypeError, "AsyncEvents.feed takes an iterator");
    return NULL;
  }
  Py_XSETREF(self->current, Py_NewRef(iterator));
  Py_RETURN_NONE;
}

static int AsyncEvents_traverse(PyObject *op, visitproc visit, void *arg)
{
  AsyncEventsObject *self = (AsyncEventsObject *)op;

  Py_VISIT(Py_TYPE(op));
  Py_VISIT(self->current);
  Py_VISIT(self->refill);
  Py_VISIT(self->ready_type);
  return 0;
}

static int AsyncEvents_clear(PyObject *op)
{
  AsyncEventsObject *self = (AsyncEventsObject *)op;

  Py_CLEAR(self->current);
  Py_CLEAR(self->refill);
  Py_CLEAR(self->ready_type);
  return 0;
}

static void AsyncEvents_dealloc(PyObject *op)
{
  PyTypeObject *tp = Py_TYPE(op);

  PyObject_GC_UnTrack(op);
  (void)AsyncEvents_clear(op);
  tp->tp_free(op);
  Py_DECREF(tp);
}

static PyMethodDef AsyncEvents_methods[] = {
    {"feed", AsyncEvents_feed, METH_O,
     "Take the events of `iterator` (the rest of a batch) next."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot AsyncEvents_slots[] = {
    {Py_tp_dealloc, AsyncEvents_dealloc},
    {Py_tp_traverse, AsyncEvents_traverse},
    {Py_tp_clear, AsyncEvents_clear},
    {Py_am_aiter, PyObject_SelfIter},
    {Py_am_anext, AsyncEvents_anext},
    {Py_tp_methods, AsyncEvents_methods},
    {Py_tp_doc, "AsyncEvents(refill): an async stream's events; see "
                "cuprum._engine."},
    {0, NULL},
};

static PyType_Spec AsyncEvents_spec = {
    .name = "cuprum._native.AsyncEvents",
    .basicsize = sizeof(AsyncEventsObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = AsyncEvents_slots,
};

int native_aevents_add_type(PyObject *module, native_state *st)
{
  st->ready_type =
      (PyTypeObject *)PyType_FromModuleAndSpec(module, &Ready_spec, NULL);
  if (st->ready_type == NULL)
    return -1;
  st->async_events_type =
      (PyTypeObject *)PyType_FromModuleAndSpec(module, &AsyncEvents_spec, NULL);
  return st->async_events_type == NULL ? -1 : 0;
}

/* AsyncEvents(refill): `refill(events)` returns an awaitable of the next
 * event once the batch fed last is exhausted. */
PyObject *native_async_events(PyObject *module, PyObject *refill)
{
  native_state *st = native_state_of(module);
  AsyncEventsObject *self;

  if (!PyCallable_Check(refill)) {
    PyErr_SetString(PyExc_TypeError, "AsyncEvents refill must be callable");
    return NULL;
  }
  self = (AsyncEventsObject *)st->async_events_type->tp_alloc(
      st->async_events_type, 0);
  if (self == NULL)
    return NULL;
  self->refill = Py_NewRef(refill);
  self->ready_type = (PyTypeObject *)Py_NewRef(st->ready_type);
  return (PyObject *)self;
}
