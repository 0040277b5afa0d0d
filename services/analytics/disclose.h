/*
 * disclose.h -- disclosure control of every number analytics releases
 * (pure: no I/O; docs/analytics.md "Disclosure control" states the
 * guarantees and their limits).
 *
 * Four defences, applied by merge.c to every answer before it leaves:
 *   threshold       a count of 1..min_cell is suppressed, 0 is shown (CMS rule);
 *   complementary   in a table whose margins the analyst knows (the answer's
 *                   total, or for a two-way table the one-way answers of the
 *                   same cohort), more cells are suppressed until no
 *                   suppressed cell is pinned to one value by the margins,
 *                   the other cells and what the analyst knows of suppressed
 *                   cells (1..min_cell, or above min_cell for a complement);
 *   rounding        role aggregate: every shown count is rounded to a
 *                   multiple of round_to (never to 0), so two answers that
 *                   differ by a few patients do not give their difference;
 *   noise           role dp: every count gets two-sided geometric noise
 *                   (epsilon-differential privacy for the query's
 *                   sensitivity), each query charged to the analyst's
 *                   epsilon budget.
 */
#ifndef HG_DISCLOSE_H
#define HG_DISCLOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Who an answer is for. The control plane's QUERY: the caller's key name
 * (role aggregate unless the request asks dp); the HTTP API: the bearer
 * token's analyst and the role it was created with. */
typedef enum {
    HG_ANALYST_AGGREGATE = 0, /* threshold, complementary suppression, rounding */
    HG_ANALYST_DP = 1,        /* noise on every count, charged to an epsilon budget */
} hg_analyst_role_t;

typedef struct {
    const char *analyst;
    hg_analyst_role_t role;
} hg_analyst_t;

/* Fills buf with n uniformly random bytes (analytics: libsodium's
 * randombytes_buf; tests: a seeded generator). */
typedef void (*hg_disclose_random_fn) (void *ctx, void *buf, size_t n);

/* The policy of one answer. */
typedef struct {
    uint64_t min_cell; /* 1..min_cell suppressed; 0: the exact answer (operator only) */
    uint64_t round_to; /* role aggregate: shown counts rounded to a multiple; 0, 1: off */
    double epsilon;    /* role dp: what this query spends */
    hg_disclose_random_fn random;
    void *random_ctx;
    double epsilon_spent, epsilon_left; /* role dp: the analyst's budget after this query */
} hg_disclose_policy_t;

/* One released number: value in (the true count), shown and suppressed out. */
typedef struct {
    uint64_t value;     /* the true count */
    uint64_t shown;     /* what is released when !suppressed */
    bool suppressed;    /* released as null */
    bool complementary; /* suppressed only to protect another number */
} hg_dnum_t;

/* Whether n is a small count: 1..min_cell (min_cell 0: never). */
bool hg_disclose_small (uint64_t n, uint64_t min_cell);

/* n rounded to the nearest multiple of base (halves up), never to 0 when
 * n > 0 (0 means no patient); base 0 or 1: n. */
uint64_t hg_disclose_round (uint64_t n, uint64_t base);

/* Threshold: suppressed = value in 1..min_cell; shown = value. */
void hg_disclose_threshold (hg_dnum_t *n, uint64_t min_cell);

/* ---- complementary suppression ------------------------------------------------ */

/* A table of counts: n_cells cells with n_dims coordinates each (coords,
 * row-major: cell i's index in dimension d is coords[i * n_dims + d]); cells
 * absent from it are 0 and known to be. The analyst is taken to know:
 *   - every shown cell exactly (rounding only widens what they know);
 *   - a suppressed cell: in [sup_lo, sup_hi] when primary (patients:
 *     1..min_cell), at least comp_lo when complementary (min_cell + 1);
 *   - n_dims 1: the sum of the cells (as a shown count) unless the margin is
 *     suppressed: margin (the answer's total; NULL: the sum, known unless
 *     it is a small count);
 *   - n_dims 2: the row and column sums as the one-way answers of the same
 *     cohort release them (their threshold and complements, computed here
 *     the same way), and the sum of all (margin as above);
 *   - n_dims >= 3: every line's sum (a line fixes every coordinate but one:
 *     the (n_dims-1)-way answer of the same cohort gives it) unless it is a
 *     small count.
 * For n_dims <= 2 the check is exact (a bounded transportation problem,
 * solved as a flow); for more dimensions each line is checked on its own. */
typedef struct {
    size_t n_dims;
    size_t n_cells;
    const uint32_t *coords;
    hg_dnum_t *cells;
    hg_dnum_t *margin; /* may be NULL */
    uint64_t min_cell;
    uint64_t sup_lo, sup_hi, comp_lo;
    uint64_t round_to; /* shown counts are rounded to it (0, 1: exact): known only to its
                        * interval (a shown n >= 2 round_to: n - round_to/2 .. n + round_to/2 - 1) */
    bool withheld;     /* out: no suppression could protect it; release none of it */
} hg_dtable_t;

/* The index of a primary suppressed cell whose value the analyst can
 * recover (one value only is consistent with what they know), or -1 when
 * none; -2 when out of memory; -4 when no table fits what the analyst is
 * supposed to know (counts that contradict it: records without patients). */
long hg_disclose_pinned (const hg_dtable_t *t);

/* Suppresses further cells (complementary, the smallest shown count on a
 * line of the pinned cell, else the smallest anywhere), and as a last
 * resort the margin, until hg_disclose_pinned finds none. Cells already
 * suppressed stay so. When nothing is left to suppress and a cell is still
 * pinned (every stratum of a small cohort holds one patient: knowing they
 * exist is enough), t->withheld is set: the caller releases none of the
 * table's entries, not even which exist. Returns how many numbers it
 * suppressed, -1 when out of memory (then withheld too: fail closed). */
int hg_disclose_protect (hg_dtable_t *t);

/* ---- rounding and noise ------------------------------------------------------- */

/* Role aggregate: shown = value rounded to round_to (suppressed numbers are
 * left as they are). */
void hg_disclose_round_num (hg_dnum_t *n, uint64_t round_to);

/* A two-sided geometric draw with P(k) proportional to alpha^|k|
 * (0 < alpha < 1): the discrete Laplace distribution, randomness from
 * p->random. */
int64_t hg_disclose_geometric (double alpha, const hg_disclose_policy_t *p);

/* Role dp: shown = max (0, value + noise) with alpha = exp (-epsilon /
 * sensitivity), then the threshold on the noisy count. sensitivity: how many
 * released counts one patient can change by one (L1), so the numbers of the
 * answer together are epsilon-differentially private. */
void hg_disclose_noise_num (hg_dnum_t *n, const hg_disclose_policy_t *p, unsigned sensitivity);

/* ---- the epsilon budget --------------------------------------------------------- */

/* Budgets are kept in millionths of epsilon, so charges add exactly. */
#define HG_DISCLOSE_UEPS 1000000.0

uint64_t hg_disclose_ueps (double epsilon);

/* The charge of one query: *spent_ueps + cost_ueps when it fits within
 * budget_ueps (then *spent_ueps is updated, 0 returned), else -1 with err
 * saying what was spent and what is left (nothing charged). */
int hg_disclose_charge (uint64_t *spent_ueps, uint64_t cost_ueps, uint64_t budget_ueps,
                        const char *analyst, hg_err_t *err);

#endif
