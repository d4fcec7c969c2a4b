/*
 * keyfile.c - key files with a lifecycle (docs/keys.md): a private JWKS whose keys carry
 * "jwts_state" (next, active, retiring), "jwts_published_at" and "jwts_retire_at"; loading one
 * (retired keys left out), one rotation step, and the atomic 0600 write of a new file.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jwtsession/b64url.h"
#include "jwtsession/random.h"

#include "jose/jwk_int.h"
#include "jose/keyset.h"
#include "jwtsession/buf.h"
#include "jwtsession/error.h"

#define NO_ACTIVE SIZE_MAX

static const char *const state_names[] = {"unmanaged", "next", "active", "retiring"};

const char *jwts_key_state_name(jwts_key_state state)
{
    return (unsigned)state <= JWTS_KEY_RETIRING ? state_names[state] : "unmanaged";
}

jwts_key_state jwts_key_state_of(const jwts_key *key, int64_t *published_at_s, int64_t *retire_at_s)
{
    if (published_at_s) *published_at_s = key ? key->published_at_s : 0;
    if (retire_at_s) *retire_at_s = key ? key->retire_at_s : 0;
    return key ? key->state : JWTS_KEY_UNMANAGED;
}

/* Remove (and free) the i-th key of ks, keeping the active index right. */
static void remove_at(jwts_keyset *ks, size_t i)
{
    jwts_key_free(ks->keys[i]);
    memmove(&ks->keys[i], &ks->keys[i + 1], (ks->n - i - 1) * sizeof ks->keys[0]);
    ks->n--;
    if (ks->active == i) ks->active = NO_ACTIVE;
    else if (ks->active != NO_ACTIVE && ks->active > i) ks->active--;
}

/* The key of ks with kid, or NULL (writable: the set is being built). */
static jwts_key *find(jwts_keyset *ks, const char *kid)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->keys[i]->kid && strcmp(ks->keys[i]->kid, kid) == 0) return ks->keys[i];
    return NULL;
}

/* A non-negative integer member name of obj into *out (0 when absent). */
static jwts_err time_member(const json_t *obj, const char *name, size_t i, int64_t *out)
{
    const json_t *v = json_object_get(obj, name);
    *out = 0;
    if (!v) return JWTS_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return jwts_fail(JWTS_E_MALFORMED, "key file key %zu: \"%s\" must be a non-negative integer", i, name);
    *out = (int64_t)json_integer_value(v);
    return JWTS_OK;
}

/* Read the lifecycle members of JWKS doc onto the keys of ks. *managed: whether any key has them. */
static jwts_err read_states(const json_t *doc, jwts_keyset *ks, int *managed)
{
    const json_t *keys = json_object_get(doc, "keys");
    size_t i, with = 0, without = 0;
    const json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        const json_t *st = json_object_get(jwk, "jwts_state");
        if (!st) {
            without++;
            continue;
        }
        with++;
        const char *name = json_string_value(st), *kid = json_string_value(json_object_get(jwk, "kid"));
        jwts_key_state state = JWTS_KEY_UNMANAGED;
        for (int s = JWTS_KEY_NEXT; s <= JWTS_KEY_RETIRING; s++)
            if (name && strcmp(name, state_names[s]) == 0) state = (jwts_key_state)s;
        if (state == JWTS_KEY_UNMANAGED)
            return jwts_fail(JWTS_E_MALFORMED, "key file key %zu: \"jwts_state\" must be \"next\", \"active\" or \"retiring\"", i);
        if (!kid) return jwts_fail(JWTS_E_MALFORMED, "key file key %zu: a key with a state needs a \"kid\"", i);
        jwts_key *k = find(ks, kid);
        if (!k) return jwts_fail(JWTS_E_UNSUPPORTED, "key file key %zu: its key type is not supported", i);
        if (k->state != JWTS_KEY_UNMANAGED)
            return jwts_fail(JWTS_E_CONFLICT, "key file key %zu: kid \"%s\" appears twice", i, kid);
        jwts_err e = time_member(jwk, "jwts_published_at", i, &k->published_at_s);
        if (!e) e = time_member(jwk, "jwts_retire_at", i, &k->retire_at_s);
        if (e) return e;
        if (state == JWTS_KEY_RETIRING && !k->retire_at_s)
            return jwts_fail(JWTS_E_MALFORMED, "key file key %zu: a retiring key needs \"jwts_retire_at\"", i);
        k->state = state;
    }
    if (with && without)
        return jwts_fail(JWTS_E_MALFORMED, "key file: %zu key(s) lack \"jwts_state\" while others have it", without);
    *managed = with > 0;
    return JWTS_OK;
}

/* Check a managed set, make its active key the signing key, drop retired keys. */
static jwts_err settle(jwts_keyset *ks, int64_t now_s)
{
    size_t active = 0, next = 0;
    for (size_t i = 0; i < ks->n; i++) {
        active += ks->keys[i]->state == JWTS_KEY_ACTIVE;
        next += ks->keys[i]->state == JWTS_KEY_NEXT;
    }
    if (active != 1) return jwts_fail(JWTS_E_MALFORMED, "key file: %zu active keys; exactly one is needed", active);
    if (next > 1) return jwts_fail(JWTS_E_MALFORMED, "key file: %zu next keys; at most one is allowed", next);
    for (size_t i = ks->n; i-- > 0;)
        if (ks->keys[i]->state == JWTS_KEY_RETIRING && ks->keys[i]->retire_at_s <= now_s) remove_at(ks, i);
    ks->active = NO_ACTIVE;
    for (size_t i = 0; i < ks->n; i++)
        if (ks->keys[i]->state == JWTS_KEY_ACTIVE && ks->keys[i]->can_sign) ks->active = i;
    return JWTS_OK;
}

jwts_err jwts_keyfile_load(const char *text, size_t len, int64_t now_s, jwts_keyset **out)
{
    if (!text || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyfile_load: NULL argument");
    jwts_keyset *ks = NULL;
    jwts_err e = jwts_keyset_parse(text, len, JWTS_ALG_UNSET, &ks);
    if (e) return e;
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) i++;
    if (i < len && text[i] == '{') {
        json_t *doc = NULL;
        int managed = 0;
        e = jwts_jwk_parse_text(text, len, &doc);
        if (!e && json_is_array(json_object_get(doc, "keys"))) e = read_states(doc, ks, &managed);
        json_decref(doc);
        if (!e && managed) e = settle(ks, now_s);
    }
    if (e) {
        jwts_keyset_free(ks);
        return e;
    }
    *out = ks;
    return JWTS_OK;
}

/* A new key for alg as the next key (active: as the active key), published now. Asymmetric keys
 * get their thumbprint as kid; an HMAC key a random one (a digest of a secret is not published). */
static jwts_err add_next(jwts_keyset *ks, jwts_alg alg, int64_t now_s, int active)
{
    jwts_key *k;
    char kid[32] = "";
    const jwts_alg_info *info = jwts_alg_info_of(alg);
    if (info && info->kty == JWTS_KTY_OCT) {
        uint8_t raw[16];
        size_t n = 0;
        jwts_err e = jwts_random_bytes(raw, sizeof raw);
        if (!e) e = jwts_b64url_encode(raw, sizeof raw, kid, sizeof kid - 1, &n);
        if (e) return e;
        kid[n] = '\0';
    }
    jwts_err e = jwts_key_generate(alg, kid[0] ? kid : NULL, &k);
    if (e) return e;
    k->state = active ? JWTS_KEY_ACTIVE : JWTS_KEY_NEXT;
    k->published_at_s = now_s;
    return jwts_keyset_add(ks, k, active); /* takes k */
}

/* The key file text of managed set ks: active first (a reader without lifecycle support signs
 * with the first signing key), then next, then retiring. */
static jwts_err render(const jwts_keyset *ks, char **out)
{
    jwts_buf b = JWTS_BUF_SECRET;
    jwts_buf_puts(&b, "{\"keys\":[");
    int first = 1;
    for (int state = JWTS_KEY_ACTIVE;; state = state == JWTS_KEY_ACTIVE ? JWTS_KEY_NEXT : JWTS_KEY_RETIRING) {
        for (size_t i = 0; i < ks->n; i++) {
            const jwts_key *k = ks->keys[i];
            if ((int)k->state != state) continue;
            char *jwk;
            jwts_err e = jwts_key_to_jwk(k, 1, &jwk);
            if (e) {
                jwts_buf_free(&b);
                return e;
            }
            jwts_buf_puts(&b, first ? "\n" : ",\n");
            jwts_buf_put(&b, jwk, strlen(jwk) - 1); /* without its closing brace */
            jwts_jose_free(jwk);
            jwts_buf_printf(&b, ",\"jwts_state\":\"%s\",\"jwts_published_at\":%lld", state_names[state],
                            (long long)k->published_at_s);
            if (k->retire_at_s) jwts_buf_printf(&b, ",\"jwts_retire_at\":%lld", (long long)k->retire_at_s);
            jwts_buf_puts(&b, "}");
            first = 0;
        }
        if (state == JWTS_KEY_RETIRING) break;
    }
    jwts_buf_puts(&b, "\n]}");
    return jwts_buf_finish(&b, out);
}

/* Give the keys of an unmanaged set states: its signing key active, the others retiring. */
static jwts_err adopt(jwts_keyset *ks, const jwts_keyfile_rotate_options *o)
{
    if (ks->active == NO_ACTIVE)
        return jwts_fail(JWTS_E_BAD_KEY, "key file: no key that can sign (a private or secret key is needed)");
    for (size_t i = 0; i < ks->n; i++) {
        jwts_key *k = ks->keys[i];
        if (!k->kid) return jwts_fail(JWTS_E_MALFORMED, "key file key %zu has no kid: give every key one", i);
        k->published_at_s = o->now_s;
        k->state = i == ks->active ? JWTS_KEY_ACTIVE : JWTS_KEY_RETIRING;
        if (i != ks->active) k->retire_at_s = o->now_s + o->retire_after_s;
    }
    return JWTS_OK;
}

/* Promote the next key of managed ks (if any): next -> active, active -> retiring. */
static jwts_err promote(jwts_keyset *ks, const jwts_keyfile_rotate_options *o)
{
    jwts_key *next = NULL, *active = NULL;
    for (size_t i = 0; i < ks->n; i++) {
        if (ks->keys[i]->state == JWTS_KEY_NEXT) next = ks->keys[i];
        if (ks->keys[i]->state == JWTS_KEY_ACTIVE) active = ks->keys[i];
    }
    if (!next) return JWTS_OK;
    if (!next->can_sign) return jwts_fail(JWTS_E_BAD_KEY, "next key \"%s\" cannot sign (a public key)", next->kid);
    int64_t age = o->now_s - next->published_at_s;
    if (age < o->publish_ahead_s)
        return jwts_fail(JWTS_E_CONFLICT,
                         "next key \"%s\" was published %lld s ago; it may sign after %lld s (publish-ahead): "
                         "try again in %lld s",
                         next->kid, (long long)age, (long long)o->publish_ahead_s,
                         (long long)(o->publish_ahead_s - age));
    active->state = JWTS_KEY_RETIRING;
    active->retire_at_s = o->now_s + o->retire_after_s;
    next->state = JWTS_KEY_ACTIVE;
    return jwts_keyset_set_active(ks, next->kid);
}

jwts_err jwts_keyfile_rotate(const char *text, size_t len, const jwts_keyfile_rotate_options *o, char **out)
{
    if (!o || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyfile_rotate: NULL argument");
    if (o->now_s <= 0 || o->publish_ahead_s < 0 || o->retire_after_s < 0)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyfile_rotate: now must be positive and durations not negative");
    jwts_keyset *ks = NULL;
    jwts_err e;
    if (!text || !len) {
        if (!o->alg) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "a new key file needs an algorithm (--alg)");
        if ((e = jwts_keyset_new(&ks)) || (e = add_next(ks, o->alg, o->now_s, 1))) goto done;
    } else {
        if ((e = jwts_keyfile_load(text, len, o->now_s, &ks))) goto done;
        int managed = ks->n && ks->keys[0]->state != JWTS_KEY_UNMANAGED;
        if ((e = managed ? promote(ks, o) : adopt(ks, o))) goto done;
        if (ks->active == NO_ACTIVE) {
            e = jwts_fail(JWTS_E_BAD_KEY, "key file: the active key cannot sign (a public key)");
            goto done;
        }
    }
    jwts_alg alg = o->alg ? o->alg : ks->keys[ks->active]->alg;
    if (!(e = add_next(ks, alg, o->now_s, 0))) e = render(ks, out);
done:
    jwts_keyset_free(ks);
    return e;
}

/* Flush the directory holding path, so a rename in it survives a crash. */
static int sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0) return errno;
    int err = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return err;
}

/* Write all of text and a newline to fd, then flush it to disk; 0 or an errno. */
static int write_all(int fd, const char *text)
{
    size_t n = strlen(text), off = 0;
    while (off <= n) {
        const char *p = off < n ? text + off : "\n";
        size_t left = off < n ? n - off : 1;
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : EIO;
        off += (size_t)w;
    }
    return fsync(fd) == 0 ? 0 : errno;
}

jwts_err jwts_keyfile_write(const char *path, const char *text)
{
    if (!path || !*path || !text) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyfile_write: NULL argument");
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: exists and is not a regular file (a symbolic link is not followed)",
                         path);
    size_t n = strlen(path) + sizeof ".XXXXXX";
    char *tmp = malloc(n);
    if (!tmp) return jwts_fail(JWTS_E_NO_MEMORY, "keyfile_write: out of memory");
    snprintf(tmp, n, "%s.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, mode 0600 */
    if (fd < 0) {
        int err = errno;
        free(tmp);
        return jwts_fail(JWTS_E_UNAVAILABLE, "%s: cannot create a file beside it: %s", path, strerror(err));
    }
    const char *step = "write";
    int err = fchmod(fd, 0600) == 0 ? write_all(fd, text) : errno;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno, step = "rename";
    if (err) unlink(tmp);
    free(tmp);
    if (!err && (err = sync_dir(path)) != 0) step = "flush the directory of";
    if (err) return jwts_fail(JWTS_E_UNAVAILABLE, "%s: cannot %s it: %s", path, step, strerror(err));
    return JWTS_OK;
}
