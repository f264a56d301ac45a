/* What every command does with its flags and its output file, once: the
 * messages stay the same from command to command. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebm/cmd.h"

ebm_status ebm_arg_int(const char *cmd, const char *flag, const char *text, long long lo,
                       long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm %s: %s '%s': expected an integer in [%lld, %lld]",
                        cmd, flag, text, lo, hi);
    *out = v;
    return EBM_OK;
}

ebm_status ebm_arg_real(const char *cmd, const char *flag, const char *text, double lo, double hi,
                        float *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < lo || v > hi)
        return EBM_FAIL(EBM_ERR_INPUT, "ebm %s: %s '%s': expected a number in [%g, %g]", cmd,
                        flag, text, lo, hi);
    *out = (float)v;
    return EBM_OK;
}

ebm_status ebm_arg_binarize(const char *cmd, const char *text, int *mode)
{
    static const char *const names[] = { "stochastic", "threshold", "none" };
    for (int i = 0; i < 3; i++)
        if (!strcmp(text, names[i])) {
            *mode = i;
            return EBM_OK;
        }
    return EBM_FAIL(EBM_ERR_INPUT, "ebm %s: --binarize '%s': expected stochastic, threshold "
                    "or none", cmd, text);
}

bool ebm_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

ebm_status ebm_check_out(const char *out, const char *const *inputs, int n_inputs)
{
    for (int i = 0; i < n_inputs; i++)
        if (ebm_same_file(out, inputs[i]))
            return EBM_FAIL(EBM_ERR_INPUT, "--out %s is an input of this command; choose "
                            "another file", out);
    char dir[4096];
    const char *slash = strrchr(out, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == out ? 1 : (int)(slash - out), out);
    if (access(dir, W_OK) != 0)
        return EBM_FAIL(EBM_ERR_INPUT, "--out %s: cannot write in %s: %s", out, dir,
                        strerror(errno));
    return EBM_OK;
}
