/* SPDX-License-Identifier: ISC */
/*
 * fuzz.h - what the libFuzzer harnesses share: a reader over the fuzz input,
 * a deterministic generator seeded from it, an allocator that fails on
 * demand, and the check that aborts (so libFuzzer keeps the input) when the
 * library disagrees with a harness's reference model.
 */
#ifndef CUPRUM_FUZZ_H
#define CUPRUM_FUZZ_H

#include "cuprum.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Fails the run when cond is false: the model and the library disagree. */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: model mismatch: %s\n", __FILE__, __LINE__,       \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* The fuzz input, consumed from the front. */
typedef struct fuzz_in {
  const uint8_t *p;
  size_t n;
} fuzz_in;

/* The next byte, 0 when the input is used up. */
static inline uint8_t fuzz_byte(fuzz_in *in)
{
  uint8_t b = 0;
  if (in->n > 0) {
    b = *in->p++;
    in->n--;
  }
  return b;
}

/* The next two bytes as a little-endian number. */
static inline unsigned fuzz_u16(fuzz_in *in)
{
  unsigned lo = fuzz_byte(in);
  return lo | (unsigned)fuzz_byte(in) << 8;
}

/* A xorshift generator for chunk sizes, seeded from the input. */
static inline uint32_t fuzz_next(uint32_t *s)
{
  uint32_t x = *s ? *s : 0x9E3779B9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *s = x;
  return x;
}

/*
 * The failing allocator: allocation number fail_at (1-based, counted from
 * fuzz_alloc_arm) fails, and every one after it too when `sticky`; 0 never
 * fails.  Installed once per run with fuzz_alloc_arm, removed with
 * fuzz_alloc_disarm.
 */
struct fuzz_alloc {
  unsigned long count;
  unsigned long fail_at;
  int sticky;
  unsigned long failed;
  size_t largest; /* the largest size asked for since fuzz_alloc_arm */
};
extern struct fuzz_alloc fuzz_alloc_state;

static inline void *fuzz_realloc(void *ctx, void *ptr, size_t size)
{
  struct fuzz_alloc *a = ctx;
  a->count++;
  if (size > a->largest)
    a->largest = size;
  if (a->fail_at != 0 &&
      (a->count == a->fail_at || (a->sticky && a->count > a->fail_at))) {
    a->failed++;
    return NULL;
  }
  return realloc(ptr, size ? size : 1);
}

static inline void fuzz_free(void *ctx, void *ptr)
{
  (void)ctx;
  free(ptr);
}

static inline void fuzz_alloc_arm(unsigned long fail_at, int sticky)
{
  cuprum_allocator a = {fuzz_realloc, fuzz_free, &fuzz_alloc_state};
  fuzz_alloc_state.count = 0;
  fuzz_alloc_state.fail_at = fail_at;
  fuzz_alloc_state.sticky = sticky;
  fuzz_alloc_state.failed = 0;
  fuzz_alloc_state.largest = 0;
  cuprum_set_allocator(&a);
}

static inline void fuzz_alloc_disarm(void)
{
  cuprum_set_allocator(NULL);
}

#define FUZZ_ALLOC_STATE struct fuzz_alloc fuzz_alloc_state

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
