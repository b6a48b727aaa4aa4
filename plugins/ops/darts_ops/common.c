/* What every DARTS op shares beyond the op kit (cnas/opkit.h): the instance itself. */
#include "darts_ops.h"

cnas_status dop_new(const char *op, const cnas_op_args *a, dop_op **out, cnas_error *err)
{
    void *p;
    cnas_status st = cnas_opkit_new(op, a, sizeof **out, &p, err);
    if ((*out = p))
        (*out)->dilation = 1;
    return st;
}
