/* cnas/ops.h — differentiable kernels.
 *
 * Every function takes the step graph first, returns a new step tensor, and records
 * a backward node when an input requires a gradient (see graph.h). A NULL input or a
 * failed graph gives NULL; a shape mismatch records CNAS_ERR_SHAPE with a message
 * naming the op and the shapes, e.g.
 *   "conv2d: input [8, 3, 32, 32] has 3 channels but weight [16, 4, 3, 3] expects 4 (groups 1)".
 * Layout is NCHW; 2-D tensors are [N, K]. Optional tensors may be NULL.
 *
 * Threads: kernels split their own work with OpenMP; OpenBLAS always runs with one
 * thread inside them (see threads.h), so nothing oversubscribes. */
#ifndef CNAS_OPS_H
#define CNAS_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <cnas/graph.h>
#include <cnas/rng.h>
#include <cnas/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- convolution and linear ----------------------------------------------- */

typedef struct cnas_conv2d_params {
    int stride_h, stride_w;     /* 0 means 1 */
    int pad_h, pad_w;
    int dilation_h, dilation_w; /* 0 means 1 */
    int groups;                 /* 0 means 1; == channels takes the direct depthwise path */
} cnas_conv2d_params;

/* x [N, C_in, H, W], w [C_out, C_in/groups, kh, kw], b [C_out] or NULL. */
cnas_tensor *cnas_conv2d(cnas_graph *g, cnas_tensor *x, cnas_tensor *w, cnas_tensor *b,
                         const cnas_conv2d_params *p);

/* x [N, in] (or any tensor whose trailing dims multiply to in), w [out, in], b [out] or NULL. */
cnas_tensor *cnas_linear(cnas_graph *g, cnas_tensor *x, cnas_tensor *w, cnas_tensor *b);

/* ---- normalisation --------------------------------------------------------- */

typedef struct cnas_batch_norm_params {
    bool training;   /* batch statistics (and running-stat update) vs running statistics */
    float momentum;  /* running = (1-m)·running + m·batch, PyTorch convention; 0 means 0.1 */
    float eps;       /* 0 means 1e-5 */
} cnas_batch_norm_params;

/* x [N, C, H, W] or [N, C]. gamma/beta [C] or NULL (affine off). running_mean /
 * running_var [C] or NULL (track_running_stats off: batch statistics even when not
 * training). In training mode the running statistics are updated with the unbiased
 * batch variance, as PyTorch does. */
cnas_tensor *cnas_batch_norm(cnas_graph *g, cnas_tensor *x, cnas_tensor *gamma, cnas_tensor *beta,
                             cnas_tensor *running_mean, cnas_tensor *running_var,
                             const cnas_batch_norm_params *p);

/* ---- activations ----------------------------------------------------------- */

cnas_tensor *cnas_relu(cnas_graph *g, cnas_tensor *x);
cnas_tensor *cnas_sigmoid(cnas_graph *g, cnas_tensor *x);
cnas_tensor *cnas_tanh(cnas_graph *g, cnas_tensor *x);

/* ---- pooling and resampling ------------------------------------------------ */

typedef struct cnas_pool2d_params {
    int kernel_h, kernel_w;
    int stride_h, stride_w;     /* 0 means the kernel size */
    int pad_h, pad_w;
    bool count_include_pad;     /* avg only; false = divide by the in-bounds count (DARTS) */
} cnas_pool2d_params;

cnas_tensor *cnas_max_pool2d(cnas_graph *g, cnas_tensor *x, const cnas_pool2d_params *p);
cnas_tensor *cnas_avg_pool2d(cnas_graph *g, cnas_tensor *x, const cnas_pool2d_params *p);
/* [N, C, H, W] -> [N, C] */
cnas_tensor *cnas_global_avg_pool(cnas_graph *g, cnas_tensor *x);
/* Nearest-neighbour upsampling by an integer factor. */
cnas_tensor *cnas_upsample_nearest(cnas_graph *g, cnas_tensor *x, int scale);

/* ---- elementwise and structural -------------------------------------------- */

cnas_tensor *cnas_add(cnas_graph *g, cnas_tensor *a, cnas_tensor *b);   /* same shapes */
cnas_tensor *cnas_mul(cnas_graph *g, cnas_tensor *a, cnas_tensor *b);   /* same shapes */
cnas_tensor *cnas_scale(cnas_graph *g, cnas_tensor *x, float s);
/* Σ_i w[i]·x_i over n same-shaped tensors; w holds n elements and receives a
 * gradient when it requires one (the mixed edge of DARTS). */
cnas_tensor *cnas_weighted_sum(cnas_graph *g, int n, cnas_tensor *const *xs, cnas_tensor *w);
/* The mixed edge with weights taken from a weight matrix: Σ_i w[row, cols[i]]·x_i,
 * w of shape [rows, K] (or [K] with row 0); cols == NULL means cols[i] = i. Only
 * the columns used receive a gradient, so pruned candidates cost nothing. */
cnas_tensor *cnas_weighted_sum_cols(cnas_graph *g, int n, cnas_tensor *const *xs, cnas_tensor *w,
                                    int64_t row, const int32_t *cols);
/* Σ_i x_i over n same-shaped tensors. */
cnas_tensor *cnas_sum_n(cnas_graph *g, int n, cnas_tensor *const *xs);
/* Concatenate along channels (dim 1); all other dims equal. */
cnas_tensor *cnas_concat(cnas_graph *g, int n, cnas_tensor *const *xs);
/* Channels [c0, c1) of x. */
cnas_tensor *cnas_slice_channels(cnas_graph *g, cnas_tensor *x, int64_t c0, int64_t c1);
/* Spatial crop [h0, h0+h) x [w0, w0+w) of an NCHW tensor (FactorizedReduce's x[:, :, 1:, 1:]). */
cnas_tensor *cnas_crop(cnas_graph *g, cnas_tensor *x, int64_t h0, int64_t w0, int64_t h, int64_t w);
/* Same data, new shape with the same element count. */
cnas_tensor *cnas_reshape(cnas_graph *g, cnas_tensor *x, int ndim, const int64_t *shape);
/* [N, ...] -> [N, rest] */
cnas_tensor *cnas_flatten(cnas_graph *g, cnas_tensor *x);
/* Scalar reductions, for losses and tests. */
cnas_tensor *cnas_sum(cnas_graph *g, cnas_tensor *x);
cnas_tensor *cnas_mean(cnas_graph *g, cnas_tensor *x);

/* ---- probabilities and losses ---------------------------------------------- */

/* Over the last dimension of a 1-D or 2-D tensor. */
cnas_tensor *cnas_softmax(cnas_graph *g, cnas_tensor *x);
cnas_tensor *cnas_log_softmax(cnas_graph *g, cnas_tensor *x);
/* Mean over the batch of -log softmax(logits)[label], with label smoothing
 * eps: target = (1-eps)·onehot + eps/K. logits [N, K], labels[N] in [0, K). */
cnas_tensor *cnas_cross_entropy(cnas_graph *g, cnas_tensor *logits, const int32_t *labels,
                                float label_smoothing);
/* Mean squared error, mean over all elements. */
cnas_tensor *cnas_mse(cnas_graph *g, cnas_tensor *x, cnas_tensor *target);

/* softmax((logits + Gumbel noise) / tau) over the last dim; with hard, the forward
 * value is the one-hot argmax and the gradient is the soft one (straight-through). */
cnas_tensor *cnas_gumbel_softmax(cnas_graph *g, cnas_tensor *logits, float tau, bool hard,
                                 cnas_rng *rng);

/* ---- regularisation -------------------------------------------------------- */

/* Inverted dropout: zero with probability p, scale survivors by 1/(1-p). Identity
 * when !training or p == 0. */
cnas_tensor *cnas_dropout(cnas_graph *g, cnas_tensor *x, float p, bool training, cnas_rng *rng);
/* Drop whole samples (dim 0) with probability p, scale survivors by 1/(1-p). */
cnas_tensor *cnas_drop_path(cnas_graph *g, cnas_tensor *x, float p, bool training, cnas_rng *rng);

/* ---- shared helpers -------------------------------------------------------- */

/* Output size of a conv / pool along one axis; <= 0 when the window does not fit. */
static inline int64_t cnas_conv_out_size(int64_t in, int k, int stride, int pad, int dilation)
{
    return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

#ifdef __cplusplus
}
#endif
#endif
