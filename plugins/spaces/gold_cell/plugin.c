/* The gold_cell plugin: component schema and vtable. */
#include "gold_cell.h"

#include <stdlib.h>

static const cnas_param_spec gold_cell_keys[] = {
    CNAS_PARAM_SPEC_INT("init_channels", "36", 1, 1024,
                        "channels C of the first cells (doubled at each reduction)"),
    CNAS_PARAM_SPEC_INT("layers", "14", 1, 100,
                        "number of cells, each with its own gates; reductions at layers/3 "
                        "and 2*layers/3"),
    CNAS_PARAM_SPEC_INT("nodes", "4", 1, DC_MAX_NODES, "intermediate nodes per cell"),
    CNAS_PARAM_SPEC_INT("multiplier", "0", 0, DC_MAX_NODES,
                        "how many of the last nodes a cell concatenates (0 = all nodes)"),
    CNAS_PARAM_SPEC_INT("stem_multiplier", "3", 1, 16, "stem output channels = this * C"),
    CNAS_PARAM_SPEC_STRING("candidates", "skip_connect,sep_conv_3x3",
                           "comma-separated op components, each an independent gate on every "
                           "edge ('none' is not allowed: an absent operator is 'none')"),
    CNAS_PARAM_SPEC_BOOL("skip_bn", "true",
                         "supernet: skip_connect at stride 1 is the identity followed by a "
                         "non-affine batch norm, as in the GOLD-NAS search code"),
    CNAS_PARAM_SPEC_BOOL("track_running_stats", "true",
                         "cell batch norms keep running statistics (false: batch statistics "
                         "even in evaluation)"),
    CNAS_PARAM_SPEC_BOOL("auxiliary", "false",
                         "stand-alone network: auxiliary classifier after cell 2*layers/3"),
    CNAS_PARAM_SPEC_BOOL("recompute", "true",
                         "supernet: keep only each edge's output and recompute its operators in "
                         "the backward pass (same gradients, less memory)"),
};

static cnas_status gc_create(const cnas_space_create_args *a, void **self, cnas_error *err)
{
    void *s = NULL;
    cnas_status st = dc_create(a, &s, err);
    if (st)
        return cnas_error_prefix(err, "gold_cell");
    if ((st = gc_validate(s, err))) {
        dc_destroy(s);
        return st;
    }
    *self = s;
    return CNAS_OK;
}

static const cnas_space_vtable gold_cell_vtable = {
    sizeof(cnas_space_vtable), gc_create, dc_destroy, dc_choice_points, dc_forward, dc_tensors,
    gc_derive, gc_format, gc_parse, gc_write_json, gc_write_dot, gc_sample, gc_enumerate_count,
    NULL, /* enumerate: 2^392 architectures at 14 cells */
    dc_cost, dc_candidate_cost,
    NULL, NULL, NULL, /* sample_weighted, log_prob, sample_path */
};

static const cnas_component gold_cell_components[] = {
    CNAS_COMPONENT(CNAS_KIND_SPACE, "gold_cell",
                   "The GOLD-NAS open space: every (cell, edge, op) an independent gate, any "
                   "number of inputs per node (Bi et al. 2020); 2^392 architectures at 14 cells",
                   gold_cell_keys, &gold_cell_vtable),
};

CNAS_PLUGIN("gold_cell", "0.1.0", "The GOLD-NAS open cell search space", "MIT",
            gold_cell_components, NULL)
