/* Child processes: see run.h. Between fork and exec the child only makes
 * async-signal-safe calls (dkvm has threads): everything it needs, the
 * environment included, is prepared before the fork. */
#include "util/run.h"
#include "util/error.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* environ with the extra NAME=VALUE strings replacing or adding; NULL when none. */
static char **make_env(char *const *extra)
{
	if (!extra || !*extra)
		return NULL;
	size_t n = 0, k = 0;
	while (environ && environ[n])
		n++;
	while (extra[k])
		k++;
	char **e = dk_calloc(n + k + 1, sizeof *e);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t nl = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
		bool replaced = false;
		for (size_t j = 0; j < k && !replaced; j++)
			replaced = !strncmp(extra[j], environ[i], nl);
		if (!replaced)
			e[m++] = environ[i];
	}
	for (size_t j = 0; j < k; j++)
		e[m++] = extra[j];
	return e;
}

/* Every fd above stderr close-on-exec: those dkvm made are already, this
 * catches what a library opened without O_CLOEXEC. */
static void cloexec_from_3(void)
{
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* fds[0..2]: the child's stdin/stdout/stderr. ep: write end of the pipe
 * that reports an exec failure. Never returns. */
static void child(char *const argv[], const int fds[3], bool search, char **env, int ep)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	/* a source may itself be 0..2 (when dkvm's own were closed): lift them
	 * all above 2 first, so no dup2 overwrites a later source */
	int hi[3];
	for (int i = 0; i < 3; i++)
		hi[i] = fds[i] < 3 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 3) : fds[i];
	for (int i = 0; i < 3; i++)
		dup2(hi[i], i); /* the copy at i is not close-on-exec */
	cloexec_from_3();
	if (search && env)
		execvpe(argv[0], argv, env);
	else if (search)
		execvp(argv[0], argv);
	else
		execve(argv[0], argv, env ? env : environ);
	int e = errno;
	if (write(ep, &e, sizeof e) < 0) {
	}
	_exit(127);
}

/* Fork and exec with the given stdio fds (the caller closes its copies).
 * Returns the pid, or -1 (dk_fail); *exec_errno is set when exec failed. */
static pid_t start(char *const argv[], const struct dk_run_opts *o, const int fds[3], int *exec_errno)
{
	*exec_errno = 0;
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return dk_fail_errno("%s: pipe", argv[0]);
	char **env = make_env(o ? o->env : NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(ep[0]);
		child(argv, fds, o && o->search_path, env, ep[1]);
	}
	int fe = errno;
	free(env);
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		errno = fe;
		return dk_fail_errno("%s: fork", argv[0]);
	}
	setpgid(pid, pid); /* also here: no window where a deadline misses the group */
	int e = 0;
	ssize_t n;
	while ((n = read(ep[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(ep[0]);
	if (n == (ssize_t)sizeof e)
		*exec_errno = e;
	return pid;
}

static void kill_group(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

static void set_status(struct dk_cmd_result *r, int st)
{
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

/* Wait for pid until deadline (< 0: none); at the deadline kill its group. */
static void wait_pid(pid_t pid, long long deadline, struct dk_cmd_result *r)
{
	int st = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, deadline < 0 ? 0 : WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			st = 0;
			r->status = -1;
			return;
		}
		if (w == 0) {
			if (now_ms() >= deadline) {
				r->timed_out = true;
				kill_group(pid);
				deadline = -1;
				continue;
			}
			struct timespec ts = {0, 5 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	set_status(r, st);
}

static int open_null(void)
{
	return open("/dev/null", O_RDWR | O_CLOEXEC);
}

int dk_run_argv(char *const argv[], const struct dk_run_opts *o, struct dk_cmd_result *r)
{
	static const struct dk_run_opts none = {0};
	if (!o)
		o = &none;
	memset(r, 0, sizeof *r);
	r->status = -1;
	int nul = open_null();
	if (nul < 0)
		return dk_fail_errno("/dev/null");
	int op[2] = {-1, -1}, ep[2] = {-1, -1};
	bool cap_err = o->err_max > 0 && !o->merge_err;
	if ((o->out_max > 0 && pipe2(op, O_CLOEXEC) < 0) || (cap_err && pipe2(ep, O_CLOEXEC) < 0)) {
		int e = errno;
		close(nul);
		close_fd(&op[0]), close_fd(&op[1]), close_fd(&ep[0]), close_fd(&ep[1]);
		errno = e;
		return dk_fail_errno("%s: pipe", argv[0]);
	}
	int fds[3] = {nul, op[1] >= 0 ? op[1] : nul, cap_err ? ep[1] : o->merge_err && op[1] >= 0 ? op[1] : nul};
	pid_t pid = start(argv, o, fds, &r->exec_errno);
	close(nul);
	close_fd(&op[1]);
	close_fd(&ep[1]);
	if (pid < 0) {
		close_fd(&op[0]);
		close_fd(&ep[0]);
		return -1;
	}
	long long deadline = o->timeout_ms > 0 ? now_ms() + o->timeout_ms : -1;
	struct dk_buf b[2] = {{0}, {0}};
	int *pfd[2] = {&op[0], &ep[0]};
	size_t max[2] = {o->out_max, o->err_max};
	if (op[0] >= 0)
		dk_buf_puts(&b[0], "");
	if (ep[0] >= 0)
		dk_buf_puts(&b[1], "");
	while (op[0] >= 0 || ep[0] >= 0) {
		int left = -1;
		if (deadline >= 0) {
			long long l = deadline - now_ms();
			if (l <= 0) {
				r->timed_out = true;
				kill_group(pid);
				break;
			}
			left = l > 1000000000 ? 1000000000 : (int)l;
		}
		struct pollfd p[2];
		int np = 0, which[2];
		for (int i = 0; i < 2; i++)
			if (*pfd[i] >= 0) {
				p[np] = (struct pollfd){.fd = *pfd[i], .events = POLLIN};
				which[np++] = i;
			}
		int k = poll(p, (nfds_t)np, left);
		if (k < 0 && errno != EINTR)
			break;
		for (int j = 0; k > 0 && j < np; j++) {
			if (!p[j].revents)
				continue;
			int i = which[j];
			char chunk[8192];
			ssize_t n = read(*pfd[i], chunk, sizeof chunk);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				close_fd(pfd[i]);
				continue;
			}
			if (b[i].len < max[i])
				dk_buf_append(&b[i], chunk, (size_t)n < max[i] - b[i].len ? (size_t)n : max[i] - b[i].len);
		}
	}
	close_fd(&op[0]);
	close_fd(&ep[0]);
	wait_pid(pid, r->timed_out ? -1 : deadline, r);
	r->out = b[0].data, r->out_len = b[0].len;
	r->err = b[1].data, r->err_len = b[1].len;
	return 0;
}

void dk_cmd_result_free(struct dk_cmd_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}

int dk_spawn_piped(char *const argv[], const struct dk_run_opts *o, struct dk_child *c)
{
	c->pid = -1;
	c->in = c->out = -1;
	int nul = open_null();
	if (nul < 0)
		return dk_fail_errno("/dev/null");
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		int e = errno;
		close(nul);
		close_fd(&in[0]), close_fd(&in[1]), close_fd(&out[0]);
		errno = e;
		return dk_fail_errno("%s: pipe", argv[0]);
	}
	int fds[3] = {in[0], out[1], nul};
	int exec_errno;
	pid_t pid = start(argv, o, fds, &exec_errno);
	close(nul);
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	c->pid = pid;
	c->in = in[1];
	c->out = out[0];
	return 0;
}

void dk_child_wait(struct dk_child *c, int timeout_ms, struct dk_cmd_result *r)
{
	memset(r, 0, sizeof *r);
	r->status = -1;
	close_fd(&c->in);
	close_fd(&c->out);
	if (c->pid <= 0)
		return;
	wait_pid(c->pid, timeout_ms > 0 ? now_ms() + timeout_ms : -1, r);
	c->pid = -1;
}

int dk_spawn_detached(char *const argv[], int out_fd, pid_t *pid)
{
	pid_t p = fork();
	if (p < 0)
		return dk_fail_errno("fork");
	if (p == 0) {
		setsid();
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(out_fd, 1);
		dup2(out_fd, 2);
		closefrom(3);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	*pid = p;
	return 0;
}
