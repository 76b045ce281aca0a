/*
 * spawn OUT CMD [ARGS...]: runs CMD, waits for it with wait4 and writes
 * "<exit code> <peak RSS in KiB> <wall ns> <launch unix ns>" to OUT.
 *
 * Why not Python's own fork: Linux carries a process's peak RSS across
 * exec, so a child forked from the Python interpreter reports at least the
 * interpreter's RSS (about 19 MiB) as its own peak. Forked from this small
 * process, the floor is this process's size (about 1 MiB; benches/bench.py
 * measures it with /bin/true and prints it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child = -1;

static void forward(int sig) {
    if (child > 0)
        kill(child, sig);
}

static long long ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn OUT CMD [ARGS...]\n");
        return 2;
    }
    signal(SIGTERM, forward);
    signal(SIGINT, forward);
    long long launch = ns(CLOCK_REALTIME);
    long long t0 = ns(CLOCK_MONOTONIC);
    child = fork();
    if (child < 0) {
        perror("spawn: fork");
        return 2;
    }
    if (child == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "spawn: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(child, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("spawn: wait4");
            return 2;
        }
    }
    long long wall = ns(CLOCK_MONOTONIC) - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror("spawn: cannot write the result");
        return 2;
    }
    fprintf(out, "%d %ld %lld %lld\n", code, ru.ru_maxrss, wall, launch);
    fclose(out);
    return code;
}
