/* Files: whole-file reads, atomic writes (temp + fsync + rename), directories,
 * and the backup rule for system files. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read a whole file (at most max bytes, else error "too large"). The buffer is
 * NUL-terminated (not counted in *len). Errors name the path. */
int dk_read_file(const char *path, char **data, size_t *len, size_t max);
/* Read a small text file under the sysroot, trimmed. NULL (no error set) if absent. */
char *dk_read_host_str(const char *abs);
/* Read an integer from a sysroot file; returns def when absent or malformed. */
long long dk_read_host_ll(const char *abs, long long def);
bool dk_host_exists(const char *abs);

bool dk_path_exists(const char *path);
int dk_mkdir_p(const char *path, mode_t mode);
/* rm -rf of a directory we created (refuses "/" and empty paths). */
int dk_rm_rf(const char *path);

/* Atomic output: open "<dir>/.<base>.dkvm-tmp.<pid>.XXXXXX" beside the final
 * path (base cut to 200 bytes), holding an exclusive flock on it. Refuses when
 * the final path exists and !force, and always when it is a directory, device,
 * FIFO or socket. Commit fsyncs, renames and fsyncs the dir; abort unlinks the
 * temp. Always call one of them. Until then the temp file is removed if the
 * process is killed by SIGINT/SIGTERM/SIGHUP (util/sigclean.h); temps left by
 * a process killed otherwise are removed by the next dk_atomic_open() of the
 * same path (dk_atomic_clean_stale). */
struct dk_atomic {
	int fd;
	char *final_path;
	char *tmp_path;
	int guard; /* sigclean slot + 1; 0 = none */
};
int dk_atomic_open(struct dk_atomic *a, const char *final_path, bool force, mode_t mode);
/* Remove the stale temps of "<dir>/<base>": regular files named exactly
 * ".<base>.dkvm-tmp.<pid>.XXXXXX" that no process holds a flock on, and whose
 * pid is gone (or that are older than a minute: a reused pid). A live
 * writer's temp is never removed. Returns how many were removed; never fails. */
int dk_atomic_clean_stale(const char *dir, const char *base);
/* The refusal dk_atomic_open() would give, checked up front (before long work):
 * "<path>: is a directory", "<path>: not a regular file (a device, FIFO or
 * socket)...", or "<path>: already exists (use --force to replace it)" when it
 * exists and !force. 0 when the path may be written. */
int dk_output_check(const char *path, bool force);
int dk_atomic_commit(struct dk_atomic *a);
void dk_atomic_abort(struct dk_atomic *a);

/* Whole-buffer atomic write. */
int dk_write_file_atomic(const char *path, const void *data, size_t len, bool force, mode_t mode);
/* Write all bytes (handles short writes / EINTR). */
int dk_write_all(int fd, const void *data, size_t len);
int dk_pwrite_all(int fd, const void *data, size_t len, off_t off);
/* Read exactly len bytes at off; error "short read" on EOF. */
int dk_pread_all(int fd, void *data, size_t len, off_t off);

/* A system text file under --root (dk_root_path): 1 with *data (and *mode,
 * when not NULL) when it is there, 0 with *data NULL when it is absent, -1
 * when it is not a regular text file (at most 1 MiB, no NUL bytes). */
int dk_read_system_text(const char *abs, char **data, mode_t *mode);

/* Edit a system file under --root: a backup "<path>.dkvm-bak.<UTC timestamp>" of
 * the current content is written first (when the file exists), then the new
 * content atomically. *backup_out (optional) receives the backup path. */
int dk_edit_system_file(const char *abs, const void *data, size_t len, char **backup_out);
/* The same, and the file's mode is `mode` afterwards (scripts: 0755). */
int dk_edit_system_file_mode(const char *abs, const void *data, size_t len, mode_t mode, char **backup_out);
