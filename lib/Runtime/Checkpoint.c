/* Training checkpoints (docs/runtime.md, "Checkpoints"): DIR/checkpoint-STEP/ holds
 *   model.safetensors      every parameter by its HF name, in the plan's dtype (loadable with --weights)
 *   optimizer.safetensors  every optimizer state by its name ("<param>.exp_avg", ...)
 *   trainer_state.json     {"format": "cube-checkpoint", "version": 1, "step", "data_position", "seed",
 *                           "plan_fingerprint", "loss"}
 *   COMPLETE               the marker, written last
 * A checkpoint is written into DIR/.checkpoint-STEP.tmp.PID, every file fsync'ed, the marker last, then the
 * directory is renamed into place (an older one of the same step is moved aside first and removed after),
 * so a crash leaves either the old state or a hidden temp directory, never a half-written checkpoint-STEP;
 * a directory without the marker is refused on --resume. */
#include "cube/Init.h"
#include "cube/Runtime.h"
#include "cube/Safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERR(...) (snprintf(err, errSize, __VA_ARGS__), false)

bool cubeWriteFileAtomic(const char *path, const void *data, size_t len, char *err, size_t errSize) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return ERR("%s: cannot write: %s", tmp, strerror(errno));
  bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
  int e = errno;
  ok = fclose(f) == 0 && ok;
  if (!ok) {
    remove(tmp);
    return ERR("%s: write failed: %s", tmp, strerror(e));
  }
  if (rename(tmp, path) != 0) {
    e = errno;
    remove(tmp);
    return ERR("%s: cannot rename %s into place: %s", path, tmp, strerror(e));
  }
  return true;
}

static void fsyncDir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* mkdir -p. */
static bool makeDirs(const char *path, char *err, size_t errSize) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
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
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return ERR("%s: not a directory", path);
  return true;
}

/* rm -r of a directory this code wrote (one level of plain files). */
static void removeTree(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[4600];
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      remove(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; ++s) h = (h ^ (unsigned char)*s) * 0x100000001B3ULL;
  return h;
}

uint64_t cubePlanFingerprint(const CubePlan *plan) {
  uint64_t h = 0xCBF29CE484222325ULL;
  char line[1024], sh[256];
  for (size_t i = 0; i < plan->nParams; ++i) {
    const CubePlanParam *q = &plan->params[i];
    snprintf(line, sizeof line, "param %s %s %s %d\n", q->name, cubePlanDTypeName(q->dtype),
             cubeShapeString(q->shape, q->rank, sh, sizeof sh), (int)q->trainable);
    h = fnv(h, line);
  }
  for (size_t i = 0; i < plan->nStates; ++i) {
    const CubePlanState *q = &plan->states[i];
    snprintf(line, sizeof line, "state %s %s %s %s\n", q->name, plan->params[q->param].name,
             cubePlanDTypeName(q->dtype), cubeShapeString(q->shape, q->rank, sh, sizeof sh));
    h = fnv(h, line);
  }
  return h;
}

bool cubeBufferReadF32(const CubePlan *plan, CubeBackend *be, int buffer, float **out, char *err, size_t errSize) {
  const CubePlanBuffer *b = &plan->buffers[buffer];
  size_t n = (size_t)cubeShapeNumel(b->shape, b->rank);
  void *raw = malloc(b->bytes + 1);
  float *f = malloc(n * sizeof(float) + 1);
  *out = NULL;
  bool ok = raw && f && cubeBackendRead(be, b->offset, raw, b->bytes, err, errSize);
  if (ok && !cubeConvertToF32(raw, n, b->dtype, f)) ok = ERR("buffer '%s' is %s, not a float buffer", b->name,
                                                              cubePlanDTypeName(b->dtype));
  free(raw);
  if (!ok) free(f);
  else *out = f;
  return ok;
}

bool cubeStatesInit(const CubePlan *plan, CubeBackend *be, uint64_t seed, char *err, size_t errSize) {
  for (size_t i = 0; i < plan->nStates; ++i) {
    const CubePlanState *q = &plan->states[i];
    if (!cubeFillFromInit(be, q->buffer, &q->init, q->shape, q->rank, q->dtype, seed, q->name, "optimizer state", err,
                          errSize))
      return false;
  }
  return true;
}

/* Reads the given buffers from the device and writes them as one safetensors file. */
static bool saveTensors(const CubePlan *plan, CubeBackend *be, const char *path, const char *const *names,
                        const int *buffers, size_t n, char *err, size_t errSize) {
  CubeTensorView *views = calloc(n + 1, sizeof *views);
  void **data = calloc(n + 1, sizeof *data);
  bool ok = views && data;
  for (size_t i = 0; ok && i < n; ++i) {
    const CubePlanBuffer *b = &plan->buffers[buffers[i]];
    data[i] = malloc(b->bytes + 1);
    ok = data[i] && cubeBackendRead(be, b->offset, data[i], b->bytes, err, errSize);
    views[i] = (CubeTensorView){names[i], b->dtype, b->rank, b->shape, data[i]};
  }
  const char *meta[] = {"format", "pt", NULL};
  ok = ok && cubeSafetensorsWrite(path, views, n, meta, err, errSize);
  for (size_t i = 0; data && i < n; ++i) free(data[i]);
  free(data);
  free(views);
  return ok;
}

bool cubeParamsSave(const CubePlan *plan, CubeBackend *be, const char *path, char *err, size_t errSize) {
  const char **names = calloc(plan->nParams + 1, sizeof *names);
  int *bufs = calloc(plan->nParams + 1, sizeof *bufs);
  bool ok = names && bufs;
  if (!ok) (void)ERR("%s: out of memory", path);
  for (size_t i = 0; ok && i < plan->nParams; ++i) names[i] = plan->params[i].name, bufs[i] = plan->params[i].buffer;
  ok = ok && saveTensors(plan, be, path, names, bufs, plan->nParams, err, errSize);
  free(names);
  free(bufs);
  return ok;
}

bool cubeCheckpointSave(const CubePlan *plan, CubeBackend *be, const char *dir, const CubeCheckpointInfo *info,
                        char *written, size_t writtenSize, char *err, size_t errSize) {
  char tmp[4200], final[4200], old[4300], path[4400];
  if (!makeDirs(dir, err, errSize)) return false;
  snprintf(final, sizeof final, "%s/checkpoint-%llu", dir, (unsigned long long)info->step);
  snprintf(tmp, sizeof tmp, "%s/.checkpoint-%llu.tmp.%d", dir, (unsigned long long)info->step, (int)getpid());
  removeTree(tmp);
  if (mkdir(tmp, 0777) != 0) return ERR("%s: cannot create directory: %s", tmp, strerror(errno));
  size_t n = plan->nParams > plan->nStates ? plan->nParams : plan->nStates;
  const char **names = calloc(n + 1, sizeof *names);
  int *bufs = calloc(n + 1, sizeof *bufs);
  bool ok = names && bufs;
  for (size_t i = 0; ok && i < plan->nParams; ++i) names[i] = plan->params[i].name, bufs[i] = plan->params[i].buffer;
  snprintf(path, sizeof path, "%s/model.safetensors", tmp);
  ok = ok && saveTensors(plan, be, path, names, bufs, plan->nParams, err, errSize);
  for (size_t i = 0; ok && i < plan->nStates; ++i) names[i] = plan->states[i].name, bufs[i] = plan->states[i].buffer;
  snprintf(path, sizeof path, "%s/optimizer.safetensors", tmp);
  ok = ok && saveTensors(plan, be, path, names, bufs, plan->nStates, err, errSize);
  free(names);
  free(bufs);
  if (ok) {
    char fp[32], text[1024];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)info->fingerprint);
    int len = snprintf(text, sizeof text,
                       "{\n  \"format\": \"cube-checkpoint\",\n  \"version\": 1,\n  \"step\": %llu,\n"
                       "  \"data_position\": %llu,\n  \"seed\": %llu,\n  \"rng_state\": null,\n"
                       "  \"plan_fingerprint\": \"%s\",\n  \"loss\": %.9g\n}\n",
                       (unsigned long long)info->step, (unsigned long long)info->dataPosition,
                       (unsigned long long)info->seed, fp, info->lastLoss);
    snprintf(path, sizeof path, "%s/trainer_state.json", tmp);
    ok = cubeWriteFileAtomic(path, text, (size_t)len, err, errSize);
    snprintf(path, sizeof path, "%s/COMPLETE", tmp);
    ok = ok && cubeWriteFileAtomic(path, "ok\n", 3, err, errSize);
  }
  if (ok) {
    fsyncDir(tmp);
    struct stat st;
    old[0] = 0;
    if (stat(final, &st) == 0) {
      snprintf(old, sizeof old, "%s/.checkpoint-%llu.old.%d", dir, (unsigned long long)info->step, (int)getpid());
      removeTree(old);
      if (rename(final, old) != 0) ok = ERR("%s: cannot move the old checkpoint aside: %s", final, strerror(errno));
    }
    if (ok && rename(tmp, final) != 0) ok = ERR("%s: cannot rename %s into place: %s", final, tmp, strerror(errno));
    if (ok) fsyncDir(dir);
    if (ok && old[0]) removeTree(old);
  }
  if (!ok) removeTree(tmp);
  else if (written) snprintf(written, writtenSize, "%s", final);
  return ok;
}

static bool isFile(const char *dir, const char *name) {
  char p[4400];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* PATH itself, or PATH/checkpoint-N of the highest N. */
static bool resolve(const char *path, char *out, size_t outSize, char *err, size_t errSize) {
  struct stat st;
  if (stat(path, &st) != 0) return ERR("%s: cannot open the checkpoint: %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return ERR("%s: not a checkpoint directory", path);
  if (isFile(path, "trainer_state.json") || isFile(path, "COMPLETE") || isFile(path, "model.safetensors")) {
    snprintf(out, outSize, "%s", path);
    return true;
  }
  DIR *d = opendir(path);
  if (!d) return ERR("%s: cannot read the directory: %s", path, strerror(errno));
  long long best = -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    if (strncmp(e->d_name, "checkpoint-", 11)) continue;
    long long k = strtoll(e->d_name + 11, &end, 10);
    if (*end || end == e->d_name + 11 || k < 0) continue;
    if (k > best) best = k;
  }
  closedir(d);
  if (best < 0) return ERR("%s: not a checkpoint (no trainer_state.json) and no checkpoint-N directory in it", path);
  snprintf(out, outSize, "%s/checkpoint-%lld", path, best);
  return true;
}

/* Every name must be in the file with the buffer's dtype and shape; then all are written. */
static bool loadTensors(const CubePlan *plan, CubeBackend *be, const char *path, const char *const *names,
                        const int *buffers, size_t n, const char *what, char *err, size_t errSize) {
  CubeSafetensors st;
  char s1[128], s2[128];
  if (!cubeSafetensorsOpen(path, &st, err, errSize)) return false;
  bool ok = true;
  for (size_t i = 0; ok && i < n; ++i) {
    const CubePlanBuffer *b = &plan->buffers[buffers[i]];
    const CubeTensorInfo *t = cubeSafetensorsFind(&st, names[i]);
    if (!t)
      ok = ERR("%s: the checkpoint has no %s '%s' (a checkpoint of another model?)", path, what, names[i]);
    else if (t->dtype != b->dtype || t->rank != b->rank || memcmp(t->shape, b->shape, sizeof(int64_t) * (size_t)b->rank))
      ok = ERR("%s: %s '%s' is %s %s in the checkpoint, but %s %s in the plan", path, what, names[i],
               cubeDTypeName(t->dtype), cubeShapeString(t->shape, t->rank, s1, sizeof s1), cubeDTypeName(b->dtype),
               cubeShapeString(b->shape, b->rank, s2, sizeof s2));
  }
  for (size_t i = 0; ok && i < n; ++i) {
    const CubePlanBuffer *b = &plan->buffers[buffers[i]];
    ok = cubeBackendWrite(be, b->offset, cubeSafetensorsData(&st, cubeSafetensorsFind(&st, names[i])), b->bytes, err,
                          errSize);
  }
  cubeSafetensorsClose(&st);
  return ok;
}

static bool getU64(json_t *root, const char *key, uint64_t *out) {
  json_t *v = json_object_get(root, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
  *out = (uint64_t)json_integer_value(v);
  return true;
}

bool cubeCheckpointLoad(const CubePlan *plan, CubeBackend *be, const char *path, CubeCheckpointInfo *info,
                        char *loaded, size_t loadedSize, char *err, size_t errSize) {
  char dir[4200], p[4400];
  memset(info, 0, sizeof *info);
  if (!resolve(path, dir, sizeof dir, err, errSize)) return false;
  if (!isFile(dir, "COMPLETE"))
    return ERR("%s: a half-written checkpoint (no COMPLETE marker: the save was interrupted); resume from an "
               "earlier one", dir);
  snprintf(p, sizeof p, "%s/trainer_state.json", dir);
  json_error_t jerr;
  json_t *root = json_load_file(p, 0, &jerr);
  if (!root) return ERR("%s: not valid JSON: %s", p, jerr.text);
  json_t *fmt = json_object_get(root, "format"), *fp = json_object_get(root, "plan_fingerprint");
  bool ok = json_is_string(fmt) && !strcmp(json_string_value(fmt), "cube-checkpoint") && json_is_string(fp) &&
            getU64(root, "step", &info->step) && getU64(root, "data_position", &info->dataPosition) &&
            getU64(root, "seed", &info->seed);
  json_t *loss = json_object_get(root, "loss");
  info->lastLoss = json_is_number(loss) ? json_number_value(loss) : 0.0;
  if (!ok) {
    json_decref(root);
    return ERR("%s: not a cube checkpoint state (expected format \"cube-checkpoint\", step, data_position, seed, "
               "plan_fingerprint)", p);
  }
  info->fingerprint = strtoull(json_string_value(fp), NULL, 16);
  uint64_t mine = cubePlanFingerprint(plan);
  if (info->fingerprint != mine) {
    ok = ERR("%s: the checkpoint is of another model: its plan fingerprint is %s, this artifact's (%s) is %016llx "
             "(the parameters or optimizer states differ)", dir, json_string_value(fp), plan->path,
             (unsigned long long)mine);
  }
  json_decref(root);
  if (!ok) return false;
  size_t n = plan->nParams > plan->nStates ? plan->nParams : plan->nStates;
  const char **names = calloc(n + 1, sizeof *names);
  int *bufs = calloc(n + 1, sizeof *bufs);
  ok = names && bufs;
  for (size_t i = 0; ok && i < plan->nParams; ++i) names[i] = plan->params[i].name, bufs[i] = plan->params[i].buffer;
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  ok = ok && loadTensors(plan, be, p, names, bufs, plan->nParams, "parameter", err, errSize);
  for (size_t i = 0; ok && i < plan->nStates; ++i) names[i] = plan->states[i].name, bufs[i] = plan->states[i].buffer;
  snprintf(p, sizeof p, "%s/optimizer.safetensors", dir);
  ok = ok && loadTensors(plan, be, p, names, bufs, plan->nStates, "optimizer state", err, errSize);
  free(names);
  free(bufs);
  if (ok && loaded) snprintf(loaded, loadedSize, "%s", dir);
  return ok;
}
