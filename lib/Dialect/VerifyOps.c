/* Per-op rules of the cube verifier (docs/dialect.md, "Ops"). A table maps each op mnemonic to its
 * operand/result counts and a rule function. Before a rule runs, the counts are checked and every operand
 * and result must be a statically shaped ranked tensor (whose element count fits in int64); when that
 * fails the op's rule is skipped, so rules may read ranks and dims freely. Attributes are read only after
 * their kind is checked, dims are multiplied and added with overflow checks, and attribute values (dims,
 * offsets, permutation entries) are range-checked before they index anything. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "VerifyInternal.h"
#include "cube/InitSpec.h"
#include "cube/Ops.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"

#define emit cubeVerifyEmit

/* ---- types, shapes and their texts --------------------------------------------------------------- */

typedef struct {
  char s[320];
} Str;

static MlirType opnd(MlirOperation op, intptr_t i) { return mlirValueGetType(mlirOperationGetOperand(op, i)); }
static MlirType res(MlirOperation op, intptr_t i) { return mlirValueGetType(mlirOperationGetResult(op, i)); }
static intptr_t rankOf(MlirType t) { return mlirShapedTypeGetRank(t); }
static int64_t dimOf(MlirType t, intptr_t i) { return mlirShapedTypeGetDimSize(t, i); }
static MlirType elemOf(MlirType t) { return mlirShapedTypeGetElementType(t); }
/* A dim counted from the end: last(t, 1) is the last dim. */
static int64_t last(MlirType t, intptr_t k) { return dimOf(t, rankOf(t) - k); }

static bool isFloatElem(MlirType e) { return mlirTypeIsAF32(e) || mlirTypeIsABF16(e) || mlirTypeIsAF16(e); }
static bool isIdElem(MlirType e) {
  return mlirTypeIsAInteger(e) && mlirIntegerTypeIsSignless(e) &&
         (mlirIntegerTypeGetWidth(e) == 32 || mlirIntegerTypeGetWidth(e) == 64);
}

static Str typeText(MlirType t) {
  Str s;
  cubeVerifyPrintType(t, s.s, sizeof s.s);
  return s;
}

static Str attrText(MlirAttribute a) {
  Str s;
  cubeVerifyPrintAttr(a, s.s, sizeof s.s);
  return s;
}

/* "2x8x64" (withElem: "2x8x64xf32"); rank 0 prints as "tensor<f32>" (or "a rank-0 shape"). */
static Str dimsText(const int64_t *d, intptr_t n, MlirType elem) {
  Str s;
  char e[64] = "";
  size_t off = 0;
  if (!mlirTypeIsNull(elem)) cubeVerifyPrintType(elem, e, sizeof e);
  s.s[0] = 0;
  if (n == 0) {
    if (*e) snprintf(s.s, sizeof s.s, "tensor<%s>", e);
    else snprintf(s.s, sizeof s.s, "a rank-0 shape");
    return s;
  }
  for (intptr_t i = 0; i < n && off < sizeof s.s; ++i)
    off += (size_t)snprintf(s.s + off, sizeof s.s - off, "%s%lld", i ? "x" : "", (long long)d[i]);
  if (*e && off < sizeof s.s) snprintf(s.s + off, sizeof s.s - off, "x%s", e);
  return s;
}

/* Shape of a static tensor, e.g. "768x512" or, withElem, "768x512xf32". */
static Str shapeText(MlirType t, bool withElem) {
  Str s;
  if (rankOf(t) == 0) return dimsText(NULL, 0, withElem ? elemOf(t) : (MlirType){NULL});
  cubeFormatShape(t, withElem, s.s, sizeof s.s);
  return s;
}

/* The dims of `t` in a new array with room for `extra` more (NULL when out of memory). */
static int64_t *dimsOf(MlirType t, intptr_t extra) {
  intptr_t n = rankOf(t);
  int64_t *d = malloc((size_t)(n + extra + 1) * sizeof *d);
  if (d)
    for (intptr_t i = 0; i < n; ++i) d[i] = dimOf(t, i);
  return d;
}

/* The element count of a static tensor; false when it does not fit in int64. */
static bool numElements(MlirType t, int64_t *out) {
  int64_t n = 1;
  bool overflow = false;
  for (intptr_t i = 0; i < rankOf(t); ++i) {
    int64_t d = dimOf(t, i);
    if (d == 0) return *out = 0, true;
    if (!overflow && __builtin_mul_overflow(n, d, &n)) overflow = true;
  }
  *out = n;
  return !overflow;
}

/* ---- checks shared by the rules ------------------------------------------------------------------ */

static bool needFloat(CubeVerifier *v, MlirOperation op, const char *what, MlirType t) {
  if (isFloatElem(elemOf(t))) return true;
  emit(v, op, "%s must have a float element type (f32, bf16 or f16), got %s", what, typeText(elemOf(t)).s);
  return false;
}

static bool needSameElem(CubeVerifier *v, MlirOperation op, const char *what, MlirType t, const char *refWhat,
                         MlirType ref) {
  if (mlirTypeEqual(elemOf(t), elemOf(ref))) return true;
  emit(v, op, "%s has element type %s but %s has %s", what, typeText(elemOf(t)).s, refWhat,
       typeText(elemOf(ref)).s);
  return false;
}

/* rank == want (atLeast: rank >= want); `form` describes the expected shape, e.g. "[V, H]". */
static bool needRank(CubeVerifier *v, MlirOperation op, const char *what, MlirType t, intptr_t want,
                     bool atLeast, const char *form) {
  intptr_t r = rankOf(t);
  if (atLeast ? r >= want : r == want) return true;
  emit(v, op, "%s must have rank %s%ld (%s), got rank %ld (%s)", what, atLeast ? ">= " : "", (long)want, form,
       (long)r, shapeText(t, true).s);
  return false;
}

/* The result must have dims d[0..n) and, unless elem is null, element type elem. */
static bool expectDims(CubeVerifier *v, MlirOperation op, const char *what, MlirType t, const int64_t *d,
                       intptr_t n, MlirType elem, const char *why) {
  bool ok = rankOf(t) == n && (mlirTypeIsNull(elem) || mlirTypeEqual(elemOf(t), elem));
  for (intptr_t i = 0; ok && i < n; ++i) ok = dimOf(t, i) == d[i];
  if (ok) return true;
  emit(v, op, "%s is %s but expected %s%s (%s)", what, shapeText(t, true).s, mlirTypeIsNull(elem) ? "shape " : "",
       dimsText(d, n, elem).s, why);
  return false;
}

/* The result must have the shape of `like` and element type elem (null: any). */
static bool expectLike(CubeVerifier *v, MlirOperation op, const char *what, MlirType t, MlirType like,
                       MlirType elem, const char *why) {
  int64_t *d = dimsOf(like, 0);
  bool ok = !d || expectDims(v, op, what, t, d, rankOf(like), elem, why);
  free(d);
  return ok;
}

/* ---- attributes: 1 = present and of the right kind, 0 = absent and optional, -1 = reported ------- */

static MlirAttribute attr(MlirOperation op, const char *name) {
  return mlirOperationGetAttributeByName(op, CUBE_STR(name));
}

static int getF64(CubeVerifier *v, MlirOperation op, const char *name, bool required, double *out) {
  MlirAttribute a = attr(op, name);
  if (mlirAttributeIsNull(a)) {
    if (!required) return 0;
    return emit(v, op, "requires a float attribute '%s'", name), -1;
  }
  if (!mlirAttributeIsAFloat(a))
    return emit(v, op, "%s must be a float attribute (e.g. 1.0 : f64), got %s", name, attrText(a).s), -1;
  *out = mlirFloatAttrGetValueDouble(a);
  return 1;
}

/* A signless i64 IntegerAttr (not a bool, not another width: those are rejected with a message). */
static int getI64(CubeVerifier *v, MlirOperation op, const char *name, int64_t *out) {
  MlirAttribute a = attr(op, name);
  if (mlirAttributeIsNull(a)) return emit(v, op, "requires an i64 attribute '%s'", name), -1;
  MlirType t = mlirAttributeIsAInteger(a) ? mlirAttributeGetType(a) : (MlirType){NULL};
  if (mlirTypeIsNull(t) || !mlirTypeIsAInteger(t) || !mlirIntegerTypeIsSignless(t) ||
      mlirIntegerTypeGetWidth(t) != 64)
    return emit(v, op, "%s must be an i64 integer attribute, got %s", name, attrText(a).s), -1;
  *out = mlirIntegerAttrGetValueInt(a);
  return 1;
}

/* A BoolAttr (`true`/`false`, i.e. an i1 IntegerAttr). */
static int getBool(CubeVerifier *v, MlirOperation op, const char *name, bool required, bool *out) {
  MlirAttribute a = attr(op, name);
  *out = false;
  if (mlirAttributeIsNull(a)) {
    if (!required) return 0;
    return emit(v, op, "requires a bool attribute '%s'", name), -1;
  }
  if (!mlirAttributeIsABool(a))
    return emit(v, op, "%s must be a bool (true or false), got %s", name, attrText(a).s), -1;
  *out = mlirBoolAttrGetValue(a);
  return 1;
}

static int getStr(CubeVerifier *v, MlirOperation op, const char *name, MlirStringRef *out) {
  MlirAttribute a = attr(op, name);
  if (mlirAttributeIsNull(a)) return emit(v, op, "requires a string attribute '%s'", name), -1;
  if (!mlirAttributeIsAString(a)) return emit(v, op, "%s must be a string, got %s", name, attrText(a).s), -1;
  *out = mlirStringAttrGetValue(a);
  return 1;
}

/* An array<i64: ...> attribute; *n gets its length. */
static int getI64Array(CubeVerifier *v, MlirOperation op, const char *name, MlirAttribute *out, intptr_t *n) {
  MlirAttribute a = attr(op, name);
  if (mlirAttributeIsNull(a)) return emit(v, op, "requires an array<i64: ...> attribute '%s'", name), -1;
  if (!mlirAttributeIsADenseI64Array(a))
    return emit(v, op, "%s must be an array<i64: ...>, got %s", name, attrText(a).s), -1;
  *out = a;
  *n = mlirDenseArrayGetNumElements(a);
  return 1;
}

/* A float attribute that must be finite and, when `positive`, > 0. */
static void needPositiveFloat(CubeVerifier *v, MlirOperation op, const char *name, bool required, bool positive) {
  double x;
  if (getF64(v, op, name, required, &x) != 1) return;
  if (positive && !(isfinite(x) && x > 0))
    emit(v, op, "%s must be a finite float > 0, got %g", name, x);
  else if (!positive && !isfinite(x))
    emit(v, op, "%s must be a finite float, got %g", name, x);
}

/* A `dim` attribute in [-rank, rank); returns the normalised dim or -1 (reported). */
static int64_t getDim(CubeVerifier *v, MlirOperation op, MlirType t, const char *what) {
  int64_t d;
  if (getI64(v, op, "dim", &d) != 1) return -1;
  int64_t r = rankOf(t);
  if (d < -r || d >= r) {
    if (r == 0) emit(v, op, "dim %lld is out of range: %s has rank 0", (long long)d, what);
    else emit(v, op, "dim %lld is out of range [%lld, %lld) for %s of rank %lld", (long long)d, (long long)-r,
              (long long)r, what, (long long)r);
    return -1;
  }
  return d < 0 ? d + r : d;
}

/* ---- the rules ----------------------------------------------------------------------------------- */

static void ruleParam(CubeVerifier *v, MlirOperation op) {
  MlirType r = res(op, 0);
  needFloat(v, op, "result", r);
  bool ranked = needRank(v, op, "result", r, 1, true, "a parameter is at least a vector");
  MlirStringRef name, init;
  if (getStr(v, op, "name", &name) == 1 && name.length == 0)
    emit(v, op, "name must not be empty (it is the HF state_dict key)");
  if (getStr(v, op, "init", &init) == 1) {
    CubeInitSpec spec;
    char err[256];
    if (!cubeInitSpecParse(init.length ? init.data : "", init.length, &spec, err, sizeof err))
      emit(v, op, "init '%.*s' is not a valid initialiser: %s", CUBE_SR(init), err);
    else if (spec.kind == CUBE_INIT_KAIMING_UNIFORM && ranked && last(r, 1) == 0)
      emit(v, op, "init kaiming_uniform needs fan_in (the last dim) > 0, but the result is %s",
           shapeText(r, true).s);
  }
  bool b;
  getBool(v, op, "trainable", true, &b);
}

static void ruleEmbedding(CubeVerifier *v, MlirOperation op) {
  MlirType ids = opnd(op, 0), w = opnd(op, 1);
  if (!isIdElem(elemOf(ids)))
    emit(v, op, "operand #0 (ids) must have element type i32 or i64, got %s", typeText(elemOf(ids)).s);
  bool ok = needFloat(v, op, "operand #1 (weight)", w);
  if (!needRank(v, op, "operand #1 (weight)", w, 2, false, "[V, H]") || !ok) return;
  int64_t *d = dimsOf(ids, 1);
  if (!d) return;
  d[rankOf(ids)] = dimOf(w, 1);
  expectDims(v, op, "result", res(op, 0), d, rankOf(ids) + 1, elemOf(w),
             "the shape of ids followed by H, weight's element type");
  free(d);
}

static void ruleLinear(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0), w = opnd(op, 1), r = res(op, 0);
  bool hasBias = mlirOperationGetNumOperands(op) == 3;
  bool ok = needFloat(v, op, "operand #0 (input)", x);
  ok = needSameElem(v, op, "operand #1 (weight)", w, "operand #0 (input)", x) && ok;
  if (hasBias) ok = needSameElem(v, op, "operand #2 (bias)", opnd(op, 2), "operand #0 (input)", x) && ok;
  ok = needRank(v, op, "operand #0 (input)", x, 1, true, "[*, in]") && ok;
  ok = needRank(v, op, "operand #1 (weight)", w, 2, false, "[out, in]") && ok;
  if (hasBias) ok = needRank(v, op, "operand #2 (bias)", opnd(op, 2), 1, false, "[out]") && ok;
  if (!ok) return;
  int64_t in = last(x, 1), out = dimOf(w, 0);
  if (dimOf(w, 1) != in) {
    emit(v, op, "weight is %s but input has %lld features", shapeText(w, false).s, (long long)in);
    return;
  }
  if (hasBias && dimOf(opnd(op, 2), 0) != out) {
    emit(v, op, "bias is %s but weight has %lld output features", shapeText(opnd(op, 2), false).s,
         (long long)out);
    return;
  }
  int64_t *d = dimsOf(x, 0);
  if (!d) return;
  d[rankOf(x) - 1] = out;
  expectDims(v, op, "result", r, d, rankOf(x), elemOf(x), "input's shape with the last dim replaced by out");
  free(d);
}

static void ruleMatmul(CubeVerifier *v, MlirOperation op) {
  MlirType a = opnd(op, 0), b = opnd(op, 1);
  bool ta, tb;
  bool ok = getBool(v, op, "transpose_lhs", false, &ta) >= 0;
  ok = getBool(v, op, "transpose_rhs", false, &tb) >= 0 && ok;
  ok = needFloat(v, op, "operand #0 (lhs)", a) && ok;
  ok = needSameElem(v, op, "operand #1 (rhs)", b, "operand #0 (lhs)", a) && ok;
  ok = needRank(v, op, "operand #0 (lhs)", a, 2, true, "[*B, M, K]") && ok;
  ok = needRank(v, op, "operand #1 (rhs)", b, 2, true, "[*B, K, N]") && ok;
  if (!ok) return;
  intptr_t n = rankOf(a);
  if (rankOf(b) != n) {
    emit(v, op, "lhs has rank %ld but rhs has rank %ld (ranks must be equal, no broadcasting)", (long)n,
         (long)rankOf(b));
    return;
  }
  for (intptr_t i = 0; i + 2 < n; ++i)
    if (dimOf(a, i) != dimOf(b, i)) {
      emit(v, op, "batch dim #%ld: lhs has %lld but rhs has %lld (no broadcasting)", (long)i,
           (long long)dimOf(a, i), (long long)dimOf(b, i));
      ok = false;
    }
  int64_t m = ta ? last(a, 1) : last(a, 2), k = ta ? last(a, 2) : last(a, 1);
  int64_t k2 = tb ? last(b, 1) : last(b, 2), nn = tb ? last(b, 2) : last(b, 1);
  if (k != k2) {
    emit(v, op, "lhs %s has K = %lld but rhs %s has K = %lld (transpose_lhs = %s, transpose_rhs = %s)",
         shapeText(a, false).s, (long long)k, shapeText(b, false).s, (long long)k2, ta ? "true" : "false",
         tb ? "true" : "false");
    ok = false;
  }
  if (!ok) return;
  int64_t *d = dimsOf(a, 0);
  if (!d) return;
  d[n - 2] = m;
  d[n - 1] = nn;
  expectDims(v, op, "result", res(op, 0), d, n, elemOf(a), "[*B, M, N]");
  free(d);
}

static bool sameShape(MlirType a, MlirType b) {
  if (rankOf(a) != rankOf(b)) return false;
  for (intptr_t i = 0; i < rankOf(a); ++i)
    if (dimOf(a, i) != dimOf(b, i)) return false;
  return true;
}

static void ruleBinary(CubeVerifier *v, MlirOperation op) {
  MlirType a = opnd(op, 0), b = opnd(op, 1);
  if (!needFloat(v, op, "operand #0 (lhs)", a)) return;
  if (!sameShape(a, b) || !mlirTypeEqual(elemOf(a), elemOf(b))) {
    emit(v, op, "rhs is %s but lhs is %s (same shape and element type, no broadcasting)",
         shapeText(b, true).s, shapeText(a, true).s);
    return;
  }
  expectLike(v, op, "result", res(op, 0), a, elemOf(a), "the operands' type");
}

static void ruleUnary(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0);
  if (needFloat(v, op, "operand #0 (input)", x))
    expectLike(v, op, "result", res(op, 0), x, elemOf(x), "the input's type");
}

static void ruleScale(CubeVerifier *v, MlirOperation op) {
  ruleUnary(v, op);
  needPositiveFloat(v, op, "factor", true, false);
}

static void ruleCast(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0), r = res(op, 0);
  bool ok = needFloat(v, op, "operand #0 (input)", x);
  if (needFloat(v, op, "result", r) && ok) expectLike(v, op, "result", r, x, (MlirType){NULL}, "the input's shape");
}

static void ruleDropout(CubeVerifier *v, MlirOperation op) {
  ruleUnary(v, op);
  double p;
  if (getF64(v, op, "p", true, &p) == 1 && !(p >= 0 && p < 1)) emit(v, op, "p must be in [0, 1), got %g", p);
  int64_t seed;
  getI64(v, op, "seed", &seed);
}

static void ruleRmsnorm(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0), w = opnd(op, 1);
  needPositiveFloat(v, op, "eps", true, true);
  bool ok = needFloat(v, op, "operand #0 (input)", x);
  ok = needSameElem(v, op, "operand #1 (weight)", w, "operand #0 (input)", x) && ok;
  ok = needRank(v, op, "operand #0 (input)", x, 1, true, "[*, H]") && ok;
  ok = needRank(v, op, "operand #1 (weight)", w, 1, false, "[H]") && ok;
  if (!ok) return;
  if (dimOf(w, 0) != last(x, 1)) {
    emit(v, op, "weight is %s but input has hidden size H = %lld", shapeText(w, false).s, (long long)last(x, 1));
    return;
  }
  expectLike(v, op, "result", res(op, 0), x, elemOf(x), "the input's type");
}

/* rope and rope_grad: theta > 0, a [B, heads, S, D] float operand #0 (`name`) with even D, a result of its
 * type (`like` words the message). */
static void ruleRopeLike(CubeVerifier *v, MlirOperation op, const char *name, const char *like) {
  MlirType x = opnd(op, 0);
  char what[64];
  snprintf(what, sizeof what, "operand #0 (%s)", name);
  needPositiveFloat(v, op, "theta", true, true);
  bool ok = needFloat(v, op, what, x);
  if (!needRank(v, op, what, x, 4, false, "[B, heads, S, D]") || !ok) return;
  if (last(x, 1) % 2) {
    emit(v, op, "head dim D = %lld must be even (%s is %s)", (long long)last(x, 1), name, shapeText(x, false).s);
    return;
  }
  expectLike(v, op, "result", res(op, 0), x, elemOf(x), like);
}

static void ruleRope(CubeVerifier *v, MlirOperation op) { ruleRopeLike(v, op, "input", "the input's type"); }

/* softmax(x * scale) along dim; optional scale (finite, > 0) and causal_period N >= 1 (dim must be the last,
 * rank >= 2: element j of row r, rows counted over the whole input (every dim but the last), is masked when
 * j > r mod N; the form cube-attention-to-matmul writes, where N divides the rows of each matrix). */
static void ruleSoftmax(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0);
  bool ok = needFloat(v, op, "operand #0 (input)", x);
  int64_t dim = getDim(v, op, x, "the input");
  ok = dim >= 0 && ok;
  needPositiveFloat(v, op, "scale", false, true);
  if (!mlirAttributeIsNull(attr(op, "causal_period"))) {
    int64_t period;
    if (getI64(v, op, "causal_period", &period) == 1) {
      if (period < 1) emit(v, op, "causal_period must be >= 1, got %lld", (long long)period);
      else if (ok && (rankOf(x) < 2 || dim != rankOf(x) - 1))
        emit(v, op, "causal_period needs dim to be the last dim of an input of rank >= 2 (dim %lld, rank %lld)",
             (long long)dim, (long long)rankOf(x));
    }
  }
  if (ok) expectLike(v, op, "result", res(op, 0), x, elemOf(x), "the input's type");
}

/* The rules attention and attention_grad share (operands #0..#2); false when one failed. */
static bool checkAttention(CubeVerifier *v, MlirOperation op) {
  MlirType q = opnd(op, 0), k = opnd(op, 1), val = opnd(op, 2);
  bool causal;
  int hasCausal = getBool(v, op, "causal", true, &causal);
  needPositiveFloat(v, op, "scale", false, true);
  bool ok = needFloat(v, op, "operand #0 (query)", q);
  ok = needSameElem(v, op, "operand #1 (key)", k, "operand #0 (query)", q) && ok;
  ok = needSameElem(v, op, "operand #2 (value)", val, "operand #0 (query)", q) && ok;
  ok = needRank(v, op, "operand #0 (query)", q, 4, false, "[B, Hq, S, D]") && ok;
  ok = needRank(v, op, "operand #1 (key)", k, 4, false, "[B, Hkv, Skv, D]") && ok;
  ok = needRank(v, op, "operand #2 (value)", val, 4, false, "[B, Hkv, Skv, D]") && ok;
  if (!ok) return false;
  if (!sameShape(k, val)) {
    emit(v, op, "value is %s but key is %s (they must have the same shape)", shapeText(val, false).s,
         shapeText(k, false).s);
    ok = false;
  }
  if (dimOf(k, 0) != dimOf(q, 0)) {
    emit(v, op, "key has batch size %lld but query has %lld", (long long)dimOf(k, 0), (long long)dimOf(q, 0));
    ok = false;
  }
  if (dimOf(k, 3) != dimOf(q, 3)) {
    emit(v, op, "key has head dim %lld but query has %lld", (long long)dimOf(k, 3), (long long)dimOf(q, 3));
    ok = false;
  }
  int64_t hq = dimOf(q, 1), hkv = dimOf(k, 1);
  if (hkv == 0 || hq % hkv) {
    emit(v, op, "query has %lld heads, not a multiple of key's %lld heads (GQA needs Hq %% Hkv == 0, Hkv > 0)",
         (long long)hq, (long long)hkv);
    ok = false;
  }
  if (hasCausal == 1 && causal && dimOf(q, 2) != dimOf(k, 2)) {
    emit(v, op, "causal attention needs S == Skv, but query has S = %lld and key has Skv = %lld",
         (long long)dimOf(q, 2), (long long)dimOf(k, 2));
    ok = false;
  }
  return ok;
}

static void ruleAttention(CubeVerifier *v, MlirOperation op) {
  MlirType q = opnd(op, 0);
  if (checkAttention(v, op)) expectLike(v, op, "result", res(op, 0), q, elemOf(q), "the query's type");
}

/* The optional norm_labels operand of cross_entropy(_grad) (operand #i): the labels whose count of non-ignored
 * entries divides the sum (a chunk of the rows normalised by the whole batch's count, cube-chunk-loss). */
static bool normLabelsOk(CubeVerifier *v, MlirOperation op, intptr_t i) {
  if (mlirOperationGetNumOperands(op) <= i) return true;
  MlirType nl = opnd(op, i);
  if (isIdElem(elemOf(nl))) return true;
  emit(v, op, "operand #%d (norm_labels) must have element type i32 or i64, got %s", (int)i, typeText(elemOf(nl)).s);
  return false;
}

static void ruleCrossEntropy(CubeVerifier *v, MlirOperation op) {
  MlirType lg = opnd(op, 0), lb = opnd(op, 1), r = res(op, 0);
  int64_t ii;
  getI64(v, op, "ignore_index", &ii);
  bool ok = needFloat(v, op, "operand #0 (logits)", lg);
  ok = normLabelsOk(v, op, 2) && ok;
  if (!isIdElem(elemOf(lb))) {
    emit(v, op, "operand #1 (labels) must have element type i32 or i64, got %s", typeText(elemOf(lb)).s);
    ok = false;
  }
  if (rankOf(r) != 0 || !mlirTypeIsAF32(elemOf(r)))
    emit(v, op, "result must be tensor<f32> (a rank-0 f32 loss), got %s", typeText(r).s);
  if (!needRank(v, op, "operand #0 (logits)", lg, 1, true, "[*N, V]") || !ok) return;
  bool match = rankOf(lb) == rankOf(lg) - 1;
  for (intptr_t i = 0; match && i < rankOf(lb); ++i) match = dimOf(lb, i) == dimOf(lg, i);
  if (!match)
    emit(v, op, "labels are %s but logits are %s (labels must have the logits' shape without the last dim)",
         shapeText(lb, false).s, shapeText(lg, false).s);
}

static void ruleReshape(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0), r = res(op, 0);
  bool ok = needSameElem(v, op, "result", r, "operand #0 (input)", x);
  int64_t nx, nr;
  if (!numElements(x, &nx) || !numElements(r, &nr) || !ok) return; /* overflow: reported for every op */
  if (nx != nr)
    emit(v, op, "result %s has %lld elements but input %s has %lld", shapeText(r, false).s, (long long)nr,
         shapeText(x, false).s, (long long)nx);
}

static void ruleTranspose(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0), r = res(op, 0);
  MlirAttribute perm;
  intptr_t n;
  if (getI64Array(v, op, "permutation", &perm, &n) != 1) return;
  intptr_t rank = rankOf(x);
  if (n != rank) {
    emit(v, op, "permutation has %ld entries but the input has rank %ld", (long)n, (long)rank);
    return;
  }
  bool *seen = calloc((size_t)rank + 1, 1);
  int64_t *d = malloc(((size_t)rank + 1) * sizeof *d);
  bool ok = seen && d;
  for (intptr_t i = 0; ok && i < n; ++i) {
    int64_t p = mlirDenseI64ArrayGetElement(perm, i);
    if (p < 0 || p >= rank) {
      emit(v, op, "permutation entry #%ld is %lld, out of range [0, %ld)", (long)i, (long long)p, (long)rank);
      ok = false;
    } else if (seen[p]) {
      emit(v, op, "permutation entry #%ld repeats %lld (expected a permutation of 0..%ld)", (long)i,
           (long long)p, (long)rank - 1);
      ok = false;
    } else {
      seen[p] = true;
      d[i] = dimOf(x, p);
    }
  }
  if (ok) expectDims(v, op, "result", r, d, rank, elemOf(x), "the input's dims permuted");
  free(seen);
  free(d);
}

/* Shared by slice and pad: the smaller tensor sits inside the larger one at `offsets` (a slice: the result
 * inside the input; a pad: the input inside the result). `pad` selects the op's own wording. */
static void ruleWindow(CubeVerifier *v, MlirOperation op, bool pad) {
  MlirType x = opnd(op, 0), r = res(op, 0);
  bool ok = needSameElem(v, op, "result", r, "operand #0 (input)", x);
  if (rankOf(r) != rankOf(x)) {
    emit(v, op, "result has rank %ld but input has rank %ld (a %s keeps the rank)", (long)rankOf(r),
         (long)rankOf(x), pad ? "pad" : "slice");
    ok = false;
  }
  MlirAttribute off;
  intptr_t n;
  if (getI64Array(v, op, "offsets", &off, &n) != 1 || !ok) return;
  if (n != rankOf(x)) {
    emit(v, op, "offsets has %ld entries but the input has rank %ld (one offset per dim)", (long)n,
         (long)rankOf(x));
    return;
  }
  for (intptr_t i = 0; i < n; ++i) {
    int64_t o = mlirDenseI64ArrayGetElement(off, i), in = dimOf(x, i), out = dimOf(r, i);
    int64_t inner = pad ? in : out, outer = pad ? out : in;
    if (o < 0)
      emit(v, op, "offset %lld of dim #%ld is negative", (long long)o, (long)i);
    else if (inner > outer || o > outer - inner)
      emit(v, op, pad ? "dim #%ld: offset %lld + the input's size %lld exceeds the result's size %lld"
                      : "dim #%ld: offset %lld + size %lld exceeds the input's size %lld",
           (long)i, (long long)o, (long long)inner, (long long)outer);
  }
}

static void ruleSlice(CubeVerifier *v, MlirOperation op) { ruleWindow(v, op, false); }

static void ruleConcat(CubeVerifier *v, MlirOperation op) {
  intptr_t n = mlirOperationGetNumOperands(op);
  MlirType x0 = opnd(op, 0), r = res(op, 0);
  int64_t dim = getDim(v, op, x0, "operand #0 (lhs)");
  bool ok = true;
  for (intptr_t i = 1; i < n; ++i) {
    MlirType x = opnd(op, i);
    if (rankOf(x) != rankOf(x0) || !mlirTypeEqual(elemOf(x), elemOf(x0))) {
      emit(v, op, "operand #%ld is %s but operand #0 is %s (lhs and rhs need equal rank and element type)", (long)i,
           shapeText(x, true).s, shapeText(x0, true).s);
      ok = false;
      continue;
    }
    for (intptr_t k = 0; dim >= 0 && k < rankOf(x); ++k)
      if (k != dim && dimOf(x, k) != dimOf(x0, k)) {
        emit(v, op, "operand #%ld is %s but operand #0 is %s (they may differ only in dim %lld)", (long)i,
             shapeText(x, false).s, shapeText(x0, false).s, (long long)dim);
        ok = false;
        break;
      }
  }
  if (!ok || dim < 0) return;
  int64_t *d = dimsOf(x0, 0);
  if (!d) return;
  for (intptr_t i = 1; ok && i < n; ++i)
    if (__builtin_add_overflow(d[dim], dimOf(opnd(op, i), dim), &d[dim])) {
      emit(v, op, "the sum of the inputs' dim %lld overflows int64", (long long)dim);
      ok = false;
    }
  if (ok) expectDims(v, op, "result", r, d, rankOf(x0), elemOf(x0), "the inputs' dims, summed in dim");
  free(d);
}

/* ---- backward and optimizer ops (docs/dialect.md, "Backward and optimizer ops") --------------------- */

/* `what` must have exactly the type of `ref` (shape and element type). */
static bool needSameType(CubeVerifier *v, MlirOperation op, const char *what, MlirType t, const char *refWhat,
                         MlirType ref, const char *why) {
  if (sameShape(t, ref) && mlirTypeEqual(elemOf(t), elemOf(ref))) return true;
  emit(v, op, "%s is %s but %s is %s (%s)", what, shapeText(t, true).s, refWhat, shapeText(ref, true).s, why);
  return false;
}

/* A rank-0 tensor of element type f32 (wantI64: i64). */
static bool needScalar(CubeVerifier *v, MlirOperation op, const char *what, MlirType t, bool wantI64) {
  MlirType e = elemOf(t);
  bool ok = rankOf(t) == 0 && (wantI64 ? mlirTypeIsAInteger(e) && mlirIntegerTypeIsSignless(e) &&
                                             mlirIntegerTypeGetWidth(e) == 64
                                       : mlirTypeIsAF32(e));
  if (!ok) emit(v, op, "%s must be %s, got %s", what, wantI64 ? "tensor<i64>" : "tensor<f32>", typeText(t).s);
  return ok;
}

/* The defining op of `x` when it is a cube.<mnemonic>, else a null op. */
static MlirOperation definedBy(MlirValue x, const char *mnemonic) {
  if (!mlirValueIsAOpResult(x)) return (MlirOperation){NULL};
  MlirOperation d = mlirOpResultGetOwner(x);
  return cubeIsOp(d, mnemonic) ? d : (MlirOperation){NULL};
}

static void ruleEmbeddingGrad(CubeVerifier *v, MlirOperation op) {
  MlirType ids = opnd(op, 0), g = opnd(op, 1);
  int64_t n;
  int hasN = getI64(v, op, "num_embeddings", &n);
  if (hasN == 1 && n <= 0) {
    emit(v, op, "num_embeddings must be > 0, got %lld", (long long)n);
    hasN = -1;
  }
  bool ok = true;
  if (!isIdElem(elemOf(ids))) {
    emit(v, op, "operand #0 (ids) must have element type i32 or i64, got %s", typeText(elemOf(ids)).s);
    ok = false;
  }
  ok = needFloat(v, op, "operand #1 (dout)", g) && ok;
  if (!needRank(v, op, "operand #1 (dout)", g, 1, true, "[*S, H]") || !ok) return;
  bool match = rankOf(g) == rankOf(ids) + 1;
  for (intptr_t i = 0; match && i < rankOf(ids); ++i) match = dimOf(g, i) == dimOf(ids, i);
  if (!match) {
    emit(v, op, "dout is %s but ids are %s (dout must have the ids' shape followed by H)", shapeText(g, false).s,
         shapeText(ids, false).s);
    return;
  }
  if (hasN != 1) return;
  int64_t d[2] = {n, last(g, 1)};
  expectDims(v, op, "result", res(op, 0), d, 2, elemOf(g), "[num_embeddings, H], dout's element type");
}

static void ruleRmsnormGrad(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0), w = opnd(op, 1), g = opnd(op, 2);
  needPositiveFloat(v, op, "eps", true, true);
  bool ok = needFloat(v, op, "operand #0 (input)", x);
  ok = needSameElem(v, op, "operand #1 (weight)", w, "operand #0 (input)", x) && ok;
  ok = needRank(v, op, "operand #0 (input)", x, 1, true, "[*, H]") && ok;
  ok = needRank(v, op, "operand #1 (weight)", w, 1, false, "[H]") && ok;
  if (!ok) return;
  if (dimOf(w, 0) != last(x, 1)) {
    emit(v, op, "weight is %s but input has hidden size H = %lld", shapeText(w, false).s, (long long)last(x, 1));
    return;
  }
  if (!needSameType(v, op, "dout", g, "input", x, "dout has the input's type")) return;
  expectLike(v, op, "result #0", res(op, 0), x, elemOf(x), "dinput has the input's type");
  expectLike(v, op, "result #1", res(op, 1), w, elemOf(w), "dweight has the weight's type");
}

static void ruleRopeGrad(CubeVerifier *v, MlirOperation op) { ruleRopeLike(v, op, "dout", "dout's type"); }

static void ruleSoftmaxGrad(CubeVerifier *v, MlirOperation op) {
  MlirType y = opnd(op, 0), g = opnd(op, 1);
  bool ok = needFloat(v, op, "operand #0 (output)", y);
  ok = getDim(v, op, y, "the output") >= 0 && ok;
  ok = ok && needSameType(v, op, "dout", g, "output", y, "dout has the output's type");
  if (ok) expectLike(v, op, "result", res(op, 0), y, elemOf(y), "the output's type");
}

static void ruleAttentionGrad(CubeVerifier *v, MlirOperation op) {
  MlirType q = opnd(op, 0), k = opnd(op, 1), val = opnd(op, 2), g = opnd(op, 3);
  if (!checkAttention(v, op)) return;
  if (!needSameType(v, op, "dout", g, "query", q, "dout has the query's type, the attention's output type"))
    return;
  expectLike(v, op, "result #0", res(op, 0), q, elemOf(q), "dquery has the query's type");
  expectLike(v, op, "result #1", res(op, 1), k, elemOf(k), "dkey has the key's type");
  expectLike(v, op, "result #2", res(op, 2), val, elemOf(val), "dvalue has the value's type");
}

static void ruleCrossEntropyGrad(CubeVerifier *v, MlirOperation op) {
  MlirType lg = opnd(op, 0), lb = opnd(op, 1), d = opnd(op, 2);
  int64_t ii;
  getI64(v, op, "ignore_index", &ii);
  bool ok = needFloat(v, op, "operand #0 (logits)", lg);
  if (!isIdElem(elemOf(lb))) {
    emit(v, op, "operand #1 (labels) must have element type i32 or i64, got %s", typeText(elemOf(lb)).s);
    ok = false;
  }
  ok = needScalar(v, op, "operand #2 (dloss)", d, false) && ok;
  ok = normLabelsOk(v, op, 3) && ok;
  if (!needRank(v, op, "operand #0 (logits)", lg, 1, true, "[*N, V]") || !ok) return;
  bool match = rankOf(lb) == rankOf(lg) - 1;
  for (intptr_t i = 0; match && i < rankOf(lb); ++i) match = dimOf(lb, i) == dimOf(lg, i);
  if (!match) {
    emit(v, op, "labels are %s but logits are %s (labels must have the logits' shape without the last dim)",
         shapeText(lb, false).s, shapeText(lg, false).s);
    return;
  }
  expectLike(v, op, "result", res(op, 0), lg, elemOf(lg), "the logits' type");
}

static void ruleSiluGrad(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0), g = opnd(op, 1);
  if (!needFloat(v, op, "operand #0 (input)", x)) return;
  if (!needSameType(v, op, "dout", g, "input", x, "dout has the input's type")) return;
  expectLike(v, op, "result", res(op, 0), x, elemOf(x), "the input's type");
}

static void ruleReduceSum(CubeVerifier *v, MlirOperation op) {
  MlirType x = opnd(op, 0);
  MlirAttribute dims;
  intptr_t n;
  bool ok = needFloat(v, op, "operand #0 (input)", x);
  if (getI64Array(v, op, "dims", &dims, &n) != 1 || !ok) return;
  intptr_t r = rankOf(x);
  bool *summed = calloc((size_t)r + 1, 1);
  int64_t *d = malloc(((size_t)r + 1) * sizeof *d);
  ok = summed && d;
  for (intptr_t i = 0; ok && i < n; ++i) {
    int64_t k = mlirDenseI64ArrayGetElement(dims, i);
    if (k < 0 || k >= r) {
      emit(v, op, "dims entry #%ld is %lld, out of range [0, %ld)", (long)i, (long long)k, (long)r);
      ok = false;
    } else if (i > 0 && k <= mlirDenseI64ArrayGetElement(dims, i - 1)) {
      emit(v, op, "dims must be sorted and unique, but entry #%ld (%lld) follows %lld", (long)i, (long long)k,
           (long long)mlirDenseI64ArrayGetElement(dims, i - 1));
      ok = false;
    } else {
      summed[k] = true;
    }
  }
  intptr_t m = 0;
  for (intptr_t i = 0; ok && i < r; ++i)
    if (!summed[i]) d[m++] = dimOf(x, i);
  if (ok) expectDims(v, op, "result", res(op, 0), d, m, elemOf(x), "the input's dims without the summed ones");
  free(summed);
  free(d);
}

/* pad: the window rule, and the optional `value` written outside the input (default 0): a float attribute for
 * a float element type (finite), an i64 integer attribute for an integer one (in the element type's range). */
static void rulePad(CubeVerifier *v, MlirOperation op) {
  ruleWindow(v, op, true);
  MlirAttribute a = attr(op, "value");
  if (mlirAttributeIsNull(a)) return;
  MlirType e = elemOf(opnd(op, 0));
  Str et = typeText(e);
  if (mlirTypeIsAFloat(e)) {
    if (!mlirAttributeIsAFloat(a))
      emit(v, op, "value must be a float attribute (e.g. 0.0 : f64) for the input's element type %s, got %s", et.s,
           attrText(a).s);
    else if (!isfinite(mlirFloatAttrGetValueDouble(a)))
      emit(v, op, "value must be a finite float, got %g", mlirFloatAttrGetValueDouble(a));
  } else if (mlirTypeIsAInteger(e)) {
    MlirType t = mlirAttributeIsAInteger(a) ? mlirAttributeGetType(a) : (MlirType){NULL};
    if (mlirTypeIsNull(t) || !mlirTypeIsAInteger(t) || !mlirIntegerTypeIsSignless(t) ||
        mlirIntegerTypeGetWidth(t) != 64) {
      emit(v, op, "value must be an i64 integer attribute (e.g. -100 : i64) for the input's element type %s, got %s",
           et.s, attrText(a).s);
      return;
    }
    unsigned w = mlirIntegerTypeGetWidth(e);
    int64_t x = mlirIntegerAttrGetValueInt(a);
    if (w < 64) {
      int64_t hi = w > 1 ? (int64_t)((UINT64_C(1) << (w - 1)) - 1) : 1, lo = w > 1 ? -hi - 1 : 0;
      if (x < lo || x > hi)
        emit(v, op, "value %lld does not fit in the input's element type %s (range [%lld, %lld])", (long long)x,
             et.s, (long long)lo, (long long)hi);
    }
  } else {
    emit(v, op, "value needs a float or integer element type, but the input's is %s", et.s);
  }
}

static void ruleSumsq(CubeVerifier *v, MlirOperation op) {
  needFloat(v, op, "operand #0 (input)", opnd(op, 0));
  needScalar(v, op, "result", res(op, 0), false);
}

static void ruleFill(CubeVerifier *v, MlirOperation op) {
  needFloat(v, op, "result", res(op, 0));
  needPositiveFloat(v, op, "value", true, false);
}

static void ruleMinimum(CubeVerifier *v, MlirOperation op) { ruleBinary(v, op); }

static void ruleOptState(CubeVerifier *v, MlirOperation op) {
  MlirType r = res(op, 0);
  needFloat(v, op, "result", r);
  MlirStringRef name, init, param;
  if (getStr(v, op, "name", &name) == 1 && name.length == 0)
    emit(v, op, "name must not be empty (it names the state in checkpoints, e.g. '<param>.exp_avg')");
  if (getStr(v, op, "param", &param) == 1 && param.length == 0)
    emit(v, op, "param must not be empty (it names the cube.param the state belongs to)");
  if (getStr(v, op, "init", &init) == 1) {
    CubeInitSpec spec;
    char err[256];
    if (!cubeInitSpecParse(init.length ? init.data : "", init.length, &spec, err, sizeof err))
      emit(v, op, "init '%.*s' is not a valid initialiser: %s", CUBE_SR(init), err);
  }
}

static bool bucketOf(MlirOperation op, int64_t *bucket) {
  MlirAttribute a = attr(op, "bucket");
  if (!cubeIsOp(op, "all_reduce") || mlirAttributeIsNull(a) || !mlirAttributeIsAInteger(a)) return false;
  *bucket = mlirIntegerAttrGetValueInt(a);
  return true;
}

/* all_reduce: the result is the input's type (a float tensor), reduction avg or sum, bucket >= 0, and the
 * ops of one bucket stand next to each other in their block (they become one collective step). */
static void ruleAllReduce(CubeVerifier *v, MlirOperation op) {
  if (needFloat(v, op, "operand #0 (input)", opnd(op, 0)))
    expectLike(v, op, "result", res(op, 0), opnd(op, 0), elemOf(opnd(op, 0)), "the input's type");
  MlirStringRef red;
  if (getStr(v, op, "reduction", &red) == 1 && !cubeRefEq(red, "avg") && !cubeRefEq(red, "sum"))
    emit(v, op, "reduction must be 'avg' or 'sum', got '%.*s'", CUBE_SR(red));
  int64_t bucket;
  if (getI64(v, op, "bucket", &bucket) == 1 && bucket < 0)
    emit(v, op, "bucket must be >= 0, got %lld", (long long)bucket);
  int64_t b = -1;
  MlirOperation next = mlirOperationGetNextInBlock(op);
  while (!mlirOperationIsNull(next) && bucketOf(next, &b) && b == bucket) next = mlirOperationGetNextInBlock(next);
  for (; !mlirOperationIsNull(next); next = mlirOperationGetNextInBlock(next))
    if (bucketOf(next, &b) && b == bucket) {
      char loc[256];
      cubeVerifyPrintLoc(mlirOperationGetLocation(next), loc, sizeof loc);
      emit(v, op, "the all_reduce ops of bucket %lld must stand next to each other, but another one is at %s, "
           "after other ops", (long long)bucket, loc);
      break;
    }
}

static void ruleAdamwUpdate(CubeVerifier *v, MlirOperation op) {
  static const char *const names[] = {"operand #0 (param)", "operand #1 (grad)", "operand #2 (exp_avg)",
                                      "operand #3 (exp_avg_sq)"};
  double x;
  for (int i = 0; i < 2; ++i) {
    const char *b = i ? "beta2" : "beta1";
    if (getF64(v, op, b, true, &x) == 1 && !(x >= 0 && x < 1)) emit(v, op, "%s must be in [0, 1), got %g", b, x);
  }
  needPositiveFloat(v, op, "eps", true, true);
  if (getF64(v, op, "weight_decay", true, &x) == 1 && !(isfinite(x) && x >= 0))
    emit(v, op, "weight_decay must be a finite float >= 0, got %g", x);
  MlirType p = opnd(op, 0);
  bool ok = needFloat(v, op, names[0], p);
  for (int i = 1; ok && i < 4; ++i)
    needSameType(v, op, names[i], opnd(op, i), "param", p, "the update's tensors all have the param's type");
  needScalar(v, op, "operand #4 (lr)", opnd(op, 4), false);
  needScalar(v, op, "operand #5 (step)", opnd(op, 5), true);
  needScalar(v, op, "operand #6 (grad_scale)", opnd(op, 6), false);
  MlirOperation po = definedBy(mlirOperationGetOperand(op, 0), "param");
  MlirStringRef pname = {NULL, 0};
  if (mlirOperationIsNull(po)) emit(v, op, "operand #0 (param) must be the result of a cube.param");
  else cubeGetStrAttr(po, "name", &pname);
  for (int i = 2; i < 4; ++i) {
    MlirOperation so = definedBy(mlirOperationGetOperand(op, i), "opt_state");
    MlirStringRef sp;
    if (mlirOperationIsNull(so)) emit(v, op, "%s must be the result of a cube.opt_state", names[i]);
    else if (pname.data && cubeGetStrAttr(so, "param", &sp) && !mlirStringRefEqual(sp, pname))
      emit(v, op, "%s belongs to param '%.*s' but the update is for '%.*s'", names[i], CUBE_SR(sp), CUBE_SR(pname));
  }
}

void cubeVerifyCheckpoint(CubeVerifier *v, MlirOperation op) {
  MlirAttribute c = attr(op, "callee");
  if (mlirAttributeIsNull(c)) {
    emit(v, op, "requires a symbol attribute 'callee' (e.g. @recompute_0)");
    return;
  }
  if (!mlirAttributeIsAFlatSymbolRef(c)) {
    emit(v, op, "callee must be a flat symbol reference (@name) to a func.func of the module, got %s",
         attrText(c).s);
    return;
  }
  MlirStringRef name = mlirFlatSymbolRefAttrGetValue(c);
  MlirOperation func = {NULL}, other = {NULL};
  intptr_t f = cubeVerifyFindFunc(v, name, &func, &other);
  if (f == -2) {
    MlirStringRef kind = mlirIdentifierStr(mlirOperationGetName(other));
    emit(v, op, "callee @%.*s is a '%.*s', not a func.func", CUBE_SR(name), CUBE_SR(kind));
    return;
  }
  if (f < 0) {
    emit(v, op, "callee @%.*s is not a func.func of the module", CUBE_SR(name));
    return;
  }
  MlirAttribute ft = attr(func, "function_type");
  MlirType fty = !mlirAttributeIsNull(ft) && mlirAttributeIsAType(ft) ? mlirTypeAttrGetValue(ft) : (MlirType){NULL};
  if (mlirTypeIsNull(fty) || !mlirTypeIsAFunction(fty)) {
    emit(v, op, "callee @%.*s has no function type", CUBE_SR(name));
    return;
  }
  intptr_t nIn = mlirFunctionTypeGetNumInputs(fty), nOut = mlirFunctionTypeGetNumResults(fty);
  intptr_t nOpnd = mlirOperationGetNumOperands(op), nRes = mlirOperationGetNumResults(op);
  if (nIn != nOpnd)
    emit(v, op, "callee @%.*s takes %ld arguments but the checkpoint has %ld operands", CUBE_SR(name), (long)nIn,
         (long)nOpnd);
  else
    for (intptr_t i = 0; i < nIn; ++i)
      if (!mlirTypeEqual(mlirFunctionTypeGetInput(fty, i), opnd(op, i)))
        emit(v, op, "operand #%ld is %s but callee @%.*s's argument #%ld is %s", (long)i, typeText(opnd(op, i)).s,
             CUBE_SR(name), (long)i, typeText(mlirFunctionTypeGetInput(fty, i)).s);
  if (nOut != nRes)
    emit(v, op, "callee @%.*s returns %ld results but the checkpoint has %ld", CUBE_SR(name), (long)nOut,
         (long)nRes);
  else
    for (intptr_t i = 0; i < nOut; ++i)
      if (!mlirTypeEqual(mlirFunctionTypeGetResult(fty, i), res(op, i)))
        emit(v, op, "result #%ld is %s but callee @%.*s's result #%ld is %s", (long)i, typeText(res(op, i)).s,
             CUBE_SR(name), (long)i, typeText(mlirFunctionTypeGetResult(fty, i)).s);
  if (mlirOperationGetNumRegions(func) < 1 ||
      mlirBlockIsNull(mlirRegionGetFirstBlock(mlirOperationGetRegion(func, 0)))) {
    emit(v, op, "callee @%.*s is a declaration; a checkpoint needs a body to recompute", CUBE_SR(name));
    return;
  }
  char cycle[512];
  if (cubeVerifyCheckpointCycle(v, op, f, cycle, sizeof cycle))
    emit(v, op, "callee @%.*s leads back to the function that contains this checkpoint (%s); recursion "
         "through cube.checkpoint is not allowed", CUBE_SR(name), cycle);
}

/* ---- the table and the shared checks ------------------------------------------------------------- */

typedef struct {
  const char *mnemonic;
  intptr_t minOperands, maxOperands; /* maxOperands -1: any number */
  intptr_t minResults, maxResults;
  const char *operands; /* for messages: "2 operands (ids, weight)" */
  const char *names[7]; /* operand names; a variadic group repeats the last one */
  void (*rule)(CubeVerifier *v, MlirOperation op);
} OpRule;

#define UNARY(m, rule) {m, 1, 1, 1, 1, "1 operand (input)", {"input"}, rule}
#define BINARY(m) {m, 2, 2, 1, 1, "2 operands (lhs, rhs)", {"lhs", "rhs"}, ruleBinary}
static const OpRule kRules[] = {
    {"param", 0, 0, 1, 1, "no operands", {NULL}, ruleParam},
    {"embedding", 2, 2, 1, 1, "2 operands (ids, weight)", {"ids", "weight"}, ruleEmbedding},
    {"linear", 2, 3, 1, 1, "2 or 3 operands (input, weight, optional bias)", {"input", "weight", "bias"}, ruleLinear},
    {"matmul", 2, 2, 1, 1, "2 operands (lhs, rhs)", {"lhs", "rhs"}, ruleMatmul},
    BINARY("add"), BINARY("sub"), BINARY("mul"), BINARY("div"),
    UNARY("neg", ruleUnary), UNARY("silu", ruleUnary), UNARY("exp", ruleUnary), UNARY("rsqrt", ruleUnary),
    UNARY("scale", ruleScale), UNARY("cast", ruleCast), UNARY("dropout", ruleDropout),
    {"rmsnorm", 2, 2, 1, 1, "2 operands (input, weight)", {"input", "weight"}, ruleRmsnorm},
    UNARY("rope", ruleRope), UNARY("softmax", ruleSoftmax),
    {"attention", 3, 3, 1, 1, "3 operands (query, key, value)", {"query", "key", "value"}, ruleAttention},
    {"cross_entropy", 2, 3, 1, 1, "2 or 3 operands (logits, labels, optional norm_labels)",
     {"logits", "labels", "norm_labels"}, ruleCrossEntropy},
    UNARY("reshape", ruleReshape), UNARY("transpose", ruleTranspose), UNARY("slice", ruleSlice),
    {"concat", 2, 2, 1, 1, "2 operands (lhs, rhs)", {"lhs", "rhs"}, ruleConcat},
    /* backward and optimizer ops */
    {"embedding_grad", 2, 2, 1, 1, "2 operands (ids, dout)", {"ids", "dout"}, ruleEmbeddingGrad},
    {"rmsnorm_grad", 3, 3, 2, 2, "3 operands (input, weight, dout)", {"input", "weight", "dout"}, ruleRmsnormGrad},
    {"rope_grad", 1, 1, 1, 1, "1 operand (dout)", {"dout"}, ruleRopeGrad},
    {"softmax_grad", 2, 2, 1, 1, "2 operands (output, dout)", {"output", "dout"}, ruleSoftmaxGrad},
    {"attention_grad", 4, 4, 3, 3, "4 operands (query, key, value, dout)", {"query", "key", "value", "dout"},
     ruleAttentionGrad},
    {"cross_entropy_grad", 3, 4, 1, 1, "3 or 4 operands (logits, labels, dloss, optional norm_labels)",
     {"logits", "labels", "dloss", "norm_labels"}, ruleCrossEntropyGrad},
    {"silu_grad", 2, 2, 1, 1, "2 operands (input, dout)", {"input", "dout"}, ruleSiluGrad},
    UNARY("reduce_sum", ruleReduceSum), UNARY("pad", rulePad), UNARY("sumsq", ruleSumsq),
    {"fill", 0, 0, 1, 1, "no operands", {NULL}, ruleFill},
    {"minimum", 2, 2, 1, 1, "2 operands (lhs, rhs)", {"lhs", "rhs"}, ruleMinimum},
    {"opt_state", 0, 0, 1, 1, "no operands", {NULL}, ruleOptState},
    {"adamw_update", 7, 7, 0, 0, "7 operands (param, grad, exp_avg, exp_avg_sq, lr, step, grad_scale)",
     {"param", "grad", "exp_avg", "exp_avg_sq", "lr", "step", "grad_scale"}, ruleAdamwUpdate},
    {"all_reduce", 1, 1, 1, 1, "1 operand (input)", {"input"}, ruleAllReduce},
};

static const char *operandName(const OpRule *r, intptr_t i) {
  const char *name = NULL;
  for (intptr_t k = 0; k < 7 && r->names[k]; ++k)
    if (k <= i) name = r->names[k];
  return name;
}

/* Rule: an operand or result is a ranked tensor with a static shape whose element count fits in int64. */
static bool needStaticTensor(CubeVerifier *v, MlirOperation op, const char *what, intptr_t i, const char *name,
                             MlirType t) {
  char label[96];
  if (name) snprintf(label, sizeof label, "%s #%ld (%s)", what, (long)i, name);
  else snprintf(label, sizeof label, "%s #%ld", what, (long)i);
  if (!cubeIsStaticTensor(t)) {
    emit(v, op, "%s must be a statically shaped ranked tensor, got %s", label, typeText(t).s);
    return false;
  }
  int64_t n;
  if (!numElements(t, &n)) {
    emit(v, op, "%s has more elements than fit in int64 (%s)", label, typeText(t).s);
    return false;
  }
  return true;
}

void cubeVerifyCubeOp(CubeVerifier *v, MlirOperation op) {
  MlirStringRef full = mlirIdentifierStr(mlirOperationGetName(op));
  const OpRule *r = NULL;
  for (size_t i = 0; i < sizeof kRules / sizeof kRules[0]; ++i)
    if (cubeIsOp(op, kRules[i].mnemonic)) r = &kRules[i];
  if (!r) {
    emit(v, op, "is not a known cube op (%.*s has no verifier rule)", CUBE_SR(full));
    return;
  }
  intptr_t nOpnd = mlirOperationGetNumOperands(op), nRes = mlirOperationGetNumResults(op);
  bool ok = true;
  if (nOpnd < r->minOperands || (r->maxOperands >= 0 && nOpnd > r->maxOperands)) {
    emit(v, op, "expects %s, got %ld", r->operands, (long)nOpnd);
    ok = false;
  }
  if (nRes < r->minResults || (r->maxResults >= 0 && nRes > r->maxResults)) {
    emit(v, op, "expects %ld result%s, got %ld", (long)r->minResults, r->minResults == 1 ? "" : "s", (long)nRes);
    ok = false;
  }
  for (intptr_t i = 0; i < nOpnd; ++i)
    ok = needStaticTensor(v, op, "operand", i, operandName(r, i), opnd(op, i)) && ok;
  for (intptr_t i = 0; i < nRes; ++i) ok = needStaticTensor(v, op, "result", i, NULL, res(op, i)) && ok;
  if (ok) r->rule(v, op);
}
