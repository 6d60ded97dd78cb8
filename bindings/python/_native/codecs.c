/* SPDX-License-Identifier: ISC */
/*
 * cuprum._native codecs: a decoder chosen once per object, with direct
 * calls for the common codecs, and the fast path for large ASCII text.
 */
#include "native.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void native_codec_clear(native_codec *c)
{
  Py_CLEAR(c->name);
  Py_CLEAR(c->errors);
}

/* Canonical names of codecs in which bytes 0x0A and 0x0D never occur inside
 * a multi-byte sequence and each stands for its ASCII character alone. */
static const char *const splittable_codecs[] = {
    "utf-8",      "ascii",      "latin-1",    "iso8859-2",  "iso8859-3",
    "iso8859-4",  "iso8859-5",  "iso8859-6",  "iso8859-7",  "iso8859-8",
    "iso8859-9",  "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15",
    "iso8859-16", "cp1250",     "cp1251",     "cp1252",     "cp1253",
    "cp1254",     "cp1255",     "cp1256",     "cp1257",     "cp1258",
    "cp437",      "cp850",      "koi8-r",     "koi8-u",     NULL};

/* Looks the codec up (LookupError when unknown) and checks the error
 * handler (LookupError when unknown), or takes both from the state's last
 * pair.  Every run makes a capture and a splitter per channel, nearly
 * always for the same pair; without this cache, looking the codec up again
 * made each native object cost four times the pure engine's.  Returns 0 or
 * -1. */
static int codec_lookup(native_state *st, native_codec *c, const char *encoding,
                        const char *errors)
{
  PyObject *info;
  PyObject *handler;

  if (st->last_codec.name != NULL &&
      strcmp(encoding, st->last_codec.encoding) == 0 &&
      strcmp(errors, st->last_codec.errors) == 0) {
    c->name = Py_NewRef(st->last_codec.name);
    c->errors = Py_NewRef(st->last_codec.errors_obj);
    return 0;
  }
  {
    PyObject *codecs = PyImport_ImportModule("codecs");
    if (codecs == NULL)
      return -1;
    info = PyObject_CallMethod(codecs, "lookup", "s", encoding);
    Py_DECREF(codecs);
  }
  if (info == NULL)
    return -1;
  c->name = PyObject_GetAttrString(info, "name");
  Py_DECREF(info);
  if (c->name == NULL)
    return -1;
  handler = PyCodec_LookupError(errors);
  if (handler == NULL)
    return -1;
  Py_DECREF(handler);
  c->errors = PyUnicode_FromString(errors);
  if (c->errors == NULL)
    return -1;
  if (strlen(encoding) < sizeof(st->last_codec.encoding) &&
      strlen(errors) < sizeof(st->last_codec.errors)) {
    strcpy(st->last_codec.encoding, encoding);
    strcpy(st->last_codec.errors, errors);
    Py_XSETREF(st->last_codec.name, Py_NewRef(c->name));
    Py_XSETREF(st->last_codec.errors_obj, Py_NewRef(c->errors));
  }
  return 0;
}

int native_codec_init(native_state *st, native_codec *c, const char *encoding,
                      const char *errors)
{
  const char *name;

  memset(c, 0, sizeof(*c));
  if (codec_lookup(st, c, encoding, errors) < 0) {
    native_codec_clear(c);
    return -1;
  }
  name = PyUnicode_AsUTF8(c->name);
  if (name == NULL) {
    native_codec_clear(c);
    return -1;
  }
  c->kind = strcmp(name, "utf-8") == 0       ? CODEC_UTF8
            : strcmp(name, "latin-1") == 0   ? CODEC_LATIN1
            : strcmp(name, "iso8859-1") == 0 ? CODEC_LATIN1
            : strcmp(name, "ascii") == 0     ? CODEC_ASCII
                                             : CODEC_OTHER;
  for (const char *const *s = splittable_codecs; *s != NULL; s++)
    if (strcmp(name, *s) == 0 || c->kind == CODEC_LATIN1)
      c->splittable = 1;
  /* Splitting bytes first is exact only when the error policy maps each
   * bad byte to something in place: "ignore" could remove the bytes
   * between "\r" and "\n", and a custom handler could insert a newline. */
  if (strcmp(errors, "strict") != 0 && strcmp(errors, "replace") != 0 &&
      strcmp(errors, "surrogateescape") != 0 &&
      strcmp(errors, "backslashreplace") != 0)
    c->splittable = 0;
  return 0;
}

/* Advises the memory of a large str, from the page holding its header to
 * the page holding its terminating NUL, for transparent huge pages.  A
 * large str is a map of its own (glibc serves big requests with mmap), so
 * the range is that whole map: advising only the 2 MiB-aligned interior
 * would split it into three, and mremap cannot grow a split map, making
 * every realloc a copy.  Pages are rounded outwards only to whole pages
 * that hold part of the object, and the advice is a hint only: failures
 * are ignored.  The page size is asked for each time (only strs of
 * megabytes come here), so no static is shared between interpreters. */
void native_advise_huge(PyObject *text)
{
#ifdef MADV_HUGEPAGE
  long size = sysconf(_SC_PAGESIZE);
  uintptr_t page = size > 0 ? (uintptr_t)size : 4096;
  uintptr_t start;
  uintptr_t end;

  start = (uintptr_t)text & ~(page - 1);
  end = (uintptr_t)PyUnicode_DATA(text) +
        (uintptr_t)PyUnicode_GET_LENGTH(text) + 1;
  end = (end + page - 1) & ~(page - 1);
  (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
  (void)text;
#endif
}

/* Large ASCII text decodes to a copy of its bytes under every codec with a
 * kind.  Building the str by hand lets us advise its fresh memory for
 * transparent huge pages before touching it: filling 256 MiB of new memory
 * otherwise costs 65536 page faults, the largest part of a big decode.
 * Returns NULL without an exception when the fast path does not apply. */
#define LARGE_TEXT ((size_t)4 << 20)
static PyObject *decode_large_ascii(const native_codec *c, const char *data,
                                    size_t len)
{
  PyObject *text;

  if (len < LARGE_TEXT || c->kind == CODEC_OTHER || !cuprum_ascii(data, len))
    return NULL;
  text = PyUnicode_New((Py_ssize_t)len, 127);
  if (text == NULL)
    return NULL;
  native_advise_huge(text);
  memcpy(PyUnicode_DATA(text), data, len);
  return text;
}

PyObject *native_codec_decode(const native_codec *c, const char *data,
                              size_t len)
{
  const char *errors = PyUnicode_AsUTF8(c->errors);
  Py_ssize_t n = (Py_ssize_t)len;

  if (errors == NULL)
    return NULL;
  {
    PyObject *fast = decode_large_ascii(c, data, len);
    if (fast != NULL || PyErr_Occurred())
      return fast;
  }
  switch (c->kind) {
  case CODEC_UTF8:
    return PyUnicode_DecodeUTF8(data, n, errors);
  case CODEC_LATIN1:
    return PyUnicode_DecodeLatin1(data, n, errors);
  case CODEC_ASCII:
    return PyUnicode_DecodeASCII(data, n, errors);
  default:
    return PyUnicode_Decode(data, n, PyUnicode_AsUTF8(c->name), errors);
  }
}
