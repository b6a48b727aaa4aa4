/* The dgconv plugin descriptor: convolutions that learn their group count (docs/dgconv.md). */
#include "dgconv_ops.h"

static const cnas_param_spec keys[] = {
    CNAS_PARAM_SPEC_CHOICE("gate_init", "random", "random|depthwise|dense",
                           "initial gates, all at magnitude 1e-8: random signs (the "
                           "re-implementation since its commit bfb0146), all negative "
                           "(depthwise, its first release) or all positive (dense)"),
};

static const cnas_component components[] = {
    CNAS_COMPONENT(CNAS_KIND_OP, "dgconv_3x3",
                   "ReLU, DGConv 3x3 at stride s (a C x C conv whose group count 2^(K - sum "
                   "of binarised gates) is learned; C = C_in = C_out = 2^K), BN", keys,
                   &dg_dgconv_3x3_vt),
    CNAS_COMPONENT(CNAS_KIND_OP, "dg_resblock",
                   "ResNet basic block with DGConv 3x3 convs (conv1 dense when C_in != C_out; "
                   "C_out = 2^K): conv, BN, ReLU, conv, BN, plus the identity or a 1x1 conv + "
                   "BN projection, then ReLU", keys, &dg_resblock_vt),
};

CNAS_PLUGIN("dgconv", "1.0.0",
            "DGConv (Zhang et al., ICCV 2019): convolutions with a learned group structure, "
            "dgconv_3x3 and a ResNet basic block", "MIT", components, NULL)
