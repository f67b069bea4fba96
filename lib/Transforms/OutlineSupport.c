/* Helpers behind cube/Rewrite.h, shared by cube-recompute (which outlines module instances into
 * functions) and cube-lora (which must find and rewrite linears inside those functions): strings, scope
 * paths, the scope table as a whole, the module's functions and symbols, and printing an op on its own.
 * Like cube/Ops.h, every getter checks kinds and counts first: a pass never aborts on odd IR. */
#include "cube/Rewrite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Ops.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"

/* ---- strings ------------------------------------------------------------------------------------------- */

static bool bufReserve(CubeBuf *b, size_t extra) {
  if (b->oom) return false;
  if (b->len + extra + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 128;
  while (b->len + extra + 1 > cap) cap *= 2;
  char *s = realloc(b->s, cap);
  if (!s) {
    b->oom = true;
    return false;
  }
  b->s = s;
  b->cap = cap;
  return true;
}

void cubeBufAppendN(CubeBuf *b, const char *t, size_t n) {
  if (!bufReserve(b, n)) return;
  if (n) memcpy(b->s + b->len, t, n);
  b->len += n;
  b->s[b->len] = 0;
}

void cubeBufAppend(CubeBuf *b, const char *t) { cubeBufAppendN(b, t, strlen(t)); }

void cubeBufAppendRef(CubeBuf *b, MlirStringRef r) { cubeBufAppendN(b, r.data, r.length); }

void cubeBufPrintf(CubeBuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !bufReserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void cubeBufClear(CubeBuf *b) {
  b->len = 0;
  if (b->s) b->s[0] = 0;
}

void cubeBufFree(CubeBuf *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

const char *cubeBufStr(const CubeBuf *b) { return b->s ? b->s : ""; }

bool cubeGrow(void **v, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t c = *cap ? *cap * 2 : 16;
  while (c < need) c *= 2;
  void *p = realloc(*v, c * elem);
  if (!p) return false;
  *v = p;
  *cap = c;
  return true;
}

bool cubeOpListPush(CubeOpList *l, MlirOperation op) {
  if (!cubeGrow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return false;
  l->v[l->n++] = op;
  return true;
}

static void pushOp(MlirOperation op, void *u) { cubeOpListPush(u, op); }

void cubeCollectOps(MlirOperation root, const char *name, CubeOpList *out) { cubeWalkOps(root, name, pushOp, out); }

char *cubeStrDupRef(MlirStringRef r) {
  char *s = malloc(r.length + 1);
  if (!s) return NULL;
  if (r.length) memcpy(s, r.data, r.length);
  s[r.length] = 0;
  return s;
}

bool cubeRefEq(MlirStringRef a, const char *b) {
  size_t n = strlen(b);
  return a.length == n && (n == 0 || memcmp(a.data, b, n) == 0);
}

/* ---- scope paths --------------------------------------------------------------------------------------- */

bool cubeScopeWithin(MlirStringRef scope, MlirStringRef prefix, MlirStringRef *rel) {
  if (prefix.length == 0) {
    if (rel) *rel = scope;
    return true;
  }
  if (scope.length < prefix.length || memcmp(scope.data, prefix.data, prefix.length) != 0) return false;
  if (scope.length == prefix.length) {
    if (rel) *rel = mlirStringRefCreate(scope.data + scope.length, 0);
    return true;
  }
  if (scope.data[prefix.length] != '.') return false;
  if (rel) *rel = mlirStringRefCreate(scope.data + prefix.length + 1, scope.length - prefix.length - 1);
  return true;
}

void cubeScopeJoin(MlirStringRef base, MlirStringRef rel, CubeBuf *out) {
  cubeBufClear(out);
  cubeBufAppendRef(out, base);
  if (base.length && rel.length) cubeBufAppend(out, ".");
  cubeBufAppendRef(out, rel);
  if (!out->s) cubeBufAppend(out, ""); /* never a NULL text */
}

/* ---- the scope table ----------------------------------------------------------------------------------- */

CubeScopeEntry *cubeScopeTableRead(MlirOperation module, intptr_t *n) {
  *n = 0;
  intptr_t size = cubeScopeTableSize(module);
  if (size <= 0) return NULL;
  CubeScopeEntry *e = calloc((size_t)size, sizeof *e);
  if (!e) return NULL;
  for (intptr_t i = 0; i < size; ++i) {
    MlirStringRef path, type;
    if (!cubeScopeTableEntry(module, i, &path, &type)) continue;
    e[*n].path = cubeStrDupRef(path);
    e[*n].type = cubeStrDupRef(type);
    if (!e[*n].path || !e[*n].type) {
      free(e[*n].path);
      free(e[*n].type);
      continue;
    }
    (*n)++;
  }
  return e;
}

void cubeScopeTableWrite(MlirOperation module, const CubeScopeEntry *entries, intptr_t n) {
  MlirContext ctx = mlirOperationGetContext(module);
  MlirAttribute *pairs = malloc(sizeof *pairs * (size_t)(n ? n : 1));
  if (!pairs) return;
  for (intptr_t i = 0; i < n; ++i) {
    MlirAttribute two[2] = {mlirStringAttrGet(ctx, CUBE_STR(entries[i].path)),
                            mlirStringAttrGet(ctx, CUBE_STR(entries[i].type))};
    pairs[i] = mlirArrayAttrGet(ctx, 2, two);
  }
  mlirOperationSetAttributeByName(module, CUBE_STR("cube.modules"), mlirArrayAttrGet(ctx, n, pairs));
  free(pairs);
}

void cubeScopeTableFree(CubeScopeEntry *entries, intptr_t n) {
  if (!entries) return;
  for (intptr_t i = 0; i < n; ++i) {
    free(entries[i].path);
    free(entries[i].type);
  }
  free(entries);
}

/* ---- functions and symbols ----------------------------------------------------------------------------- */

MlirBlock cubeModuleBody(MlirOperation module) {
  if (mlirOperationIsNull(module) || mlirOperationGetNumRegions(module) < 1) return (MlirBlock){NULL};
  return mlirRegionGetFirstBlock(mlirOperationGetRegion(module, 0));
}

bool cubeIsOutlinedFunc(MlirOperation op) {
  MlirStringRef t;
  return cubeOpNameIs(op, "func.func") && cubeGetStrAttr(op, "cube.instance_type", &t);
}

bool cubeUsesAfter(MlirValue v, MlirOperation after, MlirOperation except, bool *any) {
  MlirBlock block = mlirOperationGetBlock(after);
  if (any) *any = false;
  for (MlirOpOperand u = mlirValueGetFirstUse(v); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) {
    MlirOperation user = mlirOpOperandGetOwner(u);
    while (!mlirOperationIsNull(user) && !mlirBlockEqual(mlirOperationGetBlock(user), block))
      user = mlirOperationGetParentOperation(user);
    if (!mlirOperationIsNull(except) && !mlirOperationIsNull(user) && mlirOperationEqual(user, except)) continue;
    if (any) *any = true;
    if (mlirOperationIsNull(user) || mlirOperationEqual(user, after) || mlirOperationIsBeforeInBlock(user, after))
      return false;
  }
  return true;
}

bool cubeFuncEntryBlock(MlirOperation func, MlirBlock *out) {
  if (!cubeOpNameIs(func, "func.func") || mlirOperationGetNumRegions(func) < 1) return false;
  MlirBlock b = mlirRegionGetFirstBlock(mlirOperationGetRegion(func, 0));
  if (mlirBlockIsNull(b)) return false;
  *out = b;
  return true;
}

static bool symName(MlirOperation op, MlirStringRef *name) { return cubeGetStrAttr(op, "sym_name", name); }

MlirOperation cubeLookupFunc(MlirOperation module, MlirStringRef name) {
  MlirBlock body = cubeModuleBody(module);
  if (mlirBlockIsNull(body)) return (MlirOperation){NULL};
  for (MlirOperation o = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(o);
       o = mlirOperationGetNextInBlock(o)) {
    MlirStringRef n;
    if (cubeOpNameIs(o, "func.func") && symName(o, &n) && mlirStringRefEqual(n, name)) return o;
  }
  return (MlirOperation){NULL};
}

MlirOperation cubeBuildCheckpoint(MlirLocation loc, const char *callee, intptr_t nInputs,
                                  const MlirValue *inputs,
                                  intptr_t nOutputs, const MlirType *outputTypes, const char *scope) {
  MlirContext ctx = mlirLocationGetContext(loc);
  /* A checkpoint is a func.call marked cube.checkpoint (see cube/Ops.h: IRDL cannot type a call). */
  MlirNamedAttribute attrs[3] = {
      mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR("callee")),
                            mlirFlatSymbolRefAttrGet(ctx, CUBE_STR(callee))),
      cubeNamedStr(ctx, "cube.scope", scope),
      mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR("cube.checkpoint")), mlirUnitAttrGet(ctx)),
  };
  MlirOperationState st = mlirOperationStateGet(CUBE_STR("func.call"), loc);
  if (nInputs) mlirOperationStateAddOperands(&st, nInputs, inputs);
  if (nOutputs) mlirOperationStateAddResults(&st, nOutputs, outputTypes);
  mlirOperationStateAddAttributes(&st, 3, attrs);
  return mlirOperationCreate(&st);
}

void cubeSetCheckpointCallee(MlirOperation checkpoint, const char *callee) {
  MlirContext ctx = mlirOperationGetContext(checkpoint);
  mlirOperationSetAttributeByName(checkpoint, CUBE_STR("callee"),
                                  mlirFlatSymbolRefAttrGet(ctx, CUBE_STR(callee)));
}

bool cubeCheckpointCallee(MlirOperation checkpoint, MlirStringRef *name) {
  if (!cubeIsCheckpoint(checkpoint)) return false;
  MlirAttribute c = mlirOperationGetAttributeByName(checkpoint, CUBE_STR("callee"));
  if (mlirAttributeIsNull(c) || !mlirAttributeIsAFlatSymbolRef(c)) return false;
  *name = mlirFlatSymbolRefAttrGetValue(c);
  return true;
}

static bool symbolTaken(MlirOperation module, const char *name) {
  MlirBlock body = cubeModuleBody(module);
  if (mlirBlockIsNull(body)) return false;
  for (MlirOperation o = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(o);
       o = mlirOperationGetNextInBlock(o)) {
    MlirStringRef n;
    if (symName(o, &n) && cubeRefEq(n, name)) return true;
  }
  return false;
}

void cubeFreshSymbol(MlirOperation module, const char *base, CubeBuf *out) {
  cubeBufClear(out);
  cubeBufAppend(out, base);
  for (long k = 1; symbolTaken(module, cubeBufStr(out)) && !out->oom; ++k) {
    cubeBufClear(out);
    cubeBufPrintf(out, "%s_%ld", base, k);
  }
}

bool cubeFuncAppendArgs(MlirOperation func, intptr_t n, const MlirType *types, MlirLocation loc,
                        MlirValue *args) {
  MlirBlock entry;
  if (!cubeFuncEntryBlock(func, &entry)) return false;
  MlirAttribute ft = mlirOperationGetAttributeByName(func, CUBE_STR("function_type"));
  if (mlirAttributeIsNull(ft) || !mlirAttributeIsAType(ft)) return false;
  MlirType fty = mlirTypeAttrGetValue(ft);
  if (!mlirTypeIsAFunction(fty)) return false;
  intptr_t nIn = mlirFunctionTypeGetNumInputs(fty), nOut = mlirFunctionTypeGetNumResults(fty);
  if (nIn != mlirBlockGetNumArguments(entry)) return false;
  MlirType *ins = malloc(sizeof *ins * (size_t)(nIn + n + 1));
  MlirType *outs = malloc(sizeof *outs * (size_t)(nOut + 1));
  if (!ins || !outs) {
    free(ins);
    free(outs);
    return false;
  }
  for (intptr_t i = 0; i < nIn; ++i) ins[i] = mlirFunctionTypeGetInput(fty, i);
  for (intptr_t i = 0; i < n; ++i) ins[nIn + i] = types[i];
  for (intptr_t i = 0; i < nOut; ++i) outs[i] = mlirFunctionTypeGetResult(fty, i);
  MlirType nfty = mlirFunctionTypeGet(mlirOperationGetContext(func), nIn + n, ins, nOut, outs);
  mlirOperationSetAttributeByName(func, CUBE_STR("function_type"), mlirTypeAttrGet(nfty));
  for (intptr_t i = 0; i < n; ++i) {
    MlirValue a = mlirBlockAddArgument(entry, types[i], loc);
    if (args) args[i] = a;
  }
  free(ins);
  free(outs);
  return true;
}

/* ---- printing ------------------------------------------------------------------------------------------ */

static void printToBuf(MlirStringRef s, void *u) { cubeBufAppendRef(u, s); }

char *cubePrintOpLocal(MlirOperation op) {
  CubeBuf b = {0};
  MlirOpPrintingFlags flags = mlirOpPrintingFlagsCreate();
  mlirOpPrintingFlagsUseLocalScope(flags);
  mlirOpPrintingFlagsAssumeVerified(flags);
  mlirOperationPrintWithFlags(op, flags, printToBuf, &b);
  mlirOpPrintingFlagsDestroy(flags);
  if (b.oom) {
    cubeBufFree(&b);
    return NULL;
  }
  if (!b.s) cubeBufAppend(&b, "");
  return b.s;
}

/* ---- hashing ------------------------------------------------------------------------------------------- */

uint64_t cubeFnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
