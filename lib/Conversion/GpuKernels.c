/* The table of gpu-dialect kernels (cube/GpuKernels.h): which cube ops have one on target=cuda. */
#include "cube/GpuKernels.h"

#include <stdio.h>

#include "cube/Ops.h"

typedef struct {
  const char *mnemonic;
  bool (*applies)(MlirOperation op);
  int (*scratch)(MlirOperation op, MlirType *types);
  bool (*text)(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);
} GpuKernel;

static const GpuKernel kGpuKernels[] = {
    {"attention", cubeGpuAttentionApplies, cubeGpuAttentionScratch, cubeGpuAttentionText},
    {"attention_grad", cubeGpuAttentionApplies, cubeGpuAttentionScratch, cubeGpuAttentionText},
    {"rmsnorm", cubeGpuRowsApplies, cubeGpuRowsScratch, cubeGpuRowsText},
    {"rmsnorm_grad", cubeGpuRowsApplies, cubeGpuRowsScratch, cubeGpuRowsText},
    {"cross_entropy", cubeGpuRowsApplies, cubeGpuRowsScratch, cubeGpuRowsText},
    {"cross_entropy_grad", cubeGpuRowsApplies, cubeGpuRowsScratch, cubeGpuRowsText},
    {"sumsq", cubeGpuRowsApplies, cubeGpuRowsScratch, cubeGpuRowsText},
    {"softmax", cubeGpuRowsApplies, cubeGpuRowsScratch, cubeGpuRowsText},
    {"softmax_grad", cubeGpuRowsApplies, cubeGpuRowsScratch, cubeGpuRowsText},
    {"embedding_grad", cubeGpuRowsApplies, cubeGpuRowsScratch, cubeGpuRowsText},
    {"transpose", cubeGpuTransposeApplies, cubeGpuNoScratch, cubeGpuTransposeText},
    {"rope", cubeGpuRopeApplies, cubeGpuNoScratch, cubeGpuRopeText},
    {"rope_grad", cubeGpuRopeApplies, cubeGpuNoScratch, cubeGpuRopeText},
#define EW(name) {name, cubeGpuElementwiseApplies, cubeGpuNoScratch, cubeGpuElementwiseText}
    EW("add"), EW("sub"), EW("mul"), EW("div"), EW("minimum"), EW("neg"), EW("exp"), EW("rsqrt"), EW("silu"),
    EW("scale"), EW("cast"), EW("silu_grad"),
#undef EW
};

int cubeGpuNoScratch(MlirOperation op, MlirType *types) {
  (void)op;
  (void)types;
  return 0;
}

static const GpuKernel *find(MlirOperation op) {
  for (size_t i = 0; i < sizeof kGpuKernels / sizeof kGpuKernels[0]; ++i)
    if (cubeIsOp(op, kGpuKernels[i].mnemonic)) return &kGpuKernels[i];
  return NULL;
}

bool cubeGpuKernelApplies(MlirOperation op) {
  const GpuKernel *k = find(op);
  return k && k->applies(op);
}

int cubeGpuKernelScratch(MlirOperation op, MlirType *types) {
  const GpuKernel *k = find(op);
  return k ? k->scratch(op, types) : 0;
}

bool cubeGpuKernelText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize) {
  const GpuKernel *k = find(op);
  if (!k || !k->applies(op)) {
    snprintf(err, errSize, "no GPU kernel for this op and its shapes");
    return false;
  }
  return k->text(op, name, out, err, errSize);
}
