#include "ebm/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(struct ebm_json *j, const char *fmt, const char *a, const char *b)
{
    if (j->len < sizeof j->buf)
        j->len += (size_t)snprintf(j->buf + j->len, sizeof j->buf - j->len, fmt, a, b);
}

static void key(struct ebm_json *j, const char *k)
{
    put(j, "%s\"%s\":", j->fields++ ? "," : "", k);
}

void ebm_json_begin(struct ebm_json *j)
{
    j->len = 0;
    j->fields = 0;
    put(j, "{%s%s", "", "");
}

void ebm_json_int(struct ebm_json *j, const char *k, int64_t value)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)value);
    key(j, k);
    put(j, "%s%s", num, "");
}

void ebm_json_num(struct ebm_json *j, const char *k, double value)
{
    char num[40];
    if (isfinite(value)) snprintf(num, sizeof num, "%.9g", value);
    else snprintf(num, sizeof num, "null");
    key(j, k);
    put(j, "%s%s", num, "");
}

void ebm_json_str(struct ebm_json *j, const char *k, const char *value)
{
    key(j, k);
    put(j, "%s%s", "\"", "");
    for (const char *p = value; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') snprintf(esc, sizeof esc, "\\%c", *p);
        else if ((unsigned char)*p < 0x20) snprintf(esc, sizeof esc, "\\u%04x", *p);
        else snprintf(esc, sizeof esc, "%c", *p);
        put(j, "%s%s", esc, "");
    }
    put(j, "%s%s", "\"", "");
}

void ebm_json_begin_object(struct ebm_json *j, const char *k)
{
    key(j, k);
    put(j, "{%s%s", "", "");
    j->fields = 0;
}

void ebm_json_end_object(struct ebm_json *j)
{
    put(j, "}%s%s", "", "");
    j->fields = 1;
}

const char *ebm_json_end(struct ebm_json *j)
{
    put(j, "}%s%s", "", "");
    return j->buf;
}

ebm_status ebm_metrics_append(const char *path, const char *line)
{
    FILE *f = fopen(path, "a");
    if (!f) return EBM_FAIL(EBM_ERR_IO, "%s: cannot open metrics file: %s", path, strerror(errno));
    int bad = fprintf(f, "%s\n", line) < 0;
    bad |= fclose(f) != 0;
    if (bad) return EBM_FAIL(EBM_ERR_IO, "%s: cannot write metrics", path);
    return EBM_OK;
}

ebm_status ebm_metrics_truncate(const char *path, int64_t epoch)
{
    FILE *in = fopen(path, "r");
    if (!in) return EBM_OK;
    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return EBM_FAIL(EBM_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    int bad = 0;
    while (getline(&line, &cap, in) > 0) {
        long long e;
        if (sscanf(line, "{\"epoch\":%lld", &e) == 1 && e > epoch) continue;
        bad |= fputs(line, out) < 0;
    }
    free(line);
    fclose(in);
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return EBM_FAIL(EBM_ERR_IO, "%s: cannot rewrite metrics", path);
    }
    return EBM_OK;
}
