/* cnas/trainer.h — training a stand-alone network from scratch.
 *
 * The trainer runs on the same host services as a search (strategy.h): env->space
 * is a network built from an architecture, env->train the recipe ([train]). It is
 * itself a strategy-shaped component, so the host drives retraining exactly like
 * a search: same data pipeline, metrics, checkpoints and resume.
 *
 * Each step: logits = net(x) with drop-path p·epoch/epochs (DARTS train.py),
 * loss = CE(logits) + auxiliary_weight·CE(aux logits) when the network has an
 * auxiliary head, gradient clipping, SGD with the schedule. After each epoch the
 * network is evaluated on the test split (or validation, when one exists). */
#ifndef CNAS_TRAINER_H
#define CNAS_TRAINER_H

#include <cnas/strategy.h>

#ifdef __cplusplus
extern "C" {
#endif

const cnas_strategy_vtable *cnas_trainer_vtable(void);

/* The trainer's own keys (none today; the recipe lives in [train]). */
extern const cnas_param_spec cnas_trainer_keys[];
extern const int cnas_trainer_n_keys;

#ifdef __cplusplus
}
#endif
#endif
