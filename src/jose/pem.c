/*
 * pem.c - keys from PEM text: SPKI and PKCS#1 public keys, PKCS#8 and traditional (PKCS#1, SEC1)
 * private keys, through OSSL_DECODER. Encrypted keys are refused (no passphrase prompt).
 */
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <string.h>

#include "jose/jose_int.h"
#include "jwtsession/error.h"

/* A passphrase callback that refuses, so an encrypted key fails instead of prompting. */
static int no_pass(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* Decode the first key in pem with selection (private pair first, then public). */
static EVP_PKEY *decode(const char *pem, size_t len, int selection)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dc = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL, selection, NULL, NULL);
    if (!dc) return NULL;
    OSSL_DECODER_CTX_set_pem_password_cb(dc, no_pass, NULL);
    const unsigned char *p = (const unsigned char *)pem;
    size_t left = len;
    if (OSSL_DECODER_from_data(dc, &p, &left) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(dc);
    return pkey;
}

jwts_err jwts_key_from_pem(const char *pem, size_t len, jwts_alg alg, const char *kid, jwts_key **out)
{
    if (!pem || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "key_from_pem: NULL argument");
    if (len > 64 * 1024) return jwts_fail(JWTS_E_LIMIT, "PEM text of %zu bytes is too long", len);
    if (!memmem(pem, len, "-----BEGIN ", 11)) return jwts_fail(JWTS_E_MALFORMED, "no PEM block found");
    if (memmem(pem, len, "ENCRYPTED", 9)) return jwts_fail(JWTS_E_UNSUPPORTED, "encrypted PEM keys are not supported");
    EVP_PKEY *pkey = decode(pem, len, EVP_PKEY_KEYPAIR);
    if (!pkey) pkey = decode(pem, len, EVP_PKEY_PUBLIC_KEY);
    if (!pkey) return jwts_fail(JWTS_E_MALFORMED, "PEM holds no key OpenSSL can read");
    return jwts_key_from_pkey(pkey, alg, kid, out);
}
