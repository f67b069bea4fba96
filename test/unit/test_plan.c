/* Unit test of plan.json loading (lib/Runtime/Plan.c, PlanCheck.c, PlanNames.c) and of the arena helpers:
 * a good plan parses into the expected structures; each kind of bad plan (edited from the good one with
 * jansson) is rejected with a message naming plan.json and the JSON path; range checks do not overflow. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cube/Plan.h"
#include "cube/Runtime.h"

static const char kGood[] =
    "{\"format\": \"cube-plan\", \"version\": 1, \"target\": \"cpu\", \"kernels_file\": \"kernels.so\",\n"
    " \"arena_bytes\": 1024, \"alignment\": 64,\n"
    " \"inputs\": [{\"name\": \"input_ids\", \"buffer\": \"ids\", \"vocab_size\": 100}],\n"
    " \"outputs\": [{\"name\": \"loss\", \"buffer\": \"loss\"}],\n"
    " \"buffers\": [\n"
    "  {\"name\": \"ids\", \"kind\": \"input\", \"dtype\": \"i64\", \"shape\": [2, 4], \"bytes\": 64, \"offset\": 0},\n"
    "  {\"name\": \"w\", \"kind\": \"param\", \"dtype\": \"bf16\", \"shape\": [4, 8], \"bytes\": 64, \"offset\": 64},\n"
    "  {\"name\": \"x\", \"kind\": \"activation\", \"dtype\": \"bf16\", \"shape\": [2, 4, 4], \"bytes\": 64, \"offset\": 128},\n"
    "  {\"name\": \"x2\", \"kind\": \"activation\", \"dtype\": \"bf16\", \"shape\": [8, 4], \"bytes\": 64, \"offset\": 128,\n"
    "   \"alias_of\": \"x\"},\n"
    "  {\"name\": \"y\", \"kind\": \"activation\", \"dtype\": \"bf16\", \"shape\": [8, 8], \"bytes\": 128, \"offset\": 192},\n"
    "  {\"name\": \"s\", \"kind\": \"scratch\", \"dtype\": \"f32\", \"shape\": [8], \"bytes\": 32, \"offset\": 320},\n"
    "  {\"name\": \"loss\", \"kind\": \"output\", \"dtype\": \"f32\", \"shape\": [], \"bytes\": 4, \"offset\": 384}],\n"
    " \"params\": [{\"name\": \"model.w\", \"buffer\": \"w\", \"dtype\": \"bf16\", \"shape\": [4, 8],\n"
    "              \"init\": \"normal(std=0.02)\", \"trainable\": false}],\n"
    " \"steps\": [\n"
    "  {\"op\": \"call\", \"kernel\": \"k0\", \"args\": [{\"buffer\": \"ids\"}, {\"buffer\": \"x\", \"offset\": 8, \"bytes\": 56, \"dtype\": \"bf16\"}],\n"
    "   \"cube_op\": \"cube.embedding\", \"scope\": \"model.embed\"},\n"
    "  {\"op\": \"gemm\", \"a\": {\"buffer\": \"x2\"}, \"b\": {\"buffer\": \"w\"}, \"c\": {\"buffer\": \"y\"}, \"bias\": null,\n"
    "   \"m\": 8, \"n\": 8, \"k\": 4, \"trans_a\": false, \"trans_b\": false, \"dtype\": \"bf16\", \"alpha\": 0.5},\n"
    "  {\"op\": \"copy\", \"src\": {\"buffer\": \"y\", \"offset\": 64}, \"dst\": {\"buffer\": \"s\"}, \"bytes\": 32}]}\n";

/* Sets (or with value NULL deletes) the member at a dotted path ("steps.1.k") of a copy of kGood and
 * returns the new text (malloc'ed). */
static char *edit(const char *path, const char *value) {
  json_t *root = json_loads(kGood, 0, NULL), *node = root;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  char *key = buf, *dot;
  while ((dot = strchr(key, '.'))) {
    *dot = 0;
    node = json_is_array(node) ? json_array_get(node, (size_t)atoi(key)) : json_object_get(node, key);
    key = dot + 1;
  }
  json_t *v = value ? json_loads(value, JSON_DECODE_ANY, NULL) : NULL;
  if (json_is_array(node)) {
    if (v) json_array_set_new(node, (size_t)atoi(key), v);
    else json_array_remove(node, (size_t)atoi(key));
  } else {
    if (v) json_object_set_new(node, key, v);
    else json_object_del(node, key);
  }
  char *text = json_dumps(root, 0);
  json_decref(root);
  return text;
}

static void expectBad(const char *path, const char *value, const char *needle) {
  char *text = edit(path, value);
  CubePlan p;
  char err[1024] = "";
  bool ok = cubePlanParse(text, strlen(text), "art/plan.json", "art", &p, err, sizeof err);
  CHECK(!ok);
  if (!ok) CHECK_STR_CONTAINS(err, needle);
  CHECK(!strncmp(err, "art/plan.json: ", 15));
  CHECK(p.buffers == NULL && p.nSteps == 0); /* left empty */
  free(text);
}

static void expectGood(const char *path, const char *value) {
  char *text = edit(path, value);
  CubePlan p;
  char err[1024] = "";
  bool ok = cubePlanParse(text, strlen(text), "art/plan.json", "art", &p, err, sizeof err);
  CHECK(ok);
  if (!ok) fprintf(stderr, "%s\n", err);
  else cubePlanFree(&p);
  free(text);
}

static void testGood(void) {
  CubePlan p;
  char err[1024] = "";
  bool ok = cubePlanParse(kGood, strlen(kGood), "art/plan.json", "art", &p, err, sizeof err);
  CHECK(ok);
  if (!ok) {
    fprintf(stderr, "%s\n", err);
    return;
  }
  CHECK(!strcmp(p.target, "cpu") && p.arenaBytes == 1024 && p.alignment == 64 && p.nBuffers == 7);
  CHECK(p.buffers[3].aliasOf == 2 && p.buffers[2].aliasOf == -1);
  CHECK(p.buffers[1].dtype == CUBE_DT_BF16 && p.buffers[1].kind == CUBE_BUF_PARAM && p.buffers[6].rank == 0);
  CHECK(p.nParams == 1 && p.params[0].buffer == 1 && !p.params[0].trainable);
  CHECK(p.params[0].init.kind == CUBE_INIT_NORMAL && p.params[0].init.std == 0.02);
  CHECK(p.nInputs == 1 && p.inputs[0].vocabSize == 100 && p.nOutputs == 1 && p.outputs[0].buffer == 6);
  CHECK(p.nSteps == 3 && p.steps[0].op == CUBE_STEP_CALL && p.steps[0].nArgs == 2);
  CHECK(p.steps[0].args[1].kind == CUBE_ARG_BUFFER && p.steps[0].args[1].ref.offset == 8);
  CHECK(p.steps[0].args[0].bytes == -1 && p.steps[0].args[1].bytes == 56);
  CHECK(!p.steps[0].args[0].hasDType && p.steps[0].args[1].hasDType && p.steps[0].args[1].dtype == CUBE_DT_BF16);
  CHECK(!strcmp(p.steps[0].scope, "model.embed") && !strcmp(p.steps[0].cubeOp, "cube.embedding"));
  const CubePlanStep *g = &p.steps[1];
  CHECK(g->op == CUBE_STEP_GEMM && g->m == 8 && g->n == 8 && g->k == 4 && g->batch == 1 && !g->hasBias);
  CHECK(g->alpha == 0.5 && g->beta == 0.0 && g->dtype == CUBE_DT_BF16 && g->a.buffer == 3);
  CHECK(p.steps[2].op == CUBE_STEP_COPY && p.steps[2].src.offset == 64 && p.steps[2].bytes == 32);
  CHECK(cubePlanFindBuffer(&p, "y") == 4 && cubePlanFindBuffer(&p, "nope") == -1);
  CHECK(cubePlanFindParam(&p, "model.w") == &p.params[0] && cubePlanFindInput(&p, "input_ids"));
  char *kp = cubePlanKernelsPath(&p);
  CHECK(!strcmp(kp, "art/kernels.so"));
  free(kp);
  cubePlanFree(&p);
  CHECK(p.buffers == NULL);
}

static void testBad(void) {
  expectBad("version", "2", "version: plan format version 2 is not supported (this runtime reads version 1)");
  expectBad("format", "\"onnx\"", "format: 'onnx' is not a cube plan");
  expectBad("format", NULL, "format: missing (expected a string)");
  expectBad("arena_bytes", "\"big\"", "arena_bytes: expected an integer");
  expectBad("alignment", "3", "alignment: 3 is not a power of two");
  expectBad("buffers", "{}", "buffers: missing or not an array");
  expectBad("buffers.0", "7", "buffers[0]: expected a JSON object");
  expectBad("buffers.0.shape", "[2, -4]", "buffers[0].shape[1]: expected a non-negative integer");
  expectBad("buffers.0.bytes", "63", "buffers[0].bytes: 63, but shape [2, 4] of i64 needs 64");
  expectBad("buffers.1.offset", "96", "buffers[1].offset: 96 is not a multiple of the alignment 64");
  expectBad("arena_bytes", "300", "buffers[4]: 'y' at [192, 320) is outside the arena of 300 bytes");
  expectBad("buffers.3.offset", "192", "buffers[3].alias_of: 'x2' is a view of 'x' but has offset 192");
  expectBad("buffers.3.alias_of", "\"x2\"", "buffers[3].alias_of: a buffer cannot alias itself");
  expectBad("buffers.3.alias_of", "\"q\"", "buffers[3].alias_of: unknown buffer 'q'");
  expectBad("buffers.2.name", "\"w\"", "buffers[2].name: duplicate buffer name 'w' (also buffers[1])");
  expectBad("buffers.2.kind", "\"weight\"", "buffers[2].kind: unknown kind 'weight'");
  expectBad("buffers.1.offset", "128", "buffers[1]: param buffer 'w' at [128, 192) overlaps buffer 'x' at [128, 192) "
            "(only activation and scratch buffers may share bytes)");
  expectBad("buffers.6.offset", "320", "buffers[6]: output buffer 'loss' at [320, 324) overlaps buffer 's' at [320, 352)");
  expectGood("buffers.4.offset", "128"); /* activations may share bytes (y over x and its alias x2) */
  expectBad("params.0.buffer", "\"x\"", "params[0].buffer: buffer 'x' has kind activation, expected param");
  expectBad("params.0.shape", "[8, 4]", "params[0].shape: [8, 4], but buffer 'w' is [4, 8]");
  expectBad("params.0.dtype", "\"f32\"", "params[0].dtype: f32, but buffer 'w' is bf16");
  expectBad("params.0.init", "\"normal(std=-1)\"", "params[0].init: 'normal(std=-1)' is not a valid initialiser");
  expectBad("params.0.trainable", "1", "params[0].trainable: expected true or false");
  expectBad("inputs.0.buffer", "\"zz\"", "inputs[0].buffer: unknown buffer 'zz'");
  expectBad("inputs.0.buffer", "\"x\"", "inputs[0].buffer: buffer 'x' has kind activation, expected input");
  expectBad("outputs", NULL, "outputs: missing or not an array");
  expectBad("steps.0.args.1.buffer", "\"t99\"", "steps[0].args[1].buffer: unknown buffer 't99'");
  expectBad("steps.0.args.1.offset", "64", "steps[0].args[1].offset: 64 is not inside buffer 'x' (64 bytes)");
  expectBad("steps.0.args.0.offset", "4",
            "steps[0].args[0].offset: 4 is not a multiple of the element size of buffer 'ids' (i64, 8 bytes)");
  expectBad("steps.0.args.1.bytes", "57", "steps[0].args[1]: the kernel accesses 57 bytes at offset 8 of buffer 'x', "
            "which has 64 bytes");
  expectBad("steps.0.args.0.dtype", "\"i32\"", "steps[0].args[0].dtype: the kernel takes i32, but buffer 'ids' is i64");
  expectBad("steps.0.args.0.dtype", "\"int\"", "steps[0].args[0].dtype: unknown dtype 'int'");
  expectBad("steps.1.b.offset", "3", "steps[1].b.offset: 3 is not a multiple of the element size of buffer 'w' (bf16");
  expectBad("steps.0.args.1", "{\"type\": \"i8\", \"value\": 1}", "steps[0].args[1].type: unknown scalar type 'i8'");
  expectBad("steps.0.args.1", "{\"value\": 1}", "steps[0].args[1]: expected {\"buffer\": NAME} or {\"type\"");
  expectBad("steps.0.args.1", "{\"type\": \"i32\", \"value\": 1}",
            "steps[0].args[1]: a scalar argument in a call step (the CPU kernel ABI passes buffers only)");
  expectBad("steps.0.kernel", NULL, "steps[0].kernel: missing (expected a string)");
  expectBad("steps.0.op", "\"launch\"", "steps[0].grid: expected [x, y, z]");
  expectBad("steps.1.k", "8", "steps[1].a: the gemm reads 128 bytes at offset 0 of buffer 'x2', which has 64 bytes");
  expectBad("steps.1.n", "16", "steps[1].b: the gemm reads 128 bytes at offset 0 of buffer 'w', which has 64 bytes");
  expectBad("steps.1.batch", "2", "steps[1].stride_c: 0 with batch 2: the batches would overwrite one another");
  expectBad("steps.1.c", "{\"buffer\": \"s\"}", "steps[1].c: buffer 's' is f32 but the gemm's dtype is bf16");
  expectBad("steps.1.bias", "{\"buffer\": \"x\", \"offset\": 56}",
            "steps[1].bias: the gemm reads 16 bytes at offset 56 of buffer 'x', which has 64 bytes");
  expectBad("steps.1.dtype", "\"i64\"", "steps[1].dtype: i64: gemm steps take f32, bf16 or f16");
  expectBad("steps.1.m", "0", "steps[1].m: 0 is outside [1, 2147483648]");
  expectBad("steps.2.bytes", "68", "steps[2].src: the copy reads 68 bytes at offset 64 of buffer 'y', which has 128");
  expectBad("steps.2.dst.offset", "4", "steps[2].dst: the copy writes 32 bytes at offset 4 of buffer 's', which has 32");
  expectBad("steps.2.src", NULL, "steps[2].src: missing");
  expectBad("steps.2.op", "\"conv\"", "steps[2].op: unknown op 'conv' (expected call, launch, gemm, copy, all_reduce or wait)");
  expectBad("target", "\"cuda\"", "steps[0].op: 'call' steps are for target cpu, but this plan's target is cuda");
}

static void testGemmExtentOverflow(void) {
  char *t1 = edit("steps.1.batch", "2147483648");
  json_t *root = json_loads(t1, 0, NULL);
  json_t *g = json_array_get(json_object_get(root, "steps"), 1);
  json_object_set_new(g, "stride_a", json_integer((json_int_t)1 << 40));
  json_object_set_new(g, "stride_c", json_integer(64));
  char *text = json_dumps(root, 0);
  CubePlan p;
  char err[1024] = "";
  CHECK(!cubePlanParse(text, strlen(text), "art/plan.json", "art", &p, err, sizeof err));
  CHECK_STR_CONTAINS(err, "steps[1].a: the gemm");
  free(t1);
  free(text);
  json_decref(root);
}

static void testLoad(void) {
  char dir[] = "/tmp/cube-plan-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256], err[1024] = "";
  CubePlan p;
  CHECK(!cubePlanLoad(dir, &p, err, sizeof err));
  CHECK_STR_CONTAINS(err, "/plan.json: cannot open: No such file or directory");
  snprintf(path, sizeof path, "%s/plan.json", dir);
  FILE *f = fopen(path, "w");
  fwrite(kGood, 1, strlen(kGood) / 2, f); /* truncated */
  fclose(f);
  CHECK(!cubePlanLoad(dir, &p, err, sizeof err));
  CHECK_STR_CONTAINS(err, "/plan.json: not valid JSON (truncated or corrupted?)");
  f = fopen(path, "w");
  fputs(kGood, f);
  fclose(f);
  CHECK(cubePlanLoad(dir, &p, err, sizeof err));
  CHECK(p.nSteps == 3 && !strcmp(p.dir, dir));
  cubePlanFree(&p);
  CHECK(cubePlanLoad(path, &p, err, sizeof err)); /* the plan file itself */
  CHECK(!strcmp(p.dir, dir));
  cubePlanFree(&p);
  remove(path);
  rmdir(dir);
}

static void testArena(void) {
  CHECK(cubeRangeInside(0, 0, 0) && cubeRangeInside(0, 10, 10) && cubeRangeInside(10, 0, 10));
  CHECK(!cubeRangeInside(1, 10, 10) && !cubeRangeInside(11, 0, 10));
  CHECK(!cubeRangeInside(UINT64_MAX, 2, 100) && !cubeRangeInside(2, UINT64_MAX, 100));
  CHECK(!cubeRangeInside(UINT64_MAX - 1, 2, UINT64_MAX)); /* offset + bytes would wrap to 0 */
  char err[256] = "";
  unsigned char *a = cubeArenaAllocHost(1000, 256, err, sizeof err);
  CHECK(a && ((uintptr_t)a % 256) == 0);
  int zero = 1;
  for (int i = 0; a && i < 1000; ++i) zero &= a[i] == 0;
  CHECK(zero);
  free(a);
  a = cubeArenaAllocHost(0, 1, err, sizeof err);
  CHECK(a && ((uintptr_t)a % 64) == 0);
  free(a);
  CHECK(cubeArenaAllocHost(100, 48, err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "not a power of two");
  CHECK(cubeArenaAllocHost(UINT64_MAX - 10, 64, err, sizeof err) == NULL);
  CHECK_STR_CONTAINS(err, "too large");
}

static void testNames(void) {
  CubeDType t;
  CHECK(cubePlanDTypeParse("bf16", &t) && t == CUBE_DT_BF16 && !strcmp(cubePlanDTypeName(CUBE_DT_I64), "i64"));
  CHECK(!cubePlanDTypeParse("F32", &t)); /* plan.json spells dtypes as MLIR does, not as safetensors */
  CHECK(!strcmp(cubeBufferKindName(CUBE_BUF_OPTIMIZER_STATE), "optimizer-state"));
  int64_t shape[3] = {2, 16, 64};
  char buf[64];
  CHECK(!strcmp(cubeShapeString(shape, 3, buf, sizeof buf), "[2, 16, 64]") && cubeShapeNumel(shape, 3) == 2048);
  CHECK(!strcmp(cubeShapeString(shape, 0, buf, sizeof buf), "[]") && cubeShapeNumel(shape, 0) == 1);
}

int main(void) {
  testGood();
  testBad();
  testGemmExtentOverflow();
  testLoad();
  testArena();
  testNames();
  return CHECK_REPORT();
}
