#include <cnas/plugin.h>

const char *cnas_kind_str(cnas_kind k)
{
    switch (k) {
    case CNAS_KIND_OP: return "op";
    case CNAS_KIND_SPACE: return "space";
    case CNAS_KIND_STRATEGY: return "strategy";
    case CNAS_KIND_DATASET: return "dataset";
    case CNAS_KIND_GENERATOR: return "generator";
    }
    return "unknown kind";
}
