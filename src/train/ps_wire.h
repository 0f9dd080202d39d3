/*
 * train/ps_wire.h - the parameter server's wire format (internal: the server,
 * the client and their tests use it; programs see only tributary/ps.h).
 *
 * Every message is one MPI message of bytes: a 40-byte versioned
 * header (trib_ps_header_t) then a payload.  Workers send requests to
 * servers on one tag (so MPI keeps each worker's requests in order), servers
 * answer pulls on another:
 *
 *   PULL   worker -> server  payload: count row ids (uint32, ascending, global); clock = the worker's
 *                            clock, or the next one for a pull started before the clock's last push
 *   REPLY  server -> worker  payload: count rows of (k factors, bias, AdaGrad sum)
 *   PUSH   worker -> server  payload: count row ids, then count rows of deltas
 *                            (k factors, bias, AdaGrad sum; the server adds
 *                            options.scale x delta); flag END_CLOCK
 *                            says the worker finished its clock
 *   DONE   worker -> server  the worker finished a settle phase
 *   PAUSE  worker -> server  the worker stopped for this round (it sends nothing more until the next)
 *   NOTICE server -> worker  (its own tag) pause at your next mini-batch boundary: the round's epoch is
 *                            complete on this server (every worker finished it), a stop was requested,
 *                            or another worker paused; each server sends one per worker per round
 *   (work sharing: a PULL or PUSH also names the chunk it is for; the bound of ssp is then counted
 *   in chunks: a pull for the chunk handed out g-th waits until this server has the pushes of every
 *   chunk handed out before g - s)
 *   CLAIM  worker -> server 0  work sharing only: clock = the chunk the worker finished since its last
 *                            claim (its pushes precede this message), or -1; asks for the next chunk
 *   GRANT  server 0 -> worker  (its own tag) clock = the chunk to train, -1: none for this worker in
 *                            this round, or -2: none now (a slow worker holding one), claim again after the chunk in hand
 *
 * A worker at clock c sends at most one PULL per server per mini-batch and
 * one PUSH per server (an empty one when only the END_CLOCK flag matters),
 * never one message per row.  A server checks every header (magic, version,
 * type, sender = claimed worker, epoch, clock, size against count, row ids
 * in its range); anything wrong is TRIB_ERR_PROTOCOL naming the sender.
 */
#ifndef TRIB_TRAIN_PS_WIRE_H
#define TRIB_TRAIN_PS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "tributary/ps.h"

#define TRIB_PS_MAGIC UINT32_C(0x53505254) /* "TRPS" little-endian */
#define TRIB_PS_PROTOCOL_VERSION 4
#define TRIB_PS_TAG_REQUEST 7501 /* worker -> server */
#define TRIB_PS_TAG_REPLY 7502   /* server -> worker */
#define TRIB_PS_TAG_NOTICE 7503  /* server -> worker: NOTICE */
#define TRIB_PS_TAG_GRANT 7504   /* server 0 -> worker: GRANT (work sharing) */

typedef enum {
    TRIB_PS_MSG_PULL = 1,
    TRIB_PS_MSG_REPLY = 2,
    TRIB_PS_MSG_PUSH = 3,
    TRIB_PS_MSG_DONE = 4,
    TRIB_PS_MSG_PAUSE = 5,
    TRIB_PS_MSG_NOTICE = 6,
    TRIB_PS_MSG_CLAIM = 7,
    TRIB_PS_MSG_GRANT = 8
} trib_ps_msg_type_t;

#define TRIB_PS_FLAG_END_CLOCK 1u /* PUSH: the sender finished its clock */
#define TRIB_PS_FLAG_SETTLE 2u    /* PULL/DONE: settle phase (no clocks, no pushes) */
#define TRIB_PS_FLAG_ERROR 4u     /* REPLY: the server rejected the request (no payload) */
#define TRIB_PS_FLAG_BOUND_HIT 8u /* REPLY: during this phase another worker's pull reached past the
                                     staleness bound (ssp/bsp: it was deferred; async: the checked bound) */
#define TRIB_PS_FLAG_PAUSING 32u  /* REPLY: the server is pausing (NOTICEs sent): the worker does not run
                                     the mini-batch (its rows are written, not trusted) and pauses */
#define TRIB_PS_FLAG_OWN 64u      /* REPLY: the server had this worker's clock at the pull's clock when it
                                     answered, so the rows include the worker's pushes sent before the pull
                                     (a pull for the next clock, sent before the current clock's last push,
                                     may come without them) */
#define TRIB_PS_FLAG_RETRY 16u    /* REPLY: the server is pausing and did not serve this deferred pull (no
                                     payload): the worker pauses and pulls again in the next round */

typedef struct {
    uint32_t magic;   /* TRIB_PS_MAGIC */
    uint16_t version; /* TRIB_PS_PROTOCOL_VERSION */
    uint16_t type;    /* trib_ps_msg_type_t */
    int32_t worker;   /* the worker that sent the request, or the one a reply is for */
    uint32_t flags;   /* TRIB_PS_FLAG_* */
    int64_t clock;    /* the worker's clock; in a REPLY the server's min clock when answered */
    uint64_t count;   /* rows in the payload */
    uint32_t epoch;   /* the round (the loop's epoch; settle: the next epoch to run) */
    uint32_t chunk;   /* PULL/PUSH in a round with work sharing: 1 + the position of the chunk they are
                         for in the round's hand-out order; else 0 */
} trib_ps_header_t;

/* Payload bytes of a message of `type` with `count` rows of k factors. */
size_t trib_ps_payload_bytes(trib_ps_msg_type_t type, uint64_t count, size_t k);

/*
 * Checks a received message of `len` bytes from MPI rank `sender`: size,
 * magic, version, a known type, and that the payload size matches
 * count and k.  TRIB_OK or TRIB_ERR_PROTOCOL with a message naming the
 * sender.  Semantic checks (expected type, worker, epoch, clock, row range)
 * are the receiver's.
 */
int trib_ps_header_check(const void *msg, size_t len, int sender, size_t k, trib_ps_header_t *out);

#endif
