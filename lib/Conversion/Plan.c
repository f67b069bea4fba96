/* plan.json (docs/plan-format.md) from the grouped program (@forward, @train_step or @grad_step): one buffer
 * per value (inputs, params, grads, optimizer states, activations, scratch, outputs; reshapes are aliases),
 * the parameter and state tables, and the steps in program order: `call` (cpu) or `launch` (cuda, one per GPU
 * kernel of the kernel function) for each kernel call, `gemm` for GEMM-marked linear/matmul, `copy` when a
 * returned value is not a buffer of its own. Each buffer's live interval (the first and last op that touches
 * it or one of its aliases) feeds the memory planner (MemPlan.c): activations and scratch share memory when
 * their intervals do not meet (plan-memory=true), everything else has bytes of its own.
 *
 * Names: the model signature (integer ids [and labels] -> rank-0 f32 loss) gives input_ids, labels, loss;
 * @train_step adds lr, step and grad_norm; @grad_step names its gradient outputs grad:<param name> (the
 * trainable params in cube.param order); any other function gives arg<i> and result<i>. Params are p<i>,
 * optimizer states o<i>, activations and scratch t<i> / s<i>. */
#include <inttypes.h>
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
#include "mlir-c/Diagnostics.h"

#define ALIGN 256

typedef struct {
  char name[64];
  const char *kind;
  char dtype[8];
  MlirType type;
  int64_t bytes, offset;
  int aliasOf; /* -1 */
  int64_t first, last; /* live interval: op indices (roots: over all aliases) */
  int64_t pendingBucket; /* roots: 1 + the all_reduce bucket whose collective may still write it, else 0 */
} Buf;

typedef struct {
  const void *key;
  int buf;
} ValBuf;

typedef struct {
  Buf *bufs;
  size_t nBufs, capBufs;
  ValBuf *vals;
  size_t nVals, capVals;
  int64_t arena;
  int next, nParams, nStates;
  json_t *params, *steps, *outputs, *states;
  MlirValue *rets;
  intptr_t nRets;
  bool *retDone;
  bool model;
  const char *program; /* forward, train_step, grad_step */
  MlirStringRef *gradNames; /* grad_step: the trainable params, in cube.param order */
  intptr_t nGradNames;
  int64_t opIndex;
  CubeTarget target;
  const CubeLaunchList *launches;
  MlirOperation module;
  bool reuse; /* memory planning on: outputs may also take an input's bytes in place (inPlaceRoot) */
  json_t *bucketStep; /* the all_reduce step the next op of the same bucket joins, else NULL */
  int64_t bucket;
  size_t pending; /* buffers whose bucket is not waited for yet (none: nothing to look up before a step) */
  bool failed;
} Plan;

static void fail(Plan *p, MlirOperation at, const char *msg) {
  char m[1024];
  snprintf(m, sizeof m, "cube-emit: %s", msg);
  mlirEmitError(mlirOperationGetLocation(at), m);
  p->failed = true;
}

static int64_t eltBytes(const char *dtype) {
  return !strcmp(dtype, "f32") || !strcmp(dtype, "i32") ? 4 : !strcmp(dtype, "i64") ? 8 : 2;
}

static int findBuf(Plan *p, MlirValue v) {
  for (size_t i = p->nVals; i-- > 0;)
    if (p->vals[i].key == v.ptr) return p->vals[i].buf;
  return -1;
}

static void bind(Plan *p, MlirValue v, int b) {
  if (p->nVals == p->capVals) {
    size_t cap = p->capVals ? 2 * p->capVals : 64;
    ValBuf *vals = realloc(p->vals, cap * sizeof *vals);
    if (!vals) {
      p->failed = true;
      return;
    }
    p->vals = vals;
    p->capVals = cap;
  }
  p->vals[p->nVals++] = (ValBuf){v.ptr, b};
}

/* A new buffer for a value of type t (alias of `alias` when >= 0). Returns its index or -1. */
static int newBuf(Plan *p, MlirOperation at, MlirType t, const char *kind, const char *name, int alias) {
  char dtype[8];
  if (!mlirTypeIsARankedTensor(t) || !mlirShapedTypeHasStaticShape(t) ||
      !kgEltName(mlirShapedTypeGetElementType(t), dtype, sizeof dtype)) {
    fail(p, at, "a value is not a static tensor of f32, bf16, f16, i32 or i64");
    return -1;
  }
  if (p->nBufs == p->capBufs) {
    size_t cap = p->capBufs ? 2 * p->capBufs : 64;
    Buf *bufs = realloc(p->bufs, cap * sizeof *bufs);
    if (!bufs) {
      fail(p, at, "out of memory");
      return -1;
    }
    p->bufs = bufs;
    p->capBufs = cap;
  }
  Buf *b = &p->bufs[p->nBufs];
  memset(b, 0, sizeof *b);
  snprintf(b->name, sizeof b->name, "%s", name);
  b->kind = kind;
  snprintf(b->dtype, sizeof b->dtype, "%s", dtype);
  b->type = t;
  b->bytes = kgNumElements(t) * eltBytes(dtype);
  b->aliasOf = alias;
  b->first = b->last = p->opIndex;
  if (alias >= 0) {
    while (p->bufs[alias].aliasOf >= 0) alias = p->bufs[alias].aliasOf;
    b->aliasOf = alias;
    if (p->bufs[alias].last < p->opIndex) p->bufs[alias].last = p->opIndex;
  }
  return (int)p->nBufs++;
}

/* Buffer b (through its root) is used by the current op. */
static void touch(Plan *p, int b) {
  if (b < 0) return;
  Buf *r = &p->bufs[p->bufs[b].aliasOf >= 0 ? p->bufs[b].aliasOf : b];
  if (r->first > p->opIndex) r->first = p->opIndex;
  if (r->last < p->opIndex) r->last = p->opIndex;
}

static const char *outputName(Plan *p, intptr_t i, char *buf, size_t n) {
  if (p->model && !strcmp(p->program, "train_step")) return i == 0 ? "loss" : "grad_norm";
  if (p->model && !strcmp(p->program, "grad_step")) {
    if (i == 0) return "loss";
    if (i - 1 < p->nGradNames) {
      snprintf(buf, n, "grad:%.*s", (int)p->gradNames[i - 1].length, p->gradNames[i - 1].data);
      return buf;
    }
  }
  if (p->model && p->nRets == 1) {
    MlirType t = mlirValueGetType(p->rets[0]);
    bool loss = mlirTypeIsARankedTensor(t) && kgRank(t) == 0 && mlirTypeIsAF32(mlirShapedTypeGetElementType(t));
    return loss ? "loss" : "logits";
  }
  snprintf(buf, n, "result%d", (int)i);
  return buf;
}

/* The buffer for a new value v: an output when v is returned (first time), else kind `kind`. */
static int bufForResult(Plan *p, MlirOperation at, MlirValue v, const char *kind, char prefix) {
  for (intptr_t i = 0; i < p->nRets; ++i) {
    if (!p->retDone[i] && mlirValueEqual(p->rets[i], v)) {
      char nb[64];
      const char *name = outputName(p, i, nb, sizeof nb);
      int b = newBuf(p, at, mlirValueGetType(v), "output", name, -1);
      p->retDone[i] = true;
      return b;
    }
  }
  char name[32];
  snprintf(name, sizeof name, "%c%d", prefix, p->next++);
  return newBuf(p, at, mlirValueGetType(v), kind, name, -1);
}

static json_t *shapeJson(MlirType t) {
  json_t *a = json_array();
  for (intptr_t i = 0; i < kgRank(t); ++i) json_array_append_new(a, json_integer(kgDim(t, i)));
  return a;
}

static json_t *ref(Plan *p, int b) { return json_pack("{s:s}", "buffer", p->bufs[b].name); }

static void provenance(json_t *step, MlirOperation op, const char *cubeOp) {
  MlirStringRef scope = {"", 0};
  cubeGetScope(op, &scope);
  json_object_set_new(step, "cube_op", json_string(cubeOp));
  json_t *sc = scope.length ? json_stringn(scope.data, scope.length) : NULL; /* NULL too when not UTF-8 */
  json_object_set_new(step, "scope", sc ? sc : json_string(""));
}

static int operandBuf(Plan *p, MlirOperation op, intptr_t i) {
  int b = findBuf(p, mlirOperationGetOperand(op, i));
  if (b < 0) fail(p, op, "an operand has no buffer (is @forward grouped by cube-group-kernels?)");
  return b;
}

/* ---- ops ------------------------------------------------------------------------------------------------ */

static void planParam(Plan *p, MlirOperation op) {
  MlirStringRef name, init;
  bool trainable = true;
  if (!cubeGetStrAttr(op, "name", &name) || !cubeGetStrAttr(op, "init", &init)) {
    fail(p, op, "a cube.param without name or init");
    return;
  }
  cubeGetBoolAttr(op, "trainable", &trainable);
  char bn[32];
  snprintf(bn, sizeof bn, "p%d", p->nParams++);
  MlirValue v = mlirOperationGetResult(op, 0);
  int b = newBuf(p, op, mlirValueGetType(v), "param", bn, -1);
  if (b < 0) return;
  bind(p, v, b);
  json_t *e = json_pack("{s:s%, s:s, s:s, s:o, s:s%, s:b}", "name", name.data, name.length, "buffer", bn, "dtype",
                        p->bufs[b].dtype, "shape", shapeJson(p->bufs[b].type), "init", init.data, init.length,
                        "trainable", trainable);
  if (!e) fail(p, op, "a cube.param's name or init is not valid UTF-8 text");
  else json_array_append_new(p->params, e);
}

/* A cube.opt_state (an optimizer-state tensor, docs/plan-format.md "Training plans"): a buffer of kind
 * optimizer-state and a row of the `state` table. */
static void planState(Plan *p, MlirOperation op) {
  MlirStringRef name, init, param = {"", 0};
  if (!cubeGetStrAttr(op, "name", &name) || !cubeGetStrAttr(op, "init", &init)) {
    fail(p, op, "a cube.opt_state without name or init");
    return;
  }
  cubeGetStrAttr(op, "param", &param);
  char bn[32];
  snprintf(bn, sizeof bn, "o%d", p->nStates++);
  MlirValue v = mlirOperationGetResult(op, 0);
  int b = newBuf(p, op, mlirValueGetType(v), "optimizer-state", bn, -1);
  if (b < 0) return;
  bind(p, v, b);
  json_t *e = json_pack("{s:s%, s:s%, s:s, s:s, s:o, s:s%}", "name", name.data, name.length, "param", param.data,
                        param.length, "buffer", bn, "dtype", p->bufs[b].dtype, "shape", shapeJson(p->bufs[b].type),
                        "init", init.data, init.length);
  if (!e) fail(p, op, "a cube.opt_state's name, param or init is not valid UTF-8 text");
  else json_array_append_new(p->states, e);
}

static void planReshape(Plan *p, MlirOperation op) {
  int src = operandBuf(p, op, 0);
  if (src < 0) return;
  char name[32];
  snprintf(name, sizeof name, "t%d", p->next++);
  MlirValue v = mlirOperationGetResult(op, 0);
  int b = newBuf(p, op, mlirValueGetType(v), "activation", name, src);
  if (b >= 0) bind(p, v, b);
}

/* A `wait` step for every pending all_reduce bucket that one of op's operands belongs to (all of them when
 * op is NULL): the collective started at the bucket's all_reduce step must have finished before a later step
 * reads (or the run ends with) a reduced value. */
static void waitForBuckets(Plan *p, MlirOperation op) {
  if (!p->pending) return;
  intptr_t n = mlirOperationIsNull(op) ? (intptr_t)p->nBufs : mlirOperationGetNumOperands(op);
  for (intptr_t i = 0; i < n; ++i) {
    int b = mlirOperationIsNull(op) ? (int)i : findBuf(p, mlirOperationGetOperand(op, i));
    if (b < 0) continue;
    int64_t k = p->bufs[p->bufs[b].aliasOf >= 0 ? p->bufs[b].aliasOf : b].pendingBucket;
    if (!k) continue;
    json_array_append_new(p->steps, json_pack("{s:s, s:I, s:s}", "op", "wait", "bucket", (json_int_t)(k - 1),
                                              "cube_op", "cube.all_reduce"));
    for (size_t j = 0; j < p->nBufs; ++j)
      if (p->bufs[j].pendingBucket == k) {
        p->bufs[j].pendingBucket = 0;
        p->pending--;
      }
  }
  p->bucketStep = NULL;
}

/* cube.all_reduce: the result is the operand's buffer (an alias: the collective reduces in place); the ops of
 * one bucket (adjacent, as the verifier requires) become one `all_reduce` step listing their buffers. */
static void planAllReduce(Plan *p, MlirOperation op) {
  int src = operandBuf(p, op, 0);
  int64_t bucket = -1;
  MlirStringRef red;
  if (src < 0) return;
  if (!cubeGetI64Attr(op, "bucket", &bucket) || !cubeGetStrAttr(op, "reduction", &red)) {
    fail(p, op, "cube.all_reduce without its bucket and reduction attributes");
    return;
  }
  char name[32];
  snprintf(name, sizeof name, "t%d", p->next++);
  MlirValue v = mlirOperationGetResult(op, 0);
  int b = newBuf(p, op, mlirValueGetType(v), "activation", name, src);
  if (b < 0) return;
  bind(p, v, b);
  touch(p, src);
  int root = p->bufs[src].aliasOf >= 0 ? p->bufs[src].aliasOf : src;
  if (p->bufs[root].pendingBucket) {
    fail(p, op, "a value is all-reduced twice before it is read");
    return;
  }
  p->bufs[root].pendingBucket = bucket + 1;
  p->pending++;
  if (!p->bucketStep || p->bucket != bucket) {
    char r[16];
    snprintf(r, sizeof r, "%.*s", (int)(red.length < 15 ? red.length : 15), red.data);
    p->bucketStep = json_pack("{s:s, s:I, s:s, s:[]}", "op", "all_reduce", "bucket", (json_int_t)bucket, "reduction",
                              r, "buffers");
    provenance(p->bucketStep, op, "cube.all_reduce");
    json_array_append_new(p->steps, p->bucketStep);
    p->bucket = bucket;
  }
  json_array_append_new(json_object_get(p->bucketStep, "buffers"), ref(p, src));
}

/* cube.add{cube.gemm_accumulate}: the GEMM already added into x's buffer (planGemm); the sum is that buffer. */
static void planAccumulate(Plan *p, MlirOperation op) {
  int b0 = operandBuf(p, op, 0), b1 = operandBuf(p, op, 1);
  if (b0 < 0 || b1 < 0) return;
  int r0 = p->bufs[b0].aliasOf >= 0 ? p->bufs[b0].aliasOf : b0, r1 = p->bufs[b1].aliasOf >= 0 ? p->bufs[b1].aliasOf : b1;
  if (r0 != r1) {
    fail(p, op, "a cube.add marked cube.gemm_accumulate whose operands are not one buffer (its GEMM is not the "
         "producer of one operand)");
    return;
  }
  char name[32];
  snprintf(name, sizeof name, "t%d", p->next++);
  MlirValue v = mlirOperationGetResult(op, 0);
  int b = newBuf(p, op, mlirValueGetType(v), "activation", name, b0);
  if (b >= 0) bind(p, v, b);
}

static void planGemm(Plan *p, MlirOperation op) {
  bool linear = cubeIsOp(op, "linear");
  intptr_t n = mlirOperationGetNumOperands(op);
  int a = operandBuf(p, op, 0), w = operandBuf(p, op, 1), bias = linear && n == 3 ? operandBuf(p, op, 2) : -2;
  if (a < 0 || w < 0 || bias == -1) return;
  MlirValue r = mlirOperationGetResult(op, 0);
  /* An epilogue marked by cube-group-kernels: the result's only use is cube.add(x, r){cube.gemm_accumulate},
   * so the GEMM adds into x's buffer (beta = 1) and its result is that buffer. */
  MlirOpOperand use = mlirValueGetFirstUse(r);
  MlirOperation acc = mlirOpOperandIsNull(use) ? (MlirOperation){NULL} : mlirOpOperandGetOwner(use);
  int x = -1;
  if (!mlirOperationIsNull(acc) && cubeHasAttr(acc, CUBE_ATTR_GEMM_ACC) && mlirOperationGetNumOperands(acc) == 2)
    /* the add's other operand, when it is computed already (of two GEMMs, the later one accumulates) */
    x = findBuf(p, mlirOperationGetOperand(acc, mlirValueEqual(mlirOperationGetOperand(acc, 0), r) ? 1 : 0));
  char nm[32];
  snprintf(nm, sizeof nm, "t%d", p->next++);
  int c = x >= 0 ? newBuf(p, op, mlirValueGetType(r), "activation", nm, x) : bufForResult(p, op, r, "activation", 't');
  if (c < 0) return;
  bind(p, r, c);
  touch(p, a);
  touch(p, w);
  touch(p, bias);
  touch(p, c);
  MlirType at = p->bufs[a].type, wt = p->bufs[w].type, ct = p->bufs[c].type;
  double alpha = 1.0; /* a scale folded in by cube-group-kernels */
  cubeGetF64Attr(op, CUBE_ATTR_GEMM_ALPHA, &alpha);
  int64_t m, nn, k, batch = 1;
  bool ta = false, tb = true;
  if (linear) {
    k = kgDim(wt, 1);
    nn = kgDim(wt, 0);
    m = k ? kgNumElements(at) / k : 0;
  } else {
    intptr_t rank = kgRank(ct);
    cubeGetBoolAttr(op, "transpose_lhs", &ta);
    tb = false;
    cubeGetBoolAttr(op, "transpose_rhs", &tb);
    m = kgDim(ct, rank - 2);
    nn = kgDim(ct, rank - 1);
    k = kgDim(at, ta ? rank - 2 : rank - 1);
    for (intptr_t i = 0; i < rank - 2; ++i) batch *= kgDim(ct, i);
  }
  json_t *s = json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:s, s:f, s:f}",
                        "op", "gemm", "a", ref(p, a), "b", ref(p, w), "c", ref(p, c), "bias",
                        bias >= 0 ? ref(p, bias) : json_null(), "m", (json_int_t)m, "n", (json_int_t)nn, "k",
                        (json_int_t)k, "batch", (json_int_t)batch, "stride_a", (json_int_t)(linear ? 0 : m * k),
                        "stride_b", (json_int_t)(linear ? 0 : k * nn), "stride_c", (json_int_t)(linear ? 0 : m * nn),
                        "trans_a", ta, "trans_b", tb, "dtype", p->bufs[c].dtype, "alpha", alpha, "beta",
                        x >= 0 ? 1.0 : 0.0);
  provenance(s, op, linear ? "cube.linear" : "cube.matmul");
  json_array_append_new(p->steps, s);
}

static json_t *launchStep(Plan *p, const CubeLaunch *l, const int *argBufs, intptr_t nArgs) {
  json_t *args = json_array();
  for (int i = 0; i < l->nArgs; ++i) {
    const CubeLaunchArg *a = &l->args[i];
    if (a->scalar) {
      json_t *v = !strcmp(a->type, "f32") ? json_real(a->f) : json_integer(a->i);
      json_array_append_new(args, json_pack("{s:s, s:o}", "type", a->type, "value", v));
    } else if (a->arg >= 0 && a->arg < nArgs) {
      json_t *r = ref(p, argBufs[a->arg]);
      if (a->offset) json_object_set_new(r, "offset", json_integer(a->offset));
      json_array_append_new(args, r);
    }
  }
  json_t *s = json_pack("{s:s, s:s, s:[I,I,I], s:[I,I,I], s:I, s:o}", "op", "launch", "kernel", l->name, "grid",
                         (json_int_t)l->grid[0], (json_int_t)l->grid[1], (json_int_t)l->grid[2], "block",
                         (json_int_t)l->block[0], (json_int_t)l->block[1], (json_int_t)l->block[2], "shared_bytes",
                         (json_int_t)l->sharedBytes, "args", args);
  if (s && l->kernelsFile[0]) json_object_set_new(s, "kernels_file", json_string(l->kernelsFile));
  return s;
}

/* In-place outputs. The gradient of cross-entropy has the logits' shape, and its kernel reads each logit
 * only at the index it writes (the row reductions come first, into scratch), so when nothing reads the
 * logits after it, the gradient takes the logits' bytes: an alias, not another [N, V] buffer. For an LM
 * head these are the two largest tensors of the step. The traced loss shifts the labels, not the logits,
 * so its logits operand is a reshape of lm_head's output (an alias): the root taken is lm_head's output. */
static bool deadAfter(Plan *p, int root, MlirOperation op) {
  MlirBlock block = mlirOperationGetBlock(op);
  for (size_t k = 0; k < p->nVals; ++k) {
    int b = p->vals[k].buf;
    if (b < 0 || (b != root && p->bufs[b].aliasOf != root)) continue;
    MlirValue v = {p->vals[k].key};
    for (MlirOpOperand u = mlirValueGetFirstUse(v); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) {
      MlirOperation owner = mlirOpOperandGetOwner(u);
      if (mlirOperationEqual(owner, op)) continue;
      if (!mlirBlockEqual(mlirOperationGetBlock(owner), block) || !mlirOperationIsBeforeInBlock(owner, op))
        return false;
    }
  }
  return true;
}

/* The buffer that output `r` of kernel call `op` may share with input buffer `in` (see deadAfter), or -1. */
static bool writesInPlaceSafely(MlirStringRef cubeOp) {
  /* Each element of operand 0 is read, then written, by the same thread at the same index, after any row
   * reduction: cross_entropy_grad, softmax, softmax_grad, and the one-element-per-thread elementwise ops. */
  static const char *const kOps[] = {"cube.cross_entropy_grad", "cube.softmax", "cube.softmax_grad", "cube.scale",
                                     "cube.add", "cube.sub", "cube.mul", "cube.div", "cube.neg", "cube.silu",
                                     "cube.silu_grad", "cube.exp", "cube.rsqrt"};
  for (size_t i = 0; i < sizeof kOps / sizeof kOps[0]; ++i)
    if (mlirStringRefEqual(cubeOp, mlirStringRefCreateFromCString(kOps[i]))) return true;
  return false;
}

static int inPlaceRoot(Plan *p, MlirOperation op, MlirStringRef cubeOp, int in, MlirValue r) {
  if (!writesInPlaceSafely(cubeOp) || in < 0) return -1;
  int root = p->bufs[in].aliasOf >= 0 ? p->bufs[in].aliasOf : in;
  MlirType t = mlirValueGetType(r);
  if (strcmp(p->bufs[root].kind, "activation") || !mlirTypeEqual(p->bufs[in].type, t) ||
      p->bufs[root].bytes != p->bufs[in].bytes)
    return -1;
  for (intptr_t i = 0; i < p->nRets; ++i)
    if (mlirValueEqual(p->rets[i], r)) return -1; /* a returned value gets an output buffer of its own */
  return deadAfter(p, root, op) ? root : -1;
}

static void planCall(Plan *p, MlirOperation op) {
  MlirAttribute callee = mlirOperationGetAttributeByName(op, CUBE_STR("callee"));
  if (mlirAttributeIsNull(callee) || !mlirAttributeIsAFlatSymbolRef(callee)) { fail(p, op, "a call without callee"); return; }
  MlirStringRef name = mlirFlatSymbolRefAttrGetValue(callee), cubeOp = {"", 0};
  MlirOperation fn = cubeLookupFunc(p->module, name);
  int64_t nIn = -1, nScratch = -1, nOut = 1;
  if (mlirOperationIsNull(fn) || !cubeIsKernelFunc(fn) || !cubeGetI64Attr(fn, CUBE_ATTR_KERNEL_INPUTS, &nIn) ||
      !cubeGetI64Attr(fn, CUBE_ATTR_KERNEL_SCRATCH, &nScratch) || cubeIsCheckpoint(op))
    { fail(p, op, "@forward calls a function that is not a kernel (run cube-prepare-forward and "
                       "cube-group-kernels first)"); return; }
  cubeGetI64Attr(fn, CUBE_ATTR_KERNEL_OUTS, &nOut);
  intptr_t n = mlirOperationGetNumOperands(op);
  if (nOut < 1 || n != nIn + nScratch + nOut || mlirOperationGetNumResults(op) != nOut) {
    fail(p, op, "a kernel call of the wrong arity");
    return;
  }
  int *bufs = malloc(sizeof *bufs * (size_t)n);
  if (!bufs) {
    fail(p, op, "out of memory");
    return;
  }
  cubeGetStrAttr(op, CUBE_ATTR_STEP_OP, &cubeOp);
  for (intptr_t i = 0; i < n && !p->failed; ++i) {
    MlirValue v = mlirOperationGetOperand(op, i);
    if (i < nIn) {
      bufs[i] = operandBuf(p, op, i);
    } else if (i < nIn + nScratch) {
      char sn[32];
      snprintf(sn, sizeof sn, "s%d", p->next++);
      bufs[i] = newBuf(p, op, mlirValueGetType(v), "scratch", sn, -1);
      if (bufs[i] >= 0) bind(p, v, bufs[i]);
    } else {
      /* An out that already has a buffer (a param or state updated in place) is written there. */
      MlirValue r = mlirOperationGetResult(op, i - nIn - nScratch);
      bufs[i] = findBuf(p, v);
      int shared = bufs[i] < 0 && i == nIn + nScratch && nIn > 0 && p->reuse ? inPlaceRoot(p, op, cubeOp, bufs[0], r) : -1;
      if (shared >= 0) {
        char tn[32];
        snprintf(tn, sizeof tn, "t%d", p->next++);
        bufs[i] = newBuf(p, op, mlirValueGetType(r), "activation", tn, shared);
        if (bufs[i] >= 0) bind(p, v, bufs[i]);
      } else if (bufs[i] < 0) {
        bufs[i] = bufForResult(p, op, r, "activation", 't');
        if (bufs[i] >= 0) bind(p, v, bufs[i]);
      }
      if (bufs[i] >= 0) bind(p, r, bufs[i]);
    }
    if (bufs[i] < 0) p->failed = true;
  }
  for (intptr_t i = 0; i < n && !p->failed; ++i) touch(p, bufs[i]);
  cubeGetStrAttr(op, CUBE_ATTR_STEP_OP, &cubeOp);
  char *kname = cubeStrDupRef(name), *opText = cubeStrDupRef(cubeOp);
  if (!p->failed && p->target == CUBE_TARGET_CPU) {
    json_t *args = json_array();
    for (intptr_t i = 0; i < n; ++i) json_array_append_new(args, ref(p, bufs[i]));
    json_t *s = json_pack("{s:s, s:s, s:o}", "op", "call", "kernel", kname, "args", args);
    provenance(s, op, opText);
    json_array_append_new(p->steps, s);
  } else if (!p->failed) {
    for (size_t i = 0; i < p->launches->n; ++i) {
      const CubeLaunch *l = &p->launches->v[i];
      if (strcmp(l->func, kname) || !l->grid[0] || !l->grid[1] || !l->grid[2]) continue;
      json_t *s = launchStep(p, l, bufs, n);
      provenance(s, op, opText);
      json_array_append_new(p->steps, s);
    }
  }
  free(kname);
  free(opText);
  free(bufs);
}

static void planReturn(Plan *p, MlirOperation op) {
  for (intptr_t i = 0; i < p->nRets; ++i) {
    if (p->retDone[i]) continue;
    int src = operandBuf(p, op, i);
    if (src < 0) return;
    char nb[64];
    const char *name = outputName(p, i, nb, sizeof nb);
    int b = newBuf(p, op, p->bufs[src].type, "output", name, -1);
    if (b < 0) return;
    touch(p, src);
    touch(p, b);
    json_array_append_new(p->steps, json_pack("{s:s, s:o, s:o, s:I}", "op", "copy", "src", ref(p, src), "dst",
                                              ref(p, b), "bytes", (json_int_t)p->bufs[b].bytes));
    p->retDone[i] = true;
  }
}

/* A tensor.empty that is not only a kernel's out or scratch (a zero-sized result): a buffer of its own. */
static void planEmpty(Plan *p, MlirOperation op) {
  MlirValue v = mlirOperationGetResult(op, 0);
  bool other = false;
  for (MlirOpOperand u = mlirValueGetFirstUse(v); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u))
    other |= !cubeOpNameIs(mlirOpOperandGetOwner(u), "func.call");
  if (!other) return;
  int b = bufForResult(p, op, v, "activation", 't');
  if (b >= 0) bind(p, v, b);
}

/* ---- inputs --------------------------------------------------------------------------------------------- */

static bool isInt(MlirType t) {
  return mlirTypeIsARankedTensor(t) && mlirTypeIsAInteger(mlirShapedTypeGetElementType(t));
}

/* The vocabulary size of an id input: the rows of the embedding weight it indexes (0 if none). */
static int64_t vocabOf(MlirValue arg) {
  for (MlirOpOperand u = mlirValueGetFirstUse(arg); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) {
    MlirOperation user = mlirOpOperandGetOwner(u);
    MlirStringRef op;
    if (mlirOpOperandGetOperandNumber(u) == 0 && cubeGetStrAttr(user, CUBE_ATTR_STEP_OP, &op) &&
        cubeRefEq(op, "cube.embedding") && mlirOperationGetNumOperands(user) > 1)
      return kgDim(mlirValueGetType(mlirOperationGetOperand(user, 1)), 0);
  }
  return 0;
}

static json_t *planInputs(Plan *p, MlirBlock entry, MlirOperation fn) {
  json_t *inputs = json_array();
  intptr_t n = mlirBlockGetNumArguments(entry);
  for (intptr_t i = 0; i < n; ++i) {
    MlirValue a = mlirBlockGetArgument(entry, i);
    char name[32];
    static const char *const kModelInputs[] = {"input_ids", "labels", "lr", "step"};
    if (p->model) snprintf(name, sizeof name, "%s", kModelInputs[i < 4 ? i : 3]);
    else snprintf(name, sizeof name, "arg%d", (int)i);
    int b = newBuf(p, fn, mlirValueGetType(a), "input", name, -1);
    if (b < 0) break;
    bind(p, a, b);
    json_t *in = json_pack("{s:s, s:s}", "name", name, "buffer", name);
    int64_t vocab = isInt(mlirValueGetType(a)) ? vocabOf(a) : 0;
    if (vocab > 0) json_object_set_new(in, "vocab_size", json_integer(vocab));
    json_array_append_new(inputs, in);
  }
  return inputs;
}

/* ---- the document --------------------------------------------------------------------------------------- */

static void appendJson(CubeBuf *out, const char *key, json_t *v, bool last) {
  char *s = json_dumps(v, JSON_ENCODE_ANY);
  cubeBufPrintf(out, "  \"%s\": %s%s\n", key, s ? s : "null", last ? "" : ",");
  free(s);
}

/* Arrays one element per line: readable, and every line is valid JSON of one buffer or step. */
static void appendArray(CubeBuf *out, const char *key, json_t *arr, bool last) {
  cubeBufPrintf(out, "  \"%s\": [", key);
  for (size_t i = 0; i < json_array_size(arr); ++i) {
    char *s = json_dumps(json_array_get(arr, i), JSON_ENCODE_ANY);
    cubeBufPrintf(out, "%s\n    %s", i ? "," : "", s ? s : "null");
    free(s);
  }
  cubeBufPrintf(out, "%s]%s\n", json_array_size(arr) ? "\n  " : "", last ? "" : ",");
}

/* The trainable params of the function, in cube.param order (grad_step's gradient outputs). */
static void collectGradNames(Plan *p, MlirBlock entry) {
  intptr_t n = 0;
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op); op = mlirOperationGetNextInBlock(op))
    n += cubeIsOp(op, "param");
  p->gradNames = calloc((size_t)n + 1, sizeof *p->gradNames);
  if (!p->gradNames) return;
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op); op = mlirOperationGetNextInBlock(op)) {
    MlirStringRef name;
    bool trainable = true;
    if (!cubeIsOp(op, "param") || !cubeGetStrAttr(op, "name", &name)) continue;
    cubeGetBoolAttr(op, "trainable", &trainable);
    if (trainable) p->gradNames[p->nGradNames++] = name;
  }
}

/* Buffers holding gradients: the grad operand (the kernel's input 0) of every cube.adamw_update call, and
 * their aliases, get kind `grad` when they are activations (docs/plan-format.md "Training plans"). */
static void markGrads(Plan *p, MlirBlock entry) {
  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op); op = mlirOperationGetNextInBlock(op)) {
    MlirStringRef cop;
    if (!cubeOpNameIs(op, "func.call") || !cubeGetStrAttr(op, CUBE_ATTR_STEP_OP, &cop) ||
        !cubeRefEq(cop, "cube.adamw_update") || mlirOperationGetNumOperands(op) < 1)
      continue;
    int b = findBuf(p, mlirOperationGetOperand(op, 0));
    if (b < 0) continue;
    int root = p->bufs[b].aliasOf >= 0 ? p->bufs[b].aliasOf : b;
    if (strcmp(p->bufs[root].kind, "activation")) continue;
    for (size_t i = 0; i < p->nBufs; ++i)
      if ((int)i == root || p->bufs[i].aliasOf == root) p->bufs[i].kind = "grad";
  }
}

static bool isFixedKind(const char *k) { return strcmp(k, "activation") && strcmp(k, "scratch"); }

/* Offsets from the memory planner; the `memory` object (docs/plan-format.md); the report on stderr. */
static json_t *layout(Plan *p, bool reuse, bool report) {
  CubeMemBuf *mb = calloc(p->nBufs + 1, sizeof *mb);
  bool *mask = calloc(p->nBufs + 1, sizeof *mask);
  if (!mb || !mask) {
    free(mb);
    free(mask);
    return NULL;
  }
  for (size_t i = 0; i < p->nBufs; ++i)
    mb[i] = (CubeMemBuf){p->bufs[i].bytes, p->bufs[i].first, p->bufs[i].last, 0, p->bufs[i].aliasOf,
                         isFixedKind(p->bufs[i].kind)};
  p->arena = cubeMemPlan(mb, p->nBufs, reuse, ALIGN);
  int64_t sums[5] = {0}; /* params, grads, optimizer_state, inputs_outputs */
  for (size_t i = 0; i < p->nBufs; ++i) {
    Buf *b = &p->bufs[i];
    b->offset = mb[i].offset;
    if (b->aliasOf >= 0) continue;
    if (!strcmp(b->kind, "param")) sums[0] += b->bytes;
    else if (!strcmp(b->kind, "grad") || !strncmp(b->name, "grad:", 5)) sums[1] += b->bytes;
    else if (!strcmp(b->kind, "optimizer-state")) sums[2] += b->bytes;
    else if (!strcmp(b->kind, "input") || !strcmp(b->kind, "output")) sums[3] += b->bytes;
  }
  for (size_t i = 0; i < p->nBufs; ++i) mask[i] = p->bufs[i].aliasOf < 0 && !strcmp(p->bufs[i].kind, "activation");
  int64_t act = cubeMemPeak(mb, p->nBufs, mask);
  for (size_t i = 0; i < p->nBufs; ++i) mask[i] = p->bufs[i].aliasOf < 0 && !strcmp(p->bufs[i].kind, "scratch");
  int64_t scr = cubeMemPeak(mb, p->nBufs, mask);
  free(mb);
  free(mask);
  if (p->arena < 0) return NULL;
  int64_t arena = (p->arena + ALIGN - 1) / ALIGN * ALIGN;
  if (report) {
    const char *names[] = {"params", "grads", "optimizer state", "activations (peak)", "scratch (peak)",
                           "inputs + outputs", "arena"};
    int64_t v[] = {sums[0], sums[1], sums[2], act, scr, sums[3], arena};
    fprintf(stderr, "cube memory report (@%s, planning %s)\n", p->program, reuse ? "on" : "off");
    for (int i = 0; i < 7; ++i)
      fprintf(stderr, "  %-20s %14" PRId64 " bytes %10.2f MiB\n", names[i], v[i], (double)v[i] / 1048576.0);
  }
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "params", (json_int_t)sums[0], "grads",
                   (json_int_t)sums[1], "optimizer_state", (json_int_t)sums[2], "activations_peak", (json_int_t)act,
                   "scratch_peak", (json_int_t)scr, "inputs_outputs", (json_int_t)sums[3], "arena",
                   (json_int_t)arena, "planned", reuse);
}

char *cubePlanJson(MlirOperation module, CubeTarget target, const char *chip, const CubeLaunchList *launches) {
  CubePlanOptions o = {"", true, false};
  return cubePlanJsonOpts(module, target, chip, launches, &o);
}

char *cubePlanJsonOpts(MlirOperation module, CubeTarget target, const char *chip, const CubeLaunchList *launches,
                       const CubePlanOptions *opts) {
  char err[512], func[256] = "";
  MlirStringRef grouped;
  if (opts->func && *opts->func) snprintf(func, sizeof func, "%s", opts->func);
  else if (cubeGetStrAttr(module, CUBE_ATTR_PROGRAM, &grouped))
    snprintf(func, sizeof func, "%.*s", (int)grouped.length, grouped.data);
  MlirOperation fn = cubeFindProgram(module, func, err, sizeof err);
  MlirBlock entry;
  if (mlirOperationIsNull(fn) || !cubeFuncEntryBlock(fn, &entry)) {
    char m[600];
    snprintf(m, sizeof m, "cube-emit: %s", err);
    mlirEmitError(mlirOperationGetLocation(module), m);
    return NULL;
  }
  Plan p = {.target = target, .launches = launches, .module = module, .reuse = opts->planMemory};
  p.program = !strcmp(func, "train_step") ? "train_step" : !strcmp(func, "grad_step") ? "grad_step" : "forward";
  p.params = json_array();
  p.steps = json_array();
  p.outputs = json_array();
  p.states = json_array();
  MlirOperation ret = mlirBlockGetTerminator(entry);
  p.nRets = mlirOperationIsNull(ret) ? 0 : mlirOperationGetNumOperands(ret);
  p.rets = calloc((size_t)p.nRets + 1, sizeof *p.rets);
  p.retDone = calloc((size_t)p.nRets + 1, sizeof *p.retDone);
  for (intptr_t i = 0; i < p.nRets; ++i) p.rets[i] = mlirOperationGetOperand(ret, i);
  intptr_t nArgs = mlirBlockGetNumArguments(entry);
  if (!strcmp(p.program, "train_step")) {
    p.model = nArgs == 4 && p.nRets == 2 && isInt(mlirValueGetType(mlirBlockGetArgument(entry, 0))) &&
              isInt(mlirValueGetType(mlirBlockGetArgument(entry, 1)));
    if (!p.model) fail(&p, fn, "@train_step must be (input_ids, labels, lr, step) -> (loss, grad_norm)");
  } else if (!strcmp(p.program, "grad_step")) {
    collectGradNames(&p, entry);
    p.model = nArgs == 2 && p.nRets == 1 + p.nGradNames && isInt(mlirValueGetType(mlirBlockGetArgument(entry, 0)));
    if (!p.model) fail(&p, fn, "@grad_step must be (input_ids, labels) -> (loss, one gradient per trainable param)");
  } else {
    p.model = nArgs >= 1 && nArgs <= 2 && p.nRets == 1;
    for (intptr_t i = 0; p.model && i < nArgs; ++i) p.model = isInt(mlirValueGetType(mlirBlockGetArgument(entry, i)));
  }
  json_t *inputs = p.failed ? json_array() : planInputs(&p, entry, fn);

  for (MlirOperation op = mlirBlockGetFirstOperation(entry); !mlirOperationIsNull(op) && !p.failed;
       op = mlirOperationGetNextInBlock(op)) {
    if (cubeIsOp(op, "param")) planParam(&p, op);
    else if (cubeIsOp(op, "opt_state")) planState(&p, op);
    else if (cubeIsOp(op, "reshape")) planReshape(&p, op);
    else if (cubeOpNameIs(op, "tensor.empty")) planEmpty(&p, op);
    else if (cubeIsOp(op, "all_reduce")) planAllReduce(&p, op);
    else if (cubeIsOp(op, "add") && cubeHasAttr(op, CUBE_ATTR_GEMM_ACC)) planAccumulate(&p, op);
    else if (cubeHasAttr(op, CUBE_ATTR_GEMM) && (cubeIsOp(op, "linear") || cubeIsOp(op, "matmul"))) {
      waitForBuckets(&p, op);
      planGemm(&p, op);
    } else if (cubeOpNameIs(op, "func.call")) {
      waitForBuckets(&p, op);
      planCall(&p, op);
    } else if (cubeOpNameIs(op, "func.return")) {
      waitForBuckets(&p, op);
      planReturn(&p, op);
      waitForBuckets(&p, (MlirOperation){NULL});
    }
    else {
      MlirStringRef on = mlirIdentifierStr(mlirOperationGetName(op));
      snprintf(err, sizeof err, "'%.*s' in @%s has no step (run cube-prepare-forward, cube-group-kernels and "
               "cube-lower-to-linalg first)", (int)on.length, on.data, func[0] ? func : "forward");
      fail(&p, op, err);
    }
    p.opIndex++;
  }
  if (!p.failed && target == CUBE_TARGET_CUDA && !strcmp(chip ? chip : "", "")) fail(&p, module, "no chip");
  for (intptr_t i = 0; i < p.nRets && !p.failed; ++i) { /* in the function's result order */
    char nb[64];
    const char *name = outputName(&p, i, nb, sizeof nb);
    json_array_append_new(p.outputs, json_pack("{s:s, s:s}", "name", name, "buffer", name));
  }
  if (!p.failed) markGrads(&p, entry);
  json_t *memory = p.failed ? NULL : layout(&p, opts->planMemory, opts->report);
  if (!p.failed && !memory) fail(&p, module, "out of memory");
  json_t *lora = p.failed ? NULL : cubePlanLoraJson(module, fn);

  char *text = NULL;
  if (!p.failed) {
    json_t *bufs = json_array();
    for (size_t i = 0; i < p.nBufs; ++i) {
      Buf *b = &p.bufs[i];
      json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "name", b->name, "kind", b->kind, "dtype", b->dtype,
                            "shape", shapeJson(b->type), "bytes", (json_int_t)b->bytes, "offset", (json_int_t)b->offset);
      if (b->aliasOf >= 0) json_object_set_new(o, "alias_of", json_string(p.bufs[b->aliasOf].name));
      json_array_append_new(bufs, o);
    }
    int64_t arena = (p.arena + ALIGN - 1) / ALIGN * ALIGN;
    CubeBuf out = {0};
    cubeBufAppend(&out, "{\n");
    json_t *scalars = json_pack("{s:s, s:i, s:s, s:s}", "format", "cube-plan", "version", 1, "target",
                                target == CUBE_TARGET_CUDA ? "cuda" : "cpu", "program", p.program);
    appendJson(&out, "format", json_object_get(scalars, "format"), false);
    appendJson(&out, "version", json_object_get(scalars, "version"), false);
    appendJson(&out, "target", json_object_get(scalars, "target"), false);
    json_t *tmp;
    if (target == CUBE_TARGET_CUDA) {
      appendJson(&out, "chip", tmp = json_string(chip), false);
      json_decref(tmp);
    }
    appendJson(&out, "kernels_file", tmp = json_string(target == CUBE_TARGET_CUDA ? "kernels.ptx" : "kernels.so"), false);
    json_decref(tmp);
    appendJson(&out, "arena_bytes", tmp = json_integer(arena), false);
    json_decref(tmp);
    appendJson(&out, "alignment", tmp = json_integer(ALIGN), false);
    json_decref(tmp);
    appendJson(&out, "program", json_object_get(scalars, "program"), false);
    appendJson(&out, "memory", memory, false);
    if (lora) appendJson(&out, "lora", lora, false);
    appendArray(&out, "inputs", inputs, false);
    appendArray(&out, "outputs", p.outputs, false);
    appendArray(&out, "buffers", bufs, false);
    appendArray(&out, "params", p.params, false);
    if (json_array_size(p.states)) appendArray(&out, "state", p.states, false);
    appendArray(&out, "steps", p.steps, true);
    cubeBufAppend(&out, "}\n");
    json_decref(scalars);
    json_decref(bufs);
    if (out.oom) {
      fail(&p, module, "out of memory");
      cubeBufFree(&out);
    } else {
      text = out.s;
    }
  }
  json_decref(memory);
  json_decref(lora);
  json_decref(inputs);
  json_decref(p.params);
  json_decref(p.steps);
  json_decref(p.outputs);
  json_decref(p.states);
  free(p.bufs);
  free(p.vals);
  free(p.rets);
  free(p.retDone);
  free(p.gradNames);
  return text;
}
