/*
 * disclose.c -- threshold, complementary suppression, rounding, noise and
 * the epsilon budget's arithmetic (see disclose.h).
 */
#define _GNU_SOURCE /* qsort_r */
#include "disclose.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What "unbounded" is in the flow: far above any count (2^40 patients),
 * low enough that sums of a million cells stay in int64. */
#define S_INF (INT64_C (1) << 40)

bool
hg_disclose_small (uint64_t n, uint64_t min_cell)
{
    return min_cell > 0 && n >= 1 && n <= min_cell;
}

uint64_t
hg_disclose_round (uint64_t n, uint64_t base)
{
    if (base <= 1 || n == 0) {
        return n;
    }
    uint64_t r = (n / base) * base;
    if (n - r >= (base + 1) / 2) {
        r += base;
    }
    return r ? r : base;
}

void
hg_disclose_threshold (hg_dnum_t *n, uint64_t min_cell)
{
    n->shown = n->value;
    n->suppressed = hg_disclose_small (n->value, min_cell);
    n->complementary = false;
}

void
hg_disclose_round_num (hg_dnum_t *n, uint64_t round_to)
{
    if (!n->suppressed) {
        n->shown = hg_disclose_round (n->value, round_to);
    }
}

/* ---- what the analyst knows ------------------------------------------------------ */

static int64_t
s_clamp (uint64_t v)
{
    return v > (uint64_t) S_INF ? S_INF : (int64_t) v;
}

/* The counts a shown count stands for: itself, or with rounding every count
 * above min_cell that rounds to the same multiple (0 stays exact). */
static void
s_shown_bounds (const hg_dtable_t *t, uint64_t value, int64_t *lo, int64_t *hi)
{
    uint64_t b = t->round_to;
    if (b <= 1 || value == 0) {
        *lo = *hi = s_clamp (value);
        return;
    }
    uint64_t r = hg_disclose_round (value, b), half = (b + 1) / 2;
    uint64_t l = r == b ? 1 : r - b + half, h = r + half - 1;
    if (t->min_cell > 0 && l <= t->min_cell) {
        l = t->min_cell + 1;
    }
    *lo = s_clamp (l < value ? l : value); /* value itself always fits */
    *hi = s_clamp (h > value ? h : value);
}

/* The range the analyst knows a cell in. */
static void
s_cell_bounds (const hg_dtable_t *t, const hg_dnum_t *c, int64_t *lo, int64_t *hi)
{
    if (!c->suppressed) {
        s_shown_bounds (t, c->value, lo, hi);
    }
    else if (c->complementary) {
        *lo = s_clamp (t->comp_lo);
        *hi = S_INF;
    }
    else {
        *lo = s_clamp (t->sup_lo);
        *hi = s_clamp (t->sup_hi);
    }
}

/* The range the analyst knows a sum of cells in: the table's margin (the
 * answer's total), or a line's sum (another answer gives it unless it is a
 * small count). */
static void
s_sum_bounds (const hg_dtable_t *t, const hg_dnum_t *margin, uint64_t sum, int64_t *lo,
              int64_t *hi)
{
    if (margin && margin->suppressed) {
        s_cell_bounds (t, margin, lo, hi);
    }
    else if (!margin && hg_disclose_small (sum, t->min_cell)) {
        *lo = s_clamp (t->sup_lo);
        *hi = s_clamp (t->sup_hi);
    }
    else {
        s_shown_bounds (t, sum, lo, hi);
    }
}

/* One line: cells idx[0..n) adding up to a sum known in [mlo, mhi]. The
 * range of cell i is exactly [max (lo_i, mlo - (SH - hi_i)), min (hi_i,
 * mhi - (SL - lo_i))] (SL, SH: the sums of the bounds): a primary cell is
 * pinned when that range is one value. */
static long
s_line_pinned (const hg_dtable_t *t, const size_t *idx, size_t n, const hg_dnum_t *margin)
{
    int64_t sl = 0, sh = 0;
    uint64_t sum = 0;
    bool any = false;
    for (size_t k = 0; k < n; k++) {
        int64_t lo, hi;
        s_cell_bounds (t, &t->cells[idx[k]], &lo, &hi);
        sl += lo;
        sh += hi;
        sum += t->cells[idx[k]].value;
        any |= t->cells[idx[k]].suppressed && !t->cells[idx[k]].complementary;
    }
    if (!any) {
        return -1;
    }
    int64_t mlo, mhi;
    s_sum_bounds (t, margin, sum, &mlo, &mhi);
    for (size_t k = 0; k < n; k++) {
        const hg_dnum_t *c = &t->cells[idx[k]];
        if (!c->suppressed || c->complementary) {
            continue;
        }
        int64_t lo, hi;
        s_cell_bounds (t, c, &lo, &hi);
        int64_t rlo = mlo - (sh - hi), rhi = mhi - (sl - lo);
        rlo = rlo > lo ? rlo : lo;
        rhi = rhi < hi ? rhi : hi;
        if (rlo >= rhi) {
            return (long) idx[k];
        }
    }
    return -1;
}

static int
s_cmp_line (const void *a, const void *b, void *ctx)
{
    const hg_dtable_t *t = ((const void **) ctx)[0];
    size_t axis = *(const size_t *) ((const void **) ctx)[1];
    size_t i = *(const size_t *) a, j = *(const size_t *) b;
    for (size_t d = 0; d < t->n_dims; d++) {
        uint32_t x = t->coords[i * t->n_dims + d], y = t->coords[j * t->n_dims + d];
        if (d != axis && x != y) {
            return x < y ? -1 : 1;
        }
    }
    return i < j ? -1 : i > j;
}

static bool
s_same_line (const hg_dtable_t *t, size_t i, size_t j, size_t axis)
{
    for (size_t d = 0; d < t->n_dims; d++) {
        if (d != axis && t->coords[i * t->n_dims + d] != t->coords[j * t->n_dims + d]) {
            return false;
        }
    }
    return true;
}

/* Every line of every axis checked on its own (n_dims 1: the one line,
 * with the table's margin). */
static long
s_lines_pinned (const hg_dtable_t *t, size_t *idx)
{
    if (t->n_dims <= 1) {
        for (size_t i = 0; i < t->n_cells; i++) {
            idx[i] = i;
        }
        return s_line_pinned (t, idx, t->n_cells, t->margin);
    }
    for (size_t axis = 0; axis < t->n_dims; axis++) {
        for (size_t i = 0; i < t->n_cells; i++) {
            idx[i] = i;
        }
        const void *ctx[2] = {t, &axis};
        qsort_r (idx, t->n_cells, sizeof (*idx), s_cmp_line, (void *) ctx);
        for (size_t s = 0; s < t->n_cells;) {
            size_t e = s + 1;
            while (e < t->n_cells && s_same_line (t, idx[s], idx[e], axis)) {
                e++;
            }
            long p = s_line_pinned (t, idx + s, e - s, NULL);
            if (p >= 0) {
                return p;
            }
            s = e;
        }
    }
    return -1;
}

/* ---- two-way tables: a bounded transportation problem as a flow -------------- */

typedef struct {
    int to, next;
    int64_t cap;
} s_edge_t;

typedef struct {
    int n;
    int *head, *level, *it, *queue;
    s_edge_t *e;
    size_t ne, cap;
} s_flow_t;

static void
s_flow_free (s_flow_t *f)
{
    free (f->head);
    free (f->level);
    free (f->it);
    free (f->queue);
    free (f->e);
}

static int
s_flow_init (s_flow_t *f, int n, size_t edges)
{
    memset (f, 0, sizeof (*f));
    f->n = n;
    f->head = malloc ((size_t) n * sizeof (int));
    f->level = malloc ((size_t) n * sizeof (int));
    f->it = malloc ((size_t) n * sizeof (int));
    f->queue = malloc ((size_t) n * sizeof (int));
    f->cap = 2 * edges;
    f->e = malloc (f->cap * sizeof (*f->e));
    if (!f->head || !f->level || !f->it || !f->queue || !f->e) {
        s_flow_free (f);
        return -1;
    }
    return 0;
}

static void
s_flow_reset (s_flow_t *f)
{
    f->ne = 0;
    for (int i = 0; i < f->n; i++) {
        f->head[i] = -1;
    }
}

static void
s_flow_edge (s_flow_t *f, int u, int v, int64_t cap)
{
    f->e[f->ne] = (s_edge_t) {v, f->head[u], cap};
    f->head[u] = (int) f->ne++;
    f->e[f->ne] = (s_edge_t) {u, f->head[v], 0};
    f->head[v] = (int) f->ne++;
}

static bool
s_flow_bfs (s_flow_t *f, int s, int t)
{
    for (int i = 0; i < f->n; i++) {
        f->level[i] = -1;
    }
    int qh = 0, qt = 0;
    f->level[s] = 0;
    f->queue[qt++] = s;
    while (qh < qt) {
        int u = f->queue[qh++];
        for (int k = f->head[u]; k >= 0; k = f->e[k].next) {
            if (f->e[k].cap > 0 && f->level[f->e[k].to] < 0) {
                f->level[f->e[k].to] = f->level[u] + 1;
                f->queue[qt++] = f->e[k].to;
            }
        }
    }
    return f->level[t] >= 0;
}

static int64_t
s_flow_dfs (s_flow_t *f, int u, int t, int64_t push)
{
    if (u == t) {
        return push;
    }
    for (; f->it[u] >= 0; f->it[u] = f->e[f->it[u]].next) {
        s_edge_t *e = &f->e[f->it[u]];
        if (e->cap > 0 && f->level[e->to] == f->level[u] + 1) {
            int64_t got = s_flow_dfs (f, e->to, t, push < e->cap ? push : e->cap);
            if (got > 0) {
                e->cap -= got;
                f->e[f->it[u] ^ 1].cap += got;
                return got;
            }
        }
    }
    return 0;
}

static int64_t
s_flow_max (s_flow_t *f, int s, int t)
{
    int64_t total = 0;
    while (s_flow_bfs (f, s, t)) {
        memcpy (f->it, f->head, (size_t) f->n * sizeof (int));
        int64_t got;
        while ((got = s_flow_dfs (f, s, t, INT64_MAX)) > 0) {
            total += got;
        }
    }
    return total;
}

typedef struct {
    const hg_dtable_t *t;
    size_t rows, cols;
    long *grid; /* rows * cols: cell index, -1 for an absent (zero) cell */
    uint64_t *row_sum, *col_sum, all;
    hg_dnum_t *row_rel, *col_rel; /* the row and column sums as the one-way answers give them */
    int *cell_edge;               /* per cell: its edge in the flow */
    int64_t *excess;
    s_flow_t flow;
} s_two_t;

/* A bounded edge u -> v carrying lo..hi: the circulation with lower
 * bounds, reduced to a max flow (excess at the nodes). */
static void
s_bounded (s_two_t *w, int u, int v, int64_t lo, int64_t hi)
{
    s_flow_edge (&w->flow, u, v, hi - lo);
    w->excess[v] += lo;
    w->excess[u] -= lo;
}

/* Whether some table fits everything the analyst knows with cell `which`
 * in [lo, hi]. Nodes: 0 source, 1 sink (of the reduction), 2 total in,
 * 3 total out, rows, columns. */
static bool
s_two_feasible (s_two_t *w, size_t which, int64_t lo, int64_t hi)
{
    const hg_dtable_t *t = w->t;
    int n = 4 + (int) (w->rows + w->cols);
    s_flow_reset (&w->flow);
    memset (w->excess, 0, (size_t) n * sizeof (*w->excess));
    int64_t mlo, mhi;
    s_sum_bounds (t, t->margin, w->all, &mlo, &mhi);
    s_bounded (w, 3, 2, mlo, mhi);
    for (size_t r = 0; r < w->rows; r++) {
        s_cell_bounds (t, &w->row_rel[r], &mlo, &mhi);
        s_bounded (w, 2, 4 + (int) r, mlo, mhi);
    }
    for (size_t c = 0; c < w->cols; c++) {
        s_cell_bounds (t, &w->col_rel[c], &mlo, &mhi);
        s_bounded (w, 4 + (int) (w->rows + c), 3, mlo, mhi);
    }
    for (size_t r = 0; r < w->rows; r++) {
        for (size_t c = 0; c < w->cols; c++) {
            long i = w->grid[r * w->cols + c];
            if (i < 0) {
                continue;
            }
            int64_t clo, chi;
            s_cell_bounds (t, &t->cells[i], &clo, &chi);
            if ((size_t) i == which) {
                clo = lo > clo ? lo : clo;
                chi = hi < chi ? hi : chi;
                if (clo > chi) {
                    return false;
                }
            }
            w->cell_edge[i] = (int) w->flow.ne;
            s_bounded (w, 4 + (int) r, 4 + (int) (w->rows + c), clo, chi);
        }
    }
    int64_t need = 0;
    for (int v = 2; v < n; v++) {
        if (w->excess[v] > 0) {
            s_flow_edge (&w->flow, 0, v, w->excess[v]);
            need += w->excess[v];
        }
        else if (w->excess[v] < 0) {
            s_flow_edge (&w->flow, v, 1, -w->excess[v]);
        }
    }
    return s_flow_max (&w->flow, 0, 1) == need;
}

/* Two-way tables over at most this many rows x columns get the exact check
 * (each a few max flows per suppressed cell); larger ones the lines'. */
#define S_TWO_MAX 4096

/* In the residual graph of a feasible flow, over the table's nodes (not the
 * reduction's source and sink): whether `to` can be reached from `from`
 * without arc `skip`. queue, seen: n each. */
static bool
s_two_reach (const s_flow_t *f, int from, int to, int skip, int *queue, bool *seen)
{
    memset (seen, 0, (size_t) f->n * sizeof (bool));
    int qh = 0, qt = 0;
    queue[qt++] = from;
    seen[from] = true;
    while (qh < qt) {
        int u = queue[qh++];
        if (u == to) {
            return true;
        }
        for (int k = f->head[u]; k >= 0; k = f->e[k].next) {
            int v = f->e[k].to;
            if (k != skip && f->e[k].cap > 0 && v >= 2 && !seen[v]) {
                seen[v] = true;
                queue[qt++] = v;
            }
        }
    }
    return false;
}

/* After a feasible flow (a table consistent with everything known): the
 * first primary suppressed cell whose value no other such table changes --
 * no residual cycle runs through its edge, other than the edge's own two
 * arcs (+1 then -1 on itself); -1 when none, -2 out of memory. */
static long
s_two_flow_pinned (s_two_t *w, size_t start)
{
    const s_flow_t *f = &w->flow;
    int *queue = malloc ((size_t) f->n * sizeof (int));
    bool *seen = malloc ((size_t) f->n * sizeof (bool));
    long rc = queue && seen ? -1 : -2;
    for (size_t i = start; rc == -1 && i < w->t->n_cells; i++) {
        const hg_dnum_t *c = &w->t->cells[i];
        if (!c->suppressed || c->complementary) {
            continue;
        }
        int k = w->cell_edge[i]; /* u -> v; k ^ 1 is v -> u */
        int u = f->e[k ^ 1].to, v = f->e[k].to;
        bool up = f->e[k].cap > 0 && s_two_reach (f, v, u, k ^ 1, queue, seen);
        bool down = !up && f->e[k ^ 1].cap > 0 && s_two_reach (f, u, v, k, queue, seen);
        if (!up && !down) {
            rc = (long) i;
        }
    }
    free (queue);
    free (seen);
    return rc;
}

/* The sums of a two-way table's rows (or columns) as the one-way answer of
 * the same cohort releases them: threshold, then its complements against
 * the total. */
static int
s_one_way (const hg_dtable_t *t, const uint64_t *sums, size_t n, hg_dnum_t *rel)
{
    uint32_t *coords = malloc ((n + 1) * sizeof (*coords));
    if (!coords) {
        return -1;
    }
    uint64_t all = 0;
    for (size_t i = 0; i < n; i++) {
        rel[i] = (hg_dnum_t) {.value = sums[i]};
        hg_disclose_threshold (&rel[i], t->min_cell);
        coords[i] = (uint32_t) i;
        all += sums[i];
    }
    hg_dnum_t margin = {.value = all};
    hg_disclose_threshold (&margin, t->min_cell);
    hg_dtable_t one = {1,         n,         coords,     rel,         &margin, t->min_cell,
                       t->sup_lo, t->sup_hi, t->comp_lo, t->round_to, false};
    int rc = hg_disclose_protect (&one);
    free (coords);
    return rc < 0 ? -1 : 0;
}

static void
s_two_size (const hg_dtable_t *t, size_t *rows, size_t *cols)
{
    *rows = *cols = 0;
    for (size_t i = 0; i < t->n_cells; i++) {
        *rows = t->coords[2 * i] + 1 > *rows ? t->coords[2 * i] + 1 : *rows;
        *cols = t->coords[2 * i + 1] + 1 > *cols ? t->coords[2 * i + 1] + 1 : *cols;
    }
}

static bool
s_two_too_big (const hg_dtable_t *t)
{
    size_t rows, cols;
    s_two_size (t, &rows, &cols);
    return rows * cols > S_TWO_MAX;
}

static long
s_two_pinned (const hg_dtable_t *t, size_t start)
{
    s_two_t w = {.t = t};
    s_two_size (t, &w.rows, &w.cols);
    if (s_two_too_big (t)) {
        return -1;
    }
    long rc = -2;
    size_t nodes = 4 + w.rows + w.cols;
    w.grid = malloc (w.rows * w.cols * sizeof (*w.grid));
    w.row_sum = calloc (w.rows, sizeof (uint64_t));
    w.col_sum = calloc (w.cols, sizeof (uint64_t));
    w.excess = malloc (nodes * sizeof (int64_t));
    w.row_rel = malloc (w.rows * sizeof (hg_dnum_t));
    w.cell_edge = malloc ((t->n_cells + 1) * sizeof (int));
    w.col_rel = malloc (w.cols * sizeof (hg_dnum_t));
    if (!w.grid || !w.row_sum || !w.col_sum || !w.excess || !w.row_rel || !w.col_rel
        || !w.cell_edge
        || s_flow_init (&w.flow, (int) nodes, w.rows * w.cols + nodes * 2 + 1) < 0) {
        goto cleanup;
    }
    for (size_t k = 0; k < w.rows * w.cols; k++) {
        w.grid[k] = -1;
    }
    for (size_t i = 0; i < t->n_cells; i++) {
        uint32_t r = t->coords[2 * i], c = t->coords[2 * i + 1];
        w.grid[r * w.cols + c] = (long) i;
        w.row_sum[r] += t->cells[i].value;
        w.col_sum[c] += t->cells[i].value;
        w.all += t->cells[i].value;
    }
    if (s_one_way (t, w.row_sum, w.rows, w.row_rel) < 0
        || s_one_way (t, w.col_sum, w.cols, w.col_rel) < 0) {
        s_flow_free (&w.flow);
        goto cleanup;
    }
    /* one table consistent with everything known (the true one is), then a
     * cell can move iff a cycle of the residual graph runs through its edge */
    /* (no table at all would mean the counts contradict what the analyst is
     * supposed to know -- records without patients: -4, failed closed) */
    rc = s_two_feasible (&w, SIZE_MAX, 0, 0) ? s_two_flow_pinned (&w, start) : -4;
    s_flow_free (&w.flow);
cleanup:
    free (w.cell_edge);
    free (w.row_rel);
    free (w.col_rel);
    free (w.grid);
    free (w.row_sum);
    free (w.col_sum);
    free (w.excess);
    return rc;
}

/* The first pinned cell, two-way tables from cell `start` on (a check that
 * found cells before it free stays true while more cells are suppressed:
 * suppressing only widens what the analyst may suppose). */
static long
s_pinned_from (const hg_dtable_t *t, size_t start)
{
    if (t->n_cells == 0) {
        return -1;
    }
    size_t *idx = malloc (t->n_cells * sizeof (*idx));
    if (!idx) {
        return -2;
    }
    /* two-way: the exact check; past its size, the lines' (which take every
     * line's sum as known unless small: more than the one-way answers give) */
    long p = t->n_dims == 2 && !s_two_too_big (t) ? s_two_pinned (t, start) : -3;
    if (p == -3) {
        p = s_lines_pinned (t, idx);
    }
    free (idx);
    return p;
}

long
hg_disclose_pinned (const hg_dtable_t *t)
{
    return s_pinned_from (t, 0);
}

/* The smallest shown non-zero cell on a line through cell p (any cell
 * when near is false); -1 when none. */
static long
s_candidate (const hg_dtable_t *t, size_t p, bool near)
{
    long best = -1;
    for (size_t i = 0; i < t->n_cells; i++) {
        const hg_dnum_t *c = &t->cells[i];
        if (c->suppressed || c->value == 0 || c->value < t->comp_lo) {
            continue; /* (a complement must be what the analyst supposes it is) */
        }
        if (near && t->n_dims > 1) {
            size_t differ = 0;
            for (size_t d = 0; d < t->n_dims; d++) {
                differ += t->coords[i * t->n_dims + d] != t->coords[p * t->n_dims + d];
            }
            if (differ != 1) {
                continue;
            }
        }
        if (best < 0 || c->value < t->cells[best].value) {
            best = (long) i;
        }
    }
    return best;
}

int
hg_disclose_protect (hg_dtable_t *t)
{
    int added = 0;
    long p;
    size_t from = 0;
    for (;;) {
        p = s_pinned_from (t, from);
        if (p == -1 && from > 0) {
            from = 0; /* once more from the start, to be sure */
            p = s_pinned_from (t, 0);
        }
        if (p < 0) {
            break;
        }
        from = (size_t) p;
        long c = s_candidate (t, (size_t) p, true);
        c = c >= 0 ? c : s_candidate (t, (size_t) p, false);
        hg_dnum_t *n = c >= 0                                ? &t->cells[c]
                       : t->margin && !t->margin->suppressed ? t->margin
                                                             : NULL;
        if (!n) {
            t->withheld = true; /* nothing shown is left to suppress */
            return added;
        }
        n->suppressed = true;
        n->complementary = true;
        added++;
    }
    if (p == -2 || p == -4) { /* fail closed */
        for (size_t i = 0; i < t->n_cells; i++) {
            t->cells[i].suppressed = true;
        }
        if (t->margin) {
            t->margin->suppressed = true;
        }
        t->withheld = true;
        return p == -2 ? -1 : added;
    }
    return added;
}

/* ---- noise -------------------------------------------------------------------- */

/* Uniform in (0, 1] from 53 random bits. */
static double
s_uniform (const hg_disclose_policy_t *p)
{
    uint64_t r = 0;
    p->random (p->random_ctx, &r, sizeof (r));
    return (double) ((r >> 11) + 1) * 0x1.0p-53;
}

/* Failures before the first success, success probability 1 - alpha. */
static int64_t
s_geometric_one (double alpha, const hg_disclose_policy_t *p)
{
    double g = floor (log (s_uniform (p)) / log (alpha));
    return g > (double) S_INF ? S_INF : (int64_t) g;
}

int64_t
hg_disclose_geometric (double alpha, const hg_disclose_policy_t *p)
{
    return s_geometric_one (alpha, p) - s_geometric_one (alpha, p);
}

void
hg_disclose_noise_num (hg_dnum_t *n, const hg_disclose_policy_t *p, unsigned sensitivity)
{
    double alpha = exp (-p->epsilon / (double) (sensitivity ? sensitivity : 1));
    int64_t noisy = s_clamp (n->value) + hg_disclose_geometric (alpha, p);
    n->shown = noisy > 0 ? (uint64_t) noisy : 0;
    n->suppressed = hg_disclose_small (n->shown, p->min_cell);
    n->complementary = false;
}

/* ---- budget ------------------------------------------------------------------- */

uint64_t
hg_disclose_ueps (double epsilon)
{
    return epsilon <= 0 ? 0 : (uint64_t) llround (epsilon * HG_DISCLOSE_UEPS);
}

int
hg_disclose_charge (uint64_t *spent_ueps, uint64_t cost_ueps, uint64_t budget_ueps,
                    const char *analyst, hg_err_t *err)
{
    if (*spent_ueps > budget_ueps || cost_ueps > budget_ueps - *spent_ueps) {
        uint64_t left = *spent_ueps < budget_ueps ? budget_ueps - *spent_ueps : 0;
        return hg_err_set (err, HG_ELIMIT,
                           "analyst '%s' has spent its privacy budget: epsilon spent %.6g of "
                           "%.6g, %.6g left, and a dp query costs %.6g; no answer is given "
                           "(the operator can raise dp_budget)",
                           analyst, (double) *spent_ueps / HG_DISCLOSE_UEPS,
                           (double) budget_ueps / HG_DISCLOSE_UEPS,
                           (double) left / HG_DISCLOSE_UEPS,
                           (double) cost_ueps / HG_DISCLOSE_UEPS);
    }
    *spent_ueps += cost_ueps;
    return 0;
}
