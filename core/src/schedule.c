#include <cnas/optim.h>

#include <math.h>
#include <string.h>

float cnas_schedule_lr(const cnas_schedule *s, int64_t t)
{
    if (s->kind == CNAS_SCHED_CONSTANT || s->total <= 0)
        return s->base_lr;
    if (t > s->total)
        t = s->total;
    if (t < 0)
        t = 0;
    double frac = (double)t / (double)s->total;
    if (s->kind == CNAS_SCHED_COSINE)
        return (float)(s->min_lr + (s->base_lr - s->min_lr) * (1.0 + cos(M_PI * frac)) / 2.0);
    return (float)(s->base_lr + (s->min_lr - s->base_lr) * frac);
}

cnas_status cnas_schedule_parse(const char *name, cnas_schedule_kind *out, cnas_error *err)
{
    static const char *const names[] = {"constant", "cosine", "linear"};
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (cnas_schedule_kind)i;
            return CNAS_OK;
        }
    return cnas_error_set(err, CNAS_ERR_CONFIG, "learning-rate schedule '%s': expected constant, "
                          "cosine or linear", name ? name : "(null)");
}
