/*
 * keyset.h - the private layout of jwts_keyset, read by the verifier.
 */
#ifndef JWTS_JOSE_KEYSET_H
#define JWTS_JOSE_KEYSET_H

#include "jose/jose_int.h"

struct jwts_keyset {
    jwts_key **keys;
    size_t n, cap;
    size_t active; /* index of the signing key; SIZE_MAX when none */
};

#endif
