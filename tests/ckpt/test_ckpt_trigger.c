/*
 * test_ckpt_trigger.c - the --checkpoint-every parser, the trigger and stop
 * requests by signal, at several rank counts (time-based and signal decisions
 * must agree on every rank even when clocks and signals differ between ranks).
 */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tributary/ckpt.h"

static int failures, rank, size;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            failures++;                                                                                      \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s: ", rank, __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
        }                                                                                                    \
    } while (0)

static void parse_ok(const char *text, trib_ckpt_every_unit_t unit, uint64_t count, double seconds)
{
    trib_ckpt_every_t e;
    int rc = trib_ckpt_every_parse(text, &e);
    CHECK(rc == TRIB_OK && e.unit == unit && e.count == count && e.seconds == seconds,
          "'%s': rc %d unit %d count %llu seconds %g", text, rc, (int)e.unit, (unsigned long long)e.count,
          e.seconds);
}

static void parse_bad(const char *text, const char *in_message)
{
    trib_ckpt_every_t e;
    int rc = trib_ckpt_every_parse(text, &e);
    CHECK(rc == TRIB_ERR_INVALID_ARG && strstr(trib_last_error(rc), in_message), "'%s': rc %d, message '%s'", text,
          rc, trib_last_error(rc));
}

static void test_parse(void)
{
    parse_ok("2 epochs", TRIB_CKPT_EVERY_EPOCHS, 2, 0);
    parse_ok("1epoch", TRIB_CKPT_EVERY_EPOCHS, 1, 0);
    parse_ok("3", TRIB_CKPT_EVERY_EPOCHS, 3, 0);
    parse_ok(" 500 steps ", TRIB_CKPT_EVERY_STEPS, 500, 0);
    parse_ok("90s", TRIB_CKPT_EVERY_SECONDS, 0, 90);
    parse_ok("1.5 seconds", TRIB_CKPT_EVERY_SECONDS, 0, 1.5);
    parse_ok("15m", TRIB_CKPT_EVERY_SECONDS, 0, 900);
    parse_ok("2 Hours", TRIB_CKPT_EVERY_SECONDS, 0, 7200);
    parse_ok("never", TRIB_CKPT_EVERY_NEVER, 0, 0);
    parse_ok("auto", TRIB_CKPT_EVERY_AUTO, 1, 0);
    parse_bad("", "positive number");
    parse_bad("-2 epochs", "positive number");
    parse_bad("0 steps", "positive number");
    parse_bad("2 fortnights", "unknown unit 'fortnights'");
    parse_bad("1.5 epochs", "whole number of epochs");
    parse_bad("nan s", "positive number");
}

static void test_counts(void)
{
    trib_ckpt_every_t e;
    trib_ckpt_trigger_t t;
    int due = -1;
    trib_ckpt_every_parse("2 epochs", &e);
    trib_ckpt_trigger_init(&t, &e, 3, 300, 0.0); /* resumed after epoch 3 */
    trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 4, 400, 0.0, &due);
    CHECK(due == 0, "epoch 4 of every 2 after 3");
    trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 5, 500, 0.0, &due);
    CHECK(due == 1, "epoch 5 of every 2 after 3");
    trib_ckpt_trigger_taken(&t, 5, 500, 0.0);
    trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 6, 600, 0.0, &due);
    CHECK(due == 0, "epoch 6 after a checkpoint at 5");

    trib_ckpt_every_parse("100 steps", &e);
    trib_ckpt_trigger_init(&t, &e, 0, 0, 0.0);
    int count = 0;
    for (uint64_t s = 1; s <= 1000; s++) {
        trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 0, s, 0.0, &due);
        if (due) {
            count++;
            CHECK(s % 100 == 0, "due at step %llu", (unsigned long long)s);
            trib_ckpt_trigger_taken(&t, 0, s, 0.0);
        }
    }
    CHECK(count == 10, "%d checkpoints in 1000 steps every 100", count);
    trib_ckpt_every_parse("never", &e);
    trib_ckpt_trigger_init(&t, &e, 0, 0, 0.0);
    trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 1000, 1000000, 1e9, &due);
    CHECK(due == 0, "never is never due");
}

/* Clocks differ between ranks: rank 0's decides, on every rank. */
static void test_seconds_agree(void)
{
    trib_ckpt_every_t e;
    trib_ckpt_trigger_t t;
    int due = -1;
    trib_ckpt_every_parse("10s", &e);
    trib_ckpt_trigger_init(&t, &e, 0, 0, 100.0);
    double now = rank == 0 ? 111.0 : 100.5; /* only rank 0 sees the interval passed */
    CHECK(trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 0, 1, now, &due) == TRIB_OK && due == 1, "due %d", due);
    now = rank == 0 ? 105.0 : 1000.0; /* the others think it is due, rank 0 does not */
    CHECK(trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 0, 2, now, &due) == TRIB_OK && due == 0, "due %d", due);
}

/* auto: at epoch boundaries only, spaced by TRIB_CKPT_AUTO_SPACING x the last cost; rank 0 decides. */
static void test_auto(void)
{
    trib_ckpt_every_t e;
    trib_ckpt_trigger_t t;
    int due = -1;
    trib_ckpt_every_parse("auto", &e);
    trib_ckpt_trigger_init(&t, &e, 0, 0, 0.0);
    CHECK(trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 0, 5, 9.0, &due) == TRIB_OK && due == 0, "mid-epoch: due %d", due);
    CHECK(trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 1, 10, 0.1, &due) == TRIB_OK && due == 1, "first epoch: due %d", due);
    trib_ckpt_trigger_taken(&t, 1, 10, 0.2);
    trib_ckpt_trigger_cost(&t, 0.05); /* next one not before 0.2 + 99 x 0.05 = 5.15 */
    double now = rank == 0 ? 5.1 : 100.0;
    CHECK(trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 2, 20, now, &due) == TRIB_OK && due == 0, "too soon: due %d", due);
    now = rank == 0 ? 5.2 : 0.3;
    CHECK(trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 3, 30, now, &due) == TRIB_OK && due == 1, "spaced: due %d", due);
    trib_ckpt_trigger_taken(&t, 3, 30, 5.3);
    trib_ckpt_trigger_cost(&t, 0.0); /* cheap checkpoints: every epoch */
    CHECK(trib_ckpt_trigger_due(&t, MPI_COMM_WORLD, 4, 40, 5.3, &due) == TRIB_OK && due == 1, "cheap: due %d", due);
}

/* A signal on the last rank only: every rank learns it at the same call. */
static void test_stop_signal(void)
{
    int stop = -1;
    CHECK(trib_ckpt_stop_signals_install() == TRIB_OK, "install");
    CHECK(trib_ckpt_stop_requested_all(MPI_COMM_WORLD, &stop) == TRIB_OK && stop == 0, "stop %d before", stop);
    if (rank == size - 1)
        raise(SIGUSR1);
    CHECK(trib_ckpt_stop_requested() == (rank == size - 1 ? SIGUSR1 : 0), "local flag %d", trib_ckpt_stop_requested());
    CHECK(trib_ckpt_stop_requested_all(MPI_COMM_WORLD, &stop) == TRIB_OK && stop == SIGUSR1, "stop %d", stop);
    trib_ckpt_stop_clear();
    if (rank == 0)
        raise(SIGTERM);
    CHECK(trib_ckpt_stop_requested_all(MPI_COMM_WORLD, &stop) == TRIB_OK && stop == SIGTERM, "stop %d", stop);
    trib_ckpt_stop_clear();
}

int main(int argc, char **argv)
{
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 2;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    test_parse();
    test_counts();
    test_seconds_agree();
    test_auto();
    test_stop_signal();
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_ckpt_trigger: %s (%d failed checks) on %d ranks\n", all ? "FAILED" : "passed", all, size);
    MPI_Finalize();
    return all ? 1 : 0;
}
