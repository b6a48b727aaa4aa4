/* The darts plugin: the DARTS and Λ-DARTS strategy components. */
#include "darts.h"
#include "lambda_darts.h"

#include "components.h"

static const cnas_param_spec darts_keys[] = {DARTS_COMMON_KEYS, DARTS_SELECTION_KEYS};
static const cnas_param_spec lambda_darts_keys[] = {DARTS_COMMON_KEYS, LAMBDA_DARTS_KEYS,
                                                    DARTS_SELECTION_KEYS};

static const cnas_component darts_components[] = {
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, "darts",
                   "DARTS: differentiable architecture search, first or second order (Liu et al. 2019)",
                   darts_keys, &darts_vtable),
    CNAS_COMPONENT(CNAS_KIND_STRATEGY, "lambda_darts",
                   "Lambda-DARTS: DARTS with the cells' gradients aligned (Movahedi et al. 2023)",
                   lambda_darts_keys, &lambda_darts_vtable),
};

CNAS_PLUGIN("darts", "0.3.0", "DARTS and Lambda-DARTS search strategies", "MIT", darts_components,
            NULL)
