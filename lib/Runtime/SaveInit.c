/* `cube-run ARTIFACT --save-init DIR` (docs/runtime.md, "The initial weights"): load and check the plan
 * (forward or train_step), open the backend, fill the parameters exactly as a run would (init specs keyed by
 * --seed, then --weights), and write DIR/model.safetensors (every parameter by its HF name, atomically) and,
 * when the plan has a `lora` object, the initial adapter in peft's format into DIR (the writer behind
 * --save-adapter). No step of the plan runs. */
#include "cube/Runtime.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define ERR(...) (snprintf(err, errSize, __VA_ARGS__), false)

static bool exists(const char *dir, const char *name) {
  char p[4400];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return stat(p, &st) == 0;
}

/* mkdir -p; DIR must end up a directory. */
static bool makeDirs(const char *path, char *err, size_t errSize) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return ERR("%s: path too long", path);
  for (char *p = buf + 1;; ++p) {
    if (*p == '/' || !*p) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) return ERR("%s: cannot create directory: %s", buf, strerror(errno));
      *p = c;
      if (!c) break;
    }
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return ERR("%s: exists and is not a directory", path);
  return true;
}

bool cubeSaveInit(const CubeSaveInitOptions *opt, FILE *out, FILE *warn, char *err, size_t errSize) {
  CubePlan plan;
  CubeBackend *be = NULL;
  bool ok = false;
  if (!opt->dir || !*opt->dir) return ERR("--save-init: no directory given");
  if (!cubePlanLoad(opt->artifact, &plan, err, errSize)) return false;
  const char *device = opt->device ? opt->device : plan.target;
  static const char *const kFiles[] = {"model.safetensors", "adapter_config.json", "adapter_model.safetensors"};
  size_t nFiles = plan.lora.present ? 3 : 1;
  struct stat st;
  if (stat(opt->dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
    (void)ERR("%s: exists and is not a directory", opt->dir);
    goto done;
  }
  if (!opt->overwrite)
    for (size_t i = 0; i < nFiles; ++i)
      if (exists(opt->dir, kFiles[i])) {
        (void)ERR("%s: the directory already holds %s (pass --overwrite to replace the initial weights)", opt->dir,
                  kFiles[i]);
        goto done;
      }
  if (!cubeBackendOpen(device, &plan, &be, err, errSize) || !cubeParamsInit(&plan, be, opt->seed, err, errSize))
    goto done;
  if (opt->weights) {
    CubeWeightsReport rep;
    if (!cubeParamsLoadWeights(&plan, be, opt->weights, opt->strict, warn, &rep, err, errSize)) goto done;
    if (opt->verbose) fprintf(out, "weights: %zu of %zu parameters from %s\n", rep.loaded, plan.nParams, opt->weights);
  }
  if (!makeDirs(opt->dir, err, errSize)) goto done;
  char path[4400];
  snprintf(path, sizeof path, "%s/model.safetensors", opt->dir);
  if (!cubeParamsSave(&plan, be, path, err, errSize)) goto done;
  fprintf(out, "saved initial weights %s (%zu parameters, %s, seed %llu)\n", path, plan.nParams,
          opt->weights ? opt->weights : "init specs", (unsigned long long)opt->seed);
  if (plan.lora.present) {
    if (!cubeLoraSaveAdapter(&plan, be, opt->dir, true, err, errSize)) goto done;
    fprintf(out, "saved initial adapter %s (adapter_config.json, adapter_model.safetensors)\n", opt->dir);
  }
  fflush(out);
  ok = true;
done:
  cubeBackendClose(be);
  cubePlanFree(&plan);
  return ok;
}
