/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native lines: LineSplitter (a callback per decoded line) and
 * LineEvents (an ExecEvent per line, built in C), both over libcuprum's
 * cuprum_lines, and EventBatch (the line events of one feed, built as they
 * are iterated, for a stream's queue).  Codecs or error policies whose
 * bytes cannot be split before decoding go to the pure engine's classes,
 * with the same contract.
 */
#include "native.h"

#include <time.h>

typedef struct {
  PyObject_HEAD cuprum_lines *lines;
  PyObject *callback;
  native_codec codec;
  /* Set while finish() delivers the final, unterminated line. */
  int finishing;
  /* Set while feed() or finish() runs the C splitter, that is while the
   * callback or a hook may run: another feed() or finish() then (from the
   * callback, or from a thread that took the GIL while it ran) raises
   * RuntimeError before it touches anything, as cuprum_lines refuses a
   * call from its own callback.  batches is called after it is cleared.
   *
   * A callback cannot release the splitter: whoever called feed() holds a
   * reference until it returns, so the object is reachable and neither
   * dealloc nor the collector's tp_clear runs during a delivery. */
  int delivering;
  /* Event mode (LineEvents): each line becomes an instance of event_type,
   * a tuple subclass, copied from template with the timestamp and the line
   * filled in at the positions below (ExecEvent's, see module.c), and is
   * passed to every hook; awaitable results are appended to pending.  All
   * NULL in callback mode. */
  PyTypeObject *event_type;
  PyObject *template;
  PyObject *hooks;
  PyObject *pending;
  PyObject *isawaitable;
  Py_ssize_t event_timestamp;
  Py_ssize_t event_line;
  /* The wall-clock time of the feed() or finish() being delivered: every
   * line a read completes carries the time that read was handed over. */
  PyObject *stamp;
  /* The last event, kept when no hook kept a reference to it: the next
   * line refills its timestamp and line in place instead of building a new
   * tuple (no other code can see it, so it is still immutable to Python).
   * Only for event types without a __dict__ or weak references. */
  PyObject *spare;
  int reuse;
  /* Batch mode (LineEvents with batches): the decoded lines of the feed()
   * or finish() being delivered gather in batch_lines, and are handed to
   * batches as one EventBatch (of batch_type) when the call ends. */
  PyObject *batches;
  PyObject *batch_lines;
  PyTypeObject *batch_type;
} LineSplitterObject;

/* The line events of one feed() or finish(), built as they are iterated:
 * a stream queues one EventBatch per read instead of one event per line,
 * and its consumer's pulls build the events.  The batch is its own
 * iterator and is iterated once. */
typedef struct {
  PyObject_HEAD PyTypeObject *event_type;
  PyObject *template;
  PyObject *stamp;
  /* The lines not yet handed out start at `next`; NULL once cleared. */
  PyObject *lines;
  Py_ssize_t next;
  Py_ssize_t event_timestamp;
  Py_ssize_t event_line;
  int reuse;
  /* The last two events handed out, newest first.  A consumer's loop
   * variable holds the newest while it asks for the next, so the one
   * before is usually free again: when only this batch refers to it, the
   * next line refills it in place (as LineEvents' spare) instead of a new
   * tuple being built, and nothing allocates per line. */
  PyObject *recent[2];
} EventBatchObject;

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
  PyObject *event = self->spare;
  PyObject *stamp;
  int rc = 0;

  stamp = self->stamp != NULL ? Py_NewRef(self->stamp) : wall_clock();
  if (stamp == NULL) {
    Py_DECREF(text);
    return CUPRUM_ESTOPPED;
  }
  if (event != NULL) {
    /* The spare is ours alone: swap in the new timestamp and line. */
    PyObject *old_stamp = PyTuple_GET_ITEM(event, self->event_timestamp);
    PyObject *old_text = PyTuple_GET_ITEM(event, self->event_line);
    self->spare = NULL;
    PyTuple_SET_ITEM(event, self->event_timestamp, stamp);
    PyTuple_SET_ITEM(event, self->event_line, text);
    Py_DECREF(old_stamp);
    Py_DECREF(old_text);
    if (!PyObject_GC_IsTracked(event))
      PyObject_GC_Track(event);
  } else {
    event = self->event_type->tp_alloc(self->event_type, n);
    if (event == NULL) {
      Py_DECREF(text);
      Py_DECREF(stamp);
      return CUPRUM_ESTOPPED;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
      PyObject *item = i == self->event_timestamp ? stamp
                       : i == self->event_line
                           ? text
                           : Py_NewRef(PyTuple_GET_ITEM(self->template, i));
      PyTuple_SET_ITEM(event, i, item);
    }
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
  if (self->reuse && Py_REFCNT(event) == 1 && self->spare == NULL)
    self->spare = event;
  else
    Py_DECREF(event);
  return rc;
}

static int deliver_line(void *ctx, const char *line, size_t len)
{
  LineSplitterObject *self = ctx;
  PyObject *text;
  PyObject *res;

  if (self->callback == NULL && self->event_type == NULL) {
    /* Only tp_clear empties both, when the collector breaks a cycle that
     * a finaliser of the same cycle then feeds. */
    PyErr_SetString(PyExc_RuntimeError,
                    "LineSplitter used after the garbage collector cleared "
                    "it");
    return CUPRUM_ESTOPPED;
  }
  text = native_codec_decode(&self->codec, line, len);
  if (text == NULL)
    return CUPRUM_ESTOPPED;
  /* A final line whose bytes all decode to nothing (errors="ignore") is no
   * line: the text stream simply ended after the last line ending. */
  if (self->finishing && PyUnicode_GET_LENGTH(text) == 0) {
    Py_DECREF(text);
    return 0;
  }
  if (self->event_type != NULL) {
    if (self->batches != NULL) {
      if (self->batch_lines == NULL &&
          (self->batch_lines = PyList_New(0)) == NULL) {
        Py_DECREF(text);
        return CUPRUM_ESTOPPED;
      }
      if (PyList_Append(self->batch_lines, text) < 0) {
        Py_DECREF(text);
        return CUPRUM_ESTOPPED;
      }
      if (PyTuple_GET_SIZE(self->hooks) == 0) {
        Py_DECREF(text);
        return 0;
      }
    }
    return deliver_event(self, text);
  }
  res = PyObject_CallOneArg(self->callback, text);
  Py_DECREF(text);
  if (res == NULL)
    return CUPRUM_ESTOPPED;
  Py_DECREF(res);
  return 0;
}

/* The callback, the hooks and what they may reach can refer back to the
 * splitter (a bound method of an object holding it, say): the collector
 * sees those references, and the type's. */
static int LineSplitter_traverse(PyObject *op, visitproc visit, void *arg)
{
  LineSplitterObject *self = (LineSplitterObject *)op;

  Py_VISIT(Py_TYPE(op));
  Py_VISIT(self->callback);
  Py_VISIT(self->event_type);
  Py_VISIT(self->template);
  Py_VISIT(self->hooks);
  Py_VISIT(self->pending);
  Py_VISIT(self->isawaitable);
  Py_VISIT(self->stamp);
  Py_VISIT(self->spare);
  Py_VISIT(self->batches);
  Py_VISIT(self->batch_lines);
  Py_VISIT(self->batch_type);
  return 0;
}

/* Drops the references that can be part of a cycle; the codec's strs
 * cannot, and stay for as long as the C splitter that decodes with them. */
static int LineSplitter_clear(PyObject *op)
{
  LineSplitterObject *self = (LineSplitterObject *)op;

  Py_CLEAR(self->callback);
  Py_CLEAR(self->event_type);
  Py_CLEAR(self->template);
  Py_CLEAR(self->hooks);
  Py_CLEAR(self->pending);
  Py_CLEAR(self->isawaitable);
  Py_CLEAR(self->stamp);
  Py_CLEAR(self->spare);
  Py_CLEAR(self->batches);
  Py_CLEAR(self->batch_lines);
  Py_CLEAR(self->batch_type);
  return 0;
}

static void LineSplitter_dealloc(PyObject *op)
{
  LineSplitterObject *self = (LineSplitterObject *)op;
  PyTypeObject *tp = Py_TYPE(op);

  PyObject_GC_UnTrack(op);
  cuprum_lines_free(self->lines);
  self->lines = NULL;
  (void)LineSplitter_clear(op);
  native_codec_clear(&self->codec);
  tp->tp_free(op);
  Py_DECREF(tp);
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

static PyObject *event_batch_new(LineSplitterObject *self, PyObject *lines);

/* Ends a feed() or finish() (rc its outcome): in batch mode, hands the
 * lines it completed to batches as one EventBatch, stamped with its time.
 * Lines of a call that failed are dropped with it.  Returns None, or NULL
 * with an exception set. */
static PyObject *splitter_end(LineSplitterObject *self, int rc)
{
  PyObject *lines = self->batch_lines;
  PyObject *batch;
  PyObject *res = NULL;

  self->batch_lines = NULL;
  if (rc < 0) {
    Py_XDECREF(lines);
    Py_CLEAR(self->stamp);
    return native_raise_code(rc);
  }
  if (lines == NULL || PyList_GET_SIZE(lines) == 0) {
    Py_XDECREF(lines);
    Py_CLEAR(self->stamp);
    Py_RETURN_NONE;
  }
  batch = event_batch_new(self, lines);
  Py_CLEAR(self->stamp);
  if (batch == NULL)
    return NULL;
  if (self->batches != NULL)
    res = PyObject_CallOneArg(self->batches, batch);
  else
    PyErr_SetString(PyExc_RuntimeError,
                    "LineEvents used after the garbage collector cleared it");
  Py_DECREF(batch);
  if (res == NULL)
    return NULL;
  Py_DECREF(res);
  Py_RETURN_NONE;
}

/* Refuses a feed() or finish() while one is delivering lines: returns 0,
 * or -1 with RuntimeError set. */
static int splitter_idle(LineSplitterObject *self, const char *method)
{
  if (!self->delivering)
    return 0;
  PyErr_Format(PyExc_RuntimeError,
               "%s.%s() called while it is delivering lines (from its own "
               "%s, or from another thread)",
               self->event_type != NULL ? "LineEvents" : "LineSplitter", method,
               self->event_type != NULL ? "hook" : "callback");
  return -1;
}

static PyObject *LineSplitter_feed(LineSplitterObject *self, PyObject *arg)
{
  Py_buffer view;
  int rc;

  if (splitter_idle(self, "feed") < 0)
    return NULL;
  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
    return NULL;
  if (splitter_stamp(self) < 0) {
    PyBuffer_Release(&view);
    return NULL;
  }
  self->delivering = 1;
  rc = cuprum_lines_feed(self->lines, view.buf, (size_t)view.len);
  self->delivering = 0;
  PyBuffer_Release(&view);
  return splitter_end(self, rc);
}

static PyObject *LineSplitter_finish(LineSplitterObject *self,
                                     PyObject *Py_UNUSED(ignored))
{
  int rc;

  if (splitter_idle(self, "finish") < 0)
    return NULL;
  if (splitter_stamp(self) < 0)
    return NULL;
  self->delivering = 1;
  self->finishing = 1;
  rc = cuprum_lines_finish(self->lines);
  self->finishing = 0;
  self->delivering = 0;
  return splitter_end(self, rc);
}

static PyMethodDef LineSplitter_methods[] = {
    {"feed", (PyCFunction)LineSplitter_feed, METH_O,
     "Consume a chunk, delivering every completed line."},
    {"finish", (PyCFunction)LineSplitter_finish, METH_NOARGS,
     "Deliver a final line without an ending, if any, and reset."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot LineSplitter_slots[] = {
    {Py_tp_dealloc, LineSplitter_dealloc},
    {Py_tp_traverse, LineSplitter_traverse},
    {Py_tp_clear, LineSplitter_clear},
    {Py_tp_methods, LineSplitter_methods},
    {Py_tp_doc, "Universal-newline line splitter over libcuprum."},
    {0, NULL},
};

/* Made only by the module's LineSplitter() and LineEvents(), which may
 * return the pure engine's objects instead: the type itself cannot be
 * called, as the static type it replaces could not. */
static PyType_Spec LineSplitter_spec = {
    .name = "cuprum._native.LineSplitter",
    .basicsize = sizeof(LineSplitterObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = LineSplitter_slots,
};

/* ------------------------------------------------------------------------
 * EventBatch
 */

/* A batch of `lines` (a list of str, stolen) with the splitter's event
 * layout and the time of the call being delivered; NULL with an exception
 * set. */
static PyObject *event_batch_new(LineSplitterObject *self, PyObject *lines)
{
  PyTypeObject *tp = self->batch_type;
  EventBatchObject *batch;
  PyObject *stamp;

  if (tp == NULL || self->event_type == NULL) {
    Py_DECREF(lines);
    PyErr_SetString(PyExc_RuntimeError,
                    "LineEvents used after the garbage collector cleared it");
    return NULL;
  }
  stamp = self->stamp != NULL ? Py_NewRef(self->stamp) : wall_clock();
  if (stamp == NULL) {
    Py_DECREF(lines);
    return NULL;
  }
  batch = (EventBatchObject *)tp->tp_alloc(tp, 0);
  if (batch == NULL) {
    Py_DECREF(lines);
    Py_DECREF(stamp);
    return NULL;
  }
  batch->event_type = (PyTypeObject *)Py_NewRef(self->event_type);
  batch->template = Py_NewRef(self->template);
  batch->stamp = stamp;
  batch->lines = lines;
  batch->next = 0;
  batch->event_timestamp = self->event_timestamp;
  batch->event_line = self->event_line;
  batch->reuse = self->reuse;
  return (PyObject *)batch;
}

/* Drops the lines not yet handed out and the events kept for reuse. */
static void event_batch_release(EventBatchObject *self)
{
  Py_CLEAR(self->lines);
  Py_CLEAR(self->recent[0]);
  Py_CLEAR(self->recent[1]);
  self->next = 0;
}

static PyObject *EventBatch_next(PyObject *op)
{
  EventBatchObject *self = (EventBatchObject *)op;
  PyObject *text;
  PyObject *event = NULL;

  if (self->lines == NULL || self->next >= PyList_GET_SIZE(self->lines)) {
    event_batch_release(self);
    return NULL; /* StopIteration */
  }
  text = Py_NewRef(PyList_GET_ITEM(self->lines, self->next));
  self->next++;
  if (self->reuse) {
    /* The older first: the newest is usually still the consumer's. */
    for (int k = 1; k >= 0 && event == NULL; k--) {
      PyObject *old = self->recent[k];
      if (old != NULL && Py_REFCNT(old) == 1) {
        /* Ours alone, from this batch (same stamp): swap the line in. */
        PyObject *old_text = PyTuple_GET_ITEM(old, self->event_line);
        PyTuple_SET_ITEM(old, self->event_line, text);
        Py_DECREF(old_text);
        if (!PyObject_GC_IsTracked(old))
          PyObject_GC_Track(old);
        event = old;
        self->recent[k] = NULL;
      }
    }
  }
  if (event == NULL) {
    Py_ssize_t n = PyTuple_GET_SIZE(self->template);
    event = self->event_type->tp_alloc(self->event_type, n);
    if (event == NULL) {
      Py_DECREF(text);
      return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
      PyObject *item = i == self->event_timestamp ? Py_NewRef(self->stamp)
                       : i == self->event_line
                           ? text
                           : Py_NewRef(PyTuple_GET_ITEM(self->template, i));
      PyTuple_SET_ITEM(event, i, item);
    }
  }
  if (self->reuse) {
    Py_XSETREF(self->recent[1], self->recent[0]);
    self->recent[0] = Py_NewRef(event);
  }
  return event;
}

static Py_ssize_t EventBatch_len(PyObject *op)
{
  EventBatchObject *self = (EventBatchObject *)op;

  return self->lines == NULL ? 0 : PyList_GET_SIZE(self->lines);
}

static PyObject *EventBatch_clear_method(PyObject *op,
                                         PyObject *Py_UNUSED(ignored))
{
  event_batch_release((EventBatchObject *)op);
  Py_RETURN_NONE;
}

static int EventBatch_traverse(PyObject *op, visitproc visit, void *arg)
{
  EventBatchObject *self = (EventBatchObject *)op;

  Py_VISIT(Py_TYPE(op));
  Py_VISIT(self->event_type);
  Py_VISIT(self->template);
  Py_VISIT(self->stamp);
  Py_VISIT(self->lines);
  Py_VISIT(self->recent[0]);
  Py_VISIT(self->recent[1]);
  return 0;
}

static int EventBatch_clear(PyObject *op)
{
  EventBatchObject *self = (EventBatchObject *)op;

  event_batch_release(self);
  Py_CLEAR(self->event_type);
  Py_CLEAR(self->template);
  Py_CLEAR(self->stamp);
  return 0;
}

static void EventBatch_dealloc(PyObject *op)
{
  PyTypeObject *tp = Py_TYPE(op);

  PyObject_GC_UnTrack(op);
  (void)EventBatch_clear(op);
  tp->tp_free(op);
  Py_DECREF(tp);
}

static PyMethodDef EventBatch_methods[] = {
    {"clear", EventBatch_clear_method, METH_NOARGS,
     "Drop the events not yet taken: the iteration ends at its next pull."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot EventBatch_slots[] = {
    {Py_tp_dealloc, EventBatch_dealloc},
    {Py_tp_traverse, EventBatch_traverse},
    {Py_tp_clear, EventBatch_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, EventBatch_next},
    {Py_sq_length, EventBatch_len},
    {Py_tp_methods, EventBatch_methods},
    {Py_tp_doc, "The line events of one feed, built as they are iterated."},
    {0, NULL},
};

/* Made only by LineEvents in batch mode. */
static PyType_Spec EventBatch_spec = {
    .name = "cuprum._native.EventBatch",
    .basicsize = sizeof(EventBatchObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = EventBatch_slots,
};

int native_lines_add_type(PyObject *module, native_state *st)
{
  st->line_splitter_type = (PyTypeObject *)PyType_FromModuleAndSpec(
      module, &LineSplitter_spec, NULL);
  if (st->line_splitter_type == NULL)
    return -1;
  st->event_batch_type =
      (PyTypeObject *)PyType_FromModuleAndSpec(module, &EventBatch_spec, NULL);
  return st->event_batch_type == NULL ? -1 : 0;
}

/* A splitter with every field empty and its codec looked up; NULL with an
 * exception on failure.  The caller adds the C splitter and the mode. */
static LineSplitterObject *
splitter_alloc(native_state *st, const char *encoding, const char *errors)
{
  PyTypeObject *tp = st->line_splitter_type;
  LineSplitterObject *self = (LineSplitterObject *)tp->tp_alloc(tp, 0);

  if (self == NULL)
    return NULL;
  if (native_codec_init(st, &self->codec, encoding, errors) < 0) {
    Py_DECREF(self);
    return NULL;
  }
  return self;
}

/* LineSplitter(encoding, errors, callback): a C splitter for codecs whose
 * bytes can be split before decoding, the pure one otherwise. */
PyObject *native_line_splitter(PyObject *module, PyObject *args)
{
  native_state *st = native_state_of(module);
  const char *encoding;
  const char *errors;
  PyObject *callback;
  LineSplitterObject *self;
  int rc;

  if (!PyArg_ParseTuple(args, "ssO:LineSplitter", &encoding, &errors,
                        &callback))
    return NULL;
  if (!PyCallable_Check(callback)) {
    PyErr_SetString(PyExc_TypeError, "LineSplitter callback must be callable");
    return NULL;
  }
  self = splitter_alloc(st, encoding, errors);
  if (self == NULL)
    return NULL;
  if (!self->codec.splittable) {
    PyObject *cls = native_pure_class("LineSplitter", &st->pure_line_splitter);
    Py_DECREF(self);
    return cls == NULL ? NULL : PyObject_Call(cls, args, NULL);
  }
  self->callback = Py_NewRef(callback);
  rc = cuprum_lines_new(&self->lines, deliver_line, self);
  if (rc < 0) {
    Py_DECREF(self);
    return native_raise_code(rc);
  }
  return (PyObject *)self;
}

/* LineEvents(encoding, errors, event_type, template, hooks, pending): a
 * splitter that turns each line straight into an event for the hooks; the
 * pure one when the codec or error policy cannot be split as bytes.  The
 * template must have ExecEvent's number of fields, as the pure one checks. */
PyObject *native_line_events(PyObject *module, PyObject *args)
{
  native_state *st = native_state_of(module);
  const char *encoding;
  const char *errors;
  PyObject *type;
  PyObject *template;
  PyObject *hooks;
  PyObject *pending;
  PyObject *batches = Py_None;
  LineSplitterObject *self;
  int rc;

  if (!PyArg_ParseTuple(args, "ssOO!O!O!|O:LineEvents", &encoding, &errors,
                        &type, &PyTuple_Type, &template, &PyTuple_Type, &hooks,
                        &PyList_Type, &pending, &batches))
    return NULL;
  if (batches != Py_None && !PyCallable_Check(batches)) {
    PyErr_SetString(PyExc_TypeError,
                    "LineEvents batches must be callable or None");
    return NULL;
  }
  if (!PyType_Check(type) ||
      !PyType_IsSubtype((PyTypeObject *)type, &PyTuple_Type) ||
      PyTuple_GET_SIZE(template) != st->event_fields) {
    PyErr_SetString(PyExc_TypeError,
                    "LineEvents needs a tuple subclass and a template of its "
                    "fields");
    return NULL;
  }
  self = splitter_alloc(st, encoding, errors);
  if (self == NULL)
    return NULL;
  if (!self->codec.splittable) {
    /* Codecs and policies whose bytes cannot be split before decoding:
     * the pure LineEvents decodes first, with the same contract. */
    PyObject *cls = native_pure_class("LineEvents", &st->pure_line_events);
    Py_DECREF(self);
    return cls == NULL ? NULL : PyObject_Call(cls, args, NULL);
  }
  if (st->isawaitable == NULL) {
    PyObject *inspect = PyImport_ImportModule("inspect");
    if (inspect == NULL) {
      Py_DECREF(self);
      return NULL;
    }
    st->isawaitable = PyObject_GetAttrString(inspect, "isawaitable");
    Py_DECREF(inspect);
    if (st->isawaitable == NULL) {
      Py_DECREF(self);
      return NULL;
    }
  }
  self->isawaitable = Py_NewRef(st->isawaitable);
  self->event_type = (PyTypeObject *)Py_NewRef(type);
  self->template = Py_NewRef(template);
  self->hooks = Py_NewRef(hooks);
  self->pending = Py_NewRef(pending);
  self->event_timestamp = st->event_timestamp;
  self->event_line = st->event_line;
  if (batches != Py_None) {
    self->batches = Py_NewRef(batches);
    self->batch_type = (PyTypeObject *)Py_NewRef(st->event_batch_type);
  }
  /* From 3.14 a tuple caches its hash, which a refill would leave stale. */
  self->reuse = PY_VERSION_HEX < 0x030E0000 &&
                ((PyTypeObject *)type)->tp_dictoffset == 0 &&
                ((PyTypeObject *)type)->tp_weaklistoffset == 0;
  rc = cuprum_lines_new(&self->lines, deliver_line, self);
  if (rc < 0) {
    Py_DECREF(self);
    return native_raise_code(rc);
  }
  return (PyObject *)self;
}
