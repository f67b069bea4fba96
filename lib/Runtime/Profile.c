/* Step profiling (`cube-run --profile`): where the time of a run goes, by the runtime's own clock.
 *
 * When a backend carries a profile, cubeBackendRun times every step: on CUDA with an event recorded after
 * each step (no synchronisation between steps, so the times add up to the run's own; a step's time also
 * holds any idle gap before it, e.g. while the host is still launching), on the CPU with the monotonic
 * clock around each step. The table groups the steps by what they came from (the plan's `cube_op` and step
 * kind) and lists the slowest single steps with their scope; the first run (JIT, cuBLASLt tuning, warm-up)
 * is left out when there are more. */
#include "cube/Runtime.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

bool cubeProfileEnable(CubeBackend *be, char *err, size_t errSize) {
  CubeProfile *p = calloc(1, sizeof *p);
  if (p) p->ms = calloc(be->plan->nSteps + 1, sizeof *p->ms);
  if (!p || !p->ms) {
    free(p);
    snprintf(err, errSize, "out of memory (profile of %zu steps)", be->plan->nSteps);
    return false;
  }
  be->profile = p;
  return true;
}

void cubeProfileFree(CubeProfile *p) {
  if (p) free(p->ms);
  free(p);
}

bool cubeProfileRun(CubeBackend *be, char *err, size_t errSize) {
  CubeProfile *p = be->profile;
  bool keep = p->runs > 0 || p->skippedFirst; /* the first run warms up: measured, then dropped */
  if (p->runs == 0) memset(p->ms, 0, sizeof *p->ms * be->plan->nSteps); /* the warm-up, or the 1st kept run */
  if (be->ops->runTimed) {
    if (!be->ops->runTimed(be, p->ms, err, errSize)) return false;
  } else {
    for (size_t i = 0; i < be->plan->nSteps; ++i) {
      double t0 = nowMs();
      if (!be->ops->run(be, i, i + 1, err, errSize) || !be->ops->sync(be, err, errSize)) return false;
      p->ms[i] += nowMs() - t0;
    }
  }
  if (keep) p->runs++;
  else p->skippedFirst = true;
  return true;
}

typedef struct {
  const char *op, *kind;
  double ms;
  size_t count;
} Group;

static int byMsDesc(const void *a, const void *b) {
  double x = ((const Group *)a)->ms, y = ((const Group *)b)->ms;
  return x < y ? 1 : x > y ? -1 : 0;
}

typedef struct {
  size_t step;
  double ms;
} One;

static int oneDesc(const void *a, const void *b) {
  double x = ((const One *)a)->ms, y = ((const One *)b)->ms;
  return x < y ? 1 : x > y ? -1 : 0;
}

void cubeProfilePrint(const CubeBackend *be, FILE *out) {
  const CubeProfile *p = be->profile;
  const CubePlan *plan = be->plan;
  uint64_t runs = p->runs ? p->runs : 1;
  if (!p->runs) fprintf(out, "profile: one run only (includes the warm-up)\n");
  Group *g = calloc(plan->nSteps + 1, sizeof *g);
  One *all = calloc(plan->nSteps + 1, sizeof *all);
  if (!g || !all) {
    free(g);
    free(all);
    return;
  }
  size_t ng = 0;
  double total = 0;
  for (size_t i = 0; i < plan->nSteps; ++i) {
    const CubePlanStep *s = &plan->steps[i];
    const char *op = s->cubeOp ? s->cubeOp : "?", *kind = cubeStepOpName(s->op);
    double ms = p->ms[i] / (double)runs;
    total += ms;
    all[i] = (One){i, ms};
    size_t j = 0;
    while (j < ng && (strcmp(g[j].op, op) || strcmp(g[j].kind, kind))) ++j;
    if (j == ng) g[ng++] = (Group){op, kind, 0, 0};
    g[j].ms += ms;
    g[j].count++;
  }
  qsort(g, ng, sizeof *g, byMsDesc);
  fprintf(out, "profile: %zu steps, %.3f ms per run (mean of %llu run%s, %s)\n", plan->nSteps, total,
          (unsigned long long)runs, runs == 1 ? "" : "s",
          be->ops->runTimed ? "device time between events after each step" : "synchronised after every step");
  fprintf(out, "  %-26s %-7s %7s %11s %7s\n", "cube op", "step", "count", "ms/run", "share");
  for (size_t j = 0; j < ng; ++j)
    fprintf(out, "  %-26s %-7s %7zu %11.3f %6.1f%%\n", g[j].op, g[j].kind, g[j].count, g[j].ms,
            total > 0 ? 100.0 * g[j].ms / total : 0.0);
  qsort(all, plan->nSteps, sizeof *all, oneDesc);
  const char *topEnv = getenv("CUBE_PROFILE_TOP");
  size_t want = topEnv && *topEnv ? (size_t)strtoull(topEnv, NULL, 10) : 15;
  size_t top = plan->nSteps < want ? plan->nSteps : want;
  fprintf(out, "  slowest steps:\n");
  for (size_t k = 0; k < top; ++k) {
    const CubePlanStep *s = &plan->steps[all[k].step];
    char shape[96] = "";
    if (s->op == CUBE_STEP_GEMM) /* m x n x k, the batch, the transposes, the element type */
      snprintf(shape, sizeof shape, " %lldx%lldx%lld batch %lld%s%s %s", (long long)s->m, (long long)s->n,
               (long long)s->k, (long long)s->batch, s->transA ? " tA" : "", s->transB ? " tB" : "",
               cubePlanDTypeName(s->dtype));
    fprintf(out, "  %9.3f ms  steps[%zu] %s %s%s (%s)\n", all[k].ms, all[k].step, cubeStepOpName(s->op),
            s->kernel ? s->kernel : s->cubeOp ? s->cubeOp : "", shape, s->scope && *s->scope ? s->scope : "-");
  }
  fflush(out);
  free(g);
  free(all);
}
