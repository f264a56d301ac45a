/* Error state is per process: ebm runs one thread of control per rank. */
#include "ebm/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char message[1024];
static char backtrace_text[2048];
static int have_error;

static void trace_append(const char *file, int line, const char *func)
{
    size_t used = strlen(backtrace_text);
    if (used + 1 < sizeof backtrace_text)
        snprintf(backtrace_text + used, sizeof backtrace_text - used,
                 "  at %s (%s:%d)\n", func, file, line);
}

ebm_status ebm_error_set(ebm_status code, const char *file, int line,
                         const char *func, const char *fmt, ...)
{
    if (!have_error) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        backtrace_text[0] = '\0';
        have_error = 1;
    }
    trace_append(file, line, func);
    return code;
}

void ebm_error_trace(const char *file, int line, const char *func)
{
    trace_append(file, line, func);
}

const char *ebm_error_message(void)
{
    return have_error ? message : "no error recorded";
}

const char *ebm_error_backtrace(void) { return backtrace_text; }

void ebm_error_clear(void)
{
    have_error = 0;
    message[0] = '\0';
    backtrace_text[0] = '\0';
}

void ebm_error_adopt(const char *text)
{
    snprintf(message, sizeof message, "%s", text);
    have_error = 1;
}

int ebm_status_exit_code(ebm_status s)
{
    switch (s) {
    case EBM_OK: return 0;
    case EBM_ERR_INPUT: return 2;
    case EBM_ERR_STOPPED: return 3;
    default: return 1;
    }
}

void ebm_panic(const char *file, int line, const char *func, const char *what)
{
    fprintf(stderr, "ebm: internal error: assertion '%s' failed at %s (%s:%d)\n",
            what, func, file, line);
    fflush(stderr);
    abort();
}
