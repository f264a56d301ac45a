/* ESS and split-R-hat of MCMC traces.
 * Where the time goes: one complex FFT of length 2^ceil(log2(2N)) per chain
 * for its autocovariance (O(N log N) instead of O(N^2) lags); everything
 * else is O(M N). Sums run in a fixed order, so a result depends only on the
 * traces, never on how they were split across ranks. */
#include "ebm/diagnostics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm/par.h"

static ebm_status check_traces(const double *x, int M, int N, int min_n)
{
    if (M < 1 || N < min_n)
        return EBM_FAIL(EBM_ERR_INPUT, "diagnostics: need at least 1 chain of %d draws, got "
                        "%d chains of %d", min_n, M, N);
    for (int m = 0; m < M; m++)
        for (int i = 0; i < N; i++)
            if (!isfinite(x[(size_t)m * N + i]))
                return EBM_FAIL(EBM_ERR_INPUT, "diagnostics: draw %d of chain %d is %g", i, m,
                                x[(size_t)m * N + i]);
    return EBM_OK;
}

/* In-place radix-2 FFT of n (a power of 2) complex values; sign -1 forward,
 * +1 inverse (unscaled). Twiddles from cos/sin directly, not by recurrence,
 * so the error stays at a few ulps times log2(n). */
static void fft(double *re, double *im, size_t n, int sign)
{
    for (size_t i = 1, j = 0; i < n; i++) {
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    for (size_t len = 2; len <= n; len <<= 1) {
        size_t half = len >> 1;
        double ang = sign * 2.0 * M_PI / (double)len;
        for (size_t k = 0; k < half; k++) {
            double wr = cos(ang * (double)k), wi = sin(ang * (double)k);
            for (size_t i = k; i < n; i += len) {
                size_t b = i + half;
                double tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
                re[b] = re[i] - tr;
                im[b] = im[i] - ti;
                re[i] += tr;
                im[i] += ti;
            }
        }
    }
}

/* acov[t] += (1/N) sum_i (x_i - mean)(x_{i+t} - mean), t < N, by the
 * Wiener-Khinchin theorem with zero padding to nfft >= 2N (no wrap-around).
 * Returns the chain's mean. */
static double add_autocov(const double *x, int N, double *re, double *im, size_t nfft,
                          double *acov)
{
    double mean = 0.0;
    for (int i = 0; i < N; i++) mean += x[i];
    mean /= N;
    for (size_t i = 0; i < nfft; i++) {
        re[i] = i < (size_t)N ? x[i] - mean : 0.0;
        im[i] = 0.0;
    }
    fft(re, im, nfft, -1);
    for (size_t i = 0; i < nfft; i++) {
        re[i] = re[i] * re[i] + im[i] * im[i];
        im[i] = 0.0;
    }
    fft(re, im, nfft, +1);
    for (int t = 0; t < N; t++) acov[t] += re[t] / (double)nfft / N;
    return mean;
}

/* The multi-chain ESS of chains[0..M), N draws each (Stan reference manual,
 * "Effective sample size"; the same steps as posterior::ess_basic). */
static ebm_status ess_of(const double *const *chains, int M, int N, double *ess)
{
    size_t nfft = 1;
    while (nfft < 2 * (size_t)N) nfft <<= 1;
    double *re = malloc(sizeof *re * nfft), *im = malloc(sizeof *im * nfft);
    double *acov = calloc((size_t)N, sizeof *acov), *rho = calloc((size_t)N, sizeof *rho);
    double *means = malloc(sizeof *means * (size_t)M);
    if (!re || !im || !acov || !rho || !means) {
        free(re); free(im); free(acov); free(rho); free(means);
        return EBM_FAIL(EBM_ERR_NOMEM, "diagnostics: out of memory for %d draws", N);
    }
    for (int m = 0; m < M; m++) means[m] = add_autocov(chains[m], N, re, im, nfft, acov);
    for (int t = 0; t < N; t++) acov[t] /= M;
    /* W (mean within-chain variance) and var+ (BDA3 eq. 11.3). */
    double W = acov[0] * N / (N - 1.0), var_plus = W * (N - 1.0) / N;
    if (M > 1) {
        double mu = 0.0, b = 0.0;
        for (int m = 0; m < M; m++) mu += means[m];
        mu /= M;
        for (int m = 0; m < M; m++) b += (means[m] - mu) * (means[m] - mu);
        var_plus += b / (M - 1.0);
    }
    if (!(W > 0.0)) {
        *ess = NAN;
    } else {
        /* Geyer's initial positive sequence: autocorrelations in pairs
         * (rho_2k + rho_2k+1), up to the first pair that sums below zero. */
        double even = 1.0, odd = 1.0 - (W - acov[1]) / var_plus;
        rho[0] = even;
        rho[1] = odd;
        int t = 0;
        while (t < N - 5 && even + odd > 0.0) {
            t += 2;
            even = 1.0 - (W - acov[t]) / var_plus;
            odd = 1.0 - (W - acov[t + 1]) / var_plus;
            if (even + odd >= 0.0) {
                rho[t] = even;
                rho[t + 1] = odd;
            }
        }
        int max_t = t;
        /* The last even lag, when positive, enters once (Stan: lowers the
         * variance for antithetic chains). */
        if (even > 0.0) rho[max_t] = even;
        /* Initial monotone sequence: pair sums may not grow. */
        for (t = 2; t <= max_t - 2; t += 2)
            if (rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1]) {
                rho[t] = 0.5 * (rho[t - 2] + rho[t - 1]);
                rho[t + 1] = rho[t];
            }
        double tau = -1.0 + rho[max_t];
        for (int i = 0; i < max_t; i++) tau += 2.0 * rho[i];
        double S = (double)M * N;
        /* Stan caps the ESS at S log10(S) for antithetic chains. */
        if (!(tau >= 1.0 / log10(S))) tau = 1.0 / log10(S);
        *ess = S / tau;
    }
    free(re); free(im); free(acov); free(rho); free(means);
    return EBM_OK;
}

/* Pointers to the 2M halves of n = floor(N / 2) draws; the middle draw of an
 * odd N is dropped (as posterior's split_chains). */
static const double **split_halves(const double *x, int M, int N)
{
    const double **h = malloc(sizeof *h * 2 * (size_t)M);
    if (!h) return NULL;
    int n = N / 2;
    for (int m = 0; m < M; m++) {
        h[2 * m] = x + (size_t)m * N;
        h[2 * m + 1] = x + (size_t)m * N + (N - n);
    }
    return h;
}

ebm_status ebm_ess(const double *x, int M, int N, double *ess)
{
    EBM_TRY(check_traces(x, M, N, 4));
    const double **c = malloc(sizeof *c * (size_t)M);
    if (!c) return EBM_FAIL(EBM_ERR_NOMEM, "diagnostics: out of memory for %d chains", M);
    for (int m = 0; m < M; m++) c[m] = x + (size_t)m * N;
    ebm_status st = ess_of(c, M, N, ess);
    free(c);
    return st;
}

/* Split-R-hat without the input checks. */
static ebm_status rhat_of(const double *x, int M, int N, double *rhat)
{
    const double **h = split_halves(x, M, N);
    if (!h) return EBM_FAIL(EBM_ERR_NOMEM, "diagnostics: out of memory for %d chains", M);
    int n = N / 2, J = 2 * M;
    double mu = 0.0, W = 0.0, B = 0.0;
    double *means = malloc(sizeof *means * (size_t)J);
    if (!means) {
        free(h);
        return EBM_FAIL(EBM_ERR_NOMEM, "diagnostics: out of memory for %d chains", M);
    }
    for (int j = 0; j < J; j++) {
        double m = 0.0, v = 0.0;
        for (int i = 0; i < n; i++) m += h[j][i];
        m /= n;
        for (int i = 0; i < n; i++) v += (h[j][i] - m) * (h[j][i] - m);
        means[j] = m;
        mu += m;
        W += v / (n - 1.0);
    }
    mu /= J;
    W /= J;
    for (int j = 0; j < J; j++) B += (means[j] - mu) * (means[j] - mu);
    B *= n / (J - 1.0);
    double var_plus = (n - 1.0) / n * W + B / n;
    *rhat = W > 0.0 ? sqrt(var_plus / W) : NAN;
    free(means);
    free(h);
    return EBM_OK;
}

ebm_status ebm_split_rhat(const double *x, int M, int N, double *rhat)
{
    EBM_TRY(check_traces(x, M, N, 4));
    return rhat_of(x, M, N, rhat);
}

ebm_status ebm_diagnose(const double *x, int M, int N, struct ebm_trace_diag *out,
                        double *ess_chain)
{
    EBM_TRY(check_traces(x, M, N, 8));
    memset(out, 0, sizeof *out);
    out->chains = M;
    out->draws = N;
    size_t S = (size_t)M * N;
    double mean = 0.0, ss = 0.0;
    for (size_t i = 0; i < S; i++) mean += x[i];
    mean /= (double)S;
    for (size_t i = 0; i < S; i++) ss += (x[i] - mean) * (x[i] - mean);
    out->mean = mean;
    out->sd = sqrt(ss / ((double)S - 1.0));
    EBM_TRY(rhat_of(x, M, N, &out->rhat));
    const double **h = split_halves(x, M, N);
    if (!h) return EBM_FAIL(EBM_ERR_NOMEM, "diagnostics: out of memory for %d chains", M);
    ebm_status st = ess_of(h, 2 * M, N / 2, &out->ess);
    free(h);
    EBM_TRY(st);
    out->ess_chain_min = INFINITY;
    for (int m = 0; m < M; m++) {
        const double *c = x + (size_t)m * N;
        double e;
        EBM_TRY(ess_of(&c, 1, N, &e));
        if (ess_chain) ess_chain[m] = e;
        /* fmin skips the NaN of a constant chain unless all are. */
        out->ess_chain_min = m == 0 ? e : fmin(out->ess_chain_min, e);
        out->ess_chain_mean += e / M;
    }
    return EBM_OK;
}

ebm_status ebm_diagnose_comm(const double *local, int local_m, int N, MPI_Comm comm,
                             struct ebm_trace_diag *out)
{
    int rank, size;
    EBM_MPI_TRY(MPI_Comm_rank(comm, &rank));
    EBM_MPI_TRY(MPI_Comm_size(comm, &size));
    int *counts = calloc((size_t)size, sizeof *counts);
    int *displs = calloc((size_t)size, sizeof *displs);
    ebm_status st = counts && displs ? EBM_OK
                                     : EBM_FAIL(EBM_ERR_NOMEM, "diagnostics: out of memory "
                                                "for %d ranks", size);
    st = ebm_comm_agree(comm, st); /* before the collectives every rank must enter */
    if (st != EBM_OK) {
        free(counts);
        free(displs);
        return st;
    }
    /* Every rank must hold traces of the same length. */
    int span[2] = { N, -N }, mine = local_m;
    int rc = MPI_Allreduce(MPI_IN_PLACE, span, 2, MPI_INT, MPI_MIN, comm);
    if (rc == MPI_SUCCESS) rc = MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm);
    long long M = 0;
    double *all = NULL;
    if (rc != MPI_SUCCESS) {
        st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Allgather");
    } else if (span[0] != -span[1]) {
        st = EBM_FAIL(EBM_ERR_INPUT, "diagnostics: ranks hold traces of %d to %d draws; "
                      "all must be equally long", span[0], -span[1]);
    } else {
        for (int r = 0; r < size && st == EBM_OK; r++) {
            if (counts[r] < 0)
                st = EBM_FAIL(EBM_ERR_INPUT, "diagnostics: rank %d holds %d chains", r,
                              counts[r]);
            M += counts[r];
        }
        /* Gatherv counts in ints: M N must fit. */
        if (st == EBM_OK && (M < 1 || N < 1 || M * N > 2147483647LL))
            st = EBM_FAIL(EBM_ERR_INPUT, "diagnostics: %lld chains of %d draws do not fit "
                          "one gather (1 to 2^31 - 1 draws)", M, N);
        for (int r = 0; r < size && st == EBM_OK; r++) { /* in draws */
            counts[r] *= N;
            displs[r] = r ? displs[r - 1] + counts[r - 1] : 0;
        }
        if (st == EBM_OK && rank == 0) {
            all = malloc(sizeof *all * (size_t)(M * N));
            if (!all)
                st = EBM_FAIL(EBM_ERR_NOMEM, "diagnostics: out of memory gathering %lld "
                              "draws", M * N);
        }
    }
    /* Every rank saw the same counts, but rank 0 alone allocates. */
    st = ebm_comm_agree(comm, st);
    if (st == EBM_OK) {
        rc = MPI_Gatherv(local, local_m * N, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0,
                         comm);
        if (rc != MPI_SUCCESS)
            st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Gatherv");
        struct ebm_trace_diag d;
        memset(&d, 0, sizeof d);
        if (st == EBM_OK && rank == 0) st = ebm_diagnose(all, (int)M, N, &d, NULL);
        st = ebm_comm_agree(comm, st);
        if (st == EBM_OK) {
            rc = MPI_Bcast(&d, (int)sizeof d, MPI_BYTE, 0, comm);
            if (rc != MPI_SUCCESS)
                st = ebm_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Bcast");
            else
                *out = d;
        }
    }
    free(all);
    free(counts);
    free(displs);
    return st;
}
