/* cube-recompute: activation checkpointing by outlining. Each instance of the listed module types (an
 * entry of the scope table, e.g. model.layers.3 of type LlamaDecoderLayer) is cut out of the forward
 * function into a `func.func private @recompute_<Type>` and replaced by one checkpoint that calls it
 * (`func.call @recompute_<Type>(...) {cube.checkpoint, cube.scope = "<instance path>"}`); training then keeps
 * only the checkpoint's operands and recomputes the callee's activations in the backward pass
 * (docs/dialect.md, Checkpoints). This is what the seed's RECOMPUTE_MODULE_NAMES
 * switches on:
 *   cube-opt model.mlir --pass-pipeline='builtin.module(cube-recompute{modules=LlamaDecoderLayer})'
 *
 * How an instance P is outlined (docs/passes.md has the user's view):
 *   - its ops are the top-level ops of the forward function whose cube.scope is P or starts with P + ".",
 *     except cube.param: parameters stay in the forward function and are passed in as arguments;
 *   - the arguments are the values flowing in, in order of first use; the results are the values used
 *     outside, in op order; inside, every cube.scope becomes relative to P ("" for P itself);
 *   - the checkpoint takes the place of the instance's last op; an outside op that sits between the
 *     instance's ops and reads one of its results moves after the checkpoint (it cannot be needed by the
 *     instance: that would be a cycle, reported as an error);
 *   - instances whose outlined functions print the same (relative scopes make the 12 decoder layers of a
 *     model identical) share one function: @recompute_<Type>, then @recompute_<Type>_1, ... for each
 *     structurally different one. The function carries cube.instance_type = "<Type>".
 * When listed types nest (LlamaDecoderLayer and LlamaMLP), the outermost instance wins: the MLP is
 * recomputed as part of its decoder layer and gets no function of its own.
 *
 * The MLIR 22 C API has no clone-with-mapping, so ops are moved (mlirOperationRemoveFromParent +
 * mlirBlockAppendOwnedOperation) and rewired operand by operand (mlirOperationSetOperand); the uses
 * outside go to the checkpoint's results with mlirValueReplaceAllUsesExcept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "cube/Verify.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"

enum { OPT_MODULES };

static const CubePassOption kOptions[] = {
    [OPT_MODULES] = {"modules", CUBE_OPT_LIST, "LlamaDecoderLayer",
                     "comma-separated module types (class names of the scope table) whose instances are "
                     "outlined and recomputed, e.g. LlamaDecoderLayer", 0, 0},
};

/* ---- small growable arrays ----------------------------------------------------------------------------- */

typedef struct {
  MlirValue *v;
  size_t n, cap;
} ValList;


static bool valPush(ValList *l, MlirValue v) {
  if (!cubeGrow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return false;
  l->v[l->n++] = v;
  return true;
}

static intptr_t valIndex(const ValList *l, MlirValue v) {
  for (size_t i = 0; i < l->n; ++i)
    if (mlirValueEqual(l->v[i], v)) return (intptr_t)i;
  return -1;
}

static int cmpPtr(const void *a, const void *b) {
  const void *x = *(const void *const *)a, *y = *(const void *const *)b;
  return x < y ? -1 : x > y;
}

/* ---- one instance -------------------------------------------------------------------------------------- */

typedef struct {
  CubeOpList ops;     /* the instance's ops, in block order */
  CubeOpList moved;   /* outside ops between them that read their results: they move after the checkpoint */
  ValList inputs; /* values flowing in, in order of first use */
  ValList outputs;
  const void **sorted; /* ops.v[*].ptr sorted, for membership */
} Instance;

static void instanceFree(Instance *in) {
  free(in->ops.v);
  free(in->moved.v);
  free(in->inputs.v);
  free(in->outputs.v);
  free(in->sorted);
  memset(in, 0, sizeof *in);
}

static bool inInstance(const Instance *in, MlirOperation op) {
  const void *key = op.ptr;
  return in->ops.n && bsearch(&key, in->sorted, in->ops.n, sizeof *in->sorted, cmpPtr);
}

static bool inList(const CubeOpList *l, MlirOperation op) {
  for (size_t i = 0; i < l->n; ++i)
    if (mlirOperationEqual(l->v[i], op)) return true;
  return false;
}

/* The op that defines v, or a null op for a block argument. */
static MlirOperation definingOp(MlirValue v) {
  return mlirValueIsAOpResult(v) ? mlirOpResultGetOwner(v) : (MlirOperation){NULL};
}

/* Walk callback: does an op (or one nested in it) read a value of the instance or of an op that moves? */
typedef struct {
  const Instance *in;
  bool found;
} DependsState;

static MlirWalkResult dependsOne(MlirOperation op, void *u) {
  DependsState *d = u;
  for (intptr_t i = 0; i < mlirOperationGetNumOperands(op); ++i) {
    MlirOperation def = definingOp(mlirOperationGetOperand(op, i));
    if (!mlirOperationIsNull(def) && (inInstance(d->in, def) || inList(&d->in->moved, def))) {
      d->found = true;
      return MlirWalkResultInterrupt;
    }
  }
  return MlirWalkResultAdvance;
}

static void typeText(MlirType t, CubeBuf *out) {
  cubeBufClear(out);
  char buf[256];
  cubeFormatShape(t, true, buf, sizeof buf);
  cubeBufAppend(out, buf);
}

/* Finds the ops of instance P in `block` and what flows in and out. Returns 1 when it has ops, 0 when
 * none, -1 on a problem (message in err). Changes nothing. */
static int analyze(MlirBlock block, MlirStringRef path, Instance *in, CubeBuf *err) {
  memset(in, 0, sizeof *in);
  for (MlirOperation op = mlirBlockGetFirstOperation(block); !mlirOperationIsNull(op);
       op = mlirOperationGetNextInBlock(op)) {
    MlirStringRef scope;
    if (cubeIsOp(op, "param") || !cubeGetScope(op, &scope) || !cubeScopeWithin(scope, path, NULL)) continue;
    if (mlirOperationIsNull(mlirOperationGetNextInBlock(op))) continue; /* the terminator stays */
    if (cubeIsCheckpoint(op)) {
      MlirStringRef callee = mlirStringRefCreate("?", 1);
      cubeCheckpointCallee(op, &callee);
      if (mlirStringRefEqual(scope, path))
        cubeBufPrintf(err, "cube-recompute: '%.*s' is already outlined (checkpoint call of @%.*s); run "
                      "cube-recompute once, listing every module type", (int)path.length, path.data,
                      (int)callee.length, callee.data);
      else
        cubeBufPrintf(err, "cube-recompute: '%.*s' contains the already outlined '%.*s' (checkpoint call of "
                      "@%.*s); run cube-recompute once, listing every module type", (int)path.length, path.data,
                      (int)scope.length, scope.data, (int)callee.length, callee.data);
      return -1;
    }
    if (mlirOperationGetNumRegions(op) > 0) { /* values used inside its regions would not be rewired */
      MlirStringRef name = mlirIdentifierStr(mlirOperationGetName(op));
      cubeBufPrintf(err, "cube-recompute: cannot outline '%.*s': its op '%.*s' has regions", (int)path.length,
                    path.data, (int)name.length, name.data);
      return -1;
    }
    if (!cubeOpListPush(&in->ops, op)) goto oom;
  }
  if (in->ops.n == 0) return 0;
  in->sorted = malloc(in->ops.n * sizeof *in->sorted);
  if (!in->sorted) goto oom;
  for (size_t i = 0; i < in->ops.n; ++i) in->sorted[i] = in->ops.v[i].ptr;
  qsort(in->sorted, in->ops.n, sizeof *in->sorted, cmpPtr);

  /* Outside ops between the first and the last instance op that depend on the instance. */
  MlirOperation last = in->ops.v[in->ops.n - 1];
  for (MlirOperation op = in->ops.v[0]; !mlirOperationEqual(op, last); op = mlirOperationGetNextInBlock(op)) {
    if (inInstance(in, op)) continue;
    DependsState d = {in, false};
    mlirOperationWalk(op, dependsOne, &d, MlirWalkPreOrder); /* its operands and those of ops nested in it */
    if (d.found && !cubeOpListPush(&in->moved, op)) goto oom;
  }
  for (size_t k = 0; k < in->ops.n; ++k) {
    MlirOperation op = in->ops.v[k];
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(op); ++i) {
      MlirValue v = mlirOperationGetOperand(op, i);
      MlirOperation def = definingOp(v);
      if (!mlirOperationIsNull(def) && inInstance(in, def)) continue;
      if (!mlirOperationIsNull(def) && inList(&in->moved, def)) {
        MlirStringRef name = mlirIdentifierStr(mlirOperationGetName(def));
        cubeBufPrintf(err, "cube-recompute: cannot outline '%.*s': the op '%.*s' between its ops both uses its "
                      "results and feeds it", (int)path.length, path.data, (int)name.length, name.data);
        return -1;
      }
      if (valIndex(&in->inputs, v) < 0 && !valPush(&in->inputs, v)) goto oom;
    }
    for (intptr_t r = 0; r < mlirOperationGetNumResults(op); ++r) {
      MlirValue res = mlirOperationGetResult(op, r);
      for (MlirOpOperand u = mlirValueGetFirstUse(res); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u))
        if (!inInstance(in, mlirOpOperandGetOwner(u))) {
          if (!valPush(&in->outputs, res)) goto oom;
          break;
        }
    }
  }
  /* Checkpoints pass tensors only (the cube ops' values). */
  for (int side = 0; side < 2; ++side) {
    const ValList *l = side ? &in->outputs : &in->inputs;
    for (size_t i = 0; i < l->n; ++i) {
      MlirType t = mlirValueGetType(l->v[i]);
      if (!mlirTypeIsARankedTensor(t)) {
        CubeBuf tt = {0};
        typeText(t, &tt);
        cubeBufPrintf(err, "cube-recompute: cannot outline '%.*s': a value of type %s flows %s it, but "
                      "checkpoints pass ranked tensors only", (int)path.length, path.data,
                      cubeBufStr(&tt), side ? "out of" : "into");
        cubeBufFree(&tt);
        return -1;
      }
    }
  }
  return 1;
oom:
  cubeBufClear(err);
  cubeBufAppend(err, "cube-recompute: out of memory");
  return -1;
}

/* ---- the functions made in this run, for sharing ------------------------------------------------------- */

typedef struct {
  char *type; /* instance type */
  char *text; /* printed with the placeholder name */
  char *name; /* its symbol */
} Made;

typedef struct {
  Made *v;
  size_t n, cap;
} MadeList;

#define PLACEHOLDER "__cube_recompute_candidate"

/* Creates `func.func private @PLACEHOLDER(inputs) -> outputs` with an empty entry block. */
static MlirOperation createFunc(MlirContext ctx, MlirLocation loc, const ValList *in, const ValList *out,
                                const char *type) {
  size_t nIn = in->n, nOut = out->n;
  MlirType *ti = malloc(sizeof *ti * (nIn + 1)), *to = malloc(sizeof *to * (nOut + 1));
  MlirLocation *locs = malloc(sizeof *locs * (nIn + 1));
  if (!ti || !to || !locs) {
    free(ti);
    free(to);
    free(locs);
    return (MlirOperation){NULL};
  }
  for (size_t i = 0; i < nIn; ++i) {
    ti[i] = mlirValueGetType(in->v[i]);
    locs[i] = loc;
  }
  for (size_t i = 0; i < nOut; ++i) to[i] = mlirValueGetType(out->v[i]);
  MlirType fty = mlirFunctionTypeGet(ctx, (intptr_t)nIn, ti, (intptr_t)nOut, to);
  MlirNamedAttribute attrs[4] = {
      cubeNamedStr(ctx, "sym_name", PLACEHOLDER),
      mlirNamedAttributeGet(mlirIdentifierGet(ctx, CUBE_STR("function_type")), mlirTypeAttrGet(fty)),
      cubeNamedStr(ctx, "sym_visibility", "private"),
      cubeNamedStr(ctx, "cube.instance_type", type),
  };
  MlirRegion region = mlirRegionCreate();
  mlirRegionAppendOwnedBlock(region, mlirBlockCreate((intptr_t)nIn, ti, locs));
  MlirOperationState st = mlirOperationStateGet(CUBE_STR("func.func"), loc);
  mlirOperationStateAddAttributes(&st, 4, attrs);
  mlirOperationStateAddOwnedRegions(&st, 1, &region);
  MlirOperation f = mlirOperationCreate(&st);
  free(ti);
  free(to);
  free(locs);
  return f;
}

/* Outlines an analysed instance (see the file comment). Returns false when out of memory. */
static bool outline(MlirOperation module, MlirStringRef path, const char *type, Instance *in, MadeList *made) {
  MlirContext ctx = mlirOperationGetContext(module);
  MlirLocation loc = mlirOperationGetLocation(in->ops.v[0]);
  MlirOperation last = in->ops.v[in->ops.n - 1];
  MlirBlock block = mlirOperationGetBlock(last);

  MlirOperation func = createFunc(ctx, loc, &in->inputs, &in->outputs, type);
  if (mlirOperationIsNull(func)) return false;
  MlirBlock body;
  cubeFuncEntryBlock(func, &body);

  /* The checkpoint, in place of the last op. */
  char *pathText = cubeStrDupRef(path);
  MlirType *resTypes = malloc(sizeof *resTypes * (in->outputs.n + 1));
  if (!pathText || !resTypes) {
    free(pathText);
    free(resTypes);
    mlirOperationDestroy(func);
    return false;
  }
  for (size_t i = 0; i < in->outputs.n; ++i) resTypes[i] = mlirValueGetType(in->outputs.v[i]);
  MlirOperation cp = cubeBuildCheckpoint(loc, PLACEHOLDER, (intptr_t)in->inputs.n, in->inputs.v,
                                         (intptr_t)in->outputs.n, resTypes, pathText);
  mlirBlockInsertOwnedOperationAfter(block, last, cp);
  free(resTypes);
  free(pathText);

  /* Uses outside the instance now read the checkpoint's results. */
  for (size_t i = 0; i < in->outputs.n; ++i)
    mlirValueReplaceAllUsesExcept(in->outputs.v[i], mlirOperationGetResult(cp, (intptr_t)i),
                                  (intptr_t)in->ops.n, in->ops.v);
  MlirOperation anchor = cp;
  for (size_t i = 0; i < in->moved.n; ++i) {
    mlirOperationMoveAfter(in->moved.v[i], anchor);
    anchor = in->moved.v[i];
  }

  /* Move the ops in, read the arguments instead of the outside values, make scopes relative. */
  for (size_t k = 0; k < in->ops.n; ++k) {
    MlirOperation op = in->ops.v[k];
    mlirOperationRemoveFromParent(op);
    mlirBlockAppendOwnedOperation(body, op);
    for (intptr_t i = 0; i < mlirOperationGetNumOperands(op); ++i) {
      intptr_t a = valIndex(&in->inputs, mlirOperationGetOperand(op, i));
      if (a >= 0) mlirOperationSetOperand(op, i, mlirBlockGetArgument(body, a));
    }
    MlirStringRef scope, rel;
    if (cubeGetScope(op, &scope) && cubeScopeWithin(scope, path, &rel)) {
      char *r = cubeStrDupRef(rel);
      if (r) cubeSetScope(op, r);
      free(r);
    }
  }
  MlirOperationState rs = mlirOperationStateGet(CUBE_STR("func.return"), loc);
  mlirOperationStateAddOperands(&rs, (intptr_t)in->outputs.n, in->outputs.v);
  mlirBlockAppendOwnedOperation(body, mlirOperationCreate(&rs));

  /* Share a structurally equal function made earlier in this run, or add this one. */
  char *text = cubePrintOpLocal(func);
  if (!text) return false;
  const char *callee = NULL;
  for (size_t i = 0; i < made->n && !callee; ++i)
    if (!strcmp(made->v[i].type, type) && !strcmp(made->v[i].text, text)) callee = made->v[i].name;
  if (callee) {
    mlirOperationDestroy(func);
    free(text);
  } else {
    char base[512];
    snprintf(base, sizeof base, "recompute_%s", type);
    CubeBuf name = {0};
    cubeFreshSymbol(module, base, &name);
    if (name.oom || !cubeGrow((void **)&made->v, &made->cap, made->n + 1, sizeof *made->v)) {
      cubeBufFree(&name);
      free(text);
      mlirOperationDestroy(func);
      return false;
    }
    cubeSetStrAttr(func, "sym_name", cubeBufStr(&name));
    mlirBlockAppendOwnedOperation(cubeModuleBody(module), func);
    made->v[made->n++] = (Made){strdup(type), text, name.s};
    callee = name.s;
  }
  cubeSetCheckpointCallee(cp, callee);
  return true;
}

/* ---- the pass ------------------------------------------------------------------------------------------ */

static bool listed(const CubeOptionValue *mods, const char *type) {
  for (size_t i = 0; i < mods->nItems; ++i)
    if (!strcmp(mods->items[i], type)) return true;
  return false;
}

/* The module types present in the table, each once, in table order: "A, B, C". */
static void typesPresent(const CubeScopeEntry *e, intptr_t n, CubeBuf *out) {
  for (intptr_t i = 0; i < n; ++i) {
    bool seen = false;
    for (intptr_t j = 0; j < i && !seen; ++j) seen = !strcmp(e[j].type, e[i].type);
    if (seen) continue;
    if (out->len) cubeBufAppend(out, ", ");
    cubeBufAppend(out, e[i].type);
  }
}

/* The module's forward functions: top-level func.func ops with a body that cube-recompute did not make. */
static void forwardBlocks(MlirOperation module, MlirBlock **blocks, size_t *n) {
  *blocks = NULL;
  *n = 0;
  size_t cap = 0;
  MlirBlock body = cubeModuleBody(module);
  if (mlirBlockIsNull(body)) return;
  for (MlirOperation o = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(o);
       o = mlirOperationGetNextInBlock(o)) {
    MlirBlock b;
    if (cubeIsOutlinedFunc(o) || !cubeFuncEntryBlock(o, &b)) continue;
    if (!cubeGrow((void **)blocks, &cap, *n + 1, sizeof **blocks)) return;
    (*blocks)[(*n)++] = b;
  }
}

static void emit(MlirOperation module, const char *msg) {
  mlirEmitError(mlirOperationGetLocation(module), msg);
}

static MlirLogicalResult runRecompute(MlirOperation module, const CubeOptionValue *options) {
  const CubeOptionValue *mods = &options[OPT_MODULES];
  if (mods->nItems == 0) {
    emit(module, "cube-recompute needs modules=TYPE[,TYPE...] (module types of the scope table, e.g. "
                 "LlamaDecoderLayer)");
    return mlirLogicalResultFailure();
  }
  intptr_t n = 0;
  CubeScopeEntry *table = cubeScopeTableRead(module, &n);
  if (n == 0) {
    emit(module, "cube-recompute: the module has no cube.modules scope table, so it has no module instances "
                 "to outline");
    cubeScopeTableFree(table, n);
    return mlirLogicalResultFailure();
  }
  bool ok = true;
  CubeBuf msg = {0}, present = {0};
  typesPresent(table, n, &present);
  for (size_t i = 0; i < mods->nItems; ++i) {
    const char *t = mods->items[i];
    bool found = false;
    for (intptr_t k = 0; k < n && !found; ++k) found = !strcmp(table[k].type, t);
    if (found) continue;
    cubeBufClear(&msg);
    if (cubeIsKnownModuleType(CUBE_STR(t)))
      cubeBufPrintf(&msg, "cube-recompute: module type '%s' has no instance in this model (types present: %s)",
                    t, cubeBufStr(&present));
    else
      cubeBufPrintf(&msg, "cube-recompute: unknown module type '%s' (types present: %s)", t,
                    cubeBufStr(&present));
    emit(module, cubeBufStr(&msg));
    ok = false;
  }

  /* The outermost instances of the listed types, in table order. */
  intptr_t *sel = calloc((size_t)n, sizeof *sel);
  size_t nSel = 0;
  for (intptr_t k = 0; ok && sel && k < n; ++k) {
    if (!listed(mods, table[k].type)) continue;
    bool nested = false;
    for (intptr_t j = 0; j < n && !nested; ++j)
      nested = j != k && listed(mods, table[j].type) && strlen(table[j].path) < strlen(table[k].path) &&
               cubeScopeWithin(CUBE_STR(table[k].path), CUBE_STR(table[j].path), NULL);
    if (!nested) sel[nSel++] = k;
  }
  if (!sel) ok = false;

  MlirBlock *blocks = NULL;
  size_t nBlocks = 0;
  forwardBlocks(module, &blocks, &nBlocks);

  /* Check every instance before changing anything; count the ones with ops per type. */
  size_t *withOps = calloc(mods->nItems + 1, sizeof *withOps);
  for (size_t s = 0; ok && withOps && s < nSel; ++s) {
    const CubeScopeEntry *e = &table[sel[s]];
    for (size_t b = 0; b < nBlocks; ++b) {
      Instance in;
      cubeBufClear(&msg);
      int r = analyze(blocks[b], CUBE_STR(e->path), &in, &msg);
      instanceFree(&in);
      if (r < 0) {
        emit(module, cubeBufStr(&msg)); /* the first problem only: the other instances repeat it */
        ok = false;
        break;
      } else if (r > 0) {
        for (size_t i = 0; i < mods->nItems; ++i)
          if (!strcmp(mods->items[i], e->type)) withOps[i]++;
      }
    }
  }
  for (size_t i = 0; ok && withOps && i < mods->nItems; ++i) {
    bool outermost = false; /* some instance of this type is not nested in another listed one */
    for (size_t s = 0; s < nSel && !outermost; ++s) outermost = !strcmp(table[sel[s]].type, mods->items[i]);
    if (outermost && withOps[i] == 0) {
      cubeBufClear(&msg);
      cubeBufPrintf(&msg, "cube-recompute: no op of the forward function belongs to a %s instance (nothing to "
                    "outline)", mods->items[i]);
      emit(module, cubeBufStr(&msg));
      ok = false;
    }
  }
  if (!withOps) ok = false;

  MadeList made = {0};
  for (size_t s = 0; ok && s < nSel; ++s) {
    const CubeScopeEntry *e = &table[sel[s]];
    for (size_t b = 0; ok && b < nBlocks; ++b) {
      Instance in;
      cubeBufClear(&msg);
      int r = analyze(blocks[b], CUBE_STR(e->path), &in, &msg);
      if (r < 0) emit(module, cubeBufStr(&msg));
      if (r < 0 || (r > 0 && !outline(module, CUBE_STR(e->path), e->type, &in, &made))) {
        if (r > 0) emit(module, "cube-recompute: out of memory");
        ok = false;
      }
      instanceFree(&in);
    }
  }
  for (size_t i = 0; i < made.n; ++i) {
    free(made.v[i].type);
    free(made.v[i].text);
    free(made.v[i].name);
  }
  free(made.v);
  free(withOps);
  free(blocks);
  free(sel);
  cubeBufFree(&msg);
  cubeBufFree(&present);
  cubeScopeTableFree(table, n);
  return ok ? mlirLogicalResultSuccess() : mlirLogicalResultFailure();
}

const CubePassInfo cubeRecomputePassInfo = {
    .argument = "cube-recompute",
    .description = "Outline every instance of the listed module types into a function shared by equal "
                   "instances, called through a checkpoint (func.call {cube.checkpoint}): activation recomputation",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runRecompute,
};
