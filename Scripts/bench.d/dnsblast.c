/*
 * dnsblast — a batching DNS load generator for Proxima's benchmarks (Scripts/bench).
 *
 * Sends queries from a list file (one per line: `name type [ecs-prefix]`, cycled) over UDP with
 * sendmmsg/recvmmsg, either keeping a window of outstanding queries (saturation) or at a fixed
 * rate, and reports answered queries/s, timeouts, latency (avg, p50, p99 from per-query send
 * timestamps matched by socket + DNS ID) and rcode counts as one JSON line.
 *
 * Only loopback targets (127.0.0.0/8, ::1) are accepted. Every run is bounded by time and count.
 *
 *   dnsblast -s 127.0.0.1 -p 5353 -f queries.txt [-d seconds] [-n max-queries]
 *            [-r rate | -w window] [-c sockets] [-t timeout-ms] [-b edns-payload]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXQ 512
#define RESP_BUF 4096
#define HIST_US 1000000        /* 1 µs buckets up to 1 s; slower answers land in the last bucket */
#define MAX_SOCKETS 64

typedef struct { uint8_t wire[MAXQ]; int len; } query_t;

typedef struct {
    int fd;
    uint64_t sent_ns[65536];   /* send time per DNS ID */
    uint32_t seq[65536];       /* which send the ID slot belongs to (0 = free) */
    uint16_t ring_id[65536];   /* IDs in send order, for timeout expiry */
    uint32_t ring_seq[65536];
    uint32_t head, tail;       /* ring indices (mod 65536) */
    uint32_t outstanding;
    uint16_t next_id;
} sock_t;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int type_code(const char *t) {
    static const struct { const char *n; int c; } types[] = {
        {"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"MX", 15}, {"TXT", 16},
        {"AAAA", 28}, {"SRV", 33}, {"NAPTR", 35}, {"DS", 43}, {"DNSKEY", 48}, {"CAA", 257}, {"ANY", 255},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(t, types[i].n) == 0) return types[i].c;
    if (strncasecmp(t, "TYPE", 4) == 0) return atoi(t + 4);
    return -1;
}

/* Builds a query: RD=0 (we talk to authoritatives), one question, an OPT RR (RFC 6891) with the
 * given payload size, and an ECS option (RFC 7871 §6) when `ecs` is "addr/prefix". */
static int build_query(query_t *q, const char *name, int type, const char *ecs, int payload) {
    uint8_t *p = q->wire;
    memset(p, 0, 12);
    p[5] = 1;            /* QDCOUNT */
    p[11] = 1;           /* ARCOUNT: OPT */
    int off = 12;
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        int n = dot ? (int)(dot - s) : (int)strlen(s);
        if (n == 0 || n > 63 || off + n + 1 > 255 + 12) return -1;
        p[off++] = (uint8_t)n;
        memcpy(p + off, s, n);
        off += n;
        s += n;
        if (*s == '.') s++;
    }
    p[off++] = 0;
    p[off++] = type >> 8; p[off++] = type & 0xff;
    p[off++] = 0; p[off++] = 1;
    /* OPT: root name, TYPE 41, CLASS = payload, TTL 0, RDLEN */
    p[off++] = 0; p[off++] = 0; p[off++] = 41;
    p[off++] = payload >> 8; p[off++] = payload & 0xff;
    p[off++] = 0; p[off++] = 0; p[off++] = 0; p[off++] = 0;
    int rdlen_at = off;
    off += 2;
    int rdlen = 0;
    if (ecs && *ecs) {
        char addr[64];
        const char *slash = strchr(ecs, '/');
        if (!slash || slash - ecs >= (int)sizeof addr) return -1;
        memcpy(addr, ecs, slash - ecs);
        addr[slash - ecs] = 0;
        int prefix = atoi(slash + 1);
        uint8_t bytes[16];
        int family;
        if (inet_pton(AF_INET, addr, bytes) == 1) { family = 1; if (prefix < 0 || prefix > 32) return -1; }
        else if (inet_pton(AF_INET6, addr, bytes) == 1) { family = 2; if (prefix < 0 || prefix > 128) return -1; }
        else return -1;
        int nbytes = (prefix + 7) / 8;
        p[off++] = 0; p[off++] = 8;                       /* OPTION-CODE 8 = ECS */
        p[off++] = 0; p[off++] = 4 + nbytes;              /* OPTION-LENGTH */
        p[off++] = 0; p[off++] = family;
        p[off++] = prefix; p[off++] = 0;                  /* source prefix, scope 0 */
        memcpy(p + off, bytes, nbytes);
        if (prefix % 8) p[off + nbytes - 1] &= (uint8_t)(0xff << (8 - prefix % 8));
        off += nbytes;
        rdlen = 8 + nbytes;
    }
    p[rdlen_at] = rdlen >> 8; p[rdlen_at + 1] = rdlen & 0xff;
    q->len = off;
    return 0;
}

static query_t *load_queries(const char *path, int payload, int *count) {
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    int cap = 1024, n = 0;
    query_t *qs = malloc(sizeof(query_t) * cap);
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char name[300], type[32], ecs[80] = "";
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        int k = sscanf(line, "%299s %31s %79s", name, type, ecs);
        if (k <= 0) continue;
        if (k < 2) { fprintf(stderr, "%s:%d: expected `name type [ecs]`\n", path, lineno); exit(2); }
        int t = type_code(type);
        if (n == cap) { cap *= 2; qs = realloc(qs, sizeof(query_t) * cap); }
        size_t nl = strlen(name);
        if (nl > 1 && name[nl - 1] == '.') name[nl - 1] = 0;
        if (t <= 0 || build_query(&qs[n], name, t, k == 3 ? ecs : NULL, payload) != 0) {
            fprintf(stderr, "%s:%d: bad query line\n", path, lineno);
            exit(2);
        }
        n++;
    }
    fclose(f);
    if (n == 0) { fprintf(stderr, "%s: no queries\n", path); exit(2); }
    *count = n;
    return qs;
}

static void usage(void) {
    fprintf(stderr, "usage: dnsblast -s ADDR -p PORT -f FILE [-d SEC] [-n MAX] [-r RATE | -w WINDOW]"
                    " [-c SOCKETS] [-t TIMEOUT_MS] [-b PAYLOAD]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *server = "127.0.0.1", *file = NULL;
    int port = 0, sockets = 4, window = 256, timeout_ms = 1000, payload = 1232;
    double duration = 10, rate = 0;
    uint64_t max_queries = 100000000ull;
    int opt;
    while ((opt = getopt(argc, argv, "s:p:f:d:n:r:w:c:t:b:")) != -1) {
        switch (opt) {
        case 's': server = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'f': file = optarg; break;
        case 'd': duration = atof(optarg); break;
        case 'n': max_queries = strtoull(optarg, NULL, 10); break;
        case 'r': rate = atof(optarg); break;
        case 'w': window = atoi(optarg); break;
        case 'c': sockets = atoi(optarg); break;
        case 't': timeout_ms = atoi(optarg); break;
        case 'b': payload = atoi(optarg); break;
        default: usage();
        }
    }
    if (!file || port <= 0 || port > 65535 || sockets < 1 || sockets > MAX_SOCKETS || window < 1 ||
        duration <= 0 || duration > 600 || timeout_ms < 1)
        usage();
    if (window > 60000 * sockets) window = 60000 * sockets;

    /* Loopback only (the benchmark must never load anything else). */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sslen;
    int family;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, server, &sin->sin_addr) == 1) {
        if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) { fprintf(stderr, "refusing non-loopback target %s\n", server); return 2; }
        sin->sin_family = AF_INET; sin->sin_port = htons(port); sslen = sizeof *sin; family = AF_INET;
    } else if (inet_pton(AF_INET6, server, &sin6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) { fprintf(stderr, "refusing non-loopback target %s\n", server); return 2; }
        sin6->sin6_family = AF_INET6; sin6->sin6_port = htons(port); sslen = sizeof *sin6; family = AF_INET6;
    } else {
        fprintf(stderr, "bad server address %s\n", server);
        return 2;
    }

    int nq;
    query_t *queries = load_queries(file, payload, &nq);

    sock_t *socks = calloc(sockets, sizeof(sock_t));
    struct pollfd *pfds = calloc(sockets, sizeof(struct pollfd));
    for (int i = 0; i < sockets; i++) {
        int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int buf = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf);
        if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sslen) != 0) { perror("socket/connect"); return 2; }
        socks[i].fd = fd;
        socks[i].next_id = (uint16_t)(i * 7919);
        pfds[i].fd = fd;
        pfds[i].events = POLLIN;
    }

    static uint8_t sendbuf[BATCH][MAXQ];
    static uint8_t recvbuf[BATCH][RESP_BUF];
    struct mmsghdr smsgs[BATCH], rmsgs[BATCH];
    struct iovec siov[BATCH], riov[BATCH];
    memset(smsgs, 0, sizeof smsgs);
    memset(rmsgs, 0, sizeof rmsgs);
    for (int i = 0; i < BATCH; i++) {
        siov[i].iov_base = sendbuf[i];
        smsgs[i].msg_hdr.msg_iov = &siov[i];
        smsgs[i].msg_hdr.msg_iovlen = 1;
        riov[i].iov_base = recvbuf[i];
        riov[i].iov_len = RESP_BUF;
        rmsgs[i].msg_hdr.msg_iov = &riov[i];
        rmsgs[i].msg_hdr.msg_iovlen = 1;
    }

    uint32_t *hist = calloc(HIST_US + 1, sizeof(uint32_t));
    uint64_t rcodes[16] = {0};
    uint64_t sent = 0, answered = 0, timeouts = 0, truncated = 0, unexpected = 0, send_errors = 0;
    double latency_sum_us = 0;
    uint32_t seqctr = 1;
    uint64_t qi = 0;
    const uint64_t timeout_ns = (uint64_t)timeout_ms * 1000000ull;
    const uint64_t start = now_ns();
    const uint64_t end_send = start + (uint64_t)(duration * 1e9);
    uint64_t last_expire = start;
    int per_socket_window = (window + sockets - 1) / sockets;
    if (per_socket_window > 60000) per_socket_window = 60000;
    uint64_t send_stop = 0;
    int rr = 0;

    for (;;) {
        uint64_t now = now_ns();
        int sending = now < end_send && sent < max_queries;
        if (!sending && send_stop == 0) send_stop = now;
        uint64_t outstanding_total = 0;
        for (int i = 0; i < sockets; i++) outstanding_total += socks[i].outstanding;
        if (!sending && (outstanding_total == 0 || now > send_stop + timeout_ns)) break;

        /* Send: window mode tops up each socket; rate mode sends what the schedule allows. */
        if (sending) {
            uint64_t allowed_total = UINT64_MAX;
            if (rate > 0) {
                double due = rate * (double)(now - start) / 1e9;
                allowed_total = due > (double)sent ? (uint64_t)(due - (double)sent) : 0;
            }
            for (int k = 0; k < sockets && allowed_total > 0 && sent < max_queries; k++) {
                sock_t *s = &socks[(rr + k) % sockets];
                int room = rate > 0 ? 60000 - (int)s->outstanding : per_socket_window - (int)s->outstanding;
                if (room <= 0) continue;
                int n = room < BATCH ? room : BATCH;
                if ((uint64_t)n > allowed_total) n = (int)allowed_total;
                if ((uint64_t)n > max_queries - sent) n = (int)(max_queries - sent);
                uint16_t ids[BATCH];
                int built = 0;
                for (int j = 0; j < n; j++) {
                    /* Skip IDs still outstanding on this socket (possible only near 64k in flight). */
                    int guard = 0;
                    while (s->seq[s->next_id] != 0 && guard++ < 65536) s->next_id++;
                    if (guard >= 65536) break;
                    uint16_t id = s->next_id++;
                    query_t *q = &queries[qi++ % (uint64_t)nq];
                    memcpy(sendbuf[j], q->wire, q->len);
                    sendbuf[j][0] = id >> 8;
                    sendbuf[j][1] = id & 0xff;
                    siov[j].iov_len = q->len;
                    ids[j] = id;
                    built++;
                }
                int r = built ? sendmmsg(s->fd, smsgs, built, 0) : 0;
                if (r < 0) { if (errno != EAGAIN && errno != EINTR) send_errors++; r = 0; }
                uint64_t ts = now_ns();
                for (int j = 0; j < r; j++) {
                    uint16_t id = ids[j];
                    uint32_t sq = seqctr++;
                    if (seqctr == 0) seqctr = 1;
                    s->seq[id] = sq;
                    s->sent_ns[id] = ts;
                    s->ring_id[s->tail & 0xffff] = id;
                    s->ring_seq[s->tail & 0xffff] = sq;
                    s->tail++;
                    s->outstanding++;
                }
                sent += r;
                if (allowed_total != UINT64_MAX) allowed_total -= r;
                /* IDs that were built but not sent go back (next_id moved past them; harmless). */
            }
            rr = (rr + 1) % sockets;
        }

        /* Wait briefly for answers (sub-millisecond so rate mode keeps its schedule). */
        struct timespec wait = {0, rate > 0 ? 100000 : 1000000};
        int ready = ppoll(pfds, sockets, &wait, NULL);
        if (ready > 0) {
            for (int i = 0; i < sockets; i++) {
                if (!(pfds[i].revents & POLLIN)) continue;
                sock_t *s = &socks[i];
                for (;;) {
                    int r = recvmmsg(s->fd, rmsgs, BATCH, MSG_DONTWAIT, NULL);
                    if (r <= 0) break;
                    uint64_t ts = now_ns();
                    for (int j = 0; j < r; j++) {
                        uint8_t *m = recvbuf[j];
                        if (rmsgs[j].msg_len < 12) { unexpected++; continue; }
                        uint16_t id = (uint16_t)(m[0] << 8 | m[1]);
                        if (s->seq[id] == 0) { unexpected++; continue; }
                        uint64_t us = (ts - s->sent_ns[id]) / 1000;
                        hist[us < HIST_US ? us : HIST_US]++;
                        latency_sum_us += (double)(ts - s->sent_ns[id]) / 1000.0;
                        rcodes[m[3] & 0x0f]++;
                        if (m[2] & 0x02) truncated++;
                        s->seq[id] = 0;
                        s->outstanding--;
                        answered++;
                    }
                    if (r < BATCH) break;
                }
            }
        }

        /* Expire: walk each socket's send-order ring from the head (every ~5 ms). */
        now = now_ns();
        if (now - last_expire > 5000000ull) {
            last_expire = now;
            for (int i = 0; i < sockets; i++) {
                sock_t *s = &socks[i];
                while (s->head != s->tail) {
                    uint16_t id = s->ring_id[s->head & 0xffff];
                    uint32_t sq = s->ring_seq[s->head & 0xffff];
                    if (s->seq[id] == sq) {
                        if (now - s->sent_ns[id] < timeout_ns) break;
                        s->seq[id] = 0;
                        s->outstanding--;
                        timeouts++;
                    }
                    s->head++;
                }
            }
        }
    }
    uint64_t finish = now_ns();
    for (int i = 0; i < sockets; i++) { timeouts += socks[i].outstanding; close(socks[i].fd); }
    double send_secs = (double)((send_stop ? send_stop : finish) - start) / 1e9;

    /* Percentiles from the histogram. */
    double p50 = 0, p99 = 0, p999 = 0;
    uint64_t acc = 0;
    int have50 = 0, have99 = 0;
    for (int us = 0; us <= HIST_US && answered > 0; us++) {
        acc += hist[us];
        if (!have50 && acc * 2 >= answered) { p50 = us; have50 = 1; }
        if (!have99 && acc * 100 >= answered * 99) { p99 = us; have99 = 1; }
        if (acc * 1000 >= answered * 999) { p999 = us; break; }
    }
    static const char *rnames[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                     "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11",
                                     "RCODE12", "RCODE13", "RCODE14", "RCODE15"};
    printf("{\"sent\":%llu,\"answered\":%llu,\"timeouts\":%llu,\"unexpected\":%llu,\"send_errors\":%llu,"
           "\"truncated\":%llu,\"send_seconds\":%.3f,\"qps\":%.0f,\"avg_us\":%.1f,\"p50_us\":%.0f,"
           "\"p99_us\":%.0f,\"p999_us\":%.0f,\"rcodes\":{",
           (unsigned long long)sent, (unsigned long long)answered, (unsigned long long)timeouts,
           (unsigned long long)unexpected, (unsigned long long)send_errors, (unsigned long long)truncated,
           send_secs, send_secs > 0 ? (double)answered / send_secs : 0.0,
           answered ? latency_sum_us / (double)answered : 0.0, p50, p99, p999);
    int first = 1;
    for (int i = 0; i < 16; i++) {
        if (!rcodes[i]) continue;
        printf("%s\"%s\":%llu", first ? "" : ",", rnames[i], (unsigned long long)rcodes[i]);
        first = 0;
    }
    printf("}}\n");
    return 0;
}
