/* The plan's `lora` object (docs/plan-format.md "Training plans"), what peft's adapter_config.json needs.
 *
 * cube-lora does not record its options yet, so cube-prepare-forward infers them from the module (while the
 * cube ops are still there) and records them as the module attribute
 *   cube.lora = {r = 8 : i64, alpha = 8.0 : f64, dropout = 0.0 : f64, targets = ["q_proj", ...],
 *                bias = "none", use_rslora = false}
 * unless the module already has one (the cleaner way: cube-lora writing it itself). The inference:
 *   r        dim 0 of the first `*.lora_A.weight` param ([r, in]); no such param: no LoRA, no attribute
 *   alpha    factor * r of the cube.scale applied to a lora_B linear's result (factor = alpha / r); rslora
 *            (alpha / sqrt(r)) cannot be told apart, so use_rslora is false
 *   dropout  p of a cube.dropout whose scope holds `lora_dropout` (0 when there is none)
 *   targets  the distinct last path components of the scope table's `lora.Linear` entries
 *   bias     "none" (peft's default; cube-lora's bias option is not visible in the IR)
 * cube-emit turns the attribute into plan.json's `lora` object. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Conversion.h"
#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"

typedef struct {
  int64_t r;
  double factor, dropout;
  bool haveFactor;
} LoraInfo;

static bool contains(MlirStringRef s, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= s.length; ++i)
    if (!memcmp(s.data + i, needle, n)) return true;
  return false;
}

static bool endsWith(MlirStringRef s, const char *suffix) {
  size_t n = strlen(suffix);
  return s.length >= n && !memcmp(s.data + s.length - n, suffix, n);
}

static MlirWalkResult visit(MlirOperation op, void *u) {
  LoraInfo *li = u;
  MlirStringRef s;
  if (cubeIsOp(op, "param") && !li->r && cubeGetStrAttr(op, "name", &s) && endsWith(s, ".lora_A.weight")) {
    MlirType t = mlirValueGetType(mlirOperationGetResult(op, 0));
    if (mlirTypeIsARankedTensor(t) && kgRank(t) == 2) li->r = kgDim(t, 0);
  } else if (cubeIsOp(op, "scale") && !li->haveFactor && mlirOperationGetNumOperands(op) == 1) {
    MlirValue v = mlirOperationGetOperand(op, 0);
    if (mlirValueIsAOpResult(v)) {
      MlirOperation def = mlirOpResultGetOwner(v);
      if (cubeIsOp(def, "linear") && cubeGetScope(def, &s) && contains(s, "lora_B"))
        li->haveFactor = cubeGetF64Attr(op, "factor", &li->factor);
    }
  } else if (cubeIsOp(op, "dropout") && cubeGetScope(op, &s) && contains(s, "lora_dropout")) {
    cubeGetF64Attr(op, "p", &li->dropout);
  }
  return MlirWalkResultAdvance;
}

static MlirNamedAttribute named(MlirContext ctx, const char *name, MlirAttribute a) {
  return mlirNamedAttributeGet(mlirIdentifierGet(ctx, mlirStringRefCreateFromCString(name)), a);
}

void cubeLoraRecord(MlirOperation module) {
  if (!mlirAttributeIsNull(mlirOperationGetAttributeByName(module, mlirStringRefCreateFromCString("cube.lora"))))
    return;
  LoraInfo li = {0};
  mlirOperationWalk(module, visit, &li, MlirWalkPreOrder);
  if (li.r < 1) return;
  MlirContext ctx = mlirOperationGetContext(module);
  intptr_t n = 0;
  CubeScopeEntry *e = cubeScopeTableRead(module, &n);
  MlirAttribute *targets = calloc((size_t)n + 1, sizeof *targets);
  const char **seen = calloc((size_t)n + 1, sizeof *seen);
  intptr_t nt = 0;
  for (intptr_t i = 0; targets && seen && i < n; ++i) {
    if (strcmp(e[i].type, "lora.Linear")) continue;
    const char *dot = strrchr(e[i].path, '.'), *last = dot ? dot + 1 : e[i].path;
    bool dup = false;
    for (intptr_t j = 0; j < nt; ++j) dup |= !strcmp(seen[j], last);
    if (dup || !*last) continue;
    seen[nt] = last;
    targets[nt++] = mlirStringAttrGet(ctx, mlirStringRefCreateFromCString(last));
  }
  MlirNamedAttribute fields[6] = {
      named(ctx, "r", mlirIntegerAttrGet(mlirIntegerTypeGet(ctx, 64), li.r)),
      named(ctx, "alpha", mlirFloatAttrDoubleGet(ctx, mlirF64TypeGet(ctx), li.haveFactor ? li.factor * (double)li.r
                                                                                          : (double)li.r)),
      named(ctx, "dropout", mlirFloatAttrDoubleGet(ctx, mlirF64TypeGet(ctx), li.dropout)),
      named(ctx, "targets", mlirArrayAttrGet(ctx, targets ? nt : 0, targets)),
      named(ctx, "bias", mlirStringAttrGet(ctx, mlirStringRefCreateFromCString("none"))),
      named(ctx, "use_rslora", mlirBoolAttrGet(ctx, 0)),
  };
  mlirOperationSetAttributeByName(module, mlirStringRefCreateFromCString("cube.lora"),
                                  mlirDictionaryAttrGet(ctx, 6, fields));
  free(targets);
  free(seen);
  cubeScopeTableFree(e, n);
}

struct json_t *cubePlanLoraJson(MlirOperation module, MlirOperation fn) {
  (void)fn;
  MlirAttribute d = mlirOperationGetAttributeByName(module, mlirStringRefCreateFromCString("cube.lora"));
  if (mlirAttributeIsNull(d) || !mlirAttributeIsADictionary(d)) return NULL;
  json_t *o = json_object();
  for (intptr_t i = 0; i < mlirDictionaryAttrGetNumElements(d); ++i) {
    MlirNamedAttribute na = mlirDictionaryAttrGetElement(d, i);
    MlirStringRef k = mlirIdentifierStr(na.name);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)k.length, k.data);
    MlirAttribute a = na.attribute;
    json_t *v = NULL;
    if (mlirAttributeIsABool(a)) v = json_boolean(mlirBoolAttrGetValue(a));
    else if (mlirAttributeIsAInteger(a)) v = json_integer(mlirIntegerAttrGetValueInt(a));
    else if (mlirAttributeIsAFloat(a)) v = json_real(mlirFloatAttrGetValueDouble(a));
    else if (mlirAttributeIsAString(a)) {
      MlirStringRef s = mlirStringAttrGetValue(a);
      v = json_stringn(s.data, s.length);
    } else if (mlirAttributeIsAArray(a)) {
      v = json_array();
      for (intptr_t j = 0; j < mlirArrayAttrGetNumElements(a); ++j) {
        MlirAttribute x = mlirArrayAttrGetElement(a, j);
        if (!mlirAttributeIsAString(x)) continue;
        MlirStringRef s = mlirStringAttrGetValue(x);
        json_t *js = json_stringn(s.data, s.length);
        if (js) json_array_append_new(v, js);
      }
    }
    if (v) json_object_set_new(o, key, v);
  }
  return o;
}
