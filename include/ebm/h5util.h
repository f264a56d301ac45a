/* HDF5 failures as one-line statuses that keep the library's own reason
 * ("No space left on device") and name the rank. */
#ifndef EBM_H5UTIL_H
#define EBM_H5UTIL_H

#include "ebm/error.h"

/* Records "PATH: HDF5 CALL failed on rank R: <innermost HDF5 message>". */
ebm_status ebm_h5_fail(ebm_status code, const char *file, int line, const char *func,
                       const char *path, const char *call);

#define EBM_H5_FAIL(code, path, call) \
    ebm_h5_fail((code), __FILE__, __LINE__, __func__, (path), (call))

#endif
