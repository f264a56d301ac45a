/* IDX reader: round trips through plain and gzipped files, and every
 * malformed-file error names the file. */
#include "testutil.h"

#include <zlib.h>

#include "ebm/idx.h"

/* Writes bytes as a plain or gzipped file under the test directory and
 * returns its path (static storage, one per name). */
static const char *write_file(const char *name, const uint8_t *bytes, size_t n, int gz)
{
    static char paths[16][512];
    static int next;
    char *path = paths[next++ % 16];
    snprintf(path, 512, "%s/%s", test_tmpdir(), name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, bytes, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
    return path;
}

/* Header for an unsigned-byte IDX of the given dims, then `data_len` bytes
 * of value i % 251. Returns the total length. */
static size_t make_idx(uint8_t *buf, int type, int ndim, const uint32_t *dims, size_t data_len)
{
    size_t at = 0;
    buf[at++] = 0;
    buf[at++] = 0;
    buf[at++] = (uint8_t)type;
    buf[at++] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[at++] = (uint8_t)(dims[i] >> 24);
        buf[at++] = (uint8_t)(dims[i] >> 16);
        buf[at++] = (uint8_t)(dims[i] >> 8);
        buf[at++] = (uint8_t)dims[i];
    }
    for (size_t i = 0; i < data_len; i++) buf[at++] = (uint8_t)(i % 251);
    return at;
}

/* Expects an EBM_ERR_INPUT whose message names the file and contains `what`. */
static void expect_input_error(const char *path, const char *what)
{
    struct ebm_idx idx;
    ebm_error_clear();
    assert_int_equal(ebm_idx_read(path, &idx), EBM_ERR_INPUT);
    const char *msg = ebm_error_message();
    if (!strstr(msg, path) || !strstr(msg, what)) {
        print_error("message '%s' should name '%s' and say '%s'\n", msg, path, what);
        fail();
    }
    assert_null(strchr(msg, '\n'));  /* one line */
    assert_null(idx.data);
}

static void round_trip(int gz)
{
    uint8_t buf[64 + 3 * 4 * 5];
    uint32_t dims[3] = { 3, 4, 5 };
    size_t len = make_idx(buf, 0x08, 3, dims, 60);
    const char *path = write_file(gz ? "rt.idx.gz" : "rt.idx", buf, len, gz);
    struct ebm_idx idx;
    ebm_error_clear();
    assert_int_equal(ebm_idx_read(path, &idx), EBM_OK);
    assert_int_equal(idx.ndim, 3);
    assert_int_equal(idx.dims[0], 3);
    assert_int_equal(idx.dims[1], 4);
    assert_int_equal(idx.dims[2], 5);
    assert_int_equal(idx.count, 60);
    for (size_t i = 0; i < 60; i++) assert_int_equal(idx.data[i], i % 251);
    ebm_idx_free(&idx);
    assert_null(idx.data);
    assert_int_equal(idx.count, 0);
}

static void test_idx_reads_plain(void **state) { (void)state; round_trip(0); }
static void test_idx_reads_gzipped(void **state) { (void)state; round_trip(1); }

static void test_idx_reads_1d_labels(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t dims[1] = { 10 };
    size_t len = make_idx(buf, 0x08, 1, dims, 10);
    const char *path = write_file("labels.idx", buf, len, 0);
    struct ebm_idx idx;
    ebm_error_clear();
    assert_int_equal(ebm_idx_read(path, &idx), EBM_OK);
    assert_int_equal(idx.ndim, 1);
    assert_int_equal(idx.count, 10);
    assert_int_equal(idx.data[9], 9);
    ebm_idx_free(&idx);
}

static void test_idx_rejects_truncated(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t dims[2] = { 4, 5 };
    size_t len = make_idx(buf, 0x08, 2, dims, 13);
    expect_input_error(write_file("short.idx", buf, len, 0),
                       "truncated: expected 20 bytes of data, found 13");
    expect_input_error(write_file("short.idx.gz", buf, len, 1),
                       "truncated: expected 20 bytes of data, found 13");
    /* Ends inside the dimension list. */
    expect_input_error(write_file("short-header.idx", buf, 6, 0), "truncated");
}

static void test_idx_rejects_trailing_bytes(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t dims[2] = { 4, 5 };
    size_t len = make_idx(buf, 0x08, 2, dims, 23);
    expect_input_error(write_file("long.idx", buf, len, 0), "3 trailing bytes");
    expect_input_error(write_file("long.idx.gz", buf, len, 1), "3 trailing bytes");
}

static void test_idx_rejects_bad_magic(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t dims[1] = { 4 };
    size_t len = make_idx(buf, 0x08, 1, dims, 4);
    buf[0] = 0x1f;
    expect_input_error(write_file("magic.idx", buf, len, 0), "not an IDX file");
    buf[0] = 0;
    buf[3] = 5;  /* more dimensions than supported */
    expect_input_error(write_file("ndim.idx", buf, len, 0), "5 dimensions");
    buf[3] = 0;
    expect_input_error(write_file("ndim0.idx", buf, len, 0), "0 dimensions");
}

static void test_idx_rejects_float_type(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t dims[1] = { 2 };
    size_t len = make_idx(buf, 0x0D, 1, dims, 8);
    expect_input_error(write_file("float.idx", buf, len, 0), "unsupported element type 0x0D (float32)");
}

static void test_idx_rejects_zero_dim(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t dims[3] = { 2, 0, 3 };
    size_t len = make_idx(buf, 0x08, 3, dims, 0);
    expect_input_error(write_file("zero.idx", buf, len, 0), "dimension 1 is zero");
}

static void test_idx_rejects_overflowing_dims(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t dims[4] = { 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 2 };
    size_t len = make_idx(buf, 0x08, 4, dims, 0);
    expect_input_error(write_file("overflow.idx", buf, len, 0), "overflow");
    /* Large but representable: must fail as truncated, not by allocating
     * the declared 4 GB up front. */
    uint32_t big[2] = { 0x10000u, 0x10000u };
    len = make_idx(buf, 0x08, 2, big, 5);
    expect_input_error(write_file("huge.idx", buf, len, 0), "truncated");
}

static void test_idx_rejects_missing_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/no-such-file.idx", test_tmpdir());
    expect_input_error(path, "cannot open: No such file or directory");
}

static void test_idx_free_is_safe_on_zeroed(void **state)
{
    (void)state;
    struct ebm_idx idx = { 0 };
    ebm_idx_free(&idx);
    ebm_idx_free(NULL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_idx_reads_plain),
    cmocka_unit_test(test_idx_reads_gzipped),
    cmocka_unit_test(test_idx_reads_1d_labels),
    cmocka_unit_test(test_idx_rejects_truncated),
    cmocka_unit_test(test_idx_rejects_trailing_bytes),
    cmocka_unit_test(test_idx_rejects_bad_magic),
    cmocka_unit_test(test_idx_rejects_float_type),
    cmocka_unit_test(test_idx_rejects_zero_dim),
    cmocka_unit_test(test_idx_rejects_overflowing_dims),
    cmocka_unit_test(test_idx_rejects_missing_file),
    cmocka_unit_test(test_idx_free_is_safe_on_zeroed),
};

EBM_TEST_MAIN(tests)
