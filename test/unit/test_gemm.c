/* Unit test of the backends on plans without kernels (lib/Runtime/BackendCpu.c, Gemm.c, Backend.c, and
 * BackendCuda.c + Cublas.c where a GPU is present): gemm steps in every transpose combination, with alpha,
 * beta, bias, strided batches (stride 0 repeating an operand) and bf16/f16 elements, against an independent
 * double-precision loop; copy steps; the arena bounds of writes and reads; and --device cuda where no
 * driver can be loaded. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cube/Init.h"
#include "cube/Runtime.h"

typedef struct {
  const char *dtype;
  int m, n, k, batch, sa, sb, sc;
  bool ta, tb, bias;
  double alpha, beta;
} Case;

static int extent(int batch, int stride, int rows, int cols) { return (batch - 1) * stride + rows * cols; }
static int up64(int x) { return (x + 63) / 64 * 64; }

/* A plan with buffers a, b, c, bias (1-D, exactly the gemm's extents) and one gemm step. */
static char *planFor(const Case *t, int esize, int off[4], int len[4]) {
  len[0] = extent(t->batch, t->sa, t->m, t->k);
  len[1] = extent(t->batch, t->sb, t->k, t->n);
  len[2] = extent(t->batch, t->sc, t->m, t->n);
  len[3] = t->n;
  off[0] = 0;
  for (int i = 1; i < 4; ++i) off[i] = off[i - 1] + up64(len[i - 1] * esize);
  char *text = malloc(4096);
  int used = snprintf(text, 4096,
                      "{\"format\": \"cube-plan\", \"version\": 1, \"target\": \"cpu\", \"arena_bytes\": %d, "
                      "\"alignment\": 64, \"inputs\": [], \"outputs\": [], \"buffers\": [",
                      off[3] + up64(len[3] * esize));
  const char *names[4] = {"a", "b", "c", "bias"};
  for (int i = 0; i < 4; ++i)
    used += snprintf(text + used, 4096 - (size_t)used,
                     "%s{\"name\": \"%s\", \"kind\": \"activation\", \"dtype\": \"%s\", \"shape\": [%d], "
                     "\"bytes\": %d, \"offset\": %d}", i ? ", " : "", names[i], t->dtype, len[i], len[i] * esize, off[i]);
  snprintf(text + used, 4096 - (size_t)used,
           "], \"steps\": [{\"op\": \"gemm\", \"a\": {\"buffer\": \"a\"}, \"b\": {\"buffer\": \"b\"}, "
           "\"c\": {\"buffer\": \"c\"}, \"bias\": %s, \"m\": %d, \"n\": %d, \"k\": %d, \"batch\": %d, "
           "\"stride_a\": %d, \"stride_b\": %d, \"stride_c\": %d, \"trans_a\": %s, \"trans_b\": %s, "
           "\"dtype\": \"%s\", \"alpha\": %g, \"beta\": %g}]}",
           t->bias ? "{\"buffer\": \"bias\"}" : "null", t->m, t->n, t->k, t->batch, t->sa, t->sb, t->sc,
           t->ta ? "true" : "false", t->tb ? "true" : "false", t->dtype, t->alpha, t->beta);
  return text;
}

static float roundTo(const char *dtype, float x) {
  if (!strcmp(dtype, "bf16")) return cubeBF16ToF32(cubeF32ToBF16(x));
  if (!strcmp(dtype, "f16")) return cubeF16ToF32(cubeF32ToF16(x));
  return x;
}

static bool haveCuda;

static void runCaseOn(const char *device, const Case *t) {
  CubeDType dt;
  cubePlanDTypeParse(t->dtype, &dt);
  int esize = (int)cubeDTypeSize(dt), off[4], len[4];
  char *text = planFor(t, esize, off, len);
  CubePlan plan;
  char err[1024] = "";
  bool ok = cubePlanParse(text, strlen(text), "gemm/plan.json", "gemm", &plan, err, sizeof err);
  CHECK(ok);
  free(text);
  if (!ok) {
    fprintf(stderr, "%s\n", err);
    return;
  }
  float *v[4];
  for (int i = 0; i < 4; ++i) {
    v[i] = malloc(sizeof(float) * (size_t)len[i]);
    for (int j = 0; j < len[i]; ++j) v[i][j] = roundTo(t->dtype, (float)sin(1.7 * j + 0.3 * i + 0.1) * (i == 3 ? 2 : 1));
  }
  CubeBackend *be;
  ok = cubeBackendOpen(device, &plan, &be, err, sizeof err);
  CHECK(ok);
  if (!ok) {
    fprintf(stderr, "%s\n", err);
    cubePlanFree(&plan);
    for (int i = 0; i < 4; ++i) free(v[i]);
    return;
  }
  for (int i = 0; i < 4; ++i) {
    void *bytes = malloc((size_t)(len[i] * esize));
    cubeConvertFromF32(v[i], (size_t)len[i], dt, bytes);
    CHECK(cubeBackendWrite(be, (uint64_t)off[i], bytes, (uint64_t)(len[i] * esize), err, sizeof err));
    free(bytes);
  }
  CHECK(cubeBackendRun(be, err, sizeof err));
  void *out = malloc((size_t)(len[2] * esize));
  float *got = malloc(sizeof(float) * (size_t)len[2]);
  CHECK(cubeBackendRead(be, (uint64_t)off[2], out, (uint64_t)(len[2] * esize), err, sizeof err));
  cubeConvertToF32(out, (size_t)len[2], dt, got);
  double worst = 0;
  for (int b = 0; b < t->batch; ++b)
    for (int i = 0; i < t->m; ++i)
      for (int j = 0; j < t->n; ++j) {
        double acc = 0;
        for (int p = 0; p < t->k; ++p) {
          double x = v[0][b * t->sa + (t->ta ? p * t->m + i : i * t->k + p)];
          double y = v[1][b * t->sb + (t->tb ? j * t->k + p : p * t->n + j)];
          acc += x * y;
        }
        int ci = b * t->sc + i * t->n + j;
        double want = t->alpha * acc + t->beta * v[2][ci] + (t->bias ? v[3][j] : 0.0);
        double e = fabs(got[ci] - want) / (fabs(want) + 1.0);
        if (e > worst) worst = e;
      }
  double tol = !strcmp(t->dtype, "f32") ? 1e-6 : !strcmp(t->dtype, "f16") ? 2e-3 : 1e-2;
  if (worst > tol)
    fprintf(stderr, "%s: gemm %s m=%d n=%d k=%d batch=%d ta=%d tb=%d: error %g > %g\n", device, t->dtype, t->m, t->n, t->k,
            t->batch, t->ta, t->tb, worst, tol);
  CHECK(worst <= tol);
  free(out);
  free(got);
  for (int i = 0; i < 4; ++i) free(v[i]);
  cubeBackendClose(be);
  cubePlanFree(&plan);
}

static void runCase(const Case *t) {
  runCaseOn("cpu", t);
  if (haveCuda) runCaseOn("cuda", t);
}

static void testGemm(void) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Case c1 = {"f32", 5, 7, 3, 1, 0, 0, 0, ta, tb, false, 1.0, 0.0};
      runCase(&c1);
      Case c2 = {"f32", 4, 6, 9, 3, 40, 0, 30, ta, tb, true, 0.5, 1.5}; /* b repeated (stride 0), padded strides */
      runCase(&c2);
      Case c3 = {"bf16", 8, 8, 16, 2, 128, 128, 64, ta, tb, true, 1.0, 0.0};
      runCase(&c3);
      Case c4 = {"f16", 3, 5, 7, 1, 0, 0, 0, ta, tb, false, 2.0, -1.0};
      runCase(&c4);
    }
}

static const char kCopyPlan[] =
    "{\"format\": \"cube-plan\", \"version\": 1, \"target\": \"cpu\", \"arena_bytes\": 256, \"alignment\": 64,"
    " \"inputs\": [], \"outputs\": [], \"buffers\": ["
    " {\"name\": \"x\", \"kind\": \"activation\", \"dtype\": \"f32\", \"shape\": [2, 8], \"bytes\": 64, \"offset\": 0},"
    " {\"name\": \"xv\", \"kind\": \"activation\", \"dtype\": \"f32\", \"shape\": [16], \"bytes\": 64, \"offset\": 0,"
    "  \"alias_of\": \"x\"},"
    " {\"name\": \"y\", \"kind\": \"activation\", \"dtype\": \"f32\", \"shape\": [16], \"bytes\": 64, \"offset\": 128}],"
    " \"steps\": [{\"op\": \"copy\", \"src\": {\"buffer\": \"xv\", \"offset\": 32}, \"dst\": {\"buffer\": \"y\"},"
    "  \"bytes\": 32}]}";

static void testCopyAndBounds(void) {
  CubePlan plan;
  char err[1024] = "";
  CHECK(cubePlanParse(kCopyPlan, strlen(kCopyPlan), "copy/plan.json", "copy", &plan, err, sizeof err));
  CubeBackend *be;
  CHECK(cubeBackendOpen("cpu", &plan, &be, err, sizeof err));
  float x[16], y[16];
  for (int i = 0; i < 16; ++i) x[i] = (float)i;
  CHECK(cubeBackendWrite(be, 0, x, sizeof x, err, sizeof err));
  CHECK(cubeBackendRun(be, err, sizeof err));
  CHECK(cubeBackendRead(be, 128, y, sizeof y, err, sizeof err));
  CHECK(y[0] == 8.0f && y[7] == 15.0f && y[8] == 0.0f); /* 8 floats copied; the rest of the arena is zero */
  CHECK(((float *)cubeBackendCpuArena(be))[32 + 3] == 11.0f);
  CHECK(!cubeBackendWrite(be, 250, x, 8, err, sizeof err));
  CHECK_STR_CONTAINS(err, "write of 8 bytes at offset 250 is outside the arena (256 bytes)");
  CHECK(!cubeBackendRead(be, UINT64_MAX - 2, y, 4, err, sizeof err));
  CHECK_STR_CONTAINS(err, "is outside the arena (256 bytes)");
  cubeBackendClose(be);
  CubeBackend *none = NULL;
  CHECK(!cubeBackendOpen("tpu", &plan, &none, err, sizeof err) && none == NULL);
  CHECK_STR_CONTAINS(err, "unknown device 'tpu' (expected cpu or cuda)");
  cubePlanFree(&plan);
}

/* On a machine without libcuda.so.1, a cuda plan says so clearly. */
static void testNoDriver(void) {
  if (haveCuda) return;
  const char *text = "{\"format\": \"cube-plan\", \"version\": 1, \"target\": \"cuda\", \"chip\": \"sm_90\", "
                     "\"arena_bytes\": 0, \"inputs\": [], \"outputs\": [], \"buffers\": [], \"steps\": []}";
  CubePlan plan;
  char err[1024] = "";
  CHECK(cubePlanParse(text, strlen(text), "c/plan.json", "c", &plan, err, sizeof err));
  CubeBackend *be = NULL;
  CHECK(!cubeBackendOpen("cuda", &plan, &be, err, sizeof err) && be == NULL);
  CHECK(strstr(err, "no CUDA driver found (libcuda.so.1 could not be loaded: ") ||
        strstr(err, "this build of cube has no CUDA backend"));
  cubePlanFree(&plan);
}

int main(void) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  haveCuda = lib != NULL && !getenv("CUBE_TEST_NO_CUDA");
  if (lib) dlclose(lib);
  if (haveCuda) printf("libcuda.so.1 found: gemm cases also run on --device cuda\n");
  testGemm();
  testCopyAndBounds();
  testNoDriver();
  return CHECK_REPORT();
}
