/* GEMM steps on the GPU through cuBLASLt, loaded at run time (libcublasLt.so.13, then .12, then the
 * unversioned name, each also under /usr/local/cuda/lib64). plan.json's gemm is row-major
 *   C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] (+ bias[n])
 * and cuBLASLt is column-major. A row-major [r, c] matrix is the column-major [c, r] matrix with the same
 * bytes, so the step is computed as C^T = op(B)^T op(A)^T: cuBLASLt's A is our B (column-major [n, k]
 * with ld n, or stored [k, n] with ld k and transposed when trans_b), its B is our A ([k, m] ld k, or
 * [m, k] ld m transposed when trans_a), its C is our C ([n, m], ld n), and bias[n] runs along C^T's rows,
 * which is what CUBLASLT_EPILOGUE_BIAS adds. Batches are strided (stride 0 repeats an operand).
 * dtype f32: CUBLAS_COMPUTE_32F_PEDANTIC (fp32 throughout, TF32 never; CUBE_TF32=1 allows TF32 tensor cores,
 * CUBLAS_COMPUTE_32F_FAST_TF32, as torch.backends.cuda.matmul.allow_tf32 does); bf16/f16: those inputs and output
 * with CUBLAS_COMPUTE_32F (fp32 accumulation). Descriptors and the algorithm are chosen once per step at
 * load; a run only calls cublasLtMatmul. Every status is checked and reported with its name and text.
 *
 * Algorithm choice: cuBLASLt's first heuristic is often poor for the skinny LoRA gemms (a [768 x 8] result
 * reduced over 8192 tokens runs on a handful of blocks: 5 ms instead of tens of microseconds), so at load
 * every distinct gemm shape times up to TUNE_CANDIDATES heuristic algorithms on the arena's (not yet
 * filled) buffers and keeps the fastest; the result is cached per shape. CUBE_GEMM_TUNE=0 keeps the first
 * heuristic. The C buffer is written while timing, which is harmless at load (no step has run). */
#include "cube/CudaApi.h"

#ifdef CUBE_HAVE_CUDA_HEADERS
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKSPACE_BYTES ((size_t)32 << 20)
#ifndef CUBE_F32_COMPUTE /* the compute type of f32 gemms (a build-time knob for comparisons) */
#define CUBE_F32_COMPUTE CUBLAS_COMPUTE_32F_PEDANTIC
#endif

enum { TUNE_CANDIDATES = 8, TUNE_RUNS = 3, TUNE_CACHE = 512 };

typedef struct {
  int64_t m, n, k, batch, sa, sb, sc;
  int dtype;
  bool ta, tb, bias;
  float beta;
  cublasLtMatmulAlgo_t algo;
} TunedShape;

struct CubeCublas {
  void *lib;
  const CubeCuda *cu;
  cublasLtHandle_t handle;
  CUdeviceptr workspace;
  cublasStatus_t (*create)(cublasLtHandle_t *);
  cublasStatus_t (*destroy)(cublasLtHandle_t);
  cublasStatus_t (*descCreate)(cublasLtMatmulDesc_t *, cublasComputeType_t, cudaDataType_t);
  cublasStatus_t (*descDestroy)(cublasLtMatmulDesc_t);
  cublasStatus_t (*descSet)(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void *, size_t);
  cublasStatus_t (*layoutCreate)(cublasLtMatrixLayout_t *, cudaDataType, uint64_t, uint64_t, int64_t);
  cublasStatus_t (*layoutDestroy)(cublasLtMatrixLayout_t);
  cublasStatus_t (*layoutSet)(cublasLtMatrixLayout_t, cublasLtMatrixLayoutAttribute_t, const void *, size_t);
  cublasStatus_t (*prefCreate)(cublasLtMatmulPreference_t *);
  cublasStatus_t (*prefDestroy)(cublasLtMatmulPreference_t);
  cublasStatus_t (*prefSet)(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t, const void *, size_t);
  cublasStatus_t (*heuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,
                              cublasLtMatmulHeuristicResult_t *, int *);
  cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *, cublasLtMatrixLayout_t,
                           const void *, cublasLtMatrixLayout_t, const void *, const void *, cublasLtMatrixLayout_t,
                           void *, cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t *, void *, size_t,
                           cudaStream_t);
  const char *(*statusName)(cublasStatus_t);
  const char *(*statusString)(cublasStatus_t);
  TunedShape tuned[TUNE_CACHE];
  size_t nTuned;
  bool tune;
};

struct CubeCublasGemm {
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
  float alpha, beta;
  CUdeviceptr a, b, c; /* cuBLASLt's A (our B), B (our A) and C */
  size_t step;
};

static bool check(CubeCublas *cb, cublasStatus_t s, const char *what, char *err, size_t errSize) {
  if (s == CUBLAS_STATUS_SUCCESS) return true;
  snprintf(err, errSize, "%s failed: %s (%s)", what, cb->statusName ? cb->statusName(s) : "?",
           cb->statusString ? cb->statusString(s) : "no description");
  return false;
}

static void *openLib(char *tried, size_t size) {
  static const char *const names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
  static const char *const dirs[] = {"", "/usr/local/cuda/lib64/"};
  size_t used = 0;
  for (size_t d = 0; d < 2; ++d)
    for (size_t i = 0; i < 3; ++i) {
      char path[256];
      snprintf(path, sizeof path, "%s%s", dirs[d], names[i]);
      void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
      if (lib) return lib;
      const char *why = dlerror();
      if (d == 0 && i == 0 && used < size) used += (size_t)snprintf(tried + used, size - used, "%s", why ? why : path);
    }
  return NULL;
}

bool cubeCublasOpen(const CubeCuda *cu, CubeCublas **out, char *err, size_t errSize) {
  char tried[512] = "";
  *out = NULL;
  CubeCublas *cb = calloc(1, sizeof *cb);
  cb->cu = cu;
  cb->lib = openLib(tried, sizeof tried);
  if (!cb->lib) {
    snprintf(err, errSize, "cuBLASLt not found (libcublasLt.so.13, .so.12 or .so could not be loaded: %s); it runs "
             "the plan's gemm steps", tried);
    free(cb);
    return false;
  }
  struct {
    void *slot;
    const char *name;
  } syms[] = {
      {&cb->create, "cublasLtCreate"},           {&cb->destroy, "cublasLtDestroy"},
      {&cb->descCreate, "cublasLtMatmulDescCreate"}, {&cb->descDestroy, "cublasLtMatmulDescDestroy"},
      {&cb->descSet, "cublasLtMatmulDescSetAttribute"}, {&cb->layoutCreate, "cublasLtMatrixLayoutCreate"},
      {&cb->layoutDestroy, "cublasLtMatrixLayoutDestroy"}, {&cb->layoutSet, "cublasLtMatrixLayoutSetAttribute"},
      {&cb->prefCreate, "cublasLtMatmulPreferenceCreate"}, {&cb->prefDestroy, "cublasLtMatmulPreferenceDestroy"},
      {&cb->prefSet, "cublasLtMatmulPreferenceSetAttribute"}, {&cb->heuristic, "cublasLtMatmulAlgoGetHeuristic"},
      {&cb->matmul, "cublasLtMatmul"},           {&cb->statusName, "cublasLtGetStatusName"},
      {&cb->statusString, "cublasLtGetStatusString"},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; ++i) {
    void *p = dlsym(cb->lib, syms[i].name);
    if (!p) {
      snprintf(err, errSize, "cuBLASLt has no %s (too old?)", syms[i].name);
      cubeCublasClose(cb);
      return false;
    }
    memcpy(syms[i].slot, &p, sizeof p);
  }
  const char *tune = getenv("CUBE_GEMM_TUNE");
  cb->tune = !(tune && !strcmp(tune, "0"));
  if (!check(cb, cb->create(&cb->handle), "cublasLtCreate", err, errSize) ||
      !cubeCudaCheck(cu, cu->memAlloc(&cb->workspace, WORKSPACE_BYTES), "cuMemAlloc (cuBLASLt workspace)", err,
                     errSize)) {
    cubeCublasClose(cb);
    return false;
  }
  *out = cb;
  return true;
}

void cubeCublasClose(CubeCublas *cb) {
  if (!cb) return;
  if (cb->workspace) cb->cu->memFree(cb->workspace);
  if (cb->handle) cb->destroy(cb->handle);
  if (cb->lib) dlclose(cb->lib);
  free(cb);
}

void cubeCublasGemmFree(CubeCublas *cb, CubeCublasGemm *g) {
  if (!g) return;
  if (g->la) cb->layoutDestroy(g->la);
  if (g->lb) cb->layoutDestroy(g->lb);
  if (g->lc) cb->layoutDestroy(g->lc);
  if (g->desc) cb->descDestroy(g->desc);
  free(g);
}

/* A column-major rows x cols layout with leading dimension ld, `batch` matrices `stride` elements apart. */
static bool layout(CubeCublas *cb, cublasLtMatrixLayout_t *l, cudaDataType t, int64_t rows, int64_t cols, int64_t ld,
                   int64_t batch, int64_t stride, const char *what, char *err, size_t errSize) {
  int32_t count = (int32_t)batch;
  if (!check(cb, cb->layoutCreate(l, t, (uint64_t)rows, (uint64_t)cols, ld), what, err, errSize)) return false;
  if (batch == 1) return true;
  return check(cb, cb->layoutSet(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count), what, err, errSize) &&
         check(cb, cb->layoutSet(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride), what, err,
               errSize);
}

static double nowS(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One cublasLtMatmul of g with algorithm `algo` on `stream`: the only matmul call (tuning and runs). */
static cublasStatus_t matmulWith(CubeCublas *cb, CubeCublasGemm *g, const cublasLtMatmulAlgo_t *algo, CUstream stream) {
  void *c = (void *)(uintptr_t)g->c;
  return cb->matmul(cb->handle, g->desc, &g->alpha, (const void *)(uintptr_t)g->a, g->la, (const void *)(uintptr_t)g->b,
                    g->lb, &g->beta, c, g->lc, c, g->lc, algo, (void *)(uintptr_t)cb->workspace, WORKSPACE_BYTES,
                    (cudaStream_t)stream);
}

/* One run of g with algorithm `algo`; false when cuBLASLt refuses it. */
static bool tryAlgo(CubeCublas *cb, CubeCublasGemm *g, const cublasLtMatmulAlgo_t *algo) {
  return matmulWith(cb, g, algo, NULL) == CUBLAS_STATUS_SUCCESS;
}

/* The index of the fastest of the heuristic's candidates (a warm-up run, then TUNE_RUNS timed). */
static int fastest(CubeCublas *cb, CubeCublasGemm *g, const cublasLtMatmulHeuristicResult_t *r, int n) {
  int best = 0;
  double bestT = 1e30;
  for (int j = 0; j < n; ++j) {
    if (r[j].state != CUBLAS_STATUS_SUCCESS || !tryAlgo(cb, g, &r[j].algo) || cb->cu->ctxSynchronize() != CUDA_SUCCESS)
      continue;
    double t0 = nowS();
    bool ok = true;
    for (int k = 0; k < TUNE_RUNS && ok; ++k) ok = tryAlgo(cb, g, &r[j].algo);
    if (!ok || cb->cu->ctxSynchronize() != CUDA_SUCCESS) continue;
    double t = nowS() - t0;
    if (t < bestT) bestT = t, best = j;
  }
  return best;
}

bool cubeCublasPrepare(CubeCublas *cb, const CubePlan *plan, size_t i, CUdeviceptr a, CUdeviceptr b, CUdeviceptr c,
                       CUdeviceptr bias, CubeCublasGemm **out, char *err, size_t errSize) {
  const CubePlanStep *s = &plan->steps[i];
  char what[128];
  *out = NULL;
  CubeCublasGemm *g = calloc(1, sizeof *g);
  g->alpha = (float)s->alpha;
  g->beta = (float)s->beta;
  g->a = b;
  g->b = a;
  g->c = c;
  g->step = i;
  cudaDataType t = s->dtype == CUBE_DT_BF16 ? CUDA_R_16BF : s->dtype == CUBE_DT_F16 ? CUDA_R_16F : CUDA_R_32F;
  const char *tf32 = getenv("CUBE_TF32");
  cublasComputeType_t f32Compute = tf32 && !strcmp(tf32, "1") ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBE_F32_COMPUTE;
  cublasComputeType_t compute = s->dtype == CUBE_DT_F32 ? f32Compute : CUBLAS_COMPUTE_32F;
  int32_t opA = s->transB ? CUBLAS_OP_T : CUBLAS_OP_N, opB = s->transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  snprintf(what, sizeof what, "cuBLASLt setup of steps[%zu] (gemm)", i);
  bool ok = check(cb, cb->descCreate(&g->desc, compute, CUDA_R_32F), what, err, errSize) &&
            check(cb, cb->descSet(g->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA), what, err, errSize) &&
            check(cb, cb->descSet(g->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof opB), what, err, errSize);
  if (ok && s->hasBias) {
    int32_t epi = CUBLASLT_EPILOGUE_BIAS;
    void *ptr = (void *)(uintptr_t)bias;
    ok = check(cb, cb->descSet(g->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), what, err, errSize) &&
         check(cb, cb->descSet(g->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ptr, sizeof ptr), what, err, errSize);
  }
  ok = ok &&
       layout(cb, &g->la, t, s->transB ? s->k : s->n, s->transB ? s->n : s->k, s->transB ? s->k : s->n, s->batch,
              s->strideB, what, err, errSize) &&
       layout(cb, &g->lb, t, s->transA ? s->m : s->k, s->transA ? s->k : s->m, s->transA ? s->m : s->k, s->batch,
              s->strideA, what, err, errSize) &&
       layout(cb, &g->lc, t, s->n, s->m, s->n, s->batch, s->strideC, what, err, errSize);
  TunedShape key = {s->m, s->n, s->k, s->batch, s->strideA, s->strideB, s->strideC, (int)s->dtype, s->transA,
                    s->transB, s->hasBias, (float)s->beta, {{0}}};
  const TunedShape *hit = NULL;
  for (size_t j = 0; ok && j < cb->nTuned && !hit; ++j) {
    const TunedShape *t = &cb->tuned[j];
    if (t->m == key.m && t->n == key.n && t->k == key.k && t->batch == key.batch && t->sa == key.sa &&
        t->sb == key.sb && t->sc == key.sc && t->dtype == key.dtype && t->ta == key.ta && t->tb == key.tb &&
        t->bias == key.bias && t->beta == key.beta)
      hit = t;
  }
  if (ok && hit) {
    g->algo = hit->algo;
  } else if (ok) {
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t result[TUNE_CANDIDATES];
    int found = 0;
    size_t ws = WORKSPACE_BYTES;
    ok = check(cb, cb->prefCreate(&pref), what, err, errSize) &&
         check(cb, cb->prefSet(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), what, err, errSize) &&
         check(cb, cb->heuristic(cb->handle, g->desc, g->la, g->lb, g->lc, g->lc, pref,
                                 cb->tune ? TUNE_CANDIDATES : 1, result, &found),
               "cublasLtMatmulAlgoGetHeuristic", err, errSize);
    if (pref) cb->prefDestroy(pref);
    if (ok && found < 1) {
      snprintf(err, errSize, "%s: steps[%zu]: cuBLASLt has no algorithm for this gemm (m=%lld n=%lld k=%lld batch=%lld "
               "%s)", plan->path, i, (long long)s->m, (long long)s->n, (long long)s->k, (long long)s->batch,
               cubePlanDTypeName(s->dtype));
      ok = false;
    }
    if (ok) {
      g->algo = result[0].algo;
      if (found > 1) g->algo = result[fastest(cb, g, result, found)].algo;
      key.algo = g->algo;
      if (cb->nTuned < TUNE_CACHE) cb->tuned[cb->nTuned++] = key;
    }
  }
  if (!ok) {
    cubeCublasGemmFree(cb, g);
    return false;
  }
  *out = g;
  return true;
}

bool cubeCublasRun(CubeCublas *cb, CubeCublasGemm *g, CUstream stream, char *err, size_t errSize) {
  char what[96];
  snprintf(what, sizeof what, "cublasLtMatmul (steps[%zu])", g->step);
  return check(cb, matmulWith(cb, g, &g->algo, stream), what, err, errSize);
}
#else
typedef int CubeCublasUnavailable; /* built without the CUDA headers: BackendCuda.c says so */
#endif
