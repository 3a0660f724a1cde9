// Deterministic OpenSSL randomness through RAND_set_rand_method (deprecated in OpenSSL 3.0, still
// honoured: RAND_bytes_ex and RAND_priv_bytes_ex call a non-default method directly, so key
// generation, handshakes and signatures all draw from here). See CTLSShim.h.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "CTLSShim.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

static _Thread_local int seeded;
static _Thread_local uint64_t state;
static _Thread_local uint64_t drawn;
static const RAND_METHOD *fallback;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int installed;

static uint64_t next(void) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int det_bytes(unsigned char *buf, int num) {
    if (!seeded) return fallback->bytes(buf, num);
    drawn += (uint64_t)num;
    while (num >= 8) {
        uint64_t v = next();
        memcpy(buf, &v, 8);
        buf += 8;
        num -= 8;
    }
    if (num > 0) {
        uint64_t v = next();
        memcpy(buf, &v, (size_t)num);
    }
    return 1;
}

static int det_seed(const void *buf, int num) {
    return fallback->seed ? fallback->seed(buf, num) : 1;
}

static int det_add(const void *buf, int num, double entropy) {
    return fallback->add ? fallback->add(buf, num, entropy) : 1;
}

static int det_status(void) { return seeded ? 1 : (fallback->status ? fallback->status() : 1); }

static void det_cleanup(void) {}

static RAND_METHOD method = {det_seed, det_bytes, det_cleanup, det_add, det_bytes, det_status};

static void install_once(void) {
    fallback = RAND_OpenSSL();
    installed = fallback != NULL && RAND_set_rand_method(&method) == 1;
}

int smtpsim_rand_install(void) {
    pthread_once(&once, install_once);
    return installed;
}

void smtpsim_rand_seed(uint64_t seed) {
    smtpsim_rand_install();
    state = seed;
    drawn = 0;
    seeded = 1;
}

void smtpsim_rand_clear(void) { seeded = 0; }

int smtpsim_rand_is_deterministic(void) { return seeded; }

uint64_t smtpsim_rand_bytes_drawn(void) { return drawn; }

smtpsim_rand_state smtpsim_rand_save(void) {
    smtpsim_rand_state saved = {state, drawn, seeded};
    return saved;
}

void smtpsim_rand_restore(smtpsim_rand_state saved) {
    smtpsim_rand_install();
    state = saved.state;
    drawn = saved.drawn;
    seeded = saved.seeded;
}
