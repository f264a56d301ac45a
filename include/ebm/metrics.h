/* Machine-readable metrics: one JSON object per line, appended and flushed
 * as each is complete, so a killed run leaves only whole lines. */
#ifndef EBM_METRICS_H
#define EBM_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "ebm/error.h"

struct ebm_json {
    char buf[4096];
    size_t len;
    int fields;
};

void ebm_json_begin(struct ebm_json *j);
void ebm_json_int(struct ebm_json *j, const char *key, int64_t value);
/* Non-finite values are written as null (JSON has no NaN). */
void ebm_json_num(struct ebm_json *j, const char *key, double value);
void ebm_json_str(struct ebm_json *j, const char *key, const char *value);
/* Nested object: begin_object ... end_object. */
void ebm_json_begin_object(struct ebm_json *j, const char *key);
void ebm_json_end_object(struct ebm_json *j);
/* Closes the object; returns the text (valid until the next begin). */
const char *ebm_json_end(struct ebm_json *j);

/* Appends one line to path (created when missing). */
ebm_status ebm_metrics_append(const char *path, const char *line);

/* Drops the lines of a metrics file whose leading "epoch" is past `epoch`
 * (rewritten through a temporary file), so a resumed run does not log the
 * redone epochs twice. A missing file is fine. */
ebm_status ebm_metrics_truncate(const char *path, int64_t epoch);

#endif
