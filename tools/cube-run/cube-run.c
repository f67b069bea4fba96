/* cube-run: runs an artifact written by `python3 -m cube compile` (docs/runtime.md).
 *   cube-run ARTIFACT [--device cpu|cuda] [--weights W.safetensors] [--strict] [--seed N]
 *            --data TOKENS --eval [--batches N] [-v] [--time]
 * Only argument handling lives here; the work is cubeRunEval (lib/Runtime/Run.c). Every failure is one
 * "cube-run: error: ..." line and exit status 1. */
#include "cube/Runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char kUsage[] =
    "usage: cube-run ARTIFACT [--device cpu|cuda] [--weights W.safetensors] [--strict] [--seed N]\n"
    "                --data TOKENS --eval [--batches N] [-v] [--time]\n"
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
    "  --time                 print the forward time per batch\n";

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

int main(int argc, char **argv) {
  CubeEvalOptions opt;
  memset(&opt, 0, sizeof opt);
  bool eval = false;
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
                      !strcmp(a, "--data") || !strcmp(a, "--batches");
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
    } else if (!strcmp(a, "--strict")) {
      opt.strict = true;
    } else if (!strcmp(a, "--eval")) {
      eval = true;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      opt.verbose = true;
    } else if (!strcmp(a, "--time")) {
      opt.time = true;
    } else if (a[0] == '-' && a[1]) {
      return usageError("unknown option '%s'", a);
    } else if (opt.artifact) {
      return usageError("more than one artifact given ('%s')", a);
    } else {
      opt.artifact = a;
    }
  }
  if (!opt.artifact) return usageError("%s", "no ARTIFACT given");
  if (!eval) return usageError("%s", "nothing to do: pass --eval (the forward pass and its loss)");
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
