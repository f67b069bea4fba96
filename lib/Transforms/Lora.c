/* cube-lora: the LoRA rewrite with peft's semantics (what the seed's USE_LORA=1 / LORA_CONFIG switch on):
 *   cube-opt model.mlir --pass-pipeline='builtin.module(cube-lora{rank=8 alpha=8 targets=q_proj,v_proj})'
 *
 * Targets match like peft's `target_modules` list: a scope-table entry whose path equals a target or ends
 * with "." + target. Each matched Linear Q becomes
 *     y = base(x) + scaling * lora_B(lora_A(dropout(x))),   scaling = alpha / rank (alpha / sqrt(rank))
 * with new trainable params Q.lora_A.weight [rank, in] (kaiming_uniform, a = sqrt(5)) and Q.lora_B.weight
 * [out, rank] (zeros); every other param is frozen (bias=all / lora_only keep biases trainable, as peft).
 * The scope table gets what peft's module tree shows: Q becomes a lora.Linear with the children
 * base_layer, lora_dropout(.default), lora_A(.default), lora_B(.default), lora_embedding_A/B and
 * lora_magnitude_vector, so `cube-opt --cube-print-module-tree` prints the model as peft prints it.
 *
 * Order independence with cube-recompute: when Q's linear sits in a function outlined by cube-recompute
 * (scopes relative to the instance P that a checkpoint call is for, Q = P + "." + relative scope),
 * the linear is rewritten once in that function, which gains two arguments (lora_A, lora_B) per rewritten
 * linear, and every checkpoint calling it passes its own instance's new params. When the targets hit the
 * linear for only some of the instances sharing a function, those instances get a copy of the function
 * (another @recompute_<Type>_N). So lora,recompute and recompute,lora give the same params, flags, ops
 * and module tree.
 *
 * Everything is checked before anything changes: a failing pass leaves the module as it was. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"

enum { OPT_RANK, OPT_ALPHA, OPT_DROPOUT, OPT_TARGETS, OPT_BIAS, OPT_RSLORA };

static const CubePassOption kOptions[] = {
    [OPT_RANK] = {"rank", CUBE_OPT_INT, "8", "LoRA rank r (peft's r)", 1, 65536},
    [OPT_ALPHA] = {"alpha", CUBE_OPT_FLOAT, "8", "lora_alpha, > 0; scaling = alpha / rank", 0, 0},
    [OPT_DROPOUT] = {"dropout", CUBE_OPT_FLOAT, "0.0", "lora_dropout p in [0, 1); 0 adds no dropout op", 0, 0},
    [OPT_TARGETS] = {"targets", CUBE_OPT_LIST, "q_proj,k_proj,v_proj",
                     "target_modules: Linear module names or path suffixes, e.g. q_proj,v_proj", 0, 0},
    [OPT_BIAS] = {"bias", CUBE_OPT_STRING, "none", "which biases stay trainable: none|all|lora_only (peft)", 0,
                  0},
    [OPT_RSLORA] = {"use-rslora", CUBE_OPT_BOOL, "false", "rank-stabilised scaling alpha / sqrt(rank)", 0, 0},
};

/* peft's lora_A init: nn.init.kaiming_uniform_(weight, a=math.sqrt(5)). */
#define LORA_A_INIT "kaiming_uniform(a=2.23606797749979)"
#define LORA_B_INIT "zeros"

typedef struct {
  int64_t rank;
  double dropout, scaling;
} Config;

/* ---- what the pass works on ---------------------------------------------------------------------------- */

/* A function outlined by cube-recompute that some checkpoint calls. */
typedef struct {
  MlirOperation func;
  MlirOperation *lin; /* its cube.linear ops, in walk order */
  char **rel;         /* their (relative) scopes */
  size_t nLin;
  intptr_t *argA; /* per linear: the index of its lora_A argument once rewritten, else -1 */
  intptr_t nArgs0; /* arguments before this pass */
} OFunc;

/* A checkpoint (func.call marked cube.checkpoint) of a forward function, and the operands it will gain. */
typedef struct {
  MlirOperation op;
  char *path; /* its instance path (cube.scope) */
  OFunc *f;   /* its callee */
  MlirValue *extra; /* the new operands, by argument index - f->nArgs0 */
  size_t nExtra;
} Call;

/* A cube.linear of a forward function (absolute scope). */
typedef struct {
  MlirOperation op;
  char *path;
} FLin;

typedef struct {
  MlirOperation module;
  Config cfg;
  CubeScopeEntry *table;
  intptr_t nTable;
  bool *selected; /* per table entry: a LoRA target */
  FLin *flin;
  size_t nFlin, capFlin;
  OFunc **funcs;
  size_t nFuncs, capFuncs;
  Call *calls;
  size_t nCalls, capCalls;
  bool oom;
} Lora;


static void emit(MlirOperation module, const char *msg) {
  mlirEmitError(mlirOperationGetLocation(module), msg);
}

/* ---- collecting linears and checkpoints ---------------------------------------------------------------- */

typedef struct {
  MlirOperation *ops;
  size_t n, cap;
  bool oom;
} OpVec;

static void collectLinear(MlirOperation op, void *u) {
  OpVec *v = u;
  MlirStringRef s;
  if (!cubeIsOp(op, "linear") || !cubeGetScope(op, &s)) return;
  if (!cubeGrow((void **)&v->ops, &v->cap, v->n + 1, sizeof *v->ops)) {
    v->oom = true;
    return;
  }
  v->ops[v->n++] = op;
}

static void freeOFunc(OFunc *f) {
  if (!f) return;
  for (size_t i = 0; f->rel && i < f->nLin; ++i) free(f->rel[i]);
  free(f->rel);
  free(f->lin);
  free(f->argA);
  free(f);
}

/* Describes a function's linears (for a function found as a callee, or a fresh copy). */
static OFunc *describeFunc(MlirOperation func) {
  OFunc *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->func = func;
  OpVec v = {0};
  cubeWalkOps(func, "cube.linear", collectLinear, &v);
  f->lin = v.ops;
  f->nLin = v.n;
  f->rel = calloc(v.n + 1, sizeof *f->rel);
  f->argA = malloc((v.n + 1) * sizeof *f->argA);
  MlirBlock entry;
  f->nArgs0 = cubeFuncEntryBlock(func, &entry) ? mlirBlockGetNumArguments(entry) : 0;
  bool ok = !v.oom && f->rel && f->argA;
  for (size_t i = 0; ok && i < v.n; ++i) {
    MlirStringRef s;
    cubeGetScope(v.ops[i], &s);
    f->rel[i] = cubeStrDupRef(s);
    f->argA[i] = -1;
    ok = f->rel[i] != NULL;
  }
  if (!ok) {
    f->nLin = v.n;
    freeOFunc(f);
    return NULL;
  }
  return f;
}

static OFunc *ofuncFor(Lora *l, MlirOperation func) {
  for (size_t i = 0; i < l->nFuncs; ++i)
    if (mlirOperationEqual(l->funcs[i]->func, func)) return l->funcs[i];
  OFunc *f = describeFunc(func);
  if (!f || !cubeGrow((void **)&l->funcs, &l->capFuncs, l->nFuncs + 1, sizeof *l->funcs)) {
    freeOFunc(f);
    l->oom = true;
    return NULL;
  }
  l->funcs[l->nFuncs++] = f;
  return f;
}

/* Forward linears (absolute scopes) and the checkpoints of forward functions with outlined callees. */
static void collect(Lora *l) {
  MlirBlock body = cubeModuleBody(l->module);
  if (mlirBlockIsNull(body)) return;
  for (MlirOperation fn = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(fn);
       fn = mlirOperationGetNextInBlock(fn)) {
    MlirBlock entry;
    if (cubeIsOutlinedFunc(fn) || !cubeFuncEntryBlock(fn, &entry)) continue;
    OpVec v = {0};
    cubeWalkOps(fn, "cube.linear", collectLinear, &v);
    for (size_t i = 0; i < v.n && !v.oom; ++i) {
      MlirStringRef s;
      cubeGetScope(v.ops[i], &s);
      if (!cubeGrow((void **)&l->flin, &l->capFlin, l->nFlin + 1, sizeof *l->flin)) {
        l->oom = true;
        break;
      }
      l->flin[l->nFlin++] = (FLin){v.ops[i], cubeStrDupRef(s)};
      if (!l->flin[l->nFlin - 1].path) l->oom = true;
    }
    if (v.oom) l->oom = true;
    free(v.ops);
    for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op);
         op = mlirOperationGetNextInBlock(op)) {
      MlirStringRef callee, scope;
      if (!cubeIsCheckpoint(op) || !cubeCheckpointCallee(op, &callee) || !cubeGetScope(op, &scope)) continue;
      MlirOperation f = cubeLookupFunc(l->module, callee);
      if (mlirOperationIsNull(f) || !cubeIsOutlinedFunc(f)) continue;
      OFunc *of = ofuncFor(l, f);
      if (!of || !cubeGrow((void **)&l->calls, &l->capCalls, l->nCalls + 1, sizeof *l->calls)) {
        l->oom = true;
        return;
      }
      l->calls[l->nCalls++] = (Call){op, cubeStrDupRef(scope), of, NULL, 0};
      if (!l->calls[l->nCalls - 1].path) l->oom = true;
    }
  }
}

/* A checkpoint inside an outlined function (cube-recompute never writes one) would miss the operands that
 * its callee gains: such a module is refused. */
typedef struct {
  MlirOperation inner; /* the first such checkpoint */
} NestedState;

static void findNested(MlirOperation op, void *u) {
  NestedState *st = u;
  if (mlirOperationIsNull(st->inner) && cubeIsCheckpoint(op)) st->inner = op;
}

static bool checkNoNestedCheckpoints(Lora *l) {
  for (size_t i = 0; i < l->nFuncs; ++i) {
    NestedState st = {{NULL}};
    cubeWalkOps(l->funcs[i]->func, NULL, findNested, &st);
    if (mlirOperationIsNull(st.inner)) continue;
    MlirStringRef name = mlirStringRefCreate("?", 1), callee = mlirStringRefCreate("?", 1);
    cubeGetStrAttr(l->funcs[i]->func, "sym_name", &name);
    cubeCheckpointCallee(st.inner, &callee);
    CubeBuf msg = {0};
    cubeBufPrintf(&msg, "cube-lora: @%.*s contains a checkpoint (calling @%.*s); nested checkpoints are not "
                  "supported", (int)name.length, name.data, (int)callee.length, callee.data);
    emit(l->module, cubeBufStr(&msg));
    cubeBufFree(&msg);
    return false;
  }
  return true;
}

/* ---- matching ------------------------------------------------------------------------------------------ */

static bool endsWithComponent(const char *path, const char *target) {
  size_t p = strlen(path), t = strlen(target);
  if (p == t) return !strcmp(path, target);
  return p > t && path[p - t - 1] == '.' && !strcmp(path + p - t, target);
}

static intptr_t tableIndex(const Lora *l, const char *path) {
  for (intptr_t i = 0; i < l->nTable; ++i)
    if (!strcmp(l->table[i].path, path)) return i;
  return -1;
}

static bool isSelectedPath(const Lora *l, const char *path) {
  intptr_t i = tableIndex(l, path);
  return i >= 0 && l->selected[i];
}

/* The nearest ancestor of entry i that is a lora.Linear, or -1. */
static intptr_t loraAncestor(const Lora *l, intptr_t i) {
  for (intptr_t j = 0; j < l->nTable; ++j) {
    const char *p = l->table[j].path;
    if (j != i && strcmp(l->table[j].type, "lora.Linear") == 0 && strlen(p) < strlen(l->table[i].path) &&
        cubeScopeWithin(CUBE_STR(l->table[i].path), CUBE_STR(p), NULL))
      return j;
  }
  return -1;
}

/* Selects the table entries the targets match; reports targets that match a module LoRA cannot wrap. */
static bool selectTargets(Lora *l, const CubeOptionValue *targets) {
  bool ok = true, any = false;
  CubeBuf msg = {0};
  for (intptr_t i = 0; i < l->nTable; ++i) {
    const CubeScopeEntry *e = &l->table[i];
    for (size_t t = 0; t < targets->nItems; ++t) {
      if (!endsWithComponent(e->path, targets->items[t])) continue;
      cubeBufClear(&msg);
      intptr_t anc = loraAncestor(l, i);
      if (!strcmp(e->type, "lora.Linear"))
        cubeBufPrintf(&msg, "cube-lora: '%s' is already a lora.Linear (LoRA applied twice to the same module)",
                      e->path);
      else if (anc >= 0)
        cubeBufPrintf(&msg, "cube-lora: target '%s' matches '%s', which is inside the lora.Linear '%s' (LoRA "
                      "applied twice to the same module)", targets->items[t], e->path, l->table[anc].path);
      else if (strcmp(e->type, "Linear") != 0)
        cubeBufPrintf(&msg, "cube-lora: target '%s' matches '%s', a %s; LoRA wraps Linear modules only",
                      targets->items[t], e->path, e->type);
      if (msg.len) {
        emit(l->module, cubeBufStr(&msg));
        ok = false;
      } else {
        l->selected[i] = true;
        any = true;
      }
      break;
    }
  }
  if (ok && !any) {
    cubeBufClear(&msg);
    cubeBufPrintf(&msg, "cube-lora: no Linear module matches the targets '");
    for (size_t t = 0; t < targets->nItems; ++t) cubeBufPrintf(&msg, "%s%s", t ? "," : "", targets->items[t]);
    cubeBufAppend(&msg, "' (known Linear modules: ");
    size_t listed = 0;
    for (intptr_t i = 0; i < l->nTable; ++i) {
      if (strcmp(l->table[i].type, "Linear") != 0) continue;
      const char *dot = strrchr(l->table[i].path, '.');
      const char *name = dot ? dot + 1 : l->table[i].path;
      bool seen = false;
      for (intptr_t j = 0; j < i && !seen; ++j) {
        const char *d2 = strrchr(l->table[j].path, '.');
        seen = !strcmp(l->table[j].type, "Linear") && !strcmp(d2 ? d2 + 1 : l->table[j].path, name);
      }
      if (!seen) cubeBufPrintf(&msg, "%s%s", listed++ ? ", " : "", name);
    }
    cubeBufAppend(&msg, listed ? ")" : "none)");
    emit(l->module, cubeBufStr(&msg));
    ok = false;
  }
  cubeBufFree(&msg);
  return ok;
}

/* ---- checking a linear --------------------------------------------------------------------------------- */

/* A linear LoRA can wrap: [*, in] x [out, in] -> [*, out], static shapes. */
static bool linearShapes(MlirOperation op, int64_t *in, int64_t *out) {
  if (mlirOperationGetNumOperands(op) < 2 || mlirOperationGetNumResults(op) != 1) return false;
  MlirType w = mlirValueGetType(mlirOperationGetOperand(op, 1));
  MlirType y = mlirValueGetType(mlirOperationGetResult(op, 0));
  MlirType x = mlirValueGetType(mlirOperationGetOperand(op, 0));
  if (!cubeIsStaticTensor(w) || !cubeIsStaticTensor(y) || !cubeIsStaticTensor(x)) return false;
  if (mlirShapedTypeGetRank(w) != 2 || mlirShapedTypeGetRank(y) < 1 || mlirShapedTypeGetRank(y) > 64 ||
      mlirShapedTypeGetRank(x) < 1)
    return false;
  *out = mlirShapedTypeGetDimSize(w, 0);
  *in = mlirShapedTypeGetDimSize(w, 1);
  return mlirShapedTypeGetDimSize(y, mlirShapedTypeGetRank(y) - 1) == *out &&
         mlirShapedTypeGetDimSize(x, mlirShapedTypeGetRank(x) - 1) == *in;
}

/* Every selected module has at least one cube.linear, all of a shape LoRA can wrap, all in one function. */
static bool checkSites(Lora *l) {
  bool ok = true;
  CubeBuf msg = {0}, full = {0};
  for (intptr_t i = 0; i < l->nTable; ++i) {
    if (!l->selected[i]) continue;
    const char *q = l->table[i].path;
    size_t found = 0;
    MlirBlock home = {NULL};
    bool bad = false, split = false;
    int64_t in, out;
    for (size_t k = 0; k < l->nFlin; ++k) {
      if (strcmp(l->flin[k].path, q) != 0) continue;
      found++;
      bad |= !linearShapes(l->flin[k].op, &in, &out);
      MlirBlock b = mlirOperationGetBlock(l->flin[k].op);
      if (!mlirBlockIsNull(home) && !mlirBlockEqual(home, b)) split = true;
      home = b;
    }
    for (size_t c = 0; c < l->nCalls; ++c) {
      const OFunc *f = l->calls[c].f;
      for (size_t k = 0; k < f->nLin; ++k) {
        cubeScopeJoin(CUBE_STR(l->calls[c].path), CUBE_STR(f->rel[k]), &full);
        if (strcmp(cubeBufStr(&full), q) != 0) continue;
        found++;
        bad |= !linearShapes(f->lin[k], &in, &out);
        MlirBlock b = mlirOperationGetBlock(l->calls[c].op);
        if (!mlirBlockIsNull(home) && !mlirBlockEqual(home, b)) split = true;
        home = b;
      }
    }
    cubeBufClear(&msg);
    if (!found)
      cubeBufPrintf(&msg, "cube-lora: '%s' is a Linear of the scope table but no cube.linear carries its scope",
                    q);
    else if (bad)
      cubeBufPrintf(&msg, "cube-lora: the cube.linear of '%s' is not [*, in] x [out, in] -> [*, out] with "
                    "static shapes", q);
    else if (split)
      cubeBufPrintf(&msg, "cube-lora: '%s' is used from two functions; its LoRA params would be shared across "
                    "them", q);
    if (msg.len) {
      emit(l->module, cubeBufStr(&msg));
      ok = false;
    }
  }
  cubeBufFree(&msg);
  cubeBufFree(&full);
  return ok;
}

/* ---- sharing outlined functions ------------------------------------------------------------------------ */

/* Which of f's linears the targets hit for call c: sig[k] = 1 when c's instance path + rel[k] is selected. */
static void signature(const Lora *l, const Call *c, char *sig, CubeBuf *tmp) {
  for (size_t k = 0; k < c->f->nLin; ++k) {
    cubeScopeJoin(CUBE_STR(c->path), CUBE_STR(c->f->rel[k]), tmp);
    sig[k] = isSelectedPath(l, cubeBufStr(tmp)) ? 1 : 0;
  }
}

/* When the targets hit a shared function's linears differently for different instances, each group of
 * instances with the same hits gets its own copy of the function (instances with no hit keep the
 * original). Afterwards, all calls of one function need the same rewrite. */
static bool splitFunctions(Lora *l) {
  CubeBuf tmp = {0}, name = {0};
  size_t nFuncs = l->nFuncs; /* copies appended below are uniform already */
  bool ok = true;
  for (size_t fi = 0; fi < nFuncs && ok; ++fi) {
    OFunc *f = l->funcs[fi];
    size_t n = f->nLin ? f->nLin : 1;
    char *sig = calloc(l->nCalls * n + 1, 1);
    size_t *group = calloc(l->nCalls + 1, sizeof *group); /* call -> index of the first call of its group */
    if (!sig || !group) {
      free(sig);
      free(group);
      ok = false;
      break;
    }
    bool uniform = true, anyEmpty = false;
    intptr_t first = -1;
    for (size_t c = 0; c < l->nCalls; ++c) {
      if (l->calls[c].f != f) continue;
      signature(l, &l->calls[c], sig + c * n, &tmp);
      if (first < 0) first = (intptr_t)c;
      else if (memcmp(sig + c * n, sig + (size_t)first * n, f->nLin)) uniform = false;
      bool empty = true;
      for (size_t k = 0; k < f->nLin; ++k) empty &= !sig[c * n + k];
      anyEmpty |= empty;
      group[c] = c;
      for (size_t d = 0; d < c; ++d)
        if (l->calls[d].f == f && !memcmp(sig + c * n, sig + d * n, f->nLin)) {
          group[c] = group[d];
          break;
        }
    }
    if (!uniform) {
      bool originalUsed = anyEmpty; /* the instances without hits keep the original */
      for (size_t c = 0; c < l->nCalls && ok; ++c) {
        if (l->calls[c].f != f || group[c] != c) continue;
        bool empty = true;
        for (size_t k = 0; k < f->nLin; ++k) empty &= !sig[c * n + k];
        if (empty) continue;
        if (!originalUsed) {
          originalUsed = true; /* the first group with hits rewrites the original */
          continue;
        }
        MlirStringRef type = mlirStringRefCreate("", 0);
        cubeGetStrAttr(f->func, "cube.instance_type", &type);
        char base[512];
        snprintf(base, sizeof base, "recompute_%.*s", (int)type.length, type.data);
        cubeFreshSymbol(l->module, base, &name);
        MlirOperation copy = mlirOperationClone(f->func);
        cubeSetStrAttr(copy, "sym_name", cubeBufStr(&name));
        mlirBlockInsertOwnedOperationAfter(cubeModuleBody(l->module), f->func, copy);
        OFunc *cf = ofuncFor(l, copy);
        if (!cf || cf->nLin != f->nLin) {
          ok = false;
          break;
        }
        for (size_t d = c; d < l->nCalls; ++d)
          if (l->calls[d].f == f && group[d] == c) {
            l->calls[d].f = cf;
            cubeSetCheckpointCallee(l->calls[d].op, cubeBufStr(&name));
          }
      }
    }
    free(sig);
    free(group);
  }
  cubeBufFree(&tmp);
  cubeBufFree(&name);
  return ok && !l->oom;
}

/* ---- the rewrite --------------------------------------------------------------------------------------- */

/* A seed for Q's dropout that is equal for the instances of a ModuleList (purely numeric path components
 * are left out), so that equal layers stay equal and can share an outlined function whichever pass runs
 * first. */
static int64_t dropoutSeed(const char *q) {
  uint64_t h = CUBE_FNV_INIT;
  const char *p = q;
  while (*p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    bool numeric = n > 0;
    for (size_t i = 0; i < n; ++i) numeric &= p[i] >= '0' && p[i] <= '9';
    if (!numeric) h = cubeFnv1a(cubeFnv1a(h, p, n), ".", 1);
    p += n + (dot ? 1 : 0);
  }
  return (int64_t)(h & 0x7fffffff);
}

/* y = L(x)  ->  y' = L(x) + scaling * linear(linear(dropout(x), A), B). Scopes are `prefix` + the peft
 * child names (prefix is Q in a forward function, Q's relative scope in an outlined one). */
static void rewriteLinear(const Config *cfg, MlirOperation lin, MlirValue a, MlirValue b, const char *prefix,
                          const char *q) {
  MlirContext ctx = mlirOperationGetContext(lin);
  MlirLocation loc = mlirOperationGetLocation(lin);
  MlirBlock block = mlirOperationGetBlock(lin);
  MlirValue x = mlirOperationGetOperand(lin, 0), y = mlirOperationGetResult(lin, 0);
  MlirType yt = mlirValueGetType(y);
  intptr_t rank = mlirShapedTypeGetRank(yt);
  int64_t shape[64];
  if (rank < 1 || rank > 64) return; /* linearShapes checked it */
  for (intptr_t i = 0; i < rank; ++i) shape[i] = mlirShapedTypeGetDimSize(yt, i);
  shape[rank - 1] = cfg->rank;
  MlirType at = mlirRankedTensorTypeGet(rank, shape, mlirShapedTypeGetElementType(yt), mlirAttributeGetNull());

  CubeBuf s = {0};
  MlirStringRef pre = CUBE_STR(prefix);
  cubeScopeJoin(pre, CUBE_STR("base_layer"), &s);
  cubeSetScope(lin, cubeBufStr(&s));

  MlirOperation anchor = lin;
  MlirValue in = x;
  if (cfg->dropout > 0) {
    cubeScopeJoin(pre, CUBE_STR("lora_dropout.default"), &s);
    MlirNamedAttribute attrs[3] = {cubeNamedF64(ctx, "p", cfg->dropout),
                                   cubeNamedI64(ctx, "seed", dropoutSeed(q)),
                                   cubeNamedStr(ctx, "cube.scope", cubeBufStr(&s))};
    MlirOperation d = cubeBuildOp(loc, "dropout", 1, &x, mlirValueGetType(x), 3, attrs);
    mlirBlockInsertOwnedOperationAfter(block, anchor, d);
    anchor = d;
    in = mlirOperationGetResult(d, 0);
  }
  cubeScopeJoin(pre, CUBE_STR("lora_A.default"), &s);
  MlirNamedAttribute sa = cubeNamedStr(ctx, "cube.scope", cubeBufStr(&s));
  MlirValue aOps[2] = {in, a};
  MlirOperation la = cubeBuildOp(loc, "linear", 2, aOps, at, 1, &sa);
  mlirBlockInsertOwnedOperationAfter(block, anchor, la);

  cubeScopeJoin(pre, CUBE_STR("lora_B.default"), &s);
  MlirNamedAttribute sb = cubeNamedStr(ctx, "cube.scope", cubeBufStr(&s));
  MlirValue bOps[2] = {mlirOperationGetResult(la, 0), b};
  MlirOperation lb = cubeBuildOp(loc, "linear", 2, bOps, yt, 1, &sb);
  mlirBlockInsertOwnedOperationAfter(block, la, lb);

  MlirNamedAttribute scAttrs[2] = {cubeNamedF64(ctx, "factor", cfg->scaling),
                                   cubeNamedStr(ctx, "cube.scope", prefix)};
  MlirValue sIn = mlirOperationGetResult(lb, 0);
  MlirOperation sc = cubeBuildOp(loc, "scale", 1, &sIn, yt, 2, scAttrs);
  mlirBlockInsertOwnedOperationAfter(block, lb, sc);

  MlirNamedAttribute addScope = cubeNamedStr(ctx, "cube.scope", prefix);
  MlirValue addOps[2] = {y, mlirOperationGetResult(sc, 0)};
  MlirOperation add = cubeBuildOp(loc, "add", 2, addOps, yt, 1, &addScope);
  mlirBlockInsertOwnedOperationAfter(block, sc, add);
  mlirValueReplaceAllUsesExcept(y, mlirOperationGetResult(add, 0), 1, &add);
  cubeBufFree(&s);
}

/* Inserts a param op after the last top-level cube.param of `block` (at its start when there is none). */
static void insertParam(MlirBlock block, MlirOperation param) {
  MlirOperation last = {NULL};
  for (MlirOperation op = mlirBlockGetFirstOperation(block); !mlirOperationIsNull(op);
       op = mlirOperationGetNextInBlock(op))
    if (cubeIsOp(op, "param")) last = op;
  if (mlirOperationIsNull(last))
    mlirBlockInsertOwnedOperation(block, 0, param);
  else
    mlirBlockInsertOwnedOperationAfter(block, last, param);
}

/* Q's two params, created in `block` next to the other params: lora_A [rank, in], lora_B [out, rank]. */
static void makeParams(const Config *cfg, MlirOperation lin, MlirBlock block, const char *q, MlirValue *a,
                       MlirValue *b) {
  MlirValue w = mlirOperationGetOperand(lin, 1);
  MlirType wt = mlirValueGetType(w);
  MlirType et = mlirShapedTypeGetElementType(wt);
  int64_t out = mlirShapedTypeGetDimSize(wt, 0), in = mlirShapedTypeGetDimSize(wt, 1);
  int64_t sa[2] = {cfg->rank, in}, sb[2] = {out, cfg->rank};
  MlirAttribute noEnc = mlirAttributeGetNull();
  MlirLocation loc = mlirOperationGetLocation(lin);
  CubeBuf name = {0}, scope = {0};
  MlirOperation pa, pb;
  cubeBufPrintf(&name, "%s.lora_A.weight", q);
  cubeBufPrintf(&scope, "%s.lora_A.default", q);
  pa = cubeBuildParam(loc, mlirRankedTensorTypeGet(2, sa, et, noEnc), cubeBufStr(&name), LORA_A_INIT, true);
  cubeSetScope(pa, cubeBufStr(&scope));
  insertParam(block, pa);
  cubeBufClear(&name);
  cubeBufClear(&scope);
  cubeBufPrintf(&name, "%s.lora_B.weight", q);
  cubeBufPrintf(&scope, "%s.lora_B.default", q);
  pb = cubeBuildParam(loc, mlirRankedTensorTypeGet(2, sb, et, noEnc), cubeBufStr(&name), LORA_B_INIT, true);
  cubeSetScope(pb, cubeBufStr(&scope));
  insertParam(block, pb);
  cubeBufFree(&name);
  cubeBufFree(&scope);
  *a = mlirOperationGetResult(pa, 0);
  *b = mlirOperationGetResult(pb, 0);
}

/* Rewrites every site of the selected modules, in table order. */
static bool rewriteAll(Lora *l) {
  CubeBuf full = {0};
  bool ok = true;
  for (intptr_t i = 0; i < l->nTable && ok; ++i) {
    if (!l->selected[i]) continue;
    const char *q = l->table[i].path;
    bool made = false;
    MlirValue pa = {NULL}, pb = {NULL};
    for (size_t k = 0; k < l->nFlin; ++k) {
      if (strcmp(l->flin[k].path, q) != 0) continue;
      if (!made) makeParams(&l->cfg, l->flin[k].op, mlirOperationGetBlock(l->flin[k].op), q, &pa, &pb);
      made = true;
      rewriteLinear(&l->cfg, l->flin[k].op, pa, pb, q, q);
    }
    for (size_t c = 0; c < l->nCalls && ok; ++c) {
      Call *call = &l->calls[c];
      OFunc *f = call->f;
      for (size_t k = 0; k < f->nLin && ok; ++k) {
        cubeScopeJoin(CUBE_STR(call->path), CUBE_STR(f->rel[k]), &full);
        if (strcmp(cubeBufStr(&full), q) != 0) continue;
        if (!made) makeParams(&l->cfg, f->lin[k], mlirOperationGetBlock(call->op), q, &pa, &pb);
        made = true;
        if (f->argA[k] < 0) { /* first instance of this function: rewrite the linear in it, once */
          MlirValue args[2];
          MlirType types[2] = {mlirValueGetType(pa), mlirValueGetType(pb)};
          MlirBlock entry;
          if (!cubeFuncEntryBlock(f->func, &entry) ||
              !cubeFuncAppendArgs(f->func, 2, types, mlirOperationGetLocation(f->lin[k]), args)) {
            ok = false;
            break;
          }
          f->argA[k] = mlirBlockGetNumArguments(entry) - 2;
          rewriteLinear(&l->cfg, f->lin[k], args[0], args[1], f->rel[k], q);
          /* The function was outlined from the Linear itself (cube-recompute{modules=Linear}): its instances
           * are lora.Linear modules now. */
          if (f->rel[k][0] == 0) cubeSetStrAttr(f->func, "cube.instance_type", "lora.Linear");
        }
        size_t slot = (size_t)(f->argA[k] - f->nArgs0);
        if (slot + 2 > call->nExtra) {
          MlirValue *e = realloc(call->extra, (slot + 2) * sizeof *e);
          if (!e) {
            ok = false;
            break;
          }
          for (size_t z = call->nExtra; z < slot + 2; ++z) e[z] = (MlirValue){NULL};
          call->extra = e;
          call->nExtra = slot + 2;
        }
        call->extra[slot] = pa;
        call->extra[slot + 1] = pb;
      }
    }
  }
  /* Every checkpoint passes the params of its own instance, in the order of the new arguments. */
  for (size_t c = 0; c < l->nCalls && ok; ++c) {
    Call *call = &l->calls[c];
    MlirBlock entry;
    if (!cubeFuncEntryBlock(call->f->func, &entry)) continue;
    intptr_t nArgs = mlirBlockGetNumArguments(entry), nOld = mlirOperationGetNumOperands(call->op);
    if (nArgs == nOld) continue;
    if ((size_t)(nArgs - nOld) != call->nExtra || nOld != call->f->nArgs0) {
      ok = false;
      break;
    }
    MlirValue *ops = malloc((size_t)nArgs * sizeof *ops);
    if (!ops) {
      ok = false;
      break;
    }
    for (intptr_t k = 0; k < nOld; ++k) ops[k] = mlirOperationGetOperand(call->op, k);
    for (size_t k = 0; k < call->nExtra; ++k) {
      if (mlirValueIsNull(call->extra[k])) ok = false;
      ops[nOld + (intptr_t)k] = call->extra[k];
    }
    if (ok) mlirOperationSetOperands(call->op, nArgs, ops);
    free(ops);
  }
  cubeBufFree(&full);
  return ok;
}

/* ---- freezing ------------------------------------------------------------------------------------------ */

typedef struct {
  const Lora *l;
  const char *bias;
} FreezeState;

static void freezeParam(MlirOperation op, void *u) {
  const FreezeState *st = u;
  MlirStringRef name;
  if (!cubeIsOp(op, "param") || !cubeGetStrAttr(op, "name", &name)) return;
  char *n = cubeStrDupRef(name);
  if (!n) return;
  if (!strstr(n, "lora_")) { /* peft: every param whose name lacks the prefix "lora_" is frozen */
    bool train = false;
    size_t len = strlen(n);
    bool isBias = len > 5 && !strcmp(n + len - 5, ".bias");
    if (isBias && !strcmp(st->bias, "all")) train = true;
    if (isBias && !strcmp(st->bias, "lora_only")) {
      n[len - 5] = 0;
      train = isSelectedPath(st->l, n); /* the bias of a targeted Linear */
    }
    cubeSetBoolAttr(op, "trainable", train);
  }
  free(n);
}

/* ---- the scope table ----------------------------------------------------------------------------------- */

static bool rewriteTable(Lora *l) {
  static const char *const kChildren[][2] = {
      {"base_layer", "Linear"},         {"lora_dropout", "ModuleDict"},
      {"lora_dropout.default", NULL},   {"lora_A", "ModuleDict"},
      {"lora_A.default", "Linear"},     {"lora_B", "ModuleDict"},
      {"lora_B.default", "Linear"},     {"lora_embedding_A", "ParameterDict"},
      {"lora_embedding_B", "ParameterDict"}, {"lora_magnitude_vector", "ModuleDict"},
  };
  enum { NCHILD = sizeof kChildren / sizeof kChildren[0] };
  size_t nSel = 0;
  for (intptr_t i = 0; i < l->nTable; ++i) nSel += l->selected[i];
  size_t n = (size_t)l->nTable + nSel * NCHILD;
  CubeScopeEntry *out = calloc(n + 1, sizeof *out);
  char **owned = calloc(nSel * NCHILD + 1, sizeof *owned);
  size_t k = 0, nOwned = 0;
  bool ok = out && owned;
  for (intptr_t i = 0; ok && i < l->nTable; ++i) {
    out[k++] = (CubeScopeEntry){l->table[i].path, l->table[i].type};
    if (!l->selected[i]) continue;
    out[k - 1].type = "lora.Linear";
    for (size_t c = 0; c < NCHILD; ++c) {
      size_t len = strlen(l->table[i].path) + strlen(kChildren[c][0]) + 2;
      char *p = malloc(len);
      if (!p) {
        ok = false;
        break;
      }
      snprintf(p, len, "%s.%s", l->table[i].path, kChildren[c][0]);
      owned[nOwned++] = p;
      const char *type = kChildren[c][1] ? kChildren[c][1] : (l->cfg.dropout > 0 ? "Dropout" : "Identity");
      out[k++] = (CubeScopeEntry){p, (char *)type};
    }
  }
  if (ok) cubeScopeTableWrite(l->module, out, (intptr_t)k);
  for (size_t i = 0; i < nOwned; ++i) free(owned[i]);
  free(owned);
  free(out);
  return ok;
}

/* ---- the pass ------------------------------------------------------------------------------------------ */

static bool checkOptions(MlirOperation module, const CubeOptionValue *o, Config *cfg) {
  char msg[512];
  bool ok = true;
  if (o[OPT_RANK].i <= 0) {
    snprintf(msg, sizeof msg, "cube-lora: rank must be a positive integer, got %lld", (long long)o[OPT_RANK].i);
    emit(module, msg);
    ok = false;
  }
  if (!(o[OPT_ALPHA].f > 0)) {
    snprintf(msg, sizeof msg, "cube-lora: alpha must be > 0, got %g", o[OPT_ALPHA].f);
    emit(module, msg);
    ok = false;
  }
  if (!(o[OPT_DROPOUT].f >= 0 && o[OPT_DROPOUT].f < 1)) {
    snprintf(msg, sizeof msg, "cube-lora: dropout must be in [0, 1), got %g", o[OPT_DROPOUT].f);
    emit(module, msg);
    ok = false;
  }
  const char *bias = o[OPT_BIAS].s ? o[OPT_BIAS].s : "";
  if (strcmp(bias, "none") && strcmp(bias, "all") && strcmp(bias, "lora_only")) {
    snprintf(msg, sizeof msg, "cube-lora: unknown bias mode '%.200s' (expected none, all or lora_only)", bias);
    emit(module, msg);
    ok = false;
  }
  if (o[OPT_TARGETS].nItems == 0) {
    emit(module, "cube-lora needs targets=NAME[,NAME...] (Linear module names, e.g. q_proj,v_proj)");
    ok = false;
  }
  if (!ok) return false;
  cfg->rank = o[OPT_RANK].i;
  cfg->dropout = o[OPT_DROPOUT].f;
  double alpha = o[OPT_ALPHA].f;
  cfg->scaling = o[OPT_RSLORA].b ? alpha / sqrt((double)cfg->rank) : alpha / (double)cfg->rank;
  return true;
}

static MlirLogicalResult runLora(MlirOperation module, const CubeOptionValue *options) {
  Lora l = {0};
  l.module = module;
  if (!checkOptions(module, options, &l.cfg)) return mlirLogicalResultFailure();
  l.table = cubeScopeTableRead(module, &l.nTable);
  if (l.nTable == 0) {
    emit(module, "cube-lora: the module has no cube.modules scope table, so no Linear module can be targeted");
    cubeScopeTableFree(l.table, l.nTable);
    return mlirLogicalResultFailure();
  }
  l.selected = calloc((size_t)l.nTable, sizeof *l.selected);
  bool ok = l.selected && selectTargets(&l, &options[OPT_TARGETS]);
  if (ok) collect(&l);
  if (ok && l.oom) {
    emit(module, "cube-lora: out of memory");
    ok = false;
  }
  ok = ok && checkNoNestedCheckpoints(&l) && checkSites(&l);
  /* From here on the module changes. */
  if (ok && !splitFunctions(&l)) {
    emit(module, "cube-lora: internal error while copying a shared outlined function");
    ok = false;
  }
  if (ok && !rewriteAll(&l)) {
    emit(module, "cube-lora: internal error while adding arguments to an outlined function");
    ok = false;
  }
  if (ok) {
    FreezeState st = {&l, options[OPT_BIAS].s};
    cubeWalkOps(module, "cube.param", freezeParam, &st);
    if (!rewriteTable(&l)) {
      emit(module, "cube-lora: out of memory");
      ok = false;
    }
  }
  for (size_t i = 0; i < l.nFlin; ++i) free(l.flin[i].path);
  free(l.flin);
  for (size_t i = 0; i < l.nCalls; ++i) {
    free(l.calls[i].path);
    free(l.calls[i].extra);
  }
  free(l.calls);
  for (size_t i = 0; i < l.nFuncs; ++i) freeOFunc(l.funcs[i]);
  free(l.funcs);
  free(l.selected);
  cubeScopeTableFree(l.table, l.nTable);
  return ok ? mlirLogicalResultSuccess() : mlirLogicalResultFailure();
}

const CubePassInfo cubeLoraPassInfo = {
    .argument = "cube-lora",
    .description = "Add LoRA adapters to the targeted Linear modules and freeze every other parameter (peft)",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runLora,
};
