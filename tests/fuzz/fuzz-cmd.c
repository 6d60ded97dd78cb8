/* SPDX-License-Identifier: ISC */
/*
 * fuzz-cmd.c - libFuzzer harness for the validation of the process API:
 * cuprum_cmd_new, cuprum_cmd_setenv/unsetenv/clearenv/chdir and
 * cuprum_cmd_redirect/redirect_fd/redirect_path, with the allocation of
 * the input's choosing failing, then cuprum_pipeline_start with a
 * conflicting stdin, which must be refused before anything is spawned.
 *
 * The reference model knows the documented return code of every call and
 * the state it leaves (the three redirections; the environment the child
 * would get, computed from an independent formulation of the overlay: base
 * entries no later operation named, then names whose last operation after
 * the last clearenv was a set, in the order of that operation).  A call
 * that fails with -ENOMEM (only when the failing allocator struck in it)
 * must leave the state as it was.
 *
 * Input: byte 0 the allocation that fails (0: none), byte 1 the argv size
 * and whether argv[0] is empty, then argv strings, then operations, each
 * an opcode byte and its operands.  Strings are a length byte (0..7) and
 * that many bytes (a NUL byte reads as 'A'; '=' comes often).
 */
#include "fuzz.h"

#include "cuprum-private.h"

#include <errno.h>
#include <string.h>

FUZZ_ALLOC_STATE;

extern char **environ;

#define MAX_OPS 64
#define STR_MAX 8

struct str {
  char s[STR_MAX];
};

static void read_str(fuzz_in *in, struct str *out)
{
  size_t n = fuzz_byte(in) % STR_MAX;
  for (size_t i = 0; i < n; i++) {
    uint8_t b = fuzz_byte(in);
    /* A small alphabet, so that names repeat and '=' shows up. */
    static const char alpha[] = "AB=x_\xc3\xa9"
                                "A";
    out->s[i] = (b & 0x80) ? (char)(b & 0x7f ? b & 0x7f : 'A')
                           : alpha[b % (sizeof(alpha) - 1)];
  }
  out->s[n] = '\0';
}

/* The model's record of one environment operation. */
struct envop {
  int kind; /* 0 set, 1 unset, 2 clear */
  struct str name;
  struct str value;
};

struct redir {
  int how;
  int fd;
  int has_path;
  struct str path;
  unsigned flags;
};

struct model {
  struct envop ops[MAX_OPS];
  size_t n_ops;
  struct redir io[3];
  int has_dir;
  struct str dir;
};

static int name_valid(const char *n)
{
  return n[0] != '\0' && strchr(n, '=') == NULL;
}

/* Whether environment entry `e` ("NAME=VALUE" or "NAME") is named n. */
static int entry_named(const char *e, const char *n)
{
  size_t k = strlen(n);
  return strncmp(e, n, k) == 0 && (e[k] == '=' || e[k] == '\0');
}

/* The expected environment, into out (entries point into base or into a
 * buffer of "NAME=VALUE" strings); returns the count. */
static size_t expected_env(const struct model *m, char *const *base,
                           char (*sets)[2 * STR_MAX + 2], const char **out)
{
  size_t n = 0;
  size_t last_clear = 0;
  int cleared = 0;

  for (size_t i = 0; i < m->n_ops; i++)
    if (m->ops[i].kind == 2) {
      cleared = 1;
      last_clear = i + 1;
    }
  if (!cleared)
    for (size_t b = 0; base[b] != NULL; b++) {
      int named = 0;
      for (size_t i = 0; i < m->n_ops && !named; i++)
        named = m->ops[i].kind != 2 && entry_named(base[b], m->ops[i].name.s);
      if (!named)
        out[n++] = base[b];
    }
  for (size_t i = last_clear; i < m->n_ops; i++) {
    int later = 0;
    if (m->ops[i].kind != 0)
      continue;
    for (size_t j = i + 1; j < m->n_ops && !later; j++)
      later = m->ops[j].kind != 2 &&
              strcmp(m->ops[j].name.s, m->ops[i].name.s) == 0;
    if (later)
      continue;
    snprintf(sets[i], sizeof(sets[i]), "%s=%s", m->ops[i].name.s,
             m->ops[i].value.s);
    out[n++] = sets[i];
  }
  return n;
}

static void check_state(const struct model *m, const cuprum_cmd *cmd)
{
  FUZZ_CHECK(cmd->n_env == m->n_ops);
  for (int k = 0; k < 3; k++) {
    const struct cuprum__redir *r = &cmd->io[k];
    FUZZ_CHECK(r->how == m->io[k].how);
    FUZZ_CHECK(r->fd == m->io[k].fd);
    FUZZ_CHECK(r->flags == m->io[k].flags);
    FUZZ_CHECK((r->path != NULL) == m->io[k].has_path);
    FUZZ_CHECK(r->path == NULL || strcmp(r->path, m->io[k].path.s) == 0);
  }
  FUZZ_CHECK((cmd->dir != NULL) == m->has_dir);
  FUZZ_CHECK(cmd->dir == NULL || strcmp(cmd->dir, m->dir.s) == 0);
}

static int stream_valid(int s)
{
  return s >= 0 && s <= 2;
}

/* The documented code of cuprum_cmd_redirect(cmd, stream, how). */
static int redirect_code(int stream, int how)
{
  if (!stream_valid(stream) || how < 0 || how > 4)
    return -EINVAL;
  if (how == CUPRUM_STDIO_PIPE && stream == CUPRUM_STDIN)
    return -EINVAL;
  if (how == CUPRUM_STDIO_STDOUT && stream != CUPRUM_STDERR)
    return -EINVAL;
  return 0;
}

/* The children of the calling thread, as the kernel lists them ("" when
 * there are none or the kernel has no such list); libFuzzer itself may
 * have a symbolizer running, so the list is compared, not required empty. */
static void children(char *buf, size_t n)
{
  FILE *f = fopen("/proc/thread-self/children", "r");
  size_t got = 0;
  if (f != NULL) {
    got = fread(buf, 1, n - 1, f);
    fclose(f);
  }
  buf[got] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_in in = {data, size};
  unsigned fail_at = fuzz_byte(&in);
  uint8_t shape = fuzz_byte(&in);
  size_t argc = 1 + shape % 4;
  struct str args[4];
  const char *argv[5];
  static struct model m;
  cuprum_cmd *cmd = (cuprum_cmd *)&m; /* must be overwritten with NULL */
  static char sets[MAX_OPS][2 * STR_MAX + 2];
  const char *want[MAX_OPS + 8];
  char *base[] = {"A=1", "B=2", "AB", "A=3", "x=", NULL};
  char **saved_environ = environ;
  char **envp = NULL;
  size_t n_want;
  unsigned long failed_before;
  int rc;

  memset(&m, 0, sizeof(m));
  for (int k = 0; k < 3; k++)
    m.io[k].fd = -1;
  for (size_t i = 0; i < argc; i++) {
    read_str(&in, &args[i]);
    argv[i] = args[i].s;
  }
  argv[argc] = NULL;

  FUZZ_CHECK(cuprum_cmd_new(NULL, argv) == CUPRUM_ENULL);
  FUZZ_CHECK(cuprum_cmd_new(&cmd, NULL) == CUPRUM_ENULL && cmd == NULL);
  fuzz_alloc_arm(fail_at, 0);
  rc = cuprum_cmd_new(&cmd, argv);
  if (argv[0][0] == '\0') {
    FUZZ_CHECK(rc == -EINVAL && cmd == NULL);
    goto out;
  }
  if (rc == -ENOMEM) {
    FUZZ_CHECK(fuzz_alloc_state.failed == 1 && cmd == NULL);
    goto out;
  }
  FUZZ_CHECK(rc == 0 && cmd != NULL);
  for (size_t i = 0; i < argc; i++)
    FUZZ_CHECK(strcmp(cmd->argv[i], argv[i]) == 0);
  FUZZ_CHECK(cmd->argv[argc] == NULL);

  while (in.n > 0 && m.n_ops < MAX_OPS) {
    uint8_t op = fuzz_byte(&in);
    uint8_t a = fuzz_byte(&in);
    int stream = (int)(a % 6) - 1;
    struct str s1, s2;
    int expect = 0;
    int changes = 0;
    struct model before = m;

    failed_before = fuzz_alloc_state.failed;
    switch (op % 9) {
    case 0:
      read_str(&in, &s1);
      read_str(&in, &s2);
      rc = cuprum_cmd_setenv(cmd, s1.s, s2.s);
      expect = name_valid(s1.s) ? 0 : -EINVAL;
      if (expect == 0)
        m.ops[m.n_ops++] = (struct envop){0, s1, s2};
      break;
    case 1:
      read_str(&in, &s1);
      rc = cuprum_cmd_unsetenv(cmd, s1.s);
      expect = name_valid(s1.s) ? 0 : -EINVAL;
      if (expect == 0)
        m.ops[m.n_ops++] = (struct envop){1, s1, {""}};
      break;
    case 2:
      rc = cuprum_cmd_clearenv(cmd);
      m.ops[m.n_ops++] = (struct envop){2, {""}, {""}};
      break;
    case 3: {
      int how = (int)(fuzz_byte(&in) % 8) - 1;
      rc = cuprum_cmd_redirect(cmd, stream, (cuprum_stdio)how);
      expect = redirect_code(stream, how);
      if (expect == 0)
        m.io[stream] = (struct redir){how, -1, 0, {""}, 0};
      break;
    }
    case 4: {
      int fd = (int)(fuzz_byte(&in) % 8) - 3;
      rc = cuprum_cmd_redirect_fd(cmd, stream, fd);
      expect = !stream_valid(stream) ? -EINVAL : fd < 0 ? -EBADF : 0;
      if (expect == 0)
        m.io[stream] = (struct redir){CUPRUM__STDIO_FD, fd, 0, {""}, 0};
      break;
    }
    case 5: {
      unsigned flags = fuzz_byte(&in) % 5;
      read_str(&in, &s1);
      rc = cuprum_cmd_redirect_path(cmd, stream, s1.s, flags);
      if (!stream_valid(stream))
        expect = -EINVAL;
      else if (stream == CUPRUM_STDIN ? flags != 0
                                      : flags != CUPRUM_PATH_TRUNCATE &&
                                            flags != CUPRUM_PATH_APPEND)
        expect = CUPRUM_EFLAGS;
      if (expect == 0)
        m.io[stream] = (struct redir){CUPRUM__STDIO_PATH, -1, 1, s1, flags};
      break;
    }
    case 6:
      if (a & 1) {
        rc = cuprum_cmd_chdir(cmd, NULL);
        m.has_dir = 0;
      } else {
        read_str(&in, &s1);
        rc = cuprum_cmd_chdir(cmd, s1.s);
        m.has_dir = 1;
        m.dir = s1;
      }
      break;
    case 7:
      FUZZ_CHECK(cuprum_cmd_setenv(NULL, "A", "1") == CUPRUM_ENULL);
      FUZZ_CHECK(cuprum_cmd_unsetenv(NULL, "A") == CUPRUM_ENULL);
      FUZZ_CHECK(cuprum_cmd_clearenv(NULL) == CUPRUM_ENULL);
      FUZZ_CHECK(cuprum_cmd_chdir(NULL, "/") == CUPRUM_ENULL);
      FUZZ_CHECK(cuprum_cmd_redirect(NULL, 0, CUPRUM_STDIO_NULL) ==
                 CUPRUM_ENULL);
      FUZZ_CHECK(cuprum_cmd_redirect_fd(NULL, 0, 0) == CUPRUM_ENULL);
      FUZZ_CHECK(cuprum_cmd_redirect_path(NULL, 0, "p", 0) == CUPRUM_ENULL);
      rc = 0;
      break;
    default:
      FUZZ_CHECK(cuprum_cmd_setenv(cmd, NULL, "1") == CUPRUM_ENULL);
      FUZZ_CHECK(cuprum_cmd_setenv(cmd, "A", NULL) == CUPRUM_ENULL);
      FUZZ_CHECK(cuprum_cmd_unsetenv(cmd, NULL) == CUPRUM_ENULL);
      FUZZ_CHECK(cuprum_cmd_redirect_path(cmd, 1, NULL, 1) == CUPRUM_ENULL);
      rc = 0;
      break;
    }
    changes = fuzz_alloc_state.failed != failed_before;
    if (rc == -ENOMEM) {
      /* Only where the allocator failed, and nothing changed. */
      FUZZ_CHECK(changes);
      m = before;
    } else {
      FUZZ_CHECK(rc == expect);
      if (rc != 0)
        m = before;
    }
    check_state(&m, cmd);
  }

  /* The environment the child would get. */
  fuzz_alloc_disarm();
  n_want = expected_env(&m, base, sets, want);
  environ = base;
  rc = cuprum__cmd_envp(cmd, &envp);
  environ = saved_environ;
  FUZZ_CHECK(rc == 0);
  if (m.n_ops == 0) {
    FUZZ_CHECK(envp == NULL);
  } else {
    size_t k = 0;
    FUZZ_CHECK(envp != NULL);
    for (; envp[k] != NULL; k++) {
      FUZZ_CHECK(k < n_want);
      FUZZ_CHECK(strcmp(envp[k], want[k]) == 0);
    }
    FUZZ_CHECK(k == n_want);
  }
  cuprum__free(envp);

  /* An input and an explicit stdin conflict: refused, nothing spawned. */
  if (m.io[0].how != CUPRUM_STDIO_DEFAULT) {
    cuprum_pipeline *pl = NULL;
    char before_kids[256], after_kids[256];
    children(before_kids, sizeof(before_kids));
    FUZZ_CHECK(cuprum_pipeline_new(&pl) == 0);
    FUZZ_CHECK(cuprum_pipeline_add(pl, cmd) == 0);
    cmd = NULL;
    FUZZ_CHECK(cuprum_pipeline_set_input(pl, "x", 1) == 0);
    FUZZ_CHECK(cuprum_pipeline_start(pl) == -EINVAL);
    FUZZ_CHECK(cuprum_pipeline_pid(pl, 0) == -1);
    FUZZ_CHECK(cuprum_pipeline_failed_stage(pl) == -1);
    children(after_kids, sizeof(after_kids));
    FUZZ_CHECK(strcmp(before_kids, after_kids) == 0);
    cuprum_pipeline_free(pl);
  }
out:
  fuzz_alloc_disarm();
  cuprum_cmd_free(cmd);
  return 0;
}
