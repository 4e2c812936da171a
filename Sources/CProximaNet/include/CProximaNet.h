#ifndef CPROXIMANET_H
#define CPROXIMANET_H
// Exposes recvmmsg/sendmmsg to Swift. Glibc hides them (and struct mmsghdr) unless _GNU_SOURCE is
// defined before <sys/socket.h>; but defining it in a header that Swift imports changes other
// system types (fd_set's fields) and clashes with the SwiftGlibc module ("'__fds_bits' is not
// present in definition of 'fd_set'"). So this header stays plain POSIX and declares its own
// layout-identical `cproxima_mmsghdr`; shim.c (compiled with _GNU_SOURCE) checks the layout with
// static asserts and forwards to the real calls.
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stddef.h>

/// Same layout as glibc's `struct mmsghdr`: one message header and the byte count received/sent.
struct cproxima_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

/// recvmmsg(2) with a NULL timeout.
int cproxima_recvmmsg(int fd, struct cproxima_mmsghdr *msgs, unsigned int vlen, int flags);
/// sendmmsg(2).
int cproxima_sendmmsg(int fd, struct cproxima_mmsghdr *msgs, unsigned int vlen, int flags);
/// sizeof(struct mmsghdr), for allocating arrays from Swift.
size_t cproxima_mmsghdr_size(void);

/// recvmmsg(2) with MSG_WAITFORONE: blocks (up to the socket's SO_RCVTIMEO) for the first
/// datagram, then takes whatever else is already queued, up to `vlen`. This is the batching mode
/// of the UDP fast path (DESIGN §5): one syscall per burst, no waiting for a full batch.
int cproxima_recvmmsg_waitforone(int fd, struct cproxima_mmsghdr *msgs, unsigned int vlen);

/// The value of MSG_TRUNC (set in msg_flags when a datagram was longer than the buffer).
int cproxima_msg_trunc(void);

/// Names the calling thread (at most 15 bytes are kept), so leaked threads are visible in
/// /proc/self/task/*/comm and in `top -H`.
void cproxima_set_thread_name(const char *name);

/// CPUs this process may run on (sched_getaffinity(2) and CPU_COUNT, which need _GNU_SOURCE and
/// are macros Swift cannot call); 0 when the call fails.
int cproxima_affinity_cpu_count(void);

/// malloc_trim(0) where the C library has it (glibc; <malloc.h>, which the Glibc module does not
/// import): hands freed heap pages back to the kernel. Returns 1 when memory was released, 0 when
/// none was or the call does not exist (musl).
int cproxima_malloc_trim(void);

/// A read hint for the cache line at `p` (never faults, even on a bad address): issued for a whole
/// batch of queries before they are answered, so their cache misses overlap instead of queueing.
static inline void cproxima_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

/// Per-thread counters (metrics, query-log rings): written by one thread, read by a scrape on
/// another. Relaxed atomic loads and stores, no read-modify-write: on x86-64 and arm64 these are
/// plain moves (no lock prefix, no barrier), yet a concurrent reader never sees a torn value.
static inline void cproxima_counter_add(uint64_t *p, uint64_t n) {
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
static inline uint64_t cproxima_counter_load(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void cproxima_store_release(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline uint64_t cproxima_load_acquire(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

#endif
