/*
 * http-floor: the least an HTTP update can cost a server (issue #9's floor).
 *
 * One thread, epoll, keep-alive HTTP/1.1 on 127.0.0.1 only: it reads each request (head up to
 * the blank line, then Content-Length bytes of body) and answers 200 with a fixed JSON body of
 * the size of the DDNS API's silo reply. No parsing beyond that, no store, no allocation per
 * request. `Scripts/bench --servers proxima,proxima-ddns,proxima-httpfloor` runs it on the DNS
 * server's core with the same update stream as proxima-ddns: what proxima-httpfloor loses against
 * proxima is what 500 requests/s cost a shared core before any DDNS work (the kernel's TCP
 * loopback path, the wake-ups and the context switches).
 *
 *   http-floor PORT     (exits on SIGTERM; at most 64 connections of 64 KiB each)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONN 64
#define BUF 65536

struct conn { int fd; size_t len; char buf[BUF]; };
static struct conn conns[MAX_CONN];
static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

static const char body[] =
    "{\"id\":\"s1\",\"dnsrecords\":[{\"hostname\":\"host\",\"ip\":\"10.0.0.1\",\"ttl\":60,"
    "\"name\":\"host.s1.dyn.example.test.\"}]}";

/* Length of the first complete request in c->buf, 0 when incomplete, -1 when malformed. */
static long request_length(struct conn *c) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return c->len >= BUF ? -1 : 0;
    size_t head = (size_t)(end - c->buf) + 4;
    unsigned long body_len = 0;
    for (char *p = c->buf; p < end; ) {
        char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol) break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0) {
            char *e;
            body_len = strtoul(p + 15, &e, 10);
            if (body_len > BUF) return -1;
        }
        p = eol + 2;
    }
    if (head + body_len > BUF) return -1;
    return c->len >= head + body_len ? (long)(head + body_len) : 0;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: http-floor PORT\n"); return 2; }
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 64)) { perror("http-floor: bind"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = MAX_CONN };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    for (int i = 0; i < MAX_CONN; i++) conns[i].fd = -1;
    char reply[512];
    int reply_len = snprintf(reply, sizeof reply,
                             "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n\r\n%s",
                             sizeof body - 1, body);
    struct epoll_event events[16];
    while (!stop) {
        int n = epoll_wait(ep, events, 16, 500);
        for (int i = 0; i < n; i++) {
            unsigned k = events[i].data.u32;
            if (k == MAX_CONN) {
                int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0) continue;
                int slot = -1;
                for (int j = 0; j < MAX_CONN; j++) if (conns[j].fd < 0) { slot = j; break; }
                if (slot < 0) { close(fd); continue; }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[slot].fd = fd;
                conns[slot].len = 0;
                struct epoll_event ce = { .events = EPOLLIN, .data.u32 = (unsigned)slot };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                continue;
            }
            struct conn *c = &conns[k];
            ssize_t r = read(c->fd, c->buf + c->len, BUF - c->len);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                close(c->fd); c->fd = -1;
                continue;
            }
            c->len += (size_t)r;
            long used;
            while ((used = request_length(c)) > 0) {
                if (write(c->fd, reply, (size_t)reply_len) != reply_len) { used = -1; break; }
                memmove(c->buf, c->buf + used, c->len - (size_t)used);
                c->len -= (size_t)used;
            }
            if (used < 0) { close(c->fd); c->fd = -1; }
        }
    }
    return 0;
}
