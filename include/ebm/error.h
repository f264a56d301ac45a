/* Errors in three tiers: returned statuses for what a caller can recover from
 * (bad input, I/O), always-on asserts for broken invariants, and MPI/HDF5
 * checks that turn a library's error code into text naming the rank. */
#ifndef EBM_ERROR_H
#define EBM_ERROR_H

typedef enum {
    EBM_OK = 0,
    EBM_ERR_INPUT,   /* bad config, flag, dataset or checkpoint: exit status 2 */
    EBM_ERR_IO,      /* a file could not be read or written */
    EBM_ERR_NOMEM,
    EBM_ERR_MPI,
    EBM_ERR_HDF5,
    EBM_ERR_NUMERIC, /* NaN or Inf appeared during training */
    EBM_ERR_STOPPED, /* stopped on request (signal), state saved */
} ebm_status;

/* Records the first error's one-line message (later ones only add to the
 * trace) and returns code, so callers can write `return EBM_FAIL(...)`. */
ebm_status ebm_error_set(ebm_status code, const char *file, int line,
                         const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void ebm_error_trace(const char *file, int line, const char *func);
const char *ebm_error_message(void);
const char *ebm_error_backtrace(void);
void ebm_error_clear(void);
/* Overwrites the recorded message, e.g. with one received from another rank. */
void ebm_error_adopt(const char *message);
int ebm_status_exit_code(ebm_status s);

_Noreturn void ebm_panic(const char *file, int line, const char *func,
                         const char *what);

#define EBM_FAIL(code, ...) \
    ebm_error_set((code), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Propagate a failed status, adding this frame to the trace. */
#define EBM_TRY(call)                                          \
    do {                                                       \
        ebm_status ebm_s_ = (call);                            \
        if (ebm_s_ != EBM_OK) {                                \
            ebm_error_trace(__FILE__, __LINE__, __func__);     \
            return ebm_s_;                                     \
        }                                                      \
    } while (0)

/* Same, for functions that must release resources: sets st, jumps to label. */
#define EBM_TRY_GOTO(st, call, label)                          \
    do {                                                       \
        (st) = (call);                                         \
        if ((st) != EBM_OK) {                                  \
            ebm_error_trace(__FILE__, __LINE__, __func__);     \
            goto label;                                        \
        }                                                      \
    } while (0)

/* Always on, also in optimised builds; never put side effects inside. */
#define EBM_ASSERT(cond)                                              \
    do {                                                              \
        if (!(cond)) ebm_panic(__FILE__, __LINE__, __func__, #cond);  \
    } while (0)

/* Allocation that fails with a status instead of crashing later. */
#define EBM_ALLOC(ptr, count)                                                 \
    do {                                                                      \
        size_t ebm_n_ = (size_t)(count);                                      \
        (ptr) = calloc(ebm_n_ > 0 ? ebm_n_ : 1, sizeof *(ptr));               \
        if (!(ptr))                                                           \
            return EBM_FAIL(EBM_ERR_NOMEM, "out of memory allocating %zu bytes", \
                            ebm_n_ * sizeof *(ptr));                          \
    } while (0)

#endif
