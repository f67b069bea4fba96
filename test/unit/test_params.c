/* Unit test of parameter filling and batching (lib/Runtime/Params.c, Batch.c) on the CPU backend: init
 * specs draw exactly cubeInitFill's numbers (converted to bf16/f16 parameters); a safetensors file loads by
 * HF name with dtype conversion; missing and unexpected tensors are reported (errors with strict); a wrong
 * shape or dtype is an error before anything is written; token data is cut into [B, S] windows converted
 * to the inputs' dtypes; data shorter than one batch is an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cube/Init.h"
#include "cube/Runtime.h"
#include "cube/Safetensors.h"

static const char kPlan[] =
    "{\"format\": \"cube-plan\", \"version\": 1, \"target\": \"cpu\", \"arena_bytes\": 512, \"alignment\": 64,"
    " \"inputs\": [{\"name\": \"input_ids\", \"buffer\": \"ids\"}, {\"name\": \"labels\", \"buffer\": \"lab\"}],"
    " \"outputs\": [{\"name\": \"loss\", \"buffer\": \"loss\"}], \"buffers\": ["
    " {\"name\": \"ids\", \"kind\": \"input\", \"dtype\": \"i64\", \"shape\": [2, 3], \"bytes\": 48, \"offset\": 0},"
    " {\"name\": \"lab\", \"kind\": \"input\", \"dtype\": \"i32\", \"shape\": [2, 3], \"bytes\": 24, \"offset\": 64},"
    " {\"name\": \"emb\", \"kind\": \"param\", \"dtype\": \"f32\", \"shape\": [5, 2], \"bytes\": 40, \"offset\": 128},"
    " {\"name\": \"w\", \"kind\": \"param\", \"dtype\": \"bf16\", \"shape\": [2, 3], \"bytes\": 12, \"offset\": 192},"
    " {\"name\": \"b\", \"kind\": \"param\", \"dtype\": \"f16\", \"shape\": [3], \"bytes\": 6, \"offset\": 256},"
    " {\"name\": \"loss\", \"kind\": \"output\", \"dtype\": \"f32\", \"shape\": [], \"bytes\": 4, \"offset\": 320}],"
    " \"params\": ["
    " {\"name\": \"model.embed_tokens.weight\", \"buffer\": \"emb\", \"dtype\": \"f32\", \"shape\": [5, 2],"
    "  \"init\": \"normal(std=0.02)\", \"trainable\": true},"
    " {\"name\": \"lm.w\", \"buffer\": \"w\", \"dtype\": \"bf16\", \"shape\": [2, 3], \"init\": \"uniform(low=-1,high=1)\","
    "  \"trainable\": true},"
    " {\"name\": \"lm.b\", \"buffer\": \"b\", \"dtype\": \"f16\", \"shape\": [3], \"init\": \"constant(value=0.25)\","
    "  \"trainable\": false}],"
    " \"steps\": []}";

static CubePlan plan;
static CubeBackend *be;
static unsigned char *arena;
static char dir[] = "/tmp/cube-params-XXXXXX";

static const float *emb(void) { return (const float *)(arena + 128); }
static const uint16_t *w(void) { return (const uint16_t *)(arena + 192); }
static const uint16_t *b(void) { return (const uint16_t *)(arena + 256); }

static void testInit(void) {
  char err[1024] = "";
  CHECK(cubeParamsInit(&plan, be, 3, err, sizeof err));
  float want[10];
  int64_t s1[2] = {5, 2}, s2[2] = {2, 3};
  cubeInitFill(&plan.params[0].init, s1, 2, 3, "model.embed_tokens.weight", want);
  CHECK(!memcmp(emb(), want, sizeof want));
  cubeInitFill(&plan.params[1].init, s2, 2, 3, "lm.w", want);
  int same = 1;
  for (int i = 0; i < 6; ++i) same &= w()[i] == cubeF32ToBF16(want[i]);
  CHECK(same);
  CHECK(b()[0] == cubeF32ToF16(0.25f) && b()[2] == cubeF32ToF16(0.25f));
  float first = emb()[0];
  CHECK(cubeParamsInit(&plan, be, 4, err, sizeof err) && emb()[0] != first); /* another seed, other numbers */
  CHECK(cubeParamsInit(&plan, be, 3, err, sizeof err) && emb()[0] == first);
}

/* Writes DIR/NAME with the given tensors. */
static char *writeWeights(const char *name, const CubeTensorView *t, size_t n) {
  static char path[256];
  char err[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  CHECK(cubeSafetensorsWrite(path, t, n, NULL, err, sizeof err));
  return path;
}

static void testWeights(void) {
  float e[10], wv[6];
  uint16_t bv[3];
  int32_t iv[10] = {0};
  for (int i = 0; i < 10; ++i) e[i] = 0.5f * (float)i;
  for (int i = 0; i < 6; ++i) wv[i] = 1.0f / (float)(i + 1);
  for (int i = 0; i < 3; ++i) bv[i] = cubeF32ToBF16(-2.0f * (float)i);
  int64_t se[2] = {5, 2}, sw[2] = {2, 3}, sb[1] = {3}, sx[1] = {4}, swrong[2] = {3, 2};
  CubeTensorView good[4] = {{"model.embed_tokens.weight", CUBE_DT_F32, 2, se, e}, {"lm.w", CUBE_DT_F32, 2, sw, wv},
                            {"lm.b", CUBE_DT_BF16, 1, sb, bv}, {"extra.x", CUBE_DT_F32, 1, sx, e}};
  char err[1024] = "", *warnText = NULL;
  size_t warnLen = 0;
  CubeWeightsReport r;

  /* All three plus one unexpected: loaded and converted (f32 -> bf16, bf16 -> f16), one warning. */
  const char *path = writeWeights("extra.safetensors", good, 4);
  FILE *warn = open_memstream(&warnText, &warnLen);
  CHECK(cubeParamsLoadWeights(&plan, be, path, false, warn, &r, err, sizeof err));
  fclose(warn);
  CHECK(r.loaded == 3 && r.missing == 0 && r.unexpected == 1);
  CHECK_STR_CONTAINS(warnText, "extra.safetensors: 1 tensor in the file is not a parameter of the plan (ignored): extra.x");
  free(warnText);
  CHECK(!memcmp(emb(), e, sizeof e));
  CHECK(w()[1] == cubeF32ToBF16(0.5f) && w()[2] == cubeF32ToBF16(1.0f / 3.0f));
  CHECK(b()[2] == cubeF32ToF16(-4.0f));

  /* Strict: the unexpected tensor is an error and nothing is written. */
  CHECK(cubeParamsInit(&plan, be, 0, err, sizeof err));
  unsigned char before[512];
  memcpy(before, arena, sizeof before);
  CHECK(!cubeParamsLoadWeights(&plan, be, path, true, NULL, &r, err, sizeof err));
  CHECK_STR_CONTAINS(err, "extra.safetensors: 1 tensor in the file is not a parameter of the plan (--strict): extra.x");
  CHECK(!memcmp(before, arena, sizeof before));

  /* A missing parameter keeps its init (warning), or is an error with strict. */
  path = writeWeights("missing.safetensors", good, 2);
  warn = open_memstream(&warnText, &warnLen);
  CHECK(cubeParamsLoadWeights(&plan, be, path, false, warn, &r, err, sizeof err));
  fclose(warn);
  CHECK(r.loaded == 2 && r.missing == 1 && r.unexpected == 0);
  CHECK_STR_CONTAINS(warnText, "1 parameter of the plan is not in the file and keeps its init: lm.b");
  free(warnText);
  CHECK(b()[0] == cubeF32ToF16(0.25f) && emb()[3] == 1.5f);
  CHECK(!cubeParamsLoadWeights(&plan, be, path, true, NULL, &r, err, sizeof err));
  CHECK_STR_CONTAINS(err, "1 parameter of the plan is not in the file (--strict): lm.b");

  /* A wrong shape or a non-float dtype: an error, nothing written (embed comes first and is fine). */
  CHECK(cubeParamsInit(&plan, be, 0, err, sizeof err));
  memcpy(before, arena, sizeof before);
  CubeTensorView bad[3] = {good[0], {"lm.w", CUBE_DT_F32, 2, swrong, wv}, good[2]};
  path = writeWeights("shape.safetensors", bad, 3);
  CHECK(!cubeParamsLoadWeights(&plan, be, path, false, NULL, &r, err, sizeof err));
  CHECK_STR_CONTAINS(err, "shape.safetensors: tensor 'lm.w' has shape [3, 2], but the plan's parameter has shape [2, 3]");
  CHECK(!memcmp(before, arena, sizeof before));
  CubeTensorView ints[3] = {good[0], good[1], {"lm.b", CUBE_DT_I32, 1, sb, iv}};
  path = writeWeights("dtype.safetensors", ints, 3);
  CHECK(!cubeParamsLoadWeights(&plan, be, path, false, NULL, &r, err, sizeof err));
  CHECK_STR_CONTAINS(err, "tensor 'lm.b' has dtype I32; parameters load from F32, BF16, F16 or F64 tensors");
  CHECK(!memcmp(before, arena, sizeof before));
  CHECK(!cubeParamsLoadWeights(&plan, be, "/nonexistent/w.safetensors", false, NULL, &r, err, sizeof err));
  CHECK_STR_CONTAINS(err, "/nonexistent/w.safetensors: cannot open");
}

static void testBatches(void) {
  char err[1024] = "";
  CubeBatchLayout l;
  CHECK(cubeBatchLayout(&plan, &l, err, sizeof err));
  CHECK(l.batchSize == 2 && l.seqLen == 3 && l.tokensPerBatch == 6 && l.vocab == 5);
  CHECK(l.ids == &plan.inputs[0] && l.labels == &plan.inputs[1]);
  int32_t ids[13];
  for (int i = 0; i < 13; ++i) ids[i] = i % 5;
  CubeTokenData d = {5, 13, ids};
  uint64_t n;
  CHECK(cubeBatchCount(&l, &d, "t.tok", &n, err, sizeof err) && n == 2);
  CHECK(cubeBatchFill(&plan, &l, be, &d, 1, err, sizeof err));
  const int64_t *i64 = (const int64_t *)arena;
  const int32_t *i32 = (const int32_t *)(arena + 64);
  int ok = 1;
  for (int i = 0; i < 6; ++i) ok &= i64[i] == (6 + i) % 5 && i32[i] == (6 + i) % 5;
  CHECK(ok);
  CHECK(!cubeBatchFill(&plan, &l, be, &d, 2, err, sizeof err));
  CHECK_STR_CONTAINS(err, "batch 2 is past the end of the data");
  CubeTokenData shortData = {5, 5, ids};
  CHECK(!cubeBatchCount(&l, &shortData, "short.tok", &n, err, sizeof err));
  CHECK_STR_CONTAINS(err, "short.tok: 5 tokens is less than one batch of 2x3 = 6 tokens");
  int64_t out64[2];
  int32_t in[2] = {7, 2147483647};
  CHECK(cubeIdsConvert(in, 2, CUBE_DT_I64, out64) && out64[1] == 2147483647);
  CHECK(!cubeIdsConvert(in, 2, CUBE_DT_F32, out64));
}

int main(void) {
  char err[1024] = "";
  if (!mkdtemp(dir)) return 1;
  if (!cubePlanParse(kPlan, strlen(kPlan), "p/plan.json", "p", &plan, err, sizeof err) ||
      !cubeBackendOpen("cpu", &plan, &be, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  arena = cubeBackendCpuArena(be);
  testInit();
  testWeights();
  testBatches();
  cubeBackendClose(be);
  cubePlanFree(&plan);
  const char *files[] = {"extra", "missing", "shape", "dtype"};
  for (int i = 0; i < 4; ++i) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s.safetensors", dir, files[i]);
    remove(p);
  }
  rmdir(dir);
  return CHECK_REPORT();
}
