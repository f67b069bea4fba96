/* The load-time checks of docs/plan-format.md on a parsed plan: every buffer inside the arena, aligned and
 * of the size its shape and dtype need; aliases at the same offset with the same bytes; parameters in
 * param buffers of their shape and dtype; inputs and outputs in buffers of that kind; and every step's
 * access (GEMM operands over all batches, copies, kernel argument offsets) inside its buffers. The runtime
 * never touches memory that these checks did not allow, so a corrupted plan is an error, not a crash. */
#include "cube/Plan.h"
#include "cube/Runtime.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static bool fail(const CubePlan *p, char *err, size_t errSize, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(err, errSize, "%s: %s", p->path ? p->path : "plan.json", msg);
  return false;
}

#define FAIL(...) return fail(p, err, errSize, __VA_ARGS__)

static bool isFloat(CubeDType t) { return t == CUBE_DT_F32 || t == CUBE_DT_BF16 || t == CUBE_DT_F16; }

static bool checkBuffers(const CubePlan *p, char *err, size_t errSize) {
  char sh[128];
  for (size_t i = 0; i < p->nBuffers; ++i) {
    const CubePlanBuffer *b = &p->buffers[i];
    uint64_t need = cubeShapeNumel(b->shape, b->rank) * cubeDTypeSize(b->dtype);
    if (b->bytes != need)
      FAIL("buffers[%zu].bytes: %llu, but shape %s of %s needs %llu", i, (unsigned long long)b->bytes,
           cubeShapeString(b->shape, b->rank, sh, sizeof sh), cubePlanDTypeName(b->dtype), (unsigned long long)need);
    if (b->offset % p->alignment)
      FAIL("buffers[%zu].offset: %llu is not a multiple of the alignment %llu", i, (unsigned long long)b->offset,
           (unsigned long long)p->alignment);
    if (!cubeRangeInside(b->offset, b->bytes, p->arenaBytes))
      FAIL("buffers[%zu]: '%s' at [%llu, %llu) is outside the arena of %llu bytes", i, b->name,
           (unsigned long long)b->offset, (unsigned long long)(b->offset + b->bytes),
           (unsigned long long)p->arenaBytes);
    if (b->aliasOf >= 0) {
      const CubePlanBuffer *a = &p->buffers[b->aliasOf];
      if (a->offset != b->offset || a->bytes != b->bytes)
        FAIL("buffers[%zu].alias_of: '%s' is a view of '%s' but has offset %llu and %llu bytes where '%s' has "
             "offset %llu and %llu bytes", i, b->name, a->name, (unsigned long long)b->offset,
             (unsigned long long)b->bytes, a->name, (unsigned long long)a->offset, (unsigned long long)a->bytes);
    }
  }
  return true;
}

/* The buffer an alias chain ends at (chains are followed at most nBuffers steps, so a cycle ends too). */
static size_t rootOf(const CubePlan *p, size_t i) {
  for (size_t n = 0; p->buffers[i].aliasOf >= 0 && n < p->nBuffers; ++n) i = (size_t)p->buffers[i].aliasOf;
  return i;
}

/* Inputs, outputs, params, grads and optimizer state live for the whole run, so they share no byte with
 * another buffer (their own aliases aside); activations and scratch may share bytes (the compiler reuses
 * memory whose lifetimes do not overlap). */
static bool checkOverlaps(const CubePlan *p, char *err, size_t errSize) {
  for (size_t i = 0; i < p->nBuffers; ++i) {
    const CubePlanBuffer *a = &p->buffers[i];
    if (a->kind == CUBE_BUF_ACTIVATION || a->kind == CUBE_BUF_SCRATCH || a->bytes == 0) continue;
    size_t ra = rootOf(p, i);
    for (size_t j = 0; j < p->nBuffers; ++j) {
      const CubePlanBuffer *b = &p->buffers[j];
      if (j == i || b->bytes == 0 || rootOf(p, j) == ra) continue;
      if (a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes)
        FAIL("buffers[%zu]: %s buffer '%s' at [%llu, %llu) overlaps buffer '%s' at [%llu, %llu) (only activation "
             "and scratch buffers may share bytes)", i, cubeBufferKindName(a->kind), a->name,
             (unsigned long long)a->offset, (unsigned long long)(a->offset + a->bytes), b->name,
             (unsigned long long)b->offset, (unsigned long long)(b->offset + b->bytes));
    }
  }
  return true;
}

static bool checkParams(const CubePlan *p, char *err, size_t errSize) {
  char s1[128], s2[128];
  for (size_t i = 0; i < p->nParams; ++i) {
    const CubePlanParam *q = &p->params[i];
    const CubePlanBuffer *b = &p->buffers[q->buffer];
    if (b->kind != CUBE_BUF_PARAM)
      FAIL("params[%zu].buffer: buffer '%s' has kind %s, expected param", i, b->name, cubeBufferKindName(b->kind));
    for (size_t j = 0; j < i; ++j)
      if (p->params[j].buffer == q->buffer)
        FAIL("params[%zu].buffer: '%s' is already the buffer of params[%zu] ('%s')", i, b->name, j, p->params[j].name);
    if (!isFloat(q->dtype))
      FAIL("params[%zu].dtype: %s: parameters must be f32, bf16 or f16", i, cubePlanDTypeName(q->dtype));
    if (q->dtype != b->dtype)
      FAIL("params[%zu].dtype: %s, but buffer '%s' is %s", i, cubePlanDTypeName(q->dtype), b->name,
           cubePlanDTypeName(b->dtype));
    if (q->rank != b->rank || memcmp(q->shape, b->shape, sizeof(int64_t) * (size_t)q->rank))
      FAIL("params[%zu].shape: %s, but buffer '%s' is %s", i, cubeShapeString(q->shape, q->rank, s1, sizeof s1),
           b->name, cubeShapeString(b->shape, b->rank, s2, sizeof s2));
  }
  return true;
}

static bool checkIO(const CubePlan *p, const CubePlanIO *io, size_t n, const char *key, CubeBufferKind kind,
                    char *err, size_t errSize) {
  for (size_t i = 0; i < n; ++i) {
    const CubePlanBuffer *b = &p->buffers[io[i].buffer];
    if (b->kind != kind)
      FAIL("%s[%zu].buffer: buffer '%s' has kind %s, expected %s", key, i, b->name,
           cubeBufferKindName(b->kind), cubeBufferKindName(kind));
  }
  return true;
}

/* The bytes [ref.offset, ref.offset + bytes) must lie inside the referenced buffer. */
static bool checkAccess(const CubePlan *p, const CubePlanRef *r, uint64_t bytes, const char *where,
                        const char *what, char *err, size_t errSize) {
  const CubePlanBuffer *b = &p->buffers[r->buffer];
  if (!cubeRangeInside(r->offset, bytes, b->bytes))
    FAIL("%s: %s %llu bytes at offset %llu of buffer '%s', which has %llu bytes", where, what,
         (unsigned long long)bytes, (unsigned long long)r->offset, b->name, (unsigned long long)b->bytes);
  return true;
}

/* A pointer into a buffer (`where` names it) must be aligned to the buffer's elements. */
static bool checkElementAligned(const CubePlan *p, const CubePlanRef *r, const char *where, char *err,
                                size_t errSize) {
  const CubePlanBuffer *b = &p->buffers[r->buffer];
  size_t size = cubeDTypeSize(b->dtype);
  if (size > 1 && r->offset % size)
    FAIL("%s.offset: %llu is not a multiple of the element size of buffer '%s' (%s, %zu bytes)", where,
         (unsigned long long)r->offset, b->name, cubePlanDTypeName(b->dtype), size);
  return true;
}

/* Bytes a GEMM operand of rows x cols elements spans over `batch` batches `stride` elements apart. */
static bool gemmExtent(int64_t batch, int64_t stride, int64_t rows, int64_t cols, CubeDType t, uint64_t *out) {
  uint64_t span, last, total;
  if (__builtin_mul_overflow((uint64_t)(batch - 1), (uint64_t)stride, &last)) return false;
  if (__builtin_mul_overflow((uint64_t)rows, (uint64_t)cols, &span)) return false;
  if (__builtin_add_overflow(last, span, &total)) return false;
  return !__builtin_mul_overflow(total, (uint64_t)cubeDTypeSize(t), out);
}

static bool checkGemm(const CubePlan *p, const CubePlanStep *s, size_t i, char *err, size_t errSize) {
  char where[96];
  if (!isFloat(s->dtype))
    FAIL("steps[%zu].dtype: %s: gemm steps take f32, bf16 or f16", i, cubePlanDTypeName(s->dtype));
  struct {
    const char *name;
    const CubePlanRef *ref;
    int64_t rows, cols, stride, batch;
  } ops[4] = {
      {"a", &s->a, s->m, s->k, s->strideA, s->batch},
      {"b", &s->b, s->k, s->n, s->strideB, s->batch},
      {"c", &s->c, s->m, s->n, s->strideC, s->batch},
      {"bias", &s->bias, 1, s->n, 0, 1},
  };
  for (int j = 0; j < (s->hasBias ? 4 : 3); ++j) {
    const CubePlanBuffer *b = &p->buffers[ops[j].ref->buffer];
    snprintf(where, sizeof where, "steps[%zu].%s", i, ops[j].name);
    if (b->dtype != s->dtype)
      FAIL("%s: buffer '%s' is %s but the gemm's dtype is %s", where, b->name, cubePlanDTypeName(b->dtype),
           cubePlanDTypeName(s->dtype));
    uint64_t bytes;
    if (!checkElementAligned(p, ops[j].ref, where, err, errSize)) return false;
    if (!gemmExtent(ops[j].batch, ops[j].stride, ops[j].rows, ops[j].cols, s->dtype, &bytes))
      FAIL("%s: the gemm's extent overflows", where);
    if (!checkAccess(p, ops[j].ref, bytes, where, j == 2 ? "the gemm writes" : "the gemm reads", err, errSize))
      return false;
  }
  if (s->batch > 1 && s->strideC == 0) FAIL("steps[%zu].stride_c: 0 with batch %lld: the batches would overwrite one "
                                            "another", i, (long long)s->batch);
  return true;
}

/* The collective steps: every all_reduce names a bucket of its own (0 .. nBuckets-1, nBuckets = the number
 * of all_reduce steps) and f32/bf16/f16 buffers, each buffer in at most one bucket; every bucket is waited
 * for exactly once, after its all_reduce. */
static bool checkBuckets(const CubePlan *p, char *err, size_t errSize) {
  size_t n = p->nBuckets;
  int64_t *started = calloc(n + 1, sizeof *started), *waited = calloc(n + 1, sizeof *waited);
  bool *inBucket = calloc(p->nBuffers + 1, sizeof *inBucket);
  bool ok = started && waited && inBucket;
  if (!ok) snprintf(err, errSize, "out of memory (checking the plan's buckets)");
  for (size_t i = 0; ok && i < p->nSteps; ++i) {
    const CubePlanStep *s = &p->steps[i];
    if (s->op != CUBE_STEP_ALL_REDUCE && s->op != CUBE_STEP_WAIT) continue;
    if ((uint64_t)s->bucket >= n) {
      if (n)
        snprintf(err, errSize, "%s: steps[%zu].bucket: %lld, but the plan has %zu all_reduce step%s (buckets 0..%zu)",
                 p->path, i, (long long)s->bucket, n, n == 1 ? "" : "s", n - 1);
      else
        snprintf(err, errSize, "%s: steps[%zu]: a wait for bucket %lld, but the plan has no all_reduce step", p->path,
                 i, (long long)s->bucket);
      ok = false;
    } else if (s->op == CUBE_STEP_ALL_REDUCE && started[s->bucket]) {
      snprintf(err, errSize, "%s: steps[%zu].bucket: bucket %lld is already reduced by steps[%lld]", p->path, i,
               (long long)s->bucket, (long long)started[s->bucket] - 1);
      ok = false;
    } else if (s->op == CUBE_STEP_WAIT && (!started[s->bucket] || waited[s->bucket])) {
      snprintf(err, errSize, "%s: steps[%zu]: a wait for bucket %lld %s", p->path, i, (long long)s->bucket,
               waited[s->bucket] ? "that was already waited for" : "before its all_reduce step");
      ok = false;
    } else if (s->op == CUBE_STEP_WAIT) {
      waited[s->bucket] = 1;
    } else {
      started[s->bucket] = (int64_t)i + 1;
      for (size_t j = 0; ok && j < s->nBuffers; ++j) {
        const CubePlanBuffer *b = &p->buffers[s->buffers[j]];
        if (!isFloat(b->dtype)) {
          snprintf(err, errSize, "%s: steps[%zu].buffers[%zu]: buffer '%s' is %s; all_reduce takes f32, bf16 or f16",
                   p->path, i, j, b->name, cubePlanDTypeName(b->dtype));
          ok = false;
        } else if (inBucket[s->buffers[j]]) {
          snprintf(err, errSize, "%s: steps[%zu].buffers[%zu]: buffer '%s' is reduced twice", p->path, i, j, b->name);
          ok = false;
        }
        inBucket[s->buffers[j]] = true;
      }
    }
  }
  for (size_t k = 0; ok && k < n; ++k)
    if (!waited[k]) {
      snprintf(err, errSize, "%s: steps: bucket %zu (steps[%lld]) is never waited for (a wait step must follow it)",
               p->path, k, (long long)started[k] - 1);
      ok = false;
    }
  free(started);
  free(waited);
  free(inBucket);
  return ok;
}

static bool checkSteps(const CubePlan *p, char *err, size_t errSize) {
  bool cuda = !strcmp(p->target, "cuda");
  char where[96];
  for (size_t i = 0; i < p->nSteps; ++i) {
    const CubePlanStep *s = &p->steps[i];
    switch (s->op) {
    case CUBE_STEP_CALL:
    case CUBE_STEP_LAUNCH:
      if ((s->op == CUBE_STEP_LAUNCH) != cuda)
        FAIL("steps[%zu].op: '%s' steps are for target %s, but this plan's target is %s", i, cubeStepOpName(s->op),
             s->op == CUBE_STEP_LAUNCH ? "cuda" : "cpu", p->target);
      if (s->op == CUBE_STEP_LAUNCH && (uint64_t)s->block[0] * s->block[1] * s->block[2] > 1024)
        FAIL("steps[%zu].block: %llu threads per block is more than 1024", i,
             (unsigned long long)s->block[0] * s->block[1] * s->block[2]);
      for (size_t j = 0; j < s->nArgs; ++j) {
        const CubePlanArg *a = &s->args[j];
        if (a->kind != CUBE_ARG_BUFFER) {
          if (s->op == CUBE_STEP_CALL)
            FAIL("steps[%zu].args[%zu]: a scalar argument in a call step (the CPU kernel ABI passes buffers only)", i, j);
          continue;
        }
        const CubePlanBuffer *b = &p->buffers[a->ref.buffer];
        if (a->ref.offset >= b->bytes && !(a->ref.offset == 0 && b->bytes == 0))
          FAIL("steps[%zu].args[%zu].offset: %llu is not inside buffer '%s' (%llu bytes)", i, j,
               (unsigned long long)a->ref.offset, b->name, (unsigned long long)b->bytes);
        snprintf(where, sizeof where, "steps[%zu].args[%zu]", i, j);
        if (a->hasDType && a->dtype != b->dtype)
          FAIL("%s.dtype: the kernel takes %s, but buffer '%s' is %s", where, cubePlanDTypeName(a->dtype), b->name,
               cubePlanDTypeName(b->dtype));
        if (!checkElementAligned(p, &a->ref, where, err, errSize)) return false;
        if (a->bytes >= 0 && !checkAccess(p, &a->ref, (uint64_t)a->bytes, where, "the kernel accesses", err, errSize))
          return false;
      }
      break;
    case CUBE_STEP_GEMM:
      if (!checkGemm(p, s, i, err, errSize)) return false;
      break;
    case CUBE_STEP_ALL_REDUCE:
    case CUBE_STEP_WAIT:
      break; /* checkBuckets */
    case CUBE_STEP_COPY:
      snprintf(where, sizeof where, "steps[%zu].src", i);
      if (!checkAccess(p, &s->src, s->bytes, where, "the copy reads", err, errSize)) return false;
      snprintf(where, sizeof where, "steps[%zu].dst", i);
      if (!checkAccess(p, &s->dst, s->bytes, where, "the copy writes", err, errSize)) return false;
      break;
    }
  }
  return true;
}

/* The state table: each entry in its own optimizer-state buffer of its dtype and shape, which is the shape
 * of its parameter. */
static bool checkStates(const CubePlan *p, char *err, size_t errSize) {
  char s1[128], s2[128];
  for (size_t i = 0; i < p->nStates; ++i) {
    const CubePlanState *q = &p->states[i];
    const CubePlanBuffer *b = &p->buffers[q->buffer];
    const CubePlanParam *pp = &p->params[q->param];
    if (b->kind != CUBE_BUF_OPTIMIZER_STATE)
      FAIL("state[%zu].buffer: buffer '%s' has kind %s, expected optimizer-state", i, b->name,
           cubeBufferKindName(b->kind));
    for (size_t j = 0; j < i; ++j)
      if (p->states[j].buffer == q->buffer)
        FAIL("state[%zu].buffer: '%s' is already the buffer of state[%zu] ('%s')", i, b->name, j, p->states[j].name);
    if (!isFloat(q->dtype) && q->dtype != CUBE_DT_F64)
      FAIL("state[%zu].dtype: %s: optimizer states must be f32, bf16, f16 or f64", i, cubePlanDTypeName(q->dtype));
    if (q->dtype != b->dtype)
      FAIL("state[%zu].dtype: %s, but buffer '%s' is %s", i, cubePlanDTypeName(q->dtype), b->name,
           cubePlanDTypeName(b->dtype));
    if (q->rank != b->rank || memcmp(q->shape, b->shape, sizeof(int64_t) * (size_t)q->rank))
      FAIL("state[%zu].shape: %s, but buffer '%s' is %s", i, cubeShapeString(q->shape, q->rank, s1, sizeof s1),
           b->name, cubeShapeString(b->shape, b->rank, s2, sizeof s2));
    if (q->rank != pp->rank || memcmp(q->shape, pp->shape, sizeof(int64_t) * (size_t)q->rank))
      FAIL("state[%zu].shape: %s, but its parameter '%s' is %s", i, cubeShapeString(q->shape, q->rank, s1, sizeof s1),
           pp->name, cubeShapeString(pp->shape, pp->rank, s2, sizeof s2));
    if (!pp->trainable) FAIL("state[%zu].param: '%s' is not trainable; frozen parameters have no optimizer state", i, pp->name);
  }
  return true;
}

/* One scalar of the given kind and one of the dtypes. */
static bool checkScalarIO(const CubePlan *p, const CubePlanIO *io, size_t n, const char *key, const char *name,
                          const CubeDType *dtypes, int nDTypes, const char *expected, char *err, size_t errSize) {
  for (size_t i = 0; i < n; ++i) {
    if (strcmp(io[i].name, name)) continue;
    const CubePlanBuffer *b = &p->buffers[io[i].buffer];
    bool okType = false;
    for (int k = 0; k < nDTypes; ++k) okType |= b->dtype == dtypes[k];
    if (b->rank != 0 || !okType)
      FAIL("%s[%zu]: '%s' must be a scalar ([]) of %s, but buffer '%s' is %s %s", key, i, name, expected, b->name,
           cubePlanDTypeName(b->dtype), cubeShapeString(b->shape, b->rank, (char[128]){0}, 128));
    return true;
  }
  FAIL("%s: a train_step plan needs the %s '%s' (docs/plan-format.md, \"Training plans\")", key,
       key[0] == 'i' ? "input" : "output", name);
}

static bool checkTraining(const CubePlan *p, char *err, size_t errSize) {
  if (p->program != CUBE_PROGRAM_TRAIN_STEP) {
    if (p->nStates) FAIL("state: a forward plan has no optimizer state (\"program\" is not \"train_step\")");
    return true;
  }
  static const CubeDType f32[] = {CUBE_DT_F32}, ints[] = {CUBE_DT_I64, CUBE_DT_I32};
  return checkScalarIO(p, p->inputs, p->nInputs, "inputs", "lr", f32, 1, "f32", err, errSize) &&
         checkScalarIO(p, p->inputs, p->nInputs, "inputs", "step", ints, 2, "i64 or i32", err, errSize) &&
         checkScalarIO(p, p->outputs, p->nOutputs, "outputs", "loss", f32, 1, "f32", err, errSize) &&
         checkScalarIO(p, p->outputs, p->nOutputs, "outputs", "grad_norm", f32, 1, "f32", err, errSize);
}

bool cubePlanCheck(const CubePlan *p, char *err, size_t errSize) {
  if (p->alignment == 0 || (p->alignment & (p->alignment - 1)))
    FAIL("alignment: %llu is not a power of two", (unsigned long long)p->alignment);
  return checkBuffers(p, err, errSize) && checkOverlaps(p, err, errSize) && checkParams(p, err, errSize) &&
         checkIO(p, p->inputs, p->nInputs, "inputs", CUBE_BUF_INPUT, err, errSize) &&
         checkIO(p, p->outputs, p->nOutputs, "outputs", CUBE_BUF_OUTPUT, err, errSize) && checkSteps(p, err, errSize) &&
         checkStates(p, err, errSize) && checkTraining(p, err, errSize) && checkBuckets(p, err, errSize);
}
