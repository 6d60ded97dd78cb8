/* SPDX-License-Identifier: ISC */
/*
 * cuprum-spawn.h - starting one child process, shared by cuprum_cmd_spawn
 * and the pipeline engine.  Nothing here is installed or exported.
 */
#ifndef CUPRUM_SPAWN_H
#define CUPRUM_SPAWN_H

#include "cuprum-private.h"

#include <sys/types.h>

/* Where one child stream comes from, decided by the caller. */
struct cuprum__stdio {
  /* CUPRUM_STDIO_DEFAULT or _INHERIT (the caller's descriptor of the same
   * number), _NULL, _STDOUT (stderr only), CUPRUM__STDIO_FD or _PATH. */
  int how;
  /* For CUPRUM__STDIO_FD: the caller's descriptor, lent. */
  int fd;
  /* For CUPRUM__STDIO_PATH: the path and its CUPRUM_PATH_* flags. */
  const char *path;
  unsigned flags;
};

/* cuprum__spawn's `pgroup` when the child stays in the caller's group. */
#define CUPRUM__NO_PGROUP ((pid_t)-1)

/*
 * Starts cmd's argv with posix_spawn (posix_spawnp for a name without a
 * slash): streams from io[0..3), the command's environment overlay and
 * directory, every descriptor above 2 closed, the signal mask emptied and
 * every disposition reset to the default (with keep_signals: the caller's
 * mask and ignored signals kept, SIGPIPE and SIGXFSZ reset); with pgroup 0 the
 * child leads a new process group, with pgroup > 0 it joins that group.  On
 * success stores the child's pid in *pid and, unless pidfd is NULL, a
 * close-on-exec pidfd in *pidfd (-1 when the kernel has none) and returns
 * 0; the caller owns both.  Returns
 * -ENOMEM, -EMFILE, or the -errno of the exec, chdir, open or dup2 that
 * failed in the child (reported synchronously); nothing is then left
 * running or open.  Descriptors in io are lent and never closed.
 */
CUPRUM__HIDDEN int cuprum__spawn(const cuprum_cmd *cmd,
                                 const struct cuprum__stdio io[3], pid_t pgroup,
                                 int keep_signals, pid_t *pid, int *pidfd);

#endif /* CUPRUM_SPAWN_H */
