/* The cube verifier's driver and its module-level rules (cube/Verify.h, docs/dialect.md):
 *   - the scope table `cube.modules` on the module (well-formed pairs, unique paths, known module types,
 *     parents present), and every op's `cube.scope` naming one of its entries;
 *   - unique cube.param names across the module;
 *   - the module's func.func symbols and the cube.checkpoint call graph (for VerifyOps.c's callee rule).
 * Per-op rules live in VerifyOps.c. Every problem is reported as an MLIR error at the offending op (or
 * at the module for table problems), in textual order; the verifier never stops at the first one and
 * never aborts: every MLIR getter is guarded by a kind check. */
#include "cube/Verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "VerifyInternal.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/Diagnostics.h"

const char *const cubeKnownModuleTypes[] = {
    "LlamaForCausalLM", "LlamaModel", "ModuleList", "ModuleDict", "Embedding", "LlamaDecoderLayer",
    "LlamaAttention", "LlamaMLP", "LlamaRMSNorm", "LlamaRotaryEmbedding", "Linear", "SiLU",
    "SiLUActivation", "Dropout", "Identity", "lora.Linear", "LoraModel", "PeftModelForCausalLM",
    "ParameterDict", NULL};

bool cubeIsKnownModuleType(MlirStringRef type) {
  for (const char *const *k = cubeKnownModuleTypes; *k; ++k)
    if (strlen(*k) == type.length && !memcmp(*k, type.data, type.length)) return true;
  return false;
}

/* A string with the index it came from: entries of the scope table, parameter names. */
typedef struct {
  MlirStringRef key;
  MlirStringRef type; /* table entries: the module type */
  intptr_t index;     /* table entries: entry number; params: position in ops[] */
} Keyed;

typedef struct {
  intptr_t from, to; /* func indices: a checkpoint inside func `from` calls func `to` */
  MlirOperation call; /* the checkpoint */
} Edge;

typedef enum { TABLE_NONE, TABLE_BAD, TABLE_OK } TableState;

struct CubeVerifier {
  MlirOperation module;
  int errors;
  bool oom;
  MlirOperation *ops; /* every op nested in the module, pre-order */
  intptr_t nOps, capOps;
  TableState table;
  Keyed *entries, *sortedEntries; /* well-formed table entries, in table order and sorted by path */
  intptr_t nEntries;
  Keyed *params; /* cube.param names, sorted by (name, position) */
  intptr_t nParams;
  MlirOperation *symbols; /* the module's top-level ops with a string sym_name */
  intptr_t nSymbols;
  MlirOperation *funcs; /* those that are func.func */
  intptr_t nFuncs;
  Edge *edges;
  intptr_t nEdges;
};

/* ---- messages ------------------------------------------------------------------------------------ */

void cubeVerifyEmit(CubeVerifier *v, MlirOperation op, const char *fmt, ...) {
  char msg[2048];
  MlirStringRef name = mlirIdentifierStr(mlirOperationGetName(op));
  int n = snprintf(msg, sizeof msg, "'%.*s' op ", CUBE_SR(name));
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  mlirEmitError(mlirOperationGetLocation(op), msg);
  v->errors++;
}

typedef struct {
  char *cur, *end;
} Sink;

static void toSink(MlirStringRef s, void *u) {
  Sink *k = u;
  size_t room = (size_t)(k->end - k->cur);
  size_t n = s.length < room ? s.length : room;
  if (n) memcpy(k->cur, s.data, n);
  k->cur += n;
}

/* Long attribute texts (a whole scope table) are cut and end in "...". */
static void finishSink(Sink *k, char *buf, size_t size) {
  *k->cur = 0;
  if (k->cur == k->end && size > 4) strcpy(buf + size - 4, "...");
}

void cubeVerifyPrintAttr(MlirAttribute a, char *buf, size_t size) {
  if (!size) return;
  Sink k = {buf, buf + size - 1};
  if (mlirAttributeIsNull(a)) toSink(CUBE_STR("<<null>>"), &k);
  else mlirAttributePrint(a, toSink, &k);
  finishSink(&k, buf, size);
}

void cubeVerifyPrintType(MlirType t, char *buf, size_t size) {
  if (!size) return;
  Sink k = {buf, buf + size - 1};
  if (mlirTypeIsNull(t)) toSink(CUBE_STR("<<null>>"), &k);
  else mlirTypePrint(t, toSink, &k);
  finishSink(&k, buf, size);
}

void cubeVerifyPrintLoc(MlirLocation loc, char *buf, size_t size) {
  if (!size) return;
  MlirStringRef file;
  unsigned line, col;
  if (cubeLocationFileLineCol(loc, &file, &line, &col)) {
    snprintf(buf, size, "%.*s:%u:%u", CUBE_SR(file), line, col);
    return;
  }
  Sink k = {buf, buf + size - 1};
  mlirLocationPrint(loc, toSink, &k);
  finishSink(&k, buf, size);
}

/* ---- small utilities ----------------------------------------------------------------------------- */

static int cmpStr(MlirStringRef a, MlirStringRef b) {
  size_t n = a.length < b.length ? a.length : b.length;
  int c = n ? memcmp(a.data, b.data, n) : 0;
  if (c) return c;
  return (a.length > b.length) - (a.length < b.length);
}

static int cmpKeyed(const void *x, const void *y) {
  const Keyed *a = x, *b = y;
  int c = cmpStr(a->key, b->key);
  if (c) return c;
  return (a->index > b->index) - (a->index < b->index);
}

/* The first element (lowest index) of sorted[0..n) whose key is `key`, or NULL. */
static const Keyed *findFirst(const Keyed *sorted, intptr_t n, MlirStringRef key) {
  intptr_t lo = 0, hi = n;
  while (lo < hi) {
    intptr_t mid = lo + (hi - lo) / 2;
    if (cmpStr(sorted[mid].key, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && cmpStr(sorted[lo].key, key) == 0 ? &sorted[lo] : NULL;
}

static bool grow(void **p, intptr_t *cap, intptr_t need, size_t elem) {
  if (need <= *cap) return true;
  intptr_t c = *cap ? *cap * 2 : 64;
  while (c < need) c *= 2;
  void *q = realloc(*p, (size_t)c * elem);
  if (!q) return false;
  *p = q;
  *cap = c;
  return true;
}

static MlirWalkResult collectOp(MlirOperation op, void *u) {
  CubeVerifier *v = u;
  if (!grow((void **)&v->ops, &v->capOps, v->nOps + 1, sizeof *v->ops)) {
    v->oom = true;
    return MlirWalkResultInterrupt;
  }
  v->ops[v->nOps++] = op;
  return MlirWalkResultAdvance;
}

/* The module's body block, or a null block. */
static MlirBlock moduleBody(MlirOperation module) {
  if (mlirOperationGetNumRegions(module) < 1) return (MlirBlock){NULL};
  return mlirRegionGetFirstBlock(mlirOperationGetRegion(module, 0));
}

/* ---- the scope table ----------------------------------------------------------------------------- */

/* The parent path: "a.b.c" -> "a.b", "a" -> "". */
static MlirStringRef parentPath(MlirStringRef p) {
  size_t n = p.length;
  while (n > 0 && p.data[n - 1] != '.') n--;
  return mlirStringRefCreate(p.data, n ? n - 1 : 0);
}

static void verifyTable(CubeVerifier *v) {
  MlirAttribute t = mlirOperationGetAttributeByName(v->module, CUBE_STR("cube.modules"));
  char text[256];
  if (mlirAttributeIsNull(t)) {
    v->table = TABLE_NONE;
    return;
  }
  if (!mlirAttributeIsAArray(t)) {
    cubeVerifyPrintAttr(t, text, sizeof text);
    cubeVerifyEmit(v, v->module,
                   "cube.modules must be an array of [\"path\", \"ModuleType\"] pairs, got %s", text);
    v->table = TABLE_BAD;
    return;
  }
  v->table = TABLE_OK;
  intptr_t n = mlirArrayAttrGetNumElements(t);
  v->entries = calloc((size_t)n + 1, sizeof *v->entries);
  v->sortedEntries = calloc((size_t)n + 1, sizeof *v->sortedEntries);
  if (!v->entries || !v->sortedEntries) {
    v->oom = true;
    return;
  }
  /* First the well-formed entries, sorted by path; then every entry's problems, in table order. */
  for (intptr_t i = 0; i < n; ++i) {
    MlirStringRef path, type;
    if (cubeScopeTableEntry(v->module, i, &path, &type)) v->entries[v->nEntries++] = (Keyed){path, type, i};
  }
  memcpy(v->sortedEntries, v->entries, (size_t)v->nEntries * sizeof *v->entries);
  qsort(v->sortedEntries, (size_t)v->nEntries, sizeof *v->sortedEntries, cmpKeyed);

  char known[1024] = "";
  for (const char *const *k = cubeKnownModuleTypes; *k; ++k) {
    if (k != cubeKnownModuleTypes) strncat(known, ", ", sizeof known - strlen(known) - 1);
    strncat(known, *k, sizeof known - strlen(known) - 1);
  }
  intptr_t next = 0; /* the next well-formed entry */
  for (intptr_t i = 0; i < n; ++i) {
    if (next >= v->nEntries || v->entries[next].index != i) {
      cubeVerifyPrintAttr(mlirArrayAttrGetElement(t, i), text, sizeof text);
      cubeVerifyEmit(v, v->module,
                     "cube.modules entry #%ld must be a pair of strings [\"path\", \"ModuleType\"], got %s",
                     (long)i, text);
      continue;
    }
    const Keyed *e = &v->entries[next++];
    if (!cubeIsKnownModuleType(e->type))
      cubeVerifyEmit(v, v->module, "unknown module type '%.*s' for '%.*s' in cube.modules (known: %s)",
                     CUBE_SR(e->type), CUBE_SR(e->key), known);
    const Keyed *first = findFirst(v->sortedEntries, v->nEntries, e->key);
    if (first && first->index != e->index) {
      cubeVerifyEmit(v, v->module, "cube.modules lists '%.*s' twice (entries #%ld and #%ld)",
                     CUBE_SR(e->key), (long)first->index, (long)e->index);
      continue;
    }
    if (e->key.length == 0) continue;
    MlirStringRef parent = parentPath(e->key);
    if (!findFirst(v->sortedEntries, v->nEntries, parent))
      cubeVerifyEmit(v, v->module, "module '%.*s' has no parent '%.*s' in cube.modules", CUBE_SR(e->key),
                     CUBE_SR(parent));
  }
}

/* Rule: an op's `cube.scope` is a string naming an entry of the table. */
static intptr_t enclosingFunc(CubeVerifier *v, MlirOperation op);

/* The `cube.instance_type` of func #f (an outlined recompute function), if it has one. */
static bool instanceType(CubeVerifier *v, intptr_t f, MlirStringRef *type) {
  if (f < 0) return false;
  MlirAttribute t = mlirOperationGetAttributeByName(v->funcs[f], CUBE_STR("cube.instance_type"));
  if (mlirAttributeIsNull(t) || !mlirAttributeIsAString(t)) return false;
  *type = mlirStringAttrGetValue(t);
  return true;
}

/* Rule: in a function outlined by cube-recompute (it carries cube.instance_type), scopes are relative to
 * the instance: each checkpoint calling it, with scope P, must make P + "." + scope (or P for "") a table
 * entry. */
static void verifyRelativeScope(CubeVerifier *v, MlirOperation op, intptr_t f, MlirStringRef rel) {
  MlirStringRef want;
  instanceType(v, f, &want);
  for (intptr_t e = 0; e < v->nEdges; ++e) {
    if (v->edges[e].to != f) continue;
    MlirStringRef base;
    if (!cubeGetScope(v->edges[e].call, &base)) continue; /* reported at the checkpoint */
    const Keyed *k = findFirst(v->sortedEntries, v->nEntries, base);
    if (!k || !mlirStringRefEqual(k->type, want)) continue; /* reported at the checkpoint */
    size_t n = base.length + (rel.length ? 1 + rel.length : 0);
    char *full = malloc(n + 1);
    if (!full) return;
    memcpy(full, base.data, base.length);
    if (rel.length) {
      full[base.length] = '.';
      memcpy(full + base.length + 1, rel.data, rel.length);
    }
    full[n] = 0;
    if (!findFirst(v->sortedEntries, v->nEntries, mlirStringRefCreate(full, n))) {
      char where[512];
      cubeVerifyPrintLoc(mlirOperationGetLocation(v->edges[e].call), where, sizeof where);
      cubeVerifyEmit(v, op, "relative scope '%.*s' under the checkpoint at %s (scope '%.*s') names '%.*s', "
                     "which is not in the module's cube.modules table", CUBE_SR(rel), where, CUBE_SR(base),
                     CUBE_MSG_STR, full);
    }
    free(full);
  }
}

/* Rules of a checkpoint's own scope: it has one, naming an instance of its callee's cube.instance_type. */
static void verifyCheckpointScope(CubeVerifier *v, MlirOperation op) {
  intptr_t to = -1;
  for (intptr_t e = 0; e < v->nEdges; ++e)
    if (mlirOperationEqual(v->edges[e].call, op)) to = v->edges[e].to;
  MlirStringRef want, path, type;
  if (!instanceType(v, to, &want)) return; /* a checkpoint of a plain function: no scope rules */
  if (!cubeGetScope(op, &path)) {
    cubeVerifyEmit(v, op, "checkpoint of a function outlined from '%.*s' needs the instance path as cube.scope",
                   CUBE_SR(want));
    return;
  }
  const Keyed *k = v->table == TABLE_OK ? findFirst(v->sortedEntries, v->nEntries, path) : NULL;
  if (!k) return; /* reported by verifyScope */
  type = k->type;
  if (!mlirStringRefEqual(type, want))
    cubeVerifyEmit(v, op, "scope '%.*s' is a '%.*s' but the callee was outlined from a '%.*s'", CUBE_SR(path),
                   CUBE_SR(type), CUBE_SR(want));
}

static void verifyScope(CubeVerifier *v, MlirOperation op) {
  MlirAttribute s = mlirOperationGetAttributeByName(op, CUBE_STR("cube.scope"));
  if (mlirAttributeIsNull(s)) return;
  if (!mlirAttributeIsAString(s)) {
    char text[256];
    cubeVerifyPrintAttr(s, text, sizeof text);
    cubeVerifyEmit(v, op, "cube.scope must be a string (an HF module path), got %s", text);
    return;
  }
  MlirStringRef path = mlirStringAttrGetValue(s), type;
  if (v->table == TABLE_NONE) {
    cubeVerifyEmit(v, op, "has cube.scope '%.*s' but the module has no cube.modules table", CUBE_SR(path));
    return;
  }
  if (v->table != TABLE_OK) return;
  intptr_t f = enclosingFunc(v, op);
  if (instanceType(v, f, &type)) {
    verifyRelativeScope(v, op, f, path);
    return;
  }
  if (!findFirst(v->sortedEntries, v->nEntries, path))
    cubeVerifyEmit(v, op, "scope '%.*s' is not in the module's cube.modules table", CUBE_SR(path));
}

/* ---- parameter names ----------------------------------------------------------------------------- */

static void collectParams(CubeVerifier *v) {
  v->params = calloc((size_t)v->nOps + 1, sizeof *v->params);
  if (!v->params) {
    v->oom = true;
    return;
  }
  for (intptr_t i = 0; i < v->nOps; ++i) {
    MlirStringRef name;
    if ((cubeIsOp(v->ops[i], "param") || cubeIsOp(v->ops[i], "opt_state")) && cubeGetStrAttr(v->ops[i], "name", &name) && name.length)
      v->params[v->nParams++] = (Keyed){name, {NULL, 0}, i};
  }
  qsort(v->params, (size_t)v->nParams, sizeof *v->params, cmpKeyed);
}

static bool sameStrAttr(MlirOperation a, MlirOperation b, const char *name) {
  MlirAttribute x = mlirOperationGetAttributeByName(a, CUBE_STR(name));
  MlirAttribute y = mlirOperationGetAttributeByName(b, CUBE_STR(name));
  if (mlirAttributeIsNull(x) || mlirAttributeIsNull(y)) return mlirAttributeIsNull(x) && mlirAttributeIsNull(y);
  return mlirAttributeEqual(x, y);
}

/* Two declarations of one shared parameter (or optimizer state): same op, result type, init, flags. */
static bool sameDeclaration(MlirOperation a, MlirOperation b) {
  if (!mlirIdentifierEqual(mlirOperationGetName(a), mlirOperationGetName(b))) return false;
  if (mlirOperationGetNumResults(a) != 1 || mlirOperationGetNumResults(b) != 1) return false;
  if (!mlirTypeEqual(mlirValueGetType(mlirOperationGetResult(a, 0)), mlirValueGetType(mlirOperationGetResult(b, 0))))
    return false;
  return sameStrAttr(a, b, "init") && sameStrAttr(a, b, "trainable") && sameStrAttr(a, b, "param");
}

/* Rule: parameter (and optimizer-state) names are unique within a function; another function may declare
 * the same parameter again (@forward and @train_step share the model's weights) with the same type, init
 * and flag. The message names the first use. */
static void verifyParamName(CubeVerifier *v, intptr_t at) {
  MlirStringRef name;
  if (!cubeGetStrAttr(v->ops[at], "name", &name) || !name.length) return;
  const Keyed *first = findFirst(v->params, v->nParams, name);
  if (!first || first->index == at) return;
  intptr_t home = enclosingFunc(v, v->ops[at]);
  bool clash = false;
  for (const Keyed *k = first; k < v->params + v->nParams && mlirStringRefEqual(k->key, name) && k->index < at;
       ++k)
    if (enclosingFunc(v, v->ops[k->index]) == home || home < 0 || !sameDeclaration(v->ops[k->index], v->ops[at]))
      clash = true;
  if (!clash) return;
  char where[512];
  cubeVerifyPrintLoc(mlirOperationGetLocation(v->ops[first->index]), where, sizeof where);
  cubeVerifyEmit(v, v->ops[at], "parameter name '%.*s' is already used at %s", CUBE_SR(name), where);
}

/* Rule: an optimizer state's `param` names a cube.param of the module. */
static void verifyOptStateParam(CubeVerifier *v, intptr_t at) {
  MlirStringRef p;
  if (!cubeGetStrAttr(v->ops[at], "param", &p) || !p.length) return;
  for (const Keyed *k = findFirst(v->params, v->nParams, p); k && k < v->params + v->nParams &&
                                                             mlirStringRefEqual(k->key, p); ++k)
    if (cubeIsOp(v->ops[k->index], "param")) return;
  cubeVerifyEmit(v, v->ops[at], "param '%.*s' is not the name of a cube.param of the module", CUBE_SR(p));
}

/* ---- functions and the checkpoint call graph ----------------------------------------------------- */

static void collectSymbols(CubeVerifier *v) {
  MlirBlock body = moduleBody(v->module);
  if (mlirBlockIsNull(body)) return;
  intptr_t cap = 0, capF = 0;
  for (MlirOperation o = mlirBlockGetFirstOperation(body); !mlirOperationIsNull(o);
       o = mlirOperationGetNextInBlock(o)) {
    MlirAttribute n = mlirOperationGetAttributeByName(o, CUBE_STR("sym_name"));
    if (mlirAttributeIsNull(n) || !mlirAttributeIsAString(n)) continue;
    if (!grow((void **)&v->symbols, &cap, v->nSymbols + 1, sizeof *v->symbols)) {
      v->oom = true;
      return;
    }
    v->symbols[v->nSymbols++] = o;
    if (!cubeOpNameIs(o, "func.func")) continue;
    if (!grow((void **)&v->funcs, &capF, v->nFuncs + 1, sizeof *v->funcs)) {
      v->oom = true;
      return;
    }
    v->funcs[v->nFuncs++] = o;
  }
}

intptr_t cubeVerifyFindFunc(CubeVerifier *v, MlirStringRef name, MlirOperation *func, MlirOperation *other) {
  for (intptr_t i = 0; i < v->nSymbols; ++i) {
    MlirAttribute n = mlirOperationGetAttributeByName(v->symbols[i], CUBE_STR("sym_name"));
    if (!mlirStringRefEqual(mlirStringAttrGetValue(n), name)) continue;
    if (!cubeOpNameIs(v->symbols[i], "func.func")) {
      if (other) *other = v->symbols[i];
      return -2;
    }
    for (intptr_t f = 0; f < v->nFuncs; ++f)
      if (mlirOperationEqual(v->funcs[f], v->symbols[i])) {
        if (func) *func = v->funcs[f];
        return f;
      }
  }
  return -1;
}

/* The index of the top-level func.func that contains `op`, or -1. */
static intptr_t enclosingFunc(CubeVerifier *v, MlirOperation op) {
  MlirOperation cur = op;
  for (int depth = 0; depth < 100000; ++depth) {
    MlirOperation parent = mlirOperationGetParentOperation(cur);
    if (mlirOperationIsNull(parent)) return -1;
    if (mlirOperationEqual(parent, v->module)) break;
    cur = parent;
  }
  for (intptr_t f = 0; f < v->nFuncs; ++f)
    if (mlirOperationEqual(v->funcs[f], cur)) return f;
  return -1;
}

/* The callee index of a checkpoint, or -1 when its callee is not a func.func of the module. */
static intptr_t checkpointCallee(CubeVerifier *v, MlirOperation op) {
  MlirAttribute c = mlirOperationGetAttributeByName(op, CUBE_STR("callee"));
  if (mlirAttributeIsNull(c) || !mlirAttributeIsAFlatSymbolRef(c)) return -1;
  intptr_t f = cubeVerifyFindFunc(v, mlirFlatSymbolRefAttrGetValue(c), NULL, NULL);
  return f >= 0 ? f : -1;
}

static void collectEdges(CubeVerifier *v) {
  intptr_t cap = 0;
  for (intptr_t i = 0; i < v->nOps; ++i) {
    if (!cubeIsCheckpoint(v->ops[i])) continue;
    intptr_t to = checkpointCallee(v, v->ops[i]), from = enclosingFunc(v, v->ops[i]);
    if (to < 0 || from < 0) continue;
    if (!grow((void **)&v->edges, &cap, v->nEdges + 1, sizeof *v->edges)) {
      v->oom = true;
      return;
    }
    v->edges[v->nEdges++] = (Edge){from, to, v->ops[i]};
  }
}

static void appendName(CubeVerifier *v, intptr_t f, char *buf, size_t size, bool arrow) {
  MlirAttribute n = mlirOperationGetAttributeByName(v->funcs[f], CUBE_STR("sym_name"));
  MlirStringRef s = mlirStringAttrGetValue(n);
  size_t cur = strlen(buf);
  if (cur + 1 < size) snprintf(buf + cur, size - cur, "%s@%.*s", arrow ? " -> " : "", CUBE_SR(s));
}

/* Breadth-first search from `callee` to the function that contains `op`. */
bool cubeVerifyCheckpointCycle(CubeVerifier *v, MlirOperation op, intptr_t callee, char *buf, size_t size) {
  intptr_t home = enclosingFunc(v, op);
  if (home < 0 || callee < 0 || callee >= v->nFuncs || size == 0) return false;
  intptr_t *prev = malloc((size_t)v->nFuncs * sizeof *prev);
  intptr_t *queue = malloc((size_t)v->nFuncs * sizeof *queue);
  bool found = false;
  if (prev && queue) {
    for (intptr_t f = 0; f < v->nFuncs; ++f) prev[f] = -2; /* unvisited */
    intptr_t head = 0, tail = 0;
    prev[callee] = -1;
    queue[tail++] = callee;
    while (head < tail && !found) {
      intptr_t f = queue[head++];
      if (f == home) {
        found = true;
        break;
      }
      for (intptr_t e = 0; e < v->nEdges; ++e)
        if (v->edges[e].from == f && prev[v->edges[e].to] == -2) {
          prev[v->edges[e].to] = f;
          queue[tail++] = v->edges[e].to;
        }
    }
    if (found) {
      /* Path callee -> ... -> home, read backwards from home. */
      intptr_t n = 0;
      for (intptr_t f = home; f != -1; f = prev[f]) queue[n++] = f;
      buf[0] = 0;
      appendName(v, home, buf, size, false);
      for (intptr_t k = n - 1; k >= 0; --k) appendName(v, queue[k], buf, size, true);
    }
  }
  free(prev);
  free(queue);
  return found;
}

/* ---- the driver ---------------------------------------------------------------------------------- */

MlirLogicalResult cubeVerifyModule(MlirOperation module) {
  if (mlirOperationIsNull(module)) return mlirLogicalResultFailure();
  CubeVerifier v;
  memset(&v, 0, sizeof v);
  v.module = module;
  mlirOperationWalk(module, collectOp, &v, MlirWalkPreOrder);
  if (!v.oom) collectSymbols(&v);
  if (!v.oom) verifyTable(&v);
  if (!v.oom) collectParams(&v);
  if (!v.oom) collectEdges(&v);
  if (v.oom) {
    mlirEmitError(mlirOperationGetLocation(module), "cube verifier: out of memory");
    v.errors++;
  } else {
    for (intptr_t i = 0; i < v.nOps; ++i) {
      MlirOperation op = v.ops[i];
      if (cubeIsCubeOp(op)) {
        cubeVerifyCubeOp(&v, op);
        if (cubeIsOp(op, "param") || cubeIsOp(op, "opt_state")) verifyParamName(&v, i);
        if (cubeIsOp(op, "opt_state")) verifyOptStateParam(&v, i);
      }
      MlirAttribute mark = mlirOperationGetAttributeByName(op, CUBE_STR("cube.checkpoint"));
      if (!mlirAttributeIsNull(mark)) {
        if (!cubeOpNameIs(op, "func.call"))
          cubeVerifyEmit(&v, op, "cube.checkpoint marks a func.call (a recomputed region), not this op");
        else if (!mlirAttributeIsAUnit(mark))
          cubeVerifyEmit(&v, op, "cube.checkpoint must be a unit attribute");
        else {
          cubeVerifyCheckpoint(&v, op);
          verifyCheckpointScope(&v, op);
        }
      }
      verifyScope(&v, op);
    }
  }
  free(v.ops);
  free(v.entries);
  free(v.sortedEntries);
  free(v.params);
  free(v.symbols);
  free(v.funcs);
  free(v.edges);
  return v.errors ? mlirLogicalResultFailure() : mlirLogicalResultSuccess();
}
