/*
 * lock.c - the lock of a checkpoint directory and the list of what it holds.
 *
 * One job at a time writes into a checkpoint directory D.  The job (its rank
 * 0) holds an exclusive flock() on the file D/LOCK, which says "<pid> <host>"
 * for the messages.  The kernel (or the NFS lock manager) drops the lock when
 * the process dies, however it dies, so a lock left by a crashed job is never
 * mistaken for a live one and a PID reused since cannot keep it.  A second job
 * waits up to TRIB_CKPT_LOCK_WAIT seconds (10, or the environment variable of
 * that name; a crashed job's ranks may still be
 * exiting while a launcher relaunches) and then refuses with "checkpoint
 * directory D is in use by PID p on host h".  On a file system without
 * flock(), the PID decides: a lock of this host whose PID is gone is stale.
 * The holder removes the file when it is done; a waiter that got the lock on
 * a file removed meanwhile starts over on the new one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/internal.h"

/* Seconds a job waits for the lock of a previous job that is still exiting
 * (TRIB_CKPT_LOCK_WAIT in the environment replaces it). */
#define TRIB_CKPT_LOCK_WAIT 10.0

/* The wait: TRIB_CKPT_LOCK_WAIT when set (seconds >= 0), else the default. */
static int lock_wait(double *secs)
{
    *secs = TRIB_CKPT_LOCK_WAIT;
    const char *v = getenv("TRIB_CKPT_LOCK_WAIT");
    if (!v || !*v)
        return TRIB_OK;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= 0.0 && d <= 86400.0))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "TRIB_CKPT_LOCK_WAIT: '%s' is not a number of seconds from 0 to 86400",
                           v);
    *secs = d;
    return TRIB_OK;
}

struct trib_ckpt_lock {
    char path[TRIB_CKPT_PATH_MAX];
    int fd;
};

static void host_name(char *buf, size_t cap)
{
    if (gethostname(buf, cap) != 0)
        snprintf(buf, cap, "unknown");
    buf[cap - 1] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == ' ' || *p == '\n')
            *p = '_';
}

/* Reads "<pid> <host>" from the lock file; 0 when it cannot be parsed. */
static int read_owner(int fd, long *pid, char *host, size_t cap)
{
    char line[512];
    ssize_t n = pread(fd, line, sizeof line - 1, 0);
    if (n <= 0)
        return 0;
    line[n] = '\0';
    char h[256];
    if (sscanf(line, "%ld %255s", pid, h) != 2 || *pid <= 0)
        return 0;
    snprintf(host, cap, "%s", h);
    return 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The file at path is still the one open as fd (not removed by the previous holder meanwhile). */
static int same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int busy(const char *dir, const char *path, int fd)
{
    long pid = 0;
    char host[256] = "?";
    if (!read_owner(fd, &pid, host, sizeof host))
        return trib_errorf(TRIB_ERR_EXISTS,
                           "checkpoint directory %s is in use: another process holds its lock %s", dir, path);
    return trib_errorf(TRIB_ERR_EXISTS,
                       "checkpoint directory %s is in use by PID %ld on host %s (lock %s)", dir, pid, host, path);
}

/* No flock() on this file system: the PID recorded in the file decides. */
static int pid_says_free(int fd, const char *me)
{
    long pid = 0;
    char host[256];
    if (!read_owner(fd, &pid, host, sizeof host))
        return 1; /* empty: a lock being written, or a crash before writing; take it */
    return strcmp(host, me) == 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int trib_ckpt_lock_acquire(const char *dir, trib_ckpt_lock_t **out)
{
    if (!dir || !out)
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_lock_acquire: NULL argument");
    *out = NULL;
    trib_ckpt_lock_t *l = calloc(1, sizeof *l);
    if (!l)
        return trib_errorf(TRIB_ERR_NOMEM, "checkpoint directory %s: no memory for its lock", dir);
    l->fd = -1;
    double wait_s;
    int rc = lock_wait(&wait_s);
    if (rc == TRIB_OK)
        rc = trib_io_mkdir_p(dir);
    if (rc == TRIB_OK)
        rc = trib_ckpt_join(l->path, sizeof l->path, dir, TRIB_CKPT_LOCK);
    char me[256];
    host_name(me, sizeof me);
    double deadline = now_s() + wait_s;
    while (rc == TRIB_OK) {
        l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (l->fd < 0) {
            rc = trib_errorf(TRIB_ERR_IO, "checkpoint directory %s: cannot open the lock %s: %s", dir, l->path,
                             strerror(errno));
            break;
        }
        int got = flock(l->fd, LOCK_EX | LOCK_NB) == 0;
        int e = errno;
        if (!got && e != EWOULDBLOCK && e != EINTR)
            got = pid_says_free(l->fd, me); /* no flock() here */
        if (got && !same_file(l->fd, l->path)) {
            close(l->fd); /* the previous holder removed it meanwhile: start over */
            l->fd = -1;
            continue;
        }
        if (got) {
            char line[320];
            int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), me);
            if (ftruncate(l->fd, 0) != 0 || pwrite(l->fd, line, (size_t)n, 0) != n) {
                rc = trib_errorf(TRIB_ERR_IO, "checkpoint directory %s: cannot write the lock %s: %s", dir,
                                 l->path, strerror(errno));
                break;
            }
            *out = l;
            return TRIB_OK;
        }
        if (now_s() >= deadline || (e != EWOULDBLOCK && e != EINTR)) {
            rc = busy(dir, l->path, l->fd);
            break;
        }
        close(l->fd);
        l->fd = -1;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (l->fd >= 0)
        close(l->fd);
    free(l);
    return rc;
}

void trib_ckpt_lock_release(trib_ckpt_lock_t *l)
{
    if (!l)
        return;
    unlink(l->path); /* while still holding it: a waiter then sees a removed file and starts over */
    close(l->fd);
    free(l);
}

int trib_ckpt_list(const char *dir, char *names, size_t cap, size_t *count)
{
    if (!dir || !count || (cap && !names))
        return trib_errorf(TRIB_ERR_INVALID_ARG, "trib_ckpt_list: NULL argument");
    *count = 0;
    if (cap)
        names[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return TRIB_OK;
        return trib_errorf(TRIB_ERR_IO, "cannot read checkpoint directory '%s': %s", dir, strerror(errno));
    }
    size_t used = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t s;
        if (!trib_ckpt_parse_dirname(e->d_name, TRIB_CKPT_PREFIX, &s))
            continue;
        if (cap && used < cap) {
            int n = snprintf(names + used, cap - used, "%s%s", *count ? ", " : "", e->d_name);
            used = n < 0 ? cap : used + (size_t)n;
            if (used >= cap && cap > 4)
                memcpy(names + cap - 4, "...", 4);
        }
        (*count)++;
    }
    closedir(d);
    return TRIB_OK;
}
