/* The text-writing helpers behind cube/KernelGen.h: flat views, fills, linalg.generic with its body, and the
 * function around a kernel. Generators build MLIR text; cubeKernelText parses nothing itself (the caller
 * parses and verifies the function), so a mistake here is an MLIR diagnostic, never a crash. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"
#include "mlir-c/BuiltinTypes.h"

/* ---- types -------------------------------------------------------------------------------------------- */

bool kgEltName(MlirType t, char *buf, size_t n) {
  const char *s = NULL;
  if (mlirTypeIsAF32(t)) s = "f32";
  else if (mlirTypeIsABF16(t)) s = "bf16";
  else if (mlirTypeIsAF16(t)) s = "f16";
  else if (mlirTypeIsAInteger(t) && mlirIntegerTypeGetWidth(t) == 64) s = "i64";
  else if (mlirTypeIsAInteger(t) && mlirIntegerTypeGetWidth(t) == 32) s = "i32";
  if (!s) return false;
  snprintf(buf, n, "%s", s);
  return true;
}

intptr_t kgRank(MlirType t) { return mlirShapedTypeGetRank(t); }
int64_t kgDim(MlirType t, intptr_t i) { return mlirShapedTypeGetDimSize(t, i); }

int64_t kgNumElements(MlirType t) {
  int64_t n = 1;
  for (intptr_t i = 0; i < kgRank(t); ++i) n *= kgDim(t, i);
  return n;
}

MlirType kgF32Tensor(MlirContext ctx, int64_t n) {
  return mlirRankedTensorTypeGet(1, &n, mlirF32TypeGet(ctx), (MlirAttribute){NULL});
}

void kgTypeText(MlirType t, CubeBuf *out) {
  char elt[8] = "?";
  kgEltName(mlirShapedTypeGetElementType(t), elt, sizeof elt);
  cubeBufAppend(out, "tensor<");
  for (intptr_t i = 0; i < kgRank(t); ++i) cubeBufPrintf(out, "%" PRId64 "x", kgDim(t, i));
  cubeBufPrintf(out, "%s>", elt);
}

void kgF32Text(float v, char *buf, size_t n) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  snprintf(buf, n, "0x%08X", bits);
}

static KVal fresh(KGen *g, char prefix) {
  KVal v;
  snprintf(v.s, sizeof v.s, "%%%c%d", prefix, g->next++);
  return v;
}

static void flatType(CubeBuf *b, int64_t n, const char *elt) { cubeBufPrintf(b, "tensor<%" PRId64 "x%s>", n, elt); }

static void kflatType(CubeBuf *b, const KFlat *f) {
  if (!f->rank) {
    flatType(b, f->n, f->elt);
    return;
  }
  cubeBufAppend(b, "tensor<");
  for (int i = 0; i < f->rank; ++i) cubeBufPrintf(b, "%" PRId64 "x", f->dims[i]);
  cubeBufPrintf(b, "%s>", f->elt);
}

/* ---- function-level values ---------------------------------------------------------------------------- */

KFlat kgView(KGen *g, KFlat f, int rank, const int64_t *dims) {
  KFlat r = f;
  r.v = fresh(g, 'v');
  r.rank = rank;
  cubeBufPrintf(g->b, "    %s = tensor.expand_shape %s [[", r.v.s, f.v.s);
  for (int i = 0; i < rank; ++i) {
    r.dims[i] = dims[i];
    cubeBufPrintf(g->b, "%s%d", i ? ", " : "", i);
  }
  cubeBufAppend(g->b, "]] output_shape [");
  for (int i = 0; i < rank; ++i) cubeBufPrintf(g->b, "%s%" PRId64, i ? ", " : "", dims[i]);
  cubeBufAppend(g->b, "] : ");
  flatType(g->b, f.n, f.elt);
  cubeBufAppend(g->b, " into ");
  kflatType(g->b, &r);
  cubeBufAppend(g->b, "\n");
  return r;
}

KFlat kgFlat(KGen *g, const char *argName, MlirType t) {
  KFlat f = {.rank = 0};
  f.n = kgNumElements(t);
  if (!kgEltName(mlirShapedTypeGetElementType(t), f.elt, sizeof f.elt)) {
    snprintf(g->err, sizeof g->err, "unsupported element type");
    g->failed = true;
  }
  intptr_t r = kgRank(t);
  if (r == 1) {
    snprintf(f.v.s, sizeof f.v.s, "%s", argName);
    return f;
  }
  f.v = fresh(g, 'v');
  if (r == 0) {
    cubeBufPrintf(g->b, "    %s = tensor.expand_shape %s [] output_shape [1] : tensor<%s> into ", f.v.s, argName, f.elt);
  } else {
    cubeBufPrintf(g->b, "    %s = tensor.collapse_shape %s [[", f.v.s, argName);
    for (intptr_t i = 0; i < r; ++i) cubeBufPrintf(g->b, "%s%d", i ? ", " : "", (int)i);
    cubeBufAppend(g->b, "]] : ");
    kgTypeText(t, g->b);
    cubeBufAppend(g->b, " into ");
  }
  flatType(g->b, f.n, f.elt);
  cubeBufAppend(g->b, "\n");
  return f;
}

KFlat kgFill(KGen *g, KFlat dst, const char *value) {
  KVal c = fresh(g, 'v');
  cubeBufPrintf(g->b, "    %s = arith.constant %s : %s\n", c.s, value, dst.elt);
  KFlat r = dst;
  r.v = fresh(g, 'v');
  cubeBufPrintf(g->b, "    %s = linalg.fill ins(%s : %s) outs(%s : ", r.v.s, c.s, dst.elt, dst.v.s);
  flatType(g->b, dst.n, dst.elt);
  cubeBufAppend(g->b, ") -> ");
  flatType(g->b, dst.n, dst.elt);
  cubeBufAppend(g->b, "\n");
  return r;
}

/* The flat value expanded back to the out's type; returns the value's name. */
static KVal unflat(KGen *g, KFlat result, MlirType outType) {
  intptr_t r = kgRank(outType);
  KVal v = result.v;
  if (r == 1) return v;
  v = fresh(g, 'v');
  if (r == 0) {
    cubeBufPrintf(g->b, "    %s = tensor.collapse_shape %s [] : ", v.s, result.v.s);
    flatType(g->b, result.n, result.elt);
    cubeBufAppend(g->b, " into ");
  } else {
    cubeBufPrintf(g->b, "    %s = tensor.expand_shape %s [[", v.s, result.v.s);
    for (intptr_t i = 0; i < r; ++i) cubeBufPrintf(g->b, "%s%d", i ? ", " : "", (int)i);
    cubeBufAppend(g->b, "]] output_shape [");
    for (intptr_t i = 0; i < r; ++i) cubeBufPrintf(g->b, "%s%" PRId64, i ? ", " : "", kgDim(outType, i));
    cubeBufAppend(g->b, "] : ");
    flatType(g->b, result.n, result.elt);
    cubeBufAppend(g->b, " into ");
  }
  kgTypeText(outType, g->b);
  cubeBufAppend(g->b, "\n");
  return v;
}

void kgReturnN(KGen *g, int n, const KFlat *results, const MlirType *outTypes) {
  KVal v[3];
  for (int i = 0; i < n && i < 3; ++i) v[i] = unflat(g, results[i], outTypes[i]);
  cubeBufAppend(g->b, "    return ");
  for (int i = 0; i < n && i < 3; ++i) cubeBufPrintf(g->b, "%s%s", i ? ", " : "", v[i].s);
  cubeBufAppend(g->b, " : ");
  for (int i = 0; i < n && i < 3; ++i) {
    if (i) cubeBufAppend(g->b, ", ");
    kgTypeText(outTypes[i], g->b);
  }
  cubeBufAppend(g->b, "\n");
}

void kgReturn(KGen *g, KFlat result, MlirType outType) { kgReturnN(g, 1, &result, &outType); }

/* ---- generic bodies ----------------------------------------------------------------------------------- */

KVal kbArg(const char *name) {
  KVal v;
  snprintf(v.s, sizeof v.s, "%s", name);
  return v;
}

KVal kbOp(KBody *k, const char *fmt, ...) {
  KVal v = fresh(k->g, 't');
  cubeBufPrintf(&k->b, "      %s = ", v.s);
  va_list ap;
  va_start(ap, fmt);
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  cubeBufPrintf(&k->b, "%s\n", line);
  return v;
}

KVal kbF32(KBody *k, float v) {
  char t[16];
  kgF32Text(v, t, sizeof t);
  return kbOp(k, "arith.constant %s : f32", t);
}

KVal kbIndex(KBody *k, int64_t v) { return kbOp(k, "arith.constant %" PRId64 " : index", v); }

KVal kbToF32(KBody *k, KVal v, const char *elt) {
  if (!strcmp(elt, "f32")) return v;
  return kbOp(k, "arith.extf %s : %s to f32", v.s, elt);
}

KVal kbFromF32(KBody *k, KVal v, const char *elt) {
  if (!strcmp(elt, "f32")) return v;
  return kbOp(k, "arith.truncf %s : f32 to %s", v.s, elt);
}

KVal kbIndexClamp(KBody *k, KVal v, const char *elt, int64_t hi) {
  KVal i = kbOp(k, "arith.index_cast %s : %s to index", v.s, elt);
  KVal zero = kbIndex(k, 0), top = kbIndex(k, hi > 0 ? hi - 1 : 0);
  KVal lo = kbOp(k, "arith.maxsi %s, %s : index", i.s, zero.s);
  return kbOp(k, "arith.minsi %s, %s : index", lo.s, top.s);
}

void kgGeneric(KGen *g, int nLoops, int nIn, const KOperand *ins, int nOut, const KOperand *outs, KBody *body,
               const KVal *yields, KFlat *results) {
  KVal r = fresh(g, 'v');
  char dims[64] = "(";
  for (int i = 0; i < nLoops; ++i) {
    size_t l = strlen(dims);
    snprintf(dims + l, sizeof dims - l, "%sd%d", i ? ", " : "", i);
  }
  strcat(dims, ")");
  CubeBuf *b = g->b;
  if (nOut > 1) cubeBufPrintf(b, "    %s:%d = linalg.generic {indexing_maps = [", r.s, nOut);
  else cubeBufPrintf(b, "    %s = linalg.generic {indexing_maps = [", r.s);
  for (int i = 0; i < nIn + nOut; ++i) {
    const KOperand *o = i < nIn ? &ins[i] : &outs[i - nIn];
    cubeBufPrintf(b, "%saffine_map<%s -> (%s)>", i ? ", " : "", dims, o->map);
  }
  cubeBufAppend(b, "], iterator_types = [\"parallel\"");
  for (int i = 1; i < nLoops; ++i) cubeBufAppend(b, ", \"reduction\"");
  cubeBufAppend(b, "]}");
  for (int side = 0; side < 2; ++side) {
    int n = side ? nOut : nIn;
    const KOperand *ops = side ? outs : ins;
    if (!n) continue;
    cubeBufAppend(b, side ? " outs(" : " ins(");
    for (int i = 0; i < n; ++i) cubeBufPrintf(b, "%s%s", i ? ", " : "", ops[i].t.v.s);
    cubeBufAppend(b, " : ");
    for (int i = 0; i < n; ++i) {
      if (i) cubeBufAppend(b, ", ");
      kflatType(b, &ops[i].t);
    }
    cubeBufAppend(b, ")");
  }
  cubeBufAppend(b, " {\n    ^bb0(");
  for (int i = 0; i < nIn + nOut; ++i) {
    const KOperand *o = i < nIn ? &ins[i] : &outs[i - nIn];
    cubeBufPrintf(b, "%s%%b%c%d: %s", i ? ", " : "", i < nIn ? 'i' : 'o', i < nIn ? i : i - nIn, o->t.elt);
  }
  cubeBufAppend(b, "):\n");
  cubeBufAppend(b, cubeBufStr(&body->b));
  cubeBufAppend(b, "      linalg.yield ");
  for (int i = 0; i < nOut; ++i) cubeBufPrintf(b, "%s%s", i ? ", " : "", yields[i].s);
  cubeBufAppend(b, " : ");
  for (int i = 0; i < nOut; ++i) cubeBufPrintf(b, "%s%s", i ? ", " : "", outs[i].t.elt);
  cubeBufAppend(b, nOut > 1 ? "\n    } -> (" : "\n    } -> ");
  for (int i = 0; i < nOut; ++i) {
    if (i) cubeBufAppend(b, ", ");
    kflatType(b, &outs[i].t);
  }
  cubeBufAppend(b, nOut > 1 ? ")\n" : "\n");
  cubeBufFree(&body->b);
  for (int i = 0; i < nOut; ++i) {
    results[i] = outs[i].t;
    if (nOut > 1) snprintf(results[i].v.s, sizeof results[i].v.s, "%.20s#%d", r.s, i);
    else results[i].v = r;
  }
}

/* ---- the whole function ------------------------------------------------------------------------------- */

bool cubeKernelText(MlirOperation op, const char *name, const KArgs *a, CubeBuf *out, char *err, size_t errSize) {
  const KernelSpec *spec = cubeKernelSpecFor(op);
  if (!spec) {
    snprintf(err, errSize, "no kernel generator for this op");
    return false;
  }
  MlirStringRef opName = mlirIdentifierStr(mlirOperationGetName(op));
  int nOut = a->nOut > 0 ? a->nOut : 1;
  const MlirType *outs = a->nOut > 0 ? a->outs : &a->out;
  cubeBufPrintf(out, "func.func private @%s(", name);
  for (int i = 0; i < a->nIn + a->nScratch + nOut; ++i) {
    if (i) cubeBufAppend(out, ", ");
    int o = i - a->nIn - a->nScratch;
    if (i < a->nIn) cubeBufPrintf(out, "%%in%d: ", i);
    else if (o < 0) cubeBufPrintf(out, "%%s%d: ", i - a->nIn);
    else if (o == 0) cubeBufAppend(out, "%out: ");
    else cubeBufPrintf(out, "%%out%d: ", o);
    kgTypeText(i < a->nIn ? a->in[i] : o < 0 ? a->scratch[i - a->nIn] : outs[o], out);
  }
  cubeBufAppend(out, nOut > 1 ? ") -> (" : ") -> ");
  for (int o = 0; o < nOut; ++o) {
    if (o) cubeBufAppend(out, ", ");
    kgTypeText(outs[o], out);
  }
  cubeBufPrintf(out, "%s attributes {cube.kernel = \"%.*s\", cube.kernel_inputs = %d : i64, "
                "cube.kernel_scratch = %d : i64", nOut > 1 ? ")" : "", (int)opName.length, opName.data, a->nIn,
                a->nScratch);
  if (nOut != 1) cubeBufPrintf(out, ", cube.kernel_outs = %d : i64", nOut);
  cubeBufAppend(out, "} {\n");
  KGen g = {.b = out};
  bool ok = true, empty = true;
  for (int o = 0; o < nOut; ++o) empty &= kgNumElements(outs[o]) == 0;
  if (empty) { /* nothing to compute */
    cubeBufAppend(out, "    return ");
    for (int o = 0; o < nOut; ++o) cubeBufPrintf(out, "%s%%out%.0d", o ? ", " : "", o);
    cubeBufAppend(out, " : ");
    for (int o = 0; o < nOut; ++o) {
      if (o) cubeBufAppend(out, ", ");
      kgTypeText(outs[o], out);
    }
    cubeBufAppend(out, "\n");
  } else {
    ok = spec->gen(&g, op, a) && !g.failed;
  }
  cubeBufAppend(out, "}\n");
  if (!ok) snprintf(err, errSize, "%s", g.err[0] ? g.err : "unsupported operand types");
  if (out->oom) {
    snprintf(err, errSize, "out of memory");
    return false;
  }
  return ok;
}

void kgSplitAtDim(MlirOperation op, MlirType t, int64_t *outer, int64_t *n, int64_t *inner) {
  int64_t dim = -1;
  intptr_t r = kgRank(t);
  cubeGetI64Attr(op, "dim", &dim);
  if (dim < 0) dim += r;
  if (dim < 0 || dim >= r) dim = r - 1;
  *outer = *inner = 1;
  for (intptr_t i = 0; i < dim; ++i) *outer *= kgDim(t, i);
  for (intptr_t i = dim + 1; i < r; ++i) *inner *= kgDim(t, i);
  *n = r ? kgDim(t, dim) : 1;
}

void kgRowMaxSumExp(KGen *g, KOperand xv, const char *xElt, KFlat scratch0, KFlat scratch1, KFlat *m, KFlat *l) {
  /* m[r] = max_c x[r, c] */
  *m = kgFill(g, scratch0, "0xFF800000");
  KOperand mo = {*m, "d0"};
  KBody b1 = {.g = g};
  KVal xf = kbToF32(&b1, kbArg("%bi0"), xElt);
  KVal mx = kbOp(&b1, "arith.maximumf %%bo0, %s : f32", xf.s);
  kgGeneric(g, 2, 1, &xv, 1, &mo, &b1, &mx, m);
  /* l[r] = sum_c exp(x[r, c] - m[r]) */
  *l = kgFill(g, scratch1, "0.0");
  KOperand lin[2] = {xv, {*m, "d0"}}, lo = {*l, "d0"};
  KBody b2 = {.g = g};
  KVal xf2 = kbToF32(&b2, kbArg("%bi0"), xElt);
  KVal e = kbOp(&b2, "math.exp %s : f32", kbOp(&b2, "arith.subf %s, %%bi1 : f32", xf2.s).s);
  KVal s2 = kbOp(&b2, "arith.addf %%bo0, %s : f32", e.s);
  kgGeneric(g, 2, 2, lin, 1, &lo, &b2, &s2, l);
}
