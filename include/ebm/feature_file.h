/* Feature files (docs/transform.md): an ebm dataset of float32 rows that the
 * ranks of a communicator write together, each its own rows as a hyperslab,
 * into a hidden temporary that is renamed into place only once complete. */
#ifndef EBM_FEATURE_FILE_H
#define EBM_FEATURE_FILE_H

#include <stdint.h>
#include <hdf5.h>
#include <mpi.h>

#include "ebm/error.h"

/* Where the features came from: the root attributes, a record only (the
 * dataset reader ignores them). */
struct ebm_feature_source {
    const char *checkpoint, *data;
    const char *layers;     /* the model's layer sizes, e.g. "784-500-500" */
    int64_t layer;          /* which hidden layer the rows are */
};

struct ebm_feature_file {
    const char *path;       /* final name (borrowed) */
    char tmp[4096];         /* where the writes go until commit */
    MPI_Comm comm;
    hid_t file, dxpl;       /* -1 when closed */
    hid_t group, x, y;      /* the split being written; -1 when none */
    int64_t cols;
};

/* Every call is collective over comm and returns the same status on every
 * rank (the lowest failing rank's message); errors are one line naming the
 * file. create writes the source attributes; when it fails there is nothing
 * to commit or abort. */
ebm_status ebm_feature_file_create(struct ebm_feature_file *f, const char *path, MPI_Comm comm,
                                   const struct ebm_feature_source *src);

/* Opens /split with x float32 [n_total, cols] and, when has_labels, y int32
 * [n_total]. Then each rank writes its rows of x in calls that every rank
 * makes equally often (count 0 takes part and writes nothing), and its
 * labels in one call; split_end closes the split. */
ebm_status ebm_feature_file_split_begin(struct ebm_feature_file *f, const char *split,
                                        int64_t n_total, int64_t cols, int has_labels);
ebm_status ebm_feature_file_write_x(struct ebm_feature_file *f, int64_t first, int64_t count,
                                    const float *rows);
ebm_status ebm_feature_file_write_y(struct ebm_feature_file *f, int64_t first, int64_t count,
                                    const int32_t *labels);
void ebm_feature_file_split_end(struct ebm_feature_file *f);

/* Closes the file; rank 0 fsyncs it and renames it to the final name. On
 * any failure the temporary is removed and every rank fails, naming it. */
ebm_status ebm_feature_file_commit(struct ebm_feature_file *f);
/* Closes the file and removes the temporary. */
void ebm_feature_file_abort(struct ebm_feature_file *f);

#endif
