/* The darts plugin's components, gathered in plugin.c. */
#ifndef DARTS_COMPONENTS_H
#define DARTS_COMPONENTS_H

#include <cnas/strategy.h>

extern const cnas_strategy_vtable darts_vtable;
extern const cnas_strategy_vtable lambda_darts_vtable;

#endif
