# SPDX-License-Identifier: ISC
# cuprum-libc.m4 - what libcuprum needs from the C library and the system.

# CUPRUM_LIBC
# -----------
# libcuprum needs Linux's splice() and the POSIX signal calls it uses to
# consume a SIGPIPE it caused (pthread_sigmask, sigtimedwait); configure
# stops when one is missing.  pthread_sigmask lives in libc on glibc 2.32
# and later but in libpthread on older systems: the library the search
# needed (if any) is linked into libcuprum and goes to CUPRUM_LIBS_PRIVATE,
# which cuprum.pc lists in Libs.private for static links.
# strerrordesc_np is optional (HAVE_STRERRORDESC_NP).
AC_DEFUN([CUPRUM_LIBC], [
AC_REQUIRE([AC_PROG_CC])
cuprum_save_LIBS=$LIBS
LIBS=
AC_SEARCH_LIBS([pthread_sigmask], [pthread], [],
  [AC_MSG_ERROR([libcuprum needs pthread_sigmask (Linux with glibc)])])
CUPRUM_LIBS_PRIVATE=$LIBS
LIBS="$cuprum_save_LIBS $CUPRUM_LIBS_PRIVATE"
AC_CHECK_FUNCS([splice sigtimedwait], [],
  [AC_MSG_ERROR([libcuprum needs $ac_func (Linux with glibc)])])
AC_CHECK_FUNCS([strerrordesc_np])
AC_SUBST([CUPRUM_LIBS_PRIVATE])
])
