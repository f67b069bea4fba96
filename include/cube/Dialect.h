/* The cube dialect: loading it into a context, and the context every cube tool uses.
 *
 * The dialect is defined in IRDL (lib/Dialect/cube.irdl.mlir), embedded into libcube at build time
 * and loaded with mlirLoadIRDLDialects. IRDL checks operand counts and attribute kinds; shapes and
 * value ranges are checked by the C verifier (cube/Verify.h). */
#ifndef CUBE_DIALECT_H
#define CUBE_DIALECT_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The IRDL text of the dialect (NUL-terminated), as embedded at build time. */
extern const char cube_irdl_text[];

/* Registers every upstream dialect, pass and LLVM translation (once per process), creates a context
 * with all of them loaded and loads the cube dialect into it. Returns a null context (and prints the
 * reason to stderr) only if the embedded IRDL fails to load, which is a build bug. */
MlirContext cubeContextCreate(void);

/* Loads the cube dialect into an existing context (idempotent: a second call does nothing). */
MlirLogicalResult cubeLoadDialect(MlirContext ctx);

/* Library version, "MAJOR.MINOR.PATCH". */
const char *cubeVersion(void);

#ifdef __cplusplus
}
#endif
#endif
