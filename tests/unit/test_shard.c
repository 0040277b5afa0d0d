/*
 * test_shard.c -- shard routing and the "{shard}" endpoint pattern.
 */
#include "unit_test.h"

#include <string.h>

#include "shard.h"

static void
test_shard_of (void **state)
{
    (void) state;
    assert_int_equal (hg_shard_of ("00000000ffff", 2), 0);
    assert_int_equal (hg_shard_of ("00000001ffff", 2), 1);
    assert_int_equal (hg_shard_of ("ffffffff", 1), 0);
    /* stable, and within range */
    for (int shards = 1; shards < 9; shards++) {
        int s = hg_shard_of ("9c1d2e3f4a5b", shards);
        assert_true (s >= 0 && s < shards);
        assert_int_equal (s, hg_shard_of ("9c1d2e3f4a5b", shards));
    }
}

static void
test_endpoints_pattern (void **state)
{
    (void) state;
    char out[256];
    assert_int_equal (hg_shard_endpoints ("tcp://indexer-{shard}.indexer:5582", 3, out,
                                          sizeof (out)),
                      0);
    assert_string_equal (out, "tcp://indexer-0.indexer:5582,tcp://indexer-1.indexer:5582,"
                              "tcp://indexer-2.indexer:5582");
    /* several marks in one pattern */
    assert_int_equal (hg_shard_endpoints ("tcp://ix{shard}:55{shard}0", 2, out, sizeof (out)), 0);
    assert_string_equal (out, "tcp://ix0:5500,tcp://ix1:5510");
    /* no pattern: as it is, whatever shards says */
    assert_int_equal (hg_shard_endpoints ("tcp://a:1,tcp://b:2", 0, out, sizeof (out)), 0);
    assert_string_equal (out, "tcp://a:1,tcp://b:2");
    /* a pattern needs a shard count */
    assert_int_equal (hg_shard_endpoints ("tcp://i-{shard}:1", 0, out, sizeof (out)), -1);
    assert_int_equal (hg_shard_endpoints ("tcp://i-{shard}:1", 2000, out, sizeof (out)), -1);
    /* too long for out: refused, never cut */
    char small[20];
    assert_int_equal (hg_shard_endpoints ("tcp://i-{shard}:1", 3, small, sizeof (small)), -1);
    assert_int_equal (hg_shard_endpoints ("tcp://i-{shard}:1", 1, small, sizeof (small)), 0);
    assert_string_equal (small, "tcp://i-0:1");
}

HG_TEST_MAIN (cmocka_unit_test (test_shard_of), cmocka_unit_test (test_endpoints_pattern))
