/* The per-op kernel table: which cube ops become kernels, the scratch tensors each kernel takes (shared by
 * cube-group-kernels, which puts them in the kernel's signature, and cube-lower-to-linalg, which uses them)
 * and the generator of its linalg body. param, reshape (a buffer alias) and dropout (removed for eval by
 * cube-prepare-forward) have no kernel, nor opt_state (a buffer, like param). An in-place op (nInplace > 0)
 * has no results: the operands listed in `inplace` are its kernel's outs. */
#include <string.h>

#include "cube/KernelGen.h"
#include "cube/Ops.h"

static int noScratch(MlirOperation op, MlirType *types) {
  (void)op;
  (void)types;
  return 0;
}

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
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
    /* backward and optimizer ops (docs/dialect.md "Backward and optimizer ops") */
    {"silu_grad", noScratch, kgenSiluGrad},    {"softmax_grad", kscrSoftmaxGrad, kgenSoftmaxGrad},
    {"rope_grad", noScratch, kgenRopeGrad},    {"reduce_sum", kscrReduceSum, kgenReduceSum},
    {"pad", noScratch, kgenPad},               {"sumsq", noScratch, kgenSumsq},
    {"embedding_grad", noScratch, kgenEmbeddingGrad},
    {"fill", noScratch, kgenFill},             {"minimum", noScratch, kgenElementwise},
    {"rmsnorm_grad", kscrRmsnormGrad, kgenRmsnormGrad},
    {"cross_entropy_grad", kscrCrossEntropyGrad, kgenCrossEntropyGrad},
    {"attention_grad", kscrAttentionGrad, kgenAttentionGrad},
    /* in place: param (operand 0), exp_avg (2), exp_avg_sq (3) are the kernel's outs */
    {"adamw_update", noScratch, kgenAdamwUpdate, 3, {0, 2, 3}},
};

const KernelSpec *cubeKernelSpecFor(MlirOperation op) {
  for (size_t i = 0; i < sizeof kSpecs / sizeof kSpecs[0]; ++i)
    if (cubeIsOp(op, kSpecs[i].mnemonic)) return &kSpecs[i];
  return NULL;
}
