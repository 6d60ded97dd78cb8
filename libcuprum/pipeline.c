/* SPDX-License-Identifier: ISC */
/*
 * pipeline.c - runs commands joined by pipes: spawning with posix_spawn,
 * signalling and reaping through pidfds (by pid, on a tick, where there are
 * none),
 * and one non-blocking step engine that both the event-loop API and the
 * blocking cuprum_pipeline_run() drive.
 */
#include "config.h"

#include "cuprum-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Reads go into this much scratch when not capturing. */
#define SCRATCH_SIZE ((size_t)64 << 10)
/* The first capture buffer. */
#define CAPTURE_FIRST ((size_t)64 << 10)
/* From this size on a capture buffer is a map of its own, grown by mremap:
 * its size is kept a whole number of huge pages, and it is advised for
 * them.  The C library maps a request of its own only above its mmap
 * threshold, which rises (to at most 32 MiB on 64-bit systems) each time a
 * mapped block is freed; below it a block comes from the heap, where
 * growing copies and freed pages are given back and faulted in again (a
 * program capturing again and again after freeing an earlier capture).
 * So with the C library's allocator the first such block is CAPTURE_MAP,
 * above every threshold the C library sets by itself: address space only,
 * its pages are touched as the capture fills them, and a taken capture is
 * trimmed to its length. */
#define CAPTURE_HUGE ((size_t)4 << 20)
/* Twice glibc's largest threshold, 4 MiB * sizeof(long): 64 MiB on 64-bit
 * systems, 32 MiB on 32-bit ones, whose address space is scarcer. */
#define CAPTURE_MAP (((size_t)8 << 20) * sizeof(long))
#define HUGE_PAGE ((size_t)2 << 20)
/* What the C library's block header may take of a map, at most. */
#define MAP_SLACK ((size_t)64)
/* Each pipe the pipeline reads (a stage's stdout or stderr) grows to this
 * size, for fewer wakeups, once GROW_AFTER bytes came through it: a short
 * output never pays the enlarging's system calls, nor holds 1 MiB of an
 * unprivileged user's pipe-user-pages-soft quota, past which every new
 * pipe of that user, whoever makes it, gets 8 KiB. */
#define PIPE_SIZE ((size_t)1 << 20)
#define GROW_AFTER ((uint64_t)64 << 10)
/* How often unreaped stages are polled without a pidfd, in ms. */
#define REAP_TICK_MS 5
/* Reads per output per step, so one busy stream cannot starve others. */
#define READS_PER_STEP 16

enum state { ST_NEW, ST_RUNNING, ST_DONE, ST_FAILED };

struct out {
  cuprum_pipeline *pl;
  size_t stage;
  int stream;
  int fd;
  char *buf;
  size_t len;
  size_t cap;
  /* buf's pages below this offset are touched (cuprum__prefault). */
  size_t touched;
  uint64_t total;
  int tee_error;
  int tee_off;
  cuprum_lines *lines;
};

struct stage {
  cuprum_cmd *cmd;
  pid_t pid;
  int pidfd;
  int reaped;
  /* Reaped by someone else (SIGCHLD ignored, or a waitpid(-1) elsewhere):
   * ended, with its status unknown. */
  int lost;
  int status;
  cuprum_stop stop;
  struct out out[2];
};

struct sink {
  int capture;
  size_t limit;
  int tee;
  cuprum_output_fn chunk_fn;
  void *chunk_ctx;
  cuprum_output_fn line_fn;
  void *line_ctx;
  size_t line_max;
};

struct cuprum_pipeline {
  struct stage *st;
  size_t n;
  size_t cap;
  enum state state;
  unsigned flags;
  /* Input: a lent buffer written through in_fd, or a lent descriptor. */
  const char *in_data;
  size_t in_len;
  size_t in_off;
  int in_buf_set;
  int in_lent_fd;
  int in_fd;
  struct sink sink[2];
  int64_t timeout_ms;
  int64_t grace_ms;
  int64_t deadline;
  int64_t kill_at;
  int stopping;
  int killed;
  pid_t pgid;
  long failed_stage;
  /* Why cuprum began to stop the run, if it did (cuprum_pipeline_stopped). */
  cuprum_stop stopped;
  char *scratch;
  /* 1 while an on_line callback is handed a piece of a longer line. */
  int line_partial;
  /* Busy while one of the pipeline's callbacks runs (never more than one:
   * a callback cannot step its pipeline); a free from it ends the run, and
   * the step that ran it releases the pipeline. */
  struct cuprum__guard guard;
};

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* now + ms for a deadline, saturated: INT64_MAX is never reached. */
static int64_t later(int64_t now, int64_t ms)
{
  return ms > INT64_MAX - now ? INT64_MAX : now + ms;
}

static void close_fd(int *fd)
{
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static int sink_index(int stream)
{
  if (stream == CUPRUM_STDOUT)
    return 0;
  if (stream == CUPRUM_STDERR)
    return 1;
  return -1;
}

int cuprum_pipeline_new(cuprum_pipeline **out)
{
  cuprum_pipeline *pl;

  if (out == NULL)
    return CUPRUM_ENULL;
  *out = NULL;
  pl = cuprum__malloc(sizeof(*pl));
  if (pl == NULL)
    return -ENOMEM;
  memset(pl, 0, sizeof(*pl));
  pl->in_lent_fd = -1;
  pl->in_fd = -1;
  for (int i = 0; i < 2; i++) {
    pl->sink[i].tee = -1;
    pl->sink[i].line_max = CUPRUM_LINE_UNLIMITED;
  }
  pl->timeout_ms = -1;
  pl->grace_ms = 1000;
  pl->deadline = -1;
  pl->kill_at = -1;
  pl->failed_stage = -1;
  *out = pl;
  return 0;
}

/* Signals one stage not reaped yet: through its pidfd where it has one, so
 * that a stage someone else reaped is never confused with a later process
 * given the same pid; by pid otherwise. */
static int signal_stage(cuprum_pipeline *pl, struct stage *s, int sig)
{
  (void)pl;
  if (s->pid <= 0 || s->reaped)
    return 0;
#ifdef SYS_pidfd_send_signal
  if (s->pidfd >= 0) {
    /* ESRCH: reaped by someone else, its pid no longer its own.  Any other
     * refusal (ENOSYS, EPERM from a seccomp filter) falls back to the pid,
     * which the unreaped stage still holds. */
    if (syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, 0) == 0)
      return 0;
    if (errno == ESRCH)
      return -1;
  }
#endif
  return kill(s->pid, sig);
}

static void signal_all(cuprum_pipeline *pl, int sig)
{
  if (pl->pgid > 0)
    kill(-pl->pgid, sig);
  for (size_t i = 0; i < pl->n; i++)
    signal_stage(pl, &pl->st[i], sig);
}

/* The kernel's P_PIDFD (Linux 5.4), which some C libraries do not name. */
#define WAIT_PIDFD ((idtype_t)3)

/* Waits for stage s (`options`: WNOHANG, WNOWAIT) through its pidfd where
 * it has one, so that a stage someone else reaped is never confused with a
 * later child given the same pid; by pid otherwise, or where the kernel
 * predates P_PIDFD.  Returns 1 with its status in *status (as waitpid
 * gives it), 0 while it runs (WNOHANG), or -1 with errno set (ECHILD:
 * reaped by someone else). */
static int wait_stage(const struct stage *s, int options, int *status)
{
  siginfo_t info;
  int rc = -1;

  memset(&info, 0, sizeof(info));
  if (s->pidfd >= 0) {
    do
      rc = waitid(WAIT_PIDFD, (id_t)s->pidfd, &info, WEXITED | options);
    while (rc == -1 && errno == EINTR);
  }
  if (s->pidfd < 0 || (rc == -1 && errno == EINVAL)) {
    do
      rc = waitid(P_PID, (id_t)s->pid, &info, WEXITED | options);
    while (rc == -1 && errno == EINTR);
  }
  if (rc != 0)
    return -1;
  if (info.si_pid == 0)
    return 0;
  if (info.si_code == CLD_EXITED)
    *status = (info.si_status & 0xff) << 8;
  else
    *status = (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
  return 1;
}

/* 1 when the stage has exited (or cannot be waited for) but is not reaped
 * yet: a stop decided now did not end it, so it gets no stop reason.  The
 * child stays unreaped (WNOWAIT) for reap() to collect. */
static int exited(const struct stage *s)
{
  int status;
  return wait_stage(s, WNOHANG | WNOWAIT, &status) != 0;
}

/* Gives every stage still running the stop reason `why`, unless it has
 * one already or has already exited on its own. */
static void mark_stopped(cuprum_pipeline *pl, cuprum_stop why)
{
  for (size_t i = 0; i < pl->n; i++) {
    struct stage *s = &pl->st[i];
    if (s->pid > 0 && !s->reaped && s->stop == CUPRUM_STOP_NONE && !exited(s))
      s->stop = why;
  }
}

static void record_status(struct stage *s, int status)
{
  s->reaped = 1;
  s->status = status;
  close_fd(&s->pidfd);
}

/* A wait that failed with ECHILD: the child is gone, collected
 * by someone else, so its status is unknown (it counts as no failure). */
static void record_lost(struct stage *s)
{
  record_status(s, 0);
  s->lost = 1;
}

/* Kills every stage still running and reaps it, blocking: the way out of
 * errors and of cuprum_pipeline_free on a running pipeline. */
static void kill_and_reap(cuprum_pipeline *pl, cuprum_stop why)
{
  if (pl->stopped == CUPRUM_STOP_NONE)
    pl->stopped = why;
  mark_stopped(pl, why);
  signal_all(pl, SIGKILL);
  for (size_t i = 0; i < pl->n; i++) {
    struct stage *s = &pl->st[i];
    int status = 0;
    if (s->pid <= 0 || s->reaped)
      continue;
    if (wait_stage(s, 0, &status) == 1)
      record_status(s, status);
    else
      record_lost(s);
  }
}

static void release_out(struct out *o)
{
  close_fd(&o->fd);
  cuprum__free(o->buf);
  o->buf = NULL;
  o->len = o->cap = o->touched = 0;
  cuprum_lines_free(o->lines);
  o->lines = NULL;
}

static void close_io(cuprum_pipeline *pl)
{
  close_fd(&pl->in_fd);
  for (size_t i = 0; i < pl->n; i++)
    for (int k = 0; k < 2; k++) {
      close_fd(&pl->st[i].out[k].fd);
      cuprum_lines_free(pl->st[i].out[k].lines);
      pl->st[i].out[k].lines = NULL;
    }
  cuprum__free(pl->scratch);
  pl->scratch = NULL;
}

static void release(cuprum_pipeline *pl)
{
  if (pl->state == ST_RUNNING)
    kill_and_reap(pl, CUPRUM_STOP_CANCEL);
  close_io(pl);
  for (size_t i = 0; i < pl->n; i++) {
    for (int k = 0; k < 2; k++)
      release_out(&pl->st[i].out[k]);
    close_fd(&pl->st[i].pidfd);
    cuprum__cmd_release(pl->st[i].cmd);
  }
  cuprum__free(pl->st);
  cuprum__free(pl);
}

void cuprum_pipeline_free(cuprum_pipeline *pl)
{
  if (pl == NULL)
    return;
  /* The step running the callback still uses the pipeline: it ends the
   * run as for a stop code and releases it before it returns. */
  if (cuprum__guard_defer_free(&pl->guard))
    return;
  release(pl);
}

int cuprum_pipeline_add(cuprum_pipeline *pl, cuprum_cmd *cmd)
{
  struct stage *s;

  if (pl == NULL || cmd == NULL)
    return CUPRUM_ENULL;
  if (pl->guard.busy)
    return -EBUSY;
  if (pl->state != ST_NEW || cmd->owned)
    return CUPRUM_ESTATE;
  if (pl->n == pl->cap) {
    size_t cap = pl->cap ? pl->cap * 2 : 4;
    struct stage *ns = cuprum__realloc(pl->st, cap * sizeof(*ns));
    if (ns == NULL)
      return -ENOMEM;
    pl->st = ns;
    pl->cap = cap;
  }
  s = &pl->st[pl->n];
  memset(s, 0, sizeof(*s));
  s->cmd = cmd;
  cmd->owned = 1;
  s->pid = -1;
  s->pidfd = -1;
  for (int k = 0; k < 2; k++) {
    s->out[k].pl = pl;
    s->out[k].stage = pl->n;
    s->out[k].stream = k == 0 ? CUPRUM_STDOUT : CUPRUM_STDERR;
    s->out[k].fd = -1;
  }
  pl->n++;
  return 0;
}

size_t cuprum_pipeline_size(const cuprum_pipeline *pl)
{
  return pl == NULL ? 0 : pl->n;
}

int cuprum_pipeline_set_input(cuprum_pipeline *pl, const void *data, size_t len)
{
  if (pl == NULL || (data == NULL && len > 0))
    return CUPRUM_ENULL;
  if (pl->guard.busy)
    return -EBUSY;
  if (pl->state != ST_NEW)
    return CUPRUM_ESTATE;
  pl->in_data = data;
  pl->in_len = len;
  pl->in_buf_set = 1;
  pl->in_lent_fd = -1;
  return 0;
}

int cuprum_pipeline_set_input_fd(cuprum_pipeline *pl, int fd)
{
  if (pl == NULL)
    return CUPRUM_ENULL;
  if (fd < 0)
    return -EBADF;
  if (pl->guard.busy)
    return -EBUSY;
  if (pl->state != ST_NEW)
    return CUPRUM_ESTATE;
  pl->in_lent_fd = fd;
  pl->in_buf_set = 0;
  return 0;
}

/* The sink of `stream` for a setter whose other argument is `valid`. */
static int sink_for(cuprum_pipeline *pl, int stream, int valid,
                    struct sink **out)
{
  int k;
  if (pl == NULL)
    return CUPRUM_ENULL;
  k = sink_index(stream);
  if (k < 0 || !valid)
    return -EINVAL;
  if (pl->guard.busy)
    return -EBUSY;
  if (pl->state != ST_NEW)
    return CUPRUM_ESTATE;
  *out = &pl->sink[k];
  return 0;
}

int cuprum_pipeline_capture(cuprum_pipeline *pl, int stream, size_t limit)
{
  struct sink *s;
  int rc = sink_for(pl, stream, 1, &s);
  if (rc < 0)
    return rc;
  s->capture = limit > 0;
  s->limit = limit;
  return 0;
}

int cuprum_pipeline_tee(cuprum_pipeline *pl, int stream, int fd)
{
  struct sink *s;
  int rc = sink_for(pl, stream, fd >= -1, &s);
  if (rc < 0)
    return rc;
  s->tee = fd;
  return 0;
}

int cuprum_pipeline_on_chunk(cuprum_pipeline *pl, int stream,
                             cuprum_output_fn fn, void *ctx)
{
  struct sink *s;
  int rc = sink_for(pl, stream, 1, &s);
  if (rc < 0)
    return rc;
  s->chunk_fn = fn;
  s->chunk_ctx = ctx;
  return 0;
}

int cuprum_pipeline_on_line(cuprum_pipeline *pl, int stream,
                            cuprum_output_fn fn, void *ctx)
{
  struct sink *s;
  int rc = sink_for(pl, stream, 1, &s);
  if (rc < 0)
    return rc;
  s->line_fn = fn;
  s->line_ctx = ctx;
  return 0;
}

int cuprum_pipeline_set_line_max(cuprum_pipeline *pl, int stream, size_t max)
{
  struct sink *s;
  int rc = sink_for(pl, stream, max > 0, &s);
  if (rc < 0)
    return rc;
  s->line_max = max;
  return 0;
}

int cuprum_pipeline_line_partial(const cuprum_pipeline *pl)
{
  return pl != NULL && pl->line_partial;
}

int cuprum_pipeline_set_timeout(cuprum_pipeline *pl, int64_t timeout_ms,
                                int64_t grace_ms)
{
  if (pl == NULL)
    return CUPRUM_ENULL;
  if (grace_ms < 0)
    return -EINVAL;
  if (pl->guard.busy)
    return -EBUSY;
  if (pl->state != ST_NEW)
    return CUPRUM_ESTATE;
  pl->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
  pl->grace_ms = grace_ms;
  return 0;
}

int cuprum_pipeline_set_flags(cuprum_pipeline *pl, unsigned flags)
{
  if (pl == NULL)
    return CUPRUM_ENULL;
  if ((flags & ~(CUPRUM_PIPELINE_FAIL_FAST | CUPRUM_PIPELINE_NEW_PGROUP)) != 0)
    return CUPRUM_EFLAGS;
  if (pl->guard.busy)
    return -EBUSY;
  if (pl->state != ST_NEW)
    return CUPRUM_ESTATE;
  pl->flags = flags;
  return 0;
}

/* ------------------------------------------------------------------------
 * Start
 */

static int sink_wanted(const struct sink *s)
{
  return s->capture || s->tee >= 0 || s->chunk_fn != NULL || s->line_fn != NULL;
}

/* Enlarges a pipe; failure (the quota, an old kernel) leaves the default
 * size, which still works, only slower. */
static void grow(int fd)
{
  int rc = cuprum_pipe_grow(fd, PIPE_SIZE);
  (void)rc;
}

static int make_pipe(int fds[2])
{
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -errno;
  return 0;
}

/* Calls one of the pipeline's callbacks and maps its return to a library
 * code.  A free from inside it stops the run as a stop code would. */
static int call_back(cuprum_pipeline *pl, cuprum_output_fn fn, void *ctx,
                     const struct out *o, const char *data, size_t len)
{
  pl->guard.busy = 1;
  return cuprum__guard_leave(
      &pl->guard,
      cuprum__callback_code(fn(ctx, o->stage, o->stream, data, len)));
}

static int line_trampoline(void *ctx, const char *line, size_t len)
{
  struct out *o = ctx;
  const struct sink *s = &o->pl->sink[o->stream == CUPRUM_STDOUT ? 0 : 1];
  int rc;

  o->pl->line_partial = cuprum_lines_partial(o->lines);
  rc = call_back(o->pl, s->line_fn, s->line_ctx, o, line, len);
  o->pl->line_partial = 0;
  return rc;
}

/* Makes the parent's reading end for output k of stage i; stores the
 * child's end in *child. */
static int open_out(cuprum_pipeline *pl, size_t i, int k, int *child)
{
  struct out *o = &pl->st[i].out[k];
  int fds[2];
  int rc = make_pipe(fds);
  if (rc < 0)
    return rc;
  if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
    rc = -errno;
    close(fds[0]);
    close(fds[1]);
    return rc;
  }
  o->fd = fds[0];
  *child = fds[1];
  if (pl->sink[k].line_fn != NULL) {
    rc = cuprum_lines_new(&o->lines, line_trampoline, o);
    if (rc == 0)
      rc = cuprum_lines_set_max(o->lines, pl->sink[k].line_max);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int spawn_stage(cuprum_pipeline *pl, size_t i,
                       const struct cuprum__stdio io[3])
{
  struct stage *s = &pl->st[i];
  pid_t pgroup = CUPRUM__NO_PGROUP;
  int rc;

  if ((pl->flags & CUPRUM_PIPELINE_NEW_PGROUP) != 0)
    pgroup = pl->pgid > 0 ? pl->pgid : 0;
  rc = cuprum__spawn(s->cmd, io, pgroup, 0, &s->pid, &s->pidfd);
  /* The group is gone: every stage in it has ended and been reaped (by
   * the kernel, when the caller ignores SIGCHLD), so nothing is left for a
   * stop to reach there.  This stage leads a new group, which the later
   * stages join.  Any other EPERM (an exec or open refused) stands. */
  if (rc == -EPERM && pgroup > 0 && kill(-pgroup, 0) == -1 && errno == ESRCH) {
    pgroup = 0;
    rc = cuprum__spawn(s->cmd, io, pgroup, 0, &s->pid, &s->pidfd);
    if (rc == 0)
      pl->pgid = s->pid;
  }
  if (rc < 0)
    return rc;
  if ((pl->flags & CUPRUM_PIPELINE_NEW_PGROUP) != 0 && pl->pgid <= 0)
    pl->pgid = s->pid;
  return 0;
}

static void plan_from_cmd(const struct cuprum__redir *r,
                          struct cuprum__stdio *p)
{
  p->how = r->how;
  p->fd = r->fd;
  p->path = r->path;
  p->flags = r->flags;
}

static int start_stages(cuprum_pipeline *pl)
{
  int join_read = -1; /* read end of the pipe from the previous stage */
  int rc = 0;

  for (size_t i = 0; i < pl->n && rc == 0; i++) {
    struct stage *s = &pl->st[i];
    struct cuprum__stdio io[3];
    int child_fds[3] = {-1, -1, -1};
    int join[2] = {-1, -1};
    int last = i + 1 == pl->n;

    for (int t = 0; t < 3; t++)
      plan_from_cmd(&s->cmd->io[t], &io[t]);
    /* stdin */
    if (io[0].how == CUPRUM_STDIO_DEFAULT) {
      if (i > 0) {
        io[0].how = CUPRUM__STDIO_FD;
        io[0].fd = join_read;
      } else if (pl->in_lent_fd >= 0) {
        io[0].how = CUPRUM__STDIO_FD;
        io[0].fd = pl->in_lent_fd;
      } else if (pl->in_buf_set) {
        int fds[2];
        if ((rc = make_pipe(fds)) < 0)
          break;
        pl->in_fd = fds[1];
        child_fds[0] = fds[0];
        io[0].how = CUPRUM__STDIO_FD;
        io[0].fd = fds[0];
        if (fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) {
          rc = -errno;
          close(fds[0]);
          break;
        }
      }
    }
    /* stdout */
    if (!last && (rc = make_pipe(join)) < 0) {
      close_fd(&child_fds[0]);
      break;
    }
    /* The pipes between stages keep the kernel's 64 KiB: its pages stay
     * in cache, where 1 MiB made four cats cost 1.5x the CPU time. */
    if (io[1].how == CUPRUM_STDIO_DEFAULT) {
      if (!last) {
        io[1].how = CUPRUM__STDIO_FD;
        io[1].fd = join[1];
      } else if (sink_wanted(&pl->sink[0])) {
        io[1].how = CUPRUM_STDIO_PIPE;
      }
    }
    if (io[1].how == CUPRUM_STDIO_PIPE &&
        (rc = open_out(pl, i, 0, &child_fds[1])) == 0) {
      io[1].how = CUPRUM__STDIO_FD;
      io[1].fd = child_fds[1];
    }
    /* stderr */
    if (rc == 0 && io[2].how == CUPRUM_STDIO_DEFAULT &&
        sink_wanted(&pl->sink[1]))
      io[2].how = CUPRUM_STDIO_PIPE;
    if (rc == 0 && io[2].how == CUPRUM_STDIO_PIPE &&
        (rc = open_out(pl, i, 1, &child_fds[2])) == 0) {
      io[2].how = CUPRUM__STDIO_FD;
      io[2].fd = child_fds[2];
    }
    if (rc == 0) {
      rc = spawn_stage(pl, i, io);
      if (rc < 0)
        pl->failed_stage = (long)i;
    }
    /* The children hold their own copies now. */
    for (int t = 0; t < 3; t++)
      close_fd(&child_fds[t]);
    close_fd(&join_read);
    close_fd(&join[1]);
    join_read = join[0];
  }
  close_fd(&join_read);
  return rc;
}

int cuprum_pipeline_start(cuprum_pipeline *pl)
{
  int rc;

  if (pl == NULL)
    return CUPRUM_ENULL;
  if (pl->guard.busy)
    return -EBUSY;
  if (pl->state != ST_NEW || pl->n == 0)
    return CUPRUM_ESTATE;
  if ((pl->in_buf_set || pl->in_lent_fd >= 0) &&
      pl->st[0].cmd->io[0].how != CUPRUM_STDIO_DEFAULT)
    return -EINVAL;
  pl->scratch = cuprum__malloc(SCRATCH_SIZE);
  if (pl->scratch == NULL)
    return -ENOMEM;
  rc = start_stages(pl);
  if (rc < 0) {
    kill_and_reap(pl, CUPRUM_STOP_CANCEL);
    close_io(pl);
    for (size_t i = 0; i < pl->n; i++)
      for (int k = 0; k < 2; k++)
        release_out(&pl->st[i].out[k]);
    pl->state = ST_FAILED;
    return rc;
  }
  pl->state = ST_RUNNING;
  if (pl->in_buf_set && pl->in_len == 0)
    close_fd(&pl->in_fd);
  if (pl->timeout_ms >= 0)
    pl->deadline = later(now_ms(), pl->timeout_ms);
  return 0;
}

/* ------------------------------------------------------------------------
 * The step engine
 */

static void begin_stop(cuprum_pipeline *pl, cuprum_stop why)
{
  if (pl->stopping)
    return;
  pl->stopping = 1;
  pl->stopped = why;
  mark_stopped(pl, why);
  if (pl->grace_ms == 0) {
    signal_all(pl, SIGKILL);
    pl->killed = 1;
    return;
  }
  signal_all(pl, SIGTERM);
  /* A stopped stage (SIGSTOP, or SIGTTIN reading the terminal from a new
   * process group) acts on SIGTERM only once continued, as timeout(1)
   * has it. */
  signal_all(pl, SIGCONT);
  pl->kill_at = later(now_ms(), pl->grace_ms);
}

static int write_input(cuprum_pipeline *pl)
{
  cuprum__sigpipe_guard guard;
  int epipe = 0;
  int rc = 0;

  if (pl->in_fd < 0)
    return 0;
  cuprum__sigpipe_block(&guard);
  while (pl->in_off < pl->in_len) {
    ssize_t n =
        write(pl->in_fd, pl->in_data + pl->in_off, pl->in_len - pl->in_off);
    if (n >= 0) {
      pl->in_off += (size_t)n;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      break;
    if (errno == EPIPE) {
      /* The first stage closed its stdin early: the rest is dropped. */
      epipe = 1;
      pl->in_off = pl->in_len;
      break;
    }
    rc = -errno;
    break;
  }
  cuprum__sigpipe_restore(&guard, epipe);
  if (pl->in_off >= pl->in_len || rc < 0)
    close_fd(&pl->in_fd);
  return rc;
}

static int deliver(cuprum_pipeline *pl, struct out *o, const char *p, size_t n)
{
  const struct sink *s = &pl->sink[o->stream == CUPRUM_STDOUT ? 0 : 1];
  int rc;

  if (s->tee >= 0 && !o->tee_off) {
    rc = cuprum_write_all(s->tee, p, n, NULL);
    if (rc < 0) {
      o->tee_error = rc;
      o->tee_off = 1;
    }
  }
  if (s->chunk_fn != NULL) {
    rc = call_back(pl, s->chunk_fn, s->chunk_ctx, o, p, n);
    if (rc < 0)
      return rc;
  }
  if (o->lines != NULL) {
    rc = cuprum_lines_feed(o->lines, p, n);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Advises a large capture block for transparent huge pages, from the page
 * holding its start to the page holding its end: that is the whole map the
 * C library made for it (advising only part would split the map, and
 * mremap cannot grow a split map).  Filling 256 MiB of fresh memory
 * otherwise costs 65536 page faults, more than the reads themselves.  Only
 * with the C library's allocator (a caller's allocator may place blocks
 * anywhere), and a hint only: failures are ignored. */
static void advise_huge(char *buf, size_t cap)
{
#ifdef MADV_HUGEPAGE
  long size = sysconf(_SC_PAGESIZE);
  uintptr_t page = size > 0 ? (uintptr_t)size : 4096;
  uintptr_t start = (uintptr_t)buf & ~(page - 1);
  uintptr_t end = ((uintptr_t)buf + cap + page - 1) & ~(page - 1);

  if (cap >= CAPTURE_HUGE && cuprum__allocator_is_libc())
    (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
  (void)buf;
  (void)cap;
#endif
}

/* Grows the capture buffer so it has room for a read; 0 or -ENOMEM. */
static int capture_room(struct out *o, size_t limit)
{
  size_t cap;
  char *nb;

  if (o->cap - o->len > 1)
    return 0;
  cap = o->cap ? o->cap * 2 : CAPTURE_FIRST;
  if (cap < o->cap)
    return -ENOMEM;
  /* A whole number of huge pages with the block header: the kernel then
   * places the map on a huge page boundary, and its huge pages move whole
   * when mremap grows it. */
  if (cap >= CAPTURE_HUGE) {
    if (cap < CAPTURE_MAP && cuprum__allocator_is_libc())
      cap = CAPTURE_MAP;
    if (cap > SIZE_MAX - HUGE_PAGE)
      return -ENOMEM;
    cap = ((cap + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1)) - MAP_SLACK;
  }
  if (limit != CUPRUM_CAPTURE_UNLIMITED && cap > limit + 1)
    cap = limit + 1;
  nb = cuprum__realloc(o->buf, cap);
  if (nb == NULL)
    return -ENOMEM;
  advise_huge(nb, cap);
  o->buf = nb;
  o->cap = cap;
  return 0;
}

static int read_out(cuprum_pipeline *pl, struct out *o)
{
  const struct sink *s = &pl->sink[o->stream == CUPRUM_STDOUT ? 0 : 1];

  for (int k = 0; k < READS_PER_STEP && o->fd >= 0; k++) {
    char *dst = pl->scratch;
    size_t want = SCRATCH_SIZE;
    int into_buf = s->capture && o->len < s->limit;
    ssize_t n;
    int rc;

    if (into_buf) {
      if ((rc = capture_room(o, s->limit)) < 0)
        return rc;
      dst = o->buf + o->len;
      want = o->cap - o->len - 1;
      /* No read returns more than the pipe holds: asking for more gains
       * nothing, and costs tools that check the whole destination of each
       * read (valgrind) time in proportion to it. */
      if (want > PIPE_SIZE)
        want = PIPE_SIZE;
      if (o->total >= CUPRUM__PREFAULT_AFTER)
        cuprum__prefault(o->fd, o->buf, o->len, &want, &o->touched);
    }
    n = read(o->fd, dst, want);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return -errno;
    }
    if (n == 0) {
      close_fd(&o->fd);
      if (o->lines != NULL)
        return cuprum_lines_finish(o->lines);
      return 0;
    }
    o->total += (uint64_t)n;
    if (o->total >= GROW_AFTER && o->total - (uint64_t)n < GROW_AFTER)
      grow(o->fd);
    if (into_buf) {
      o->len += (size_t)n;
      o->buf[o->len] = '\0';
    }
    if ((rc = deliver(pl, o, dst, (size_t)n)) < 0)
      return rc;
  }
  return 0;
}

static int stage_failed(const struct stage *s)
{
  if (s->stop == CUPRUM_STOP_EARLY_CLOSE)
    return 0;
  return !(WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0);
}

static int all_reaped(const cuprum_pipeline *pl)
{
  for (size_t i = 0; i < pl->n; i++)
    if (!pl->st[i].reaped)
      return 0;
  return 1;
}

static void reap(cuprum_pipeline *pl)
{
  int failed = 0;

  for (size_t i = 0; i < pl->n; i++) {
    struct stage *s = &pl->st[i];
    int status = 0;
    int r;

    if (s->reaped || s->pid <= 0)
      continue;
    r = wait_stage(s, WNOHANG, &status);
    if (r == -1 && errno == ECHILD) {
      record_lost(s);
      continue;
    }
    if (r != 1)
      continue;
    record_status(s, status);
    /* Killed by SIGPIPE because the next stage went away first: only
     * when its stdout is the pipe to that stage, not a caller's. */
    if (s->stop == CUPRUM_STOP_NONE && WIFSIGNALED(status) &&
        WTERMSIG(status) == SIGPIPE && i + 1 < pl->n &&
        s->cmd->io[1].how == CUPRUM_STDIO_DEFAULT)
      s->stop = CUPRUM_STOP_EARLY_CLOSE;
    if ((pl->flags & CUPRUM_PIPELINE_FAIL_FAST) != 0 && stage_failed(s) &&
        s->stop == CUPRUM_STOP_NONE)
      failed = 1;
  }
  /* Once every stage is reaped there is nothing left to stop. */
  if (failed && !all_reaped(pl))
    begin_stop(pl, CUPRUM_STOP_FAIL_FAST);
}

static int outputs_open(const cuprum_pipeline *pl)
{
  for (size_t i = 0; i < pl->n; i++)
    if (pl->st[i].out[0].fd >= 0 || pl->st[i].out[1].fd >= 0)
      return 1;
  return 0;
}

static void finish(cuprum_pipeline *pl)
{
  close_io(pl);
  pl->state = ST_DONE;
}

static int fail(cuprum_pipeline *pl, int rc)
{
  kill_and_reap(pl, CUPRUM_STOP_CANCEL);
  finish(pl);
  return rc;
}

static int step(cuprum_pipeline *pl)
{
  int64_t now;
  int rc;

  if (pl->state == ST_DONE)
    return 1;
  if (pl->state != ST_RUNNING)
    return CUPRUM_ESTATE;
  if ((rc = write_input(pl)) < 0)
    return fail(pl, rc);
  for (size_t i = 0; i < pl->n; i++)
    for (int k = 0; k < 2; k++)
      if (pl->st[i].out[k].fd >= 0 &&
          (rc = read_out(pl, &pl->st[i].out[k])) < 0)
        return fail(pl, rc);
  reap(pl);
  now = now_ms();
  /* Past the deadline with every stage reaped and every output at its end,
   * the run is complete: nothing is stopped. */
  if (!pl->stopping && pl->deadline >= 0 && now >= pl->deadline &&
      (!all_reaped(pl) || outputs_open(pl)))
    begin_stop(pl, CUPRUM_STOP_TIMEOUT);
  if (pl->stopping && !pl->killed && now >= pl->kill_at) {
    signal_all(pl, SIGKILL);
    pl->killed = 1;
  }
  if (all_reaped(pl)) {
    /* Nobody reads the input any more. */
    close_fd(&pl->in_fd);
    /* After a kill, descendants outside the group may hold the outputs
     * open forever: what they had written was read above. */
    if (pl->killed)
      for (size_t i = 0; i < pl->n; i++)
        for (int k = 0; k < 2; k++) {
          struct out *o = &pl->st[i].out[k];
          if (o->fd >= 0 && (rc = read_out(pl, o)) < 0)
            return fail(pl, rc);
          /* As at end of file: a last line without an ending is one. */
          if (o->fd >= 0 && o->lines != NULL &&
              (rc = cuprum_lines_finish(o->lines)) < 0)
            return fail(pl, rc);
          close_fd(&o->fd);
        }
    if (!outputs_open(pl)) {
      finish(pl);
      return 1;
    }
  }
  return 0;
}

int cuprum_pipeline_step(cuprum_pipeline *pl)
{
  int rc;

  if (pl == NULL)
    return CUPRUM_ENULL;
  if (pl->guard.busy)
    return -EBUSY;
  rc = step(pl);
  /* A callback freed the pipeline: the step failed with its stop code,
   * so every stage is reaped and the pipeline done. */
  if (pl->guard.free_pending)
    release(pl);
  return rc;
}

int cuprum_pipeline_pollfds(const cuprum_pipeline *pl, struct pollfd *fds,
                            size_t n)
{
  size_t k = 0;

  if (pl == NULL || (fds == NULL && n > 0))
    return CUPRUM_ENULL;
  if (pl->state != ST_RUNNING)
    return 0;
#define ADD(f, ev)                                                             \
  do {                                                                         \
    if (k < n) {                                                               \
      fds[k].fd = (f);                                                         \
      fds[k].events = (ev);                                                    \
      fds[k].revents = 0;                                                      \
    }                                                                          \
    k++;                                                                       \
  } while (0)
  if (pl->in_fd >= 0)
    ADD(pl->in_fd, POLLOUT);
  for (size_t i = 0; i < pl->n; i++) {
    const struct stage *s = &pl->st[i];
    for (int j = 0; j < 2; j++)
      if (s->out[j].fd >= 0)
        ADD(s->out[j].fd, POLLIN);
    if (!s->reaped && s->pidfd >= 0)
      ADD(s->pidfd, POLLIN);
  }
#undef ADD
  return (int)k;
}

int cuprum_pipeline_timeout(const cuprum_pipeline *pl)
{
  int64_t next = -1;
  int64_t now;

  if (pl == NULL || pl->state != ST_RUNNING)
    return 0;
  now = now_ms();
  if (!pl->stopping && pl->deadline >= 0)
    next = pl->deadline;
  if (pl->stopping && !pl->killed && (next < 0 || pl->kill_at < next))
    next = pl->kill_at;
  for (size_t i = 0; i < pl->n; i++)
    if (!pl->st[i].reaped && pl->st[i].pidfd < 0 &&
        (next < 0 || now + REAP_TICK_MS < next))
      next = now + REAP_TICK_MS;
  if (next < 0)
    return -1;
  if (next <= now)
    return 0;
  /* now_ms truncates, so one more ms never wakes too early. */
  if (next - now >= INT_MAX)
    return INT_MAX;
  return (int)(next - now + 1);
}

int cuprum_pipeline_cancel(cuprum_pipeline *pl)
{
  if (pl == NULL)
    return CUPRUM_ENULL;
  if (pl->state == ST_NEW || pl->state == ST_FAILED)
    return CUPRUM_ESTATE;
  if (pl->state == ST_RUNNING)
    begin_stop(pl, CUPRUM_STOP_CANCEL);
  return 0;
}

int cuprum_pipeline_done(const cuprum_pipeline *pl)
{
  return pl != NULL && pl->state == ST_DONE;
}

int cuprum_pipeline_run(cuprum_pipeline *pl)
{
  struct pollfd small[16];
  struct pollfd *fds = small;
  size_t cap = 16;
  int rc = cuprum_pipeline_start(pl);

  while (rc == 0) {
    int n;
    rc = cuprum_pipeline_step(pl);
    if (rc != 0)
      break;
    n = cuprum_pipeline_pollfds(pl, fds, cap);
    if ((size_t)n > cap) {
      struct pollfd *nf =
          cuprum__realloc(fds == small ? NULL : fds, (size_t)n * sizeof(*nf));
      if (nf == NULL) {
        rc = fail(pl, -ENOMEM);
        break;
      }
      fds = nf;
      cap = (size_t)n;
      n = cuprum_pipeline_pollfds(pl, fds, cap);
    }
    /* EINTR only means: step again. */
    (void)poll(fds, (nfds_t)n, cuprum_pipeline_timeout(pl));
  }
  if (fds != small)
    cuprum__free(fds);
  return rc == 1 ? 0 : rc;
}

/* ------------------------------------------------------------------------
 * Results
 */

int cuprum_pipeline_status(const cuprum_pipeline *pl, size_t stage,
                           int *exit_code, int *signal_number,
                           cuprum_stop *stopped_by)
{
  const struct stage *s;

  if (pl == NULL)
    return CUPRUM_ENULL;
  if (stage >= pl->n)
    return -EINVAL;
  s = &pl->st[stage];
  if (!s->reaped || s->pid <= 0)
    return CUPRUM_ESTATE;
  if (exit_code != NULL)
    *exit_code = !s->lost && WIFEXITED(s->status) ? WEXITSTATUS(s->status) : -1;
  if (signal_number != NULL)
    *signal_number =
        !s->lost && WIFSIGNALED(s->status) ? WTERMSIG(s->status) : 0;
  if (stopped_by != NULL)
    *stopped_by = s->stop;
  return s->lost ? -ECHILD : 0;
}

long cuprum_pipeline_pid(const cuprum_pipeline *pl, size_t stage)
{
  if (pl == NULL || stage >= pl->n || pl->st[stage].pid <= 0)
    return -1;
  return (long)pl->st[stage].pid;
}

/* 0 when output k of stage i can never have been read: the stdout of a
 * stage that is not the last goes to the next stage, unless its command
 * pipes it to the pipeline. */
static int output_exists(const cuprum_pipeline *pl, size_t i, int k)
{
  return k == 1 || i + 1 == pl->n ||
         pl->st[i].cmd->io[1].how == CUPRUM_STDIO_PIPE;
}

long cuprum_pipeline_failed_stage(const cuprum_pipeline *pl)
{
  return pl == NULL ? -1 : pl->failed_stage;
}

cuprum_stop cuprum_pipeline_stopped(const cuprum_pipeline *pl)
{
  return pl == NULL ? CUPRUM_STOP_NONE : pl->stopped;
}

int cuprum_pipeline_output(cuprum_pipeline *pl, size_t stage, int stream,
                           int take, cuprum_capture *out)
{
  struct out *o;
  int k;

  if (pl == NULL || out == NULL)
    return CUPRUM_ENULL;
  memset(out, 0, sizeof(*out));
  k = sink_index(stream);
  if (k < 0 || stage >= pl->n || !output_exists(pl, stage, k))
    return -EINVAL;
  if (pl->state != ST_DONE)
    return CUPRUM_ESTATE;
  o = &pl->st[stage].out[k];
  out->data = o->len > 0 ? o->buf : NULL;
  out->len = o->len;
  out->total = o->total;
  out->tee_error = o->tee_error;
  if (take) {
    if (out->data == NULL) {
      cuprum__free(o->buf);
    } else if (o->cap >= CAPTURE_HUGE && o->len + 1 < o->cap &&
               cuprum__allocator_is_libc()) {
      /* Give back the address space the capture did not fill: for a map
       * this is a shrinking mremap, nothing is copied. */
      char *fit = cuprum__realloc(o->buf, o->len + 1);
      if (fit != NULL)
        out->data = fit;
    }
    o->buf = NULL;
    o->len = o->cap = o->touched = 0;
  }
  return 0;
}

int cuprum_write_all(int fd, const void *buf, size_t len, size_t *written)
{
  cuprum__sigpipe_guard guard;
  int rc;

  if (written != NULL)
    *written = 0;
  if (buf == NULL && len > 0)
    return CUPRUM_ENULL;
  if ((rc = cuprum__check_fd(fd)) < 0)
    return rc;
  cuprum__sigpipe_block(&guard);
  rc = cuprum__write_all(fd, buf, len, written);
  cuprum__sigpipe_restore(&guard, rc == -EPIPE);
  return rc;
}
