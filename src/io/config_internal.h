/* What src/io/config.c shares with its cross-field checks
 * (src/io/config_check.c); not part of ebm/config.h. */
#ifndef EBM_CONFIG_INTERNAL_H
#define EBM_CONFIG_INTERNAL_H

#include "ebm/config.h"

/* The name of value `value` of enum key section.name (e.g. "bernoulli"). */
const char *ebm_config_enum_name(const char *section, const char *name, int value);
/* The checks across keys, after each key passed its own. */
ebm_status ebm_config_check(const struct ebm_config *cfg);

#endif
