/* The training loop behind `cube-run ARTIFACT --data TOKENS --steps N` (docs/runtime.md, "Training"): load
 * and check a train_step plan, fill the parameters (init specs, --weights) and the optimizer states (their
 * init specs), or restore both from a checkpoint (--resume); then for each optimizer step write the next
 * batch (batches in order, wrapping around the data), lr from the schedule and the 1-based step, run every
 * step of the plan, read loss and grad_norm; print progress, append to the JSONL log, save checkpoints;
 * at the end save the LoRA adapter and the merged weights if asked. */
#include "cube/Runtime.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define ERR(...) (snprintf(err, errSize, __VA_ARGS__), false)

static double nowS(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool cubeScheduleParse(const char *name, CubeSchedule *out) {
  if (!strcmp(name, "constant")) *out = CUBE_SCHEDULE_CONSTANT;
  else if (!strcmp(name, "cosine")) *out = CUBE_SCHEDULE_COSINE;
  else if (!strcmp(name, "linear")) *out = CUBE_SCHEDULE_LINEAR;
  else return false;
  return true;
}

const char *cubeScheduleName(CubeSchedule s) {
  return s == CUBE_SCHEDULE_COSINE ? "cosine" : s == CUBE_SCHEDULE_LINEAR ? "linear" : "constant";
}

double cubeScheduleLr(CubeSchedule sched, double lr, double minLr, uint64_t warmup, uint64_t total, uint64_t step) {
  double s = step ? (double)(step - 1) : 0.0, w = (double)warmup, n = (double)total;
  if (s < w) return lr * s / (w > 1 ? w : 1);
  double f = 1.0, span = n - w > 1 ? n - w : 1;
  if (sched == CUBE_SCHEDULE_CONSTANT) return lr;
  if (sched == CUBE_SCHEDULE_LINEAR) f = (n - s) / span;
  else f = 0.5 * (1.0 + cos(M_PI * (s - w) / span));
  if (f < 0) f = 0;
  if (minLr > 0 && lr > 0) {
    double rate = minLr / lr;
    f = f * (1.0 - rate) + rate;
  }
  return lr * f;
}

/* One float element of the output named `name`. */
static bool readScalar(const CubePlan *plan, CubeBackend *be, const char *name, double *v, char *err, size_t errSize) {
  const CubePlanBuffer *b = &plan->buffers[cubePlanFindOutput(plan, name)->buffer];
  float f;
  if (!cubeBackendRead(be, b->offset, &f, 4, err, errSize)) return false;
  *v = f;
  return true;
}

static bool writeScalars(const CubePlan *plan, CubeBackend *be, double lr, uint64_t step, char *err, size_t errSize) {
  const CubePlanBuffer *lb = &plan->buffers[cubePlanFindInput(plan, "lr")->buffer];
  const CubePlanBuffer *sb = &plan->buffers[cubePlanFindInput(plan, "step")->buffer];
  float f = (float)lr;
  int64_t s64 = (int64_t)step;
  int32_t s32 = (int32_t)step;
  return cubeBackendWrite(be, lb->offset, &f, 4, err, errSize) &&
         cubeBackendWrite(be, sb->offset, sb->dtype == CUBE_DT_I64 ? (void *)&s64 : (void *)&s32, sb->bytes, err,
                          errSize);
}

static void hms(double s, char *buf, size_t size) {
  if (!(s >= 0) || s > 1e8) s = 0;
  long t = (long)(s + 0.5);
  snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

bool cubeRunTrain(const CubeTrainOptions *opt, FILE *out, FILE *warn, char *err, size_t errSize) {
  /* Data parallelism: rank r takes local batch g * world + r of global batch g; only rank 0 prints, logs and
   * saves (every rank holds the same parameters, as the plan averages the gradients). */
  int world = cubeCommSize(opt->comm), rank = cubeCommRank(opt->comm);
  FILE *quiet = NULL;
  if (rank != 0) {
    if (!(quiet = fopen("/dev/null", "w"))) return ERR("rank %d: cannot open /dev/null: %s", rank, strerror(errno));
    out = quiet;
    warn = NULL;
  }
  CubePlan plan;
  CubeTokenData data = {0, 0, NULL};
  CubeBackend *be = NULL;
  CubeBatchLayout layout;
  FILE *log = NULL;
  uint64_t nBatches;
  bool ok = false;
  if (opt->steps <= 0) return ERR("--steps: %lld is not a positive number of steps", (long long)opt->steps);
  if (!(opt->lr >= 0)) return ERR("--lr: %g is negative", opt->lr);
  if (!(opt->minLr >= 0) || opt->minLr > opt->lr)
    return ERR("--min-lr: %g is outside [0, --lr = %g]", opt->minLr, opt->lr);
  if (opt->warmup < 0) return ERR("--warmup: %lld is negative", (long long)opt->warmup);
  if (!cubePlanLoad(opt->artifact, &plan, err, errSize)) return false;
  const char *device = opt->device ? opt->device : plan.target;
  if (plan.program != CUBE_PROGRAM_TRAIN_STEP) {
    (void)ERR("%s: program: the artifact is a forward plan; --steps trains and needs a plan compiled from @train_step "
        "(\"program\": \"train_step\"); run this one with --eval", plan.path);
    goto done;
  }
  if (world > 1 && !plan.nBuckets) {
    (void)ERR("%s: --nproc %d: the plan has no all_reduce steps, so each rank would train alone on its slice of the "
        "batch; compile it with --data-parallel", plan.path, world);
    goto done;
  }
  if ((opt->saveAdapter || opt->mergeLora) && !plan.lora.present) {
    (void)ERR("%s: %s needs a LoRA model, but the plan has no \"lora\" object (compile with --use-lora)", plan.path,
        opt->saveAdapter ? "--save-adapter" : "--merge-lora");
    goto done;
  }
  struct stat st;
  if (rank == 0 && opt->saveAdapter && !opt->overwrite && stat(opt->saveAdapter, &st) == 0) {
    (void)ERR("%s: the adapter directory exists (pass --overwrite to replace its adapter)", opt->saveAdapter);
    goto done;
  }
  if (!cubeBatchLayout(&plan, &layout, err, errSize) ||
      !cubeTokenDataLoad(opt->data, layout.vocab, &data, err, errSize) ||
      !cubeBatchCount(&layout, &data, opt->data, &nBatches, err, errSize))
    goto done;
  if (nBatches < (uint64_t)world) {
    (void)ERR("%s: %llu batch%s of %lldx%lld tokens, fewer than the %d ranks need for one step", opt->data,
        (unsigned long long)nBatches, nBatches == 1 ? "" : "es", (long long)layout.batchSize, (long long)layout.seqLen,
        world);
    goto done;
  }
  nBatches /= (uint64_t)world; /* global batches: world local batches each */
  if (!cubeBackendOpenRank(device, &plan, opt->comm, &be, err, errSize) || (opt->profile && !cubeProfileEnable(be, err, errSize)) ||
      !cubeParamsInit(&plan, be, opt->seed, err, errSize) ||
      !cubeStatesInit(&plan, be, opt->seed, err, errSize))
    goto done;
  size_t trainable = 0;
  for (size_t i = 0; i < plan.nParams; ++i) trainable += plan.params[i].trainable;
  if (opt->verbose)
    fprintf(out, "plan: %s (target %s, train_step, %zu steps, %zu parameters of which %zu trainable, %zu optimizer "
            "states, arena %llu bytes), device %s\n", plan.path, plan.target, plan.nSteps, plan.nParams, trainable,
            plan.nStates, (unsigned long long)plan.arenaBytes, device);
  CubeCheckpointInfo ck = {0, 0, opt->seed, cubePlanFingerprint(&plan), 0.0};
  if (opt->resume) {
    char from[4200];
    if (!cubeCheckpointLoad(&plan, be, opt->resume, &ck, from, sizeof from, err, errSize)) goto done;
    if (ck.step >= (uint64_t)opt->steps) {
      (void)ERR("%s: the checkpoint is at step %llu; --steps %lld leaves nothing to do (--steps is the total)", from,
          (unsigned long long)ck.step, (long long)opt->steps);
      goto done;
    }
    if (ck.seed != opt->seed && warn)
      fprintf(warn, "warning: %s was trained with --seed %llu, this run has --seed %llu\n", from,
              (unsigned long long)ck.seed, (unsigned long long)opt->seed);
    fprintf(out, "resumed from %s at step %llu (data position %llu)\n", from, (unsigned long long)ck.step,
            (unsigned long long)ck.dataPosition);
    if (opt->weights && warn)
      fprintf(warn, "warning: --weights %s is ignored: the parameters come from the checkpoint\n", opt->weights);
  } else if (opt->weights) {
    CubeWeightsReport rep;
    if (!cubeParamsLoadWeights(&plan, be, opt->weights, opt->strict, warn, &rep, err, errSize)) goto done;
    if (opt->verbose) fprintf(out, "weights: %zu of %zu parameters from %s\n", rep.loaded, plan.nParams, opt->weights);
  }
  if (rank == 0 && opt->log && !(log = fopen(opt->log, opt->resume ? "a" : "w"))) {
    (void)ERR("%s: cannot open the log: %s", opt->log, strerror(errno));
    goto done;
  }
  if (opt->verbose)
    fprintf(out, "train: %lld steps of %lldx%lld tokens%s, %llu batch%s in the data, lr %g (%s, warmup %lld, min %g)\n",
            (long long)opt->steps, (long long)layout.batchSize, (long long)layout.seqLen,
            world > 1 ? " on each rank" : "", (unsigned long long)nBatches, nBatches == 1 ? "" : "es", opt->lr, cubeScheduleName(opt->schedule),
            (long long)opt->warmup, opt->minLr);
  fflush(out);
  uint64_t first = ck.step + 1, total = (uint64_t)opt->steps, tokensPerStep = layout.tokensPerBatch * (uint64_t)world;
  double t0 = nowS(), loss = ck.lastLoss, lossSum = 0;
  for (uint64_t step = first; step <= total; ++step) {
    double lr = cubeScheduleLr(opt->schedule, opt->lr, opt->minLr, (uint64_t)opt->warmup, total, step), gnorm;
    double ts = nowS();
    if (!cubeBatchFill(&plan, &layout, be, &data, (ck.dataPosition % nBatches) * (uint64_t)world + (uint64_t)rank, err,
                       errSize) ||
        !writeScalars(&plan, be, lr, step, err, errSize) || !cubeBackendRun(be, err, errSize) ||
        !readScalar(&plan, be, "loss", &loss, err, errSize) || !readScalar(&plan, be, "grad_norm", &gnorm, err, errSize))
      goto done;
    double now = nowS(), dt = now - ts, tps = (double)tokensPerStep / (dt > 0 ? dt : 1e-9);
    ck.step = step;
    ck.dataPosition++;
    ck.lastLoss = loss;
    lossSum += loss;
    if (!isfinite(loss) && warn) fprintf(warn, "%swarning: step %llu: loss is %g\n", opt->progress ? "\n" : "",
                                         (unsigned long long)step, loss);
    if (log) {
      fprintf(log, "{\"step\": %llu, \"loss\": %.9g, \"lr\": %.9g, \"grad_norm\": %.9g, \"tokens_per_s\": %.1f}\n",
              (unsigned long long)step, loss, lr, gnorm, tps);
      fflush(log);
    }
    uint64_t done_ = step - first + 1, left = total - step;
    double elapsed = now - t0, meanTps = (double)(done_ * tokensPerStep) / (elapsed > 0 ? elapsed : 1e-9);
    if (opt->progress) {
      char eta[32], bar[32];
      int width = 24, fill = (int)((double)step / (double)total * width);
      for (int i = 0; i < width; ++i) bar[i] = i < fill ? '#' : '.';
      bar[width] = 0;
      hms(elapsed / (double)done_ * (double)left, eta, sizeof eta);
      fprintf(out, "\r\033[Kstep %llu/%llu [%s] loss %.4f | lr %.2e | %.0f tok/s | ETA %s",
              (unsigned long long)step, (unsigned long long)total, bar, loss, lr, meanTps, eta);
      if (step == total) fputc('\n', out);
    } else {
      fprintf(out, "step %llu/%llu: loss %.6f, lr %.6g, grad_norm %.6f, %.0f tokens/s\n", (unsigned long long)step,
              (unsigned long long)total, loss, lr, gnorm, tps);
    }
    fflush(out);
    bool saveNow = rank == 0 && opt->save && (step == total || (opt->saveEvery > 0 && step % (uint64_t)opt->saveEvery == 0));
    if (saveNow) {
      char where[4200];
      if (!cubeCheckpointSave(&plan, be, opt->save, &ck, where, sizeof where, err, errSize)) goto done;
      if (opt->progress && step != total) fputc('\n', out);
      fprintf(out, "saved checkpoint %s\n", where);
      fflush(out);
    }
  }
  double elapsed = nowS() - t0;
  uint64_t ran = total - first + 1;
  fprintf(out, "train: %llu step%s (%llu to %llu) in %.2f s, %.0f tokens/s, final loss %.6f, mean loss %.6f\n",
          (unsigned long long)ran, ran == 1 ? "" : "s", (unsigned long long)first, (unsigned long long)total, elapsed,
          (double)(ran * tokensPerStep) / (elapsed > 0 ? elapsed : 1e-9), loss, lossSum / (double)ran);
  if (opt->profile) cubeProfilePrint(be, out);
  if (rank == 0 && opt->saveAdapter) {
    if (!cubeLoraSaveAdapter(&plan, be, opt->saveAdapter, opt->overwrite, err, errSize)) goto done;
    fprintf(out, "saved adapter %s\n", opt->saveAdapter);
  }
  if (rank == 0 && opt->mergeLora) {
    if (!cubeLoraMerge(&plan, be, opt->mergeLora, err, errSize)) goto done;
    fprintf(out, "saved merged weights %s\n", opt->mergeLora);
  }
  fflush(out);
  ok = true;
done:
  if (log) fclose(log);
  if (quiet) fclose(quiet);
  cubeBackendClose(be);
  cubeTokenDataFree(&data);
  cubePlanFree(&plan);
  return ok;
}
