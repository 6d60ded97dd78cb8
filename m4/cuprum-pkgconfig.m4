# SPDX-License-Identifier: ISC
# cuprum-pkgconfig.m4 - pkg-config, when a part of the build needs it.

# CUPRUM_PKG_CONFIG
# -----------------
# Finds pkg-config (PKG_PROG_PKG_CONFIG) and stops, naming the Debian
# package and the switches that do without it, when it is missing but a
# part being built needs it: the test suite (it finds cmocka with it) and
# the Python binding (its setup.py finds libcuprum with it).  The library
# itself builds and installs cuprum.pc without pkg-config.  Uses the values
# of --enable-tests and --enable-python as given on the command line (both
# default to yes), so it can run before CUPRUM_TESTS and CUPRUM_PYTHON.
AC_DEFUN([CUPRUM_PKG_CONFIG], [
PKG_PROG_PKG_CONFIG([0.29])
AS_IF([test -z "$PKG_CONFIG"], [
  cuprum_pc_users=
  cuprum_pc_switches=
  AS_IF([test "x$enable_tests" != xno],
    [cuprum_pc_users="the test suite (to find cmocka)"
     cuprum_pc_switches="--disable-tests"])
  AS_IF([test "x$enable_python" != xno],
    [cuprum_pc_users="${cuprum_pc_users:+$cuprum_pc_users and }the Python binding (to find libcuprum)"
     cuprum_pc_switches="${cuprum_pc_switches:+$cuprum_pc_switches }--disable-python"])
  AS_IF([test -n "$cuprum_pc_users"],
    [AC_MSG_ERROR([pkg-config (0.29 or newer) was not found; it is needed by $cuprum_pc_users: install it (Debian: apt-get install pkg-config), set PKG_CONFIG=/path/to/pkg-config, or configure with $cuprum_pc_switches])])
])
])
