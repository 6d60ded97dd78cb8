# SPDX-License-Identifier: ISC
# cuprum-sanitizers.m4 - the --enable-sanitizers switch.

# CUPRUM_SANITIZERS
# -----------------
# --enable-sanitizers=LIST (for example address,undefined) builds the library,
# the examples and the C test suite with -fsanitize=LIST: the flags go to
# CUPRUM_CFLAGS and CUPRUM_LDFLAGS.  Configure checks that a program
# compiled and linked with them links, so a missing sanitizer runtime is
# reported here rather than by the first link of the build.  Off by default.
AC_DEFUN([CUPRUM_SANITIZERS], [
AC_REQUIRE([AC_PROG_CC])
AC_ARG_ENABLE([sanitizers],
  [AS_HELP_STRING([--enable-sanitizers=LIST],
                  [build with -fsanitize=LIST (e.g. address,undefined)])],
  [], [enable_sanitizers=no])
AS_CASE([$enable_sanitizers],
  [no|""], [],
  [yes], [AC_MSG_ERROR([--enable-sanitizers needs a list, e.g. --enable-sanitizers=address,undefined])],
  [cuprum_san_cflags="-fsanitize=$enable_sanitizers -fno-omit-frame-pointer -fno-sanitize-recover=all"
   AC_MSG_CHECKING([whether $CC can build and link with -fsanitize=$enable_sanitizers])
   cuprum_save_CFLAGS=$CFLAGS
   cuprum_save_LDFLAGS=$LDFLAGS
   CFLAGS="$CFLAGS $cuprum_san_cflags"
   LDFLAGS="$LDFLAGS -fsanitize=$enable_sanitizers"
   AC_LANG_PUSH([C])
   AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
     [AC_MSG_RESULT([yes])],
     [AC_MSG_RESULT([no])
      AC_MSG_ERROR([$CC cannot link with -fsanitize=$enable_sanitizers: check the list, and that the sanitizer runtimes are installed (GCC on Debian: apt-get install gcc, which pulls libasan and libubsan), or configure without --enable-sanitizers])])
   AC_LANG_POP([C])
   CFLAGS=$cuprum_save_CFLAGS
   LDFLAGS=$cuprum_save_LDFLAGS
   CUPRUM_CFLAGS="$CUPRUM_CFLAGS $cuprum_san_cflags"
   CUPRUM_LDFLAGS="$CUPRUM_LDFLAGS -fsanitize=$enable_sanitizers"])
AC_SUBST([CUPRUM_CFLAGS])
AC_SUBST([CUPRUM_LDFLAGS])
])
