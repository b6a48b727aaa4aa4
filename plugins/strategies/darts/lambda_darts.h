/* Λ-DARTS (Movahedi et al., "Λ-DARTS: Mitigating Performance Collapse by Harmonizing
 * Operation Selection among Cells", ICLR 2023): DARTS whose weight step also aligns
 * the gradients of the cells' copies of the operation weights (docs/lambda_darts.md). */
#ifndef LAMBDA_DARTS_H
#define LAMBDA_DARTS_H

#include "darts.h"
#include "lambda_reg.h"

#define LAMBDA_DARTS_KEYS                                                                        \
    CNAS_PARAM_SPEC_CHOICE("regularizer", "corr", "corr|signcorr",                               \
                           "corr: mean pairwise cosine of the cells' gradients; signcorr: "      \
                           "<g_i, g_j> / <|g_i|, |g_j|>"),                                       \
    CNAS_PARAM_SPEC_FLOAT("lambda", "0.25", 0, 1000,                                             \
                          "strength of the regulariser (0: plain DARTS, the corr metric "        \
                          "still logged)"),                                                      \
    CNAS_PARAM_SPEC_CHOICE("lambda_schedule", "linear", "linear|constant",                       \
                           "linear: lambda * epoch / (epochs - 1), as the reference; "           \
                           "constant: lambda from the first epoch"),                             \
    CNAS_PARAM_SPEC_FLOAT("epsilon_0", "1e-3", 1e-12, 10,                                        \
                          "finite-difference radius: eps = epsilon_0 / |p|"),                    \
    CNAS_PARAM_SPEC_STRING("reg_cells", "auto",                                                  \
                           "cells whose copies are aligned: a share key of the space "           \
                           "(normal), all, or auto (normal when the space has it, else all)")

#endif
