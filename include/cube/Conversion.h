/* Codegen of the forward pass (docs/codegen.md): the passes that take a traced model to an artifact that
 * cube-run executes (docs/plan-format.md), and the pieces they share.
 *
 *   cube-prepare-forward      checkpoints inlined (scopes made absolute), dropout removed (eval)
 *   cube-group-kernels        every compute op of @forward outlined into a kernel function
 *                             `func.func private @k<N>_<op>(inputs..., scratch..., out)`; on target=cuda
 *                             linear/matmul stay in @forward marked as GEMM steps
 *   cube-lower-to-linalg      every kernel body written in linalg on tensors (destination-passing style)
 *   cube-emit{out target chip} kernels lowered to PTX (cuda) or kernels.so (cpu), plan.json written
 *
 * Between the passes the IR is ordinary MLIR: @forward holds cube.param, cube.reshape (a buffer alias),
 * GEMM-marked cube.linear/cube.matmul, `tensor.empty` (the out and scratch buffers of a kernel) and
 * `func.call @k<N>_<op>(...) {cube.op = "cube.<op>", cube.scope = "..."}` (one kernel step each). */
#ifndef CUBE_CONVERSION_H
#define CUBE_CONVERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cube/Rewrite.h"
#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- attributes ---------------------------------------------------------------------------------------- */

#define CUBE_ATTR_KERNEL "cube.kernel"                 /* kernel func.func: the op it computes ("cube.rmsnorm") */
#define CUBE_ATTR_KERNEL_INPUTS "cube.kernel_inputs"   /* i64: its first N arguments are the op's operands */
#define CUBE_ATTR_KERNEL_SCRATCH "cube.kernel_scratch" /* i64: then M scratch tensors, then the out tensor */
#define CUBE_ATTR_KERNEL_OUTS "cube.kernel_outs"       /* i64, absent = 1: the number of out tensors (results;
                                                          an in-place op's updated operands) */
#define CUBE_ATTR_STEP_OP "cube.op"                    /* on a kernel call: the cube op it came from */
#define CUBE_ATTR_GEMM "cube.gemm"                     /* unit, on cube.linear/cube.matmul: a GEMM step */
#define CUBE_ATTR_GEMM_ALPHA "cube.gemm_alpha"         /* f64, on a cube.gemm op: its result is alpha * A B */
#define CUBE_ATTR_GEMM_ACC "cube.gemm_accumulate"      /* unit, on a cube.add(x, gemm): the GEMM adds into x */
#define CUBE_ATTR_TARGET "cube.target"                 /* module: the target cube-group-kernels grouped for */

typedef enum { CUBE_TARGET_CPU, CUBE_TARGET_CUDA } CubeTarget;

/* "cpu" or "cuda"; false (with a message) otherwise. */
bool cubeParseTarget(const char *s, CubeTarget *t, char *err, size_t errSize);
/* The forward function: @forward, or the module's only func.func with a body that is not a kernel or an
 * outlined (cube-recompute) function. Null op (with a message) when there is none or it is ambiguous. */
MlirOperation cubeFindForward(MlirOperation module, char *err, size_t errSize);
/* The function to compile (the passes' `func=` option, docs/codegen.md "Training plans"): "" or "forward"
 * is cubeFindForward; any other name (train_step, grad_step) must be a function with a body. Null op (with a
 * message) otherwise. */
MlirOperation cubeFindProgram(MlirOperation module, const char *func, char *err, size_t errSize);
#define CUBE_ATTR_PROGRAM "cube.program" /* module: the function cube-group-kernels grouped (string) */
/* True for a func.func that cube-group-kernels made (it carries cube.kernel). */
bool cubeIsKernelFunc(MlirOperation op);

/* ---- CUDA chips ------------------------------------------------------------------------------------------ */

/* Checks an NVPTX chip name against LLVM 22's list (before MLIR sees it: a chip without the PTX version it
 * needs is a fatal error in LLVM). *ptx gets the PTX ISA version to use (x10): max(80, the chip's minimum). */
bool cubeCudaChipCheck(const char *chip, int *ptx, char *err, size_t errSize);
/* The CUDA toolkit directory holding nvvm/libdevice/libdevice.10.bc: `hint` when given, else $CUDA_HOME,
 * $CUDA_PATH, /usr/local/cuda, /usr/lib/cuda. NULL when none has libdevice. */
const char *cubeCudaToolkit(const char *hint, char *buf, size_t n);

/* ---- kernel lowering (used by cube-emit) ---------------------------------------------------------------- */

/* One argument of a GPU kernel launch: a buffer (which argument of the kernel function, and a byte offset
 * into it) or a scalar constant. */
typedef struct {
  bool scalar;
  int arg;
  int64_t offset;
  char type[8]; /* scalar: "i64", "i32", "f32" */
  int64_t i;
  double f;
} CubeLaunchArg;

typedef struct {
  char func[256]; /* the kernel function (k3_rmsnorm) */
  char name[272]; /* the PTX entry (k3_rmsnorm_0) */
  int64_t grid[3], block[3];
  int64_t sharedBytes;    /* dynamic shared memory (registered PTX kernels; 0 for cube's own) */
  char kernelsFile[128];  /* the PTX module holding the entry, in the artifact; "" = kernels.ptx */
  int nArgs;
  CubeLaunchArg *args;
} CubeLaunch;

typedef struct {
  CubeLaunch *v;
  size_t n, cap;
} CubeLaunchList;

/* Appends a copy of *x (its args array now owned by the list); false when out of memory. */
bool cubeLaunchListAdd(CubeLaunchList *l, const CubeLaunch *x);
void cubeLaunchListFree(CubeLaunchList *l);

/* Runs an upstream pipeline (a bare list, e.g. "canonicalize,cse") on `op` with a pass manager of its own;
 * failures are diagnostics at `diagAt` naming `what`. */
bool cubeRunPipeline(MlirOperation op, const char *pipeline, MlirOperation diagAt, const char *what);
/* A new module holding copies of the kernel functions of `module`, bufferized (memref arguments, no
 * results: the out argument is written in place). Errors are diagnostics at `module`; null on failure. */
MlirModule cubeBufferizeKernels(MlirOperation module);
/* `dump` (optional) receives the lowered kernel module: the LLVM dialect (cpu), or the host functions with
 * their gpu.launch_func and the outlined GPU kernels, before NVVM (cuda). */
/* target=cpu: lowers the bufferized kernels to LLVM, compiles them for the host CPU and links dir/name
 * (written atomically) with the system C compiler ($CC or cc). */
bool cubeLowerKernelsCpu(MlirModule kernels, MlirOperation diagAt, const char *dir, const char *name,
                         CubeBuf *dump);
/* target=cuda: lowers the bufferized kernels to GPU launches, records each launch (in program order per
 * kernel function) into `launches`, and returns the PTX text (malloc'ed) for `chip`. */
char *cubeLowerKernelsCuda(MlirModule kernels, MlirOperation diagAt, const char *chip, int ptx,
                           const char *toolkit, CubeLaunchList *launches, CubeBuf *dump);

/* ---- the plan ------------------------------------------------------------------------------------------- */

/* plan.json (docs/plan-format.md) of the grouped @forward of `module`, as text (malloc'ed); `launches` is
 * used for target=cuda. NULL with diagnostics on failure. */
char *cubePlanJson(MlirOperation module, CubeTarget target, const char *chip, const CubeLaunchList *launches);

/* Plan options: `func` the function to plan ("" = the grouped one), `planMemory` liveness-based reuse of
 * activation/scratch memory (cube-plan-memory semantics), `report` the memory table printed to stderr. */
typedef struct {
  const char *func;
  bool planMemory, report;
} CubePlanOptions;
char *cubePlanJsonOpts(MlirOperation module, CubeTarget target, const char *chip, const CubeLaunchList *launches,
                       const CubePlanOptions *opts);

/* The plan's `lora` object (docs/plan-format.md) from the module attribute `cube.lora`, or NULL when there is
 * none (lib/Conversion/PlanLora.c). */
struct json_t *cubePlanLoraJson(MlirOperation module, MlirOperation fn);
/* Infers the LoRA options from the module's ops and records them as the module attribute `cube.lora` (a
 * dictionary; left alone when present). Called by cube-prepare-forward. */
void cubeLoraRecord(MlirOperation module);

/* ---- memory planning (lib/Conversion/MemPlan.c) --------------------------------------------------------- */

/* One buffer of the plan for the memory planner: `fixed` buffers (input, output, param, grad,
 * optimizer-state) never share memory; the others (activation, scratch) may reuse memory of buffers whose
 * live intervals [first, last] (step indices) do not intersect. An alias (aliasOf >= 0, a root) gets its
 * root's offset; the root's interval must already cover the alias's uses. */
typedef struct {
  int64_t bytes, first, last, offset;
  int aliasOf;
  bool fixed;
} CubeMemBuf;

/* Assigns offsets (multiples of `align`): fixed buffers one after another, then the others, with reuse
 * (best fit by interval) when `reuse`, else one after another too. Returns the arena size (aligned), or -1
 * when out of memory. */
int64_t cubeMemPlan(CubeMemBuf *bufs, size_t n, bool reuse, int64_t align);
/* The peak over steps of the summed bytes of the buffers with mask[i] set (roots only). */
int64_t cubeMemPeak(const CubeMemBuf *bufs, size_t n, const bool *mask);

/* Writes `len` bytes to dir/name through a temporary file and rename (never a half-written file). */
bool cubeWriteFileAtomic(const char *dir, const char *name, const void *data, size_t len, char *err, size_t errSize);

/* Kernel sharing (lib/Conversion/KernelDedup.c): the name of an earlier kernel function identical to fn (but
 * for its name and its ops' cube.scope / cube.recomputed / cube.fuse_group), or NULL after remembering fn as
 * `name` (also NULL when out of memory: fn then stays a kernel of its own). *d starts NULL. */
typedef struct CubeKernelDedup CubeKernelDedup;
const char *cubeKernelDedupFind(CubeKernelDedup **d, MlirOperation fn, const char *name);
void cubeKernelDedupFree(CubeKernelDedup *d);

#ifdef __cplusplus
}
#endif
#endif
