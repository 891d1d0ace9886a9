#!/usr/bin/env bash
# Bad input to 'opencore config' and 'opencore validate': one-line errors that
# name the file and the cause, the right exit status, nothing left behind.
. "$(dirname "$0")/../lib.sh"
SAMPLE="$SHARED/fixtures/opencore/Sample-1.0.6.plist"
NL=$'sp ace\'q"uo\nte'
CFG=(opencore config -m MacPro7,1 -M sonoma)

one_line() { t_eq "$(wc -l <<<"$ERR")" 1 "stderr lines"; t_contains "$ERR" "dkvm: $1"; }

test_validate_empty_file_says_empty() {
  : >empty.plist
  t_exit 1 "$DKVM" opencore validate empty.plist
  one_line "empty.plist: empty file"
  t_eq "$OUT" ""
}

test_validate_newline_name_stays_one_line() {
  : >"$NL"
  t_exit 1 "$DKVM" opencore validate "$NL"
  one_line 'sp ace'"'"'q"uo\nte: empty file'
  t_exit 1 "$DKVM" --json opencore validate "$NL"
  one_line 'sp ace'
  t_eq "$OUT" ""
}

test_validate_missing_efi_dir_says_no_such_file() {
  t_exit 1 "$DKVM" opencore validate "$SAMPLE" --efi nonexist
  one_line "nonexist: No such file or directory"
  echo x >afile
  t_exit 1 "$DKVM" opencore validate "$SAMPLE" --efi afile
  one_line "afile: not a directory"
}

test_config_missing_kexts_dir_says_no_such_file() {
  t_exit 1 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --kexts nonexist
  one_line "nonexist: No such file or directory"
  [ ! -e out.plist ] || t_fail "partial output"
}

test_config_empty_output_name_is_usage_error() {
  t_exit 2 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o ""
  t_contains "$ERR" "dkvm: opencore config: empty output file name"
}

test_config_output_is_a_directory() {
  mkdir adir
  t_exit 1 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o adir
  one_line "adir: is a directory"
  t_exit 1 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o adir --force
  one_line "adir: is a directory"
  t_eq "$(ls -A adir)" ""
}

test_config_existing_output_refused_same_words_as_host_report() {
  echo keep >"$NL"
  t_exit 1 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o "$NL"
  one_line 'sp ace'"'"'q"uo\nte: already exists (use --force to replace it)'
  t_eq "$(cat "$NL")" keep
  t_eq "$(ls -A | grep -c '^\.sp')" 0 "temporary files left"
}

test_config_empty_smbios_json() {
  : >id.json
  t_exit 1 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --smbios id.json
  one_line "id.json: empty file"
  printf '{"SystemProductName": "MacPro7,1"' >id.json
  t_exit 1 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --smbios id.json
  one_line "id.json: not valid JSON: truncated"
  [ ! -e out.plist ] || t_fail "partial output"
}

test_config_bad_release_is_usage_error() {
  for r in ../x "" 1..2 .1 1.0.6x; do
    t_exit 2 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --release "$r"
    t_contains "$ERR" "--release must look like 1.0.6"
  done
  t_ok "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --release 1.0.6
}

test_config_choice_errors() {
  t_exit 2 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --gpu intel
  t_contains "$ERR" "dkvm: opencore config: --gpu must be none, amd, nvidia, navi22, navi or kepler, not 'intel'"
  t_exit 2 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --host-cpu arm
  t_contains "$ERR" "--host-cpu must be auto, intel or amd, not 'arm'"
  t_ok "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --gpu nvidia --host-cpu amd --explain
  t_contains "$OUT" "AMD host: no Intel power-management MSRs"
}

# a symbolic link inside a kext of --kexts DIR that leads outside the bundle
test_config_kext_symlink_outside_refused() {
  mkdir -p kx/Lilu.kext/Contents/MacOS
  printf '<?xml version="1.0"?><plist version="1.0"><dict><key>CFBundleIdentifier</key><string>as.vit9696.Lilu</string><key>CFBundleExecutable</key><string>Lilu</string></dict></plist>' \
    >kx/Lilu.kext/Contents/Info.plist
  echo exe >kx/Lilu.kext/Contents/MacOS/Lilu
  ln -s Lilu kx/Lilu.kext/Contents/MacOS/Alias   # inside the bundle: fine
  t_ok "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o ok.plist --kexts kx
  echo secret >outside
  ln -s ../../../outside kx/Lilu.kext/Contents/Resources
  t_exit 1 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --kexts kx
  one_line "kx/Lilu.kext/Contents/Resources: a symbolic link to $PWD/outside, outside the kext (refused)"
  [ ! -e out.plist ] || t_fail "partial output"
}

# deep_bplist N FILE: a binary plist of N arrays nested in each other
deep_bplist() {
  python3 - "$@" <<'PY'
import struct, sys
n, out = int(sys.argv[1]), sys.argv[2]
objs, offs = bytearray(b"bplist00"), []
for i in range(n):
    offs.append(len(objs)); objs += bytes([0xA1]) + struct.pack(">I", i + 1)
offs.append(len(objs)); objs += b"\x10\x00"
table = len(objs)
objs += b"".join(struct.pack(">I", o) for o in offs)
objs += bytes(6) + bytes([4, 4]) + struct.pack(">QQQ", n + 1, 0, table)
open(out, "wb").write(objs)
PY
}

# libplist recursed into 100k levels and crashed (SIGSEGV): bounded before parsing
test_deep_plists_refused() {
  deep_bplist 100000 deep.plist
  t_exit 1 "$DKVM" opencore validate deep.plist
  one_line "deep.plist: plist nested deeper than 128 levels"
  python3 -c 'import sys; n=1000000; open("deepx.plist","w").write("<plist><dict><key>a</key>"+"<array>"*n+"</array>"*n+"</dict></plist>")'
  t_exit 1 "$DKVM" opencore validate deepx.plist
  one_line "deepx.plist: plist nested deeper than 128 levels"
  t_exit 1 "$DKVM" opencore validate "$SAMPLE" --sample deep.plist
  one_line "deep.plist: plist nested deeper than 128 levels"
  t_exit 1 "$DKVM" "${CFG[@]}" -s deep.plist -o out.plist
  one_line "deep.plist: plist nested deeper than 128 levels"
  [ ! -e out.plist ] || t_fail "partial output"
  # a kext's Info.plist
  mkdir -p kx/Lilu.kext/Contents && cp deep.plist kx/Lilu.kext/Contents/Info.plist
  t_exit 1 "$DKVM" "${CFG[@]}" -s "$SAMPLE" -o out.plist --kexts kx
  one_line "kx/Lilu.kext/Contents/Info.plist: plist nested deeper than 128 levels"
  # 128 levels are fine
  deep_bplist 128 ok.plist
  t_exit 1 "$DKVM" opencore validate ok.plist
  one_line "ok.plist: the property list root is not a dictionary"
}

# 20k entries: the duplicate and plugin checks stay right (they were quadratic;
# speed is measured in bench/, not here)
test_validate_many_entries() {
  python3 - <<'PY'
n = 20000
def kx(bp, on="true"): return f'<dict><key>BundlePath</key><string>{bp}</string><key>Enabled</key><{on}/><key>ExecutablePath</key><string></string><key>PlistPath</key><string>Contents/Info.plist</string></dict>'
def pe(p): return f'<dict><key>Enabled</key><true/><key>Path</key><string>{p}</string></dict>'
ks = [kx(f"K{i}.kext") for i in range(n)] + [kx("k77.KEXT"), kx("K5.kext"), kx("K6.kext", "false")]
ks += [kx("P.kext/Contents/PlugIns/Q.kext"), kx("P.kext"), kx("K9.kext/Contents/PlugIns/R.kext")]
ts = [pe(f"T{i}.efi") for i in range(n)] + [pe("t5.efi")]
open("big.plist", "w").write('<?xml version="1.0"?><plist version="1.0"><dict><key>Kernel</key><dict><key>Add</key><array>'
    + "".join(ks) + '</array></dict><key>Misc</key><dict><key>Tools</key><array>' + "".join(ts) + '</array></dict></dict></plist>')
PY
  t_exit 1 "$DKVM" opencore validate big.plist
  t_eq "$(grep -c "is duplicated" <<<"$OUT")" 4 "duplicates"
  t_contains "$OUT" 'Kernel/Add[20000]/BundlePath: "k77.KEXT" is duplicated (also Kernel/Add[77])'
  t_contains "$OUT" 'Kernel/Add[20001]/BundlePath: "K5.kext" is duplicated (also Kernel/Add[5])'
  t_contains "$OUT" 'Kernel/Add[20002]/BundlePath: "K6.kext" is duplicated (also Kernel/Add[6])'
  t_contains "$OUT" 'Misc/Tools[20000]/Path: "t5.efi" is duplicated (also Misc/Tools[5])'
  t_contains "$OUT" 'Kernel/Add[20003]/BundlePath: plugin of P.kext, which is placed after it'
  t_not_contains "$OUT" 'Kernel/Add[20005]/BundlePath: plugin of'
}

t_main
