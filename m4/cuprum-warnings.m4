# SPDX-License-Identifier: ISC
# cuprum-warnings.m4 - compiler flags for the project's own C code.

# CUPRUM_WARNINGS
# ---------------
# Appends the project's warning flags and -fvisibility=hidden (only symbols
# marked CUPRUM_API are exported) to CUPRUM_CFLAGS, and adds -Werror when
# --enable-werror is given.  -Werror is off by default so that a newer
# compiler's new warning never breaks a user's build from the tarball; CI
# turns it on.  Each warning flag is kept only if the compiler accepts it,
# so a compiler other than GCC or Clang still builds the tarball.
AC_DEFUN([CUPRUM_WARNINGS], [
AC_REQUIRE([AC_PROG_CC])
AC_ARG_ENABLE([werror],
  [AS_HELP_STRING([--enable-werror], [treat compiler warnings as errors])],
  [], [enable_werror=no])
AC_LANG_PUSH([C])
for cuprum_flag in -Wall -Wextra -Wshadow -Wstrict-prototypes \
    -Wmissing-prototypes -Wpointer-arith -Wformat=2 -fvisibility=hidden; do
  AC_MSG_CHECKING([whether $CC accepts $cuprum_flag])
  cuprum_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -Werror $cuprum_flag"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); CUPRUM_CFLAGS="$CUPRUM_CFLAGS $cuprum_flag"],
    [AC_MSG_RESULT([no])
     AS_IF([test "x$cuprum_flag" = x-fvisibility=hidden],
       [AC_MSG_ERROR([$CC does not accept -fvisibility=hidden, which libcuprum needs to export only its API; use GCC or Clang (Debian: apt-get install gcc)])])])
  CFLAGS=$cuprum_save_CFLAGS
done
AC_LANG_POP([C])
AS_IF([test "x$enable_werror" = xyes],
      [CUPRUM_CFLAGS="$CUPRUM_CFLAGS -Werror"])
AC_SUBST([CUPRUM_CFLAGS])
])
