/* The evaluation loop behind `cube-run --eval`: load and check the plan, the token data (ids checked
 * against the model's vocab) and the weights file, open the backend (arena + kernels), fill the parameters
 * (init specs with --seed, then --weights), then for each batch write input_ids/labels, run every step,
 * and read the scalar output `loss`. Prints the mean over the batches (-v: each batch; --time: forward
 * time per batch, measured from the first step to the device being idle, inputs already uploaded). */
#include "cube/Runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* The output named loss: one float element. */
static bool lossBuffer(const CubePlan *plan, const CubePlanBuffer **out, char *err, size_t errSize) {
  const CubePlanIO *io = cubePlanFindOutput(plan, "loss");
  if (!io) return snprintf(err, errSize, "%s: outputs: the plan has no output named loss", plan->path), false;
  const CubePlanBuffer *b = &plan->buffers[io->buffer];
  CubeDType t = b->dtype;
  if (cubeShapeNumel(b->shape, b->rank) != 1 ||
      (t != CUBE_DT_F32 && t != CUBE_DT_BF16 && t != CUBE_DT_F16 && t != CUBE_DT_F64))
    return snprintf(err, errSize, "%s: output loss ('%s') must be one f32, bf16, f16 or f64 element", plan->path,
                    b->name), false;
  *out = b;
  return true;
}

static bool readLoss(CubeBackend *be, const CubePlanBuffer *b, double *loss, char *err, size_t errSize) {
  unsigned char raw[8];
  float f;
  if (!cubeBackendRead(be, b->offset, raw, b->bytes, err, errSize)) return false;
  if (b->dtype == CUBE_DT_F64) {
    memcpy(loss, raw, 8);
    return true;
  }
  cubeConvertToF32(raw, 1, b->dtype, &f);
  *loss = f;
  return true;
}

bool cubeRunEval(const CubeEvalOptions *opt, FILE *out, FILE *warn, double *meanLoss, char *err, size_t errSize) {
  CubePlan plan;
  CubeTokenData data = {0, 0, NULL};
  CubeBackend *be = NULL;
  CubeBatchLayout layout;
  const CubePlanBuffer *lossBuf;
  uint64_t available, n;
  bool ok = false;
  if (!cubePlanLoad(opt->artifact, &plan, err, errSize)) return false;
  const char *device = opt->device ? opt->device : plan.target;
  if (plan.program == CUBE_PROGRAM_TRAIN_STEP) {
    snprintf(err, errSize, "%s: program: the artifact is a train_step plan (each run updates the parameters); "
             "train it with --steps N, or --eval a forward plan", plan.path);
    goto done;
  }
  if (!cubeBatchLayout(&plan, &layout, err, errSize) || !lossBuffer(&plan, &lossBuf, err, errSize) ||
      !cubeTokenDataLoad(opt->data, layout.vocab, &data, err, errSize) ||
      !cubeBatchCount(&layout, &data, opt->data, &available, err, errSize))
    goto done;
  n = opt->batches > 0 ? (uint64_t)opt->batches : available;
  if (n > available) {
    snprintf(err, errSize, "%s: --batches %llu needs %llu tokens, but the file has %llu (%llu batch%s of %lldx%lld)",
             opt->data, (unsigned long long)n, (unsigned long long)(n * layout.tokensPerBatch),
             (unsigned long long)data.count, (unsigned long long)available, available == 1 ? "" : "es",
             (long long)layout.batchSize, (long long)layout.seqLen);
    goto done;
  }
  if (!cubeBackendOpen(device, &plan, &be, err, errSize) || (opt->profile && !cubeProfileEnable(be, err, errSize)) ||
      !cubeParamsInit(&plan, be, opt->seed, err, errSize))
    goto done;
  if (opt->verbose)
    fprintf(out, "plan: %s (target %s, %zu steps, %zu parameters, arena %llu bytes), device %s\n", plan.path,
            plan.target, plan.nSteps, plan.nParams, (unsigned long long)plan.arenaBytes, device);
  if (opt->weights) {
    CubeWeightsReport rep;
    if (!cubeParamsLoadWeights(&plan, be, opt->weights, opt->strict, warn, &rep, err, errSize)) goto done;
    if (opt->verbose)
      fprintf(out, "weights: %zu of %zu parameters from %s\n", rep.loaded, plan.nParams, opt->weights);
  }
  double sum = 0, totalMs = 0, minMs = INFINITY;
  for (uint64_t b = 0; b < n; ++b) {
    double loss;
    if (!cubeBatchFill(&plan, &layout, be, &data, b, err, errSize)) goto done;
    double t0 = nowMs();
    if (!cubeBackendRun(be, err, errSize)) goto done;
    double ms = nowMs() - t0;
    if (!readLoss(be, lossBuf, &loss, err, errSize)) goto done;
    sum += loss;
    totalMs += ms;
    if (ms < minMs) minMs = ms;
    if (opt->verbose && opt->time)
      fprintf(out, "batch %llu: loss %.6f (%.3f ms)\n", (unsigned long long)b, loss, ms);
    else if (opt->verbose)
      fprintf(out, "batch %llu: loss %.6f\n", (unsigned long long)b, loss);
  }
  *meanLoss = sum / (double)n;
  fprintf(out, "eval: %llu batch%s of %lldx%lld tokens, mean loss %.6f\n", (unsigned long long)n, n == 1 ? "" : "es",
          (long long)layout.batchSize, (long long)layout.seqLen, *meanLoss);
  if (opt->time)
    fprintf(out, "time: forward %.3f ms per batch on %s (mean of %llu, min %.3f ms)\n", totalMs / (double)n, device,
            (unsigned long long)n, minMs);
  if (opt->profile) cubeProfilePrint(be, out);
  fflush(out);
  ok = true;
done:
  cubeBackendClose(be);
  cubeTokenDataFree(&data);
  cubePlanFree(&plan);
  return ok;
}
