/* consumer.c - a program outside the tree using the installed library: create a session and
 * validate its token on the memory store; the loaded library's jwts_version() must match the
 * headers' JWTS_VERSION_STRING. */
#include <jwtsession/jwtsession.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    jwts_store *store = NULL;
    jwts_keyset *keys = NULL;
    jwts_key *key = NULL;
    jwts_manager *m = NULL;
    jwts_tokens t = {0};
    jwts_err rc = jwts_store_memory_new(NULL, &store);
    if (!rc) rc = jwts_keyset_new(&keys);
    if (!rc) rc = jwts_key_generate(JWTS_ALG_EDDSA, NULL, &key);
    if (!rc) rc = jwts_keyset_add(keys, key, 1);
    if (!rc) rc = jwts_manager_new(&(jwts_manager_options){.store = store, .keyset = keys}, &m);
    if (!rc) rc = jwts_manager_create(m, NULL, "installed", NULL, &t);
    if (!rc) rc = jwts_manager_validate(m, NULL, t.access_token, strlen(t.access_token), NULL, NULL);
    if (!rc && strcmp(jwts_version(), JWTS_VERSION_STRING) != 0) rc = JWTS_E_INTERNAL;
    printf("%s\n", jwts_errname(rc));
    jwts_tokens_clear(&t);
    jwts_manager_free(m);
    jwts_keyset_free(keys);
    jwts_store_free(store);
    return rc != JWTS_OK;
}
