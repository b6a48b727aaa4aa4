/* The nb201_cell plugin: component schema and vtable. */
#include "nb201_cell.h"

static const cnas_param_spec nb201_cell_keys[] = {
    CNAS_PARAM_SPEC_INT("init_channels", "16", 1, 1024,
                        "channels C of the first stage (2C and 4C in the next two)"),
    CNAS_PARAM_SPEC_INT("cells_per_stage", "5", 1, 64,
                        "cells N per stage; a stride-2 residual block sits between stages"),
    CNAS_PARAM_SPEC_INT("stages", "3", 1, 3,
                        "stages of cells (the reference's 3); fewer leave out the later stages "
                        "and their residual blocks, so the cell carries the network (toy spaces)"),
    CNAS_PARAM_SPEC_INT("nodes", "4", 2, 4,
                        "nodes per cell (the reference's max_nodes): node 0 the input, the last "
                        "the output, an edge i<-j for every j < i, nodes(nodes-1)/2 edges; 4 is "
                        "the benchmark's cell, fewer give small toy spaces"),
    CNAS_PARAM_SPEC_STRING("candidates", "none,skip_connect,nor_conv_1x1,nor_conv_3x3,avg_pool_3x3",
                           "comma-separated op components on every edge, in weight-column order "
                           "(the reference's five by default)"),
    CNAS_PARAM_SPEC_BOOL("track_running_stats", "true",
                         "supernet: the cells' batch norms keep running statistics (false: batch "
                         "statistics even in evaluation, the reference's BN0 setting)"),
    CNAS_PARAM_SPEC_BOOL("affine", "false",
                         "supernet: the cells' batch norms have a learnable scale and shift (the "
                         "reference searches without; its convolutions then carry a bias)"),
    CNAS_PARAM_SPEC_BOOL("recompute", "true",
                         "keep only each mixed edge's output (supernet) or each convolution's "
                         "(network, single path) and recompute the rest in the backward pass "
                         "(same gradients, less memory)"),
    CNAS_PARAM_SPEC_CHOICE("index_order", "generation", "generation|benchmark",
                           "enumeration order: generation (Structure.gen_all: the last edge "
                           "varies fastest) or benchmark (the NAS-Bench-201 API index; only "
                           "with nodes = 4 and the five reference candidates)"),
};

static const cnas_space_vtable nb201_cell_vtable = {
    sizeof(cnas_space_vtable), nb_create, nb_destroy, nb_choice_points, nb_forward, nb_tensors,
    nb_derive, nb_format, nb_parse, nb_write_json, nb_write_dot, nb_sample, nb_enumerate_count,
    nb_enumerate, nb_cost, nb_candidate_cost, nb_sample_weighted, nb_log_prob, nb_sample_path,
};

static const cnas_component nb201_cell_components[] = {
    CNAS_COMPONENT(CNAS_KIND_SPACE, NB_NAME,
                   "The NAS-Bench-201 cell space: one cell of 4 nodes and 6 edges (key nodes: 2 "
                   "to 4) shared by 3 stages of N cells (Dong & Yang 2020); needs the nb201_ops "
                   "and darts_ops plugins",
                   nb201_cell_keys, &nb201_cell_vtable),
};

CNAS_PLUGIN(NB_NAME, "0.1.0", "The NAS-Bench-201 cell search space", "MIT",
            nb201_cell_components, NULL)
