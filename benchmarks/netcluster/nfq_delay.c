/*
 * nfq_delay.c - trib-nfq-delay: delays every packet of an NFQUEUE by a fixed time.
 *
 * The emulated cluster (netcluster) needs link latency, and the kernel here has
 * no netem.  So the bridge namespace sends every forwarded packet to NFQUEUE
 * (iptables -A FORWARD -j NFQUEUE --queue-num N) and this daemon gives each
 * packet its verdict (ACCEPT) DELAY after it arrived, in arrival order:
 *
 *   kernel --packet id--> [ FIFO of (id, due time) ] --ACCEPT at due--> kernel
 *
 * Every packet has the same delay, so the FIFO is sorted by due time and only
 * its head matters: the loop sleeps in ppoll() until the head is due or a new
 * packet arrives.  Timer wake-ups are late by 20-40 us on this kind of machine,
 * so packets are released `early` microseconds (default 30) before they are
 * due.  The daemon asks for real-time priority (SCHED_FIFO) so that busy MPI
 * ranks do not delay it; it never spins, so it cannot starve them.
 *
 * Only packet metadata is copied to user space (NFQNL_COPY_META), and GSO
 * packets are queued whole (NFQA_CFG_F_GSO), which keeps the CPU cost low.
 * On SIGINT/SIGTERM every held packet is released and the daemon exits 0.
 *
 * Usage: trib-nfq-delay -d DELAY_US [-q QUEUE] [-e EARLY_US] [-p PIDFILE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FIFO_CAP (1u << 17) /* packets held at once; a power of two */

typedef struct {
    uint32_t id;
    int64_t due_ns;
} held_t;

static held_t fifo[FIFO_CAP];
static unsigned fifo_head, fifo_tail; /* head: next to release; tail: next free slot */
static int64_t delay_ns;
static uint64_t n_overflow;
static volatile sig_atomic_t stop;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Called for each queued packet: remember it, decide later (or now when the FIFO is full). */
static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data)
{
    (void)msg, (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (fifo_tail - fifo_head == FIFO_CAP) {
        n_overflow++;
        return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
    }
    fifo[fifo_tail % FIFO_CAP] = (held_t){id, now_ns() + delay_ns};
    fifo_tail++;
    return 0;
}

/* Releases every held packet due by `until`. */
static void release_due(struct nfq_q_handle *qh, int64_t until)
{
    while (fifo_head != fifo_tail && fifo[fifo_head % FIFO_CAP].due_ns <= until) {
        nfq_set_verdict(qh, fifo[fifo_head % FIFO_CAP].id, NF_ACCEPT, 0, NULL);
        fifo_head++;
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: trib-nfq-delay -d DELAY_US [-q QUEUE] [-e EARLY_US] [-p PIDFILE]\n"
               "Releases each packet of NFQUEUE QUEUE (default 0) DELAY_US microseconds after it arrived.\n");
}

int main(int argc, char **argv)
{
    long delay_us = -1, early_us = 30, queue = 0;
    const char *pidfile = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "d:q:e:p:h")) != -1) {
        char *end;
        switch (opt) {
        case 'd': delay_us = strtol(optarg, &end, 10); if (*end || delay_us < 0) delay_us = -2; break;
        case 'q': queue = strtol(optarg, &end, 10); if (*end || queue < 0 || queue > 65535) queue = -1; break;
        case 'e': early_us = strtol(optarg, &end, 10); if (*end || early_us < 0) early_us = -1; break;
        case 'p': pidfile = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (delay_us < 0 || queue < 0 || early_us < 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    delay_ns = delay_us * 1000;
    int64_t early_ns = early_us * 1000 < delay_ns ? early_us * 1000 : delay_ns;

    struct sched_param sp = {.sched_priority = 50};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
        fprintf(stderr, "trib-nfq-delay: no real-time priority (%s); delays may be less precise\n", strerror(errno));

    struct nfq_handle *h = nfq_open();
    if (!h) {
        fprintf(stderr, "trib-nfq-delay: nfq_open: %s\n", strerror(errno));
        return 1;
    }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
    if (!qh) {
        fprintf(stderr, "trib-nfq-delay: cannot bind queue %ld: %s\n", queue, strerror(errno));
        nfq_close(h);
        return 1;
    }
    if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(qh, FIFO_CAP) < 0) {
        fprintf(stderr, "trib-nfq-delay: cannot configure queue %ld: %s\n", queue, strerror(errno));
        nfq_destroy_queue(qh);
        nfq_close(h);
        return 1;
    }
    nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO); /* older kernels: segmented instead */
    int fd = nfq_fd(h);
    nfnl_rcvbufsiz(nfq_nfnlh(h), 64u << 20);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (pidfile) {
        FILE *pf = fopen(pidfile, "w");
        if (!pf || fprintf(pf, "%ld\n", (long)getpid()) < 0 || fclose(pf) != 0) {
            fprintf(stderr, "trib-nfq-delay: cannot write %s\n", pidfile);
            return 1;
        }
    }

    static char buf[1 << 16];
    while (!stop) {
        struct timespec ts, *tsp = NULL;
        if (fifo_head != fifo_tail) {
            int64_t wait = fifo[fifo_head % FIFO_CAP].due_ns - early_ns - now_ns();
            if (wait < 0)
                wait = 0;
            ts.tv_sec = wait / 1000000000;
            ts.tv_nsec = wait % 1000000000;
            tsp = &ts;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = ppoll(&pfd, 1, tsp, NULL);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "trib-nfq-delay: poll: %s\n", strerror(errno));
            break;
        }
        if (n > 0) {
            for (;;) {
                ssize_t len = recv(fd, buf, sizeof buf, 0);
                if (len < 0) {
                    if (errno == ENOBUFS)
                        continue; /* the kernel dropped notifications; those packets are lost (TCP resends) */
                    break;        /* EAGAIN: drained */
                }
                nfq_handle_packet(h, buf, (int)len);
            }
        }
        release_due(qh, now_ns() + early_ns);
    }
    release_due(qh, INT64_MAX);
    if (n_overflow)
        fprintf(stderr, "trib-nfq-delay: %llu packets passed undelayed (queue full)\n",
                (unsigned long long)n_overflow);
    nfq_destroy_queue(qh);
    nfq_close(h);
    if (pidfile)
        unlink(pidfile);
    return 0;
}
