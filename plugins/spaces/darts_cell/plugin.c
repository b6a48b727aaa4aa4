/* The darts_cell plugin: component schema and vtable. */
#include "darts_cell.h"

static const cnas_param_spec darts_cell_keys[] = {
    CNAS_PARAM_SPEC_INT("init_channels", "16", 1, 1024,
                        "channels C of the first cells (doubled at each reduction)"),
    CNAS_PARAM_SPEC_INT("layers", "8", 1, 100,
                        "number of cells; reductions at layers/3 and 2*layers/3"),
    CNAS_PARAM_SPEC_INT("nodes", "4", 1, DC_MAX_NODES, "intermediate nodes per cell"),
    CNAS_PARAM_SPEC_INT("multiplier", "0", 0, DC_MAX_NODES,
                        "how many of the last nodes a cell concatenates (0 = all nodes)"),
    CNAS_PARAM_SPEC_INT("stem_multiplier", "3", 1, 16, "stem output channels = this * C"),
    CNAS_PARAM_SPEC_STRING("candidates",
                           "none,max_pool_3x3,avg_pool_3x3,skip_connect,sep_conv_3x3,"
                           "sep_conv_5x5,dil_conv_3x3,dil_conv_5x5",
                           "comma-separated op components on every edge, in weight-column order"),
    CNAS_PARAM_SPEC_BOOL("track_running_stats", "true",
                         "cell batch norms keep running statistics (false: batch statistics "
                         "even in evaluation)"),
    CNAS_PARAM_SPEC_BOOL("auxiliary", "false",
                         "stand-alone network: auxiliary classifier after cell 2*layers/3"),
    CNAS_PARAM_SPEC_BOOL("recompute", "true",
                         "keep only each mixed edge's output (supernet) or each operation's "
                         "(network, single path) and recompute the rest in the backward pass "
                         "(same gradients, a fraction of the memory, one more forward)"),
};

static const cnas_space_vtable darts_cell_vtable = {
    sizeof(cnas_space_vtable), dc_create, dc_destroy, dc_choice_points, dc_forward, dc_tensors,
    dc_derive, dc_format, dc_parse, dc_write_json, dc_write_dot, dc_sample, dc_enumerate_count,
    dc_enumerate, dc_cost, dc_candidate_cost, dc_sample_weighted, dc_log_prob,
    NULL, /* sample_path: sample() draws the uniform training paths */
};

static const cnas_component darts_cell_components[] = {
    CNAS_COMPONENT(CNAS_KIND_SPACE, "darts_cell",
                   "The DARTS cell space: normal and reduction cells of mixed edges (Liu et al. 2019)",
                   darts_cell_keys, &darts_cell_vtable),
};

CNAS_PLUGIN("darts_cell", "0.2.0", "The DARTS cell search space", "MIT", darts_cell_components, NULL)
