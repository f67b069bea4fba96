/* Helpers shared by the model-rewriting passes (cube-lora, cube-recompute): a growable string, scope-path
 * arithmetic (relative scopes of outlined functions), reading and writing the scope table as a whole,
 * the module's functions (forward vs outlined), symbol names, and appending function arguments.
 *
 * Outlined functions (written by cube-recompute) are the module's func.func ops that carry
 * `cube.instance_type = "<ModuleType>"`; the ops inside them carry cube.scope relative to the instance
 * that a checkpoint (`func.call @f(...) {cube.checkpoint, cube.scope = "<instance path>"}`) calls them
 * for. Every other func.func of the module is a "forward" function whose scopes are absolute. */
#ifndef CUBE_REWRITE_H
#define CUBE_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- a growable, always NUL-terminated string ---------------------------------------------------------- */

typedef struct {
  char *s;
  size_t len, cap;
  bool oom; /* an allocation failed; the text is truncated */
} CubeBuf;

void cubeBufAppendN(CubeBuf *b, const char *t, size_t n);
void cubeBufAppend(CubeBuf *b, const char *t);
void cubeBufAppendRef(CubeBuf *b, MlirStringRef r);
void cubeBufPrintf(CubeBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cubeBufClear(CubeBuf *b); /* keeps the allocation */
void cubeBufFree(CubeBuf *b);
/* The text ("" when nothing was appended). */
const char *cubeBufStr(const CubeBuf *b);

/* Grows the array *v (of elements of `elem` bytes, capacity *cap) to hold at least `need` elements,
 * doubling; false when out of memory (the array is then unchanged). */
bool cubeGrow(void **v, size_t *cap, size_t need, size_t elem);

/* A growable list of ops (free v when done). */
typedef struct {
  MlirOperation *v;
  size_t n, cap;
} CubeOpList;
/* Appends op; false when out of memory. */
bool cubeOpListPush(CubeOpList *l, MlirOperation op);
/* Appends every op named `name` nested in root, in walk order: collect first, then rewrite. */
void cubeCollectOps(MlirOperation root, const char *name, CubeOpList *out);

/* A malloc'ed NUL-terminated copy of a string ref (NULL when out of memory). */
char *cubeStrDupRef(MlirStringRef r);
bool cubeRefEq(MlirStringRef a, const char *b);

/* ---- scope paths --------------------------------------------------------------------------------------- */

/* True when `scope` is `prefix` or lies below it (starts with prefix + "."); every scope lies below the
 * root "". *rel (optional) gets the part relative to prefix: "" for prefix itself, "x.y" for prefix.x.y. */
bool cubeScopeWithin(MlirStringRef scope, MlirStringRef prefix, MlirStringRef *rel);
/* Writes base + "." + rel into out (just one of them when the other is ""). */
void cubeScopeJoin(MlirStringRef base, MlirStringRef rel, CubeBuf *out);

/* ---- the scope table as a whole ------------------------------------------------------------------------ */

typedef struct {
  char *path, *type;
} CubeScopeEntry;

/* Copies the well-formed entries of `cube.modules` (in table order); *n = 0 and NULL when there is no
 * table. Free with cubeScopeTableFree. */
CubeScopeEntry *cubeScopeTableRead(MlirOperation module, intptr_t *n);
/* Replaces `cube.modules` with the given entries. */
void cubeScopeTableWrite(MlirOperation module, const CubeScopeEntry *entries, intptr_t n);
void cubeScopeTableFree(CubeScopeEntry *entries, intptr_t n);

/* ---- the module's functions ---------------------------------------------------------------------------- */

/* The module's body block (null when it has none). */
MlirBlock cubeModuleBody(MlirOperation module);
/* True for a func.func written by cube-recompute (it has a string `cube.instance_type`). */
bool cubeIsOutlinedFunc(MlirOperation op);
/* The entry block of a func.func (false for a declaration or another op). */
bool cubeFuncEntryBlock(MlirOperation func, MlirBlock *out);
/* Whether every use of v, other than by `except` (may be null), comes after `after` in after's block (a use
 * nested in a region counts at its ancestor in that block). *any (optional): whether v has such a use. */
bool cubeUsesAfter(MlirValue v, MlirOperation after, MlirOperation except, bool *any);
/* The module's top-level func.func named `name`, or a null op. */
MlirOperation cubeLookupFunc(MlirOperation module, MlirStringRef name);
/* ---- checkpoints: func.call marked cube.checkpoint (the one place that builds them) -------------------- */

/* cubeIsCheckpoint (a func.call marked cube.checkpoint) is in cube/Ops.h. */
/* The callee symbol of a checkpoint (false when it is none or has no flat symbol `callee`). */
bool cubeCheckpointCallee(MlirOperation checkpoint, MlirStringRef *name);
/* Creates (does not insert) `outputs = func.call @callee(inputs) {cube.checkpoint, cube.scope = scope}`. */
MlirOperation cubeBuildCheckpoint(MlirLocation loc, const char *callee, intptr_t nInputs,
                                  const MlirValue *inputs,
                                  intptr_t nOutputs, const MlirType *outputTypes, const char *scope);
/* Points a checkpoint at another function. */
void cubeSetCheckpointCallee(MlirOperation checkpoint, const char *callee);
/* Writes into out the first of base, base_1, base_2, ... that no top-level op of the module uses as its
 * sym_name. */
void cubeFreshSymbol(MlirOperation module, const char *base, CubeBuf *out);
/* Appends arguments of the given types to a func.func: to its entry block and to its function_type.
 * args (optional) receives the new block arguments. False (nothing changed) when `func` is not a
 * func.func with a body and a function type. */
bool cubeFuncAppendArgs(MlirOperation func, intptr_t n, const MlirType *types, MlirLocation loc,
                        MlirValue *args);

/* ---- printing ------------------------------------------------------------------------------------------ */

/* The op printed on its own (SSA names local to it, no locations), malloc'ed; NULL when out of memory.
 * Two outlined functions with equal texts are the same function. */
char *cubePrintOpLocal(MlirOperation op);

/* ---- hashing ------------------------------------------------------------------------------------------- */

/* 64-bit FNV-1a of n bytes, continuing from h (start with CUBE_FNV_INIT). */
#define CUBE_FNV_INIT 0xcbf29ce484222325ULL
uint64_t cubeFnv1a(uint64_t h, const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
