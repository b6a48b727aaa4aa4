/* Optimizer state in checkpoints, shared by every strategy and the trainer. */
#include <cnas/optim.h>

#include <stdio.h>

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
    return st;
}
