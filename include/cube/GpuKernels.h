/* Kernels written directly in the gpu dialect for target=cuda (docs/codegen.md, "GPU kernels"), used instead
 * of the linalg kernels of cube/KernelGen.h where they apply: cube-group-kernels{target=cuda} gives such a
 * kernel function the GPU kernel's scratch and the unit attribute cube.kernel_gpu; cube-lower-to-linalg
 * leaves its body (the cube op) alone; cube-emit writes it as a memref function of gpu.launch ops
 * (shared memory, barriers, one thread per row) next to the bufferized linalg kernels. */
#ifndef CUBE_GPUKERNELS_H
#define CUBE_GPUKERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "cube/KernelGen.h"
#include "cube/Rewrite.h"
#include "mlir-c/IR.h"

#define CUBE_ATTR_KERNEL_GPU "cube.kernel_gpu" /* unit, on a kernel func.func: written by cubeGpuKernelText */

/* True when op has a GPU kernel for its shapes and types. */
bool cubeGpuKernelApplies(MlirOperation op);
/* Its scratch tensor types (f32); returns the count. Only for ops where cubeGpuKernelApplies. */
int cubeGpuKernelScratch(MlirOperation op, MlirType *types);
/* The whole memref kernel function `name` (arguments: inputs, scratch, outs as flat memrefs, in the kernel
 * function's order) into out; false with a message when op has none. */
bool cubeGpuKernelText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

/* Per-op generators (lib/Conversion/Gpu*.c). cubeGpuNoScratch: the scratch of a kernel that needs none. */
int cubeGpuNoScratch(MlirOperation op, MlirType *types);
bool cubeGpuAttentionApplies(MlirOperation op);
int cubeGpuAttentionScratch(MlirOperation op, MlirType *types);
bool cubeGpuAttentionText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

/* cube.attention that the tensor-core forward takes: bf16 q/k/v/out, head dim 64, causal, S a multiple of 64
 * (GpuAttentionMma.c; cubeGpuAttentionText then writes it instead of the SIMT forward). */
bool cubeGpuAttentionMmaApplies(MlirOperation op);

bool cubeGpuRowsApplies(MlirOperation op);
int cubeGpuRowsScratch(MlirOperation op, MlirType *types);
bool cubeGpuRowsText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

bool cubeGpuElementwiseApplies(MlirOperation op);
bool cubeGpuElementwiseText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

bool cubeGpuRopeApplies(MlirOperation op);
bool cubeGpuRopeText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

bool cubeGpuTransposeApplies(MlirOperation op);
bool cubeGpuTransposeText(MlirOperation op, const char *name, CubeBuf *out, char *err, size_t errSize);

/* User-registered kernels (lib/Conversion/KernelRegistry.c, docs/kernel-registry.md). */
#define CUBE_ATTR_KERNEL_FILE "cube.kernel_file"         /* string: the registered kernel's .mlir file */
#define CUBE_ATTR_KERNEL_FUNCTION "cube.kernel_function" /* string: its func.func name */
/* The registry directory cube-group-kernels uses when its registry option is empty (cube-opt
 * --cube-kernel-registry=DIR sets it). */
void cubeKernelRegistrySetDefault(const char *dir);
const char *cubeKernelRegistryDefault(void);
typedef struct CubeKernelRegistry CubeKernelRegistry;
/* Reads DIR/kernels.json and each entry's function signature (files parsed in ctx); no DIR: *out = NULL, true.
 * A bad manifest, file or function is false with the message in err. */
bool cubeKernelRegistryLoad(MlirContext ctx, const char *dir, CubeKernelRegistry **out, char *err, size_t errSize);
void cubeKernelRegistryFree(CubeKernelRegistry *r);
/* Whether r registers a kernel for op's name; if so, its signature must fit op (else false with the message
 * in err) and *found is set with the file and function (owned by r). r NULL: true, not found. */
bool cubeKernelRegistryMatch(const CubeKernelRegistry *r, MlirOperation op, const char **file, const char **function,
                             bool *found, char *err, size_t errSize);
/* The registered function of a kernel function marked by cubeKernelRegistryMatch, cloned and renamed. */
bool cubeKernelRegistryText(MlirOperation kernelFn, const char *name, MlirOperation *out, char *err, size_t errSize);

#endif
