/* SPDX-License-Identifier: ISC */
/*
 * spawn.c - starting one child process with posix_spawn, for the pipeline
 * engine and for callers that own the child's lifecycle themselves
 * (cuprum_cmd_spawn).  glibc's posix_spawn runs the child with
 * clone(CLONE_VM|CLONE_VFORK) and reports a failed exec, chdir, open or
 * dup2 back to the parent as the call's result, so errors are synchronous.
 */
#include "config.h"

#include "cuprum-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int add_source(posix_spawn_file_actions_t *fa, int src, int target,
                      int *tmp)
{
  /* A source below 3 could be overwritten by an earlier dup2 onto 0..2:
   * give the child a copy above them instead. */
  if (src < 3) {
    *tmp = fcntl(src, F_DUPFD_CLOEXEC, 3);
    if (*tmp < 0)
      return -errno;
    src = *tmp;
  }
  return -posix_spawn_file_actions_adddup2(fa, src, target);
}

static int add_stream(posix_spawn_file_actions_t *fa, int t,
                      const struct cuprum__stdio *p, int *tmp)
{
  switch (p->how) {
  case CUPRUM__STDIO_FD:
    return add_source(fa, p->fd, t, tmp);
  case CUPRUM_STDIO_NULL:
    return -posix_spawn_file_actions_addopen(fa, t, "/dev/null", O_RDWR, 0);
  case CUPRUM__STDIO_PATH: {
    int of = O_RDONLY;
    if (t != 0)
      of = O_WRONLY | O_CREAT |
           (p->flags == CUPRUM_PATH_APPEND ? O_APPEND : O_TRUNC);
    return -posix_spawn_file_actions_addopen(fa, t, p->path, of, 0666);
  }
  case CUPRUM_STDIO_STDOUT:
    return -posix_spawn_file_actions_adddup2(fa, 1, 2);
  default:
    return 0;
  }
}

/*
 * When the command's overlay may change PATH (it sets or unsets PATH, or
 * clears the environment), stores in *path the PATH of the environment
 * envp the child gets (NULL when it has none) and returns 1; else 0, and
 * posix_spawnp's lookup in the caller's PATH is the right one.
 */
static int overlay_path(const cuprum_cmd *cmd, char *const *envp,
                        const char **path)
{
  int touched = 0;

  for (size_t i = 0; i < cmd->n_env && !touched; i++) {
    const struct cuprum__envop *op = &cmd->env[i];
    touched = op->entry == NULL ||
              (op->name_len == 4 && strncmp(op->entry, "PATH", 4) == 0);
  }
  if (!touched || envp == NULL)
    return 0;
  *path = NULL;
  for (char *const *e = envp; *e != NULL; e++)
    if (strncmp(*e, "PATH=", 5) == 0) {
      *path = *e + 5;
      break;
    }
  return 1;
}

/*
 * Finds `name` in `path` (NULL: the C library's default, "/bin:/usr/bin")
 * as execvp(3) would in the child's environment: the first regular file
 * the caller may execute.  An empty element is the working directory the
 * child will have (`dir`, else the caller's).  Stores the program to pass
 * to posix_spawn (allocated) in *out.  Returns 0, -ENOENT (nowhere),
 * -EACCES (found, but none executable) or -ENOMEM.
 */
static int path_lookup(const char *name, const char *path, const char *dir,
                       char **out)
{
  size_t nl = strlen(name);
  size_t dl = dir != NULL ? strlen(dir) : 0;
  int rc = -ENOENT;

  *out = NULL;
  if (path == NULL)
    path = "/bin:/usr/bin";
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    /* "dir/" + prefix + "/" + name: the candidate as the child sees it
     * starts at `cand`, and as this process sees it at `full`. */
    char *full = cuprum__malloc(dl + 1 + len + 2 + nl + 1);
    char *cand;
    struct stat sb;

    if (full == NULL)
      return -ENOMEM;
    cand = full;
    if ((len == 0 || p[0] != '/') && dir != NULL) {
      memcpy(full, dir, dl);
      full[dl] = '/';
      cand = full + dl + 1;
    }
    if (len == 0) {
      cand[0] = '.';
      len = 1;
    } else {
      memcpy(cand, p, len);
    }
    cand[len] = '/';
    memcpy(cand + len + 1, name, nl + 1);
    if (stat(full, &sb) == 0) {
      if (S_ISREG(sb.st_mode) && access(full, X_OK) == 0) {
        if (cand != full)
          memmove(full, cand, len + 1 + nl + 1);
        *out = full;
        return 0;
      }
      rc = -EACCES;
    } else if (errno == EACCES) {
      rc = -EACCES;
    }
    cuprum__free(full);
    if (end == NULL)
      return rc;
    p = end;
  }
}

/*
 * glibc keeps two real-time signals for itself (32 and 33, below
 * SIGRTMIN), which sigfillset and sigaddset leave out of a set and
 * sigaction refuses.  Its posix_spawn sets them to SIG_IGN in the child,
 * for good, unless they are in the set of signals to default; since
 * posix_spawnattr_setsigdefault copies the set as it is, their bits are set
 * here directly.  With `keep` (the caller's ignored signals stay), one
 * stays ignored only when this process ignores it (inherited so from a
 * posix_spawn of its own), as exec after a fork would keep it: the
 * disposition is asked of the kernel, whose sigaction starts with the
 * handler on the architectures where this is built.  The child blocks
 * every signal until just before its exec, and these two are only ever
 * sent to a thread of the parent, so resetting them there is safe.
 */
static void add_reserved_signals(sigset_t *set, int keep)
{
#if defined(__GLIBC__) && defined(SIGRTMIN) && defined(SYS_rt_sigaction) &&    \
    !defined(__mips__) && !defined(__alpha__)
  const size_t bits = 8 * sizeof(set->__val[0]);
  for (int sig = 32; sig < SIGRTMIN; sig++) {
    if (keep) {
      /* The kernel's struct sigaction; only its handler is read. */
      union {
        void (*handler)(int);
        unsigned long words[16];
      } old;
      memset(&old, 0, sizeof(old));
      if (syscall(SYS_rt_sigaction, sig, NULL, &old, (size_t)(_NSIG / 8)) ==
              0 &&
          old.handler == SIG_IGN)
        continue;
    }
    set->__val[(size_t)(sig - 1) / bits] |= 1UL << ((size_t)(sig - 1) % bits);
  }
#else
  (void)set;
  (void)keep;
#endif
}

/* A pidfd for `child` in *pidfd (close-on-exec), or -1 where the kernel
 * has none or refuses the call (ENOSYS, or EPERM from a seccomp filter):
 * the caller then waits by pid.  Out of descriptors or memory, the start
 * fails instead (-EMFILE, -ENFILE, -ENOMEM): nothing falls back to pids
 * for want of a descriptor. */
static int open_pidfd(pid_t child, int *pidfd)
{
  *pidfd = -1;
#ifdef SYS_pidfd_open
  {
    int fd = (int)syscall(SYS_pidfd_open, child, 0);
    if (fd >= 0) {
      *pidfd = fd;
      return 0;
    }
    if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
      return -errno;
  }
#else
  (void)child;
#endif
  return 0;
}

int cuprum__spawn(const cuprum_cmd *cmd, const struct cuprum__stdio io[3],
                  pid_t pgroup, int keep_signals, pid_t *pid, int *pidfd)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t set;
  char **envp = NULL;
  char *found = NULL;
  int tmp[3] = {-1, -1, -1};
  short aflags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  pid_t child;
  int rc;

  if (pidfd != NULL)
    *pidfd = -1;
  rc = cuprum__cmd_envp(cmd, &envp);
  if (rc < 0)
    return rc;
  if ((rc = posix_spawn_file_actions_init(&fa)) != 0) {
    cuprum__free(envp);
    return -rc;
  }
  if ((rc = posix_spawnattr_init(&attr)) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    cuprum__free(envp);
    return -rc;
  }
  for (int t = 0; t < 3 && rc == 0; t++)
    rc = add_stream(&fa, t, &io[t], &tmp[t]);
  if (rc == 0 && cmd->dir != NULL)
    rc = -posix_spawn_file_actions_addchdir_np(&fa, cmd->dir);
  if (rc == 0)
    rc = -posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  if (keep_signals) {
    /* The caller's mask and ignored signals stay; the two a caller
     * typically ignores for its own writes get their default back. */
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGXFSZ);
    aflags = POSIX_SPAWN_SETSIGDEF;
  } else {
    sigemptyset(&set);
    if (rc == 0)
      rc = -posix_spawnattr_setsigmask(&attr, &set);
    sigfillset(&set);
  }
  add_reserved_signals(&set, keep_signals);
  if (rc == 0)
    rc = -posix_spawnattr_setsigdefault(&attr, &set);
  if (rc == 0 && pgroup != CUPRUM__NO_PGROUP) {
    aflags |= POSIX_SPAWN_SETPGROUP;
    rc = -posix_spawnattr_setpgroup(&attr, pgroup);
  }
  if (rc == 0)
    rc = -posix_spawnattr_setflags(&attr, aflags);
  if (rc == 0) {
    char *const *argv = cmd->argv;
    char *const *env = envp != NULL ? envp : environ;
    const char *path;
    if (strchr(argv[0], '/') != NULL)
      rc = -posix_spawn(&child, argv[0], &fa, &attr, argv, env);
    else if (overlay_path(cmd, envp, &path)) {
      /* posix_spawnp would search the caller's PATH, not the child's. */
      rc = path_lookup(argv[0], path, cmd->dir, &found);
      if (rc == 0)
        rc = -posix_spawn(&child, found, &fa, &attr, argv, env);
    } else
      rc = -posix_spawnp(&child, argv[0], &fa, &attr, argv, env);
  }
  /* At once: the shorter the time before it, the smaller the chance that
   * someone else reaps the child and its pid goes to another process. */
  if (rc == 0 && pidfd != NULL && (rc = open_pidfd(child, pidfd)) < 0) {
    int status;
    (void)kill(child, SIGKILL);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
      ;
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  cuprum__free(envp);
  cuprum__free(found);
  for (int t = 0; t < 3; t++)
    if (tmp[t] >= 0)
      close(tmp[t]);
  if (rc < 0)
    return rc;
  *pid = child;
  return 0;
}

int cuprum_cmd_spawn(const cuprum_cmd *cmd, unsigned flags, pid_t pgid,
                     pid_t *pid, int *pidfd)
{
  struct cuprum__stdio io[3];

  if (pid != NULL)
    *pid = -1;
  if (pidfd != NULL)
    *pidfd = -1;
  if (cmd == NULL || pid == NULL)
    return CUPRUM_ENULL;
  if ((flags & ~(CUPRUM_SPAWN_PGROUP | CUPRUM_SPAWN_KEEP_SIGNALS)) != 0)
    return CUPRUM_EFLAGS;
  if ((flags & CUPRUM_SPAWN_PGROUP) != 0 && pgid < 0)
    return -EINVAL;
  for (int t = 0; t < 3; t++) {
    const struct cuprum__redir *r = &cmd->io[t];
    /* Nobody would read the pipe: the caller makes one and lends its end
     * with cuprum_cmd_redirect_fd. */
    if (r->how == CUPRUM_STDIO_PIPE)
      return -EINVAL;
    io[t].how = r->how;
    io[t].fd = r->fd;
    io[t].path = r->path;
    io[t].flags = r->flags;
  }
  return cuprum__spawn(
      cmd, io, (flags & CUPRUM_SPAWN_PGROUP) != 0 ? pgid : CUPRUM__NO_PGROUP,
      (flags & CUPRUM_SPAWN_KEEP_SIGNALS) != 0, pid, pidfd);
}
