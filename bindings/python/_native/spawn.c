/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native spawn: starts one child through cuprum_cmd_spawn and
 * hands back a Process, the part of subprocess.Popen that the execution
 * layer's lifecycle (cuprum/_exec/lifecycle.py) uses: pid, returncode,
 * poll(), wait(), send_signal(), plus take_pidfd() for the pidfd
 * libcuprum opened.  Run policy (stop sequence, timeouts, groups, events)
 * stays in Python; this file only supplies the mechanism.
 */
#include "native.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* The values subprocess gives its DEVNULL and STDOUT. */
#define SPAWN_DEVNULL (-3)
#define SPAWN_STDOUT (-2)

typedef struct {
  PyObject_HEAD pid_t pid;
  /* The pidfd until take_pidfd() hands it over, else -1. */
  int pidfd;
  /* 1 once reaped; returncode then holds what Popen would. */
  int reaped;
  int returncode;
} ProcessObject;

/* Popen's returncode for a wait status: the exit status, or minus the
 * signal that ended the child. */
static int status_code(int status)
{
  if (WIFSIGNALED(status))
    return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

static PyObject *returncode_of(const ProcessObject *self)
{
  if (!self->reaped)
    Py_RETURN_NONE;
  return PyLong_FromLong(self->returncode);
}

/* A Process holds no Python object but its type. */
static int Process_traverse(PyObject *op, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(op));
  return 0;
}

static void Process_dealloc(PyObject *op)
{
  ProcessObject *self = (ProcessObject *)op;
  PyTypeObject *tp = Py_TYPE(op);

  PyObject_GC_UnTrack(op);
  if (self->pidfd >= 0)
    close(self->pidfd);
  /* Reap an exited child nobody waited for; never block here. */
  if (!self->reaped && self->pid > 0) {
    int status;
    (void)waitpid(self->pid, &status, WNOHANG);
  }
  tp->tp_free(op);
  Py_DECREF(tp);
}

/* Records the result of waitpid(pid, &status, ...) == r with errno; never
 * over a status already recorded. */
static void record(ProcessObject *self, pid_t r, int status, int err)
{
  if (self->reaped)
    return;
  if (r == self->pid) {
    self->reaped = 1;
    self->returncode = status_code(status);
  } else if (r < 0 && err == ECHILD) {
    /* Reaped elsewhere (SIGCHLD ignored): Popen reports 0 then. */
    self->reaped = 1;
    self->returncode = 0;
  }
}

static PyObject *Process_poll(ProcessObject *self, PyObject *Py_UNUSED(ignored))
{
  if (!self->reaped) {
    int status = 0;
    pid_t r;
    do
      r = waitpid(self->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    record(self, r, status, errno);
  }
  return returncode_of(self);
}

/*
 * Blocks, the GIL released, until the child has exited, but leaves it to
 * be reaped (WNOWAIT); then reaps it with the GIL held, unless another
 * thread's wait() or poll() did meanwhile.  Reaping only with the GIL held
 * is what makes concurrent calls safe, as Popen's lock does: a blocking
 * waitpid() in two threads would hand the status to one and ECHILD (once
 * recorded as 0) to the other, and could reap another child given the
 * pid after the first reaped it.
 */
static PyObject *Process_wait(ProcessObject *self, PyObject *Py_UNUSED(ignored))
{
  const pid_t pid = self->pid;

  while (!self->reaped) {
    siginfo_t info;
    int err;
    int r;
    Py_BEGIN_ALLOW_THREADS r =
        waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT);
    err = errno;
    Py_END_ALLOW_THREADS if (r < 0 && err == EINTR)
    {
      /* As Popen.wait (PEP 475): run the handlers, retry unless one
       * raised. */
      if (PyErr_CheckSignals() < 0)
        return NULL;
      continue;
    }
    if (r < 0 && err != ECHILD) {
      errno = err;
      return PyErr_SetFromErrno(PyExc_OSError);
    }
    /* Exited (or reaped outside this object: ECHILD, recorded as 0). */
    {
      PyObject *code = Process_poll(self, NULL);
      if (code == NULL)
        return NULL;
      Py_DECREF(code);
    }
  }
  return returncode_of(self);
}

static PyObject *Process_send_signal(ProcessObject *self, PyObject *arg)
{
  int sig;
  PyObject *code;

  if (native_as_int(arg, &sig) < 0)
    return NULL;
  /* As Popen.send_signal: never signal a reaped child, whose pid may have
   * been reused; a child that exited unreaped is a zombie, harmless. */
  code = Process_poll(self, NULL);
  if (code == NULL)
    return NULL;
  Py_DECREF(code);
  if (!self->reaped && kill(self->pid, sig) != 0 && errno != ESRCH)
    return PyErr_SetFromErrno(PyExc_OSError);
  Py_RETURN_NONE;
}

static PyObject *Process_take_pidfd(ProcessObject *self,
                                    PyObject *Py_UNUSED(ignored))
{
  int fd = self->pidfd;

  self->pidfd = -1;
  return PyLong_FromLong(fd);
}

static PyObject *Process_get_pid(ProcessObject *self, void *Py_UNUSED(closure))
{
  return PyLong_FromLong((long)self->pid);
}

static PyObject *Process_get_returncode(ProcessObject *self,
                                        void *Py_UNUSED(closure))
{
  return returncode_of(self);
}

static PyMethodDef Process_methods[] = {
    {"poll", (PyCFunction)Process_poll, METH_NOARGS,
     "Reap the child if it has exited; its returncode or None."},
    {"wait", (PyCFunction)Process_wait, METH_NOARGS,
     "Block until the child exits; its returncode."},
    {"send_signal", (PyCFunction)Process_send_signal, METH_O,
     "Send a signal unless the child was reaped."},
    {"take_pidfd", (PyCFunction)Process_take_pidfd, METH_NOARGS,
     "Hand over the child's pidfd (-1: none); the caller closes it."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Process_getset[] = {
    {"pid", (getter)Process_get_pid, NULL, "The child's process id.", NULL},
    {"returncode", (getter)Process_get_returncode, NULL,
     "None until reaped; then the exit status, or minus the signal.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Process_slots[] = {
    {Py_tp_dealloc, Process_dealloc},
    {Py_tp_traverse, Process_traverse},
    {Py_tp_methods, Process_methods},
    {Py_tp_getset, Process_getset},
    {Py_tp_doc, "A child started by spawn(), reaped by poll() or wait()."},
    {0, NULL},
};

/* Made only by the module's spawn(). */
static PyType_Spec Process_spec = {
    .name = "cuprum._native.Process",
    .basicsize = sizeof(ProcessObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Process_slots,
};

int native_spawn_add_type(PyObject *module, native_state *st)
{
  st->process_type =
      (PyTypeObject *)PyType_FromModuleAndSpec(module, &Process_spec, NULL);
  return st->process_type == NULL ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * spawn()
 */

/* Sets the exception for a cuprum_cmd_* code about the arguments. */
static int arg_error(int rc, const char *what)
{
  if (rc == -EINVAL) {
    PyErr_Format(PyExc_ValueError, "illegal %s", what);
    return -1;
  }
  native_raise_code(rc);
  return -1;
}

/* Connects `stream` of cmd to what obj says (see spawn's doc). */
static int set_stream(cuprum_cmd *cmd, int stream, PyObject *obj)
{
  int fd;
  int rc;

  if (obj == Py_None)
    rc = cuprum_cmd_redirect(cmd, stream, CUPRUM_STDIO_INHERIT);
  else {
    if (native_as_int(obj, &fd) < 0)
      return -1;
    if (fd >= 0)
      rc = cuprum_cmd_redirect_fd(cmd, stream, fd);
    else if (fd == SPAWN_DEVNULL)
      rc = cuprum_cmd_redirect(cmd, stream, CUPRUM_STDIO_NULL);
    else if (fd == SPAWN_STDOUT && stream == CUPRUM_STDERR)
      rc = cuprum_cmd_redirect(cmd, stream, CUPRUM_STDIO_STDOUT);
    else {
      PyErr_Format(PyExc_ValueError,
                   "spawn: bad value %d for stream %d: a descriptor, None, "
                   "DEVNULL or (stderr only) STDOUT",
                   fd, stream);
      return -1;
    }
  }
  return rc < 0 ? arg_error(rc, "stream") : 0;
}

/* Builds the command's argv: a NULL-terminated array of the encoded
 * arguments, each owned by `keep` (a list). */
static int make_cmd(PyObject *argv, PyObject *keep, cuprum_cmd **out)
{
  PyObject *seq = PySequence_Fast(argv, "spawn: argv must be a sequence");
  Py_ssize_t n;
  const char **v;
  int rc = -1;

  if (seq == NULL)
    return -1;
  n = PySequence_Fast_GET_SIZE(seq);
  if (n == 0) {
    PyErr_SetString(PyExc_ValueError, "spawn: argv is empty");
    Py_DECREF(seq);
    return -1;
  }
  v = PyMem_Malloc(((size_t)n + 1) * sizeof(*v));
  if (v == NULL) {
    Py_DECREF(seq);
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *enc = NULL;
    if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, i), &enc))
      goto out;
    if (PyList_Append(keep, enc) < 0) {
      Py_DECREF(enc);
      goto out;
    }
    v[i] = PyBytes_AS_STRING(enc);
    Py_DECREF(enc);
  }
  v[n] = NULL;
  rc = cuprum_cmd_new(out, v);
  if (rc < 0) {
    /* -EINVAL: an empty program, which exec would refuse as ENOENT. */
    if (rc == -EINVAL) {
      errno = ENOENT;
      PyErr_SetFromErrnoWithFilename(PyExc_OSError, v[0]);
    } else
      native_raise_code(rc);
    rc = -1;
  }
out:
  PyMem_Free(v);
  Py_DECREF(seq);
  return rc;
}

/* Applies env (a mapping, the child's whole environment) to cmd. */
static int set_env(cuprum_cmd *cmd, PyObject *env)
{
  PyObject *items;
  int rc = cuprum_cmd_clearenv(cmd);

  if (rc < 0)
    return arg_error(rc, "environment");
  items = PyMapping_Items(env);
  if (items == NULL)
    return -1;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
    PyObject *kv = PyList_GET_ITEM(items, i);
    PyObject *k = NULL;
    PyObject *v = NULL;
    if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2) {
      PyErr_SetString(PyExc_TypeError, "spawn: env items must be pairs");
      rc = -1;
    } else if (!PyUnicode_FSConverter(PyTuple_GET_ITEM(kv, 0), &k) ||
               !PyUnicode_FSConverter(PyTuple_GET_ITEM(kv, 1), &v)) {
      rc = -1;
    } else {
      rc = cuprum_cmd_setenv(cmd, PyBytes_AS_STRING(k), PyBytes_AS_STRING(v));
      if (rc < 0)
        rc = arg_error(rc, "environment variable name");
    }
    Py_XDECREF(k);
    Py_XDECREF(v);
    if (rc < 0)
      break;
  }
  Py_DECREF(items);
  return rc;
}

/* 1 when chdir(dir) would succeed: a directory we may search. */
static int enterable(const char *dir)
{
  struct stat sb;
  return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && access(dir, X_OK) == 0;
}

/*
 * The OSError of a failed spawn, with the filename Popen gives: the
 * working directory when it is what failed, else the program.
 */
static PyObject *spawn_error(int rc, PyObject *program, PyObject *cwd,
                             PyObject *cwd_bytes)
{
  if (rc >= 0 || rc <= -4096)
    return native_raise_code(rc);
  if (cwd_bytes != NULL && !enterable(PyBytes_AS_STRING(cwd_bytes))) {
    errno = -rc;
    return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, cwd);
  }
  errno = -rc;
  return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, program);
}

PyObject *native_spawn(PyObject *module, PyObject *args, PyObject *kw)
{
  static char *kwlist[] = {"argv", "stdin", "stdout",        "stderr",
                           "cwd",  "env",   "process_group", NULL};
  native_state *st = native_state_of(module);
  PyObject *argv;
  PyObject *streams[3] = {Py_None, Py_None, Py_None};
  PyObject *cwd = Py_None;
  PyObject *env = Py_None;
  PyObject *group = Py_None;
  PyObject *keep = NULL;
  PyObject *cwd_bytes = NULL;
  PyObject *result = NULL;
  cuprum_cmd *cmd = NULL;
  /* As Popen(restore_signals=True): the caller's mask and ignored signals
   * kept, SIGPIPE and SIGXFSZ (which Python ignores) reset. */
  unsigned flags = CUPRUM_SPAWN_KEEP_SIGNALS;
  int pgid = 0;
  pid_t pid;
  int pidfd;
  int rc;

  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$OOOOOO:spawn", kwlist, &argv,
                                   &streams[0], &streams[1], &streams[2], &cwd,
                                   &env, &group))
    return NULL;
  if (group != Py_None) {
    if (native_as_int(group, &pgid) < 0)
      return NULL;
    flags |= CUPRUM_SPAWN_PGROUP;
  }
  keep = PyList_New(0);
  if (keep == NULL)
    return NULL;
  if (make_cmd(argv, keep, &cmd) < 0)
    goto out;
  for (int t = 0; t < 3; t++)
    if (set_stream(cmd, t, streams[t]) < 0)
      goto out;
  if (cwd != Py_None) {
    if (!PyUnicode_FSConverter(cwd, &cwd_bytes))
      goto out;
    if ((rc = cuprum_cmd_chdir(cmd, PyBytes_AS_STRING(cwd_bytes))) < 0) {
      native_raise_code(rc);
      goto out;
    }
  }
  if (env != Py_None && set_env(cmd, env) < 0)
    goto out;
  Py_BEGIN_ALLOW_THREADS rc =
      cuprum_cmd_spawn(cmd, flags, (pid_t)pgid, &pid, &pidfd);
  Py_END_ALLOW_THREADS if (rc < 0)
  {
    PyObject *program = PySequence_GetItem(argv, 0);
    if (program != NULL) {
      spawn_error(rc, program, cwd, cwd_bytes);
      Py_DECREF(program);
    }
    goto out;
  }
  {
    ProcessObject *p =
        (ProcessObject *)st->process_type->tp_alloc(st->process_type, 0);
    if (p == NULL) {
      /* The child runs, but nobody can reach it: stop and reap it. */
      int status;
      if (pidfd >= 0)
        close(pidfd);
      (void)kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
      goto out;
    }
    p->pid = pid;
    p->pidfd = pidfd;
    p->reaped = 0;
    p->returncode = 0;
    result = (PyObject *)p;
  }
out:
  cuprum_cmd_free(cmd);
  Py_XDECREF(cwd_bytes);
  Py_DECREF(keep);
  return result;
}
