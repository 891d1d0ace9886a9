#!/usr/bin/env bash
# Installation and the Debian package: `meson install` into a DESTDIR installs
# exactly the binary, every docs/ man page and (when the build has them) the
# shell completions; debian/ builds a lintian-clean dkvm .deb (built once, in a
# copy of the tree, so the repository stays clean).
. "$(dirname "$0")/../lib.sh"

# the project version from meson.build
meson_version() {
  sed -n "s/^ *version : '\([^']*\)'.*/\1/p" "$DKVM_SRCDIR/meson.build" | head -n1
}

# man pages the package must ship: every docs/*.1
man_pages() {
  (cd "$DKVM_SRCDIR/docs" && ls -- *.1)
}

# check_completions LIST PREFIX...: the three completion files are either all
# absent from LIST (the build installs none) or all present under one of PREFIXes
# (meson's prefix, or /usr when the rule takes the directory from pkg-config).
check_completions() {
  local list=$1; shift
  local rel n=0 p found
  for rel in share/bash-completion/completions/dkvm share/zsh/vendor-completions/_dkvm \
             share/fish/vendor_completions.d/dkvm.fish; do
    found=
    for p in "$@"; do
      grep -qxF "$p/$rel" <<<"$list" && found=1
    done
    [ -n "$found" ] && n=$((n + 1))
  done
  [ "$n" = 0 ] || [ "$n" = 3 ] || t_fail "only $n of the 3 shell completion files are installed: $list"
}

# build_option NAME: a meson option's value in $DKVM_BUILD
build_option() {
  meson introspect "$DKVM_BUILD" --buildoptions |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]==sys.argv[1]][0])' "$1"
}

test_meson_install_destdir_file_list() {
  [ -n "${DKVM_BUILD:-}" ] || t_skip "DKVM_BUILD not set (run through tests/run.sh)"
  local prefix
  prefix=$(build_option prefix)
  t_ok meson install -C "$DKVM_BUILD" --destdir "$T/root" --no-rebuild --quiet
  local list m want
  list=$(cd "$T/root" && find . -type f -o -type l | sed 's/^\.//' | sort)
  t_contains "$list" "$prefix/bin/dkvm"
  [ -x "$T/root$prefix/bin/dkvm" ] || t_fail "$prefix/bin/dkvm is not executable"
  for m in $(man_pages); do
    t_contains "$list" "$prefix/share/man/man1/$m"
  done
  check_completions "$list" "$prefix" /usr
  # nothing else: no test or fuzz executables, no static library
  want=$( { echo "$prefix/bin/dkvm"; for m in $(man_pages); do echo "$prefix/share/man/man1/$m"; done; } | sort)
  local extra
  extra=$(comm -23 <(echo "$list") <(echo "$want") | grep -vE '/(bash-completion/completions/dkvm|zsh/vendor-completions/_dkvm|fish/vendor_completions\.d/dkvm\.fish)$' || true)
  t_eq "$extra" "" "unexpected installed files"
  # the installed binary runs
  t_ok "$T/root$prefix/bin/dkvm" --version
  t_contains "$OUT" "dkvm $(meson_version)"
}

test_debian_changelog_version_matches_meson() {
  command -v dpkg-parsechangelog >/dev/null || t_skip "dpkg-dev not installed"
  t_ok dpkg-parsechangelog -l "$DKVM_SRCDIR/debian/changelog" -S Version
  t_eq "$OUT" "$(meson_version)" "debian/changelog version vs meson.build"
}

# CI installs the packages in ./dev: every Build-Depends must be listed there
test_build_depends_are_in_dev() {
  local deps p pkgs
  deps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$DKVM_SRCDIR/debian/control" | sed '$d' |
    sed 's/^Build-Depends://' | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g' | grep -v '^$')
  t_contains "$deps" "libvirt-dev"
  pkgs=" $(sed -n '/^PKGS=(/,/^)/p' "$DKVM_SRCDIR/dev" | sed 's/#.*//' | tr -s ' \n' ' ') "
  for p in $deps; do
    case $p in debhelper-compat) p=debhelper ;; esac
    t_contains "$pkgs" " $p "
  done
}

test_deb_package() {
  local tool
  for tool in dpkg-buildpackage dpkg-source dpkg-deb dh lintian fakeroot; do
    command -v "$tool" >/dev/null || t_skip "$tool not installed"
  done
  # ./dev test runs the suite for a gcc and an ASan build: build the package once
  if [ -n "${DKVM_BUILD:-}" ] && [ "$(build_option b_sanitize)" != none ]; then
    t_skip "the package is built in the run without sanitizers"
  fi
  local v deb
  v=$(meson_version)
  mkdir "$T/src"
  (cd "$DKVM_SRCDIR" && tar -c --exclude='./build*' --exclude=./.git --exclude='./obj-*' \
     --exclude=./bench/out --exclude='./debian/dkvm' --exclude='./debian/.debhelper' .) | tar -x -C "$T/src"
  # the source package too (cheap), so lintian checks debian/ itself
  (cd "$T/src" && dpkg-source -b . >"$T/source.log" 2>&1) || t_fail "dpkg-source -b: $(tail -n 20 "$T/source.log")"
  # the one package build of the suite (compiles dkvm again)
  (cd "$T/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b >"$T/build.log" 2>&1) ||
    t_fail "dpkg-buildpackage: $(tail -n 30 "$T/build.log")"
  # neither built nor run: -Dtests=false, no test-* executable, no meson test
  local log
  log=$(cat "$T/build.log")
  t_contains "$log" "-Dtests=false"
  t_not_contains "$log" "tests/test-util"
  t_not_contains "$log" "meson test"
  deb=$(ls "$T"/dkvm_"$v"_*.deb)
  [ -f "$deb" ] || t_fail "no dkvm_${v}_*.deb in $T: $(ls "$T")"

  # files
  t_ok dpkg-deb -c "$deb"
  local list m
  list=$(awk '{print $NF}' <<<"$OUT" | sed 's/^\.//')
  t_contains "$list" "/usr/bin/dkvm"
  for m in $(man_pages); do
    t_contains "$list" "/usr/share/man/man1/$m.gz"
  done
  t_contains "$list" "/usr/share/doc/dkvm/copyright"
  t_contains "$list" "/usr/share/doc/dkvm/changelog.gz"
  check_completions "$(grep -v '/$' <<<"$list")" /usr
  t_not_contains "$list" "/usr/local"
  t_not_contains "$list" "test-"

  # control fields
  t_ok dpkg-deb -f "$deb" Package Version Depends Recommends
  t_contains "$OUT" "Package: dkvm"
  t_contains "$OUT" "Version: $v"
  local depends recommends
  depends=$(dpkg-deb -f "$deb" Depends)
  recommends=$(dpkg-deb -f "$deb" Recommends)
  t_contains "$depends" "qemu-system-x86"
  t_contains "$depends" "qemu-utils"
  t_contains "$depends" "ovmf"
  t_contains "$depends" "libvirt0"   # ${shlibs:Depends} was filled in
  t_contains "$recommends" "libvirt-daemon-system"
  t_contains "$recommends" "libvirt-clients"

  # the packaged binary runs
  t_ok dpkg-deb -x "$deb" "$T/x"
  t_ok "$T/x/usr/bin/dkvm" --version
  t_contains "$OUT" "dkvm $v"

  # lintian: no error and no warning on the source, the .deb and the .changes
  set +e
  lintian --fail-on error,warning "$T/dkvm_$v.dsc" "$deb" "$T"/dkvm_"$v"_*.changes >"$T/lintian.log" 2>&1
  local rc=$?
  set -e
  [ "$rc" = 0 ] || t_fail "lintian exited $rc: $(grep -v 'root privileges' "$T/lintian.log" | head -n 30)"
  if grep -qE '^(E|W): ' "$T/lintian.log"; then t_fail "lintian: $(grep -E '^(E|W): ' "$T/lintian.log" | head -n 20)"; fi
}

t_main
