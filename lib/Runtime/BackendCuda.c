/* The CUDA backend, through the driver API loaded at run time (CudaDriver.c): cuInit, device 0's primary
 * context, the artifact's PTX text JIT-compiled with cuModuleLoadDataEx (its error log in the message),
 * cuModuleGetFunction for every kernel a `launch` step names (checked at load), one cuMemAlloc arena
 * (zeroed), cuLaunchKernel per launch step with the step's grid, block, dynamic shared memory and
 * arguments (buffers as CUdeviceptr arena + buffer.offset + arg.offset, scalars by value as typed),
 * cuBLASLt for gemm steps (Cublas.c), cuMemcpyDtoDAsync for copies, all on one stream in plan order; from
 * the second whole run on, the run is a CUDA graph captured once (cudaRun). Every status is checked; a failure names the call, the step and CUDA's error name and text.
 * CUBE_CUDA_SYNC=1 synchronises after every step so that a faulting kernel is named. */
#include "cube/CudaApi.h"
#include "cube/ReadFile.h"
#include "cube/Runtime.h"

#include <stdio.h>
#include <string.h>

#ifndef CUBE_HAVE_CUDA_HEADERS
bool cubeBackendOpenCuda(const CubePlan *plan, CubeComm *comm, CubeBackend **out, char *err, size_t errSize) {
  (void)comm;
  *out = NULL;
  snprintf(err, errSize, "this build of cube has no CUDA backend (cuda.h and cublasLt.h were not found when it was "
           "built; install the CUDA toolkit headers and rebuild)");
  return false;
}
#else
#include <stdlib.h>

typedef struct {
  CUfunction fn;
  void **params;      /* kernelParams: pointers into values */
  uint64_t *values;   /* one 8-byte slot per argument */
  CubeCublasGemm *gemm;
} CudaStep;

typedef struct {
  CubeCuda cu;
  CUdevice dev;
  CUcontext ctx;
  bool ctxRetained;
  CUmodule module;      /* the plan's kernels file */
  CUmodule extra[8];    /* launch steps' own kernels files (registered PTX kernels) */
  const char *extraName[8];
  size_t nExtra;
  CUdeviceptr alloc, base; /* base = alloc rounded up to the plan's alignment */
  CubeCublas *cublas;
  CudaStep *steps;
  bool syncEachStep;
  CUevent *events; /* profiling: nSteps + 1, created on first use */
  CUstream stream; /* every step runs here (a blocking stream: host copies on the legacy stream order with it) */
  bool useGraph;
  unsigned plainRuns;
  CUgraphExec graphExec;
  /* data parallelism: an NCCL communicator of all ranks (plans with all_reduce steps, run under --nproc) */
  CubeNccl nccl;
  void *ncclComm;
  CUstream commStream;        /* the collectives run here, beside the rest of the backward */
  CUevent *ready, *reduced;   /* per bucket: its gradients are final / its all_reduce has finished */
} Cuda;

static CUdeviceptr at(Cuda *c, const CubePlan *plan, const CubePlanRef *r) {
  return c->base + plan->buffers[r->buffer].offset + r->offset;
}

static bool cudaWrite(CubeBackend *be, uint64_t offset, const void *src, uint64_t bytes, char *err, size_t errSize) {
  Cuda *c = be->impl;
  return cubeCudaCheck(&c->cu, c->cu.memcpyHtoD(c->base + offset, src, bytes), "cuMemcpyHtoD", err, errSize);
}

static bool cudaRead(CubeBackend *be, uint64_t offset, void *dst, uint64_t bytes, char *err, size_t errSize) {
  Cuda *c = be->impl;
  return cubeCudaCheck(&c->cu, c->cu.memcpyDtoH(dst, c->base + offset, bytes), "cuMemcpyDtoH", err, errSize);
}

static bool cudaSync(CubeBackend *be, char *err, size_t errSize) {
  Cuda *c = be->impl;
  return cubeCudaCheck(&c->cu, c->cu.ctxSynchronize(), "cuCtxSynchronize (after the plan's steps)", err, errSize);
}

/* An all_reduce step: the comm stream waits until the main stream has finished the bucket's gradients, then
 * reduces every buffer of the bucket (one NCCL group) and records `reduced`, which the bucket's wait step
 * makes the main stream wait for; the main stream goes on with the backward meanwhile. */
static bool startAllReduce(Cuda *c, const CubePlan *plan, const CubePlanStep *s, size_t i, char *err,
                           size_t errSize) {
  char what[128];
  snprintf(what, sizeof what, "the all_reduce of bucket %lld (steps[%zu])", (long long)s->bucket, i);
  if (!cubeCudaCheck(&c->cu, c->cu.eventRecord(c->ready[s->bucket], c->stream), "cuEventRecord", err, errSize) ||
      !cubeCudaCheck(&c->cu, c->cu.streamWaitEvent(c->commStream, c->ready[s->bucket], 0), "cuStreamWaitEvent", err,
                     errSize) ||
      !cubeNcclCheck(&c->nccl, c->nccl.groupStart(), "ncclGroupStart", err, errSize))
    return false;
  bool ok = true;
  for (size_t j = 0; j < s->nBuffers && ok; ++j) {
    const CubePlanBuffer *b = &plan->buffers[s->buffers[j]];
    int type = b->dtype == CUBE_DT_F32 ? CUBE_NCCL_FLOAT32 : b->dtype == CUBE_DT_BF16 ? CUBE_NCCL_BFLOAT16
                                                                                        : CUBE_NCCL_FLOAT16;
    void *ptr = (void *)(uintptr_t)(c->base + b->offset);
    ok = cubeNcclCheck(&c->nccl, c->nccl.allReduce(ptr, ptr, b->bytes / (type == CUBE_NCCL_FLOAT32 ? 4 : 2), type,
                                                   s->average ? CUBE_NCCL_AVG : CUBE_NCCL_SUM, c->ncclComm,
                                                   c->commStream), what, err, errSize);
  }
  int r = c->nccl.groupEnd();
  return ok && cubeNcclCheck(&c->nccl, r, "ncclGroupEnd", err, errSize) &&
         cubeCudaCheck(&c->cu, c->cu.eventRecord(c->reduced[s->bucket], c->commStream), "cuEventRecord", err, errSize);
}

static bool runSteps(CubeBackend *be, size_t first, size_t end, char *err, size_t errSize) {
  Cuda *c = be->impl;
  const CubePlan *plan = be->plan;
  char what[256];
  for (size_t i = first; i < end && i < plan->nSteps; ++i) {
    const CubePlanStep *s = &plan->steps[i];
    CudaStep *cs = &c->steps[i];
    bool ok = true;
    switch (s->op) {
    case CUBE_STEP_LAUNCH:
      snprintf(what, sizeof what, "cuLaunchKernel of '%s' (steps[%zu])", s->kernel, i);
      ok = cubeCudaCheck(&c->cu,
                         c->cu.launchKernel(cs->fn, s->grid[0], s->grid[1], s->grid[2], s->block[0], s->block[1],
                                            s->block[2], s->sharedBytes, c->stream, cs->params, NULL),
                         what, err, errSize);
      break;
    case CUBE_STEP_GEMM:
      ok = cubeCublasRun(c->cublas, cs->gemm, c->stream, err, errSize);
      break;
    case CUBE_STEP_COPY:
      snprintf(what, sizeof what, "cuMemcpyDtoDAsync (steps[%zu])", i);
      ok = s->bytes == 0 || cubeCudaCheck(&c->cu, c->cu.memcpyDtoDAsync(at(c, plan, &s->dst), at(c, plan, &s->src),
                                                                        s->bytes, c->stream), what, err, errSize);
      break;
    case CUBE_STEP_ALL_REDUCE:
      if (c->ncclComm) ok = startAllReduce(c, plan, s, i, err, errSize);
      break;
    case CUBE_STEP_WAIT:
      snprintf(what, sizeof what, "cuStreamWaitEvent for bucket %lld (steps[%zu])", (long long)s->bucket, i);
      if (c->ncclComm)
        ok = cubeCudaCheck(&c->cu, c->cu.streamWaitEvent(c->stream, c->reduced[s->bucket], 0), what, err, errSize);
      break;
    case CUBE_STEP_CALL:
      snprintf(err, errSize, "%s: steps[%zu]: a call step cannot run on CUDA", plan->path, i);
      return false;
    }
    if (ok && c->syncEachStep) {
      snprintf(what, sizeof what, "cuCtxSynchronize after steps[%zu] (%s%s%s)", i, cubeStepOpName(s->op),
               s->kernel ? " " : "", s->kernel ? s->kernel : "");
      ok = cubeCudaCheck(&c->cu, c->cu.ctxSynchronize(), what, err, errSize);
    }
    if (!ok) return false;
  }
  return true;
}

/* A whole run: plain launches for the first (warm-up) run, then the run captured once into a CUDA graph and
 * replayed (one launch per step instead of ~1,700; the arena's addresses never change, and host writes of
 * inputs happen between runs). A capture that fails turns graphs off for the backend: the steps then run
 * one by one as before. CUBE_CUDA_GRAPH=0 (or CUBE_CUDA_SYNC=1) never captures. */
static bool cudaRun(CubeBackend *be, size_t first, size_t end, char *err, size_t errSize) {
  Cuda *c = be->impl;
  bool whole = first == 0 && end >= be->plan->nSteps;
  if (!whole || !c->useGraph) return runSteps(be, first, end, err, errSize);
  if (c->graphExec)
    return cubeCudaCheck(&c->cu, c->cu.graphLaunch(c->graphExec, c->stream), "cuGraphLaunch", err, errSize);
  if (c->plainRuns++ < 1) return runSteps(be, first, end, err, errSize);
  CUgraph graph = NULL;
  bool ok = c->cu.streamBeginCapture(c->stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) == CUDA_SUCCESS;
  char ignored[256];
  if (ok) {
    bool ran = runSteps(be, first, end, ignored, sizeof ignored);
    ok = c->cu.streamEndCapture(c->stream, &graph) == CUDA_SUCCESS && ran && graph;
  }
  if (ok) ok = c->cu.graphInstantiate(&c->graphExec, graph, 0) == CUDA_SUCCESS;
  if (graph) c->cu.graphDestroy(graph);
  if (!ok) {
    c->graphExec = NULL;
    c->useGraph = false;
    return runSteps(be, first, end, err, errSize);
  }
  return cubeCudaCheck(&c->cu, c->cu.graphLaunch(c->graphExec, c->stream), "cuGraphLaunch", err, errSize);
}

static void cudaClose(CubeBackend *be) {
  Cuda *c = be->impl;
  if (c) {
    if (c->steps)
      for (size_t i = 0; i < be->plan->nSteps; ++i) {
        free(c->steps[i].params);
        free(c->steps[i].values);
        cubeCublasGemmFree(c->cublas, c->steps[i].gemm);
      }
    free(c->steps);
    if (c->events)
      for (size_t i = 0; i <= be->plan->nSteps; ++i)
        if (c->events[i]) c->cu.eventDestroy(c->events[i]);
    free(c->events);
    if (c->graphExec) c->cu.graphExecDestroy(c->graphExec);
    if (c->ncclComm) c->nccl.commDestroy(c->ncclComm);
    for (size_t k = 0; k < be->plan->nBuckets; ++k) {
      if (c->ready && c->ready[k]) c->cu.eventDestroy(c->ready[k]);
      if (c->reduced && c->reduced[k]) c->cu.eventDestroy(c->reduced[k]);
    }
    free(c->ready);
    free(c->reduced);
    if (c->commStream) c->cu.streamDestroy(c->commStream);
    cubeNcclUnload(&c->nccl);
    if (c->stream) c->cu.streamDestroy(c->stream);
    cubeCublasClose(c->cublas);
    if (c->module) c->cu.moduleUnload(c->module);
    for (size_t i = 0; i < c->nExtra; ++i) c->cu.moduleUnload(c->extra[i]);
    if (c->alloc) c->cu.memFree(c->alloc);
    if (c->ctxRetained) c->cu.primaryCtxRelease(c->dev);
    cubeCudaUnload(&c->cu);
    free(c);
  }
  free(be);
}

/* Profiling: an event before the first step and after each, one synchronisation at the end. */
static bool cudaRunTimed(CubeBackend *be, double *ms, char *err, size_t errSize) {
  Cuda *c = be->impl;
  size_t n = be->plan->nSteps;
  if (!c->events) {
    c->events = calloc(n + 1, sizeof *c->events);
    if (!c->events) return snprintf(err, errSize, "out of memory (profile events)"), false;
    for (size_t i = 0; i <= n; ++i)
      if (!cubeCudaCheck(&c->cu, c->cu.eventCreate(&c->events[i], CU_EVENT_DEFAULT), "cuEventCreate", err, errSize))
        return false;
  }
  if (!cubeCudaCheck(&c->cu, c->cu.eventRecord(c->events[0], c->stream), "cuEventRecord", err, errSize)) return false;
  for (size_t i = 0; i < n; ++i)
    if (!runSteps(be, i, i + 1, err, errSize) ||
        !cubeCudaCheck(&c->cu, c->cu.eventRecord(c->events[i + 1], c->stream), "cuEventRecord", err, errSize))
      return false;
  if (!cubeCudaCheck(&c->cu, c->cu.eventSynchronize(c->events[n]), "cuEventSynchronize", err, errSize)) return false;
  for (size_t i = 0; i < n; ++i) {
    float t = 0;
    if (!cubeCudaCheck(&c->cu, c->cu.eventElapsedTime(&t, c->events[i], c->events[i + 1]), "cuEventElapsedTime", err,
                       errSize))
      return false;
    ms[i] += t;
  }
  return true;
}

static const CubeBackendOps kCudaOps = {"cuda", cudaWrite, cudaRead, cudaRun, cudaSync, cudaClose, cudaRunTimed};

/* The NCCL communicator of all ranks (rank 0's id reaches the others through the launcher's shared memory),
 * the comm stream and the per-bucket events. */
static bool openNccl(Cuda *c, const CubePlan *plan, CubeComm *comm, char *err, size_t errSize) {
  CubeNcclId id;
  memset(&id, 0, sizeof id);
  char what[160];
  snprintf(what, sizeof what, "ncclCommInitRank (rank %d of %d)", cubeCommRank(comm), cubeCommSize(comm));
  if (!cubeNcclLoad(&c->nccl, err, errSize) ||
      (cubeCommRank(comm) == 0 && !cubeNcclCheck(&c->nccl, c->nccl.getUniqueId(&id), "ncclGetUniqueId", err, errSize)) ||
      !cubeCommShareId(comm, &id, err, errSize) ||
      !cubeNcclCheck(&c->nccl, c->nccl.commInitRank(&c->ncclComm, cubeCommSize(comm), id, cubeCommRank(comm)), what,
                     err, errSize) ||
      !cubeCudaCheck(&c->cu, c->cu.streamCreate(&c->commStream, CU_STREAM_NON_BLOCKING), "cuStreamCreate", err,
                     errSize))
    return false;
  c->ready = calloc(plan->nBuckets, sizeof *c->ready);
  c->reduced = calloc(plan->nBuckets, sizeof *c->reduced);
  if (!c->ready || !c->reduced) return snprintf(err, errSize, "out of memory (bucket events)"), false;
  for (size_t k = 0; k < plan->nBuckets; ++k)
    if (!cubeCudaCheck(&c->cu, c->cu.eventCreate(&c->ready[k], CU_EVENT_DISABLE_TIMING), "cuEventCreate", err,
                       errSize) ||
        !cubeCudaCheck(&c->cu, c->cu.eventCreate(&c->reduced[k], CU_EVENT_DISABLE_TIMING), "cuEventCreate", err,
                       errSize))
      return false;
  return true;
}

/* The rank's device (its local rank; device 0 for one process), its primary context, and a check that the
 * artifact's chip can run there. */
static bool openDevice(Cuda *c, const CubePlan *plan, int ordinal, char *err, size_t errSize) {
  int count = 0, major = 0, minor = 0;
  char name[128] = "?";
  if (!cubeCudaCheck(&c->cu, c->cu.init(0), "cuInit", err, errSize) ||
      !cubeCudaCheck(&c->cu, c->cu.deviceGetCount(&count), "cuDeviceGetCount", err, errSize))
    return false;
  if (count < 1) return snprintf(err, errSize, "no CUDA device found (the driver reports 0 devices)"), false;
  if (ordinal >= count)
    return snprintf(err, errSize, "local rank %d has no GPU: the driver reports %d device%s (start at most one rank "
                    "per GPU)", ordinal, count, count == 1 ? "" : "s"), false;
  if (!cubeCudaCheck(&c->cu, c->cu.deviceGet(&c->dev, ordinal), "cuDeviceGet", err, errSize) ||
      !cubeCudaCheck(&c->cu, c->cu.deviceGetName(name, sizeof name, c->dev), "cuDeviceGetName", err, errSize) ||
      !cubeCudaCheck(&c->cu, c->cu.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, c->dev),
                     "cuDeviceGetAttribute", err, errSize) ||
      !cubeCudaCheck(&c->cu, c->cu.deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, c->dev),
                     "cuDeviceGetAttribute", err, errSize))
    return false;
  int chip = 0;
  if (plan->chip && sscanf(plan->chip, "sm_%d", &chip) == 1 && chip > major * 10 + minor)
    return snprintf(err, errSize, "%s: the artifact is compiled for %s, but device %d (%s) is sm_%d%d", plan->path,
                    plan->chip, ordinal, name, major, minor), false;
  if (!cubeCudaCheck(&c->cu, c->cu.primaryCtxRetain(&c->ctx, c->dev), "cuDevicePrimaryCtxRetain", err, errSize))
    return false;
  c->ctxRetained = true;
  return cubeCudaCheck(&c->cu, c->cu.ctxSetCurrent(c->ctx), "cuCtxSetCurrent", err, errSize);
}

/* JIT-compiles the PTX file at path into *m; the JIT's error log goes into the message. */
static bool loadPtx(Cuda *c, const char *path, CUmodule *m, char *err, size_t errSize) {
  char *ptx = cubeReadTextFile(path, "the kernels file", err, errSize); /* NUL-terminated, as cuModuleLoadData wants */
  if (!ptx) return false;
  static char log[8192];
  log[0] = 0;
  CUjit_option opts[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[2] = {log, (void *)(uintptr_t)sizeof log};
  char what[4096 + 512];
  snprintf(what, sizeof what, "cuModuleLoadDataEx of %s", path);
  CUresult r = c->cu.moduleLoadDataEx(m, ptx, 2, opts, vals);
  free(ptx);
  bool ok = cubeCudaCheck(&c->cu, r, what, err, errSize);
  if (!ok && log[0]) {
    size_t used = strlen(err);
    snprintf(err + used, errSize - used, "; the PTX JIT says: %s", log);
  }
  return ok;
}

/* The module of a launch step: the plan's kernels file, or (a registered PTX kernel, docs/kernel-registry.md)
 * the step's own kernels_file, each loaded once. */
static bool stepModule(Cuda *c, const CubePlan *plan, const CubePlanStep *s, CUmodule *m, char *err, size_t errSize) {
  if (!s->kernelsFile) {
    if (!c->module) {
      char *path = cubePlanKernelsPath(plan);
      bool ok = path && loadPtx(c, path, &c->module, err, errSize);
      free(path);
      if (!ok) return false;
    }
    *m = c->module;
    return true;
  }
  for (size_t i = 0; i < c->nExtra; ++i)
    if (!strcmp(c->extraName[i], s->kernelsFile)) return *m = c->extra[i], true;
  if (c->nExtra == sizeof c->extra / sizeof *c->extra)
    return snprintf(err, errSize, "%s: more than %zu kernels files", plan->path, sizeof c->extra / sizeof *c->extra), false;
  char *path = cubePlanStepKernelsPath(plan, s);
  bool ok = path && loadPtx(c, path, &c->extra[c->nExtra], err, errSize);
  free(path);
  if (!ok) return false;
  c->extraName[c->nExtra] = s->kernelsFile;
  *m = c->extra[c->nExtra++];
  return true;
}

static bool loadModule(Cuda *c, const CubePlan *plan, char *err, size_t errSize) {
  bool ok = true;
  char what[4096 + 512];
  for (size_t i = 0; ok && i < plan->nSteps; ++i) {
    const CubePlanStep *s = &plan->steps[i];
    if (s->op != CUBE_STEP_LAUNCH) continue;
    CUmodule m;
    if (!stepModule(c, plan, s, &m, err, errSize)) return false;
    CUfunction fn;
    CUresult r = c->cu.moduleGetFunction(&fn, m, s->kernel);
    if (r != CUDA_SUCCESS) {
      char *path = cubePlanStepKernelsPath(plan, s);
      snprintf(what, sizeof what, "%s: kernel '%s' (steps[%zu] of %s) is not in the kernels file: cuModuleGetFunction",
               path ? path : "?", s->kernel, i, plan->path);
      free(path);
      ok = cubeCudaCheck(&c->cu, r, what, err, errSize);
      break;
    }
    c->steps[i].fn = fn;
    if (s->sharedBytes > 48 * 1024) {
      snprintf(what, sizeof what, "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES=%u) of '%s'", s->sharedBytes,
               s->kernel);
      ok = cubeCudaCheck(&c->cu,
                         c->cu.funcSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                (int)s->sharedBytes), what, err, errSize);
    }
  }
  return ok;
}

/* Kernel parameters and cuBLASLt descriptors of every step, for the arena's fixed addresses. */
static bool prepareSteps(Cuda *c, const CubePlan *plan, char *err, size_t errSize) {
  for (size_t i = 0; i < plan->nSteps; ++i) {
    const CubePlanStep *s = &plan->steps[i];
    CudaStep *cs = &c->steps[i];
    if (s->op == CUBE_STEP_LAUNCH) {
      cs->values = calloc(s->nArgs + 1, sizeof *cs->values);
      cs->params = calloc(s->nArgs + 1, sizeof *cs->params);
      for (size_t j = 0; j < s->nArgs; ++j) {
        const CubePlanArg *a = &s->args[j];
        void *slot = &cs->values[j];
        if (a->kind == CUBE_ARG_BUFFER) {
          CUdeviceptr p = at(c, plan, &a->ref);
          memcpy(slot, &p, sizeof p);
        } else if (a->kind == CUBE_ARG_I64) {
          memcpy(slot, &a->i, sizeof a->i);
        } else if (a->kind == CUBE_ARG_I32) {
          int32_t v = (int32_t)a->i;
          memcpy(slot, &v, sizeof v);
        } else {
          float v = (float)a->f;
          memcpy(slot, &v, sizeof v);
        }
        cs->params[j] = slot;
      }
    } else if (s->op == CUBE_STEP_GEMM) {
      if (!c->cublas && !cubeCublasOpen(&c->cu, &c->cublas, err, errSize)) return false;
      if (!cubeCublasPrepare(c->cublas, plan, i, at(c, plan, &s->a), at(c, plan, &s->b), at(c, plan, &s->c),
                             s->hasBias ? at(c, plan, &s->bias) : 0, &cs->gemm, err, errSize))
        return false;
    }
  }
  return true;
}

bool cubeBackendOpenCuda(const CubePlan *plan, CubeComm *comm, CubeBackend **out, char *err, size_t errSize) {
  *out = NULL;
  CubeBackend *be = calloc(1, sizeof *be);
  Cuda *c = calloc(1, sizeof *c);
  be->ops = &kCudaOps;
  be->plan = plan;
  be->comm = comm;
  be->impl = c;
  const char *sync = getenv("CUBE_CUDA_SYNC"), *graph = getenv("CUBE_CUDA_GRAPH");
  c->syncEachStep = sync && *sync && strcmp(sync, "0");
  c->useGraph = !c->syncEachStep && !(graph && !strcmp(graph, "0"));
  if (!cubeCudaLoad(&c->cu, err, errSize)) {
    free(c);
    free(be);
    return false;
  }
  c->steps = calloc(plan->nSteps + 1, sizeof *c->steps);
  uint64_t align = plan->alignment > 256 ? plan->alignment : 1;
  uint64_t bytes = (plan->arenaBytes ? plan->arenaBytes : 1) + align - 1;
  char what[128];
  snprintf(what, sizeof what, "cuMemAlloc of the arena (%llu bytes)", (unsigned long long)bytes);
  bool ok = openDevice(c, plan, cubeCommLocalRank(comm), err, errSize) &&
            (!comm || !plan->nBuckets || openNccl(c, plan, comm, err, errSize)) &&
            cubeCudaCheck(&c->cu, c->cu.streamCreate(&c->stream, CU_STREAM_DEFAULT), "cuStreamCreate", err, errSize) &&
            loadModule(c, plan, err, errSize) &&
            cubeCudaCheck(&c->cu, c->cu.memAlloc(&c->alloc, bytes), what, err, errSize);
  if (ok) {
    c->base = (c->alloc + align - 1) / align * align;
    ok = cubeCudaCheck(&c->cu, c->cu.memsetD8(c->alloc, 0, bytes), "cuMemsetD8 (zeroing the arena)", err, errSize) &&
         prepareSteps(c, plan, err, errSize);
  }
  if (!ok) {
    cudaClose(be);
    return false;
  }
  *out = be;
  return true;
}
#endif
