/* The darts_ops plugin descriptor: the DARTS candidate ops, their building blocks
 * (relu_conv_bn, factorized_reduce) and conv_3x3. */
#include "darts_ops.h"

static const cnas_param_spec pool_keys[] = {
    CNAS_PARAM_SPEC_BOOL("bn_after", "false",
                         "follow the pool with BatchNorm(C, affine=False), as the DARTS search "
                         "MixedOp does"),
};

static const cnas_param_spec skip_keys[] = {
    CNAS_PARAM_SPEC_BOOL("bn_after", "false",
                         "at stride 1, follow the identity with BatchNorm(C, affine=False), as "
                         "the GOLD-NAS search op does"),
};

static const cnas_param_spec relu_conv_bn_keys[] = {
    CNAS_PARAM_SPEC_INT("kernel_size", "1", 1, 15, "square conv kernel size"),
    CNAS_PARAM_SPEC_INT("padding", "0", 0, 14, "zero padding on each side"),
};

static const cnas_component components[] = {
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "none",
                            "Zero: zeros of x[:, :, ::s, ::s]; needs C_out = C_in",
                            &dop_none_vt),
    CNAS_COMPONENT(CNAS_KIND_OP, "max_pool_3x3",
                   "max pool 3x3, stride s, pad 1; needs C_out = C_in", pool_keys,
                   &dop_max_pool_3x3_vt),
    CNAS_COMPONENT(CNAS_KIND_OP, "avg_pool_3x3",
                   "average pool 3x3, stride s, pad 1, padding excluded from the count; needs "
                   "C_out = C_in", pool_keys, &dop_avg_pool_3x3_vt),
    CNAS_COMPONENT(CNAS_KIND_OP, "skip_connect",
                   "identity at stride 1 (C_out = C_in), FactorizedReduce at stride 2",
                   skip_keys, &dop_skip_connect_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "sep_conv_3x3",
                            "two [ReLU, depthwise 3x3, 1x1 conv, BN] units, the first at "
                            "stride s", &dop_sep_conv_3x3_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "sep_conv_5x5",
                            "two [ReLU, depthwise 5x5, 1x1 conv, BN] units, the first at "
                            "stride s", &dop_sep_conv_5x5_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "dil_conv_3x3",
                            "ReLU, depthwise 3x3 dilation 2, 1x1 conv, BN",
                            &dop_dil_conv_3x3_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "dil_conv_5x5",
                            "ReLU, depthwise 5x5 dilation 2, 1x1 conv, BN",
                            &dop_dil_conv_5x5_vt),
    CNAS_COMPONENT(CNAS_KIND_OP, "relu_conv_bn", "ReLU, conv kxk at stride s, BN",
                   relu_conv_bn_keys, &dop_relu_conv_bn_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "factorized_reduce",
                            "ReLU, two 1x1 stride-2 convs on x and x shifted by one pixel, "
                            "concat, BN; always halves H and W (even sizes), C_out even",
                            &dop_factorized_reduce_vt),
    CNAS_COMPONENT_NOPARAMS(CNAS_KIND_OP, "conv_3x3", "ReLU, conv 3x3 at stride s, pad 1, BN",
                            &dop_conv_3x3_vt),
};

CNAS_PLUGIN("darts_ops", "1.0.0",
            "The DARTS op set (quark0/darts operations.py) with its building blocks", "MIT",
            components, NULL)
