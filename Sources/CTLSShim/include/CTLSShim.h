// The deterministic random source for OpenSSL (and nothing else).
//
// When a thread has a seed, every random byte OpenSSL draws on that thread (key shares, client
// and server randoms, ECDSA nonces, key generation, ticket keys) comes from a SplitMix64 stream
// of that seed; threads without a seed use OpenSSL's own generator. OpenSSL types stay out of
// this header (docs/design.md, "Facts the code relies on": two Clang modules must not both own the OpenSSL typedefs).
#ifndef SMTPSIM_CTLSSHIM_H
#define SMTPSIM_CTLSSHIM_H

#include <stdint.h>

/// Installs the random method once per process (idempotent, thread-safe). Returns 1 on success.
int smtpsim_rand_install(void);
/// Seeds this thread's deterministic stream and switches the thread to it.
void smtpsim_rand_seed(uint64_t seed);
/// Switches this thread back to OpenSSL's own generator.
void smtpsim_rand_clear(void);
/// 1 when this thread draws from a seeded stream.
int smtpsim_rand_is_deterministic(void);
/// Bytes drawn from this thread's seeded stream since it was seeded.
uint64_t smtpsim_rand_bytes_drawn(void);

/// This thread's whole random state, to set a stream aside and resume it exactly.
typedef struct smtpsim_rand_state {
    uint64_t state;
    uint64_t drawn;
    int seeded;
} smtpsim_rand_state;

smtpsim_rand_state smtpsim_rand_save(void);
void smtpsim_rand_restore(smtpsim_rand_state saved);

#endif
