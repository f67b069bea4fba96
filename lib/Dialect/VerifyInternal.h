/* Private interface between the verifier's driver (Verify.c: module-level rules, the scope table,
 * parameter names, checkpoint callees) and its per-op rules (VerifyOps.c). Not installed. */
#ifndef CUBE_VERIFY_INTERNAL_H
#define CUBE_VERIFY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

typedef struct CubeVerifier CubeVerifier;

/* Reports "'<op name>' op <message>" as an error at the op's location and counts it. */
void cubeVerifyEmit(CubeVerifier *v, MlirOperation op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Per-op rules of the cube op `op` (operand/result counts and types, attributes, shapes). */
void cubeVerifyCubeOp(CubeVerifier *v, MlirOperation op);

/* Rules of a checkpoint (a func.call marked cube.checkpoint): the callee is a func.func of the module with
 * a body, its types match, and it does not lead back to the caller. */
void cubeVerifyCheckpoint(CubeVerifier *v, MlirOperation op);

/* Finds the module's top-level op whose `sym_name` is `name`. Returns its index among the module's
 * func.func ops (>= 0), -1 when no op has that name, -2 when the op is not a func.func (*other is set). */
intptr_t cubeVerifyFindFunc(CubeVerifier *v, MlirStringRef name, MlirOperation *func, MlirOperation *other);

/* When the checkpoint `op`, calling func #callee, sits (directly or through other checkpoints' callees)
 * inside that same function, writes the cycle ("@a -> @b -> @a") into buf and returns true. */
bool cubeVerifyCheckpointCycle(CubeVerifier *v, MlirOperation op, intptr_t callee, char *buf, size_t size);

/* Printing helpers shared by both files (output is truncated to `size`, always NUL-terminated). */
void cubeVerifyPrintAttr(MlirAttribute a, char *buf, size_t size);
void cubeVerifyPrintType(MlirType t, char *buf, size_t size);
/* "file:line:col" of a location (the first file location inside name/callsite/fused ones). */
void cubeVerifyPrintLoc(MlirLocation loc, char *buf, size_t size);

/* At most this many characters of a user string go into a message. */
#define CUBE_MSG_STR 200
#define CUBE_SR(s) (int)((s).length < CUBE_MSG_STR ? (s).length : CUBE_MSG_STR), (s).data

#endif
