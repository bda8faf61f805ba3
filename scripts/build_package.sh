#!/usr/bin/env bash
# Builds the Debian package ttlogin with dpkg-buildpackage (debian/rules says why debhelper) and
# puts the .deb, the -dbgsym .deb, .changes and .buildinfo in build-deb/ (OUT_DIR).
# The build runs on a copy of the tree in build-deb/src/, because dpkg-buildpackage writes its
# results into the parent folder of the source and leaves obj-*/ and debian/ttlogin/ behind.
# Prints the path of the .deb as its last line.
# Usage: scripts/build_package.sh        env: OUT_DIR, JOBS (default 2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT_DIR:-$root/build-deb}
jobs=${JOBS:-2}
cd "$root"

# One version: the project's in CMakeLists.txt and the package's in debian/changelog.
project_version=$(sed -n 's/^project(ttlogin VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
package_version=$(dpkg-parsechangelog -S Version)
if [ -z "$project_version" ] || [ "${package_version%%-*}" != "$project_version" ]; then
  echo "build_package: debian/changelog says $package_version, CMakeLists.txt says" \
    "'$project_version'; make them equal (dch -v $project_version)" >&2
  exit 1
fi

case $out in
  / | "$root" | "$HOME") echo "build_package: OUT_DIR=$out would be wiped; pick a folder of its own" >&2
    exit 1 ;;
esac
src=$out/src/ttlogin-$package_version
rm -rf "$out"
mkdir -p "$src"
# The tree as git sees it (tracked and new files, not the ignored build folders).
git ls-files -co --exclude-standard | while IFS= read -r f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar -C "$root" --null -T - -cf - | tar -C "$src" -xf -

# Reuse the compiler cache when there is one (CMake reads these as the launchers' defaults).
if command -v ccache >/dev/null 2>&1; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
export DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}"
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
  tail -40 "$out/build.log" >&2
  echo "build_package: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
rm -rf "$out/src"
ls "$out"/ttlogin_"$package_version"_*.deb
