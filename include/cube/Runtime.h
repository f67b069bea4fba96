/* The cube runtime (lib/Runtime): runs a compiled artifact (docs/plan-format.md, docs/runtime.md).
 *   Plan.h       plan.json parsed and checked
 *   arena        one allocation of arena_bytes; every buffer is arena + offset
 *   backends     cpu: dlopen of kernels.so; cuda: libcuda + cuBLASLt loaded at run time (no link-time CUDA)
 *   params       filled from their init specs (cube/Init.h's RNG) or from a safetensors file by HF name
 *   batches      token data (cube/TokenData.h) cut into the plan's [B, S] input windows
 *   eval         the loop behind `cube-run --eval`
 * Every function that can fail returns false and writes one message into err (naming the file and what is
 * wrong); nothing here exits or aborts. */
#ifndef CUBE_RUNTIME_H
#define CUBE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cube/Plan.h"
#include "cube/TokenData.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arena (Arena.c) ---- */

/* True when [offset, offset + bytes) lies inside [0, total) (overflow-safe). */
bool cubeRangeInside(uint64_t offset, uint64_t bytes, uint64_t total);
/* A zeroed host allocation of `bytes` (at least 1) aligned to max(alignment, 64). Free with free(). */
void *cubeArenaAllocHost(uint64_t bytes, uint64_t alignment, char *err, size_t errSize);

/* ---- backends (Backend.c, BackendCpu.c, BackendCuda.c) ---- */

typedef struct CubeBackend CubeBackend;
typedef struct {
  const char *name;
  bool (*write)(CubeBackend *be, uint64_t offset, const void *src, uint64_t bytes, char *err, size_t errSize);
  bool (*read)(CubeBackend *be, uint64_t offset, void *dst, uint64_t bytes, char *err, size_t errSize);
  /* Runs steps [first, end) in order; may return before the device finished (see sync). */
  bool (*run)(CubeBackend *be, size_t first, size_t end, char *err, size_t errSize);
  bool (*sync)(CubeBackend *be, char *err, size_t errSize);
  void (*close)(CubeBackend *be);
} CubeBackendOps;

struct CubeBackend {
  const CubeBackendOps *ops;
  const CubePlan *plan; /* borrowed: must outlive the backend */
  void *impl;
};

/* device: "cpu" or "cuda". Allocates the zeroed arena and loads every kernel the steps name (a missing
 * kernels file or kernel is an error naming it). */
bool cubeBackendOpen(const char *device, const CubePlan *plan, CubeBackend **out, char *err, size_t errSize);
bool cubeBackendOpenCpu(const CubePlan *plan, CubeBackend **out, char *err, size_t errSize);
bool cubeBackendOpenCuda(const CubePlan *plan, CubeBackend **out, char *err, size_t errSize);
/* Bounds-checked against the arena, then delegated to the backend. */
bool cubeBackendWrite(CubeBackend *be, uint64_t offset, const void *src, uint64_t bytes, char *err, size_t errSize);
bool cubeBackendRead(CubeBackend *be, uint64_t offset, void *dst, uint64_t bytes, char *err, size_t errSize);
bool cubeBackendRun(CubeBackend *be, char *err, size_t errSize); /* all steps, then sync */
void cubeBackendClose(CubeBackend *be);
/* The CPU backend's arena (NULL for other backends); for tests. */
void *cubeBackendCpuArena(CubeBackend *be);

/* The CPU reference GEMM of a gemm step (row-major, fp32 accumulation; f32, bf16 or f16 elements). */
void cubeGemmCpu(const CubePlanStep *s, void *a, void *b, void *c, const void *bias);

/* ---- parameters (Params.c) ---- */

/* Fills every parameter from its init spec, stream keyed by (seed, HF name) as cube/Init.h documents. */
bool cubeParamsInit(const CubePlan *plan, CubeBackend *be, uint64_t seed, char *err, size_t errSize);

typedef struct {
  size_t loaded, missing, unexpected;
} CubeWeightsReport;

/* Loads parameters from a safetensors file by HF name: each tensor's shape must equal the parameter's, its
 * dtype must be F32, BF16 or F16 (converted to the parameter's dtype). Missing parameters keep their
 * current values, tensors not in the plan are unexpected; both are listed as warnings on `warn` (may be
 * NULL), and with `strict` either is an error. */
bool cubeParamsLoadWeights(const CubePlan *plan, CubeBackend *be, const char *path, bool strict, FILE *warn,
                           CubeWeightsReport *report, char *err, size_t errSize);

/* Converts n fp32 values to `dtype` (f32, bf16, f16 or f64) into dst; false for other dtypes. */
bool cubeConvertFromF32(const float *src, size_t n, CubeDType dtype, void *dst);
/* Converts n values of `dtype` (f32, bf16, f16, f64) to fp32; false for other dtypes. */
bool cubeConvertToF32(const void *src, size_t n, CubeDType dtype, float *dst);

/* ---- batches (Batch.c) ---- */

typedef struct {
  const CubePlanIO *ids, *labels; /* the plan inputs named input_ids and labels (labels may be NULL) */
  int64_t batchSize, seqLen;      /* B and S of input_ids' [B, S] */
  uint64_t tokensPerBatch;        /* B * S */
  uint32_t vocab;                 /* the model's vocab_size, 0 if the plan does not say */
} CubeBatchLayout;

/* Reads B, S and the vocab from the plan (vocab: rows of param model.embed_tokens.weight, else the
 * input's vocab_size). */
bool cubeBatchLayout(const CubePlan *plan, CubeBatchLayout *out, char *err, size_t errSize);
/* Number of whole batches in the data; an error when there is not even one. */
bool cubeBatchCount(const CubeBatchLayout *l, const CubeTokenData *d, const char *dataPath, uint64_t *count,
                    char *err, size_t errSize);
/* Writes batch b (tokens [b*B*S, (b+1)*B*S)) into input_ids and labels, converted to their dtype. */
bool cubeBatchFill(const CubePlan *plan, const CubeBatchLayout *l, CubeBackend *be, const CubeTokenData *d,
                   uint64_t b, char *err, size_t errSize);
/* Converts n int32 ids to i64/i32 (or other integer dtypes) into dst; false for non-integer dtypes. */
bool cubeIdsConvert(const int32_t *ids, size_t n, CubeDType dtype, void *dst);

/* ---- eval (Run.c) ---- */

typedef struct {
  const char *artifact;
  const char *device;  /* NULL: the plan's target */
  const char *weights; /* NULL: init specs */
  const char *data;
  bool strict, verbose, time;
  uint64_t seed;
  int64_t batches; /* 0: every whole batch in the data */
} CubeEvalOptions;

/* Loads everything, runs the forward pass on each batch and prints the mean loss to out (warnings to
 * warn). Returns false with the message in err on any failure. */
bool cubeRunEval(const CubeEvalOptions *opt, FILE *out, FILE *warn, double *meanLoss, char *err, size_t errSize);

#ifdef __cplusplus
}
#endif
#endif
