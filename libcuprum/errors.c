/* SPDX-License-Identifier: ISC */
/*
 * errors.c - error descriptions, the version string, and the allocator.
 */
#include "config.h"

#include "cuprum-private.h"

#include <stdlib.h>
#include <string.h>

const char *cuprum_version(void)
{
  return PACKAGE_VERSION;
}

const char *cuprum_strerror(int code)
{
  switch (code) {
  case 0:
    return "success";
  case CUPRUM_EBUFSIZE:
    return "buffer size out of range (1 byte to 1 GiB)";
  case CUPRUM_ENULL:
    return "a required argument was NULL";
  case CUPRUM_EFLAGS:
    return "unknown flag bits";
  case CUPRUM_ESTOPPED:
    return "stopped by a callback";
  case CUPRUM_ESTATE:
    return "the handle is in the wrong state for this call";
  default:
    break;
  }
  if (code < 0 && code > -4096) {
    /* strerrordesc_np returns a static string and is thread-safe, which
     * strerror is not guaranteed to be. */
#ifdef HAVE_STRERRORDESC_NP
    const char *desc = strerrordesc_np(-code);
    if (desc != NULL)
      return desc;
#else
    return strerror(-code);
#endif
  }
  return "unknown cuprum error code";
}

static void *default_realloc(void *ctx, void *ptr, size_t size)
{
  (void)ctx;
  return realloc(ptr, size);
}

static void default_free(void *ctx, void *ptr)
{
  (void)ctx;
  free(ptr);
}

static cuprum_allocator allocator = {default_realloc, default_free, NULL};

void cuprum_set_allocator(const cuprum_allocator *a)
{
  if (a == NULL || a->realloc_fn == NULL || a->free_fn == NULL) {
    allocator.realloc_fn = default_realloc;
    allocator.free_fn = default_free;
    allocator.ctx = NULL;
    return;
  }
  allocator = *a;
}

int cuprum__allocator_is_libc(void)
{
  return allocator.realloc_fn == default_realloc;
}

void *cuprum__malloc(size_t size)
{
  return allocator.realloc_fn(allocator.ctx, NULL, size);
}

void *cuprum__realloc(void *ptr, size_t size)
{
  return allocator.realloc_fn(allocator.ctx, ptr, size);
}

void cuprum__free(void *ptr)
{
  allocator.free_fn(allocator.ctx, ptr);
}
