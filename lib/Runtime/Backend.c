/* Backend selection and the checked entry points shared by the backends: every host<->arena transfer is
 * bounds-checked here once, so the backends only move bytes. */
#include "cube/Runtime.h"

#include <stdio.h>
#include <string.h>

/* A plan with `call` steps runs only on the CPU, one with `launch` steps only on CUDA; a plan of gemm and
 * copy steps only runs on either (tests compare the two). */
static bool runsOn(const CubePlan *plan, CubeStepOp foreign, char *err, size_t errSize) {
  for (size_t i = 0; i < plan->nSteps; ++i)
    if (plan->steps[i].op == foreign) {
      snprintf(err, errSize, "%s: the artifact was compiled for target %s; run it with --device %s", plan->path,
               plan->target, plan->target);
      return false;
    }
  return true;
}

bool cubeBackendOpenRank(const char *device, const CubePlan *plan, CubeComm *comm, CubeBackend **out, char *err,
                         size_t errSize) {
  *out = NULL;
  if (!strcmp(device, "cpu"))
    return runsOn(plan, CUBE_STEP_LAUNCH, err, errSize) && cubeBackendOpenCpu(plan, comm, out, err, errSize);
  if (!strcmp(device, "cuda"))
    return runsOn(plan, CUBE_STEP_CALL, err, errSize) && cubeBackendOpenCuda(plan, comm, out, err, errSize);
  snprintf(err, errSize, "unknown device '%s' (expected cpu or cuda)", device);
  return false;
}

bool cubeBackendOpen(const char *device, const CubePlan *plan, CubeBackend **out, char *err, size_t errSize) {
  return cubeBackendOpenRank(device, plan, NULL, out, err, errSize);
}

bool cubeBackendWrite(CubeBackend *be, uint64_t offset, const void *src, uint64_t bytes, char *err, size_t errSize) {
  if (!cubeRangeInside(offset, bytes, be->plan->arenaBytes)) {
    snprintf(err, errSize, "write of %llu bytes at offset %llu is outside the arena (%llu bytes)",
             (unsigned long long)bytes, (unsigned long long)offset, (unsigned long long)be->plan->arenaBytes);
    return false;
  }
  return bytes == 0 || be->ops->write(be, offset, src, bytes, err, errSize);
}

bool cubeBackendRead(CubeBackend *be, uint64_t offset, void *dst, uint64_t bytes, char *err, size_t errSize) {
  if (!cubeRangeInside(offset, bytes, be->plan->arenaBytes)) {
    snprintf(err, errSize, "read of %llu bytes at offset %llu is outside the arena (%llu bytes)",
             (unsigned long long)bytes, (unsigned long long)offset, (unsigned long long)be->plan->arenaBytes);
    return false;
  }
  return bytes == 0 || be->ops->read(be, offset, dst, bytes, err, errSize);
}

bool cubeBackendRun(CubeBackend *be, char *err, size_t errSize) {
  if (be->profile) return cubeProfileRun(be, err, errSize);
  return be->ops->run(be, 0, be->plan->nSteps, err, errSize) && be->ops->sync(be, err, errSize);
}

void cubeBackendClose(CubeBackend *be) {
  if (!be) return;
  cubeProfileFree(be->profile);
  be->profile = NULL;
  be->ops->close(be);
}
