/*
 * claims.h - private: the strict JWT claims reader and the claim rules.
 */
#ifndef JWTS_JOSE_CLAIMS_H
#define JWTS_JOSE_CLAIMS_H

#include "jwtsession/jose.h"

/* Validate the claims JSON (strict scanner rules), read the registered claims into c and, when opt
 * is not NULL, apply every claim rule of opt at time now_s. With opt NULL only the types of the
 * registered claims are checked (what signing needs). */
jwts_err jwts_claims_process(const char *json, size_t n, const jwts_verify_options *opt, int64_t now_s, jwts_claims *c);

/* Reject options that make no sense (negative leeway, too many required names). */
jwts_err jwts_verify_options_check(const jwts_verify_options *opt);

#endif
