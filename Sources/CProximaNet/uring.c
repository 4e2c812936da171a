// io_uring for the UDP fast path (issue #12): one ring per worker thread, a multishot
// IORING_OP_RECVMSG drawing from a provided-buffer ring, and IORING_OP_SENDMSG replies submitted
// in the same io_uring_enter(2) that waits for the next datagrams: one kernel crossing per batch
// instead of recvmmsg + sendmmsg. Raw system calls (no liburing): the kernel ABI in
// <linux/io_uring.h> is all this needs.
//
// Buffer `bid` carries one datagram from its arrival until its reply has been sent: the reply is
// written into the response area of the same index and sent to the source address stored in the
// receive buffer, so no copy of the address is made and nothing else needs a free list. A buffer
// goes back to the kernel when its reply's send completes, or at once when there is no reply.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "CProximaNet.h"

// user_data: the operation in the top byte, the buffer id in the low 16 bits.
#define UD_RECV 1ULL
#define UD_SEND 2ULL
#define UD_WAKE 3ULL
#define UD(kind, bid) (((kind) << 56) | (uint64_t)(bid))
#define UD_KIND(ud) ((ud) >> 56)
#define UD_BID(ud) ((unsigned)((ud) & 0xffff))

#define BUFFER_GROUP 0
// Room for the source address in each receive buffer: any sockaddr (v4 or v6).
#define NAME_SPACE ((unsigned)sizeof(struct sockaddr_storage))

struct cproxima_uring {
    int ring_fd;
    int sock_fd;
    // Submission queue.
    unsigned *sq_head, *sq_tail, *sq_array;
    unsigned sq_mask, sq_entries, sq_local_tail;
    struct io_uring_sqe *sqes;
    // Completion queue.
    unsigned *cq_head, *cq_tail;
    unsigned cq_mask;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map;
    size_t sq_map_size, cq_map_size, sqes_size;
    // Provided buffers.
    struct io_uring_buf_ring *buf_ring;
    size_t buf_ring_size;
    unsigned buf_count, buf_mask;
    unsigned short buf_tail;
    int buf_tail_dirty;
    unsigned char *recv_area;
    size_t recv_size;
    unsigned char *send_area;
    size_t send_size;
    // One msghdr and iovec per buffer for the reply's SENDMSG; the receive template.
    struct msghdr *send_msgs;
    struct iovec *send_iovs;
    struct msghdr recv_msg;
    // Buffers the kernel has handed us and we have not yet given back.
    unsigned outstanding;
    int recv_armed;
};

static int sys_setup(unsigned entries, struct io_uring_params *p) {
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, void *arg, size_t argsz) {
    return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
}

static int sys_register(int fd, unsigned opcode, void *arg, unsigned nr) {
    return (int)syscall(__NR_io_uring_register, fd, opcode, arg, nr);
}

static void *map_anonymous(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void cproxima_uring_close(struct cproxima_uring *r) {
    if (!r) return;
    if (r->ring_fd >= 0) {
        // Closing the ring tears it down asynchronously, and until then the multishot receive
        // keeps a reference to the socket: the port would stay bound (and, with SO_REUSEPORT,
        // keep taking a share of a restarted server's datagrams). So cancel every request and
        // wait for it (IORING_REGISTER_SYNC_CANCEL, 6.0+), then run the deferred completions that
        // drop the file references, before closing.
        struct io_uring_sync_cancel_reg cancel;
        memset(&cancel, 0, sizeof(cancel));
        cancel.flags = IORING_ASYNC_CANCEL_ANY;
        cancel.timeout.tv_sec = 1;
        (void)sys_register(r->ring_fd, IORING_REGISTER_SYNC_CANCEL, &cancel, 1);
        struct __kernel_timespec ts = {0, 1000000};
        struct io_uring_getevents_arg arg;
        memset(&arg, 0, sizeof(arg));
        arg.sigmask_sz = _NSIG / 8;
        arg.ts = (uint64_t)(uintptr_t)&ts;
        (void)sys_enter(r->ring_fd, 0, 0, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
        close(r->ring_fd);
    }
    if (r->sq_map) munmap(r->sq_map, r->sq_map_size);
    if (r->cq_map && r->cq_map != r->sq_map) munmap(r->cq_map, r->cq_map_size);
    if (r->sqes) munmap(r->sqes, r->sqes_size);
    if (r->buf_ring) munmap(r->buf_ring, r->buf_ring_size);
    if (r->recv_area) munmap(r->recv_area, (size_t)r->buf_count * r->recv_size);
    if (r->send_area) munmap(r->send_area, (size_t)r->buf_count * r->send_size);
    free(r->send_msgs);
    free(r->send_iovs);
    free(r);
}

static struct cproxima_uring *fail(struct cproxima_uring *r, int *stage_out, int stage, int err) {
    cproxima_uring_close(r);
    if (stage_out) *stage_out = stage;
    errno = err;
    return NULL;
}

static void recycle_buffer(struct cproxima_uring *r, unsigned bid) {
    struct io_uring_buf *b = &r->buf_ring->bufs[r->buf_tail & r->buf_mask];
    b->addr = (uint64_t)(uintptr_t)(r->recv_area + (size_t)bid * r->recv_size);
    b->len = (uint32_t)r->recv_size;
    b->bid = (uint16_t)bid;
    r->buf_tail++;
    r->buf_tail_dirty = 1;
    if (r->outstanding > 0) r->outstanding--;
}

static struct io_uring_sqe *next_sqe(struct cproxima_uring *r);

struct cproxima_uring *cproxima_uring_open(int sock_fd, int wake_fd, unsigned buffers, unsigned query_size,
                                           unsigned response_size, int *stage_out) {
    if (stage_out) *stage_out = CPROXIMA_URING_STAGE_NONE;
    struct cproxima_uring *r = calloc(1, sizeof(*r));
    if (!r) return fail(NULL, stage_out, CPROXIMA_URING_STAGE_MEMORY, ENOMEM);
    r->ring_fd = -1;
    r->sock_fd = sock_fd;
    r->buf_count = buffers;
    r->buf_mask = buffers - 1;

    // SQ: one receive plus one send per buffer can be queued at once; CQ: twice that, so that a
    // full set of completions (every buffer's datagram and every reply) never overflows.
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = buffers * 4;
    int fd = sys_setup(buffers + 1, &p);
    if (fd < 0 && errno == EINVAL) {
        // Kernels before 6.1 lack SINGLE_ISSUER/DEFER_TASKRUN: completions then run as task work.
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = buffers * 4;
        fd = sys_setup(buffers + 1, &p);
    }
    if (fd < 0) return fail(r, stage_out, CPROXIMA_URING_STAGE_SETUP, errno);
    r->ring_fd = fd;
    if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP))
        return fail(r, stage_out, CPROXIMA_URING_STAGE_FEATURES, EOPNOTSUPP);

    r->sq_map_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_map_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_map_size > r->sq_map_size) r->sq_map_size = r->cq_map_size;
        r->cq_map_size = r->sq_map_size;
    }
    r->sq_map = mmap(NULL, r->sq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (r->sq_map == MAP_FAILED) { r->sq_map = NULL; return fail(r, stage_out, CPROXIMA_URING_STAGE_MMAP, errno); }
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        r->cq_map = r->sq_map;
    } else {
        r->cq_map = mmap(NULL, r->cq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
        if (r->cq_map == MAP_FAILED) { r->cq_map = NULL; return fail(r, stage_out, CPROXIMA_URING_STAGE_MMAP, errno); }
    }
    r->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED) { r->sqes = NULL; return fail(r, stage_out, CPROXIMA_URING_STAGE_MMAP, errno); }

    unsigned char *sq = r->sq_map, *cq = r->cq_map;
    r->sq_head = (unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_entries = *(unsigned *)(sq + p.sq_off.ring_entries);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->sq_local_tail = *r->sq_tail;
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);

    // Receive buffers: the io_uring_recvmsg_out header, the source address, then the datagram.
    r->recv_size = sizeof(struct io_uring_recvmsg_out) + NAME_SPACE + query_size;
    r->send_size = response_size;
    r->recv_area = map_anonymous((size_t)buffers * r->recv_size);
    r->send_area = map_anonymous((size_t)buffers * r->send_size);
    r->send_msgs = calloc(buffers, sizeof(struct msghdr));
    r->send_iovs = calloc(buffers, sizeof(struct iovec));
    if (!r->recv_area || !r->send_area || !r->send_msgs || !r->send_iovs)
        return fail(r, stage_out, CPROXIMA_URING_STAGE_MEMORY, ENOMEM);

    // The provided-buffer ring (5.19+): page-aligned memory shared with the kernel.
    r->buf_ring_size = (size_t)buffers * sizeof(struct io_uring_buf);
    r->buf_ring = map_anonymous(r->buf_ring_size);
    if (!r->buf_ring) return fail(r, stage_out, CPROXIMA_URING_STAGE_MEMORY, ENOMEM);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)r->buf_ring;
    reg.ring_entries = buffers;
    reg.bgid = BUFFER_GROUP;
    if (sys_register(fd, IORING_REGISTER_PBUF_RING, &reg, 1) != 0)
        return fail(r, stage_out, CPROXIMA_URING_STAGE_BUFFERS, errno);
    r->outstanding = buffers;
    for (unsigned i = 0; i < buffers; i++) recycle_buffer(r, i);
    __atomic_store_n(&r->buf_ring->tail, r->buf_tail, __ATOMIC_RELEASE);
    r->buf_tail_dirty = 0;

    r->recv_msg.msg_namelen = NAME_SPACE;
    if (wake_fd >= 0) {
        // One poll on the wake eventfd: a write to it ends the wait at once (stop), whatever the
        // socket does. Submitted with the first wait; it completes once, which is all stop needs.
        struct io_uring_sqe *sqe = next_sqe(r);
        sqe->opcode = IORING_OP_POLL_ADD;
        sqe->fd = wake_fd;
        sqe->poll32_events = POLLIN;
        sqe->user_data = UD(UD_WAKE, 0);
    }
    return r;
}

static struct io_uring_sqe *next_sqe(struct cproxima_uring *r) {
    unsigned head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
    if (r->sq_local_tail - head >= r->sq_entries) return NULL;
    unsigned index = r->sq_local_tail & r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[index];
    memset(sqe, 0, sizeof(*sqe));
    r->sq_array[index] = index;
    r->sq_local_tail++;
    return sqe;
}

static void arm_receive(struct cproxima_uring *r) {
    struct io_uring_sqe *sqe = next_sqe(r);
    if (!sqe) return;  // retried at the next wait
    sqe->opcode = IORING_OP_RECVMSG;
    sqe->fd = r->sock_fd;
    sqe->addr = (uint64_t)(uintptr_t)&r->recv_msg;
    sqe->len = 1;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUFFER_GROUP;
    sqe->user_data = UD(UD_RECV, 0);
    r->recv_armed = 1;
}

int cproxima_uring_wait(struct cproxima_uring *r, long long timeout_ns) {
    if (r->buf_tail_dirty) {
        __atomic_store_n(&r->buf_ring->tail, r->buf_tail, __ATOMIC_RELEASE);
        r->buf_tail_dirty = 0;
    }
    // Re-arm a receive the kernel ended (buffers ran out, an error) once a buffer is free again;
    // re-arming with none free would only end it again at once.
    if (!r->recv_armed && r->outstanding < r->buf_count) arm_receive(r);
    unsigned to_submit = r->sq_local_tail - *r->sq_tail;
    __atomic_store_n(r->sq_tail, r->sq_local_tail, __ATOMIC_RELEASE);
    unsigned ready = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE) - *r->cq_head;
    struct __kernel_timespec ts = {
        .tv_sec = timeout_ns / 1000000000LL,
        .tv_nsec = timeout_ns % 1000000000LL,
    };
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.sigmask_sz = _NSIG / 8;
    arg.ts = (uint64_t)(uintptr_t)&ts;
    // With completions already waiting, only submit (and run deferred work): never block.
    int rc = sys_enter(r->ring_fd, to_submit, ready > 0 ? 0 : 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                       &arg, sizeof(arg));
    if (rc < 0) return -errno;
    return 0;
}

int cproxima_uring_next(struct cproxima_uring *r, struct cproxima_uring_datagram *out) {
    for (;;) {
        unsigned head = *r->cq_head;
        if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) return 0;
        struct io_uring_cqe cqe = r->cqes[head & r->cq_mask];
        __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
        uint64_t kind = UD_KIND(cqe.user_data);
        if (kind == UD_SEND) {
            // The reply left (or failed: UDP clients retry); its buffer can take a new datagram.
            recycle_buffer(r, UD_BID(cqe.user_data));
            continue;
        }
        if (kind != UD_RECV) continue;
        if (!(cqe.flags & IORING_CQE_F_MORE)) r->recv_armed = 0;
        if (!(cqe.flags & IORING_CQE_F_BUFFER)) continue;  // an error (ENOBUFS, ...) without data
        unsigned bid = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
        if (bid >= r->buf_count) continue;  // never from a sane kernel; not ours to give back
        r->outstanding++;
        if (cqe.res < 0) { recycle_buffer(r, bid); continue; }
        unsigned char *buf = r->recv_area + (size_t)bid * r->recv_size;
        size_t got = (size_t)cqe.res;
        struct io_uring_recvmsg_out *msg = (struct io_uring_recvmsg_out *)buf;
        size_t header = sizeof(*msg) + NAME_SPACE;
        if (got < header || msg->namelen > NAME_SPACE || msg->controllen != 0) { recycle_buffer(r, bid); continue; }
        size_t room = got - header;
        out->bid = bid;
        out->name = buf + sizeof(*msg);
        out->name_length = msg->namelen;
        out->payload = buf + header;
        // payloadlen is the datagram's real length; more than fit means the kernel cut it.
        out->truncated = (msg->flags & MSG_TRUNC) || msg->payloadlen > room;
        out->length = msg->payloadlen > room ? room : msg->payloadlen;
        return 1;
    }
}

void *cproxima_uring_response(struct cproxima_uring *r, unsigned bid) {
    return r->send_area + (size_t)bid * r->send_size;
}

size_t cproxima_uring_response_size(const struct cproxima_uring *r) { return r->send_size; }

int cproxima_uring_send(struct cproxima_uring *r, unsigned bid, size_t length) {
    if (bid >= r->buf_count) return -EINVAL;
    if (length > r->send_size) { recycle_buffer(r, bid); return -EINVAL; }
    struct io_uring_sqe *sqe = next_sqe(r);
    if (!sqe) { recycle_buffer(r, bid); return -EBUSY; }  // cannot happen: one SQE per buffer
    struct io_uring_recvmsg_out *in = (struct io_uring_recvmsg_out *)(r->recv_area + (size_t)bid * r->recv_size);
    struct iovec *iov = &r->send_iovs[bid];
    iov->iov_base = r->send_area + (size_t)bid * r->send_size;
    iov->iov_len = length;
    struct msghdr *msg = &r->send_msgs[bid];
    memset(msg, 0, sizeof(*msg));
    msg->msg_name = (unsigned char *)in + sizeof(*in);
    msg->msg_namelen = in->namelen;
    msg->msg_iov = iov;
    msg->msg_iovlen = 1;
    sqe->opcode = IORING_OP_SENDMSG;
    sqe->fd = r->sock_fd;
    sqe->addr = (uint64_t)(uintptr_t)msg;
    sqe->len = 1;
    sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
    sqe->user_data = UD(UD_SEND, bid);
    return 0;
}

void cproxima_uring_release(struct cproxima_uring *r, unsigned bid) {
    if (bid < r->buf_count) recycle_buffer(r, bid);
}

unsigned cproxima_uring_outstanding(const struct cproxima_uring *r) { return r->outstanding; }
