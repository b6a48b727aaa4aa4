/* The resnet_ops plugin descriptor: the layers of the ResNet20 pooling space. */
#include "resnet_ops.h"

static const cnas_component components[] = {
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "basic_block",
                            "ResNet basic block: conv3x3 (stride s), BN, ReLU, conv3x3, BN, plus "
                            "the identity (C_in = C_out, s = 1) or a 1x1 conv + BN projection, "
                            "then ReLU", &rop_basic_block_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "conv_bn_relu",
                            "conv3x3 (stride s, pad 1), BN, ReLU: the first ResNet layer",
                            &rop_conv_bn_relu_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "max_pool_2x2",
                            "2x2 max pool at stride 2 (floor(H/2) x floor(W/2)); needs C_out = "
                            "C_in and stride 2", &rop_max_pool_2x2_vt),
};

CNAS_PLUGIN("resnet_ops", "1.0.0",
            "ResNet layers: the basic block, conv-BN-ReLU and 2x2 max-pool downsampling", "MIT",
            components, NULL)
