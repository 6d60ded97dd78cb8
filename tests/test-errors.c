/* SPDX-License-Identifier: ISC */
/*
 * test-errors.c - every code the library returns has a description; the
 * library's own codes stay clear of errno values; the version is right.
 */
#include "config.h"

#include "cuprum.h"
#include "testutil.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_strerror_own_codes(void **state)
{
  static const int codes[] = {CUPRUM_EBUFSIZE, CUPRUM_ENULL, CUPRUM_EFLAGS,
                              CUPRUM_ESTOPPED};
  const size_t n = sizeof(codes) / sizeof(codes[0]);

  (void)state;
  for (size_t i = 0; i < n; i++) {
    const char *s = cuprum_strerror(codes[i]);
    assert_non_null(s);
    assert_true(codes[i] < -4095);
    assert_string_not_equal(s, cuprum_strerror(-99999));
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(s, cuprum_strerror(codes[j]));
  }
}

static void test_strerror_errno(void **state)
{
  (void)state;
  assert_string_equal(cuprum_strerror(-EBADF), strerror(EBADF));
  assert_string_equal(cuprum_strerror(-ENOMEM), strerror(ENOMEM));
  assert_string_equal(cuprum_strerror(-EPIPE), strerror(EPIPE));
  assert_string_equal(cuprum_strerror(0), "success");
  assert_non_null(cuprum_strerror(1));
  assert_non_null(cuprum_strerror(-4095));
  assert_non_null(cuprum_strerror(-2147483647 - 1));
}

static void test_version(void **state)
{
  (void)state;
  assert_string_equal(cuprum_version(), CUPRUM_VERSION_STRING);
  assert_string_equal(cuprum_version(), PACKAGE_VERSION);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_fd_setup, test_fd_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      T(test_strerror_own_codes),
      T(test_strerror_errno),
      T(test_version),
  };
  return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
