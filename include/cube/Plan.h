/* plan.json (docs/plan-format.md, format version 1) as C structures: the contract between the compiler,
 * which writes an artifact directory, and the runtime, which runs it. cubePlanLoad parses the file with
 * jansson and applies every load-time check of the format (version, buffers inside the arena and aligned,
 * aliases, parameters, every step's buffers known and large enough for the access the step describes);
 * each failure is one message naming plan.json and the JSON path, e.g.
 *   art/plan.json: steps[12].args[1].buffer: unknown buffer 't99'
 * That the kernels exist in the kernels file is checked by the backend when it loads them. */
#ifndef CUBE_PLAN_H
#define CUBE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cube/InitSpec.h"
#include "cube/Safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUBE_PLAN_VERSION 1

typedef enum {
  CUBE_BUF_INPUT,
  CUBE_BUF_OUTPUT,
  CUBE_BUF_PARAM,
  CUBE_BUF_GRAD,
  CUBE_BUF_OPTIMIZER_STATE,
  CUBE_BUF_ACTIVATION,
  CUBE_BUF_SCRATCH,
  CUBE_BUF_KIND_COUNT
} CubeBufferKind;

typedef struct {
  char *name;
  CubeBufferKind kind;
  CubeDType dtype;
  int rank;
  int64_t shape[CUBE_MAX_RANK];
  uint64_t bytes, offset;
  int aliasOf; /* index of the buffer this one views, or -1 */
} CubePlanBuffer;

typedef struct {
  char *name; /* the HF name */
  int buffer;
  CubeDType dtype;
  int rank;
  int64_t shape[CUBE_MAX_RANK];
  char *initText;
  CubeInitSpec init;
  bool trainable;
} CubePlanParam;

typedef struct {
  char *name;
  int buffer;
  uint32_t vocabSize; /* optional "vocab_size" of an integer id input; 0 if absent */
} CubePlanIO;

/* A reference to a buffer: arena + buffers[buffer].offset + offset. */
typedef struct {
  int buffer;
  uint64_t offset;
} CubePlanRef;

typedef enum { CUBE_ARG_BUFFER, CUBE_ARG_I64, CUBE_ARG_I32, CUBE_ARG_F32 } CubeArgKind;

typedef struct {
  CubeArgKind kind;
  CubePlanRef ref; /* CUBE_ARG_BUFFER */
  int64_t bytes;   /* CUBE_ARG_BUFFER: the optional "bytes" the kernel may access from ref; -1 if absent */
  bool hasDType;   /* CUBE_ARG_BUFFER: the optional "dtype" of the kernel's parameter */
  CubeDType dtype;
  int64_t i;       /* CUBE_ARG_I64, CUBE_ARG_I32 */
  double f;        /* CUBE_ARG_F32 */
} CubePlanArg;

/* One optimizer-state tensor of a training plan (plan.json's `state` table): AdamW's exp_avg/exp_avg_sq of a
 * parameter, in a buffer of kind optimizer-state, filled from its init spec before the first step and saved
 * in checkpoints under its name ("<param>.exp_avg"). */
typedef struct {
  char *name;
  int param;  /* index into params */
  int buffer;
  CubeDType dtype;
  int rank;
  int64_t shape[CUBE_MAX_RANK];
  char *initText;
  CubeInitSpec init;
} CubePlanState;

/* plan.json's optional `lora` object (a model compiled with --use-lora): what peft's adapter_config.json
 * needs. LoRA parameters are named "<module>.lora_A.weight" ([r, in]) and "<module>.lora_B.weight"
 * ([out, r]) beside the frozen "<module>.weight" ([out, in]). */
typedef struct {
  bool present;
  int64_t r;
  double alpha, dropout;
  char **targets;
  size_t nTargets;
  char *bias;      /* "none" (default), "all" or "lora_only" */
  bool useRslora;  /* scaling alpha/sqrt(r) instead of alpha/r */
  char *baseModel; /* optional "base_model_name_or_path", else NULL */
} CubePlanLora;

typedef enum { CUBE_PROGRAM_FORWARD, CUBE_PROGRAM_TRAIN_STEP } CubeProgram;

typedef enum {
  CUBE_STEP_CALL,
  CUBE_STEP_LAUNCH,
  CUBE_STEP_GEMM,
  CUBE_STEP_COPY,
  CUBE_STEP_ALL_REDUCE, /* start reducing a bucket of buffers over the ranks (in place) */
  CUBE_STEP_WAIT        /* the bucket's reduction has finished before the next step */
} CubeStepOp;

typedef struct {
  CubeStepOp op;
  /* call, launch */
  char *kernel;
  CubePlanArg *args;
  size_t nArgs;
  uint32_t grid[3], block[3], sharedBytes; /* launch */
  char *kernelsFile;                       /* launch: the PTX file in the artifact holding `kernel`; NULL = the plan's */
  /* gemm: row-major C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] (+ bias[n]) */
  CubePlanRef a, b, c, bias;
  bool hasBias, transA, transB;
  int64_t m, n, k, batch, strideA, strideB, strideC; /* strides in elements */
  CubeDType dtype;
  double alpha, beta;
  /* copy */
  CubePlanRef src, dst;
  uint64_t bytes;
  /* all_reduce, wait: the bucket; all_reduce: its buffers (each whole, from ref.offset 0) and avg or sum */
  int64_t bucket;
  int *buffers;
  size_t nBuffers;
  bool average;
  /* provenance, for messages and profiles */
  char *cubeOp, *scope;
} CubePlanStep;

typedef struct {
  char *path; /* ARTIFACT/plan.json, for messages */
  char *dir;  /* ARTIFACT */
  char target[8]; /* "cpu" or "cuda" */
  char *chip;     /* cuda only, else NULL */
  char *kernelsFile; /* as written (relative to dir) */
  uint64_t arenaBytes, alignment;
  CubePlanBuffer *buffers;
  size_t nBuffers;
  CubePlanParam *params;
  size_t nParams;
  CubePlanIO *inputs, *outputs;
  size_t nInputs, nOutputs;
  CubePlanStep *steps;
  size_t nSteps;
  CubeProgram program; /* "program": "forward" (default) or "train_step" */
  CubePlanState *states;
  size_t nStates;
  CubePlanLora lora;
  size_t nBuckets; /* all_reduce steps (buckets 0 .. nBuckets-1): a data-parallel plan when > 0 */
} CubePlan;

/* Reads ARTIFACT/plan.json. On failure returns false with the message in err and *out empty. */
bool cubePlanLoad(const char *artifactDir, CubePlan *out, char *err, size_t errSize);
/* Parses plan text; `path` names it in messages, `dir` is where the kernels file is looked for. */
bool cubePlanParse(const char *text, size_t len, const char *path, const char *dir, CubePlan *out, char *err,
                   size_t errSize);
void cubePlanFree(CubePlan *p);

/* The semantic checks after parsing (called by cubePlanParse; exposed for tests). */
bool cubePlanCheck(const CubePlan *p, char *err, size_t errSize);

int cubePlanFindBuffer(const CubePlan *p, const char *name);
const CubePlanIO *cubePlanFindInput(const CubePlan *p, const char *name);
const CubePlanIO *cubePlanFindOutput(const CubePlan *p, const char *name);
const CubePlanParam *cubePlanFindParam(const CubePlan *p, const char *name);
const CubePlanState *cubePlanFindState(const CubePlan *p, const char *name);
/* The LoRA scaling of the plan's `lora`: alpha / r, or alpha / sqrt(r) with use_rslora. */
double cubePlanLoraScaling(const CubePlan *p);
/* ARTIFACT/kernels_file, malloc'ed. */
char *cubePlanKernelsPath(const CubePlan *p);
/* The file holding a launch step's kernel: ARTIFACT/<step kernels_file>, else the plan's; malloc'ed. */
char *cubePlanStepKernelsPath(const CubePlan *p, const CubePlanStep *s);

/* plan.json's dtype names: f32 f16 bf16 f64 i64 i32 i16 i8 u8 i1. */
const char *cubePlanDTypeName(CubeDType t);
bool cubePlanDTypeParse(const char *name, CubeDType *out);
const char *cubeBufferKindName(CubeBufferKind k);
const char *cubeStepOpName(CubeStepOp op);
/* Number of elements of a shape (1 for rank 0). */
uint64_t cubeShapeNumel(const int64_t *shape, int rank);
/* "[2, 16, 64]" into buf. */
const char *cubeShapeString(const int64_t *shape, int rank, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
