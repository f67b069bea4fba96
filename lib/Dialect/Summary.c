/* cube-opt --cube-summary: counts of params, elements, ops, module instances, checkpoints, functions. */
#include "cube/Summary.h"

#include <jansson.h>
#include <string.h>

#include "cube/Ops.h"

typedef struct {
  json_int_t params, paramElements, trainableElements, checkpoints, functions;
  json_t *ops;
} Counts;

static void countOp(MlirOperation op, void *u) {
  Counts *c = u;
  MlirStringRef name = mlirIdentifierStr(mlirOperationGetName(op));
  if (cubeOpNameIs(op, "builtin.module") && mlirOperationIsNull(mlirOperationGetParentOperation(op)))
    return; /* the module itself */
  char key[256];
  size_t n = name.length < sizeof key - 1 ? name.length : sizeof key - 1;
  memcpy(key, name.data, n);
  key[n] = 0;
  json_t *cur = json_object_get(c->ops, key);
  json_object_set_new(c->ops, key, json_integer((cur ? json_integer_value(cur) : 0) + 1));
  if (cubeIsOp(op, "param") && mlirOperationGetNumResults(op) == 1) {
    int64_t elems = cubeTensorNumElements(mlirValueGetType(mlirOperationGetResult(op, 0)));
    bool trainable = false;
    c->params++;
    c->paramElements += elems;
    if (cubeGetBoolAttr(op, "trainable", &trainable) && trainable) c->trainableElements += elems;
  } else if (cubeIsCheckpoint(op)) {
    c->checkpoints++;
  } else if (cubeOpNameIs(op, "func.func")) {
    c->functions++;
  }
}

char *cubeSummaryJson(MlirOperation module) {
  Counts c = {0};
  c.ops = json_object();
  cubeWalkOps(module, NULL, countOp, &c);
  json_t *modules = json_object();
  intptr_t n = cubeScopeTableSize(module);
  for (intptr_t i = 0; i < n; ++i) {
    MlirStringRef path, type;
    if (!cubeScopeTableEntry(module, i, &path, &type)) continue;
    char key[256];
    size_t len = type.length < sizeof key - 1 ? type.length : sizeof key - 1;
    memcpy(key, type.data, len);
    key[len] = 0;
    json_t *cur = json_object_get(modules, key);
    json_object_set_new(modules, key, json_integer((cur ? json_integer_value(cur) : 0) + 1));
  }
  json_t *root = json_object();
  json_object_set_new(root, "params", json_integer(c.params));
  json_object_set_new(root, "param_elements", json_integer(c.paramElements));
  json_object_set_new(root, "trainable_elements", json_integer(c.trainableElements));
  json_object_set_new(root, "ops", c.ops);
  json_object_set_new(root, "modules", modules);
  json_object_set_new(root, "checkpoints", json_integer(c.checkpoints));
  json_object_set_new(root, "functions", json_integer(c.functions));
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(root);
  return text;
}
