/* Fusion of elementwise chains (docs/codegen.md "cube-fuse"): what cube-fuse may group, how a group's inputs
 * and outputs are found, and the names the fused kernels carry, shared by cube-fuse (which marks groups),
 * cube-group-kernels (which outlines each group into one kernel function) and the fused kernel generators
 * (linalg: lib/Conversion/KernelsFused.c; gpu dialect: lib/Conversion/GpuFused.c).
 *
 * A group is a run of consecutive ops of one block carrying the same `cube.fuse_group = N : i64`
 * (cube-fuse orders them so); the fused kernel function is
 *   func.func private @k<N>_fused(inputs..., outs...) attributes {cube.kernel = "cube.fused",
 *       cube.kernel_inputs = I, cube.kernel_scratch = 0, cube.kernel_outs = O, cube.fused_ops = "cube.add,..."}
 * whose body is the group's ops (operands: the input arguments or earlier ops' results) and whose return
 * gives the outputs, in the order of the ops that define them. */
#ifndef CUBE_FUSE_H
#define CUBE_FUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cube/Rewrite.h"
#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUBE_ATTR_FUSE_GROUP "cube.fuse_group" /* i64, on the ops of one fuse group (cube-fuse) */
#define CUBE_FUSED_KERNEL "cube.fused"         /* cube.kernel of a fused kernel function, cube.op of its call */
#define CUBE_ATTR_FUSED_OPS "cube.fused_ops"   /* string, on a fused kernel function: its ops in order */

#define CUBE_FUSE_MAX_INPUTS 8  /* the kernel argument limits (cube/KernelGen.h KArgs) */
#define CUBE_FUSE_MAX_OUTPUTS 3
#define CUBE_FUSE_MAX_OPS 32    /* hard limit; cube-fuse's max-ops option (default 16) is at most this */

/* True for an op a fuse group may hold: neg exp rsqrt silu scale cast (1 operand) or add sub mul div minimum
 * silu_grad (2), one result, every operand and the result static tensors with the same, non-zero, number of
 * elements (no broadcasting) and f32/bf16/f16 elements, and no cube.kernel_gpu or cube.gemm marking. */
bool cubeFuseOpFusable(MlirOperation op);
/* True for a scale by exactly 1.0 that keeps its type (cube-group-kernels drops it: no kernel). */
bool cubeFuseIsIdentity(MlirOperation op);

/* The ops of one group, in order, and what the fused kernel reads and writes. */
typedef struct {
  int nOps, nIn, nOut;
  MlirOperation ops[CUBE_FUSE_MAX_OPS];
  MlirValue in[CUBE_FUSE_MAX_INPUTS];   /* distinct operands not defined in the group, in first-use order */
  MlirValue out[CUBE_FUSE_MAX_OUTPUTS]; /* results used outside the group (or not at all), in op order */
  int64_t n;                            /* elements of every value */
} CubeFuseGroup;

/* Fills g->in/out/n from g->ops. False when a cap is exceeded (nIn/nOut then count past the caps, the
 * arrays hold the first ones) or there is no output. */
bool cubeFuseGroupIO(CubeFuseGroup *g);

/* The group starting at `first` (which carries cube.fuse_group): the run of consecutive ops with the same
 * id, checked (fusable, one element count, within the caps). *after gets the op following the run (set
 * even on failure); *id the group id. False with a message otherwise. */
bool cubeFuseGroupAt(MlirOperation first, CubeFuseGroup *g, int64_t *id, MlirOperation *after, char *err,
                     size_t errSize);

/* True for a kernel function made from a fuse group (cube.kernel = "cube.fused"). */
bool cubeIsFusedKernel(MlirOperation fn);
/* The group held by a fused kernel function: its ops (the body's cube ops), inputs (the first nIn entry
 * block arguments) and outputs (the returned values). False with a message when the body is not that. */
bool cubeFusedKernelBody(MlirOperation fn, CubeFuseGroup *g, char *err, size_t errSize);
/* The linalg kernel function `name` of a fused kernel function (lib/Conversion/KernelsFused.c), as text. */
bool cubeFusedKernelText(MlirOperation fn, const char *name, CubeBuf *out, char *err, size_t errSize);
/* target=cuda (lib/Conversion/GpuFused.c): whether the vectorised gpu-dialect kernel takes the fused kernel
 * function (its element count a multiple of the vector width), and that kernel's memref function as text. */
bool cubeGpuFusedApplies(MlirOperation fn);
bool cubeGpuFusedText(MlirOperation fn, const char *name, CubeBuf *out, char *err, size_t errSize);
/* The index of v among vals[0..n), or -1. */
int cubeFuseIndexOf(const MlirValue *vals, int n, MlirValue v);
/* True when a later op of the group reads the result of op j (the fused kernels then round a bf16/f16
 * intermediate and extend it again, as the unfused kernel's store and load would). */
bool cubeFuseReadLater(const CubeFuseGroup *g, int j);

#ifdef __cplusplus
}
#endif
#endif
