/* IDX reader. Format (LeCun's MNIST page): two zero bytes, a type byte, a
 * byte giving the number of dimensions, then one big-endian uint32 per
 * dimension, then the values in row-major order. gzread passes plain files
 * through unchanged, so one code path serves both .gz and unpacked files. */
#include "ebm/idx.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* gzread takes an unsigned length and returns int, so large reads go in
 * pieces of at most this many bytes. */
#define IDX_READ_CHUNK (1u << 30)

/* The buffer grows towards the declared size instead of being allocated
 * up front, so a corrupt header claiming petabytes fails as "truncated"
 * rather than as an out-of-memory error. */
#define IDX_INITIAL_CAPACITY ((size_t)64 << 20)

static const char *idx_type_name(int type)
{
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown type";
    }
}

/* Reads up to n bytes; returns the count read (short only at end of file),
 * or -1 with the zlib error recorded. */
static long long idx_read_some(gzFile gz, const char *path, uint8_t *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < IDX_READ_CHUNK ? n - done : IDX_READ_CHUNK;
        int got = gzread(gz, buf + done, (unsigned)want);
        if (got < 0) {
            int zerr = 0;
            const char *msg = gzerror(gz, &zerr);
            EBM_FAIL(EBM_ERR_IO, "%s: read error: %s", path,
                     zerr == Z_ERRNO ? strerror(errno) : msg);
            return -1;
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    return (long long)done;
}

static ebm_status idx_read_header(gzFile gz, const char *path, struct ebm_idx *out)
{
    uint8_t magic[4];
    long long got = idx_read_some(gz, path, magic, sizeof magic);
    if (got < 0) return EBM_ERR_IO;
    if (got < 4)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: truncated: header is %lld bytes, expected 4",
                        path, got);
    if (magic[0] != 0 || magic[1] != 0)
        return EBM_FAIL(EBM_ERR_INPUT,
                        "%s: not an IDX file (magic starts 0x%02X 0x%02X, expected 0x00 0x00)",
                        path, magic[0], magic[1]);
    if (magic[2] != 0x08)
        return EBM_FAIL(EBM_ERR_INPUT,
                        "%s: unsupported element type 0x%02X (%s); only 0x08 (unsigned byte) is supported",
                        path, magic[2], idx_type_name(magic[2]));
    int ndim = magic[3];
    if (ndim < 1 || ndim > EBM_IDX_MAX_DIMS)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: %d dimensions; supported are 1 to %d",
                        path, ndim, EBM_IDX_MAX_DIMS);

    uint8_t raw[4 * EBM_IDX_MAX_DIMS];
    size_t dims_bytes = 4 * (size_t)ndim;
    got = idx_read_some(gz, path, raw, dims_bytes);
    if (got < 0) return EBM_ERR_IO;
    if ((size_t)got < dims_bytes)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: truncated: header ends inside the dimensions",
                        path);

    size_t count = 1;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *b = raw + 4 * i;
        uint32_t d = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (d == 0)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: dimension %d is zero", path, i);
        /* count also has to fit an int64 for HDF5 and a signed byte offset. */
        if (count > (size_t)INT64_MAX / d)
            return EBM_FAIL(EBM_ERR_INPUT, "%s: dimensions overflow (product too large)",
                            path);
        count *= d;
        out->dims[i] = d;
    }
    out->count = count;
    return EBM_OK;
}

static ebm_status idx_read_data(gzFile gz, const char *path, struct ebm_idx *out)
{
    size_t cap = out->count < IDX_INITIAL_CAPACITY ? out->count : IDX_INITIAL_CAPACITY;
    size_t have = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return EBM_FAIL(EBM_ERR_NOMEM, "%s: out of memory allocating %zu bytes", path, cap);
    for (;;) {
        long long got = idx_read_some(gz, path, buf + have, cap - have);
        if (got < 0) { free(buf); return EBM_ERR_IO; }
        have += (size_t)got;
        if (have < cap || cap == out->count) break;  /* end of file, or all read */
        size_t next = cap > out->count / 2 ? out->count : 2 * cap;
        uint8_t *grown = realloc(buf, next);
        if (!grown) {
            free(buf);
            return EBM_FAIL(EBM_ERR_NOMEM, "%s: out of memory allocating %zu bytes", path, next);
        }
        buf = grown;
        cap = next;
    }
    if (have < out->count) {
        free(buf);
        return EBM_FAIL(EBM_ERR_INPUT, "%s: truncated: expected %zu bytes of data, found %zu",
                        path, out->count, have);
    }

    /* Count what follows, so the message says how much is extra. */
    uint8_t tail[4096];
    size_t extra = 0;
    long long got;
    while ((got = idx_read_some(gz, path, tail, sizeof tail)) > 0) extra += (size_t)got;
    if (got < 0) { free(buf); return EBM_ERR_IO; }
    if (extra > 0) {
        free(buf);
        return EBM_FAIL(EBM_ERR_INPUT,
                        "%s: %zu trailing bytes after the %zu bytes of data the header declares",
                        path, extra, out->count);
    }
    out->data = buf;
    return EBM_OK;
}

ebm_status ebm_idx_read(const char *path, struct ebm_idx *out)
{
    EBM_ASSERT(path && out);
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return EBM_FAIL(EBM_ERR_INPUT, "%s: cannot open: %s", path,
                        errno ? strerror(errno) : "out of memory");
    ebm_status st = idx_read_header(gz, path, out);
    if (st == EBM_OK) st = idx_read_data(gz, path, out);
    gzclose(gz);  /* read-only: a close error cannot lose data */
    if (st != EBM_OK) {
        ebm_error_trace(__FILE__, __LINE__, __func__);
        memset(out, 0, sizeof *out);
    }
    return st;
}

void ebm_idx_free(struct ebm_idx *idx)
{
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
