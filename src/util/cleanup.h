/* systemd-style scope cleanup helpers. */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void dk_freep(void *p) { free(*(void **)p); }
static inline void dk_closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void dk_fclosep(FILE **f) { if (*f) fclose(*f); }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(dk_freep)
#define _cleanup_close_ _cleanup_(dk_closep)
#define _cleanup_fclose_ _cleanup_(dk_fclosep)

/* Take ownership out of a cleanup variable. */
#define DK_TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define DK_TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

#define DK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
