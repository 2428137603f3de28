// libb2 (Debian libb2-dev 0.98.1).
#include <stddef.h>
#include <stdint.h>
#include <blake2.h>

// Debian's libb2 0.98.1 declares the *old* argument order,
// blake2b(out, in, key, outlen, inlen, keylen); the newer reference order
// (out, outlen, in, inlen, key, keylen) also compiles against it and is wrong.
// Every caller goes through this one wrapper so the order is written down once.
// Returns 0 on success, -1 when outlen is not 1...64.
static inline int cblake2_blake2b(uint8_t *out, size_t outlen, const void *in, size_t inlen) {
    return blake2b(out, in, NULL, outlen, inlen, 0);
}
