#!/usr/bin/env bash
# Bad input to 'host check|iommu|report': a missing or non-directory sysroot,
# bad options, bad output paths: one-line errors, right exit status.
. "$(dirname "$0")/../lib.sh"

one_line() { t_eq "$(wc -l <<<"$ERR")" 1 "stderr lines"; t_contains "$ERR" "dkvm: $1"; }

test_missing_sysroot_is_an_error() {
  for verb in check iommu; do
    t_exit 1 "$DKVM" host $verb --sysroot "$T/nonexist"
    one_line "$T/nonexist: sysroot: No such file or directory"
    t_eq "$OUT" ""
    t_exit 1 "$DKVM" --json host $verb --sysroot "$T/nonexist"
    t_eq "$OUT" ""
  done
  DKVM_SYSROOT="$T/nonexist" t_exit 1 "$DKVM" host report -o r.tar
  one_line "$T/nonexist: sysroot: No such file or directory"
  [ ! -e r.tar ] || t_fail "report written for a missing sysroot"
}

test_file_as_sysroot_is_an_error() {
  echo x >afile
  t_exit 1 "$DKVM" host check --sysroot afile
  one_line "afile: sysroot: not a directory"
}

test_sysroot_name_with_newline_stays_one_line() {
  t_exit 1 "$DKVM" host iommu --sysroot $'a\nb'
  one_line 'a\nb: sysroot'
}

test_bad_options_one_error_line() {
  for verb in check iommu report; do
    t_exit 2 "$DKVM" host $verb --bogus
    t_eq "$(head -n1 <<<"$ERR")" "dkvm: host $verb: unknown option '--bogus'"
    t_eq "$(wc -l <<<"$ERR")" 2 "lines (error + hint)"
    t_exit 2 "$DKVM" host $verb -x
    t_eq "$(head -n1 <<<"$ERR")" "dkvm: host $verb: unknown option '-x'"
  done
  t_exit 2 "$DKVM" host iommu --device
  t_eq "$(head -n1 <<<"$ERR")" "dkvm: host iommu: option '--device' needs a value"
  t_exit 2 "$DKVM" host report -o
  t_eq "$(head -n1 <<<"$ERR")" "dkvm: host report: option '-o' needs a value"
}

test_report_output_is_a_directory() {
  mkdir adir
  t_exit 1 "$DKVM" host report --sysroot "$FIX/host/iommu-off" -o adir
  one_line "adir: is a directory"
  t_exit 1 "$DKVM" host report --sysroot "$FIX/host/iommu-off" -o adir --force
  one_line "adir: is a directory"
  t_eq "$(ls -A adir)" ""
}

# fxc NAME: a scratch copy of a fixture sysroot
fxc() { cp -a "$FIX/host/$1" "$T/$1"; if [ -e "$T/$1/dev/kvm" ]; then chmod 0660 "$T/$1/dev/kvm"; fi; echo "$T/$1"; }

test_fifos_in_sysroot_do_not_hang() {
  r=$(fxc intel-desktop)
  for f in proc/cpuinfo proc/cmdline sys/module/kvm/parameters/ignore_msrs; do rm -f "$r/$f"; mkfifo "$r/$f"; done
  t_exit 1 timeout 10 "$DKVM" host check --json --sysroot "$r"
  t_eq "$(t_jget "$OUT" "[k['summary'] for k in d['checks'] if k['id']=='host.files'][0]")" \
    "3 host files refused: /proc/cpuinfo: a FIFO, not a regular file, ..."
  t_contains "$(t_jget "$OUT" "[k['detail'] for k in d['checks'] if k['id']=='host.files'][0]")" \
    $'/proc/cmdline: a FIFO, not a regular file\n/sys/module/kvm/parameters/ignore_msrs: a FIFO, not a regular file'
  t_eq "$(t_jget "$OUT" "d['host']['cpu']['error']")" "/proc/cpuinfo: a FIFO, not a regular file"
  one_line "/proc/cpuinfo: a FIFO, not a regular file"
  DKVM_SYSROOT="$r" t_ok timeout 10 "$DKVM" host report -o rep.tar
  mkdir un && tar -xf rep.tar -C un
  [ ! -e un/proc/cpuinfo ] && [ ! -e un/proc/cmdline ] || t_fail "a FIFO made it into the report"
  t_contains "$(cat un/dkvm-host-check.json)" "3 host files refused"
  # a socket and a device where files belong, and a FIFO as pci.ids
  rm "$r/proc/cmdline" "$r/proc/cpuinfo"
  cp "$FIX/host/intel-desktop/proc/cpuinfo" "$r/proc/cpuinfo"
  python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$r/proc/cmdline"
  rm "$r/etc/os-release" && ln -s /dev/zero "$r/etc/os-release"
  mkdir -p "$r/usr/share/misc" && mkfifo "$r/usr/share/misc/pci.ids"
  t_exit 1 timeout 10 "$DKVM" host check --json --sysroot "$r"
  t_contains "$(t_jget "$OUT" "[k['detail'] for k in d['checks'] if k['id']=='host.files'][0]")" \
    $'/proc/cmdline: a socket, not a regular file\n/etc/os-release: a character device, not a regular file'
  t_ok timeout 10 "$DKVM" host iommu --json --sysroot "$r"
  DKVM_SYSROOT="$r" t_ok timeout 10 "$DKVM" host report -o rep2.tar
}

test_huge_cpuinfo_and_absurd_meminfo() {
  r=$(fxc intel-desktop)
  truncate -s 10G "$r/proc/cpuinfo"
  t_exit 1 timeout 10 "$DKVM" host check --json --sysroot "$r"
  t_eq "$(t_jget "$OUT" "d['host']['cpu']['error']")" "/proc/cpuinfo: larger than 16777216 bytes"
  one_line "/proc/cpuinfo: larger than 16777216 bytes"
  cp "$FIX/host/intel-desktop/proc/cpuinfo" "$r/proc/cpuinfo"
  jsum() { t_jget "$OUT" "[(k['status'], k['summary']) for k in d['checks'] if k['id']=='$1'][0]"; }
  printf 'MemTotal: 18446744073709551615 kB\nMemAvailable: 1024 kB\n' >"$r/proc/meminfo"
  t_exit 1 "$DKVM" host check --json --sysroot "$r"
  t_eq "$(jsum mem.total)" "('fail', 'memory size unknown: meminfo: MemTotal 18446744073709551615 kB is not plausible')"
  t_eq "$(t_jget "$OUT" "d['host']['memory_kib']")" 0
  printf 'MemTotal: 99999999999999999999999 kB\n' >"$r/proc/meminfo"
  t_exit 1 "$DKVM" host check --json --sysroot "$r"
  t_eq "$(jsum mem.total)" "('fail', \"memory size unknown: meminfo: MemTotal '99999999999999999999999' is not a number of kB\")"
  printf 'MemTotal: 16777216 kB\nMemAvailable: 33554432 kB\n' >"$r/proc/meminfo"
  t_exit 1 "$DKVM" host check --json --sysroot "$r"
  t_eq "$(jsum mem.total)" "('fail', 'memory size unknown: meminfo: MemAvailable 33554432 kB is more than MemTotal 16777216 kB')"
  # hugepages: from /proc/meminfo without sysfs, and from sysfs
  rm -rf "$r/sys/kernel/mm"
  printf 'MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\nHugePages_Total: 18446744073709551615\nHugePages_Free: 0\nHugepagesize: 2048 kB\n' >"$r/proc/meminfo"
  t_exit 1 "$DKVM" host check --json --sysroot "$r"
  t_eq "$(jsum mem.hugepages)" "('fail', 'hugepages unknown: meminfo: HugePages_Total 18446744073709551615 is not plausible (more than the 16.0 GiB of RAM)')"
  t_eq "$(jsum mem.total)" "('pass', '16.0 GiB RAM (8.0 GiB available)')"
  printf 'MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\nHugePages_Total: 1024\nHugePages_Free: 512\nHugepagesize: 2048 kB\n' >"$r/proc/meminfo"
  t_ok "$DKVM" host check --json --sysroot "$r"
  t_eq "$(jsum mem.hugepages)" "('pass', 'hugepages: 1024 x 2M (512 free), 0 x 1G (0 free)')"
  mkdir -p "$r/sys/kernel/mm/hugepages/hugepages-1048576kB"
  echo 18446744073709551615 >"$r/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
  t_exit 1 "$DKVM" host check --json --sysroot "$r"
  t_eq "$(jsum mem.hugepages)" "('fail', 'hugepages unknown: /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages: 18446744073709551615 pages is not plausible (more than the 16.0 GiB of RAM)')"
}

t_main
