/*
 * claims.c - the hot-path JWT claims reader and the claim rules (RFC 7519 section 4.1).
 *
 * The payload is validated by the strict scanner in one pass while the registered claims are
 * read as plain C values (times as int64_t, strings unescaped into jwts_claims), and iss, aud and
 * sub are compared to the expectations without building a JSON tree. A token with "aud" is refused
 * when no audience is expected (RFC 7519 section 4.1.3: the recipient must identify with it). exp, nbf and iat must be
 * non-negative integers (no fractions, exponents or strings).
 */
#include <string.h>

#include "jose/claims.h"
#include "jose/jose_int.h"
#include "jose/json_scan.h"
#include "jwtsession/error.h"

#define MAX_LEEWAY_S (10LL * 365 * 24 * 3600)

typedef struct cstate {
    jwts_claims *c;
    const jwts_verify_options *opt;
    uint32_t required_found;
    int iss_ok, sub_ok, aud_ok;
} cstate;

static const struct {
    char name[4];
    unsigned bit;
} REGISTERED[] = {
    {"exp", JWTS_CLAIM_EXP}, {"nbf", JWTS_CLAIM_NBF}, {"iat", JWTS_CLAIM_IAT}, {"iss", JWTS_CLAIM_ISS},
    {"sub", JWTS_CLAIM_SUB}, {"aud", JWTS_CLAIM_AUD}, {"sid", JWTS_CLAIM_SID}, {"jti", JWTS_CLAIM_JTI},
};

jwts_err jwts_verify_options_check(const jwts_verify_options *opt)
{
    if (opt->leeway_s < 0 || opt->leeway_s > MAX_LEEWAY_S)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "leeway must be 0..%lld seconds", (long long)MAX_LEEWAY_S);
    if (opt->n_required > JWTS_VERIFY_MAX_REQUIRED || (opt->n_required && !opt->required))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "at most %d required claims", JWTS_VERIFY_MAX_REQUIRED);
    if (opt->n_algs && !opt->algs) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "n_algs without algs");
    return JWTS_OK;
}

/* The registered claim bit of member name (0 if none). */
static unsigned registered_bit(const jwts_jmember *m)
{
    char name[8];
    const char *k = m->key;
    if (m->key_esc) {
        if (jwts_json_unescape(m->key, m->key_len, 1, name, sizeof name) != 3) return 0;
        k = name;
    } else if (m->key_len != 3) {
        return 0;
    }
    for (size_t i = 0; i < sizeof REGISTERED / sizeof REGISTERED[0]; i++)
        if (memcmp(k, REGISTERED[i].name, 3) == 0) return REGISTERED[i].bit;
    return 0;
}

static const char *bit_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof REGISTERED / sizeof REGISTERED[0]; i++)
        if (REGISTERED[i].bit == bit) return REGISTERED[i].name;
    return "?";
}

/* Copy a string claim into dst (JWTS_CLAIM_STR_MAX) or flag it truncated. */
static void keep_str(cstate *st, const jwts_jmember *m, unsigned bit, char *dst)
{
    if (jwts_json_unescape(m->val, m->val_len, m->val_esc, dst, JWTS_CLAIM_STR_MAX) == (size_t)-1) {
        dst[0] = '\0';
        st->c->truncated |= bit;
    }
}

static jwts_err check_aud(cstate *st, const jwts_jmember *m)
{
    const char *want = st->opt ? st->opt->aud : NULL;
    if (m->type == JWTS_JT_STRING) {
        if (want && jwts_json_str_eq(m->val, m->val_len, m->val_esc, want)) st->aud_ok = 1;
        return JWTS_OK;
    }
    if (m->type != JWTS_JT_ARRAY) return jwts_fail(JWTS_E_MALFORMED, "claim \"aud\" must be a string or an array");
    size_t pos = 0, sl;
    const char *s;
    int esc, r;
    while ((r = jwts_json_array_next_str(m->val, m->val_len, &pos, &s, &sl, &esc)) == 1)
        if (want && jwts_json_str_eq(s, sl, esc, want)) st->aud_ok = 1;
    if (r < 0) return jwts_fail(JWTS_E_MALFORMED, "claim \"aud\" array holds a non-string");
    return JWTS_OK;
}

static jwts_err on_member(void *arg, const jwts_jmember *m)
{
    cstate *st = arg;
    jwts_claims *c = st->c;
    const jwts_verify_options *opt = st->opt;
    if (opt)
        for (size_t i = 0; i < opt->n_required; i++)
            if (jwts_json_str_eq(m->key, m->key_len, m->key_esc, opt->required[i])) st->required_found |= 1u << i;
    unsigned bit = registered_bit(m);
    if (!bit) return JWTS_OK;
    c->has |= bit;
    switch (bit) {
    case JWTS_CLAIM_EXP:
    case JWTS_CLAIM_NBF:
    case JWTS_CLAIM_IAT: {
        int64_t v;
        if (m->type != JWTS_JT_NUMBER || jwts_json_int64(m->val, m->val_len, &v) || v < 0)
            return jwts_fail(JWTS_E_MALFORMED, "claim \"%s\" must be a non-negative integer", bit_name(bit));
        if (bit == JWTS_CLAIM_EXP)
            c->exp = v;
        else if (bit == JWTS_CLAIM_NBF)
            c->nbf = v;
        else
            c->iat = v;
        return JWTS_OK;
    }
    case JWTS_CLAIM_AUD:
        return check_aud(st, m);
    default:
        break;
    }
    if (m->type != JWTS_JT_STRING) return jwts_fail(JWTS_E_MALFORMED, "claim \"%s\" must be a string", bit_name(bit));
    switch (bit) {
    case JWTS_CLAIM_ISS:
        keep_str(st, m, bit, c->iss);
        if (opt && opt->iss) st->iss_ok = jwts_json_str_eq(m->val, m->val_len, m->val_esc, opt->iss);
        break;
    case JWTS_CLAIM_SUB:
        keep_str(st, m, bit, c->sub);
        if (opt && opt->sub) st->sub_ok = jwts_json_str_eq(m->val, m->val_len, m->val_esc, opt->sub);
        break;
    case JWTS_CLAIM_SID:
        keep_str(st, m, bit, c->sid);
        break;
    default:
        keep_str(st, m, bit, c->jti);
        break;
    }
    return JWTS_OK;
}

/* The claim rules, after a successful read. */
static jwts_err apply_rules(const cstate *st, int64_t now)
{
    const jwts_claims *c = st->c;
    const jwts_verify_options *o = st->opt;
    int64_t lee = o->leeway_s;
    if ((c->has & JWTS_CLAIM_EXP) && now - lee >= c->exp) return jwts_fail(JWTS_E_EXPIRED, "token expired (exp)");
    if ((c->has & JWTS_CLAIM_NBF) && now + lee < c->nbf)
        return jwts_fail(JWTS_E_NOT_YET_VALID, "token not valid yet (nbf)");
    if ((c->has & JWTS_CLAIM_IAT) && c->iat > now + lee)
        return jwts_fail(JWTS_E_NOT_YET_VALID, "token issued in the future (iat)");
    if (o->require_exp && !(c->has & JWTS_CLAIM_EXP))
        return jwts_fail(JWTS_E_CLAIM_MISMATCH, "required claim \"exp\" is missing");
    if (o->iss && !(c->has & JWTS_CLAIM_ISS)) return jwts_fail(JWTS_E_CLAIM_MISMATCH, "claim \"iss\" is missing");
    if (o->iss && !st->iss_ok) return jwts_fail(JWTS_E_CLAIM_MISMATCH, "claim \"iss\" does not match");
    if (!o->aud && (c->has & JWTS_CLAIM_AUD)) /* RFC 7519 4.1.3: we identify with no audience */
        return jwts_fail(JWTS_E_CLAIM_MISMATCH,
                         "claim \"aud\" names an audience but no audience is configured to accept (set one)");
    if (o->aud && !(c->has & JWTS_CLAIM_AUD)) return jwts_fail(JWTS_E_CLAIM_MISMATCH, "claim \"aud\" is missing");
    if (o->aud && !st->aud_ok) return jwts_fail(JWTS_E_CLAIM_MISMATCH, "claim \"aud\" does not include the audience");
    if (o->sub && !(c->has & JWTS_CLAIM_SUB)) return jwts_fail(JWTS_E_CLAIM_MISMATCH, "claim \"sub\" is missing");
    if (o->sub && !st->sub_ok) return jwts_fail(JWTS_E_CLAIM_MISMATCH, "claim \"sub\" does not match");
    for (size_t i = 0; i < o->n_required; i++)
        if (!(st->required_found & (1u << i)))
            return jwts_fail(JWTS_E_CLAIM_MISMATCH, "required claim \"%.64s\" is missing", o->required[i]);
    return JWTS_OK;
}

jwts_err jwts_claims_process(const char *json, size_t n, const jwts_verify_options *opt, int64_t now_s, jwts_claims *c)
{
    cstate st = {c, opt, 0, 0, 0, 0};
    c->has = c->truncated = 0;
    c->exp = c->nbf = c->iat = 0;
    c->iss[0] = c->sub[0] = c->sid[0] = c->jti[0] = '\0';
    jwts_err e = jwts_json_scan(json, n, JWTS_JOSE_MAX_DEPTH, on_member, &st);
    if (e) return jwts_fail_wrap(e, "claims");
    return opt ? apply_rules(&st, now_s) : JWTS_OK;
}
