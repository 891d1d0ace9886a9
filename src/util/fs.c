#include "util/fs.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/sigclean.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int dk_read_file(const char *path, char **data, size_t *len, size_t max)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return dk_fail_errno("%s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return dk_fail_errno("%s", path);
	if (S_ISDIR(st.st_mode))
		return dk_fail("%s: is a directory", path);
	if (!S_ISREG(st.st_mode))
		return dk_fail("%s: not a regular file (a device, FIFO or socket)", path);
	if (fcntl(fd, F_SETFL, 0) < 0)
		return dk_fail_errno("%s", path);
	struct dk_buf b = {0};
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			dk_buf_free(&b);
			return dk_fail_errno("%s", path);
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max) {
			dk_buf_free(&b);
			return dk_fail("%s: file too large (limit %zu bytes)", path, max);
		}
		dk_buf_append(&b, chunk, (size_t)n);
	}
	if (!b.data)
		b.data = dk_calloc(1, 1);
	*data = b.data;
	if (len)
		*len = b.len;
	return 0;
}

char *dk_read_host_str(const char *abs)
{
	_cleanup_free_ char *p = dk_host_path(abs);
	char *d = NULL;
	size_t n;
	if (dk_read_file(p, &d, &n, 1 << 20) < 0) {
		dk_errclear();
		return NULL;
	}
	return dk_strstrip(d);
}

long long dk_read_host_ll(const char *abs, long long def)
{
	_cleanup_free_ char *s = dk_read_host_str(abs);
	if (!s || !*s)
		return def;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || (*end && *end != '\n' && *end != ' '))
		return def;
	return v;
}

bool dk_host_exists(const char *abs)
{
	_cleanup_free_ char *p = dk_host_path(abs);
	return access(p, F_OK) == 0;
}

bool dk_path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int dk_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = dk_strdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return dk_fail_errno("%s", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return dk_fail_errno("%s", p);
	struct stat st;
	if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return dk_fail("%s: not a directory", p);
	return 0;
}

int dk_rm_rf(const char *path)
{
	if (!path || !*path || strcmp(path, "/") == 0)
		return dk_fail("refusing to remove '%s'", path ? path : "");
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : dk_fail_errno("%s", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0)
			return dk_fail_errno("%s", path);
		return 0;
	}
	DIR *d = opendir(path);
	if (!d)
		return dk_fail_errno("%s", path);
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		_cleanup_free_ char *c = dk_asprintf("%s/%s", path, e->d_name);
		if (dk_rm_rf(c) < 0)
			rc = -1;
	}
	closedir(d);
	if (rmdir(path) < 0)
		return dk_fail_errno("%s", path);
	return rc;
}

/* Temporary files are "<dir>/.<stem>.dkvm-tmp.<pid>.XXXXXX", where stem is the
 * final base name (its first TMP_STEM_MAX bytes, so the name stays under
 * NAME_MAX). The writer holds an exclusive flock on the temp while it is open. */
#define TMP_TAG ".dkvm-tmp."
#define TMP_STEM_MAX 200
/* A temp left by a crash ages this long (mtime) before a live process with a
 * reused pid no longer protects it; a temp between its creation and its flock
 * is this fresh, so it is never taken for stale. */
#define TMP_GRACE_SEC 60

static bool tmp_suffix_ok(const char *s, long *pid)
{
	/* "<digits>.<6 mkstemp characters>" and nothing else */
	const char *p = s;
	long v = 0;
	while (*p >= '0' && *p <= '9' && p - s < 10)
		v = v * 10 + (*p++ - '0');
	if (p == s || *p != '.' || v <= 0)
		return false;
	p++;
	for (int i = 0; i < 6; i++, p++) {
		char c = *p;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	if (*p)
		return false;
	*pid = v;
	return true;
}

/* Is this temp left behind by a writer that is gone? Only when no process
 * holds its lock and (its pid is gone, or it is older than the grace period:
 * a pid reused by another process, or a temp from another host). A temp
 * whose lock cannot be tested is stale only when its pid is gone. */
static bool tmp_stale(int dfd, const char *name, long pid, dev_t *dev, ino_t *ino)
{
	if (pid == (long)getpid())
		return false;
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false;
	struct stat fst;
	bool stale = false;
	if (fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode) && fst.st_dev == st.st_dev &&
	    fst.st_ino == st.st_ino) {
		bool gone = kill((pid_t)pid, 0) < 0 && errno == ESRCH;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			time_t now = time(NULL);
			stale = gone || now - fst.st_mtime > TMP_GRACE_SEC;
		} else if (errno != EWOULDBLOCK) {
			stale = gone;
		}
		*dev = fst.st_dev;
		*ino = fst.st_ino;
	}
	close(fd); /* drops our lock */
	return stale;
}

int dk_atomic_clean_stale(const char *dir, const char *base)
{
	size_t stem = strnlen(base, TMP_STEM_MAX);
	_cleanup_free_ char *prefix = dk_asprintf(".%.*s" TMP_TAG, (int)stem, base);
	size_t plen = strlen(prefix);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	int ddup = dup(dfd);
	DIR *d = ddup >= 0 ? fdopendir(ddup) : NULL;
	if (!d) {
		if (ddup >= 0)
			close(ddup);
		close(dfd);
		return 0;
	}
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		long pid;
		if (strncmp(e->d_name, prefix, plen) != 0 || !tmp_suffix_ok(e->d_name + plen, &pid))
			continue;
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		dev_t dev;
		ino_t ino;
		if (!tmp_stale(dfd, e->d_name, pid, &dev, &ino))
			continue;
		/* still the same file under that name? */
		struct stat st;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_dev == dev && st.st_ino == ino && unlinkat(dfd, e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	close(dfd);
	return removed;
}

int dk_atomic_open(struct dk_atomic *a, const char *final_path, bool force, mode_t mode)
{
	a->fd = -1;
	a->final_path = a->tmp_path = NULL;
	a->guard = 0;
	struct stat st;
	if (lstat(final_path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return dk_fail("%s: is a directory", final_path);
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
			return dk_fail("%s: not a regular file (a device, FIFO or socket); refusing to replace it",
				       final_path);
		if (!force)
			return dk_fail("%s: already exists (use --force to overwrite)", final_path);
	}
	_cleanup_free_ char *d1 = dk_strdup(final_path), *d2 = dk_strdup(final_path);
	const char *dir = dirname(d1), *base = basename(d2);
	/* temps of earlier runs that were killed (SIGKILL, power loss) */
	dk_atomic_clean_stale(dir, base);
	a->tmp_path = dk_asprintf("%s/.%.*s" TMP_TAG "%ld.XXXXXX", dir, (int)strnlen(base, TMP_STEM_MAX),
				  base, (long)getpid());
	int slot;
	a->fd = dk_sigclean_mkstemp(a->tmp_path, &slot); /* removed if we are killed */
	a->guard = slot + 1;
	if (a->fd < 0) {
		int rc = dk_fail_errno("%s: cannot create temporary file in %s", final_path, dir);
		free(a->tmp_path);
		a->tmp_path = NULL;
		return rc;
	}
	/* held until commit/abort (or death): marks the temp as in use */
	flock(a->fd, LOCK_EX | LOCK_NB);
	fchmod(a->fd, mode);
	a->final_path = dk_strdup(final_path);
	return 0;
}

int dk_output_check(const char *path, bool force)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode))
		return dk_fail("%s: is a directory", path);
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		return dk_fail("%s: not a regular file (a device, FIFO or socket); refusing to replace it", path);
	if (!force)
		return dk_fail("%s: already exists (use --force to replace it)", path);
	return 0;
}

int dk_atomic_commit(struct dk_atomic *a)
{
	int rc = 0;
	if (fsync(a->fd) < 0)
		rc = dk_fail_errno("%s", a->final_path);
	if (close(a->fd) < 0 && rc == 0)
		rc = dk_fail_errno("%s", a->final_path);
	a->fd = -1;
	if (rc == 0 && rename(a->tmp_path, a->final_path) < 0)
		rc = dk_fail_errno("%s", a->final_path);
	if (rc < 0) {
		unlink(a->tmp_path);
	} else {
		_cleanup_free_ char *d = dk_strdup(a->final_path);
		int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	dk_sigclean_del(a->guard - 1);
	a->guard = 0;
	free(a->tmp_path);
	free(a->final_path);
	a->tmp_path = a->final_path = NULL;
	return rc;
}

void dk_atomic_abort(struct dk_atomic *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->tmp_path)
		unlink(a->tmp_path);
	dk_sigclean_del(a->guard - 1);
	a->guard = 0;
	free(a->tmp_path);
	free(a->final_path);
	a->fd = -1;
	a->tmp_path = a->final_path = NULL;
}

int dk_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return dk_fail_errno("write");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int dk_pwrite_all(int fd, const void *data, size_t len, off_t off)
{
	const char *p = data;
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return dk_fail_errno("write");
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int dk_pread_all(int fd, void *data, size_t len, off_t off)
{
	char *p = data;
	while (len) {
		ssize_t n = pread(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return dk_fail_errno("read");
		}
		if (n == 0)
			return dk_fail("short read (file truncated?)");
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int dk_write_file_atomic(const char *path, const void *data, size_t len, bool force, mode_t mode)
{
	struct dk_atomic a;
	if (dk_atomic_open(&a, path, force, mode) < 0)
		return -1;
	if (dk_write_all(a.fd, data, len) < 0) {
		dk_fail_prefix("%s", path);
		dk_atomic_abort(&a);
		return -1;
	}
	return dk_atomic_commit(&a);
}

int dk_edit_system_file(const char *abs, const void *data, size_t len, char **backup_out)
{
	return dk_edit_system_file_mode(abs, data, len, (mode_t)-1, backup_out);
}

int dk_edit_system_file_mode(const char *abs, const void *data, size_t len, mode_t want, char **backup_out)
{
	_cleanup_free_ char *path = dk_root_path(abs);
	if (backup_out)
		*backup_out = NULL;
	_cleanup_free_ char *d = dk_strdup(path);
	if (dk_mkdir_p(dirname(d), 0755) < 0)
		return -1;
	struct stat st;
	mode_t mode = 0644;
	if (stat(path, &st) == 0) {
		mode = st.st_mode & 07777;
		char *old = NULL;
		size_t oldlen = 0;
		if (dk_read_file(path, &old, &oldlen, 64u << 20) < 0)
			return -1;
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
		char *bak = dk_asprintf("%s.dkvm-bak.%s", path, stamp);
		int rc = dk_write_file_atomic(bak, old, oldlen, false, mode);
		free(old);
		if (rc < 0) {
			free(bak);
			return -1;
		}
		if (backup_out)
			*backup_out = bak;
		else
			free(bak);
	}
	return dk_write_file_atomic(path, data, len, true, want == (mode_t)-1 ? mode : want);
}

int dk_read_system_text(const char *abs, char **data, mode_t *mode)
{
	*data = NULL;
	char *p = dk_root_path(abs);
	struct stat st;
	int rc = 1;
	size_t len;
	if (lstat(p, &st) < 0)
		rc = errno == ENOENT ? 0 : dk_fail_errno("%s", p);
	else if (!S_ISREG(st.st_mode))
		rc = dk_fail("%s: not a regular file", p);
	else if (dk_read_file(p, data, &len, 1u << 20) < 0)
		rc = -1;
	else if (strlen(*data) != len) {
		free(*data);
		*data = NULL;
		rc = dk_fail("%s: holds NUL bytes, not a text file", p);
	} else if (mode)
		*mode = st.st_mode & 07777;
	free(p);
	return rc;
}
