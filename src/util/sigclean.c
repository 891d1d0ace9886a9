/* Signal-time removal of temporary files (see sigclean.h). */
#include "util/sigclean.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

#define SLOTS 8

/* A slot's path is written only while its flag is 0 and read by the handler
 * only while it is 1. */
static char paths[SLOTS][PATH_MAX];
static volatile sig_atomic_t used[SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool installed;

static void on_signal(int sig)
{
	int saved = errno;
	for (int i = 0; i < SLOTS; i++)
		if (used[i])
			unlink(paths[i]);
	signal(sig, SIG_DFL);
	raise(sig);
	errno = saved;
}

static void install(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) < 0 || old.sa_handler == SIG_IGN)
			continue; /* keep an ignored signal ignored (nohup) */
		struct sigaction sa = {.sa_handler = on_signal};
		sigemptyset(&sa.sa_mask);
		for (size_t j = 0; j < sizeof sigs / sizeof sigs[0]; j++)
			sigaddset(&sa.sa_mask, sigs[j]);
		sa.sa_flags = SA_RESETHAND;
		sigaction(sigs[i], &sa, NULL);
	}
	installed = true;
}

int dk_sigclean_add(const char *path)
{
	if (!path || strlen(path) >= PATH_MAX)
		return -1;
	int slot = -1;
	pthread_mutex_lock(&mu);
	if (!installed)
		install();
	for (int i = 0; i < SLOTS && slot < 0; i++)
		if (!used[i]) {
			strcpy(paths[i], path);
			atomic_signal_fence(memory_order_seq_cst);
			used[i] = 1;
			slot = i;
		}
	pthread_mutex_unlock(&mu);
	return slot;
}

void dk_sigclean_del(int slot)
{
	if (slot < 0 || slot >= SLOTS)
		return;
	pthread_mutex_lock(&mu);
	used[slot] = 0;
	pthread_mutex_unlock(&mu);
}

int dk_sigclean_mkstemp(char *tmpl, int *slot)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int fd = mkostemp(tmpl, O_CLOEXEC);
	int e = errno;
	*slot = fd >= 0 ? dk_sigclean_add(tmpl) : -1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return fd;
}
