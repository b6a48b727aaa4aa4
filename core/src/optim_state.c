/* Optimizer state in checkpoints, shared by every strategy and the trainer.
 *
 * Besides the step count and the state buffers, a checkpoint records which
 * parameters have a gradient buffer. The optimizers skip a parameter whose grad is
 * NULL, as PyTorch skips one with no .grad; once a parameter has had a gradient its
 * buffer stays (zeroed before each pass, PyTorch 1.x zero_grad semantics), so SGD
 * keeps applying momentum and weight decay to an op that a single-path strategy
 * sampled once and not since. A resumed run must see the same set of buffers, or
 * those parameters would be frozen until sampled again and the run would diverge
 * from the uninterrupted one. The buffers come back zeroed: every pass zeroes the
 * gradients it computes before accumulating (cnas_grad_pass), so their old values
 * are never read. */
#include <cnas/optim.h>

#include <stdio.h>
#include <stdlib.h>

cnas_status cnas_optim_save(cnas_optim *o, cnas_ckpt *ck, const char *prefix, cnas_error *err)
{
    char name[160];
    snprintf(name, sizeof name, "%s.steps", prefix);
    cnas_status st = cnas_ckpt_put_i64(ck, name, cnas_optim_steps(o), err);
    int per = cnas_optim_state_buffers_per_param(o);
    for (int i = 0; !st && i < cnas_optim_param_count(o); i++)
        for (int k = 0; !st && k < per; k++) {
            float *buf = cnas_optim_state_buffer(o, i, k, false);
            if (!buf)
                continue;
            snprintf(name, sizeof name, "%s.%d.%d", prefix, i, k);
            st = cnas_ckpt_put_blob(ck, name, buf, cnas_tensor_bytes(cnas_optim_param(o, i)), err);
        }
    int n = cnas_optim_param_count(o);
    if (st || n == 0)
        return st;
    unsigned char *has = malloc((size_t)n);
    if (!has)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", prefix);
    for (int i = 0; i < n; i++)
        has[i] = cnas_optim_param(o, i)->grad != NULL;
    snprintf(name, sizeof name, "%s.has_grad", prefix);
    st = cnas_ckpt_put_blob(ck, name, has, (size_t)n, err);
    free(has);
    return st;
}

cnas_status cnas_optim_load(cnas_optim *o, const cnas_ckpt *ck, const char *prefix, cnas_error *err)
{
    char name[160];
    int64_t steps;
    snprintf(name, sizeof name, "%s.steps", prefix);
    cnas_status st = cnas_ckpt_get_i64(ck, name, &steps, err);
    if (st)
        return st;
    cnas_optim_set_steps(o, steps);
    int per = cnas_optim_state_buffers_per_param(o);
    for (int i = 0; !st && i < cnas_optim_param_count(o); i++)
        for (int k = 0; !st && k < per; k++) {
            snprintf(name, sizeof name, "%s.%d.%d", prefix, i, k);
            if (!cnas_ckpt_has(ck, name))
                continue;
            float *buf = cnas_optim_state_buffer(o, i, k, true);
            if (!buf)
                return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", prefix);
            st = cnas_ckpt_get_blob(ck, name, buf, cnas_tensor_bytes(cnas_optim_param(o, i)), err);
        }
    int n = cnas_optim_param_count(o);
    snprintf(name, sizeof name, "%s.has_grad", prefix);
    if (st || n == 0 || !cnas_ckpt_has(ck, name)) /* checkpoints before the record: as before */
        return st;
    unsigned char *has = malloc((size_t)n);
    if (!has)
        return cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", prefix);
    st = cnas_ckpt_get_blob(ck, name, has, (size_t)n, err);
    for (int i = 0; !st && i < n; i++) {
        cnas_tensor *t = cnas_optim_param(o, i);
        if (has[i] && !cnas_tensor_grad_buffer(t))
            st = cnas_error_set(err, CNAS_ERR_NOMEM, "%s: out of memory", prefix);
        else if (has[i])
            cnas_tensor_zero_grad(t);
    }
    free(has);
    return st;
}
