/* Small helpers so that passes never assemble MlirOperationState by hand for common cases: recognise
 * cube ops, read and write their attributes safely, build ops, walk ops of a kind, get/set scopes and
 * read the module's scope table.
 *
 * Every getter checks the attribute's kind before reading it: some MLIR C getters abort on an attribute
 * of the wrong kind, and cube tools must never abort on bad input. */
#ifndef CUBE_OPS_H
#define CUBE_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUBE_STR(s) mlirStringRefCreateFromCString(s)

/* ---- recognising ops ---------------------------------------------------------------------------- */

/* True when `op` is "cube.<mnemonic>" (e.g. cubeIsOp(op, "linear")). */
bool cubeIsOp(MlirOperation op, const char *mnemonic);
/* True when `op` belongs to the cube dialect. */
bool cubeIsCubeOp(MlirOperation op);
/* True when the op's full name equals `name` (e.g. "func.func"). */
bool cubeOpNameIs(MlirOperation op, const char *name);
/* True for a checkpoint: a `func.call` carrying the unit attribute `cube.checkpoint` (its callee's
 * activations are recomputed in the backward pass instead of kept). */
bool cubeIsCheckpoint(MlirOperation op);
/* Marks a func.call as a checkpoint. */
void cubeMarkCheckpoint(MlirOperation call);

/* ---- reading attributes (false when missing or of another kind) --------------------------------- */

bool cubeGetF64Attr(MlirOperation op, const char *name, double *out);
bool cubeGetI64Attr(MlirOperation op, const char *name, int64_t *out);
bool cubeGetBoolAttr(MlirOperation op, const char *name, bool *out);
bool cubeGetStrAttr(MlirOperation op, const char *name, MlirStringRef *out);
/* A DenseI64ArrayAttr: *n gets its length and the first min(*n, cap) elements are copied to buf. */
bool cubeGetI64ArrayAttr(MlirOperation op, const char *name, int64_t *buf, intptr_t cap, intptr_t *n);
bool cubeHasAttr(MlirOperation op, const char *name);

/* ---- writing attributes ------------------------------------------------------------------------- */

void cubeSetF64Attr(MlirOperation op, const char *name, double v);
void cubeSetI64Attr(MlirOperation op, const char *name, int64_t v);
void cubeSetBoolAttr(MlirOperation op, const char *name, bool v);
void cubeSetStrAttr(MlirOperation op, const char *name, const char *v);

/* Named attributes for cubeBuildOp. */
MlirNamedAttribute cubeNamedF64(MlirContext ctx, const char *name, double v);
MlirNamedAttribute cubeNamedI64(MlirContext ctx, const char *name, int64_t v);
MlirNamedAttribute cubeNamedBool(MlirContext ctx, const char *name, bool v);
MlirNamedAttribute cubeNamedStr(MlirContext ctx, const char *name, const char *v);
MlirNamedAttribute cubeNamedI64Array(MlirContext ctx, const char *name, intptr_t n, const int64_t *v);

/* ---- building ops ------------------------------------------------------------------------------- */

/* Creates "cube.<mnemonic>" with the given operands, one result of `resultType` (pass a null type for
 * none) and attributes. The op is not inserted anywhere: use cubeInsertBefore or a rewriter. */
MlirOperation cubeBuildOp(MlirLocation loc, const char *mnemonic, intptr_t nOperands,
                          const MlirValue *operands, MlirType resultType, intptr_t nAttrs,
                          const MlirNamedAttribute *attrs);
/* cube.param: `name` is the HF state_dict key, `init` an init spec (cube/InitSpec.h). */
MlirOperation cubeBuildParam(MlirLocation loc, MlirType type, const char *name, const char *init,
                             bool trainable);
/* Inserts `op` right before `anchor` in the anchor's block. Returns `op`. */
MlirOperation cubeInsertBefore(MlirOperation anchor, MlirOperation op);

/* ---- walking ------------------------------------------------------------------------------------ */

typedef void (*CubeOpCallback)(MlirOperation op, void *userData);
/* Calls `fn` on every op nested in `root` (pre-order) whose full name is `name`; `name` NULL = all. */
void cubeWalkOps(MlirOperation root, const char *name, CubeOpCallback fn, void *userData);
/* Calls `fn` on every op of the cube dialect nested in `root`. */
void cubeWalkCubeOps(MlirOperation root, CubeOpCallback fn, void *userData);

/* ---- scopes ------------------------------------------------------------------------------------- */

/* The op's `cube.scope` (HF module path, e.g. "model.layers.0.self_attn.q_proj"); false if none. */
bool cubeGetScope(MlirOperation op, MlirStringRef *out);
void cubeSetScope(MlirOperation op, const char *path);

/* The module's scope table `cube.modules = [["", "LlamaForCausalLM"], ["model", "LlamaModel"], ...]`:
 * number of well-formed entries (0 when there is no table), and entry i's path and module type. */
intptr_t cubeScopeTableSize(MlirOperation module);
bool cubeScopeTableEntry(MlirOperation module, intptr_t i, MlirStringRef *path, MlirStringRef *type);
/* The module type of `path` in the table; false if the path is not there. */
bool cubeScopeTableLookup(MlirOperation module, MlirStringRef path, MlirStringRef *type);

/* ---- locations ---------------------------------------------------------------------------------- */

/* The file, line and column of a location: directly, or the first file location inside a name, call-site
 * or fused location. False when there is none (an unknown location). */
bool cubeLocationFileLineCol(MlirLocation loc, MlirStringRef *file, unsigned *line, unsigned *col);

/* ---- types -------------------------------------------------------------------------------------- */

/* True for a ranked tensor with a static shape. */
bool cubeIsStaticTensor(MlirType t);
/* Number of elements of a static tensor type (0 if not one). */
int64_t cubeTensorNumElements(MlirType t);
/* Writes a shape like "768x512" (no element type) or "768x512xf32" (with) into buf. */
void cubeFormatShape(MlirType t, bool withElementType, char *buf, size_t bufSize);

#ifdef __cplusplus
}
#endif
#endif
