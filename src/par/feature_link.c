#include "ebm/feature_link.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebm/par.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ebm_status alloc_ring(const struct ebm_link_ends *e, float **buf, MPI_Request **req)
{
    EBM_ASSERT(e->depth >= 1 && e->batch_len > 0 && e->batch_len <= INT32_MAX);
    EBM_ALLOC(*buf, (size_t)e->depth * e->batch_len);
    EBM_ALLOC(*req, e->depth);
    for (int i = 0; i < e->depth; i++) (*req)[i] = MPI_REQUEST_NULL;
    return EBM_OK;
}

ebm_status ebm_link_out_init(struct ebm_link_out *out, const struct ebm_link_ends *e, int rank)
{
    memset(out, 0, sizeof *out);
    out->e = *e;
    out->rank = rank;
    return alloc_ring(e, &out->buf, &out->req);
}

void ebm_link_out_free(struct ebm_link_out *out)
{
    if (!out) return;
    free(out->buf);
    free(out->req);
    memset(out, 0, sizeof *out);
}

int ebm_link_out_routed(const struct ebm_link_out *out, int64_t k)
{
    int64_t b = k * out->e.up_size + out->rank;
    return b < out->e.down_steps * out->e.down_size;
}

ebm_status ebm_link_out_put(struct ebm_link_out *out, int64_t k, const float *batch)
{
    if (!ebm_link_out_routed(out, k)) return EBM_OK;
    const struct ebm_link_ends *e = &out->e;
    int slot = out->next;
    if (out->req[slot] != MPI_REQUEST_NULL) {
        double t0 = now();
        EBM_TRY(ebm_par_wait(&out->req[slot]));
        out->blocked_s += now() - t0;
    }
    float *dst = out->buf + (size_t)slot * e->batch_len;
    memcpy(dst, batch, sizeof(float) * e->batch_len);
    int64_t b = k * e->up_size + out->rank;
    int to = e->down_first + (int)(b % e->down_size);
    EBM_MPI_TRY(MPI_Issend(dst, (int)e->batch_len, MPI_FLOAT, to, e->tag, e->comm,
                           &out->req[slot]));
    out->next = (slot + 1) % e->depth;
    int in_flight = 0;
    for (int i = 0; i < e->depth; i++) in_flight += out->req[i] != MPI_REQUEST_NULL;
    if (in_flight > out->max_in_flight) out->max_in_flight = in_flight;
    return EBM_OK;
}

ebm_status ebm_link_out_end_epoch(struct ebm_link_out *out)
{
    double t0 = now();
    for (int i = 0; i < out->e.depth; i++) EBM_TRY(ebm_par_wait(&out->req[i]));
    out->blocked_s += now() - t0;
    out->next = 0;
    return EBM_OK;
}

ebm_status ebm_link_in_init(struct ebm_link_in *in, const struct ebm_link_ends *e, int rank)
{
    memset(in, 0, sizeof *in);
    in->e = *e;
    in->rank = rank;
    return alloc_ring(e, &in->buf, &in->req);
}

void ebm_link_in_free(struct ebm_link_in *in)
{
    if (!in) return;
    free(in->buf);
    free(in->req);
    memset(in, 0, sizeof *in);
}

/* Posts the receive of consumer step t into its slot. */
static ebm_status post(struct ebm_link_in *in, int64_t t)
{
    const struct ebm_link_ends *e = &in->e;
    int slot = (int)(t % e->depth);
    int64_t b = t * e->down_size + in->rank;
    int from = e->up_first + (int)(b % e->up_size);
    EBM_MPI_TRY(MPI_Irecv(in->buf + (size_t)slot * e->batch_len, (int)e->batch_len, MPI_FLOAT,
                          from, e->tag, e->comm, &in->req[slot]));
    in->posted = t + 1;
    return EBM_OK;
}

ebm_status ebm_link_in_begin_epoch(struct ebm_link_in *in)
{
    in->posted = 0;
    for (int64_t t = 0; t < in->e.depth && t < in->e.down_steps; t++) EBM_TRY(post(in, t));
    return EBM_OK;
}

ebm_status ebm_link_in_take(struct ebm_link_in *in, int64_t t, const float **batch)
{
    const struct ebm_link_ends *e = &in->e;
    /* The previous batch has been used: its slot takes the receive that is
     * depth steps ahead of it. */
    if (t > 0 && t - 1 + e->depth < e->down_steps) EBM_TRY(post(in, t - 1 + e->depth));
    EBM_ASSERT(t < e->down_steps && t < in->posted);
    int slot = (int)(t % e->depth);
    double t0 = now();
    EBM_TRY(ebm_par_wait(&in->req[slot]));
    in->waiting_s += now() - t0;
    *batch = in->buf + (size_t)slot * e->batch_len;
    return EBM_OK;
}
