#ifndef CPROXIMANET_H
#define CPROXIMANET_H
// Exposes recvmmsg/sendmmsg and struct mmsghdr to Swift: Glibc hides them unless _GNU_SOURCE is
// defined before <sys/socket.h>, which a Swift module map cannot do (see shared/DESIGN.md §7).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stddef.h>

/// recvmmsg(2) with a NULL timeout.
int cproxima_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags);
/// sendmmsg(2).
int cproxima_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags);
/// sizeof(struct mmsghdr), for allocating arrays from Swift.
size_t cproxima_mmsghdr_size(void);

#endif
