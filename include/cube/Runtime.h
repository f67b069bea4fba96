/* The cube runtime (lib/Runtime): runs a compiled artifact (docs/plan-format.md, docs/runtime.md).
 *   Plan.h       plan.json parsed and checked
 *   arena        one allocation of arena_bytes; every buffer is arena + offset
 *   backends     cpu: dlopen of kernels.so; cuda: libcuda + cuBLASLt loaded at run time (no link-time CUDA)
 *   params       filled from their init specs (cube/Init.h's RNG) or from a safetensors file by HF name
 *   batches      token data (cube/TokenData.h) cut into the plan's [B, S] input windows
 *   eval         the loop behind `cube-run --eval`
 * Every function that can fail returns false and writes one message into err (naming the file and what is
 * wrong); nothing here exits or aborts. */
#ifndef CUBE_RUNTIME_H
#define CUBE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cube/Plan.h"
#include "cube/TokenData.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arena (Arena.c) ---- */

/* True when [offset, offset + bytes) lies inside [0, total) (overflow-safe). */
bool cubeRangeInside(uint64_t offset, uint64_t bytes, uint64_t total);
/* A zeroed host allocation of `bytes` (at least 1) aligned to max(alignment, 64). Free with free(). */
void *cubeArenaAllocHost(uint64_t bytes, uint64_t alignment, char *err, size_t errSize);

/* ---- the ranks of a data-parallel run (Comm.c; docs/runtime.md "Data parallelism") ---- */

typedef struct CubeComm CubeComm;
#define CUBE_COMM_ID_BYTES 128 /* an ncclUniqueId */
/* Rank, number of ranks and the rank's GPU; a NULL comm is a single process (0, 1, 0). */
int cubeCommRank(const CubeComm *c);
int cubeCommSize(const CubeComm *c);
int cubeCommLocalRank(const CubeComm *c);
/* Rank 0's id bytes (CUBE_COMM_ID_BYTES) copied to every rank; all ranks call it. */
bool cubeCommShareId(CubeComm *c, void *id, char *err, size_t errSize);
/* Sums (average: then divides by the number of ranks) `count` f32/bf16/f16 values over the ranks, in place,
 * in rank order and f32, so that every rank gets the same result; all ranks call it with the same count. */
bool cubeCommAllReduceHost(CubeComm *c, void *data, uint64_t count, CubeDType dtype, bool average, char *err,
                           size_t errSize);
/* `cube-run --nproc N`: runs body(comm, arg) in N forked processes (rank i: RANK=LOCAL_RANK=i, WORLD_SIZE=N
 * in its environment; NCCL_NVLS_ENABLE=0 unless set) and waits for all of them. The first rank to fail stops
 * the others; returns its exit status (or 128 + signal), 0 when all succeed. */
typedef int (*CubeRankMain)(CubeComm *comm, void *arg);
int cubeLaunchRanks(int nproc, CubeRankMain body, void *arg, FILE *err);

/* ---- backends (Backend.c, BackendCpu.c, BackendCuda.c) ---- */

typedef struct CubeBackend CubeBackend;
typedef struct {
  const char *name;
  bool (*write)(CubeBackend *be, uint64_t offset, const void *src, uint64_t bytes, char *err, size_t errSize);
  bool (*read)(CubeBackend *be, uint64_t offset, void *dst, uint64_t bytes, char *err, size_t errSize);
  /* Runs steps [first, end) in order; may return before the device finished (see sync). */
  bool (*run)(CubeBackend *be, size_t first, size_t end, char *err, size_t errSize);
  bool (*sync)(CubeBackend *be, char *err, size_t errSize);
  void (*close)(CubeBackend *be);
  /* Optional: runs every step, adding each one's device time (ms) to ms[i] without synchronising between
   * steps (CUDA: an event after each step); NULL: profiling synchronises after every step instead. */
  bool (*runTimed)(CubeBackend *be, double *ms, char *err, size_t errSize);
} CubeBackendOps;

/* Per-step times of profiled runs (Profile.c). */
typedef struct {
  double *ms;        /* summed per step over the kept runs */
  uint64_t runs;     /* runs summed in ms */
  bool skippedFirst; /* the first (warm-up) run was measured and dropped */
} CubeProfile;

struct CubeBackend {
  const CubeBackendOps *ops;
  const CubePlan *plan; /* borrowed: must outlive the backend */
  CubeComm *comm;       /* borrowed; NULL: one process, and all_reduce/wait steps do nothing */
  void *impl;
  CubeProfile *profile; /* NULL unless profiling: then cubeBackendRun times every step */
};

/* device: "cpu" or "cuda". Allocates the zeroed arena and loads every kernel the steps name (a missing
 * kernels file or kernel is an error naming it). */
bool cubeBackendOpen(const char *device, const CubePlan *plan, CubeBackend **out, char *err, size_t errSize);
/* As cubeBackendOpen, for one rank of a data-parallel run (comm may be NULL): the CUDA backend takes the GPU
 * of the rank's local rank and, for a plan with all_reduce steps, opens an NCCL communicator of all ranks. */
bool cubeBackendOpenRank(const char *device, const CubePlan *plan, CubeComm *comm, CubeBackend **out, char *err,
                         size_t errSize);
/* The device entry points; cubeBackendOpen also checks that the plan's steps suit the device. */
bool cubeBackendOpenCpu(const CubePlan *plan, CubeComm *comm, CubeBackend **out, char *err, size_t errSize);
bool cubeBackendOpenCuda(const CubePlan *plan, CubeComm *comm, CubeBackend **out, char *err, size_t errSize);
/* Bounds-checked against the arena, then delegated to the backend. */
bool cubeBackendWrite(CubeBackend *be, uint64_t offset, const void *src, uint64_t bytes, char *err, size_t errSize);
bool cubeBackendRead(CubeBackend *be, uint64_t offset, void *dst, uint64_t bytes, char *err, size_t errSize);
bool cubeBackendRun(CubeBackend *be, char *err, size_t errSize); /* all steps, then sync */
void cubeBackendClose(CubeBackend *be);
/* Profiling (Profile.c): after cubeProfileEnable, cubeBackendRun runs one step at a time, synchronised,
 * and adds each step's time to be->profile (the first run is a warm-up and is dropped when more follow);
 * cubeProfilePrint prints the time by cube op and the slowest steps. cubeBackendClose frees the profile. */
bool cubeProfileEnable(CubeBackend *be, char *err, size_t errSize);
bool cubeProfileRun(CubeBackend *be, char *err, size_t errSize);
void cubeProfilePrint(const CubeBackend *be, FILE *out);
void cubeProfileFree(CubeProfile *p);
/* The CPU backend's arena (NULL for other backends); for tests. */
void *cubeBackendCpuArena(CubeBackend *be);

/* The CPU reference GEMM of a gemm step (row-major, fp32 accumulation; f32, bf16 or f16 elements). */
void cubeGemmCpu(const CubePlanStep *s, void *a, void *b, void *c, const void *bias);

/* ---- parameters (Params.c) ---- */

/* Fills buffer `buffer` (a tensor of `shape` and `dtype`) from an init spec, the stream keyed by (seed, name)
 * as cube/Init.h documents; `what` names the kind in the out-of-memory message ("parameter"). */
bool cubeFillFromInit(CubeBackend *be, int buffer, const CubeInitSpec *init, const int64_t *shape, int rank,
                      CubeDType dtype, uint64_t seed, const char *name, const char *what, char *err, size_t errSize);
/* Fills every parameter from its init spec, stream keyed by (seed, HF name) as cube/Init.h documents. */
bool cubeParamsInit(const CubePlan *plan, CubeBackend *be, uint64_t seed, char *err, size_t errSize);

typedef struct {
  size_t loaded, missing, unexpected;
} CubeWeightsReport;

/* Loads parameters from a safetensors file by HF name: each tensor's shape must equal the parameter's, its
 * dtype must be F32, BF16 or F16 (converted to the parameter's dtype). Missing parameters keep their
 * current values, tensors not in the plan are unexpected; both are listed as warnings on `warn` (may be
 * NULL), and with `strict` either is an error. */
bool cubeParamsLoadWeights(const CubePlan *plan, CubeBackend *be, const char *path, bool strict, FILE *warn,
                           CubeWeightsReport *report, char *err, size_t errSize);

/* Converts n fp32 values to `dtype` (f32, bf16, f16 or f64) into dst; false for other dtypes. */
bool cubeConvertFromF32(const float *src, size_t n, CubeDType dtype, void *dst);
/* Converts n values of `dtype` (f32, bf16, f16, f64) to fp32; false for other dtypes. */
bool cubeConvertToF32(const void *src, size_t n, CubeDType dtype, float *dst);

/* ---- batches (Batch.c) ---- */

typedef struct {
  const CubePlanIO *ids, *labels; /* the plan inputs named input_ids and labels (labels may be NULL) */
  int64_t batchSize, seqLen;      /* B and S of input_ids' [B, S] */
  uint64_t tokensPerBatch;        /* B * S */
  uint32_t vocab;                 /* the model's vocab_size, 0 if the plan does not say */
} CubeBatchLayout;

/* Reads B, S and the vocab from the plan (vocab: rows of param model.embed_tokens.weight, else the
 * input's vocab_size). */
bool cubeBatchLayout(const CubePlan *plan, CubeBatchLayout *out, char *err, size_t errSize);
/* Number of whole batches in the data; an error when there is not even one. */
bool cubeBatchCount(const CubeBatchLayout *l, const CubeTokenData *d, const char *dataPath, uint64_t *count,
                    char *err, size_t errSize);
/* Writes batch b (tokens [b*B*S, (b+1)*B*S)) into input_ids and labels, converted to their dtype. */
bool cubeBatchFill(const CubePlan *plan, const CubeBatchLayout *l, CubeBackend *be, const CubeTokenData *d,
                   uint64_t b, char *err, size_t errSize);
/* Converts n int32 ids to i64/i32 (or other integer dtypes) into dst; false for non-integer dtypes. */
bool cubeIdsConvert(const int32_t *ids, size_t n, CubeDType dtype, void *dst);

/* ---- eval (Run.c) ---- */

typedef struct {
  const char *artifact;
  const char *device;  /* NULL: the plan's target */
  const char *weights; /* NULL: init specs */
  const char *data;
  bool strict, verbose, time, profile;
  uint64_t seed;
  int64_t batches; /* 0: every whole batch in the data */
} CubeEvalOptions;

/* Loads everything, runs the forward pass on each batch and prints the mean loss to out (warnings to
 * warn). Returns false with the message in err on any failure. */
bool cubeRunEval(const CubeEvalOptions *opt, FILE *out, FILE *warn, double *meanLoss, char *err, size_t errSize);

/* ---- training (Train.c, Checkpoint.c, Lora.c; docs/runtime.md "Training") ---- */

typedef enum { CUBE_SCHEDULE_CONSTANT, CUBE_SCHEDULE_COSINE, CUBE_SCHEDULE_LINEAR } CubeSchedule;

/* The learning rate of optimizer step `step` (1-based) of `total`, as HF's schedulers give it: with
 * s = step - 1 (LambdaLR's count before the update) and W = warmup, the factor is s / W while s < W, then
 *   constant: 1;  linear: max(0, (total - s) / max(1, total - W));
 *   cosine: max(0, 0.5 * (1 + cos(pi * (s - W) / max(1, total - W))))
 * and for linear/cosine after warm-up with minLr > 0: factor * (1 - minLr/lr) + minLr/lr (HF's
 * cosine_with_min_lr). The result is lr * factor. */
double cubeScheduleLr(CubeSchedule sched, double lr, double minLr, uint64_t warmup, uint64_t total, uint64_t step);
bool cubeScheduleParse(const char *name, CubeSchedule *out);
const char *cubeScheduleName(CubeSchedule s);

/* Fills every optimizer-state tensor from its init spec (stream keyed by seed and the state's name). */
bool cubeStatesInit(const CubePlan *plan, CubeBackend *be, uint64_t seed, char *err, size_t errSize);
/* Reads a float buffer (f32, bf16, f16, f64) into a malloc'ed fp32 array. */
bool cubeBufferReadF32(const CubePlan *plan, CubeBackend *be, int buffer, float **out, char *err, size_t errSize);

/* A hash of the plan's params table (name, dtype, shape, trainable) and state table: a checkpoint records
 * it, and resuming into a plan with another fingerprint is an error. */
uint64_t cubePlanFingerprint(const CubePlan *plan);

typedef struct {
  uint64_t step;         /* optimizer steps done */
  uint64_t dataPosition; /* batches consumed; the next batch is dataPosition % (batches in the data) */
  uint64_t seed;         /* the run's --seed (init specs; the runtime draws no other random numbers) */
  uint64_t fingerprint;
  double lastLoss;
} CubeCheckpointInfo;

/* Writes DIR/checkpoint-STEP atomically: model.safetensors (params by HF name), optimizer.safetensors
 * (states by name), trainer_state.json, and last the marker COMPLETE, all in DIR/.checkpoint-STEP.tmp.PID,
 * fsync'ed, then renamed into place. `written` (may be NULL) receives the final path. */
bool cubeCheckpointSave(const CubePlan *plan, CubeBackend *be, const char *dir, const CubeCheckpointInfo *info,
                        char *written, size_t writtenSize, char *err, size_t errSize);
/* PATH is a checkpoint directory, or a --save directory whose highest checkpoint-N is taken. Checks the
 * marker and the fingerprint, loads params and states, fills *info. */
bool cubeCheckpointLoad(const CubePlan *plan, CubeBackend *be, const char *path, CubeCheckpointInfo *info,
                        char *loaded, size_t loadedSize, char *err, size_t errSize);
/* Every parameter by its HF name, in the plan's dtype, as one safetensors file written atomically. */
bool cubeParamsSave(const CubePlan *plan, CubeBackend *be, const char *path, char *err, size_t errSize);
/* Writes `len` bytes to path atomically (path.tmp.PID, fsync, rename). */
bool cubeWriteFileAtomic(const char *path, const void *data, size_t len, char *err, size_t errSize);

/* peft's adapter_config.json + adapter_model.safetensors (keys base_model.model.<HF name>) into dir;
 * an existing dir is an error unless overwrite. */
bool cubeLoraSaveAdapter(const CubePlan *plan, CubeBackend *be, const char *dir, bool overwrite, char *err,
                         size_t errSize);
/* Every non-LoRA parameter by its HF name, W += scaling * B @ A merged into each LoRA target. */
bool cubeLoraMerge(const CubePlan *plan, CubeBackend *be, const char *outPath, char *err, size_t errSize);

typedef struct {
  const char *artifact, *device, *weights, *data;
  bool strict, verbose, profile;
  uint64_t seed;
  int64_t steps;
  double lr, minLr;
  int64_t warmup;
  CubeSchedule schedule;
  const char *save;     /* NULL: no checkpoints */
  int64_t saveEvery;    /* 0: only at the end */
  const char *resume;
  const char *saveAdapter, *mergeLora, *log;
  bool overwrite;
  int progress;         /* 1: a progress bar (\r), 0: one plain line per step */
  CubeComm *comm;       /* a rank of `--nproc N` (NULL: one process): rank 0 prints, logs and saves */
} CubeTrainOptions;

/* The training loop behind `cube-run --steps N`. */
bool cubeRunTrain(const CubeTrainOptions *opt, FILE *out, FILE *warn, char *err, size_t errSize);

/* ---- the initial weights (SaveInit.c; `cube-run ARTIFACT --save-init DIR`) ---- */
typedef struct {
  const char *artifact, *device, *weights, *dir;
  bool strict, overwrite, verbose;
  uint64_t seed;
} CubeSaveInitOptions;
/* Loads the plan (forward or train_step), fills the parameters as a run would (init specs with the seed,
 * then --weights), and writes DIR/model.safetensors (every parameter by HF name) and, when the plan has a
 * `lora` object, the initial adapter (adapter_config.json + adapter_model.safetensors) into DIR; runs no
 * step. DIR holding any of those files is refused unless overwrite. */
bool cubeSaveInit(const CubeSaveInitOptions *opt, FILE *out, FILE *warn, char *err, size_t errSize);

#ifdef __cplusplus
}
#endif
#endif
