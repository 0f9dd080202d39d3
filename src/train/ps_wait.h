/*
 * train/ps_wait.h - how parameter-server ranks wait for each other's messages
 * (internal: the server, the client and the ps strategy).
 *
 * Three ways, chosen per job (trib_ps_options_t.idle_sleep, set by the ps
 * strategy from the ranks per node and the cores):
 *   - blocking MPI calls (MPI_Waitall, MPI_Probe): Open MPI polls inside them, which is the
 *     fastest reaction when every rank has a core of its own;
 *   - polling with sleeps (5 us growing to 200 us): a waiting rank gives its core to the ranks
 *     that compute, at the price of up to one sleep of delay per message;
 *   - doorbells: the same polling, but each sleep is a futex wait on a word of this rank's in a
 *     node-shared segment, and a rank that sends a message to a rank of its node increments that
 *     rank's word and wakes it.  A waiting rank then takes no core and still reacts within a
 *     wake-up (microseconds), not a sleep.  Messages from other nodes wake nobody: for those the
 *     sleeps' timeouts are the polling, as before.
 */
#ifndef TRIB_TRAIN_PS_WAIT_H
#define TRIB_TRAIN_PS_WAIT_H

#include <signal.h>
#include <stdint.h>

#include <mpi.h>

#include "tributary/ps.h"

typedef struct trib_ps_bell trib_ps_bell_t;

/*
 * Collective over comm: a node-shared segment with one doorbell word per rank of the node.  On
 * any failure (no shared memory, a rank that could not map it) every rank gets *out = NULL and
 * TRIB_OK: the job then waits by sleeping, as without doorbells.  TRIB_ERR_MPI only when an MPI
 * call itself failed.
 */
int trib_ps_bell_create(MPI_Comm comm, trib_ps_bell_t **out);
/* Local (no MPI call): unmaps the segment. */
void trib_ps_bell_destroy(trib_ps_bell_t *b);
/* Wakes comm rank `rank` if it shares this node (after a message to it left); NULL b: nothing. */
void trib_ps_bell_ring(const trib_ps_bell_t *b, int rank);

/* One wait: the state of its backoff. */
typedef struct {
    const trib_ps_bell_t *bell;
    int idle_sleep;
    long ns, max_ns;
    int spins;
    uint32_t seq;
    int armed, retested;
} trib_ps_waiter_t;

void trib_ps_waiter_init(trib_ps_waiter_t *w, const trib_ps_bell_t *bell, int idle_sleep, long max_ns);
/* Before each test for the awaited event: notes the doorbell's count (once per sleep). */
void trib_ps_waiter_arm(trib_ps_waiter_t *w);
/* After a test that found nothing: asks for a second test first, then yields, sleeps, or sleeps on
 * the doorbell until a ring (or the backoff's timeout). */
void trib_ps_waiter_pause(trib_ps_waiter_t *w);

/* The doorbells a client or server uses (NULL: none); set by the ps strategy after creating them. */
void trib_ps_client_set_bell(trib_ps_client_t *c, const trib_ps_bell_t *b);
void trib_ps_server_set_bell(trib_ps_server_t *s, const trib_ps_bell_t *b);

/* Completes req[0..n) the job's way (above).  MPI's return code. */
int trib_ps_wait_reqs(const trib_ps_bell_t *bell, int idle_sleep, int n, MPI_Request *req, MPI_Status *sts);
/*
 * Polls (MPI_Iprobe, waiting as above between tries, the sleeps capped at max_ns) until a message
 * with `tag` from any rank is there (*got = 1, *st describes it) or *stop is set (*got = 0; stop
 * may be NULL).  MPI's return code.
 */
int trib_ps_wait_probe(const trib_ps_bell_t *bell, MPI_Comm comm, int tag, long max_ns, volatile sig_atomic_t *stop,
                       MPI_Status *st, int *got);

#endif
