#include "suppress.h"

#include "disclose.h"

void
hg_count_add (hg_count_t *total, uint64_t patients, uint64_t records)
{
    total->patients += patients;
    total->records += records;
}

void
hg_count_suppress (hg_count_t *c, uint64_t min_cell)
{
    if (min_cell > 0 && c->patients >= 1 && c->patients <= min_cell) {
        c->patients = 0;
        c->records = 0;
        c->suppressed = true;
    }
}

void
hg_count_disclose (hg_count_t *c, uint64_t min_cell, uint64_t round_to)
{
    hg_count_suppress (c, min_cell);
    if (min_cell > 0 && !c->suppressed) {
        c->patients = hg_disclose_round (c->patients, round_to);
        c->records = hg_disclose_round (c->records, round_to);
    }
}
