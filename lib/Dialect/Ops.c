/* Helpers behind cube/Ops.h: safe attribute access, op building, walking, scopes, the scope table. */
#include "cube/Ops.h"

#include <stdio.h>
#include <string.h>

#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"

/* ---- recognising ops ---------------------------------------------------------------------------- */

bool cubeOpNameIs(MlirOperation op, const char *name) {
  MlirStringRef n = mlirIdentifierStr(mlirOperationGetName(op));
  size_t len = strlen(name);
  return n.length == len && memcmp(n.data, name, len) == 0;
}

bool cubeIsCubeOp(MlirOperation op) {
  MlirStringRef n = mlirIdentifierStr(mlirOperationGetName(op));
  return n.length > 5 && memcmp(n.data, "cube.", 5) == 0;
}

bool cubeIsOp(MlirOperation op, const char *mnemonic) {
  MlirStringRef n = mlirIdentifierStr(mlirOperationGetName(op));
  size_t len = strlen(mnemonic);
  return n.length == len + 5 && memcmp(n.data, "cube.", 5) == 0 &&
         memcmp(n.data + 5, mnemonic, len) == 0;
}

bool cubeIsCheckpoint(MlirOperation op) {
  return cubeOpNameIs(op, "func.call") &&
         !mlirAttributeIsNull(mlirOperationGetAttributeByName(op, CUBE_STR("cube.checkpoint")));
}

void cubeMarkCheckpoint(MlirOperation call) {
  mlirOperationSetAttributeByName(call, CUBE_STR("cube.checkpoint"),
                                  mlirUnitAttrGet(mlirOperationGetContext(call)));
}

/* ---- reading attributes ------------------------------------------------------------------------- */

static MlirAttribute getAttr(MlirOperation op, const char *name) {
  /* Never mlirOperationGetInherentAttributeByName: it aborts on IRDL ops. */
  return mlirOperationGetAttributeByName(op, CUBE_STR(name));
}

bool cubeHasAttr(MlirOperation op, const char *name) { return !mlirAttributeIsNull(getAttr(op, name)); }

bool cubeGetF64Attr(MlirOperation op, const char *name, double *out) {
  MlirAttribute a = getAttr(op, name);
  if (mlirAttributeIsNull(a) || !mlirAttributeIsAFloat(a)) return false;
  *out = mlirFloatAttrGetValueDouble(a);
  return true;
}

bool cubeGetI64Attr(MlirOperation op, const char *name, int64_t *out) {
  MlirAttribute a = getAttr(op, name);
  if (mlirAttributeIsNull(a) || !mlirAttributeIsAInteger(a)) return false;
  MlirType t = mlirAttributeGetType(a);
  if (mlirTypeIsAIndex(t) || (mlirTypeIsAInteger(t) && mlirIntegerTypeIsSignless(t)))
    *out = mlirIntegerAttrGetValueInt(a);
  else if (mlirTypeIsAInteger(t) && mlirIntegerTypeIsSigned(t))
    *out = mlirIntegerAttrGetValueSInt(a);
  else if (mlirTypeIsAInteger(t))
    *out = (int64_t)mlirIntegerAttrGetValueUInt(a);
  else
    return false;
  return true;
}

bool cubeGetBoolAttr(MlirOperation op, const char *name, bool *out) {
  MlirAttribute a = getAttr(op, name);
  if (mlirAttributeIsNull(a) || !mlirAttributeIsABool(a)) return false;
  *out = mlirBoolAttrGetValue(a);
  return true;
}

bool cubeGetStrAttr(MlirOperation op, const char *name, MlirStringRef *out) {
  MlirAttribute a = getAttr(op, name);
  if (mlirAttributeIsNull(a) || !mlirAttributeIsAString(a)) return false;
  *out = mlirStringAttrGetValue(a);
  return true;
}

bool cubeGetI64ArrayAttr(MlirOperation op, const char *name, int64_t *buf, intptr_t cap, intptr_t *n) {
  MlirAttribute a = getAttr(op, name);
  if (mlirAttributeIsNull(a) || !mlirAttributeIsADenseI64Array(a)) return false;
  *n = mlirDenseArrayGetNumElements(a);
  for (intptr_t i = 0; i < *n && i < cap; ++i) buf[i] = mlirDenseI64ArrayGetElement(a, i);
  return true;
}

/* ---- writing attributes ------------------------------------------------------------------------- */

MlirNamedAttribute cubeNamedF64(MlirContext ctx, const char *name, double v) {
  return mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR(name)),
                               mlirFloatAttrDoubleGet(ctx, mlirF64TypeGet(ctx), v));
}
MlirNamedAttribute cubeNamedI64(MlirContext ctx, const char *name, int64_t v) {
  return mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR(name)),
                               mlirIntegerAttrGet(mlirIntegerTypeGet(ctx, 64), v));
}
MlirNamedAttribute cubeNamedBool(MlirContext ctx, const char *name, bool v) {
  return mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR(name)), mlirBoolAttrGet(ctx, v));
}
MlirNamedAttribute cubeNamedStr(MlirContext ctx, const char *name, const char *v) {
  return mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR(name)),
                               mlirStringAttrGet(ctx, CUBE_STR(v)));
}
MlirNamedAttribute cubeNamedI64Array(MlirContext ctx, const char *name, intptr_t n, const int64_t *v) {
  return mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR(name)),
                               mlirDenseI64ArrayGet(ctx, n, v));
}

static void setAttr(MlirOperation op, MlirNamedAttribute na) {
  mlirOperationSetAttributeByName(op, mlirIdentifierStr(na.name), na.attribute);
}
void cubeSetF64Attr(MlirOperation op, const char *name, double v) {
  setAttr(op, cubeNamedF64(mlirOperationGetContext(op), name, v));
}
void cubeSetI64Attr(MlirOperation op, const char *name, int64_t v) {
  setAttr(op, cubeNamedI64(mlirOperationGetContext(op), name, v));
}
void cubeSetBoolAttr(MlirOperation op, const char *name, bool v) {
  setAttr(op, cubeNamedBool(mlirOperationGetContext(op), name, v));
}
void cubeSetStrAttr(MlirOperation op, const char *name, const char *v) {
  setAttr(op, cubeNamedStr(mlirOperationGetContext(op), name, v));
}

/* ---- building ops ------------------------------------------------------------------------------- */

MlirOperation cubeBuildOp(MlirLocation loc, const char *mnemonic, intptr_t nOperands,
                          const MlirValue *operands, MlirType resultType, intptr_t nAttrs,
                          const MlirNamedAttribute *attrs) {
  char name[128];
  snprintf(name, sizeof name, "cube.%s", mnemonic);
  MlirOperationState st = mlirOperationStateGet(CUBE_STR(name), loc);
  if (nOperands) mlirOperationStateAddOperands(&st, nOperands, operands);
  if (!mlirTypeIsNull(resultType)) mlirOperationStateAddResults(&st, 1, &resultType);
  if (nAttrs) mlirOperationStateAddAttributes(&st, nAttrs, attrs);
  return mlirOperationCreate(&st);
}

MlirOperation cubeBuildParam(MlirLocation loc, MlirType type, const char *name, const char *init,
                             bool trainable) {
  MlirContext ctx = mlirLocationGetContext(loc);
  MlirNamedAttribute attrs[3] = {cubeNamedStr(ctx, "name", name), cubeNamedStr(ctx, "init", init),
                                 cubeNamedBool(ctx, "trainable", trainable)};
  return cubeBuildOp(loc, "param", 0, NULL, type, 3, attrs);
}

MlirOperation cubeInsertBefore(MlirOperation anchor, MlirOperation op) {
  mlirBlockInsertOwnedOperationBefore(mlirOperationGetBlock(anchor), anchor, op);
  return op;
}

/* ---- walking ------------------------------------------------------------------------------------ */

typedef struct {
  const char *name;
  bool cubeOnly;
  CubeOpCallback fn;
  void *userData;
} WalkState;

static MlirWalkResult walkOne(MlirOperation op, void *u) {
  WalkState *w = u;
  if ((w->cubeOnly && cubeIsCubeOp(op)) || (!w->cubeOnly && (!w->name || cubeOpNameIs(op, w->name))))
    w->fn(op, w->userData);
  return MlirWalkResultAdvance;
}

void cubeWalkOps(MlirOperation root, const char *name, CubeOpCallback fn, void *userData) {
  WalkState w = {name, false, fn, userData};
  mlirOperationWalk(root, walkOne, &w, MlirWalkPreOrder);
}

void cubeWalkCubeOps(MlirOperation root, CubeOpCallback fn, void *userData) {
  WalkState w = {NULL, true, fn, userData};
  mlirOperationWalk(root, walkOne, &w, MlirWalkPreOrder);
}

/* ---- scopes ------------------------------------------------------------------------------------- */

bool cubeGetScope(MlirOperation op, MlirStringRef *out) { return cubeGetStrAttr(op, "cube.scope", out); }

void cubeSetScope(MlirOperation op, const char *path) { cubeSetStrAttr(op, "cube.scope", path); }

static MlirAttribute scopeTable(MlirOperation module) {
  MlirAttribute t = mlirOperationGetAttributeByName(module, CUBE_STR("cube.modules"));
  return (!mlirAttributeIsNull(t) && mlirAttributeIsAArray(t)) ? t : (MlirAttribute){NULL};
}

/* A well-formed entry is an array of exactly two strings. */
static bool entryOf(MlirAttribute e, MlirStringRef *path, MlirStringRef *type) {
  if (!mlirAttributeIsAArray(e) || mlirArrayAttrGetNumElements(e) != 2) return false;
  MlirAttribute p = mlirArrayAttrGetElement(e, 0), t = mlirArrayAttrGetElement(e, 1);
  if (!mlirAttributeIsAString(p) || !mlirAttributeIsAString(t)) return false;
  if (path) *path = mlirStringAttrGetValue(p);
  if (type) *type = mlirStringAttrGetValue(t);
  return true;
}

intptr_t cubeScopeTableSize(MlirOperation module) {
  MlirAttribute t = scopeTable(module);
  return mlirAttributeIsNull(t) ? 0 : mlirArrayAttrGetNumElements(t);
}

bool cubeScopeTableEntry(MlirOperation module, intptr_t i, MlirStringRef *path, MlirStringRef *type) {
  MlirAttribute t = scopeTable(module);
  if (mlirAttributeIsNull(t) || i < 0 || i >= mlirArrayAttrGetNumElements(t)) return false;
  return entryOf(mlirArrayAttrGetElement(t, i), path, type);
}

bool cubeScopeTableLookup(MlirOperation module, MlirStringRef path, MlirStringRef *type) {
  intptr_t n = cubeScopeTableSize(module);
  for (intptr_t i = 0; i < n; ++i) {
    MlirStringRef p, t;
    if (cubeScopeTableEntry(module, i, &p, &t) && mlirStringRefEqual(p, path)) {
      if (type) *type = t;
      return true;
    }
  }
  return false;
}

/* ---- locations ---------------------------------------------------------------------------------- */

static bool fileLoc(MlirLocation loc, MlirStringRef *file, unsigned *line, unsigned *col, int depth) {
  if (depth > 8 || mlirLocationIsNull(loc)) return false;
  if (mlirLocationIsAFileLineColRange(loc)) {
    *file = mlirIdentifierStr(mlirLocationFileLineColRangeGetFilename(loc));
    *line = (unsigned)mlirLocationFileLineColRangeGetStartLine(loc);
    *col = (unsigned)mlirLocationFileLineColRangeGetStartColumn(loc);
    return true;
  }
  if (mlirLocationIsAName(loc)) return fileLoc(mlirLocationNameGetChildLoc(loc), file, line, col, depth + 1);
  if (mlirLocationIsACallSite(loc))
    return fileLoc(mlirLocationCallSiteGetCallee(loc), file, line, col, depth + 1);
  if (mlirLocationIsAFused(loc)) {
    unsigned n = mlirLocationFusedGetNumLocations(loc);
    MlirLocation locs[16];
    if (n == 0 || n > 16) return false;
    mlirLocationFusedGetLocations(loc, locs);
    return fileLoc(locs[0], file, line, col, depth + 1);
  }
  return false;
}

bool cubeLocationFileLineCol(MlirLocation loc, MlirStringRef *file, unsigned *line, unsigned *col) {
  return fileLoc(loc, file, line, col, 0);
}

/* ---- types -------------------------------------------------------------------------------------- */

bool cubeIsStaticTensor(MlirType t) {
  return !mlirTypeIsNull(t) && mlirTypeIsARankedTensor(t) && mlirShapedTypeHasStaticShape(t);
}

int64_t cubeTensorNumElements(MlirType t) {
  if (!cubeIsStaticTensor(t)) return 0;
  int64_t n = 1;
  for (intptr_t i = 0; i < mlirShapedTypeGetRank(t); ++i) n *= mlirShapedTypeGetDimSize(t, i);
  return n;
}

static void appendType(MlirStringRef s, void *u) {
  char **cur = u;
  /* cur[0] = write position, cur[1] = end of buffer */
  size_t room = (size_t)(cur[1] - cur[0]);
  size_t n = s.length < room ? s.length : room;
  memcpy(cur[0], s.data, n);
  cur[0] += n;
}

void cubeFormatShape(MlirType t, bool withElementType, char *buf, size_t bufSize) {
  if (bufSize == 0) return;
  buf[0] = 0;
  if (mlirTypeIsNull(t)) return;
  if (!mlirTypeIsARankedTensor(t)) {
    char *cur[2] = {buf, buf + bufSize - 1};
    mlirTypePrint(t, appendType, cur);
    *cur[0] = 0;
    return;
  }
  size_t off = 0;
  intptr_t rank = mlirShapedTypeGetRank(t);
  for (intptr_t i = 0; i < rank && off < bufSize; ++i) {
    int64_t d = mlirShapedTypeGetDimSize(t, i);
    if (mlirShapedTypeIsDynamicSize(d))
      off += (size_t)snprintf(buf + off, bufSize - off, "%s?", i ? "x" : "");
    else
      off += (size_t)snprintf(buf + off, bufSize - off, "%s%lld", i ? "x" : "", (long long)d);
  }
  if (withElementType && off < bufSize) {
    if (rank > 0) off += (size_t)snprintf(buf + off, bufSize - off, "x");
    if (off < bufSize) {
      char *cur[2] = {buf + off, buf + bufSize - 1};
      mlirTypePrint(mlirShapedTypeGetElementType(t), appendType, cur);
      *cur[0] = 0;
    }
  }
}
