/* The table of cube passes. Adding a pass: write lib/Transforms/<Name>.c exposing a CubePassInfo, declare
 * it below and add one line to kPasses. cube-opt, --list-passes and the docs pick it up from here. */
#include "cube/Passes.h"

#include <string.h>

extern const CubePassInfo cubeVerifyPassInfo;
extern const CubePassInfo cubeFreezePassInfo;
extern const CubePassInfo cubeRecomputePassInfo;
extern const CubePassInfo cubeLoraPassInfo;
extern const CubePassInfo cubeAutodiffPassInfo;
extern const CubePassInfo cubeAttentionToMatmulPassInfo;
extern const CubePassInfo cubeCsePassInfo;
extern const CubePassInfo cubeMixedPrecisionPassInfo;
extern const CubePassInfo cubeChunkLossPassInfo;
extern const CubePassInfo cubeDataParallelPassInfo;
extern const CubePassInfo cubePrepareForwardPassInfo;
extern const CubePassInfo cubeFusePassInfo;
extern const CubePassInfo cubeGroupKernelsPassInfo;
extern const CubePassInfo cubeLowerToLinalgPassInfo;
extern const CubePassInfo cubeEmitPassInfo;

static const CubePassInfo *const kPasses[] = {
    &cubeVerifyPassInfo,
    &cubeFreezePassInfo,
    &cubeRecomputePassInfo,
    &cubeLoraPassInfo,
    &cubeMixedPrecisionPassInfo,
    &cubeAutodiffPassInfo,
    &cubeAttentionToMatmulPassInfo,
    &cubeCsePassInfo,
    &cubeChunkLossPassInfo,
    &cubeDataParallelPassInfo,
    &cubePrepareForwardPassInfo,
    &cubeFusePassInfo,
    &cubeGroupKernelsPassInfo,
    &cubeLowerToLinalgPassInfo,
    &cubeEmitPassInfo,
};

size_t cubePassCount(void) { return sizeof kPasses / sizeof kPasses[0]; }

const CubePassInfo *cubePassAt(size_t i) { return i < cubePassCount() ? kPasses[i] : NULL; }

const CubePassInfo *cubePassLookup(const char *argument, size_t len) {
  for (size_t i = 0; i < cubePassCount(); ++i)
    if (strlen(kPasses[i]->argument) == len && memcmp(kPasses[i]->argument, argument, len) == 0)
      return kPasses[i];
  return NULL;
}
