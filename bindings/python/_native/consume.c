/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native consume: read a descriptor to its end with cuprum_consume,
 * the GIL released, capturing, teeing and splitting lines as asked.
 */
#include "native.h"

#include <stdarg.h>

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

/* make(module, args) with the arguments built from `format` as by
 * Py_BuildValue: a new reference, or NULL with an exception set. */
static PyObject *make_sink(PyObject *(*make)(PyObject *, PyObject *),
                           PyObject *module, const char *format, ...)
{
  PyObject *args;
  PyObject *sink;
  va_list ap;

  va_start(ap, format);
  args = Py_VaBuildValue(format, ap);
  va_end(ap);
  if (args == NULL)
    return NULL;
  sink = make(module, args);
  Py_DECREF(args);
  return sink;
}

PyObject *native_consume(PyObject *module, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"fd",  "encoding", "errors", "capture",
                           "tee", "on_line",  NULL};
  native_state *st = native_state_of(module);
  int fd;
  const char *encoding = "utf-8";
  const char *errors = "replace";
  int capture = 1;
  PyObject *tee = Py_None;
  PyObject *on_line = Py_None;
  struct consume_ctx ctx = {NULL, NULL, NULL};
  cuprum_consume_opts opts;
  cuprum_capture cap;
  native_codec cd;
  PyObject *result = NULL;
  int rc;

  if (!PyArg_ParseTupleAndKeywords(args, kw, "i|$sspOO:consume", kwlist, &fd,
                                   &encoding, &errors, &capture, &tee,
                                   &on_line))
    return NULL;
  if (native_codec_init(st, &cd, encoding, errors) < 0)
    return NULL;
  cuprum_consume_opts_init(&opts);
  opts.flags = capture ? CUPRUM_CONSUME_CAPTURE : 0;
  if (tee != Py_None) {
    if (PyLong_Check(tee) && !PyBool_Check(tee)) {
      if (native_as_int(tee, &opts.tee_fd) < 0)
        goto out;
    } else {
      ctx.tee =
          make_sink(native_text_tee, module, "(Oss)", tee, encoding, errors);
      if (ctx.tee == NULL)
        goto out;
    }
  }
  if (on_line != Py_None) {
    ctx.splitter = make_sink(native_line_splitter, module, "(ssO)", encoding,
                             errors, on_line);
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
    native_raise_code(rc);
    goto out;
  }
  /* A tee that failed (a closed pipe included) is an error, as a write to
   * that sink from Python would be; the capture itself was completed. */
  if (cap.tee_error < 0) {
    int tee_error = cap.tee_error;
    cuprum_capture_release(&cap);
    native_raise_code(tee_error);
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
    result = native_codec_decode(&cd, cap.data ? cap.data : "", cap.len);
  } else {
    result = Py_NewRef(Py_None);
  }
  cuprum_capture_release(&cap);
out:
  Py_XDECREF(ctx.tee);
  Py_XDECREF(ctx.splitter);
  native_codec_clear(&cd);
  return result;
}
