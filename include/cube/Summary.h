/* A JSON summary of a cube module, what `cube-opt --cube-summary` prints. Keys (tests and users rely on
 * them): params (count), param_elements, trainable_elements, ops (op name -> count, every op nested in
 * the module), modules (module type -> instance count, from the scope table), checkpoints (number of
 * func.call ops marked cube.checkpoint), functions (number of func.func ops). */
#ifndef CUBE_SUMMARY_H
#define CUBE_SUMMARY_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the summary as a malloc'ed, pretty-printed JSON text (free with free()), or NULL when out of
 * memory. */
char *cubeSummaryJson(MlirOperation module);

#ifdef __cplusplus
}
#endif
#endif
