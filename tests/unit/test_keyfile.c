/*
 * test_keyfile.c - key files with a lifecycle (docs/keys.md): the rotation state machine (new
 * file, publish-ahead refusal, promotion, retirement, adoption of a plain key file), the load
 * rules for lifecycle members, and the atomic 0600 write (a failed write leaves the old file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jwtsession/jose.h"

#define T0 1800000000

static jwts_keyfile_rotate_options opts(int64_t now)
{
    return (jwts_keyfile_rotate_options){.now_s = now, .publish_ahead_s = 300, .retire_after_s = 960};
}

static jwts_keyset *load(const char *text, int64_t now)
{
    jwts_keyset *ks = NULL;
    assert_int_equal(jwts_keyfile_load(text, strlen(text), now, &ks), JWTS_OK);
    return ks;
}

/* The kid of the only key of ks in state st, or NULL (and counts how many there are). */
static const char *kid_in(const jwts_keyset *ks, jwts_key_state st, size_t *count)
{
    const char *kid = NULL;
    *count = 0;
    for (size_t i = 0; i < jwts_keyset_count(ks); i++)
        if (jwts_key_state_of(jwts_keyset_get(ks, i), NULL, NULL) == st) {
            kid = jwts_key_kid(jwts_keyset_get(ks, i));
            (*count)++;
        }
    return kid;
}

__attribute__((noinline)) static char *rotate(const char *text, jwts_keyfile_rotate_options o)
{
    char *out = NULL;
    assert_int_equal(jwts_keyfile_rotate(text, text ? strlen(text) : 0, &o, &out), JWTS_OK);
    return out;
}

static void test_rotation_steps(void **s)
{
    (void)s;
    jwts_keyfile_rotate_options o = opts(T0);
    char *out = NULL;
    assert_int_equal(jwts_keyfile_rotate(NULL, 0, &o, &out), JWTS_E_INVALID_ARGUMENT); /* a new file needs --alg */
    o.alg = JWTS_ALG_ES256;
    char *f1 = rotate(NULL, o);
    jwts_keyset *ks = load(f1, T0);
    size_t n;
    char a[64], b[64];
    snprintf(a, sizeof a, "%s", kid_in(ks, JWTS_KEY_ACTIVE, &n));
    assert_int_equal(n, 1);
    snprintf(b, sizeof b, "%s", kid_in(ks, JWTS_KEY_NEXT, &n));
    assert_int_equal(n, 1);
    assert_string_equal(jwts_key_kid(jwts_keyset_active(ks)), a); /* the active key signs */
    assert_int_equal(jwts_keyset_count(ks), 2);
    jwts_keyset_free(ks);

    /* too early: the next key was published 10 s ago, publish-ahead is 300 s; nothing is made */
    o = opts(T0 + 10);
    out = (char *)1;
    assert_int_equal(jwts_keyfile_rotate(f1, strlen(f1), &o, &out), JWTS_E_CONFLICT);
    assert_non_null(strstr(jwts_errdetail(), "publish-ahead"));

    /* after publish-ahead: next -> active, active -> retiring (retire_at = now + 960), new next */
    char *f2 = rotate(f1, opts(T0 + 300));
    ks = load(f2, T0 + 300);
    assert_string_equal(kid_in(ks, JWTS_KEY_ACTIVE, &n), b);
    assert_string_equal(jwts_key_kid(jwts_keyset_active(ks)), b);
    assert_string_equal(kid_in(ks, JWTS_KEY_RETIRING, &n), a);
    int64_t published, retire;
    assert_int_equal(jwts_key_state_of(jwts_keyset_find(ks, a), &published, &retire), JWTS_KEY_RETIRING);
    assert_int_equal(retire, T0 + 300 + 960);
    const char *c = kid_in(ks, JWTS_KEY_NEXT, &n);
    assert_int_equal(n, 1);
    assert_string_not_equal(c, a);
    assert_string_not_equal(c, b);
    assert_int_equal(jwts_keyset_count(ks), 3);
    jwts_keyset_free(ks);

    /* the retiring key is still there before retire_at, gone (retired) from retire_at on */
    ks = load(f2, T0 + 300 + 959);
    assert_non_null(jwts_keyset_find(ks, a));
    jwts_keyset_free(ks);
    ks = load(f2, T0 + 300 + 960);
    assert_null(jwts_keyset_find(ks, a));
    assert_int_equal(jwts_keyset_count(ks), 2);
    jwts_keyset_free(ks);

    /* a second rotation after retire_at drops the first key from the file itself */
    char *f3 = rotate(f2, opts(T0 + 2000));
    assert_null(strstr(f3, a));
    ks = load(f3, T0 + 2000);
    assert_int_equal(jwts_keyset_count(ks), 3); /* active (was next), next, retiring b */
    assert_string_equal(kid_in(ks, JWTS_KEY_RETIRING, &n), b);
    jwts_keyset_free(ks);
    jwts_jose_free(f1);
    jwts_jose_free(f2);
    jwts_jose_free(f3);
}

/* A plain key file (keygen's JWK) is adopted: its key stays active, a next key is added. */
static void test_adopt_plain(void **s)
{
    (void)s;
    jwts_key *k;
    assert_int_equal(jwts_key_generate(JWTS_ALG_EDDSA, "old", &k), JWTS_OK);
    char *jwk;
    assert_int_equal(jwts_key_to_jwk(k, 1, &jwk), JWTS_OK);
    jwts_key_free(k);
    char *f = rotate(jwk, opts(T0));
    jwts_keyset *ks = load(f, T0);
    size_t n;
    assert_string_equal(kid_in(ks, JWTS_KEY_ACTIVE, &n), "old");
    assert_non_null(kid_in(ks, JWTS_KEY_NEXT, &n));
    assert_int_equal(jwts_key_alg(jwts_keyset_find(ks, kid_in(ks, JWTS_KEY_NEXT, &n))), JWTS_ALG_EDDSA);
    jwts_keyset_free(ks);
    /* a plain file still loads as before: first signing key active, no state */
    ks = load(jwk, T0);
    assert_int_equal(jwts_key_state_of(jwts_keyset_active(ks), NULL, NULL), JWTS_KEY_UNMANAGED);
    jwts_keyset_free(ks);
    jwts_jose_free(jwk);
    jwts_jose_free(f);
}

/* Replace the first occurrence of from in text by to (a fresh string). */
__attribute__((noinline)) static char *edit(const char *text, const char *from, const char *to)
{
    const char *p = strstr(text, from);
    assert_non_null(p);
    size_t at = (size_t)(p - text), tail = strlen(text) - at - strlen(from);
    char *out = malloc(at + strlen(to) + tail + 1);
    memcpy(out, text, at);
    memcpy(out + at, to, strlen(to));
    memcpy(out + at + strlen(to), text + at + strlen(from), tail + 1);
    return out;
}

static void test_load_rules(void **s)
{
    (void)s;
    jwts_keyfile_rotate_options o = opts(T0);
    o.alg = JWTS_ALG_HS256; /* HMAC keys get a random kid */
    char *f = rotate(NULL, o);
    jwts_keyset *hs = load(f, T0);
    size_t n;
    assert_non_null(kid_in(hs, JWTS_KEY_NEXT, &n));
    assert_int_equal(strlen(kid_in(hs, JWTS_KEY_NEXT, &n)), 22);
    jwts_keyset_free(hs);
    char *f2 = rotate(f, opts(T0 + 300));
    hs = load(f2, T0 + 300);
    assert_int_equal(jwts_keyset_count(hs), 3);
    jwts_keyset_free(hs);
    jwts_jose_free(f2);
    struct {
        const char *from, *to;
        jwts_err want;
    } bad[] = {
        {"\"jwts_state\":\"next\"", "\"jwts_state\":\"active\"", JWTS_E_MALFORMED}, /* two active */
        {"\"jwts_state\":\"active\"", "\"jwts_state\":\"next\"", JWTS_E_MALFORMED}, /* none active, two next */
        {"\"jwts_state\":\"next\"", "\"jwts_state\":\"later\"", JWTS_E_MALFORMED},
        {"\"jwts_state\":\"next\"", "\"jwts_state\":\"retiring\"", JWTS_E_MALFORMED}, /* no retire_at */
        {"\"jwts_state\":\"next\",", "", JWTS_E_MALFORMED},                            /* mixed */
        {"\"jwts_published_at\":", "\"jwts_published_at\":-", JWTS_E_MALFORMED},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t = edit(f, bad[i].from, bad[i].to);
        jwts_keyset *ks = (jwts_keyset *)1;
        assert_int_equal(jwts_keyfile_load(t, strlen(t), T0, &ks), bad[i].want);
        assert_true(jwts_errdetail()[0]);
        free(t);
    }
    jwts_jose_free(f);
}

static char *read_all(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

/* Files in dir other than . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_write_atomic(void **s)
{
    (void)s;
    char dir[] = "/tmp/jwts-keyfile-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], link[128];
    snprintf(path, sizeof path, "%s/keys.json", dir);
    snprintf(link, sizeof link, "%s/link.json", dir);
    assert_int_equal(jwts_keyfile_write(path, "{\"keys\":[]}"), JWTS_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_string_equal(read_all(path), "{\"keys\":[]}\n");
    umask(0);
    assert_int_equal(jwts_keyfile_write(path, "second"), JWTS_OK); /* replaced, still 0600 */
    umask(022);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_string_equal(read_all(path), "second\n");

    /* a write that fails half way (the file size limit) leaves the old file whole, no temp file */
    static char big[200000];
    memset(big, 'x', sizeof big - 1);
    struct rlimit old, lim = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    jwts_err rc = jwts_keyfile_write(path, big);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, JWTS_E_UNAVAILABLE);
    assert_non_null(strstr(jwts_errdetail(), "cannot write"));
    assert_string_equal(read_all(path), "second\n");
    assert_int_equal(entries(dir), 1);

    /* a symbolic link is not written through */
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(jwts_keyfile_write(link, "third"), JWTS_E_INVALID_ARGUMENT);
    assert_string_equal(read_all(path), "second\n");
    unlink(link);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation_steps),
        cmocka_unit_test(test_adopt_plain),
        cmocka_unit_test(test_load_rules),
        cmocka_unit_test(test_write_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
