/* The one way dkvm runs another program (no shell). Every child gets stdin
 * from /dev/null (or a pipe), only the fds it is given (everything else is
 * close-on-exec), its own process group (so a deadline kills what it started
 * too), and an empty signal mask. Exit status, deadlines, EINTR and bounded
 * capture are handled here once. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct dk_run_opts {
	int timeout_ms;        /* > 0: at the deadline SIGKILL goes to the child's process group */
	size_t out_max;        /* > 0: capture stdout, keeping its first out_max bytes (the rest
				* is read and dropped); 0: stdout to /dev/null */
	size_t err_max;        /* the same for stderr (ignored with merge_err) */
	bool merge_err;        /* stderr into the stdout capture (2>&1) */
	bool search_path;      /* argv[0] without a '/' is looked up in $PATH */
	char *const *env;      /* NULL-terminated NAME=VALUE strings added to the environment */
};

struct dk_cmd_result {
	int status;            /* exit status, or -1 when killed by a signal */
	int signal;            /* the signal that killed it, else 0 */
	bool timed_out;        /* the deadline passed: it was killed (status/signal say how it ended) */
	int exec_errno;        /* the program could not be started: errno of exec (status is 127) */
	char *out;             /* captured stdout, NUL-terminated (never NULL when captured) */
	size_t out_len;
	char *err;             /* captured stderr, likewise */
	size_t err_len;
};

/* Run argv[0] with argv and wait for it. Returns 0 when it ran (whatever it
 * exited with, or when the deadline killed it: see r), -1 (dk_fail) when it
 * could not be started at all (pipe, fork). r is always initialised. */
int dk_run_argv(char *const argv[], const struct dk_run_opts *o, struct dk_cmd_result *r);
void dk_cmd_result_free(struct dk_cmd_result *r);

/* A running child talked to through pipes. */
struct dk_child {
	pid_t pid;
	int in;                /* write end of its stdin (-1 when not piped) */
	int out;               /* read end of its stdout (-1 when not piped) */
};
/* Start argv with its stdin and stdout on pipes (in/out), stderr to
 * /dev/null; o may be NULL (only search_path and env are used). */
int dk_spawn_piped(char *const argv[], const struct dk_run_opts *o, struct dk_child *c);
/* Close c's pipes and wait up to timeout_ms (<= 0: no limit) for it, then
 * kill its process group. Fills r's status fields. */
void dk_child_wait(struct dk_child *c, int timeout_ms, struct dk_cmd_result *r);

/* Start argv (exact path) in a new session, stdin /dev/null, stdout and
 * stderr to out_fd, every other fd closed; an exec failure is written to
 * out_fd ("exec PATH: why") and the child exits 127. It is not waited for:
 * the caller owns *pid. Returns -1 (dk_fail) when fork fails. */
int dk_spawn_detached(char *const argv[], int out_fd, pid_t *pid);
