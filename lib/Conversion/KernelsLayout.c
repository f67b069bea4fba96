/* Kernels of the data-movement ops: transpose, slice and concat (one 1-D generic over the result whose
 * input indexing maps compute the source element's flat index with floordiv/mod), and embedding (a gather:
 * tensor.extract from the weight at the clamped id, so an out-of-range id reads a valid row instead of
 * memory outside the weight; the runtime rejects such ids when it loads the data). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

#define MAX_RANK 16

static void rowMajorStrides(MlirType t, int64_t *s) {
  int64_t acc = 1;
  for (intptr_t i = kgRank(t) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= kgDim(t, i);
  }
}

/* Appends "coordinate k of the flat index d0" of a tensor with dims `dims` and strides `st`. */
static void coord(CubeBuf *b, intptr_t k, const int64_t *st, MlirType t) {
  if (st[k] > 1) cubeBufPrintf(b, "(d0 floordiv %" PRId64 ")", st[k]);
  else cubeBufAppend(b, "d0");
  if (k > 0) cubeBufPrintf(b, " mod %" PRId64, kgDim(t, k));
}

static bool checkRank(KGen *g, MlirType t) {
  if (kgRank(t) <= MAX_RANK) return true;
  snprintf(g->err, sizeof g->err, "rank %d is above the supported %d", (int)kgRank(t), MAX_RANK);
  return false;
}

/* out[d0] = src at its map (one parallel loop over the out's elements). */
static bool copyFrom(KGen *g, const KArgs *a, KOperand in) {
  KOperand out = {kgFlat(g, "%out", a->out), "d0"};
  KBody k = {.g = g};
  KVal y = kbArg("%bi0");
  KFlat res;
  kgGeneric(g, 1, 1, &in, 1, &out, &k, &y, &res);
  kgReturn(g, res, a->out);
  return true;
}

static bool copyWithMap(KGen *g, const KArgs *a, const char *map) {
  return copyFrom(g, a, (KOperand){kgFlat(g, "%in0", a->in[0]), map});
}

bool kgenTranspose(KGen *g, MlirOperation op, const KArgs *a) {
  if (!checkRank(g, a->out)) return false;
  int64_t perm[MAX_RANK], ost[MAX_RANK], ist[MAX_RANK];
  intptr_t n = 0, r = kgRank(a->out);
  if (!cubeGetI64ArrayAttr(op, "permutation", perm, MAX_RANK, &n) || n != r) {
    snprintf(g->err, sizeof g->err, "transpose needs a permutation of its rank");
    return false;
  }
  rowMajorStrides(a->out, ost);
  rowMajorStrides(a->in[0], ist);
  CubeBuf map = {0};
  for (intptr_t k = 0; k < r; ++k) {
    if (kgDim(a->out, k) == 1) continue;
    if (map.len) cubeBufAppend(&map, " + ");
    cubeBufAppend(&map, "(");
    coord(&map, k, ost, a->out);
    cubeBufPrintf(&map, ") * %" PRId64, ist[perm[k]]);
  }
  if (!map.len) cubeBufAppend(&map, "d0");
  bool ok = copyWithMap(g, a, cubeBufStr(&map));
  cubeBufFree(&map);
  return ok;
}

bool kgenSlice(KGen *g, MlirOperation op, const KArgs *a) {
  if (!checkRank(g, a->out)) return false;
  int64_t off[MAX_RANK], ost[MAX_RANK], ist[MAX_RANK];
  intptr_t n = 0, r = kgRank(a->out);
  if (!cubeGetI64ArrayAttr(op, "offsets", off, MAX_RANK, &n) || n != r) {
    snprintf(g->err, sizeof g->err, "slice needs one offset per dim");
    return false;
  }
  rowMajorStrides(a->out, ost);
  rowMajorStrides(a->in[0], ist);
  CubeBuf map = {0};
  int64_t base = 0;
  for (intptr_t k = 0; k < r; ++k) {
    base += off[k] * ist[k];
    if (kgDim(a->out, k) == 1) continue;
    if (map.len) cubeBufAppend(&map, " + ");
    cubeBufAppend(&map, "(");
    coord(&map, k, ost, a->out);
    cubeBufPrintf(&map, ") * %" PRId64, ist[k]);
  }
  if (!map.len) cubeBufAppend(&map, "d0 * 0");
  cubeBufPrintf(&map, " + %" PRId64, base);
  /* A contiguous run of the input (a slice of rows, cube-chunk-loss's chunks): its map would fold to
   * d0 + base, and to plain d0 at base 0, which linalg would take as the loop's extent (the input's size, not
   * the output's): copy the run of the flat input through tensor.extract_slice instead. */
  bool contiguous = true;
  intptr_t first = 0;
  while (first < r && kgDim(a->out, first) == 1) ++first;
  for (intptr_t k = first + 1; k < r; ++k) contiguous &= kgDim(a->out, k) == kgDim(a->in[0], k) && off[k] == 0;
  bool ok;
  if (contiguous) {
    KFlat in = kgFlat(g, "%in0", a->in[0]), run = in;
    run.n = kgNumElements(a->out);
    snprintf(run.v.s, sizeof run.v.s, "%%v%d", g->next++);
    cubeBufPrintf(g->b, "    %s = tensor.extract_slice %s[%" PRId64 "] [%" PRId64 "] [1] : tensor<%" PRId64 "x%s> to "
                  "tensor<%" PRId64 "x%s>\n", run.v.s, in.v.s, base, run.n, in.n, in.elt, run.n, in.elt);
    ok = copyFrom(g, a, (KOperand){run, "d0"});
  } else {
    ok = copyWithMap(g, a, cubeBufStr(&map));
  }
  cubeBufFree(&map);
  return ok;
}

bool kgenConcat(KGen *g, MlirOperation op, const KArgs *a) {
  int64_t dim = 0;
  intptr_t r = kgRank(a->out);
  cubeGetI64Attr(op, "dim", &dim);
  if (dim < 0) dim += r;
  if (dim < 0 || dim >= r || kgDim(a->in[0], dim) <= 0 || kgDim(a->in[1], dim) <= 0) {
    snprintf(g->err, sizeof g->err, "concat dim out of range or an empty side");
    return false;
  }
  /* cube-group-kernels rejects empty operands, so n1, n2 > 0 here */
  int64_t n1 = kgDim(a->in[0], dim), n2 = kgDim(a->in[1], dim), d = n1 + n2, inner = 1;
  for (intptr_t i = dim + 1; i < r; ++i) inner *= kgDim(a->out, i);
  char lmap[256], rmap[256];
  snprintf(lmap, sizeof lmap,
           "(d0 floordiv %" PRId64 ") * %" PRId64 " + (((d0 floordiv %" PRId64 ") mod %" PRId64 ") mod %" PRId64
           ") * %" PRId64 " + d0 mod %" PRId64,
           d * inner, n1 * inner, inner, d, n1, inner, inner);
  snprintf(rmap, sizeof rmap,
           "(d0 floordiv %" PRId64 ") * %" PRId64 " + (((d0 floordiv %" PRId64 ") mod %" PRId64 " - %" PRId64
           ") mod %" PRId64 ") * %" PRId64 " + d0 mod %" PRId64,
           d * inner, n2 * inner, inner, d, n1, n2, inner, inner);
  KOperand ins[2] = {{kgFlat(g, "%in0", a->in[0]), lmap}, {kgFlat(g, "%in1", a->in[1]), rmap}};
  KOperand out = {kgFlat(g, "%out", a->out), "d0"};
  KBody k = {.g = g};
  KVal i = kbOp(&k, "linalg.index 0 : index");
  KVal ci = kbIndex(&k, inner), cd = kbIndex(&k, d), c1 = kbIndex(&k, n1);
  KVal q = kbOp(&k, "arith.divui %s, %s : index", i.s, ci.s);
  KVal c = kbOp(&k, "arith.remui %s, %s : index", q.s, cd.s);
  KVal lt = kbOp(&k, "arith.cmpi ult, %s, %s : index", c.s, c1.s);
  KVal y = kbOp(&k, "arith.select %s, %%bi0, %%bi1 : %s", lt.s, out.t.elt);
  KFlat res;
  kgGeneric(g, 1, 2, ins, 1, &out, &k, &y, &res);
  kgReturn(g, res, a->out);
  return true;
}

bool kgenEmbedding(KGen *g, MlirOperation op, const KArgs *a) {
  (void)op;
  int64_t v = kgDim(a->in[1], 0), h = kgDim(a->in[1], 1);
  char map[64];
  snprintf(map, sizeof map, "d0 floordiv %" PRId64, h);
  KOperand ids = {kgFlat(g, "%in0", a->in[0]), map};
  KOperand out = {kgFlat(g, "%out", a->out), "d0"};
  KBody k = {.g = g};
  KVal id = kbIndexClamp(&k, kbArg("%bi0"), ids.t.elt, v);
  KVal i = kbOp(&k, "linalg.index 0 : index");
  KVal ch = kbIndex(&k, h);
  KVal col = kbOp(&k, "arith.remui %s, %s : index", i.s, ch.s);
  CubeBuf wt = {0};
  kgTypeText(a->in[1], &wt);
  KVal y = kbOp(&k, "tensor.extract %%in1[%s, %s] : %s", id.s, col.s, cubeBufStr(&wt));
  cubeBufFree(&wt);
  KFlat res;
  kgGeneric(g, 1, 1, &ids, 1, &out, &k, &y, &res);
  kgReturn(g, res, a->out);
  return true;
}
