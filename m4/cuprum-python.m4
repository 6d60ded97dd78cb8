# SPDX-License-Identifier: ISC
# cuprum-python.m4 - the Python binding's interpreter and what it needs.

# CUPRUM_PYTHON
# -------------
# --disable-python leaves the binding out.  By default `make` builds it,
# with its native extension cuprum._native linked against this tree's
# libcuprum, for the interpreter in PYTHON (default: Debian's
# /usr/bin/python3, else the first python3 on PATH), and `make check` runs
# its pytest suite.  Configure checks, in turn, that the interpreter is
# CPython 3.11 or newer, that it has setuptools, that its C headers
# compile (Python.h), and, when the tests are built, that it has pytest and
# hypothesis; each failure names the Debian package to install and the
# switch that does without it, so a configured tree always builds.
# Defines the automake conditional ENABLE_PYTHON.
AC_DEFUN([CUPRUM_PYTHON], [
AC_REQUIRE([AC_PROG_CC])
AC_REQUIRE([CUPRUM_PKG_CONFIG])
AC_ARG_VAR([PYTHON],
  [the Python interpreter for the binding (default /usr/bin/python3)])
AS_IF([test -z "$PYTHON" && test -x /usr/bin/python3],
      [PYTHON=/usr/bin/python3])
AC_PATH_PROG([PYTHON], [python3])
AC_ARG_ENABLE([python],
  [AS_HELP_STRING([--disable-python],
                  [do not build or test the Python binding])],
  [], [enable_python=yes])
AS_IF([test "x$enable_python" != xno], [
  enable_python=yes
  cuprum_py_other="another interpreter needs its own copy"
  AS_IF([test -z "$PYTHON"],
    [AC_MSG_ERROR([no python3 found for the Python binding: install it (Debian: apt-get install python3 python3-dev python3-setuptools), set PYTHON=/path/to/python3, or configure with --disable-python])])

  AS_IF(["$PYTHON" -c pass >/dev/null 2>&1], [],
    [AC_MSG_ERROR([$PYTHON (the interpreter for the Python binding) does not run: set PYTHON=/path/to/python3 (Debian 12: /usr/bin/python3), or configure with --disable-python])])
  AC_MSG_CHECKING([whether $PYTHON is CPython 3.11 or newer])
  AS_IF(["$PYTHON" -c 'import sys; sys.exit(sys.implementation.name != "cpython" or sys.version_info < (3, 11))' >/dev/null 2>&1],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([the Python binding needs CPython 3.11 or newer, and $PYTHON is not: set PYTHON=/path/to/python3 (Debian 12: /usr/bin/python3), or configure with --disable-python])])

  AC_MSG_CHECKING([whether $PYTHON has setuptools])
  AS_IF(["$PYTHON" -c 'import setuptools' >/dev/null 2>&1],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([$PYTHON cannot import setuptools, which builds the Python binding: install it (for Debian's /usr/bin/python3: apt-get install python3-dev python3-setuptools; $cuprum_py_other), or configure with --disable-python])])

  AC_MSG_CHECKING([for the C headers of $PYTHON])
  cuprum_py_include=`"$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()@<:@"include"@:>@)' 2>/dev/null`
  cuprum_save_CPPFLAGS=$CPPFLAGS
  CPPFLAGS="$CPPFLAGS -I$cuprum_py_include"
  AC_LANG_PUSH([C])
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <Python.h>]], [[return Py_IsInitialized();]])],
    [AC_MSG_RESULT([$cuprum_py_include])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([cannot compile against Python.h for $PYTHON (looked in ${cuprum_py_include:-the path sysconfig gives}), which the binding's native extension needs: install the headers (for Debian's /usr/bin/python3: apt-get install python3-dev python3-setuptools; $cuprum_py_other), or configure with --disable-python])])
  AC_LANG_POP([C])
  CPPFLAGS=$cuprum_save_CPPFLAGS

  AS_IF([test "x$enable_tests" = xyes], [
    AC_MSG_CHECKING([whether $PYTHON has pytest and hypothesis])
    AS_IF(["$PYTHON" -c 'import pytest, hypothesis' >/dev/null 2>&1],
      [AC_MSG_RESULT([yes])],
      [AC_MSG_RESULT([no])
       AC_MSG_ERROR([the Python binding's tests need pytest and hypothesis for $PYTHON: install them (for Debian's /usr/bin/python3: apt-get install python3-pytest python3-hypothesis; $cuprum_py_other), or configure with --disable-tests (no tests at all) or --disable-python (no binding)])])
  ])
])
AM_CONDITIONAL([ENABLE_PYTHON], [test "x$enable_python" = xyes])
])
