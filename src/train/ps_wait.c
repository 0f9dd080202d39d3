/*
 * ps_wait.c - waiting for parameter-server messages: blocking, sleeping, or
 * sleeping on a doorbell (train/ps_wait.h).
 *
 * The doorbells are a POSIX shared-memory segment per node, created by the
 * node's first rank under a name that carries its pid and a random tag, mapped
 * by the others, and unlinked once every rank of the node has it (so nothing
 * is left in /dev/shm after the job, whatever happens later).  Each rank owns
 * one 32-bit word on a cache line of its own.  Ring: atomic increment, then
 * FUTEX_WAKE.  Wait: read the word, test for the event twice, FUTEX_WAIT on the
 * value read with the backoff's timeout; a ring after the read makes the wait
 * return at once, so no wake-up is lost.  Twice, because an MPI test reports
 * what was complete before its own progress: a message received during the
 * first test's progress (its ring already counted in the value read) shows
 * only in the second.
 */
#include "train/ps_wait.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define BELL_LINE 64 /* one word per cache line: a ring does not disturb the other ranks' words */

struct trib_ps_bell {
    unsigned char *base; /* n_local lines */
    size_t bytes;
    int *local;          /* per comm rank: its line, -1 when on another node */
    int me;              /* this rank's line */
};

static uint32_t *word(const trib_ps_bell_t *b, int line)
{
    return (uint32_t *)(void *)(b->base + (size_t)line * BELL_LINE);
}

void trib_ps_bell_destroy(trib_ps_bell_t *b)
{
    if (!b)
        return;
    if (b->base)
        munmap(b->base, b->bytes);
    free(b->local);
    free(b);
}

/* The node's ranks map the segment named by node rank 0; *ok = 1 on this rank's success. */
static int map_segment(MPI_Comm node, int nrank, size_t bytes, unsigned char **base, int *ok)
{
    char name[64] = "";
    *ok = 0;
    *base = NULL;
    int fd = -1;
    if (nrank == 0) {
        unsigned tag = (unsigned)time(NULL) ^ (unsigned)clock() ^ ((unsigned)getpid() << 8);
        snprintf(name, sizeof name, "/trib-ps-bell-%ld-%08x", (long)getpid(), tag);
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd >= 0 && ftruncate(fd, (off_t)bytes) != 0) {
            close(fd);
            shm_unlink(name);
            fd = -1;
        }
        if (fd < 0)
            name[0] = '\0';
    }
    if (MPI_Bcast(name, (int)sizeof name, MPI_CHAR, 0, node) != MPI_SUCCESS) {
        if (fd >= 0) {
            close(fd);
            shm_unlink(name);
        }
        return trib_errorf(TRIB_ERR_MPI, "ps: MPI_Bcast of the doorbell segment's name failed");
    }
    if (name[0] && nrank != 0)
        fd = shm_open(name, O_RDWR, 0600);
    if (fd >= 0) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (p != MAP_FAILED) {
            *base = p;
            *ok = 1;
        }
    }
    /* every rank of the node has opened it (or failed): the name can go */
    int rc = MPI_Barrier(node);
    if (nrank == 0 && name[0])
        shm_unlink(name);
    return rc == MPI_SUCCESS ? TRIB_OK : trib_errorf(TRIB_ERR_MPI, "ps: MPI_Barrier after the doorbells failed");
}

int trib_ps_bell_create(MPI_Comm comm, trib_ps_bell_t **out)
{
    *out = NULL;
    int size = 0, nsize = 0, nrank = 0;
    MPI_Comm node = MPI_COMM_NULL;
    MPI_Group g = MPI_GROUP_NULL, ng = MPI_GROUP_NULL;
    if (MPI_Comm_size(comm, &size) != MPI_SUCCESS ||
        MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return trib_errorf(TRIB_ERR_MPI, "ps: MPI_Comm_split_type for the doorbells failed");
    trib_ps_bell_t *b = calloc(1, sizeof *b);
    int *ranks = malloc((size_t)size * sizeof *ranks);
    int ok = b && ranks && (b->local = malloc((size_t)size * sizeof *b->local)) != NULL;
    int rc = TRIB_OK;
    if (MPI_Comm_size(node, &nsize) != MPI_SUCCESS || MPI_Comm_rank(node, &nrank) != MPI_SUCCESS ||
        MPI_Comm_group(comm, &g) != MPI_SUCCESS || MPI_Comm_group(node, &ng) != MPI_SUCCESS)
        rc = trib_errorf(TRIB_ERR_MPI, "ps: the node communicator of the doorbells");
    for (int r = 0; rc == TRIB_OK && ranks && r < size; r++)
        ranks[r] = r;
    if (rc == TRIB_OK && ok &&
        MPI_Group_translate_ranks(g, size, ranks, ng, b->local) != MPI_SUCCESS)
        rc = trib_errorf(TRIB_ERR_MPI, "ps: MPI_Group_translate_ranks for the doorbells failed");
    for (int r = 0; rc == TRIB_OK && ok && r < size; r++)
        if (b->local[r] == MPI_UNDEFINED)
            b->local[r] = -1;
    /* every rank of the node takes part in the mapping, also one that ran out of memory above */
    int mapped = 0;
    if (rc == TRIB_OK) {
        size_t bytes = (size_t)nsize * BELL_LINE;
        unsigned char *base = NULL;
        rc = map_segment(node, nrank, bytes, &base, &mapped);
        if (b) {
            b->base = base;
            b->bytes = bytes;
            b->me = nrank;
        } else if (base) {
            munmap(base, bytes);
        }
    }
    int good = rc == TRIB_OK && ok && mapped, all = 0;
    if (rc == TRIB_OK && MPI_Allreduce(&good, &all, 1, MPI_INT, MPI_LAND, comm) != MPI_SUCCESS)
        rc = trib_errorf(TRIB_ERR_MPI, "ps: MPI_Allreduce after the doorbells failed");
    if (g != MPI_GROUP_NULL)
        MPI_Group_free(&g);
    if (ng != MPI_GROUP_NULL)
        MPI_Group_free(&ng);
    MPI_Comm_free(&node);
    free(ranks);
    if (rc != TRIB_OK || !all) {
        if (rc == TRIB_OK)
            trib_log(TRIB_LOG_INFO, "ps: no doorbells (shared memory unavailable on some rank): waiting by sleeping");
        trib_ps_bell_destroy(b);
        return rc;
    }
    *out = b;
    return TRIB_OK;
}

void trib_ps_bell_ring(const trib_ps_bell_t *b, int rank)
{
    if (!b || b->local[rank] < 0)
        return;
    uint32_t *w = word(b, b->local[rank]);
    __atomic_fetch_add(w, 1u, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

void trib_ps_waiter_init(trib_ps_waiter_t *w, const trib_ps_bell_t *bell, int idle_sleep, long max_ns)
{
    w->bell = idle_sleep ? bell : NULL;
    w->idle_sleep = idle_sleep;
    w->ns = 5000;
    w->max_ns = max_ns;
    w->spins = 0;
    w->seq = 0;
    w->armed = 0;
    w->retested = 0;
}

void trib_ps_waiter_arm(trib_ps_waiter_t *w)
{
    if (w->bell && !w->armed) {
        w->seq = __atomic_load_n(word(w->bell, w->bell->me), __ATOMIC_SEQ_CST);
        w->armed = 1;
        w->retested = 0;
    }
}

void trib_ps_waiter_pause(trib_ps_waiter_t *w)
{
    if (!w->idle_sleep)
        return;
    if (w->bell && !w->retested) {
        /* MPI_Testall and MPI_Iprobe check first and progress after: what the progress of a test
         * completed (a message already rung for, or one that needed no ring) shows only in the next
         * test.  So test once more, against the same count, before sleeping. */
        w->retested = 1;
        return;
    }
    if (!w->bell && w->spins++ < 8) { /* without a doorbell: a few yields first (a reply is often near) */
        sched_yield();
        return;
    }
    struct timespec ts = {0, w->ns};
    if (w->bell)
        syscall(SYS_futex, word(w->bell, w->bell->me), FUTEX_WAIT, w->seq, &ts, NULL, 0);
    else
        nanosleep(&ts, NULL);
    w->armed = 0;
    w->ns = w->ns * 2 > w->max_ns ? w->max_ns : w->ns * 2;
}

int trib_ps_wait_reqs(const trib_ps_bell_t *bell, int idle_sleep, int n, MPI_Request *req, MPI_Status *sts)
{
    if (n <= 0)
        return MPI_SUCCESS;
    if (!idle_sleep)
        return MPI_Waitall(n, req, sts);
    trib_ps_waiter_t w;
    trib_ps_waiter_init(&w, bell, idle_sleep, 200000);
    for (;;) {
        int done = 0;
        trib_ps_waiter_arm(&w);
        int rc = MPI_Testall(n, req, &done, sts);
        if (rc != MPI_SUCCESS || done)
            return rc;
        trib_ps_waiter_pause(&w);
    }
}

int trib_ps_wait_probe(const trib_ps_bell_t *bell, MPI_Comm comm, int tag, long max_ns, volatile sig_atomic_t *stop,
                       MPI_Status *st, int *got)
{
    trib_ps_waiter_t w;
    trib_ps_waiter_init(&w, bell, 1, max_ns);
    *got = 0;
    for (;;) {
        trib_ps_waiter_arm(&w);
        int rc = MPI_Iprobe(MPI_ANY_SOURCE, tag, comm, got, st);
        if (rc != MPI_SUCCESS || *got || (stop && *stop))
            return rc;
        trib_ps_waiter_pause(&w);
    }
}
