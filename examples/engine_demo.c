/* cnas-demo: the engine on its own. A three-layer CNN built from core kernels
 * learns to tell generated Gaussian blobs apart by where they sit (four quadrants
 * crossed with two sizes: eight classes), printing the loss as it falls and the
 * held-out accuracy at the end. */
#include <cnas/cnas.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIDE 16
#define CLASSES 8
#define BATCH 64

static void blob(cnas_rng *r, float *img, int32_t *label)
{
    int c = (int)cnas_rng_below(r, CLASSES);
    float cy = (c & 1) ? 11.0f : 4.5f, cx = (c & 2) ? 11.0f : 4.5f, s = (c & 4) ? 3.0f : 1.5f;
    cy += cnas_rng_normal(r);
    cx += cnas_rng_normal(r);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float d2 = ((float)y - cy) * ((float)y - cy) + ((float)x - cx) * ((float)x - cx);
            img[y * SIDE + x] = expf(-d2 / (2 * s * s)) + 0.25f * cnas_rng_normal(r);
        }
    *label = c;
}

typedef struct net {
    cnas_tensor *c1, *c2, *fc, *fb, *g1, *b1, *m1, *v1, *g2, *b2, *m2, *v2;
} net;

static cnas_tensor *forward(net *n, cnas_graph *g, cnas_tensor *x, bool train)
{
    cnas_conv2d_params c = {.pad_h = 1, .pad_w = 1};
    cnas_conv2d_params down = {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    cnas_batch_norm_params bn = {.training = train};
    cnas_tensor *h = cnas_relu(g, cnas_batch_norm(g, cnas_conv2d(g, x, n->c1, NULL, &c), n->g1,
                                                  n->b1, n->m1, n->v1, &bn));
    h = cnas_relu(g, cnas_batch_norm(g, cnas_conv2d(g, h, n->c2, NULL, &down), n->g2, n->b2, n->m2,
                                     n->v2, &bn));
    return cnas_linear(g, cnas_global_avg_pool(g, h), n->fc, n->fb);
}

int main(void)
{
    cnas_error err;
    int threads = cnas_threads_set(0);
    printf("cnas %s engine demo: %d threads, OpenBLAS core %s\n", cnas_version(), threads,
           cnas_blas_core());
    cnas_rng init, data;
    cnas_rng_init(&init, 1, "init");
    cnas_rng_init(&data, 1, "data");
    net n;
    cnas_tensor **all[] = {&n.c1, &n.c2, &n.fc, &n.fb, &n.g1, &n.b1, &n.m1, &n.v1, &n.g2, &n.b2, &n.m2, &n.v2};
    n.c1 = cnas_tensor_new(CNAS_SHAPE(16, 1, 3, 3), &err);
    n.c2 = cnas_tensor_new(CNAS_SHAPE(32, 16, 3, 3), &err);
    n.fc = cnas_tensor_new(CNAS_SHAPE(CLASSES, 32), &err);
    n.fb = cnas_tensor_new(CNAS_SHAPE(CLASSES), &err);
    n.g1 = cnas_tensor_new(CNAS_SHAPE(16), &err);
    n.b1 = cnas_tensor_new(CNAS_SHAPE(16), &err);
    n.m1 = cnas_tensor_new(CNAS_SHAPE(16), &err);
    n.v1 = cnas_tensor_new(CNAS_SHAPE(16), &err);
    n.g2 = cnas_tensor_new(CNAS_SHAPE(32), &err);
    n.b2 = cnas_tensor_new(CNAS_SHAPE(32), &err);
    n.m2 = cnas_tensor_new(CNAS_SHAPE(32), &err);
    n.v2 = cnas_tensor_new(CNAS_SHAPE(32), &err);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!*all[i]) {
            fprintf(stderr, "cnas-demo: %s\n", err.msg);
            return 1;
        }
    cnas_init_default_weight(n.c1, &init);
    cnas_init_default_weight(n.c2, &init);
    cnas_init_default_weight(n.fc, &init);
    cnas_init_default_bias(n.fb, 32, &init);
    cnas_tensor_fill(n.g1, 1.0f);
    cnas_tensor_fill(n.g2, 1.0f);
    cnas_tensor_fill(n.v1, 1.0f);
    cnas_tensor_fill(n.v2, 1.0f);
    cnas_tensor *params[] = {n.c1, n.c2, n.fc, n.fb, n.g1, n.b1, n.g2, n.b2};
    for (int i = 0; i < 8; i++)
        cnas_tensor_set_requires_grad(params[i], true);
    cnas_optim *opt = cnas_sgd_new(params, 8, &(cnas_sgd_opts){.momentum = 0.9f, .weight_decay = 5e-4f}, &err);
    cnas_graph *g = cnas_graph_new(&err);
    if (!opt || !g) {
        fprintf(stderr, "cnas-demo: %s\n", err.msg);
        return 1;
    }
    const int steps = 400;
    cnas_schedule sched = {CNAS_SCHED_COSINE, 0.1f, 0.001f, steps};
    int32_t labels[BATCH];
    double t0 = (double)clock();
    double running = 0;
    for (int step = 0; step < steps; step++) {
        cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(BATCH, 1, SIDE, SIDE));
        for (int i = 0; x && i < BATCH; i++)
            blob(&data, x->data + i * SIDE * SIDE, &labels[i]);
        cnas_optim_zero_grad(opt);
        cnas_tensor *loss = cnas_cross_entropy(g, forward(&n, g, x, true), labels, 0.0f);
        if (!loss || cnas_backward(g, loss) || cnas_optim_step(opt, cnas_schedule_lr(&sched, step), &err)) {
            fprintf(stderr, "cnas-demo: %s\n", loss ? err.msg : cnas_graph_error(g)->msg);
            return 1;
        }
        running = step ? 0.9 * running + 0.1 * loss->data[0] : loss->data[0];
        if (step % 50 == 0 || step == steps - 1)
            printf("step %4d  loss %.4f\n", step, running);
        cnas_graph_reset(g);
    }
    cnas_graph_set_grad_enabled(g, false);
    int correct = 0, total = 0;
    for (int b = 0; b < 16; b++) {
        cnas_tensor *x = cnas_graph_tensor(g, CNAS_SHAPE(BATCH, 1, SIDE, SIDE));
        for (int i = 0; i < BATCH; i++)
            blob(&data, x->data + i * SIDE * SIDE, &labels[i]);
        cnas_tensor *logits = forward(&n, g, x, false);
        for (int i = 0; logits && i < BATCH; i++) {
            int best = 0;
            for (int k = 1; k < CLASSES; k++)
                if (logits->data[i * CLASSES + k] > logits->data[i * CLASSES + best])
                    best = k;
            correct += best == labels[i];
            total++;
        }
        cnas_graph_reset(g);
    }
    printf("held-out accuracy %.3f (chance %.3f); peak step memory %.1f MiB; %.1f s of CPU\n",
           (double)correct / total, 1.0 / CLASSES, (double)cnas_graph_peak_bytes(g) / (1 << 20),
           ((double)clock() - t0) / CLOCKS_PER_SEC);
    cnas_graph_free(g);
    cnas_optim_free(opt);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cnas_tensor_free(*all[i]);
    return correct * 2 > total ? 0 : 1;
}
