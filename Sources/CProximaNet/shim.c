#include "CProximaNet.h"

int cproxima_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags) {
    return recvmmsg(fd, msgs, vlen, flags, NULL);
}

int cproxima_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags) {
    return sendmmsg(fd, msgs, vlen, flags);
}

size_t cproxima_mmsghdr_size(void) { return sizeof(struct mmsghdr); }
