/* The GOLD-NAS open search space (Bi et al. 2020, docs/gold_nas.md), private
 * declarations.
 *
 * The macro layout and the cell DAG are those of the DARTS space, and so is the code
 * that builds and runs supernets and stand-alone networks: gold_cell compiles
 * darts_cell's supernet.c in (building, forward, tensors, cost). What differs is
 * the meaning of an architecture: every (cell, edge, operator) is an independent
 * choice, so an edge keeps any subset of the operators (0, 1 or all of them), a node
 * any number of inputs, and every cell is its own. An architecture is, per cell, a
 * set of (operator, input, node) triples. In MIXTURE mode an edge outputs
 * sum_o w_o * o(x) over the operators its `arch` mask allows (the strategy passes
 * sigmoid gates, unnormalised), so pruned operators are never run. */
#ifndef GOLD_CELL_H
#define GOLD_CELL_H

#include "darts_cell.h"

/* notation.c */
cnas_status gc_validate(dc_space *s, cnas_error *err);
cnas_status gc_derive(void *self, const float *const *probs, cnas_arch *out, cnas_error *err);
cnas_status gc_format(void *self, const cnas_arch *a, char *buf, size_t n, cnas_error *err);
cnas_status gc_parse(void *self, const char *text, cnas_arch *out, cnas_error *err);
cnas_status gc_write_json(void *self, const cnas_arch *a, FILE *f, cnas_error *err);
cnas_status gc_write_dot(void *self, const cnas_arch *a, const char *dir, int *n_files,
                         cnas_error *err);
cnas_status gc_sample(void *self, cnas_rng *rng, cnas_arch *out, cnas_error *err);
int64_t gc_enumerate_count(void *self);
/* log10 of the number of architectures: every subset of gates (`every_node_fed` false),
 * or only those where every node keeps at least one incoming operator. */
double gc_log10_candidates(const dc_space *s, bool every_node_fed);

#endif
