/*
 * test_disclose.c -- disclosure control (services/analytics/disclose.c):
 * the threshold, rounding, complementary suppression checked against a
 * brute-force attacker who solves the margins over random tables, the
 * noise's distribution, the epsilon budget's arithmetic, and the answer
 * (merge.c) releasing every number through them.
 */
#include "unit_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "disclose.h"
#include "query.h"

/* ---- a seeded generator (the tests' randomness; analytics uses libsodium) ---- */

static uint64_t
s_next (uint64_t *st)
{
    uint64_t x = *st;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *st = x;
}

static void
s_random (void *ctx, void *buf, size_t n)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = s_next (ctx);
        memcpy (p + i, &r, n - i < 8 ? n - i : 8);
    }
}

static void
test_threshold_and_round (void **state)
{
    (void) state;
    hg_dnum_t n = {0};
    for (uint64_t v = 0; v <= 30; v++) {
        n.value = v;
        hg_disclose_threshold (&n, 10);
        assert_int_equal (n.suppressed, v >= 1 && v <= 10); /* 0 shown: CMS rule */
        hg_disclose_threshold (&n, 0);
        assert_false (n.suppressed);
    }
    assert_int_equal (hg_disclose_round (0, 10), 0);
    assert_int_equal (hg_disclose_round (1, 10), 10); /* never 0 for a patient */
    assert_int_equal (hg_disclose_round (4, 10), 10);
    assert_int_equal (hg_disclose_round (11, 10), 10);
    assert_int_equal (hg_disclose_round (14, 10), 10);
    assert_int_equal (hg_disclose_round (15, 10), 20);
    assert_int_equal (hg_disclose_round (24, 10), 20);
    assert_int_equal (hg_disclose_round (25, 10), 30);
    assert_int_equal (hg_disclose_round (1234, 1), 1234);
    assert_int_equal (hg_disclose_round (7, 5), 5);
    assert_int_equal (hg_disclose_round (8, 5), 10);
    n = (hg_dnum_t) {.value = 17};
    hg_disclose_threshold (&n, 10);
    hg_disclose_round_num (&n, 10);
    assert_int_equal (n.shown, 20);
}

/* ---- the brute-force attacker -------------------------------------------------- */

#define BF_MAX 16

typedef struct {
    size_t n, rows, cols, dims;
    hg_dnum_t cells[BF_MAX];
    uint32_t coords[2 * BF_MAX];
    hg_dnum_t margin;
    bool has_margin;
    uint64_t m, round_to;
    /* the sums the attacker knows: cells, bounds */
    size_t n_sums;
    bool in_sum[2 * BF_MAX + 1][BF_MAX];
    int64_t sum_lo[2 * BF_MAX + 1], sum_hi[2 * BF_MAX + 1];
    /* the search */
    int64_t val[BF_MAX], lo[BF_MAX], hi[BF_MAX];
    int64_t seen_min[BF_MAX], seen_max[BF_MAX];
    size_t order[BF_MAX], n_order;
    long nodes;
} bf_t;

static size_t
s_bf_new_sum (bf_t *b, bool (*member) (const bf_t *, size_t, size_t), size_t which, uint64_t *sum)
{
    size_t k = b->n_sums++;
    *sum = 0;
    for (size_t i = 0; i < b->n; i++) {
        b->in_sum[k][i] = member (b, i, which);
        *sum += b->in_sum[k][i] ? b->cells[i].value : 0;
    }
    return k;
}

/* The counts a shown value stands for, by search: every count that is not
 * small and rounds to what value rounds to. */
static void
s_bf_shown (const bf_t *b, uint64_t value, int64_t *lo, int64_t *hi)
{
    *lo = *hi = (int64_t) value;
    if (b->round_to <= 1 || value == 0) {
        return;
    }
    uint64_t r = hg_disclose_round (value, b->round_to);
    for (uint64_t n = 1; n <= value + 2 * b->round_to; n++) {
        if (!hg_disclose_small (n, b->m) && hg_disclose_round (n, b->round_to) == r) {
            *lo = (int64_t) n < *lo ? (int64_t) n : *lo;
            *hi = (int64_t) n > *hi ? (int64_t) n : *hi;
        }
    }
}

static void
s_bf_bounds (bf_t *b, size_t k, const hg_dnum_t *rel)
{
    if (rel->suppressed) {
        b->sum_lo[k] = rel->complementary ? (int64_t) b->m + 1 : 1;
        b->sum_hi[k] = rel->complementary ? INT64_MAX / 4 : (int64_t) b->m;
    }
    else {
        s_bf_shown (b, rel->value, &b->sum_lo[k], &b->sum_hi[k]);
    }
}

/* The total: the margin as released, or (none given) the sum, known
 * unless small. */
static void
s_bf_total (bf_t *b, bool (*member) (const bf_t *, size_t, size_t))
{
    uint64_t sum;
    size_t k = s_bf_new_sum (b, member, 0, &sum);
    hg_dnum_t rel = {.value = sum};
    hg_disclose_threshold (&rel, b->m);
    s_bf_bounds (b, k, b->has_margin ? &b->margin : &rel);
}

/* Rows (or columns) of a two-way table: known as the one-way answer of the
 * same cohort releases them (threshold and complements against the total:
 * that answer's own protection, checked by the one-way test). */
static void
s_bf_lines (bf_t *b, bool (*member) (const bf_t *, size_t, size_t), size_t n)
{
    hg_dnum_t rel[BF_MAX], margin = {0};
    uint32_t coords[BF_MAX];
    size_t first = b->n_sums;
    for (size_t w = 0; w < n; w++) {
        uint64_t sum;
        s_bf_new_sum (b, member, w, &sum);
        rel[w] = (hg_dnum_t) {.value = sum};
        hg_disclose_threshold (&rel[w], b->m);
        coords[w] = (uint32_t) w;
        margin.value += sum;
    }
    hg_disclose_threshold (&margin, b->m);
    hg_dtable_t one = {1, n, coords, rel, &margin, b->m, 1, b->m, b->m + 1, b->round_to, false};
    assert_true (hg_disclose_protect (&one) >= 0);
    for (size_t w = 0; w < n; w++) {
        s_bf_bounds (b, first + w, &rel[w]);
    }
}

static bool
s_all (const bf_t *b, size_t i, size_t w)
{
    (void) b, (void) i, (void) w;
    return true;
}

static bool
s_row (const bf_t *b, size_t i, size_t w)
{
    return b->coords[2 * i] == w;
}

static bool
s_col (const bf_t *b, size_t i, size_t w)
{
    return b->coords[2 * i + 1] == w;
}

/* Whether the assignment so far can still meet every sum. */
static bool
s_bf_ok (bf_t *b, size_t depth)
{
    bool assigned[BF_MAX] = {0};
    for (size_t i = 0; i < b->n; i++) {
        assigned[i] = b->lo[i] == b->hi[i];
    }
    for (size_t d = 0; d < depth; d++) {
        assigned[b->order[d]] = true;
    }
    for (size_t k = 0; k < b->n_sums; k++) {
        int64_t lo = 0, hi = 0;
        for (size_t i = 0; i < b->n; i++) {
            if (b->in_sum[k][i]) {
                lo += assigned[i] ? b->val[i] : b->lo[i];
                hi += assigned[i] ? b->val[i] : b->hi[i];
            }
        }
        if (lo > b->sum_hi[k] || hi < b->sum_lo[k]) {
            return false;
        }
    }
    return true;
}

static void
s_bf_search (bf_t *b, size_t depth)
{
    b->nodes++;
    if (depth == b->n_order) {
        for (size_t d = 0; d < depth; d++) {
            size_t i = b->order[d];
            b->seen_min[i] = b->val[i] < b->seen_min[i] ? b->val[i] : b->seen_min[i];
            b->seen_max[i] = b->val[i] > b->seen_max[i] ? b->val[i] : b->seen_max[i];
        }
        return;
    }
    size_t i = b->order[depth];
    for (int64_t v = b->lo[i]; v <= b->hi[i]; v++) {
        b->val[i] = v;
        if (s_bf_ok (b, depth + 1)) {
            s_bf_search (b, depth + 1);
        }
    }
}

/* Every integer table consistent with what the analyst knows: whether some
 * primary suppressed cell takes one value only in all of them. */
static bool
s_bf_pinned (bf_t *b)
{
    b->n_sums = 0;
    s_bf_total (b, s_all);
    if (b->dims == 2) {
        s_bf_lines (b, s_row, b->rows);
        s_bf_lines (b, s_col, b->cols);
    }
    uint64_t total = 0;
    for (size_t i = 0; i < b->n; i++) {
        total += b->cells[i].value;
    }
    b->n_order = 0;
    for (size_t i = 0; i < b->n; i++) {
        const hg_dnum_t *c = &b->cells[i];
        b->val[i] = (int64_t) c->value;
        s_bf_shown (b, c->value, &b->lo[i], &b->hi[i]);
        if (c->suppressed) {
            b->lo[i] = c->complementary ? (int64_t) b->m + 1 : 1;
            b->hi[i] = c->complementary ? (int64_t) (total + b->m) : (int64_t) b->m;
        }
        if (b->lo[i] != b->hi[i]) {
            b->order[b->n_order++] = i; /* unknown to the attacker: searched */
        }
        b->seen_min[i] = INT64_MAX;
        b->seen_max[i] = INT64_MIN;
    }
    b->nodes = 0;
    s_bf_search (b, 0);
    for (size_t i = 0; i < b->n; i++) {
        const hg_dnum_t *c = &b->cells[i];
        if (c->suppressed && !c->complementary && b->seen_min[i] == b->seen_max[i]) {
            return true;
        }
    }
    return false;
}

static hg_dtable_t
s_table (bf_t *b)
{
    return (hg_dtable_t) {b->dims, b->n, b->coords, b->cells, b->has_margin ? &b->margin : NULL,
                          b->m,    1,    b->m,      b->m + 1, b->round_to,
                          false};
}

/* A random table: rows x cols (rows 1: one-way) of mostly small counts,
 * some zero (absent), the small ones suppressed. */
static uint64_t s_round_to = 1, s_max_value = 9;

static void
s_random_table (bf_t *b, uint64_t *rng, size_t rows, size_t cols)
{
    memset (b, 0, sizeof (*b));
    b->m = 3;
    b->round_to = s_round_to;
    b->rows = rows;
    b->cols = cols;
    b->dims = rows == 1 ? 1 : 2;
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            uint64_t v = s_next (rng) % 4 == 0 ? 0 : s_next (rng) % s_max_value;
            if (v == 0) {
                continue; /* an absent stratum: known to be 0 */
            }
            size_t i = b->n++;
            b->cells[i].value = v;
            hg_disclose_threshold (&b->cells[i], b->m);
            if (b->dims == 1) {
                b->coords[i] = (uint32_t) c;
            }
            else {
                b->coords[2 * i] = (uint32_t) r;
                b->coords[2 * i + 1] = (uint32_t) c;
            }
        }
    }
    uint64_t total = 0;
    for (size_t i = 0; i < b->n; i++) {
        total += b->cells[i].value;
    }
    b->has_margin = true;
    b->margin.value = total;
    hg_disclose_threshold (&b->margin, b->m);
}

/* The one-way case of a brute-force table keeps coords one per cell. */
static int s_withheld;

/* A table as text for a failure: (row,col)=value, s suppressed, c complement. */
static void
s_bf_text (const bf_t *b, char *text, size_t size)
{
    size_t len = 0;
    text[0] = '\0';
    for (size_t i = 0; i < b->n && len < size; i++) {
        len += (size_t) snprintf (text + len, size - len, " (%u,%u)=%lu%s",
                                  b->dims == 2 ? b->coords[2 * i] : 0,
                                  b->dims == 2 ? b->coords[2 * i + 1] : b->coords[i],
                                  (unsigned long) b->cells[i].value,
                                  b->cells[i].suppressed ? (b->cells[i].complementary ? "c" : "s")
                                                         : "");
    }
}

static void
s_check_tables (size_t rows, size_t cols, int n_tables, uint64_t seed, int *n_pinned_before,
                int *n_protected)
{
    uint64_t rng = seed;
    bf_t b;
    for (int k = 0; k < n_tables; k++) {
        s_random_table (&b, &rng, rows, cols);
        if (b.n == 0) {
            continue;
        }
        /* random extra complements, so the checker sees every pattern */
        for (size_t i = 0; i < b.n; i++) {
            if (!b.cells[i].suppressed && s_next (&rng) % 5 == 0) {
                b.cells[i].suppressed = b.cells[i].complementary = true;
            }
        }
        hg_dtable_t t = s_table (&b);
        long p = hg_disclose_pinned (&t);
        bool bf = s_bf_pinned (&b);
        if ((p >= 0) != bf) {
            char text[1024];
            s_bf_text (&b, text, sizeof (text));
            fail_msg ("table %d (%zux%zu): the checker says %ld, brute force %s:%s", k, rows,
                      cols, p, bf ? "pinned" : "none", text);
        }
        *n_pinned_before += bf;
        int added = hg_disclose_protect (&t);
        assert_true (added >= 0);
        *n_protected += added > 0;
        if (t.withheld) {
            s_withheld++; /* released as nothing at all */
            continue;
        }
        if (s_bf_pinned (&b)) {
            char text[1024];
            s_bf_text (&b, text, sizeof (text));
            fail_msg ("table %d: a suppressed cell is recoverable after protection:%s", k, text);
        }
    }
}

static void
test_complementary_one_way (void **state)
{
    (void) state;
    int pinned = 0, protected = 0;
    for (size_t cols = 1; cols <= 7; cols++) {
        s_check_tables (1, cols, 400, 0x9e3779b97f4a7c15ULL + cols, &pinned, &protected);
    }
    print_message ("one-way: %d random tables leaked before protection, %d got complements, "
                   "%d withheld\n",
                   pinned, protected, s_withheld);
    assert_true (pinned > 50); /* the check is not vacuous */
}

static void
test_complementary_two_way (void **state)
{
    (void) state;
    int pinned = 0, protected = 0;
    s_check_tables (2, 2, 400, 11, &pinned, &protected);
    s_check_tables (2, 3, 300, 12, &pinned, &protected);
    s_check_tables (3, 2, 300, 13, &pinned, &protected);
    s_check_tables (3, 3, 120, 14, &pinned, &protected);
    print_message ("two-way: %d random tables leaked before protection, %d got complements, "
                   "%d withheld\n",
                   pinned, protected, s_withheld);
    assert_true (pinned > 50);
}

/* With rounding the analyst knows shown counts only to their interval:
 * the brute force searches those too (smaller tables). */
static void
test_complementary_rounded (void **state)
{
    (void) state;
    int pinned = 0, protected = 0, withheld = s_withheld;
    s_round_to = 4;
    s_max_value = 14;
    for (size_t cols = 1; cols <= 4; cols++) {
        s_check_tables (1, cols, 1500, 77 + cols, &pinned, &protected);
    }
    s_check_tables (2, 2, 800, 91, &pinned, &protected);
    s_check_tables (2, 3, 200, 92, &pinned, &protected);
    s_round_to = 1;
    s_max_value = 9;
    print_message ("rounded to 4: %d random tables leaked before protection, %d got complements, "
                   "%d withheld\n",
                   pinned, protected, s_withheld - withheld);
    assert_true (pinned > 20);
}

/* The classic cases, by hand. */
static void
test_complementary_cases (void **state)
{
    (void) state;
    /* one small cell and its total: the next smallest is suppressed too */
    hg_dnum_t c[3] = {{.value = 3}, {.value = 40}, {.value = 25}}, total = {.value = 68};
    uint32_t coords[6] = {0, 1, 2};
    for (int i = 0; i < 3; i++) {
        hg_disclose_threshold (&c[i], 10);
    }
    hg_disclose_threshold (&total, 10);
    hg_dtable_t t = {1, 3, coords, c, &total, 10, 1, 10, 11, 1, false};
    assert_int_equal (hg_disclose_pinned (&t), 0);
    assert_int_equal (hg_disclose_protect (&t), 1);
    assert_true (c[2].suppressed && c[2].complementary);
    assert_false (c[1].suppressed || total.suppressed);
    /* twelve strata of one patient each under a total of 12: the attacker
     * knows each is at least 1, so each is exactly 1; with no cell left to
     * suppress, the total is */
    hg_dnum_t ones[12], t12 = {.value = 12};
    uint32_t co[12];
    for (int i = 0; i < 12; i++) {
        ones[i] = (hg_dnum_t) {.value = 1};
        hg_disclose_threshold (&ones[i], 10);
        co[i] = (uint32_t) i;
    }
    hg_disclose_threshold (&t12, 10);
    t = (hg_dtable_t) {1, 12, co, ones, &t12, 10, 1, 10, 11, 1, false};
    assert_true (hg_disclose_pinned (&t) >= 0);
    assert_int_equal (hg_disclose_protect (&t), 1);
    assert_true (t12.suppressed);
    /* two-way: pinned through the diagonal (rows and columns each look
     * safe on their own): a=1 and d=10 at min_cell 10, b and c large */
    hg_dnum_t d2[4] = {{.value = 1}, {.value = 50}, {.value = 60}, {.value = 10}};
    uint32_t co2[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        hg_disclose_threshold (&d2[i], 10);
    }
    d2[1].suppressed = d2[1].complementary = true;
    d2[2].suppressed = d2[2].complementary = true;
    t = (hg_dtable_t) {2, 4, co2, d2, NULL, 10, 1, 10, 11, 1, false};
    assert_int_equal (hg_disclose_pinned (&t), 0);
}

/* ---- noise ---------------------------------------------------------------------- */

static void
test_geometric_distribution (void **state)
{
    (void) state;
    uint64_t rng = 42;
    hg_disclose_policy_t p = {.random = s_random, .random_ctx = &rng};
    const double eps[] = {0.1, 0.5, 1.0, 2.0};
    for (size_t k = 0; k < sizeof (eps) / sizeof (eps[0]); k++) {
        double alpha = exp (-eps[k]);
        const int n = 200000;
        double sum = 0, sq = 0;
        int zeros = 0, ones = 0;
        for (int i = 0; i < n; i++) {
            int64_t x = hg_disclose_geometric (alpha, &p);
            sum += (double) x;
            sq += (double) x * (double) x;
            zeros += x == 0;
            ones += x == 1;
        }
        double mean = sum / n, var = sq / n - mean * mean;
        double want_var = 2 * alpha / ((1 - alpha) * (1 - alpha));
        double p0 = (1 - alpha) / (1 + alpha);
        print_message (
            "epsilon %.1f: mean %.3f variance %.2f (want %.2f) P(0) %.4f (want %.4f)\n", eps[k],
            mean, var, want_var, (double) zeros / n, p0);
        assert_true (fabs (mean) < 4 * sqrt (want_var / n));
        assert_true (fabs (var - want_var) / want_var < 0.05);
        assert_true (fabs ((double) zeros / n - p0) < 0.01);
        /* the ratio P(1)/P(0) is alpha: the privacy loss of one patient */
        assert_true (fabs ((double) ones / zeros - alpha) < 0.05);
    }
}

static void
test_noise_num (void **state)
{
    (void) state;
    uint64_t rng = 7;
    hg_disclose_policy_t p = {.min_cell = 10,
                              .epsilon = 1.0,
                              .random = s_random,
                              .random_ctx = &rng};
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        hg_dnum_t n = {.value = 100};
        hg_disclose_noise_num (&n, &p, 1);
        differ += n.shown != 100;
        assert_false (n.suppressed);
        n = (hg_dnum_t) {.value = 0};
        hg_disclose_noise_num (&n, &p, 1);
        assert_true (n.shown == 0 || n.shown > 10
                     || n.suppressed); /* never a small count shown */
    }
    assert_true (differ > 400); /* P(noise 0) = 0.46 at epsilon 1 */
}

/* ---- budget --------------------------------------------------------------------- */

static void
test_budget (void **state)
{
    (void) state;
    hg_err_t err = {0};
    uint64_t spent = 0, cost = hg_disclose_ueps (0.1), budget = hg_disclose_ueps (1.0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal (hg_disclose_charge (&spent, cost, budget, "alice", &err), 0);
    }
    assert_int_equal (spent, budget); /* ten tenths are exactly one */
    assert_true (hg_disclose_charge (&spent, cost, budget, "alice", &err) < 0);
    assert_int_equal (spent, budget); /* a refusal charges nothing */
    assert_non_null (strstr (err.msg, "analyst 'alice' has spent its privacy budget"));
    assert_non_null (strstr (err.msg, "0 left"));
    spent = hg_disclose_ueps (0.95);
    assert_true (hg_disclose_charge (&spent, cost, budget, "bob", &err) < 0);
    assert_int_equal (spent, hg_disclose_ueps (0.95));
    spent = UINT64_MAX - 1; /* a corrupt total never wraps into a fresh budget */
    assert_true (hg_disclose_charge (&spent, cost, budget, "eve", &err) < 0);
}

/* ---- the answer ------------------------------------------------------------------ */

static hg_answer_stats_t s_stats; /* of the last answer */

static json_object *
s_answer (const char *doc, hg_qpart_t *part, const hg_disclose_policy_t *pol,
          const hg_analyst_t *who)
{
    hg_arena_t *a = hg_arena_new (0);
    hg_query_t q;
    hg_err_t err = {0};
    assert_int_equal (hg_query_parse (doc, strlen (doc), 2024, a, &q, &err), 0);
    char *text = hg_query_answer (&q, part, pol, who, 2, &s_stats, a);
    assert_non_null (text);
    json_object *ans = json_tokener_parse (text);
    assert_non_null (ans);
    hg_arena_destroy (&a);
    return ans;
}

static json_object *
s_get (json_object *o, const char *key)
{
    json_object *v = NULL;
    json_object_object_get_ex (o, key, &v);
    return v;
}

static void
s_add (hg_qpart_t *p, const char *key, uint64_t patients, uint64_t records)
{
    assert_int_equal (hg_qpart_add (p, key, strlen (key), patients, records, 0), 0);
}

static void
test_answer_aggregate (void **state)
{
    (void) state;
    hg_qpart_t *p = hg_qpart_new ();
    s_add (p, "T", 68, 300);
    s_add (p,
           "C\x1f"
           "female",
           40, 150);
    s_add (p,
           "C\x1f"
           "male",
           25, 140);
    s_add (p,
           "C\x1f"
           "other",
           3, 10);
    hg_disclose_policy_t pol = {.min_cell = 10, .round_to = 1};
    json_object *ans = s_answer ("{\"by\": [\"sex\"], \"measure\": {\"kind\": \"records\"}}", p,
                                 &pol, NULL);
    json_object *cells = s_get (ans, "cells");
    assert_int_equal (json_object_array_length (cells), 3);
    json_object *female = json_object_array_get_idx (cells, 0),
                *male = json_object_array_get_idx (cells, 1),
                *other = json_object_array_get_idx (cells, 2);
    assert_null (s_get (other, "patients"));
    assert_null (s_get (male, "patients")); /* the complement: 68 - 40 would give it */
    assert_null (s_get (male, "records"));
    assert_true (json_object_get_boolean (s_get (male, "suppressed")));
    assert_int_equal (json_object_get_int (s_get (female, "patients")), 40);
    assert_int_equal (json_object_get_int (s_get (ans, "patients")), 68);
    assert_int_equal (json_object_get_int (s_get (s_get (ans, "disclosure"), "complementary")),
                      1);
    assert_int_equal (s_stats.suppressed, 4); /* other's and male's patients and records */
    assert_int_equal (s_stats.complementary, 1);
    json_object_put (ans);
    /* rounded to 10 */
    pol.round_to = 10;
    ans = s_answer ("{\"by\": [\"sex\"], \"measure\": {\"kind\": \"records\"}}", p, &pol, NULL);
    assert_int_equal (json_object_get_int (s_get (ans, "patients")), 70);
    assert_int_equal (json_object_get_int (s_get (ans, "records")), 300);
    female = json_object_array_get_idx (s_get (ans, "cells"), 0);
    assert_int_equal (json_object_get_int (s_get (female, "patients")), 40);
    assert_int_equal (json_object_get_int (s_get (female, "records")), 150);
    json_object_put (ans);
    /* min_cell 0: exact, nothing rounded */
    pol.min_cell = 0;
    ans = s_answer ("{\"by\": [\"sex\"]}", p, &pol, NULL);
    other = json_object_array_get_idx (s_get (ans, "cells"), 2);
    assert_int_equal (json_object_get_int (s_get (other, "patients")), 3);
    assert_int_equal (json_object_get_int (s_get (ans, "patients")), 68);
    json_object_put (ans);
    hg_qpart_destroy (&p);
}

/* Top codes: suppressed ones after the shown ones, in code order (their
 * rank would tell their order), shown ones by the rounded count. */
static void
test_answer_top_order (void **state)
{
    (void) state;
    hg_qpart_t *p = hg_qpart_new ();
    s_add (p, "T", 100, 0);
    s_add (p, "K\x1fs|z", 9, 9);
    s_add (p, "K\x1fs|y", 2, 2);
    s_add (p, "K\x1fs|b", 52, 60);
    s_add (p, "K\x1fs|a", 48, 50);
    hg_disclose_policy_t pol = {.min_cell = 10, .round_to = 10};
    json_object *ans =
        s_answer ("{\"measure\": {\"kind\": \"top\", \"of\": \"condition\", \"n\": 20}}", p, &pol,
                  NULL);
    json_object *top = s_get (ans, "top");
    const char *want[] = {"s|a", "s|b", "s|y", "s|z"}; /* 50, 50 by code; then by code */
    for (int i = 0; i < 4; i++) {
        assert_string_equal (json_object_get_string (
                                 s_get (json_object_array_get_idx (top, i), "code")),
                             want[i]);
    }
    json_object_put (ans);
    hg_qpart_destroy (&p);
}

static void
test_answer_dp (void **state)
{
    (void) state;
    uint64_t rng = 99;
    hg_qpart_t *p = hg_qpart_new ();
    s_add (p, "T", 500, 900);
    s_add (p,
           "C\x1f"
           "female",
           260, 500);
    s_add (p,
           "C\x1f"
           "male",
           238, 398);
    s_add (p,
           "C\x1f"
           "other",
           2, 2);
    hg_disclose_policy_t pol = {.min_cell = 10,
                                .round_to = 10,
                                .epsilon = 0.5,
                                .random = s_random,
                                .random_ctx = &rng,
                                .epsilon_spent = 1.5,
                                .epsilon_left = 3.5};
    hg_analyst_t who = {"alice", HG_ANALYST_DP};
    int exact = 0;
    for (int k = 0; k < 50; k++) {
        json_object *ans = s_answer ("{\"by\": [\"sex\"]}", p, &pol, &who);
        json_object *e = s_get (ans, "epsilon");
        assert_true (fabs (json_object_get_double (s_get (e, "spent")) - 1.5) < 1e-9);
        assert_true (fabs (json_object_get_double (s_get (e, "left")) - 3.5) < 1e-9);
        exact += json_object_get_int (s_get (ans, "patients")) == 500;
        /* sex is a closed domain: every stratum listed, the empty ones too, so
         * which are listed says nothing */
        json_object *cells = s_get (ans, "cells");
        assert_int_equal (json_object_array_length (cells), 4);
        const char *sexes[] = {"female", "male", "other", "unknown"};
        for (size_t i = 0; i < 4; i++) {
            json_object *c = json_object_array_get_idx (cells, i);
            assert_string_equal (json_object_get_string (s_get (c, "sex")), sexes[i]);
        }
        json_object_put (ans);
    }
    assert_true (exact < 25); /* noise on the total (P(0) = 0.12 at sensitivity 2) */
    /* state is open: a stratum is listed only when its noisy count is above min_cell */
    s_add (p,
           "C\x1f"
           "WY",
           1, 1);
    hg_qpart_t *q2 = hg_qpart_new ();
    s_add (q2, "T", 500, 900);
    s_add (q2,
           "C\x1f"
           "CA",
           400, 700);
    s_add (q2,
           "C\x1f"
           "WY",
           1, 1);
    int listed = 0;
    for (int k = 0; k < 50; k++) {
        json_object *ans = s_answer ("{\"by\": [\"state\"]}", q2, &pol, &who);
        json_object *cells = s_get (ans, "cells");
        for (size_t i = 0; i < json_object_array_length (cells); i++) {
            json_object *c = json_object_array_get_idx (cells, i);
            assert_false (json_object_get_boolean (s_get (c, "suppressed")));
            listed += strcmp (json_object_get_string (s_get (c, "state")), "WY") == 0;
        }
        json_object_put (ans);
    }
    print_message ("WY listed %d of 50\n", listed);
    assert_true (listed < 10); /* P = 0.046 each */
    hg_qpart_destroy (&q2);
    /* dp refuses what has no bound on one patient's part */
    hg_arena_t *a = hg_arena_new (0);
    hg_query_t q;
    hg_err_t err = {0};
    const char *doc = "{\"measure\": {\"kind\": \"records\"}}";
    assert_int_equal (hg_query_parse (doc, strlen (doc), 2024, a, &q, &err), 0);
    unsigned sens;
    assert_true (hg_query_dp_sensitivity (&q, &sens, &err) < 0);
    assert_non_null (strstr (err.msg, "dp role"));
    doc = "{\"by\": [\"year\"]}";
    assert_int_equal (hg_query_parse (doc, strlen (doc), 2024, a, &q, &err), 0);
    assert_true (hg_query_dp_sensitivity (&q, &sens, &err) < 0);
    doc =
        "{\"by\": [\"sex\", \"state\"], \"measure\": {\"kind\": \"prevalence\", \"per\": 1000}}";
    assert_int_equal (hg_query_parse (doc, strlen (doc), 2024, a, &q, &err), 0);
    assert_int_equal (hg_query_dp_sensitivity (&q, &sens, &err), 0);
    assert_int_equal (sens, 4);
    hg_arena_destroy (&a);
    hg_qpart_destroy (&p);
}

HG_TEST_MAIN (cmocka_unit_test (test_threshold_and_round),
              cmocka_unit_test (test_complementary_cases),
              cmocka_unit_test (test_complementary_one_way),
              cmocka_unit_test (test_complementary_two_way),
              cmocka_unit_test (test_complementary_rounded),
              cmocka_unit_test (test_geometric_distribution), cmocka_unit_test (test_noise_num),
              cmocka_unit_test (test_budget), cmocka_unit_test (test_answer_aggregate),
              cmocka_unit_test (test_answer_top_order), cmocka_unit_test (test_answer_dp))
