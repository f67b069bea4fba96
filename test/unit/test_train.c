/* Training support in lib/Runtime: the lr schedules (HF's formulas, values computed by hand), the plan
 * fingerprint, optimizer-state init, and a checkpoint save/load round trip with its failure modes, on a
 * train_step plan of copy steps only (no kernels file needed). */
#include "check.h"
#include "cube/Runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char kPlan[] =
    "{\"format\": \"cube-plan\", \"version\": 1, \"program\": \"train_step\", \"target\": \"cpu\", "
    "\"arena_bytes\": 512, \"alignment\": 64,"
    "\"inputs\": [{\"name\": \"input_ids\", \"buffer\": \"ids\"}, {\"name\": \"lr\", \"buffer\": \"lr\"},"
    " {\"name\": \"step\", \"buffer\": \"step\"}],"
    "\"outputs\": [{\"name\": \"loss\", \"buffer\": \"loss\"}, {\"name\": \"grad_norm\", \"buffer\": \"gn\"}],"
    "\"buffers\": ["
    " {\"name\": \"ids\", \"kind\": \"input\", \"dtype\": \"i64\", \"shape\": [1, 2], \"bytes\": 16, \"offset\": 0},"
    " {\"name\": \"lr\", \"kind\": \"input\", \"dtype\": \"f32\", \"shape\": [], \"bytes\": 4, \"offset\": 64},"
    " {\"name\": \"step\", \"kind\": \"input\", \"dtype\": \"i64\", \"shape\": [], \"bytes\": 8, \"offset\": 128},"
    " {\"name\": \"loss\", \"kind\": \"output\", \"dtype\": \"f32\", \"shape\": [], \"bytes\": 4, \"offset\": 192},"
    " {\"name\": \"gn\", \"kind\": \"output\", \"dtype\": \"f32\", \"shape\": [], \"bytes\": 4, \"offset\": 256},"
    " {\"name\": \"w\", \"kind\": \"param\", \"dtype\": \"f32\", \"shape\": [3], \"bytes\": 12, \"offset\": 320},"
    " {\"name\": \"m\", \"kind\": \"optimizer-state\", \"dtype\": \"f32\", \"shape\": [3], \"bytes\": 12, \"offset\": 384}],"
    "\"params\": [{\"name\": \"w.weight\", \"buffer\": \"w\", \"dtype\": \"f32\", \"shape\": [3], \"init\": \"ones\"}],"
    "\"state\": [{\"name\": \"w.weight.exp_avg\", \"param\": \"w.weight\", \"buffer\": \"m\", \"dtype\": \"f32\","
    " \"shape\": [3], \"init\": \"constant(value=0.5)\"}],"
    "\"steps\": [{\"op\": \"copy\", \"src\": {\"buffer\": \"lr\"}, \"dst\": {\"buffer\": \"loss\"}, \"bytes\": 4}]}";

static void testSchedules(void) {
  const double lr = 1.0;
  /* constant with warm-up 4: s/4 for s = 0..3, then 1. */
  CHECK(cubeScheduleLr(CUBE_SCHEDULE_CONSTANT, lr, 0, 4, 10, 1) == 0.0);
  CHECK(cubeScheduleLr(CUBE_SCHEDULE_CONSTANT, lr, 0, 4, 10, 3) == 0.5);
  CHECK(cubeScheduleLr(CUBE_SCHEDULE_CONSTANT, lr, 0, 4, 10, 5) == 1.0);
  CHECK(cubeScheduleLr(CUBE_SCHEDULE_CONSTANT, 0.1, 0, 0, 10, 1) == 0.1);
  /* linear, N = 10, W = 0: (10 - s) / 10. */
  CHECK(fabs(cubeScheduleLr(CUBE_SCHEDULE_LINEAR, lr, 0, 0, 10, 1) - 1.0) < 1e-15);
  CHECK(fabs(cubeScheduleLr(CUBE_SCHEDULE_LINEAR, lr, 0, 0, 10, 6) - 0.5) < 1e-15);
  CHECK(fabs(cubeScheduleLr(CUBE_SCHEDULE_LINEAR, lr, 0, 2, 10, 7) - 4.0 / 8.0) < 1e-15);
  /* cosine, N = 10, W = 2: 0.5 (1 + cos(pi (s - 2) / 8)); s = 6 gives 0.5. */
  CHECK(fabs(cubeScheduleLr(CUBE_SCHEDULE_COSINE, lr, 0, 2, 10, 2) - 0.5) < 1e-15); /* warm-up: 1/2 */
  CHECK(fabs(cubeScheduleLr(CUBE_SCHEDULE_COSINE, lr, 0, 2, 10, 3) - 1.0) < 1e-15);
  CHECK(fabs(cubeScheduleLr(CUBE_SCHEDULE_COSINE, lr, 0, 2, 10, 7) - 0.5) < 1e-15);
  /* min-lr 0.1: f (1 - 0.1) + 0.1. */
  CHECK(fabs(cubeScheduleLr(CUBE_SCHEDULE_COSINE, lr, 0.1, 2, 10, 7) - 0.55) < 1e-15);
  CHECK(fabs(cubeScheduleLr(CUBE_SCHEDULE_LINEAR, lr, 0.1, 0, 10, 11) - 0.1) < 1e-15);
  CubeSchedule s;
  CHECK(cubeScheduleParse("cosine", &s) && s == CUBE_SCHEDULE_COSINE);
  CHECK(!cubeScheduleParse("step", &s));
}

static void testCheckpoint(void) {
  CubePlan plan, other;
  CubeBackend *be = NULL;
  char err[2048], dir[256], path[512], got[512];
  CHECK(cubePlanParse(kPlan, strlen(kPlan), "t/plan.json", "t", &plan, err, sizeof err));
  CHECK(plan.program == CUBE_PROGRAM_TRAIN_STEP && plan.nStates == 1 && !plan.lora.present);
  CHECK(cubePlanFindState(&plan, "w.weight.exp_avg") && cubePlanFindState(&plan, "w.weight.exp_avg")->param == 0);
  /* The fingerprint changes with a parameter's name. */
  char *edited = strdup(kPlan);
  memcpy(strstr(edited, "\"w.weight\", \"buffer\""), "\"x", 2);
  memcpy(strstr(edited, "\"param\": \"w.weight\"") + 10, "x", 1);
  CHECK(cubePlanParse(edited, strlen(edited), "u/plan.json", "u", &other, err, sizeof err));
  CHECK(cubePlanFingerprint(&plan) != cubePlanFingerprint(&other));
  free(edited);

  CHECK(cubeBackendOpen("cpu", &plan, &be, err, sizeof err));
  CHECK(cubeParamsInit(&plan, be, 0, err, sizeof err) && cubeStatesInit(&plan, be, 0, err, sizeof err));
  float *m = NULL;
  CHECK(cubeBufferReadF32(&plan, be, plan.states[0].buffer, &m, err, sizeof err) && m[0] == 0.5f && m[2] == 0.5f);
  free(m);
  snprintf(dir, sizeof dir, "/tmp/cube_test_train.%d", (int)getpid());
  CubeCheckpointInfo info = {7, 9, 3, cubePlanFingerprint(&plan), 1.25}, back;
  float w[3] = {1.5f, -2.0f, 3.0f};
  CHECK(cubeBackendWrite(be, plan.buffers[plan.params[0].buffer].offset, w, 12, err, sizeof err));
  CHECK(cubeCheckpointSave(&plan, be, dir, &info, got, sizeof got, err, sizeof err));
  snprintf(path, sizeof path, "%s/checkpoint-7", dir);
  CHECK(!strcmp(got, path));
  /* Saving the same step again replaces it. */
  CHECK(cubeCheckpointSave(&plan, be, dir, &info, got, sizeof got, err, sizeof err));
  float zero[3] = {0, 0, 0};
  CHECK(cubeBackendWrite(be, plan.buffers[plan.params[0].buffer].offset, zero, 12, err, sizeof err));
  CHECK(cubeCheckpointLoad(&plan, be, dir, &back, got, sizeof got, err, sizeof err));
  CHECK(back.step == 7 && back.dataPosition == 9 && back.seed == 3 && back.lastLoss == 1.25 && !strcmp(got, path));
  float *wb = NULL;
  CHECK(cubeBufferReadF32(&plan, be, plan.params[0].buffer, &wb, err, sizeof err) && !memcmp(wb, w, 12));
  free(wb);
  /* Another model's plan. */
  CubeBackend *be2 = NULL;
  CHECK(cubeBackendOpen("cpu", &other, &be2, err, sizeof err));
  CHECK(!cubeCheckpointLoad(&other, be2, dir, &back, NULL, 0, err, sizeof err));
  CHECK_STR_CONTAINS(err, "the checkpoint is of another model");
  cubeBackendClose(be2);
  /* Half-written: no marker. */
  snprintf(path, sizeof path, "%s/checkpoint-7/COMPLETE", dir);
  CHECK(remove(path) == 0);
  CHECK(!cubeCheckpointLoad(&plan, be, dir, &back, NULL, 0, err, sizeof err));
  CHECK_STR_CONTAINS(err, "a half-written checkpoint (no COMPLETE marker");
  /* No temp directories are left behind. */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s | grep -v '^checkpoint-7$')\"", dir);
  CHECK(system(cmd) == 0);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  cubeBackendClose(be);
  cubePlanFree(&other);
  cubePlanFree(&plan);
}

static void testLoraParse(void) {
  CubePlan plan;
  char err[2048];
  const char *insert = "\"lora\": {\"r\": 4, \"alpha\": 8, \"targets\": [\"q_proj\", \"v_proj\"], \"use_rslora\": true},";
  size_t n = strlen(kPlan) + strlen(insert) + 1;
  char *text = malloc(n);
  const char *at = strstr(kPlan, "\"steps\"");
  snprintf(text, n, "%.*s%s%s", (int)(at - kPlan), kPlan, insert, at);
  CHECK(cubePlanParse(text, strlen(text), "t/plan.json", "t", &plan, err, sizeof err));
  CHECK(plan.lora.present && plan.lora.r == 4 && plan.lora.nTargets == 2 && !strcmp(plan.lora.bias, "none"));
  CHECK(fabs(cubePlanLoraScaling(&plan) - 4.0) < 1e-15); /* 8 / sqrt(4) */
  cubePlanFree(&plan);
  free(text);
}

int main(void) {
  testSchedules();
  testCheckpoint();
  testLoraParse();
  return CHECK_REPORT();
}
