/* cube-fuse{func=forward report=false max-ops=16 registry=}: marks chains of elementwise ops to be fused into
 * one kernel each (docs/codegen.md "cube-fuse"). Runs after cube-prepare-forward, before cube-group-kernels,
 * which outlines every marked group into one kernel function.
 *
 * Groups are formed greedily in block order: the first fusable op not yet in a group starts one, which then
 * takes the nearest (in block order) fusable neighbour through def-use (a consumer of a group result or the
 * producer of a group operand) while the group stays legal:
 *   - convex: no op outside the group both depends on a group result and feeds a group op (other groups
 *     count as one node each), so outlining creates no cycle;
 *   - at most 8 inputs, 3 outputs (results used outside the group) and max-ops ops;
 *   - no op without results (an in-place update, e.g. cube.adamw_update) or with regions between its first
 *     and last op.
 * An accepted group of two or more ops gets `cube.fuse_group = N` on each op and is made consecutive: the
 * ops between its first and last op that depend on it move after it, the others before it (both keep their
 * order; by convexity this is a valid order, and nothing moves across an in-place update). Fusable ops are
 * those of cube/Fuse.h, except ops a user-registered kernel takes (the kernel registry).
 *
 * report=true prints one line per group and a summary to stderr (deterministic: the order of the IR). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Conversion.h"
#include "cube/Fuse.h"
#include "cube/GpuKernels.h"
#include "cube/Ops.h"
#include "cube/Passes.h"
#include "cube/Rewrite.h"
#include "mlir-c/Diagnostics.h"

enum { OPT_FUNC, OPT_REPORT, OPT_MAX_OPS, OPT_REGISTRY };

static const CubePassOption kOptions[] = {
    [OPT_FUNC] = {"func", CUBE_OPT_STRING, "forward", "the function to fuse (the one cube-group-kernels will group): "
                  "forward, train_step or grad_step", 0, 0},
    [OPT_REPORT] = {"report", CUBE_OPT_BOOL, "false", "print each fused group and a summary to stderr", 0, 0},
    [OPT_MAX_OPS] = {"max-ops", CUBE_OPT_INT, "16", "the most ops in one group", 2, CUBE_FUSE_MAX_OPS},
    [OPT_REGISTRY] = {"registry", CUBE_OPT_STRING, "", "a directory with kernels.json of user-registered kernels, "
                      "whose ops are not fused (default: cube-opt --cube-kernel-registry)", 0, 0},
};

typedef struct {
  void *key;
  int id;
} Slot;

typedef struct {
  int n, maxOps, nGroups, nFused, nLaunches;
  MlirOperation *ops;        /* by id: the op's position when the pass started */
  int *pos, *order, *group;  /* id -> position, position -> id, id -> group (-1: none) */
  int *groupLen;             /* group -> ops */
  bool *fusable, *visited, *inS, *taint, *rejected;
  Slot *map;                 /* op -> id */
  size_t mapMask;
  CubeBuf report;
  const char *func;
} Fuse;

static size_t hashPtr(void *p) { return ((size_t)p >> 4) * 0x9E3779B97F4A7C15ULL; }

static void mapPut(Fuse *f, MlirOperation op, int id) {
  size_t h = hashPtr(op.ptr) & f->mapMask;
  while (f->map[h].key) h = (h + 1) & f->mapMask;
  f->map[h] = (Slot){op.ptr, id};
}

/* The id of an op of the function's block, or -1. */
static int idOf(const Fuse *f, MlirOperation op) {
  for (size_t h = hashPtr(op.ptr) & f->mapMask; f->map[h].key; h = (h + 1) & f->mapMask)
    if (f->map[h].key == op.ptr) return f->map[h].id;
  return -1;
}

static int defId(const Fuse *f, MlirValue v) { return mlirValueIsAOpResult(v) ? idOf(f, mlirOpResultGetOwner(v)) : -1; }

/* Walks the span [lo, hi] of the group inS: marks `taint` on the ops outside it that depend on a group
 * result (another group as a whole). False when the group is not convex or an op without results lies in the
 * span. The taint flags stay set (the caller clears them with clearTaint). */
static bool walkSpan(Fuse *f, int lo, int hi) {
  for (int p = lo; p <= hi; ++p) {
    int id = f->order[p];
    MlirOperation op = f->ops[id];
    if (f->inS[id]) {
      for (intptr_t i = 0; i < mlirOperationGetNumOperands(op); ++i) {
        int d = defId(f, mlirOperationGetOperand(op, i));
        if (d >= 0 && f->taint[d]) return false;
      }
      continue;
    }
    int len = f->group[id] >= 0 ? f->groupLen[f->group[id]] : 1;
    /* an in-place update (no results) must not be reordered; an op with regions could read a group result
     * inside them (a use this walk does not follow) */
    if (len == 1 && (mlirOperationGetNumResults(op) == 0 || mlirOperationGetNumRegions(op) > 0)) return false;
    bool t = false;
    for (int q = p; q < p + len && q <= hi; ++q) {
      MlirOperation o = f->ops[f->order[q]];
      for (intptr_t i = 0; i < mlirOperationGetNumOperands(o) && !t; ++i) {
        int d = defId(f, mlirOperationGetOperand(o, i));
        t = d >= 0 && (f->inS[d] || f->taint[d]);
      }
    }
    for (int q = p; q < p + len && q <= hi; ++q) f->taint[f->order[q]] = t;
    p += len - 1;
  }
  return true;
}

static void clearTaint(Fuse *f, int lo, int hi) {
  for (int p = lo; p <= hi; ++p) f->taint[f->order[p]] = false;
}

static void span(const Fuse *f, const int *m, int nm, int *lo, int *hi) {
  *lo = *hi = f->pos[m[0]];
  for (int i = 1; i < nm; ++i) {
    if (f->pos[m[i]] < *lo) *lo = f->pos[m[i]];
    if (f->pos[m[i]] > *hi) *hi = f->pos[m[i]];
  }
}

/* Whether the ops m[0..nm) form a legal group (inS must be set for exactly them). */
static bool legal(Fuse *f, const int *m, int nm) {
  CubeFuseGroup g = {.nOps = nm};
  for (int i = 0; i < nm; ++i) g.ops[i] = f->ops[m[i]];
  if (!cubeFuseGroupIO(&g)) return false;
  int lo, hi;
  span(f, m, nm, &lo, &hi);
  if (hi + 1 >= f->n) return false; /* no op after the group to reorder against (no terminator) */
  bool ok = walkSpan(f, lo, hi);
  clearTaint(f, lo, hi);
  return ok;
}

static void consider(const Fuse *f, int c, int *best) {
  if (c >= 0 && f->fusable[c] && f->group[c] < 0 && !f->inS[c] && !f->rejected[c] &&
      (*best < 0 || f->pos[c] < f->pos[*best]))
    *best = c;
}

/* The nearest fusable neighbour of the group m[0..nm) not yet tried, or -1. */
static int nextCandidate(const Fuse *f, const int *m, int nm) {
  int best = -1;
  for (int i = 0; i < nm; ++i) {
    MlirOperation op = f->ops[m[i]];
    for (intptr_t k = 0; k < mlirOperationGetNumOperands(op); ++k) consider(f, defId(f, mlirOperationGetOperand(op, k)), &best);
    MlirValue r = mlirOperationGetResult(op, 0);
    for (MlirOpOperand u = mlirValueGetFirstUse(r); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u))
      consider(f, idOf(f, mlirOpOperandGetOwner(u)), &best);
  }
  return best;
}

/* Makes the accepted group m[0..nm) consecutive (see the top of the file) and marks it; *lo gets the
 * first position of its former span. */
static void accept(Fuse *f, int *m, int nm, int *lo) {
  int hi;
  span(f, m, nm, lo, &hi);
  walkSpan(f, *lo, hi);
  int len = hi - *lo + 1, k = 0;
  int *fresh = malloc(sizeof *fresh * (size_t)len);
  if (!fresh) return;
  for (int pass = 0; pass < 3; ++pass)
    for (int p = *lo; p <= hi; ++p) {
      int id = f->order[p];
      int kind = f->inS[id] ? 1 : f->taint[id] ? 2 : 0;
      if (kind == pass) fresh[k++] = id;
    }
  clearTaint(f, *lo, hi);
  MlirOperation anchor = f->ops[f->order[hi + 1]]; /* the terminator at the latest: never in a span */
  for (int i = 0; i < len; ++i) mlirOperationMoveBefore(f->ops[fresh[i]], anchor);
  for (int i = 0; i < len; ++i) {
    f->order[*lo + i] = fresh[i];
    f->pos[fresh[i]] = *lo + i;
  }
  free(fresh);
  for (int i = 1; i < nm; ++i) /* the group's ops in block order */
    for (int j = i; j > 0 && f->pos[m[j - 1]] > f->pos[m[j]]; --j) {
      int t = m[j];
      m[j] = m[j - 1];
      m[j - 1] = t;
    }
  int gid = f->nGroups++;
  f->groupLen[gid] = nm;
  CubeFuseGroup g = {.nOps = nm};
  int real = 0;
  for (int i = 0; i < nm; ++i) {
    f->group[m[i]] = gid;
    g.ops[i] = f->ops[m[i]];
    cubeSetI64Attr(f->ops[m[i]], CUBE_ATTR_FUSE_GROUP, gid);
    real += !cubeFuseIsIdentity(f->ops[m[i]]);
  }
  cubeFuseGroupIO(&g);
  f->nFused += nm;
  f->nLaunches += real - 1;
  cubeBufPrintf(&f->report, "cube-fuse: @%s group %d: %d ops, %d input%s, %d output%s:", f->func, gid, nm, g.nIn,
                g.nIn == 1 ? "" : "s", g.nOut, g.nOut == 1 ? "" : "s");
  for (int i = 0; i < nm; ++i) {
    MlirStringRef name = mlirIdentifierStr(mlirOperationGetName(g.ops[i])), scope = {"", 0};
    cubeGetScope(g.ops[i], &scope);
    cubeBufPrintf(&f->report, "%s %.*s [%.*s]", i ? "," : "", (int)name.length, name.data, (int)scope.length,
                  scope.data);
  }
  cubeBufAppend(&f->report, "\n");
}

/* Grows a group from op `start`; marks it when it has two or more ops (*lo: where the scan resumes). */
static bool grow(Fuse *f, int start, int *lo) {
  int m[CUBE_FUSE_MAX_OPS], nm = 1, tried[4 * CUBE_FUSE_MAX_OPS * 8], nTried = 0;
  m[0] = start;
  f->inS[start] = true;
  for (;;) {
    int c = nm < f->maxOps ? nextCandidate(f, m, nm) : -1;
    if (c < 0) break;
    m[nm] = c;
    f->inS[c] = true;
    if (legal(f, m, nm + 1)) {
      nm++;
      for (int i = 0; i < nTried; ++i) f->rejected[tried[i]] = false;
      nTried = 0;
    } else {
      f->inS[c] = false;
      f->rejected[c] = true;
      if (nTried < (int)(sizeof tried / sizeof *tried)) tried[nTried++] = c;
      else break; /* give up growing rather than lose track of the rejections */
    }
  }
  for (int i = 0; i < nTried; ++i) f->rejected[tried[i]] = false;
  if (nm >= 2) accept(f, m, nm, lo);
  for (int i = 0; i < nm; ++i) f->inS[m[i]] = false;
  return nm >= 2;
}

/* Marks taken[] the ops that a user-registered kernel takes: a one-op kernel, or a chain a pattern matches
 * (or rejects: cube-group-kernels reports that). */
static void markRegistered(Fuse *f, const CubeKernelRegistry *reg, bool *taken) {
  for (int id = 0; reg && id < f->n; ++id) {
    MlirOperation chain[8];
    int n = 0;
    const CubeKernelEntry *e = NULL;
    char err[2048];
    taken[id] |= cubeKernelRegistryTakes(reg, f->ops[id]);
    bool rejected = !cubeKernelRegistryMatchPattern(reg, f->ops[id], chain, &n, &e, err, sizeof err);
    taken[id] |= rejected;
    for (int j = 0; e && j < n; ++j) {
      int c = idOf(f, chain[j]);
      if (c >= 0) taken[c] = true;
    }
  }
}

static MlirLogicalResult fail(MlirOperation at, const char *what, const char *detail) {
  char msg[2400];
  snprintf(msg, sizeof msg, "cube-fuse: %s%s", what, detail);
  mlirEmitError(mlirOperationGetLocation(at), msg);
  return mlirLogicalResultFailure();
}

static MlirLogicalResult runFuse(MlirOperation module, const CubeOptionValue *options) {
  char err[2048];
  MlirOperation fn = cubeFindProgram(module, options[OPT_FUNC].s, err, sizeof err);
  if (mlirOperationIsNull(fn)) return fail(module, err, "");
  if (cubeHasAttr(module, CUBE_ATTR_TARGET))
    return fail(module, "the module is already grouped into kernels (run cube-fuse before cube-group-kernels)", "");
  const char *dir = *options[OPT_REGISTRY].s ? options[OPT_REGISTRY].s : cubeKernelRegistryDefault();
  CubeKernelRegistry *reg = NULL;
  if (!cubeKernelRegistryLoad(mlirOperationGetContext(module), dir, &reg, err, sizeof err))
    return fail(module, "kernel registry: ", err);
  MlirStringRef sym = {"?", 1};
  cubeGetStrAttr(fn, "sym_name", &sym);
  char *func = cubeStrDupRef(sym);
  MlirBlock entry;
  cubeFuncEntryBlock(fn, &entry);
  Fuse f = {.maxOps = (int)options[OPT_MAX_OPS].i, .func = func ? func : "?"};
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op); op = mlirOperationGetNextInBlock(op))
    f.n++;
  size_t cap = 16;
  while (cap < 2 * (size_t)f.n + 2) cap *= 2;
  f.mapMask = cap - 1;
  size_t n1 = (size_t)f.n + 1;
  f.map = calloc(cap, sizeof *f.map);
  f.ops = calloc(n1, sizeof *f.ops);
  f.pos = calloc(n1, sizeof *f.pos);
  f.order = calloc(n1, sizeof *f.order);
  f.group = calloc(n1, sizeof *f.group);
  f.groupLen = calloc(n1, sizeof *f.groupLen);
  f.fusable = calloc(n1, 1);
  f.visited = calloc(n1, 1);
  f.inS = calloc(n1, 1);
  f.taint = calloc(n1, 1);
  f.rejected = calloc(n1, 1);
  bool ok = f.map && f.ops && f.pos && f.order && f.group && f.groupLen && f.fusable && f.visited && f.inS &&
            f.taint && f.rejected && func;
  if (ok) {
    int id = 0;
    for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op);
         op = mlirOperationGetNextInBlock(op), ++id) {
      mlirOperationRemoveAttributeByName(op, CUBE_STR(CUBE_ATTR_FUSE_GROUP)); /* fuse again from scratch */
      f.ops[id] = op;
      f.pos[id] = f.order[id] = id;
      f.group[id] = -1;
      /* A scale by exactly 1.0 is dropped by cube-group-kernels: taking it into a group gains nothing and would
       * hide the add after it from the GEMM epilogue (a LoRA target with alpha == r). */
      f.fusable[id] = cubeFuseOpFusable(op) && !cubeFuseIsIdentity(op);
      mapPut(&f, op, id);
    }
    bool *taken = calloc((size_t)f.n + 1, 1);
    ok = taken != NULL;
    if (ok) markRegistered(&f, reg, taken);
    for (int id = 0; ok && id < f.n; ++id) f.fusable[id] &= !taken[id];
    free(taken);
  }
  if (ok) {
    for (int p = 0; p < f.n; ++p) {
      int id = f.order[p], lo;
      if (!f.fusable[id] || f.group[id] >= 0 || f.visited[id]) continue;
      f.visited[id] = true;
      if (grow(&f, id, &lo)) p = lo - 1; /* ops may have moved into [lo, p]: scan them */
    }
    cubeBufPrintf(&f.report, "cube-fuse: %d groups, %d ops fused into %d kernels (%d launches saved)\n", f.nGroups,
                  f.nFused, f.nGroups, f.nLaunches);
    if (options[OPT_REPORT].b) {
      fputs(cubeBufStr(&f.report), stderr);
      fflush(stderr);
    }
  }
  cubeKernelRegistryFree(reg);
  cubeBufFree(&f.report);
  free(f.map), free(f.ops), free(f.pos), free(f.order), free(f.group), free(f.groupLen);
  free(f.fusable), free(f.visited), free(f.inS), free(f.taint), free(f.rejected), free(func);
  return ok ? mlirLogicalResultSuccess() : fail(module, "out of memory", "");
}

const CubePassInfo cubeFusePassInfo = {
    .argument = "cube-fuse",
    .description = "Mark chains of elementwise ops to fuse into one kernel each (before cube-group-kernels)",
    .anchor = "builtin.module",
    .options = kOptions,
    .nOptions = sizeof kOptions / sizeof kOptions[0],
    .run = runFuse,
};
