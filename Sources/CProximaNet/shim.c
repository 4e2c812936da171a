#define _GNU_SOURCE
#include <sys/socket.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "CProximaNet.h"

_Static_assert(sizeof(struct cproxima_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr size");
_Static_assert(offsetof(struct cproxima_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len),
               "mmsghdr.msg_len offset");

int cproxima_recvmmsg(int fd, struct cproxima_mmsghdr *msgs, unsigned int vlen, int flags) {
    return recvmmsg(fd, (struct mmsghdr *)msgs, vlen, flags, NULL);
}

int cproxima_sendmmsg(int fd, struct cproxima_mmsghdr *msgs, unsigned int vlen, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)msgs, vlen, flags);
}

size_t cproxima_mmsghdr_size(void) { return sizeof(struct mmsghdr); }

int cproxima_recvmmsg_waitforone(int fd, struct cproxima_mmsghdr *msgs, unsigned int vlen) {
    return recvmmsg(fd, (struct mmsghdr *)msgs, vlen, MSG_WAITFORONE, NULL);
}

int cproxima_msg_trunc(void) { return MSG_TRUNC; }

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

size_t cproxima_gso_control_size(void) { return CMSG_SPACE(sizeof(uint16_t)); }

size_t cproxima_gso_control_write(void *control, uint16_t segment) {
    memset(control, 0, CMSG_SPACE(sizeof(uint16_t)));
    struct cmsghdr *c = (struct cmsghdr *)control;
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &segment, sizeof segment);
    return CMSG_SPACE(sizeof(uint16_t));
}

int cproxima_set_udp_no_check(int fd, int on) {
    return setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &on, sizeof on);
}

void cproxima_set_thread_name(const char *name) {
    char buf[16];
    strncpy(buf, name, sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = 0;
    pthread_setname_np(pthread_self(), buf);
}

int cproxima_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
}

int cproxima_malloc_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

int cproxima_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

void cproxima_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof(one));
    (void)n;  // EAGAIN: the counter is already non-zero, the wake is pending anyway
}
