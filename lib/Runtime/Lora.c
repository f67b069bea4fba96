/* LoRA adapters in peft's format and merged weights (docs/runtime.md, "LoRA adapters").
 * The plan's LoRA parameters are "<module>.lora_A.weight" ([r, in]) and "<module>.lora_B.weight" ([out, r])
 * beside the frozen "<module>.weight" ([out, in]); the plan's `lora` object gives r, alpha, dropout, targets,
 * bias and use_rslora.
 *   --save-adapter DIR: DIR/adapter_config.json (peft's LoraConfig, task CAUSAL_LM, inference_mode true) and
 *     DIR/adapter_model.safetensors with the keys peft's get_peft_model_state_dict gives:
 *     "base_model.model.<HF name>" (base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight).
 *   --merge-lora OUT: every parameter that is not a LoRA one, by its HF name, with
 *     W += scaling * B @ A (scaling = alpha / r, or alpha / sqrt(r) with use_rslora) for each adapted module. */
#include "cube/Runtime.h"
#include "cube/Safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ERR(...) (snprintf(err, errSize, __VA_ARGS__), false)

static const char kA[] = ".lora_A.weight", kB[] = ".lora_B.weight";

static bool endsWith(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static bool isLoraParam(const char *name) { return endsWith(name, kA) || endsWith(name, kB); }

static bool needLora(const CubePlan *plan, const char *what, char *err, size_t errSize) {
  if (!plan->lora.present)
    return ERR("%s: %s needs a LoRA model, but the plan has no \"lora\" object (compile with --use-lora)", plan->path,
               what);
  for (size_t i = 0; i < plan->nParams; ++i)
    if (isLoraParam(plan->params[i].name)) return true;
  return ERR("%s: %s: the plan has a \"lora\" object but no parameter named *.lora_A.weight or *.lora_B.weight",
             plan->path, what);
}

static bool adapterConfig(const CubePlan *plan, const char *path, char *err, size_t errSize) {
  const CubePlanLora *l = &plan->lora;
  json_t *o = json_object(), *targets = json_array();
  for (size_t i = 0; i < l->nTargets; ++i) json_array_append_new(targets, json_string(l->targets[i]));
  json_object_set_new(o, "peft_type", json_string("LORA"));
  json_object_set_new(o, "task_type", json_string("CAUSAL_LM"));
  json_object_set_new(o, "r", json_integer(l->r));
  json_object_set_new(o, "lora_alpha", l->alpha == (double)(json_int_t)l->alpha ? json_integer((json_int_t)l->alpha)
                                                                                : json_real(l->alpha));
  json_object_set_new(o, "lora_dropout", json_real(l->dropout));
  json_object_set_new(o, "target_modules", targets);
  json_object_set_new(o, "bias", json_string(l->bias ? l->bias : "none"));
  json_object_set_new(o, "base_model_name_or_path", l->baseModel ? json_string(l->baseModel) : json_null());
  json_object_set_new(o, "use_rslora", json_boolean(l->useRslora));
  json_object_set_new(o, "fan_in_fan_out", json_false());
  json_object_set_new(o, "inference_mode", json_true());
  json_object_set_new(o, "init_lora_weights", json_true());
  json_object_set_new(o, "modules_to_save", json_null());
  json_object_set_new(o, "layers_to_transform", json_null());
  json_object_set_new(o, "layers_pattern", json_null());
  json_object_set_new(o, "rank_pattern", json_object());
  json_object_set_new(o, "alpha_pattern", json_object());
  json_object_set_new(o, "revision", json_null());
  char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(o);
  if (!text) return ERR("%s: cannot format the adapter config", path);
  size_t len = strlen(text);
  char *withNl = malloc(len + 2);
  memcpy(withNl, text, len);
  withNl[len] = '\n';
  bool ok = cubeWriteFileAtomic(path, withNl, len + 1, err, errSize);
  free(withNl);
  free(text);
  return ok;
}

bool cubeLoraSaveAdapter(const CubePlan *plan, CubeBackend *be, const char *dir, bool overwrite, char *err,
                         size_t errSize) {
  if (!needLora(plan, "--save-adapter", err, errSize)) return false;
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (!overwrite) return ERR("%s: the adapter directory exists (pass --overwrite to replace its adapter)", dir);
    if (!S_ISDIR(st.st_mode)) return ERR("%s: exists and is not a directory", dir);
  } else if (mkdir(dir, 0777) != 0) {
    return ERR("%s: cannot create the adapter directory: %s", dir, strerror(errno));
  }
  bool biasToo = plan->lora.bias && strcmp(plan->lora.bias, "none");
  size_t n = 0;
  CubeTensorView *views = calloc(plan->nParams + 1, sizeof *views);
  char **names = calloc(plan->nParams + 1, sizeof *names);
  void **data = calloc(plan->nParams + 1, sizeof *data);
  bool ok = views && names && data;
  for (size_t i = 0; ok && i < plan->nParams; ++i) {
    const CubePlanParam *q = &plan->params[i];
    if (!isLoraParam(q->name) && !(biasToo && q->trainable && endsWith(q->name, ".bias"))) continue;
    const CubePlanBuffer *b = &plan->buffers[q->buffer];
    size_t len = strlen(q->name) + 32;
    names[n] = malloc(len);
    snprintf(names[n], len, "base_model.model.%s", q->name);
    data[n] = malloc(b->bytes + 1);
    ok = names[n] && data[n] && cubeBackendRead(be, b->offset, data[n], b->bytes, err, errSize);
    views[n] = (CubeTensorView){names[n], q->dtype, q->rank, q->shape, data[n]};
    ++n;
  }
  char path[4200];
  const char *meta[] = {"format", "pt", NULL};
  snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
  ok = ok && cubeSafetensorsWrite(path, views, n, meta, err, errSize);
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  ok = ok && adapterConfig(plan, path, err, errSize);
  for (size_t i = 0; i < n; ++i) free(names[i]), free(data[i]);
  free(views);
  free(names);
  free(data);
  return ok;
}

/* "<module>" + suffix. */
static const CubePlanParam *sibling(const CubePlan *plan, const char *module, size_t moduleLen, const char *suffix) {
  char name[1024];
  snprintf(name, sizeof name, "%.*s%s", (int)moduleLen, module, suffix);
  return cubePlanFindParam(plan, name);
}

bool cubeLoraMerge(const CubePlan *plan, CubeBackend *be, const char *outPath, char *err, size_t errSize) {
  if (!needLora(plan, "--merge-lora", err, errSize)) return false;
  double scaling = cubePlanLoraScaling(plan);
  char s1[128], s2[128], s3[128];
  /* Every adapted module has both A and B and a base weight of the matching shape. */
  for (size_t i = 0; i < plan->nParams; ++i) {
    const char *name = plan->params[i].name;
    if (!isLoraParam(name)) continue;
    size_t mlen = strlen(name) - strlen(kA);
    const CubePlanParam *a = sibling(plan, name, mlen, kA), *b = sibling(plan, name, mlen, kB),
                        *w = sibling(plan, name, mlen, ".weight");
    if (!a || !b || !w)
      return ERR("%s: --merge-lora: '%s' has no %s", plan->path, name,
                 !a ? "lora_A.weight beside it" : !b ? "lora_B.weight beside it" : "base weight <module>.weight");
    if (a->rank != 2 || b->rank != 2 || w->rank != 2 || a->shape[0] != b->shape[1] || w->shape[0] != b->shape[0] ||
        w->shape[1] != a->shape[1])
      return ERR("%s: --merge-lora: shapes do not compose: %s %s, %s %s, %s %s (expected W [out, in], B [out, r], "
                 "A [r, in])", plan->path, w->name, cubeShapeString(w->shape, w->rank, s1, sizeof s1), b->name,
                 cubeShapeString(b->shape, b->rank, s2, sizeof s2), a->name,
                 cubeShapeString(a->shape, a->rank, s3, sizeof s3));
  }
  size_t n = 0;
  CubeTensorView *views = calloc(plan->nParams + 1, sizeof *views);
  void **data = calloc(plan->nParams + 1, sizeof *data);
  bool ok = views && data;
  for (size_t i = 0; ok && i < plan->nParams; ++i) {
    const CubePlanParam *q = &plan->params[i];
    if (isLoraParam(q->name)) continue;
    const CubePlanBuffer *buf = &plan->buffers[q->buffer];
    data[n] = malloc(buf->bytes + 1);
    ok = data[n] && cubeBackendRead(be, buf->offset, data[n], buf->bytes, err, errSize);
    size_t len = strlen(q->name);
    const CubePlanParam *a = NULL, *b = NULL;
    if (ok && endsWith(q->name, ".weight")) {
      a = sibling(plan, q->name, len - 7, kA);
      b = sibling(plan, q->name, len - 7, kB);
    }
    if (ok && a && b) {
      float *w = NULL, *fa = NULL, *fb = NULL;
      ok = cubeBufferReadF32(plan, be, q->buffer, &w, err, errSize) &&
           cubeBufferReadF32(plan, be, a->buffer, &fa, err, errSize) &&
           cubeBufferReadF32(plan, be, b->buffer, &fb, err, errSize);
      int64_t out = q->shape[0], in = q->shape[1], r = a->shape[0];
      for (int64_t o = 0; ok && o < out; ++o)
        for (int64_t j = 0; j < in; ++j) {
          double s = 0;
          for (int64_t k = 0; k < r; ++k) s += (double)fb[o * r + k] * (double)fa[k * in + j];
          w[o * in + j] = (float)((double)w[o * in + j] + scaling * s);
        }
      ok = ok && cubeConvertFromF32(w, (size_t)(out * in), q->dtype, data[n]);
      free(w);
      free(fa);
      free(fb);
    }
    views[n] = (CubeTensorView){q->name, q->dtype, q->rank, q->shape, data[n]};
    ++n;
  }
  const char *meta[] = {"format", "pt", NULL};
  ok = ok && cubeSafetensorsWrite(outPath, views, n, meta, err, errSize);
  for (size_t i = 0; i < n; ++i) free(data[i]);
  free(views);
  free(data);
  return ok;
}
