/* The cube verifier: the rules IRDL cannot express (shapes, element types, attribute values and ranges,
 * callees of cube.checkpoint, the scope table, unique parameter names). Each failure is reported as an
 * MLIR error diagnostic at the offending op's location, e.g.
 *   model.mlir:12:8: error: 'cube.linear' op weight is 768x512 but input has 768 features
 * Rules and messages are listed in docs/dialect.md. */
#ifndef CUBE_VERIFY_H
#define CUBE_VERIFY_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Verifies every cube op nested in `module` and the module's scope table. Reports every problem it finds
 * (not only the first) and fails if there was at least one. */
MlirLogicalResult cubeVerifyModule(MlirOperation module);

/* Known HF module class names for the scope table (NULL-terminated list), and a lookup. */
extern const char *const cubeKnownModuleTypes[];
bool cubeIsKnownModuleType(MlirStringRef type);

#ifdef __cplusplus
}
#endif
#endif
