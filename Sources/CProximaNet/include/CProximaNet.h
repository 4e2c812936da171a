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

// MARK: io_uring (uring.c)

/// One worker's io_uring: a multishot IORING_OP_RECVMSG over a ring of provided buffers and
/// IORING_OP_SENDMSG replies, submitted together with the wait for the next datagrams.
struct cproxima_uring;

/// Which step of `cproxima_uring_open` failed (for the fallback's log line).
enum {
    CPROXIMA_URING_STAGE_NONE = 0,
    /// io_uring_setup(2): ENOSYS (no io_uring), EPERM (io_uring_disabled, seccomp), ENOMEM...
    CPROXIMA_URING_STAGE_SETUP = 1,
    /// The kernel lacks IORING_FEAT_EXT_ARG or IORING_FEAT_NODROP (before 5.11).
    CPROXIMA_URING_STAGE_FEATURES = 2,
    /// Mapping the rings failed.
    CPROXIMA_URING_STAGE_MMAP = 3,
    /// Registering the provided-buffer ring failed (before 5.19, or a buffer count that is not a
    /// power of two up to 32768).
    CPROXIMA_URING_STAGE_BUFFERS = 4,
    /// Out of memory.
    CPROXIMA_URING_STAGE_MEMORY = 5,
};

/// A received datagram, valid until its buffer is sent (`cproxima_uring_send`) or released.
struct cproxima_uring_datagram {
    /// The buffer it arrived in; the reply goes out of the response area of the same index.
    unsigned bid;
    /// Nonzero when the datagram was longer than the buffer (the kernel cut it).
    int truncated;
    const void *name;
    unsigned name_length;
    const void *payload;
    size_t length;
};

/// Sets up a ring for `sock_fd` with `buffers` receive buffers (a power of two, at most 32768) of
/// `query_size` payload bytes and as many `response_size` reply areas; a write to `wake_fd` (an
/// eventfd, or -1 for none) ends a wait at once. NULL on failure, with errno set and
/// `*stage_out` the step that failed.
struct cproxima_uring *cproxima_uring_open(int sock_fd, int wake_fd, unsigned buffers, unsigned query_size,
                                           unsigned response_size, int *stage_out);
/// Closes the ring (cancelling its receive) and frees everything.
void cproxima_uring_close(struct cproxima_uring *ring);
/// Gives freed buffers back to the kernel, re-arms the receive if it ended, submits queued
/// replies and waits up to `timeout_ns` for a completion (not at all when one is ready).
/// 0, or -errno (-ETIME: timed out, -EINTR).
int cproxima_uring_wait(struct cproxima_uring *ring, long long timeout_ns);
/// Takes the next received datagram off the completion queue (send completions and receive
/// errors are handled on the way): 1 and `*out` filled, or 0 when none is ready.
int cproxima_uring_next(struct cproxima_uring *ring, struct cproxima_uring_datagram *out);
/// The reply area of buffer `bid` (`cproxima_uring_response_size` bytes).
void *cproxima_uring_response(struct cproxima_uring *ring, unsigned bid);
size_t cproxima_uring_response_size(const struct cproxima_uring *ring);
/// Queues the first `length` bytes of `bid`'s reply area to the datagram's source; the buffer
/// returns to the kernel when the send completes. 0, or -errno (the buffer is then released).
int cproxima_uring_send(struct cproxima_uring *ring, unsigned bid, size_t length);
/// Returns buffer `bid` to the kernel without a reply.
void cproxima_uring_release(struct cproxima_uring *ring, unsigned bid);
/// Buffers held by user space (received, not yet given back): a bound check for tests.
unsigned cproxima_uring_outstanding(const struct cproxima_uring *ring);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) (<sys/eventfd.h> is not in the Glibc module); -1 on failure.
int cproxima_eventfd(void);
/// Adds 1 to eventfd `fd` (wakes whoever polls it).
void cproxima_eventfd_signal(int fd);

/// The value of MSG_TRUNC (set in msg_flags when a datagram was longer than the buffer).
int cproxima_msg_trunc(void);

/// Bytes of control data one UDP_SEGMENT (UDP generic segmentation offload, Linux 4.18+)
/// message needs: CMSG_SPACE(sizeof(uint16_t)).
size_t cproxima_gso_control_size(void);
/// Writes a UDP_SEGMENT control message asking the kernel to cut the datagram's payload into
/// segments of `segment` bytes into `control` (at least cproxima_gso_control_size() bytes,
/// aligned for struct cmsghdr) and returns its length, for msg_controllen.
size_t cproxima_gso_control_write(void *control, uint16_t segment);
/// SO_NO_CHECK on/off: UDP without checksums, which the kernel refuses to segment (EINVAL). Tests
/// use it to reach the send path's fallback through a real kernel refusal.
int cproxima_set_udp_no_check(int fd, int on);

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
