/* cnas/cnas.h — the cnas SDK in one include.
 *
 * cnas is a neural architecture search toolkit: a host program loads plugins
 * (ops, search spaces, strategies, datasets) that all build on this library.
 *
 *   status.h    status codes and error messages (nothing here exits or aborts)
 *   tensor.h    float32 NCHW tensors; persistent vs step lifetimes
 *   graph.h     the step graph: activation arena + define-by-run autograd tape
 *   ops.h       differentiable kernels (conv, BN, pools, softmax, losses, ...)
 *   optim.h     SGD / Adam, clipping, schedules, PyTorch-default init
 *   rng.h       seeded counter-based random streams, checkpointable
 *   threads.h   the threading scheme (OpenMP owns threads, BLAS single-threaded)
 *   gradcheck.h finite-difference gradient checks for op authors
 *   checkpoint.h the checkpoint file format, written atomically
 *   params.h    component parameter schemas and validated values
 *   plugin.h    the plugin ABI: descriptors, components, CNAS_PLUGIN()
 *   dataset.h   the dataset component contract
 *   data.h      the data pipeline: splits, batches, augmentation, prefetch
 *   op.h        the op component contract (the DARTS factory)
 *   arch.h      discrete architectures: a candidate mask per choice point
 *   space.h     the search space component contract
 *   bilevel.h   gradient passes, finite-difference HVP, the DARTS unrolled step
 *   strategy.h  the search strategy contract and the host services it runs on
 *   metrics.h   per-step and per-epoch metrics as JSON lines and CSV
 *   rankcorr.h  Kendall tau and Spearman rho between two rankings
 *   trainer.h   training a stand-alone network from scratch
 *   registry.h  loading plugins and finding their components
 *   config.h    INI configurations: includes, overrides, validation
 *   log.h       levelled logging and the stop flag
 *   search.h    running a search or a retraining on the host services
 *
 * A worked example: fit f(x) = relu(x·w) to targets with SGD.
 *
 *     cnas_error err;
 *     cnas_tensor *w = cnas_tensor_new(CNAS_SHAPE(1, 4), &err);   // [out, in]
 *     cnas_tensor_set_requires_grad(w, true);
 *     cnas_optim *opt = cnas_sgd_new(&w, 1, &(cnas_sgd_opts){.momentum = 0.9f}, &err);
 *     cnas_graph *g = cnas_graph_new(&err);
 *     for (int step = 0; step < 100; step++) {
 *         cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(8, 4));  // fill x->data
 *         cnas_tensor *t = cnas_graph_tensor(g, CNAS_SHAPE(8, 1));  // fill t->data
 *         cnas_tensor *loss = cnas_mse(g, cnas_relu(g, cnas_linear(g, x, w, NULL)), t);
 *         cnas_optim_zero_grad(opt);
 *         if (!loss || cnas_backward(g, loss)) { puts(cnas_graph_error(g)->msg); break; }
 *         cnas_optim_step(opt, 0.1f, &err);
 *         cnas_graph_reset(g);   // the arena is reused: no allocation after step 0
 *     }
 *
 * Ownership: whoever creates frees (cnas_tensor_free, cnas_graph_free,
 * cnas_optim_free). Step tensors belong to their graph and die at reset. Pointers
 * documented as borrowed are not freed by the callee.
 */
#ifndef CNAS_CNAS_H
#define CNAS_CNAS_H

#include <cnas/status.h>
#include <cnas/tensor.h>
#include <cnas/graph.h>
#include <cnas/rng.h>
#include <cnas/ops.h>
#include <cnas/optim.h>
#include <cnas/threads.h>
#include <cnas/gradcheck.h>
#include <cnas/params.h>
#include <cnas/plugin.h>
#include <cnas/dataset.h>
#include <cnas/generator.h>
#include <cnas/data.h>
#include <cnas/op.h>
#include <cnas/opkit.h>
#include <cnas/version.h>
#include <cnas/checkpoint.h>
#include <cnas/arch.h>
#include <cnas/space.h>
#include <cnas/bilevel.h>
#include <cnas/strategy.h>
#include <cnas/metrics.h>
#include <cnas/rankcorr.h>
#include <cnas/trainer.h>
#include <cnas/registry.h>
#include <cnas/config.h>
#include <cnas/log.h>
#include <cnas/search.h>

#endif
