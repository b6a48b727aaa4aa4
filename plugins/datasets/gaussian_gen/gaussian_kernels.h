/* The Gaussian generator's two differentiable kernels, also compiled into
 * tests/test_generators.c for their finite-difference checks. */
#ifndef GAUSSIAN_KERNELS_H
#define GAUSSIAN_KERNELS_H

#include <cnas/graph.h>
#include <cnas/rng.h>

/* x_i = mu[y_i] + T·exp(log_sigma[y_i])·ε_i, ε_i ~ N(0, I) drawn from rng in order
 * (n·D normals); mu, log_sigma [K, D]; the output has the given 4-D shape (n·D
 * elements). Gradients reach mu and log_sigma. */
cnas_tensor *cnas_gauss_sample(cnas_graph *g, cnas_tensor *mu, cnas_tensor *log_sigma,
                               const int32_t *labels, int64_t n, float T, cnas_rng *rng,
                               const int64_t shape[4]);
/* Mean over the batch and the D dimensions of the Gaussian negative log-likelihood
 * without its constant: 0.5·(x - μ_y)²·exp(-2·log σ_y) + log σ_y. x [n, ...] has no
 * gradient; gradients reach mu and log_sigma. */
cnas_tensor *cnas_gauss_nll(cnas_graph *g, cnas_tensor *x, cnas_tensor *mu, cnas_tensor *log_sigma,
                            const int32_t *labels);

#endif
