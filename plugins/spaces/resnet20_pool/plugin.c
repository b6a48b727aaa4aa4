/* The resnet20_pool plugin: component schema and vtable. */
#include "resnet20_pool.h"

static const cnas_param_spec resnet20_pool_keys[] = {
    CNAS_PARAM_SPEC_INT_LIST("channels", "16,16,16,16,32,32,32,64,64,64",
                             "output width of each layer: layer 0 is conv-BN-ReLU, the others "
                             "ResNet basic blocks (fixed by the layer index, never by the pooling)"),
    CNAS_PARAM_SPEC_INT("pools", "2", 0, RP_MAX_LAYERS - 1,
                        "how many 2x2 max-pools to place, each before one of the layers 1..L-1 "
                        "(2 of 9: 36 configurations)"),
};

static const cnas_space_vtable resnet20_pool_vtable = {
    sizeof(cnas_space_vtable), rp_create, rp_destroy, rp_choice_points, rp_forward, rp_tensors,
    rp_derive, rp_format, rp_parse, rp_write_json, rp_write_dot, rp_sample, rp_enumerate_count,
    rp_enumerate, rp_cost,
    NULL, /* candidate_cost: a pool's cost depends on the other placements (not separable) */
    NULL, /* sample_weighted, log_prob: enumerate instead (36 configurations) */
    NULL,
    NULL, /* sample_path: sample() is the paper's uniform path */
};

static const cnas_component resnet20_pool_components[] = {
    CNAS_COMPONENT(CNAS_KIND_SPACE, RP_NAME,
                   "Where to downsample a ResNet20: 2 max-pools before 2 of the layers 1..9, "
                   "written [n1,n2,n3] or as a 0/1 code (Javan Roshtkhari et al. 2023); needs "
                   "the resnet_ops plugin", resnet20_pool_keys, &resnet20_pool_vtable),
};

CNAS_PLUGIN(RP_NAME, "0.1.0", "The ResNet20 pooling-placement search space", "MIT",
            resnet20_pool_components, NULL)
