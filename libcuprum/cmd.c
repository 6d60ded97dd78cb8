/* SPDX-License-Identifier: ISC */
/*
 * cmd.c - the description of one command: argv, environment overlay,
 * working directory and standard streams.  Nothing here touches a process;
 * pipeline.c turns a command into one at start.
 */
#include "config.h"

#include "cuprum-private.h"

#include <errno.h>
#include <string.h>

extern char **environ;

char *cuprum__strdup(const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = cuprum__malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

int cuprum_cmd_new(cuprum_cmd **out, const char *const *argv)
{
  cuprum_cmd *cmd;
  size_t n = 0;

  if (out == NULL)
    return CUPRUM_ENULL;
  *out = NULL;
  if (argv == NULL || argv[0] == NULL)
    return CUPRUM_ENULL;
  if (argv[0][0] == '\0')
    return -EINVAL;
  while (argv[n] != NULL)
    n++;
  cmd = cuprum__malloc(sizeof(*cmd));
  if (cmd == NULL)
    return -ENOMEM;
  memset(cmd, 0, sizeof(*cmd));
  for (int i = 0; i < 3; i++)
    cmd->io[i].fd = -1;
  cmd->argv = cuprum__malloc((n + 1) * sizeof(char *));
  if (cmd->argv == NULL) {
    cuprum__free(cmd);
    return -ENOMEM;
  }
  for (size_t i = 0; i <= n; i++)
    cmd->argv[i] = NULL;
  for (size_t i = 0; i < n; i++) {
    cmd->argv[i] = cuprum__strdup(argv[i]);
    if (cmd->argv[i] == NULL) {
      cuprum_cmd_free(cmd);
      return -ENOMEM;
    }
  }
  *out = cmd;
  return 0;
}

void cuprum_cmd_free(cuprum_cmd *cmd)
{
  /* A pipeline's command is the pipeline's to free, with the pipeline: a
   * caller that frees it as well must not free it twice. */
  if (cmd == NULL || cmd->owned)
    return;
  cuprum__cmd_release(cmd);
}

void cuprum__cmd_release(cuprum_cmd *cmd)
{
  if (cmd == NULL)
    return;
  if (cmd->argv != NULL)
    for (size_t i = 0; cmd->argv[i] != NULL; i++)
      cuprum__free(cmd->argv[i]);
  cuprum__free(cmd->argv);
  for (size_t i = 0; i < cmd->n_env; i++)
    cuprum__free(cmd->env[i].entry);
  cuprum__free(cmd->env);
  cuprum__free(cmd->dir);
  for (int i = 0; i < 3; i++)
    cuprum__free(cmd->io[i].path);
  cuprum__free(cmd);
}

static int name_ok(const char *name)
{
  return name[0] != '\0' && strchr(name, '=') == NULL;
}

static int push_env(cuprum_cmd *cmd, char *entry, size_t name_len, int set)
{
  if (cmd->n_env == cmd->cap_env) {
    size_t cap = cmd->cap_env ? cmd->cap_env * 2 : 4;
    struct cuprum__envop *ne =
        cuprum__realloc(cmd->env, cap * sizeof(*cmd->env));
    if (ne == NULL) {
      cuprum__free(entry);
      return -ENOMEM;
    }
    cmd->env = ne;
    cmd->cap_env = cap;
  }
  cmd->env[cmd->n_env].entry = entry;
  cmd->env[cmd->n_env].name_len = name_len;
  cmd->env[cmd->n_env].set = set;
  cmd->n_env++;
  return 0;
}

int cuprum_cmd_setenv(cuprum_cmd *cmd, const char *name, const char *value)
{
  size_t nl;
  size_t vl;
  char *e;

  if (cmd == NULL || name == NULL || value == NULL)
    return CUPRUM_ENULL;
  if (!name_ok(name))
    return -EINVAL;
  if (cmd->owned)
    return CUPRUM_ESTATE;
  nl = strlen(name);
  vl = strlen(value);
  e = cuprum__malloc(nl + vl + 2);
  if (e == NULL)
    return -ENOMEM;
  memcpy(e, name, nl);
  e[nl] = '=';
  memcpy(e + nl + 1, value, vl + 1);
  return push_env(cmd, e, nl, 1);
}

int cuprum_cmd_unsetenv(cuprum_cmd *cmd, const char *name)
{
  char *e;

  if (cmd == NULL || name == NULL)
    return CUPRUM_ENULL;
  if (!name_ok(name))
    return -EINVAL;
  if (cmd->owned)
    return CUPRUM_ESTATE;
  e = cuprum__strdup(name);
  if (e == NULL)
    return -ENOMEM;
  return push_env(cmd, e, strlen(name), 0);
}

int cuprum_cmd_clearenv(cuprum_cmd *cmd)
{
  if (cmd == NULL)
    return CUPRUM_ENULL;
  if (cmd->owned)
    return CUPRUM_ESTATE;
  return push_env(cmd, NULL, 0, 0);
}

int cuprum_cmd_chdir(cuprum_cmd *cmd, const char *dir)
{
  char *d = NULL;

  if (cmd == NULL)
    return CUPRUM_ENULL;
  if (cmd->owned)
    return CUPRUM_ESTATE;
  if (dir != NULL && (d = cuprum__strdup(dir)) == NULL)
    return -ENOMEM;
  cuprum__free(cmd->dir);
  cmd->dir = d;
  return 0;
}

static void set_redir(cuprum_cmd *cmd, int stream, int how, int fd, char *path,
                      unsigned flags)
{
  struct cuprum__redir *r = &cmd->io[stream];
  cuprum__free(r->path);
  r->how = how;
  r->fd = fd;
  r->path = path;
  r->flags = flags;
}

static int stream_ok(int stream)
{
  return stream == CUPRUM_STDIN || stream == CUPRUM_STDOUT ||
         stream == CUPRUM_STDERR;
}

int cuprum_cmd_redirect(cuprum_cmd *cmd, int stream, cuprum_stdio how)
{
  if (cmd == NULL)
    return CUPRUM_ENULL;
  if (!stream_ok(stream))
    return -EINVAL;
  switch (how) {
  case CUPRUM_STDIO_DEFAULT:
  case CUPRUM_STDIO_INHERIT:
  case CUPRUM_STDIO_NULL:
    break;
  case CUPRUM_STDIO_PIPE:
    if (stream == CUPRUM_STDIN)
      return -EINVAL;
    break;
  case CUPRUM_STDIO_STDOUT:
    if (stream != CUPRUM_STDERR)
      return -EINVAL;
    break;
  default:
    return -EINVAL;
  }
  if (cmd->owned)
    return CUPRUM_ESTATE;
  set_redir(cmd, stream, (int)how, -1, NULL, 0);
  return 0;
}

int cuprum_cmd_redirect_fd(cuprum_cmd *cmd, int stream, int fd)
{
  if (cmd == NULL)
    return CUPRUM_ENULL;
  if (!stream_ok(stream))
    return -EINVAL;
  if (fd < 0)
    return -EBADF;
  if (cmd->owned)
    return CUPRUM_ESTATE;
  set_redir(cmd, stream, CUPRUM__STDIO_FD, fd, NULL, 0);
  return 0;
}

int cuprum_cmd_redirect_path(cuprum_cmd *cmd, int stream, const char *path,
                             unsigned flags)
{
  char *p;

  if (cmd == NULL || path == NULL)
    return CUPRUM_ENULL;
  if (!stream_ok(stream))
    return -EINVAL;
  if (stream == CUPRUM_STDIN
          ? flags != 0
          : flags != CUPRUM_PATH_TRUNCATE && flags != CUPRUM_PATH_APPEND)
    return CUPRUM_EFLAGS;
  if (cmd->owned)
    return CUPRUM_ESTATE;
  p = cuprum__strdup(path);
  if (p == NULL)
    return -ENOMEM;
  set_redir(cmd, stream, CUPRUM__STDIO_PATH, -1, p, flags);
  return 0;
}

static void env_remove(char **v, size_t *n, const char *name, size_t nl)
{
  size_t k = 0;
  for (size_t i = 0; i < *n; i++) {
    if (strncmp(v[i], name, nl) == 0 && (v[i][nl] == '=' || v[i][nl] == 0))
      continue;
    v[k++] = v[i];
  }
  *n = k;
}

int cuprum__cmd_envp(const cuprum_cmd *cmd, char ***out)
{
  size_t base = 0;
  size_t n = 0;
  char **v;

  *out = NULL;
  if (cmd->n_env == 0)
    return 0;
  if (environ != NULL)
    while (environ[base] != NULL)
      base++;
  v = cuprum__malloc((base + cmd->n_env + 1) * sizeof(char *));
  if (v == NULL)
    return -ENOMEM;
  for (size_t i = 0; i < base; i++)
    v[n++] = environ[i];
  for (size_t i = 0; i < cmd->n_env; i++) {
    const struct cuprum__envop *op = &cmd->env[i];
    if (op->entry == NULL) {
      n = 0;
      continue;
    }
    env_remove(v, &n, op->entry, op->name_len);
    if (op->set)
      v[n++] = op->entry;
  }
  v[n] = NULL;
  *out = v;
  return 0;
}
