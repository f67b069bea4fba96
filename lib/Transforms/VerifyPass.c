/* cube-verify: runs the C verifier (lib/Dialect/Verify.c) as a pass, so a pipeline can check the IR
 * between rewrites: builtin.module(cube-lora{...},cube-verify,...). */
#include "cube/Passes.h"
#include "cube/Verify.h"

static MlirLogicalResult runVerify(MlirOperation module, const CubeOptionValue *options) {
  (void)options;
  return cubeVerifyModule(module);
}

const CubePassInfo cubeVerifyPassInfo = {
    .argument = "cube-verify",
    .description = "Check shapes, element types, attribute ranges, checkpoint callees, the scope table "
                   "and unique parameter names of cube ops",
    .anchor = "builtin.module",
    .options = NULL,
    .nOptions = 0,
    .run = runVerify,
};
