/* The nb201_ops plugin descriptor: the NAS-Bench-201 convolutions and stage block. */
#include "nb201_ops.h"

static const cnas_component components[] = {
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "nor_conv_1x1",
                            "NAS-Bench-201 ReLUConvBN 1x1: ReLU, conv 1x1 at stride s (a bias "
                            "when not affine, as the reference), BN", &nop_nor_conv_1x1_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "nor_conv_3x3",
                            "NAS-Bench-201 ReLUConvBN 3x3: ReLU, conv 3x3 at stride s, pad 1 (a "
                            "bias when not affine, as the reference), BN", &nop_nor_conv_3x3_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "nb201_resblock",
                            "NAS-Bench-201 ResNetBasicblock: two ReLUConvBN 3x3 (the first at "
                            "stride s) plus a shortcut: 2x2 average pool and 1x1 conv at stride "
                            "2, ReLUConvBN 1x1 when only the width changes, else the identity",
                            &nop_resblock_vt),
};

CNAS_PLUGIN("nb201_ops", "1.0.0",
            "NAS-Bench-201 operators (D-X-Y/AutoDL-Projects cell_operations.py): nor_conv_1x1, "
            "nor_conv_3x3 and the stage block", "MIT", components, NULL)
