/*
 * tls_session_baseline.c - what one in-memory STARTTLS-sized TLS session costs in plain C with
 * OpenSSL 3: the same-run baseline of `smtpsim bench tls` and `smtpsim bench sim`.
 *
 * One thread, no sockets. Contexts are made once; each session then makes a client and a server
 * SSL over two pairs of memory BIOs, moves the bytes between them by hand (as a simulated link
 * does), runs a full handshake (no resumption, tickets off unless -k says otherwise) in which the
 * client verifies the server's chain against the CA and the host name "localhost", carries an
 * SMTP-sized exchange (about 400 octets from the client, 150 from the server), closes both ways
 * with close_notify, and frees both SSL objects.
 *
 * Usage: tls_session_baseline -d DIR -c ec|rsa [-g GROUPS] [-v 1.2|1.3] [-n MAX] [-t SECONDS]
 *                             [-k TICKETS] [-w WARMUP]
 * DIR holds ca-KIND.pem, KIND.pem (leaf first, then the chain) and KIND.key; smtpsim writes them
 * with its certificate factory. Prints one line of key=value pairs, sessions_per_s among them.
 *
 * Build: cc -O2 -o tls_session_baseline tls_session_baseline.c -lssl -lcrypto
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what) {
    fprintf(stderr, "tls_session_baseline: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One side: its SSL and the BIO it reads from (the peer's output is copied into it). */
struct side {
    SSL *ssl;
    BIO *in;
    BIO *out;
};

static void side_open(struct side *s, SSL_CTX *ctx, int server) {
    s->ssl = SSL_new(ctx);
    if (!s->ssl) fail("SSL_new");
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    if (!s->in || !s->out) fail("BIO_new");
    SSL_set_bio(s->ssl, s->in, s->out); /* the SSL owns both BIOs from here */
    if (server) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        SSL_set_tlsext_host_name(s->ssl, "localhost");
        if (SSL_set1_host(s->ssl, "localhost") != 1) fail("SSL_set1_host");
    }
}

/* Copies everything `from` wrote into `to`'s input; returns the octets moved. */
static size_t carry(struct side *from, struct side *to) {
    char buffer[16384];
    size_t moved = 0;
    int n;
    while ((n = BIO_read(from->out, buffer, sizeof buffer)) > 0) {
        if (BIO_write(to->in, buffer, n) != n) fail("BIO_write");
        moved += (size_t)n;
    }
    return moved;
}

static int step(SSL *ssl) {
    int r = SSL_do_handshake(ssl);
    if (r == 1) return 1;
    int e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) fail("handshake");
    return 0;
}

static void send_all(struct side *s, const char *text) {
    size_t len = strlen(text);
    if (SSL_write(s->ssl, text, (int)len) != (int)len) fail("SSL_write");
}

/* Reads until `expected` octets of application data arrived. */
static void read_all(struct side *s, size_t expected) {
    char buffer[4096];
    size_t got = 0;
    while (got < expected) {
        int n = SSL_read(s->ssl, buffer, sizeof buffer);
        if (n <= 0) fail("SSL_read");
        got += (size_t)n;
    }
}

static const char *client_text =
    "EHLO client.example.test\r\nMAIL FROM:<alice@example.test> SIZE=1024\r\nRCPT TO:<bob@example.net>\r\n"
    "DATA\r\nSubject: a message of about the size of an SMTP transaction\r\n\r\n"
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut\r\n"
    "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco.\r\n"
    "Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat.\r\n.\r\nQUIT\r\n";
static const char *server_text =
    "250-localhost\r\n250-PIPELINING\r\n250 SIZE 10485760\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
    "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n";

static void one_session(SSL_CTX *client_ctx, SSL_CTX *server_ctx) {
    struct side c, s;
    side_open(&c, client_ctx, 0);
    side_open(&s, server_ctx, 1);
    int client_done = 0, server_done = 0;
    for (int rounds = 0; !(client_done && server_done); rounds++) {
        if (rounds > 100) fail("the handshake does not finish");
        if (!client_done) client_done = step(c.ssl);
        carry(&c, &s);
        if (!server_done) server_done = step(s.ssl);
        carry(&s, &c);
    }
    if (SSL_get_verify_result(c.ssl) != X509_V_OK) fail("the server's certificate did not verify");
    send_all(&c, client_text);
    carry(&c, &s);
    read_all(&s, strlen(client_text));
    send_all(&s, server_text);
    carry(&s, &c);
    read_all(&c, strlen(server_text));
    SSL_shutdown(c.ssl);
    carry(&c, &s);
    SSL_shutdown(s.ssl);
    carry(&s, &c);
    SSL_shutdown(c.ssl);
    SSL_free(c.ssl);
    SSL_free(s.ssl);
}

static SSL_CTX *context(int server, const char *dir, const char *kind, const char *groups, int version, int tickets) {
    char path[4096], key[4096];
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) fail("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    if (groups && SSL_CTX_set1_groups_list(ctx, groups) != 1) fail("groups");
    if (server) {
        snprintf(path, sizeof path, "%s/%s.pem", dir, kind);
        snprintf(key, sizeof key, "%s/%s.key", dir, kind);
        if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1) fail("certificate chain");
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) fail("private key");
        if (tickets == 0) {
            SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
            SSL_CTX_set_num_tickets(ctx, 0);
        } else {
            SSL_CTX_set_num_tickets(ctx, (size_t)tickets);
        }
    } else {
        snprintf(path, sizeof path, "%s/ca-%s.pem", dir, kind);
        if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) fail("CA file");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *kind = "ec", *groups = "X25519", *version_text = "1.3";
    long maximum = 1000000, warmup = 20;
    double limit = 2.0;
    int tickets = 0, opt;
    while ((opt = getopt(argc, argv, "d:c:g:v:n:t:k:w:")) != -1) {
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'c': kind = optarg; break;
        case 'g': groups = optarg; break;
        case 'v': version_text = optarg; break;
        case 'n': maximum = atol(optarg); break;
        case 't': limit = atof(optarg); break;
        case 'k': tickets = atoi(optarg); break;
        case 'w': warmup = atol(optarg); break;
        default:
            fprintf(stderr, "usage: %s -d DIR -c ec|rsa [-g GROUPS] [-v 1.2|1.3] [-n MAX] [-t SECONDS] [-k TICKETS] [-w WARMUP]\n", argv[0]);
            return 2;
        }
    }
    if (!dir) fail("-d DIR is required");
    int version = strcmp(version_text, "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_CTX *server_ctx = context(1, dir, kind, groups, version, tickets);
    SSL_CTX *client_ctx = context(0, dir, kind, groups, version, tickets);
    for (long i = 0; i < warmup; i++) one_session(client_ctx, server_ctx);
    long sessions = 0;
    double start = seconds_now(), elapsed = 0;
    while (sessions < maximum && (elapsed = seconds_now() - start) < limit) {
        one_session(client_ctx, server_ctx);
        sessions++;
    }
    elapsed = seconds_now() - start;
    printf("openssl=\"%s\" cert=%s groups=%s proto=%s tickets=%d sessions=%ld seconds=%.3f sessions_per_s=%.1f us_per_session=%.1f\n",
           OpenSSL_version(OPENSSL_VERSION), kind, groups, version_text, tickets, sessions, elapsed,
           sessions / elapsed, 1e6 * elapsed / (sessions ? sessions : 1));
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
    return 0;
}
