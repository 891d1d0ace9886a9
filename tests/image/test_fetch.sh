#!/usr/bin/env bash
# dkvm opencore fetch against a fake GitHub (API JSON + zips) served by
# python3's http.server on 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
source "$DKVM_SRCDIR/tests/image/fake_release.sh"

# release_json OWNER REPO TAG ZIP [DIGEST] > json
release_json() {
  python3 - "$@" <<'PY'
import hashlib, json, os, sys
owner, repo, tag, z = sys.argv[1:5]
dg = sys.argv[5] if len(sys.argv) > 5 else "sha256:" + hashlib.sha256(open(z, "rb").read()).hexdigest()
n = os.path.basename(z)
print(json.dumps({"tag_name": tag, "name": tag, "assets": [
  {"name": n.replace(".zip", "-dSYM.zip"), "size": 3, "digest": None,
   "browser_download_url": f"https://github.com/{owner}/{repo}/releases/download/{tag}/nothing.zip"},
  {"name": n, "size": os.path.getsize(z), "digest": dg,
   "browser_download_url": f"https://github.com/{owner}/{repo}/releases/download/{tag}/{n}"}]}))
PY
}

# publish OWNER REPO TAG ZIP [DIGEST]: into srv/ as latest and as tags/TAG
publish() {
  local d=srv/repos/$1/$2/releases
  mkdir -p "$d/tags" "srv/$1/$2/releases/download/$3"
  release_json "$@" > "$d/latest"
  cp "$d/latest" "$d/tags/$3"
  cp "$4" "srv/$1/$2/releases/download/$3/"
}

start_server() {
  timeout 120 python3 -u -m http.server --bind 127.0.0.1 0 --directory srv > server.log 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 100); do
    PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' server.log | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  [ -n "$PORT" ] || t_fail "http.server did not start: $(cat server.log)"
  MIRROR=http://127.0.0.1:$PORT
}
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

setup_fake_github() {
  mk_release OpenCore-1.0.6-RELEASE
  mk_kext . Lilu
  zip -qr Lilu-1.7.1-RELEASE.zip Lilu.kext
  publish acidanthera OpenCorePkg 1.0.6 OpenCore-1.0.6-RELEASE.zip
  publish acidanthera Lilu 1.7.1 Lilu-1.7.1-RELEASE.zip
  export XDG_CACHE_HOME=$T/cache
  start_server
  trap stop_server EXIT
}

test_fetch_verify_cache_offline() {
  setup_fake_github
  t_ok "$DKVM" --json opencore fetch --kext Lilu --mirror "$MIRROR/"
  t_json "$OUT"
  local oc lilu
  oc=$(t_jget "$OUT" 'd["releases"][0]["path"]')
  lilu=$(t_jget "$OUT" 'd["releases"][1]["path"]')
  t_eq "$oc" "$T/cache/dkvm/releases/acidanthera/OpenCorePkg/1.0.6/OpenCore-1.0.6-RELEASE.zip"
  t_eq "$(t_jget "$OUT" 'd["releases"][0]["verified"]')" "True"
  t_eq "$(t_jget "$OUT" 'd["releases"][0]["cached"]')" "False"
  t_eq "$(t_jget "$OUT" 'd["releases"][1]["version"]')" "1.7.1"
  t_eq "$(t_jget "$OUT" 'd["releases"][0]["sha256"]')" "$(sha256sum OpenCore-1.0.6-RELEASE.zip | cut -d' ' -f1)"
  cmp "$oc" OpenCore-1.0.6-RELEASE.zip
  cmp "$lilu" Lilu-1.7.1-RELEASE.zip
  # again: from the cache
  t_ok "$DKVM" --json opencore fetch --kext Lilu --mirror "$MIRROR"
  t_eq "$(t_jget "$OUT" 'd["releases"][0]["cached"]')" "True"
  # pinned and cached: no network needed
  stop_server
  t_ok "$DKVM" opencore fetch --version 1.0.6 --kext Lilu@1.7.1 --mirror "$MIRROR"
  t_contains "$OUT" "cached, verified"
  # latest without the API: the newest verified release in the cache, with a warning
  t_ok "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "127.0.0.1:$PORT"
  t_contains "$ERR" "using the cached acidanthera/OpenCorePkg 1.0.6"
  t_contains "$OUT" "1.0.6"
  # nothing cached: one clear line
  t_exit 1 "$DKVM" opencore fetch --no-opencore --kext WhateverGreen --mirror "$MIRROR"
  t_eq "$(wc -l <<<"$ERR")" "1"
  t_contains "$ERR" "127.0.0.1:$PORT/repos/acidanthera/WhateverGreen/releases/latest"
  # the fetched zip builds an image
  mk_config config.plist
  rbytes ssdt 100 > SSDT-EC.aml
  unzip -q "$lilu" -d kexts
  t_ok "$DKVM" opencore image --release "$oc" --config config.plist --kext kexts/Lilu.kext --acpi SSDT-EC.aml -o oc.img
  # or straight from the kext release zip
  t_ok "$DKVM" opencore image --release "$oc" --config config.plist --kext "$lilu" --acpi SSDT-EC.aml -o oc2.img
  mcopy -i oc2.img@@1M ::/EFI/OC/Kexts/Lilu.kext/Contents/MacOS/Lilu lilu.bin
  cmp lilu.bin kexts/Lilu.kext/Contents/MacOS/Lilu
}

test_bad_digest_leaves_nothing() {
  mk_release OpenCore-1.0.6-RELEASE
  publish acidanthera OpenCorePkg 1.0.6 OpenCore-1.0.6-RELEASE.zip "sha256:$(printf '%064d' 0)"
  export XDG_CACHE_HOME=$T/cache
  start_server; trap stop_server EXIT
  t_exit 1 "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "SHA-256 mismatch"
  t_eq "$(wc -l <<<"$ERR")" "1"
  t_eq "$(find cache -type f | wc -l)" "0" "files left in the cache"
}

test_asset_wrong_size_or_missing_leaves_nothing() {
  mk_release OpenCore-1.0.6-RELEASE
  publish acidanthera OpenCorePkg 1.0.6 OpenCore-1.0.6-RELEASE.zip
  export XDG_CACHE_HOME=$T/cache
  local z=srv/acidanthera/OpenCorePkg/releases/download/1.0.6/OpenCore-1.0.6-RELEASE.zip
  local size; size=$(stat -c %s "$z")
  start_server; trap stop_server EXIT
  # shorter than the release lists
  head -c $((size - 10)) OpenCore-1.0.6-RELEASE.zip > "$z"
  t_exit 1 "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "got $((size - 10)) bytes, the release lists $size"
  t_eq "$(find cache -type f | wc -l)" "0" "files left in the cache"
  # longer
  { cat OpenCore-1.0.6-RELEASE.zip; printf 'xxxxxxxxxx'; } > "$z"
  t_exit 1 "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "OpenCore-1.0.6-RELEASE.zip: response larger than $((size + 1)) bytes"
  t_eq "$(find cache -type f | wc -l)" "0" "files left in the cache"
  # missing: the server's error page is not kept as the asset
  rm "$z"
  t_exit 1 "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "OpenCore-1.0.6-RELEASE.zip: not found (HTTP 404)"
  t_eq "$(wc -l <<<"$ERR")" "1"
  t_eq "$(find cache -type f | wc -l)" "0" "files left in the cache"
  # and then the right bytes are fetched and verified
  cp OpenCore-1.0.6-RELEASE.zip "$z"
  t_ok "$DKVM" opencore fetch --mirror "$MIRROR"
  cmp "$z" cache/dkvm/releases/acidanthera/OpenCorePkg/1.0.6/OpenCore-1.0.6-RELEASE.zip || t_fail "cached zip differs"
}

test_not_found_and_no_network() {
  mk_release OpenCore-1.0.6-RELEASE
  publish acidanthera OpenCorePkg 1.0.6 OpenCore-1.0.6-RELEASE.zip
  export XDG_CACHE_HOME=$T/cache
  start_server; trap stop_server EXIT
  t_exit 1 "$DKVM" opencore fetch --version 9.9.9 --mirror "$MIRROR"
  t_contains "$ERR" "releases/tags/9.9.9: not found (HTTP 404)"
  stop_server
  t_exit 1 "$DKVM" opencore fetch --mirror http://127.0.0.1:1
  t_eq "$(wc -l <<<"$ERR")" "1"
  t_contains "$ERR" "no network?"
  # garbage API answer
  mkdir -p srv/repos/acidanthera/Lilu/releases && echo '{"tag_name": 5' > srv/repos/acidanthera/Lilu/releases/latest
  start_server
  t_exit 1 "$DKVM" opencore fetch --no-opencore --kext Lilu --mirror "$MIRROR"
  t_contains "$ERR" "releases/latest: not a JSON object"
}

test_usage() {
  t_exit 2 "$DKVM" opencore fetch --kext NoSuchKext
  t_contains "$ERR" "unknown kext 'NoSuchKext'"
  t_exit 2 "$DKVM" opencore fetch --no-opencore
  t_ok "$DKVM" opencore fetch --help
  t_contains "$OUT" "usage: dkvm opencore fetch"
}

t_main
