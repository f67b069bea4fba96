/* cube-freeze: marks the parameters whose names match glob patterns as frozen (trainable = false), or as
 * trainable with `trainable=true`. The way to keep, say, the embeddings fixed during a full fine-tune:
 *   cube-opt model.mlir --cube-freeze='patterns=model.embed_tokens.*,lm_head.weight'
 * A pattern that matches no parameter is an error (a typo would otherwise silently train everything).
 * This is also the example pass of docs/adding-a-pass.md. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Ops.h"
#include "cube/Passes.h"
#include "mlir-c/Diagnostics.h"

enum { OPT_PATTERNS, OPT_TRAINABLE };

static const CubePassOption kOptions[] = {
    [OPT_PATTERNS] = {"patterns", CUBE_OPT_LIST, "", "comma-separated glob patterns (fnmatch) of HF "
                      "parameter names, e.g. model.embed_tokens.*,lm_head.weight", 0, 0},
    [OPT_TRAINABLE] = {"trainable", CUBE_OPT_BOOL, "false", "the flag to set on the matched parameters", 0, 0},
};

typedef struct {
  const CubeOptionValue *options;
  size_t *hits; /* matches per pattern */
} FreezeState;

static void freezeParam(MlirOperation op, void *u) {
  FreezeState *st = u;
  MlirStringRef name;
  if (!cubeIsOp(op, "param") || !cubeGetStrAttr(op, "name", &name)) return;
  char buf[1024];
  if (name.length >= sizeof buf) return;
  memcpy(buf, name.data, name.length);
  buf[name.length] = 0;
  const CubeOptionValue *pats = &st->options[OPT_PATTERNS];
  for (size_t i = 0; i < pats->nItems; ++i) {
    if (fnmatch(pats->items[i], buf, 0) == 0) {
      cubeSetBoolAttr(op, "trainable", st->options[OPT_TRAINABLE].b);
      st->hits[i]++;
    }
  }
}

static MlirLogicalResult runFreeze(MlirOperation module, const CubeOptionValue *options) {
  const CubeOptionValue *pats = &options[OPT_PATTERNS];
  if (pats->nItems == 0) {
    mlirEmitError(mlirOperationGetLocation(module),
                  "cube-freeze needs patterns=NAME[,NAME...] (glob patterns of parameter names)");
    return mlirLogicalResultFailure();
  }
  FreezeState st = {options, calloc(pats->nItems, sizeof(size_t))};
  cubeWalkOps(module, "cube.param", freezeParam, &st);
  bool ok = true;
  for (size_t i = 0; i < pats->nItems; ++i) {
    if (st.hits[i] == 0) {
      char msg[512];
      snprintf(msg, sizeof msg, "cube-freeze: pattern '%s' matches no parameter name", pats->items[i]);
      mlirEmitError(mlirOperationGetLocation(module), msg);
      ok = false;
    }
  }
  free(st.hits);
  return ok ? mlirLogicalResultSuccess() : mlirLogicalResultFailure();
}

const CubePassInfo cubeFreezePassInfo = {
    .argument = "cube-freeze",
    .description = "Set trainable=false (or true) on the parameters whose names match glob patterns",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runFreeze,
};
