/* cube-run: runs an artifact written by `python3 -m cube compile` (docs/runtime.md).
 *   cube-run ARTIFACT [--device cpu|cuda] [--weights W.safetensors] [--strict] [--seed N]
 *            --data TOKENS --eval [--batches N] [-v] [--time]
 *   cube-run ARTIFACT [--device cpu|cuda] --data TOKENS --steps N [--lr LR --warmup W --schedule S
 *            --min-lr L] [--weights W] [--save DIR --save-every K] [--resume DIR] [--save-adapter DIR
 *            [--overwrite]] [--merge-lora OUT.safetensors] [--log FILE.jsonl] [--seed S] [--nproc N]
 *   cube-run ARTIFACT --save-init DIR [--weights W] [--seed S] [--overwrite]
 * Only argument handling lives here; the work is cubeRunEval (lib/Runtime/Run.c) and cubeRunTrain
 * (lib/Runtime/Train.c) and cubeSaveInit (lib/Runtime/SaveInit.c). Every failure is one "cube-run: error: ..." line and exit status 1. */
#include "cube/Runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char kUsage[] =
    "usage: cube-run ARTIFACT [--device cpu|cuda] [--weights W.safetensors] [--strict] [--seed N]\n"
    "                --data TOKENS --eval [--batches N] [-v] [--time]\n"
    "       cube-run ARTIFACT --data TOKENS --steps N [training options below]\n"
    "       cube-run ARTIFACT --save-init DIR [--weights W] [--seed N] [--overwrite]\n"
    "\n"
    "Runs a compiled artifact (a directory with plan.json and kernels.so or kernels.ptx).\n"
    "  --device cpu|cuda      where to run (default: the artifact's target)\n"
    "  --weights FILE         load parameters from a safetensors file by HF name (default: their init specs)\n"
    "  --strict               with --weights: missing or unexpected tensors are errors, not warnings\n"
    "  --seed N               seed of the parameter initialisers (default 0; see docs/runtime.md)\n"
    "  --data FILE            token data (docs/data-format.md; `python3 -m cube data` writes it)\n"
    "  --eval                 forward pass on each batch; prints the mean loss\n"
    "  --batches N            only the first N batches (default: every whole batch in the data)\n"
    "  -v, --verbose          also print the plan, the weights and each batch's loss\n"
    "  --time                 print the forward time per batch\n"
    "  --profile              time every step (CUDA: events; CPU: synchronised) and print the time by cube op and the slowest\n"
    "                         steps at the end (eval and training; the first run is a warm-up, dropped)\n"
    "\n"
    "Training (a plan compiled from @train_step; docs/runtime.md, \"Training\"):\n"
    "  --steps N              N optimizer steps, one per batch, wrapping around the data\n"
    "  --lr LR                peak learning rate (default 3e-4)\n"
    "  --warmup W             linear warm-up over the first W steps (default 0)\n"
    "  --schedule S           constant, cosine or linear decay after warm-up (default constant)\n"
    "  --min-lr L             the floor of cosine/linear decay (default 0)\n"
    "  --save DIR             checkpoints DIR/checkpoint-STEP at the end (and every --save-every K steps)\n"
    "  --resume DIR           continue from a checkpoint (or the latest one in a --save DIR)\n"
    "  --save-adapter DIR     at the end, the LoRA adapter in peft's format (--overwrite to replace DIR)\n"
    "  --merge-lora OUT       at the end, full HF weights with the LoRA adapters merged in\n"
    "  --log FILE             one JSON line per step: step, loss, lr, grad_norm, tokens_per_s\n"
    "  --nproc N              data parallelism: N processes (one per GPU), each on 1/N of every global batch of\n"
    "                         N local batches; the plan must be compiled with --data-parallel; rank 0 prints,\n"
    "                         logs and saves (docs/runtime.md, \"Data parallelism\")\n"
    "\n"
    "The initial weights (forward or train_step plans; runs no step):\n"
    "  --save-init DIR        the parameters as a run would start (init specs with --seed, or --weights) into\n"
    "                         DIR/model.safetensors, plus the initial LoRA adapter in peft's format when the\n"
    "                         plan has a lora object; existing files are refused unless --overwrite\n";

static int usageError(const char *fmt, const char *arg) {
  fprintf(stderr, "cube-run: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (cube-run --help for usage)\n");
  return 1;
}

/* A non-negative decimal integer, all of it. */
static bool parseU64(const char *s, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+') return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return false;
  *out = v;
  return true;
}

/* A decimal number, all of it. */
static bool parseDouble(const char *s, double *out) {
  if (!s || !*s) return false;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || v != v) return false;
  *out = v;
  return true;
}

/* An integer that may be negative (so that "--steps -1" is "not positive", not "not an integer"). */
static bool parseI64(const char *s, int64_t *out) {
  if (!s || !*s) return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end) return false;
  *out = v;
  return true;
}

/* One training process: the whole run, or one rank of `--nproc N` (its errors name the rank). */
static int trainRank(CubeComm *comm, void *arg) {
  CubeTrainOptions tr = *(const CubeTrainOptions *)arg;
  tr.comm = comm;
  if (comm && cubeCommRank(comm) != 0) tr.progress = 0;
  char err[8192];
  if (!cubeRunTrain(&tr, stdout, stderr, err, sizeof err)) {
    fflush(stdout);
    char who[32] = "";
    if (comm) snprintf(who, sizeof who, "rank %d: ", cubeCommRank(comm));
    fprintf(stderr, "%scube-run: error: %s%s\n", tr.progress ? "\n" : "", who, err);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  CubeEvalOptions opt;
  CubeTrainOptions tr;
  memset(&opt, 0, sizeof opt);
  memset(&tr, 0, sizeof tr);
  tr.lr = 3e-4;
  tr.schedule = CUBE_SCHEDULE_CONSTANT;
  bool eval = false, train = false, trainOnly = false;
  uint64_t nproc = 0;
  const char *trainOnlyName = NULL, *saveInit = NULL;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *eq = strchr(a, '=');
    char key[64];
    const char *value = NULL;
    if (a[0] == '-' && a[1] == '-' && eq && (size_t)(eq - a) < sizeof key) {
      memcpy(key, a, (size_t)(eq - a));
      key[eq - a] = 0;
      value = eq + 1;
      a = key;
    }
    bool takesValue = !strcmp(a, "--device") || !strcmp(a, "--weights") || !strcmp(a, "--seed") ||
                      !strcmp(a, "--data") || !strcmp(a, "--batches") || !strcmp(a, "--steps") ||
                      !strcmp(a, "--lr") || !strcmp(a, "--warmup") || !strcmp(a, "--schedule") ||
                      !strcmp(a, "--min-lr") || !strcmp(a, "--save") || !strcmp(a, "--save-every") ||
                      !strcmp(a, "--resume") || !strcmp(a, "--save-adapter") || !strcmp(a, "--merge-lora") ||
                      !strcmp(a, "--log") || !strcmp(a, "--save-init") || !strcmp(a, "--nproc");
    bool isTrainOption = takesValue && strcmp(a, "--device") && strcmp(a, "--weights") && strcmp(a, "--seed") &&
                         strcmp(a, "--data") && strcmp(a, "--batches") && strcmp(a, "--steps") &&
                         strcmp(a, "--save-init");
    if (isTrainOption) {
      trainOnly = true;
      if (!trainOnlyName) trainOnlyName = a;
    }
    if (takesValue && !value) {
      if (i + 1 >= argc) return usageError("%s needs a value", a);
      value = argv[++i];
    } else if (!takesValue && value) {
      return usageError("%s takes no value", a);
    }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(kUsage, stdout);
      return 0;
    } else if (!strcmp(a, "--device")) {
      if (strcmp(value, "cpu") && strcmp(value, "cuda")) return usageError("--device: '%s' is not cpu or cuda", value);
      opt.device = value;
    } else if (!strcmp(a, "--weights")) {
      opt.weights = value;
    } else if (!strcmp(a, "--data")) {
      opt.data = value;
    } else if (!strcmp(a, "--seed")) {
      if (!parseU64(value, &opt.seed)) return usageError("--seed: '%s' is not a non-negative integer", value);
    } else if (!strcmp(a, "--batches")) {
      uint64_t n;
      if (!parseU64(value, &n) || n == 0 || n > INT64_MAX)
        return usageError("--batches: '%s' is not a positive integer", value);
      opt.batches = (int64_t)n;
    } else if (!strcmp(a, "--steps")) {
      if (!parseI64(value, &tr.steps)) return usageError("--steps: '%s' is not an integer", value);
      if (tr.steps <= 0) return usageError("--steps: '%s' is not a positive number of steps", value);
      train = true;
    } else if (!strcmp(a, "--lr")) {
      if (!parseDouble(value, &tr.lr)) return usageError("--lr: '%s' is not a number", value);
      if (tr.lr < 0) return usageError("--lr: '%s' is negative", value);
    } else if (!strcmp(a, "--min-lr")) {
      if (!parseDouble(value, &tr.minLr)) return usageError("--min-lr: '%s' is not a number", value);
      if (tr.minLr < 0) return usageError("--min-lr: '%s' is negative", value);
    } else if (!strcmp(a, "--warmup")) {
      uint64_t n;
      if (!parseU64(value, &n) || n > INT64_MAX) return usageError("--warmup: '%s' is not a non-negative integer", value);
      tr.warmup = (int64_t)n;
    } else if (!strcmp(a, "--save-every")) {
      uint64_t n;
      if (!parseU64(value, &n) || n == 0 || n > INT64_MAX)
        return usageError("--save-every: '%s' is not a positive integer", value);
      tr.saveEvery = (int64_t)n;
    } else if (!strcmp(a, "--schedule")) {
      if (!cubeScheduleParse(value, &tr.schedule))
        return usageError("--schedule: '%s' is not constant, cosine or linear", value);
    } else if (!strcmp(a, "--nproc")) {
      if (!parseU64(value, &nproc) || nproc == 0 || nproc > 64)
        return usageError("--nproc: '%s' is not a number of ranks in [1, 64]", value);
    } else if (!strcmp(a, "--save")) {
      tr.save = value;
    } else if (!strcmp(a, "--resume")) {
      tr.resume = value;
    } else if (!strcmp(a, "--save-adapter")) {
      tr.saveAdapter = value;
    } else if (!strcmp(a, "--merge-lora")) {
      tr.mergeLora = value;
    } else if (!strcmp(a, "--log")) {
      tr.log = value;
    } else if (!strcmp(a, "--overwrite")) {
      tr.overwrite = true;
    } else if (!strcmp(a, "--save-init")) {
      if (!*value) return usageError("%s", "--save-init needs a directory");
      saveInit = value;
    } else if (!strcmp(a, "--strict")) {
      opt.strict = true;
    } else if (!strcmp(a, "--eval")) {
      eval = true;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      opt.verbose = true;
    } else if (!strcmp(a, "--time")) {
      opt.time = true;
    } else if (!strcmp(a, "--profile")) {
      opt.profile = true;
    } else if (a[0] == '-' && a[1]) {
      return usageError("unknown option '%s'", a);
    } else if (opt.artifact) {
      return usageError("more than one artifact given ('%s')", a);
    } else {
      opt.artifact = a;
    }
  }
  if (!opt.artifact) return usageError("%s", "no ARTIFACT given");
  if (saveInit) {
    if (eval || train) return usageError("%s", "--save-init runs no step; it excludes --eval and --steps");
    if (trainOnly) return usageError("%s applies to training, not to --save-init", trainOnlyName);
    if (opt.data) return usageError("%s", "--save-init needs no --data");
    if (opt.batches || opt.time) return usageError("%s", "--batches and --time apply to --eval, not to --save-init");
    if (opt.profile) return usageError("%s", "--profile applies to --eval or --steps; --save-init runs no step");
    if (opt.strict && !opt.weights) return usageError("%s", "--strict applies to --weights, which is not given");
    CubeSaveInitOptions si = {opt.artifact, opt.device, opt.weights, saveInit, opt.strict, tr.overwrite,
                              opt.verbose, opt.seed};
    char err[8192];
    if (!cubeSaveInit(&si, stdout, stderr, err, sizeof err)) {
      fflush(stdout);
      fprintf(stderr, "cube-run: error: %s\n", err);
      return 1;
    }
    return 0;
  }
  if (tr.overwrite && !trainOnly && !train)
    return usageError("%s", "--overwrite applies to --save-adapter or --save-init, neither is given");
  if (eval && train) return usageError("%s", "--eval and --steps exclude each other (evaluate or train)");
  if (trainOnly && !train) return usageError("%s applies to training, which needs --steps N", trainOnlyName);
  if (train) {
    if (!opt.data) return usageError("%s", "--steps needs --data TOKENS");
    if (opt.batches) return usageError("%s", "--batches applies to --eval; training runs --steps N batches");
    if (opt.time) return usageError("%s", "--time applies to --eval; training reports tokens/s");
    if (tr.saveEvery && !tr.save) return usageError("%s", "--save-every needs --save DIR");
    if (tr.overwrite && !tr.saveAdapter) return usageError("%s", "--overwrite applies to --save-adapter, which is not given");
    if (opt.strict && !opt.weights) return usageError("%s", "--strict applies to --weights, which is not given");
    if (tr.minLr > tr.lr) return usageError("--min-lr is above --lr (%s)", "the floor of the decay must be <= the peak");
    tr.artifact = opt.artifact;
    tr.device = opt.device;
    tr.weights = opt.weights;
    tr.data = opt.data;
    tr.strict = opt.strict;
    tr.verbose = opt.verbose;
    tr.profile = opt.profile;
    tr.seed = opt.seed;
    const char *p = getenv("CUBE_PROGRESS");
    tr.progress = p && *p ? !strcmp(p, "bar") : isatty(fileno(stdout));
    const char *ws = getenv("WORLD_SIZE");
    if (!nproc && ws && strcmp(ws, "1") && strcmp(ws, ""))
      return usageError("WORLD_SIZE=%s: cube-run starts the ranks of a data-parallel run itself; run one "
                        "`cube-run --nproc N` instead of one cube-run per rank", ws);
    if (nproc) return cubeLaunchRanks((int)nproc, trainRank, &tr, stderr);
    return trainRank(NULL, &tr);
  }
  if (!eval) return usageError("%s", "nothing to do: pass --eval (the forward pass and its loss) or --steps N (training)");
  if (!opt.data) return usageError("%s", "--eval needs --data TOKENS");
  if (opt.strict && !opt.weights) return usageError("%s", "--strict applies to --weights, which is not given");
  char err[8192];
  double loss;
  if (!cubeRunEval(&opt, stdout, stderr, &loss, err, sizeof err)) {
    fflush(stdout);
    fprintf(stderr, "cube-run: error: %s\n", err);
    return 1;
  }
  return 0;
}
