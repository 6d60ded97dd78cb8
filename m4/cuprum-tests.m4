# SPDX-License-Identifier: ISC
# cuprum-tests.m4 - the C test suite's switch and its framework, cmocka.

# CUPRUM_TESTS
# ------------
# --disable-tests leaves the test suite out; by default it is built, and
# then cmocka (1.1 or newer, found with pkg-config: CMOCKA_CFLAGS and
# CMOCKA_LIBS) is required, so that a missing framework never silently
# skips the suite.  A missing cmocka stops configure with the Debian package
# to install and the switch that does without it.  Defines the automake
# conditional ENABLE_TESTS.
AC_DEFUN([CUPRUM_TESTS], [
AC_REQUIRE([CUPRUM_PKG_CONFIG])
AC_ARG_ENABLE([tests],
  [AS_HELP_STRING([--disable-tests], [do not build the test suite (no cmocka)])],
  [], [enable_tests=yes])
AS_IF([test "x$enable_tests" != xno], [
  enable_tests=yes
  PKG_CHECK_MODULES([CMOCKA], [cmocka >= 1.1], [],
    [AC_MSG_ERROR([the test suite needs cmocka 1.1 or newer, which pkg-config cannot find ($CMOCKA_PKG_ERRORS): install it (Debian: apt-get install libcmocka-dev), add the directory of its cmocka.pc to PKG_CONFIG_PATH, or configure with --disable-tests])])
])
AM_CONDITIONAL([ENABLE_TESTS], [test "x$enable_tests" = xyes])
])
