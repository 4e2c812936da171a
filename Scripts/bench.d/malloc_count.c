/*
 * malloc_count -- an LD_PRELOAD counting allocator for Scripts/bench.d/alloc-count (issue #12).
 *
 * Counts malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign calls and frees per thread
 * (one relaxed per-thread counter, no lock), forwarding to glibc's own __libc_* functions (no
 * dlsym, so no bootstrap recursion). Every 50 ms a helper thread writes one line per thread,
 * `TID COMM ALLOCS FREES BYTES`, to $MALLOC_COUNT_OUT (written beside and renamed), so a reader
 * can take deltas around a burst of queries and divide by the queries answered.
 *
 * Build: cc -O2 -shared -fPIC -o malloc_count.so malloc_count.c -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

#define MAX_THREADS 4096
struct slot {
    int tid;
    uint64_t allocs, frees, bytes;
};
static struct slot slots[MAX_THREADS];
static struct slot overflow;
static int used;
static __thread struct slot *me;

static struct slot *mine(void) {
    if (__builtin_expect(me != NULL, 1)) return me;
    int i = __atomic_fetch_add(&used, 1, __ATOMIC_RELAXED);
    struct slot *s = i < MAX_THREADS ? &slots[i] : &overflow;
    __atomic_store_n(&s->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
    me = s;
    return s;
}

static inline void bump(uint64_t *p, uint64_t n) {
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void count_alloc(size_t n) {
    struct slot *s = mine();
    bump(&s->allocs, 1);
    bump(&s->bytes, n);
}

void *malloc(size_t n) { count_alloc(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count_alloc(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count_alloc(n); return __libc_realloc(p, n); }
void free(void *p) {
    if (p) bump(&mine()->frees, 1);
    __libc_free(p);
}
void *memalign(size_t a, size_t n) { count_alloc(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count_alloc(n); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    count_alloc(n);
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

static void *reporter(void *arg) {
    const char *path = arg;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    for (;;) {
        FILE *f = fopen(tmp, "w");
        if (f) {
            int n = __atomic_load_n(&used, __ATOMIC_RELAXED);
            if (n > MAX_THREADS) n = MAX_THREADS;
            for (int i = 0; i < n; i++) {
                int tid = __atomic_load_n(&slots[i].tid, __ATOMIC_ACQUIRE);
                if (!tid) continue;
                char comm_path[64], comm[32] = "?";
                snprintf(comm_path, sizeof(comm_path), "/proc/self/task/%d/comm", tid);
                FILE *c = fopen(comm_path, "r");
                if (c) {
                    if (fgets(comm, sizeof(comm), c)) comm[strcspn(comm, "\n")] = 0;
                    fclose(c);
                } else {
                    strcpy(comm, "(exited)");
                }
                fprintf(f, "%d %s %llu %llu %llu\n", tid, comm,
                        (unsigned long long)__atomic_load_n(&slots[i].allocs, __ATOMIC_RELAXED),
                        (unsigned long long)__atomic_load_n(&slots[i].frees, __ATOMIC_RELAXED),
                        (unsigned long long)__atomic_load_n(&slots[i].bytes, __ATOMIC_RELAXED));
            }
            fclose(f);
            rename(tmp, path);
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

__attribute__((constructor)) static void start_reporter(void) {
    const char *path = getenv("MALLOC_COUNT_OUT");
    if (!path || !*path) return;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &attr, reporter, strdup(path));
}
