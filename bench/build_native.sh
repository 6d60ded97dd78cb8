#!/bin/sh
# SPDX-License-Identifier: ISC
# Stage a measurable copy of the cuprum binding with its native extension,
# outside the source tree, for `PYTHONPATH=$DEST python3 -m bench`.
#
# usage: bench/build_native.sh [BUILD_TREE] [DEST]
#   BUILD_TREE  a configured and built libcuprum tree (default _build/ci)
#   DEST        where to put the copy (default /tmp/bench-pkg)
# The library is copied beside the package and the extension's rpath points
# at the copy, so rebuilding BUILD_TREE mid-run cannot break a measurement.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_build/ci}
dest=${2:-/tmp/bench-pkg}
python=${PYTHON:-/usr/bin/python3}
inc=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
mkdir -p "$dest/lib"
rm -rf "$dest/cuprum"
cp -r "$top/bindings/python/cuprum" "$dest/"
find "$dest/cuprum" -name __pycache__ -prune -exec rm -rf {} +
cp -L "$build/libcuprum/.libs/libcuprum.so.0" "$dest/lib/"
gcc -shared -fPIC -O2 -I"$inc" -I"$top/libcuprum" \
    "$top/bindings/python/cuprum/_native.c" \
    -L"$dest/lib" -l:libcuprum.so.0 -Wl,-rpath,"$dest/lib" \
    -o "$dest/cuprum/_native$suffix"
echo "staged $dest/cuprum (native: $dest/cuprum/_native$suffix)"
