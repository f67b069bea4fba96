/* The per-op kernel table: which cube ops become kernels, the scratch tensors each kernel takes (shared by
 * cube-group-kernels, which puts them in the kernel's signature, and cube-lower-to-linalg, which uses them)
 * and the generator of its linalg body. param, reshape (a buffer alias) and dropout (removed for eval by
 * cube-prepare-forward) have no kernel. */
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"

static int noScratch(MlirOperation op, MlirType *types) {
  (void)op;
  (void)types;
  return 0;
}

static const KernelSpec kSpecs[] = {
    {"add", noScratch, kgenElementwise},       {"sub", noScratch, kgenElementwise},
    {"mul", noScratch, kgenElementwise},       {"div", noScratch, kgenElementwise},
    {"neg", noScratch, kgenElementwise},       {"silu", noScratch, kgenElementwise},
    {"exp", noScratch, kgenElementwise},       {"rsqrt", noScratch, kgenElementwise},
    {"scale", noScratch, kgenElementwise},     {"cast", noScratch, kgenElementwise},
    {"transpose", noScratch, kgenTranspose},   {"slice", noScratch, kgenSlice},
    {"concat", noScratch, kgenConcat},         {"embedding", noScratch, kgenEmbedding},
    {"rmsnorm", kscrRmsnorm, kgenRmsnorm},     {"softmax", kscrSoftmax, kgenSoftmax},
    {"rope", noScratch, kgenRope},             {"attention", kscrAttention, kgenAttention},
    {"cross_entropy", kscrCrossEntropy, kgenCrossEntropy},
    {"linear", kscrLinear, kgenLinear},        {"matmul", kscrMatmul, kgenMatmul},
};

const KernelSpec *cubeKernelSpecFor(MlirOperation op) {
  for (size_t i = 0; i < sizeof kSpecs / sizeof kSpecs[0]; ++i)
    if (cubeIsOp(op, kSpecs[i].mnemonic)) return &kSpecs[i];
  return NULL;
}
