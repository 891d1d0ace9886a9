#!/usr/bin/env bash
# The live QEMU facts (version, isa-applesmc, q35) are cached per binary in
# $XDG_CACHE_HOME/dkvm/qemu-facts.json; a cache for another binary is ignored.
. "$(dirname "$0")/../lib.sh"

qemu_facts() { t_jget "$1" 'json.dumps([d["qemu"]["version"], d["qemu"]["applesmc"], d["qemu"]["q35"]])'; }

test_cache_written_and_reused() {
  command -v qemu-system-x86_64 >/dev/null || t_skip "qemu-system-x86_64 not installed"
  export XDG_CACHE_HOME=$T/cache
  t_exit_any() { set +e; "$@" >"$T/.out" 2>"$T/.err"; set -e; OUT=$(cat "$T/.out"); }
  t_exit_any "$DKVM" host check --json
  first=$(qemu_facts "$OUT")
  [ -f "$T/cache/dkvm/qemu-facts.json" ] || t_fail "no cache file written"
  key_path=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"].split("|")[0])' "$T/cache/dkvm/qemu-facts.json")
  t_eq "$key_path" "$(t_jget "$OUT" 'd["qemu"]["path"]')" "cache key names the binary"
  t_exit_any "$DKVM" host check --json
  t_eq "$(qemu_facts "$OUT")" "$first" "facts from the cache"
  # a cache made for another binary (other key) must not be believed
  printf '{"key":"/nonexistent|1|1.0|1","version":"1.0.0","applesmc":false,"q35":false}' \
    > "$T/cache/dkvm/qemu-facts.json"
  t_exit_any "$DKVM" host check --json
  t_eq "$(qemu_facts "$OUT")" "$first" "facts after a foreign cache"
  t_not_contains "$(cat "$T/cache/dkvm/qemu-facts.json")" "nonexistent"
}

test_garbage_cache_is_ignored() {
  command -v qemu-system-x86_64 >/dev/null || t_skip "qemu-system-x86_64 not installed"
  export XDG_CACHE_HOME=$T/cache
  mkdir -p "$T/cache/dkvm"
  printf '\x00garbage{' > "$T/cache/dkvm/qemu-facts.json"
  set +e; "$DKVM" host check --json >"$T/out.json" 2>"$T/err"; set -e
  t_json "$(cat "$T/out.json")"
  t_eq "$(t_jget "$(cat "$T/out.json")" 'd["qemu"]["q35"]')" "True" "q35 after a garbage cache"
}

t_main
