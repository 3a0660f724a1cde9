// OpenSSL for Swift: the headers SMTPTLS needs, plus static inline wrappers for the macros and
// variadic calls Swift cannot import (see README "TLS engine").
#ifndef SMTPSIM_COPENSSL_SHIM_H
#define SMTPSIM_COPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* SSL_MODE_RELEASE_BUFFERS: a connection's record buffers are freed while it has nothing in
   flight (idle sessions cost their state, not 2 x 16 KiB of buffers). */
static inline void smtpsim_SSL_CTX_release_idle_buffers(SSL_CTX *ctx) {
    (void)SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}
static inline int smtpsim_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int smtpsim_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
static inline int smtpsim_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}
static inline int smtpsim_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline int smtpsim_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *cert) {
    return (int)SSL_CTX_add1_chain_cert(ctx, cert);
}
static inline uint64_t smtpsim_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t smtpsim_SSL_OP_ALLOW_NO_DHE_KEX(void) { return SSL_OP_ALLOW_NO_DHE_KEX; }
static inline uint64_t smtpsim_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t smtpsim_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline int smtpsim_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *smtpsim_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }
static inline int smtpsim_ERR_GET_LIB(unsigned long e) { return ERR_GET_LIB(e); }
static inline int smtpsim_ERR_GET_REASON(unsigned long e) { return ERR_GET_REASON(e); }
static inline void smtpsim_OPENSSL_free(void *p) { OPENSSL_free(p); }
static inline void *smtpsim_SSL_get_app_data(const SSL *ssl) { return SSL_get_ex_data(ssl, 0); }
static inline int smtpsim_SSL_set_app_data(SSL *ssl, void *data) { return SSL_set_ex_data(ssl, 0, data); }
static inline long smtpsim_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

static inline unsigned long smtpsim_XN_FLAG_RFC2253(void) { return XN_FLAG_RFC2253; }

static inline long smtpsim_SSL_CTX_disable_session_cache(SSL_CTX *ctx) {
    return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}
static inline int smtpsim_SSL_get_negotiated_group(SSL *ssl) { return (int)SSL_get_negotiated_group(ssl); }

#endif
