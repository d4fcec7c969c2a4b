/* openssl_caller.c - a program that uses OpenSSL itself (libssl and libcrypto, linked through its
 * own ${OPENSSL_LIBRARIES}) beside jwtsession: find_package(jwtsession) must not have replaced that
 * variable. Prints JWTS_OK when both work. */
#include <jwtsession/jwtsession.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdio.h>

int main(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method()); /* libssl */
    const char *v = OpenSSL_version(OPENSSL_VERSION); /* libcrypto */
    jwts_store *store = NULL;
    jwts_err rc = jwts_store_memory_new(NULL, &store);
    printf("%s\n", ctx && v && !rc ? jwts_errname(JWTS_OK) : "FAILED");
    jwts_store_free(store);
    SSL_CTX_free(ctx);
    return !(ctx && v && !rc);
}
