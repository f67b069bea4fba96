/* Parsing plan.json (docs/plan-format.md) into a CubePlan with jansson. This file checks the JSON's shape:
 * every field present with the right type, names resolved to buffers, dtypes and init specs parsed; the
 * arithmetic checks (arena bounds, alignment, aliases, step access sizes) live in PlanCheck.c. Every error
 * names the plan file and the JSON path of the offending value. Unknown fields are ignored so that a
 * newer compiler can add information without breaking this runtime. */
#include "cube/Plan.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
  const char *path;
  char *err;
  size_t errSize;
  CubePlan *plan;
} Ctx;

/* "PATH: WHERE.KEY: message" (".KEY" left out when key is NULL, "WHERE." when where is empty). */
static bool fail(Ctx *c, const char *where, const char *key, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (key && *where)
    snprintf(c->err, c->errSize, "%s: %s.%s: %s", c->path, where, key, msg);
  else
    snprintf(c->err, c->errSize, "%s: %s: %s", c->path, key ? key : where, msg);
  return false;
}

static bool getStr(Ctx *c, json_t *o, const char *where, const char *key, bool required, const char **out) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (!v || json_is_null(v)) return required ? fail(c, where, key, "missing (expected a string)") : true;
  if (!json_is_string(v)) return fail(c, where, key, "expected a string");
  *out = json_string_value(v);
  if (required && !**out) return fail(c, where, key, "must not be empty");
  return true;
}

static bool getInt(Ctx *c, json_t *o, const char *where, const char *key, bool required, int64_t def, int64_t min,
                   int64_t max, int64_t *out) {
  json_t *v = json_object_get(o, key);
  *out = def;
  if (!v) return required ? fail(c, where, key, "missing (expected an integer)") : true;
  if (!json_is_integer(v)) return fail(c, where, key, "expected an integer");
  int64_t x = json_integer_value(v);
  if (x < min || x > max) return fail(c, where, key, "%lld is outside [%lld, %lld]", (long long)x, (long long)min,
                                      (long long)max);
  *out = x;
  return true;
}

static bool getNum(Ctx *c, json_t *o, const char *where, const char *key, double def, double *out) {
  json_t *v = json_object_get(o, key);
  *out = def;
  if (!v) return true;
  if (!json_is_number(v)) return fail(c, where, key, "expected a number");
  *out = json_number_value(v);
  return true;
}

static bool getBool(Ctx *c, json_t *o, const char *where, const char *key, bool def, bool *out) {
  json_t *v = json_object_get(o, key);
  *out = def;
  if (!v) return true;
  if (!json_is_boolean(v)) return fail(c, where, key, "expected true or false");
  *out = json_is_true(v);
  return true;
}

static bool getDType(Ctx *c, json_t *o, const char *where, const char *key, CubeDType *out) {
  const char *s;
  if (!getStr(c, o, where, key, true, &s)) return false;
  if (!cubePlanDTypeParse(s, out))
    return fail(c, where, key, "unknown dtype '%s' (expected f32, f16, bf16, f64, i64, i32, i16, i8, u8 or i1)", s);
  return true;
}

static bool getShape(Ctx *c, json_t *o, const char *where, const char *key, int *rank, int64_t *shape) {
  json_t *v = json_object_get(o, key);
  if (!json_is_array(v)) return fail(c, where, key, v ? "expected an array of integers" : "missing (expected an array of integers)");
  if (json_array_size(v) > CUBE_MAX_RANK) return fail(c, where, key, "rank %zu is more than %d", json_array_size(v), CUBE_MAX_RANK);
  *rank = (int)json_array_size(v);
  for (int i = 0; i < *rank; ++i) {
    json_t *d = json_array_get(v, (size_t)i);
    if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > ((int64_t)1 << 40)) {
      char k[64];
      snprintf(k, sizeof k, "%s[%d]", key, i);
      return fail(c, where, k, "expected a non-negative integer");
    }
    shape[i] = json_integer_value(d);
  }
  return true;
}

static bool getObject(Ctx *c, json_t *v, const char *where) {
  return json_is_object(v) ? true : fail(c, where, NULL, "expected a JSON object");
}

/* A buffer name at o[key] resolved to an index. */
static bool getBufferName(Ctx *c, json_t *o, const char *where, const char *key, int *out) {
  const char *name;
  if (!getStr(c, o, where, key, true, &name)) return false;
  *out = cubePlanFindBuffer(c->plan, name);
  if (*out < 0) return fail(c, where, key, "unknown buffer '%s'", name);
  return true;
}

/* {"buffer": name, "offset": bytes?} at where. */
static bool parseRef(Ctx *c, json_t *v, const char *where, CubePlanRef *out) {
  if (!getObject(c, v, where)) return false;
  int64_t off;
  if (!getBufferName(c, v, where, "buffer", &out->buffer)) return false;
  if (!getInt(c, v, where, "offset", false, 0, 0, INT64_MAX, &off)) return false;
  out->offset = (uint64_t)off;
  return true;
}

static bool parseBuffers(Ctx *c, json_t *root) {
  CubePlan *p = c->plan;
  json_t *arr = json_object_get(root, "buffers");
  if (!json_is_array(arr)) return fail(c, "", "buffers", "missing or not an array");
  p->buffers = calloc(json_array_size(arr) + 1, sizeof *p->buffers);
  size_t i;
  json_t *b;
  json_array_foreach(arr, i, b) {
    char where[64];
    snprintf(where, sizeof where, "buffers[%zu]", i);
    if (!getObject(c, b, where)) return false;
    CubePlanBuffer *buf = &p->buffers[i];
    buf->aliasOf = -1;
    const char *name, *kind;
    int64_t bytes, offset;
    if (!getStr(c, b, where, "name", true, &name)) return false;
    int dup = cubePlanFindBuffer(p, name);
    if (dup >= 0) return fail(c, where, "name", "duplicate buffer name '%s' (also buffers[%d])", name, dup);
    if (!getStr(c, b, where, "kind", true, &kind)) return false;
    int k = 0;
    while (k < CUBE_BUF_KIND_COUNT && strcmp(cubeBufferKindName((CubeBufferKind)k), kind)) ++k;
    if (k == CUBE_BUF_KIND_COUNT)
      return fail(c, where, "kind", "unknown kind '%s' (expected input, output, param, grad, optimizer-state, "
                  "activation or scratch)", kind);
    buf->kind = (CubeBufferKind)k;
    if (!getDType(c, b, where, "dtype", &buf->dtype) || !getShape(c, b, where, "shape", &buf->rank, buf->shape) ||
        !getInt(c, b, where, "bytes", true, 0, 0, INT64_MAX, &bytes) ||
        !getInt(c, b, where, "offset", true, 0, 0, INT64_MAX, &offset))
      return false;
    buf->bytes = (uint64_t)bytes;
    buf->offset = (uint64_t)offset;
    buf->name = strdup(name);
    p->nBuffers = i + 1;
  }
  json_array_foreach(arr, i, b) { /* aliases may name later buffers */
    char where[64];
    snprintf(where, sizeof where, "buffers[%zu]", i);
    const char *alias;
    if (!getStr(c, b, where, "alias_of", false, &alias)) return false;
    if (!alias) continue;
    int a = cubePlanFindBuffer(p, alias);
    if (a < 0) return fail(c, where, "alias_of", "unknown buffer '%s'", alias);
    if ((size_t)a == i) return fail(c, where, "alias_of", "a buffer cannot alias itself");
    p->buffers[i].aliasOf = a;
  }
  return true;
}

/* The "init" string of a param or state row: parsed into *spec, kept as *text (a missing optional one is
 * `fallback`). */
static bool getInit(Ctx *c, json_t *o, const char *where, const char *fallback, CubeInitSpec *spec, char **text) {
  const char *init;
  if (!getStr(c, o, where, "init", fallback == NULL, &init)) return false;
  if (!init) init = fallback;
  char msg[256];
  if (!cubeInitSpecParse(init, strlen(init), spec, msg, sizeof msg))
    return fail(c, where, "init", "'%s' is not a valid initialiser: %s", init, msg);
  *text = strdup(init);
  return true;
}

static bool parseParams(Ctx *c, json_t *root) {
  CubePlan *p = c->plan;
  json_t *arr = json_object_get(root, "params");
  if (!arr) return true;
  if (!json_is_array(arr)) return fail(c, "", "params", "expected an array");
  p->params = calloc(json_array_size(arr) + 1, sizeof *p->params);
  size_t i;
  json_t *o;
  json_array_foreach(arr, i, o) {
    char where[64];
    snprintf(where, sizeof where, "params[%zu]", i);
    if (!getObject(c, o, where)) return false;
    CubePlanParam *q = &p->params[i];
    const char *name;
    if (!getStr(c, o, where, "name", true, &name)) return false;
    if (cubePlanFindParam(p, name)) return fail(c, where, "name", "duplicate parameter '%s'", name);
    if (!getBufferName(c, o, where, "buffer", &q->buffer) || !getDType(c, o, where, "dtype", &q->dtype) ||
        !getShape(c, o, where, "shape", &q->rank, q->shape) || !getInit(c, o, where, NULL, &q->init, &q->initText) ||
        !getBool(c, o, where, "trainable", true, &q->trainable))
      return false;
    q->name = strdup(name);
    p->nParams = i + 1;
  }
  return true;
}

/* The optional `state` table of a training plan. */
static bool parseStates(Ctx *c, json_t *root) {
  CubePlan *p = c->plan;
  json_t *arr = json_object_get(root, "state");
  if (!arr) return true;
  if (!json_is_array(arr)) return fail(c, "", "state", "expected an array");
  p->states = calloc(json_array_size(arr) + 1, sizeof *p->states);
  size_t i;
  json_t *o;
  json_array_foreach(arr, i, o) {
    char where[64];
    snprintf(where, sizeof where, "state[%zu]", i);
    if (!getObject(c, o, where)) return false;
    CubePlanState *q = &p->states[i];
    const char *name, *param;
    if (!getStr(c, o, where, "name", true, &name)) return false;
    if (cubePlanFindState(p, name)) return fail(c, where, "name", "duplicate state '%s'", name);
    if (!getStr(c, o, where, "param", true, &param)) return false;
    const CubePlanParam *pp = cubePlanFindParam(p, param);
    if (!pp) return fail(c, where, "param", "unknown parameter '%s'", param);
    q->param = (int)(pp - p->params);
    if (!getBufferName(c, o, where, "buffer", &q->buffer) || !getDType(c, o, where, "dtype", &q->dtype) ||
        !getShape(c, o, where, "shape", &q->rank, q->shape) || !getInit(c, o, where, "zeros", &q->init, &q->initText))
      return false;
    q->name = strdup(name);
    p->nStates = i + 1;
  }
  return true;
}

/* The optional `lora` object of a LoRA model. */
static bool parseLora(Ctx *c, json_t *root) {
  CubePlanLora *l = &c->plan->lora;
  json_t *o = json_object_get(root, "lora");
  if (!o || json_is_null(o)) return true;
  if (!getObject(c, o, "lora")) return false;
  const char *bias, *base;
  if (!getInt(c, o, "lora", "r", true, 0, 1, INT32_MAX, &l->r) || !getNum(c, o, "lora", "alpha", (double)l->r, &l->alpha) ||
      !getNum(c, o, "lora", "dropout", 0.0, &l->dropout) || !getBool(c, o, "lora", "use_rslora", false, &l->useRslora) ||
      !getStr(c, o, "lora", "bias", false, &bias) || !getStr(c, o, "lora", "base_model_name_or_path", false, &base))
    return false;
  if (!json_object_get(o, "alpha")) return fail(c, "lora", "alpha", "missing (expected a number)");
  if (l->dropout < 0 || l->dropout >= 1) return fail(c, "lora", "dropout", "%g is outside [0, 1)", l->dropout);
  if (bias && strcmp(bias, "none") && strcmp(bias, "all") && strcmp(bias, "lora_only"))
    return fail(c, "lora", "bias", "unknown bias '%s' (expected none, all or lora_only)", bias);
  json_t *t = json_object_get(o, "targets");
  if (!json_is_array(t) || json_array_size(t) == 0)
    return fail(c, "lora", "targets", t ? "expected a non-empty array of module names" : "missing (expected an array of module names)");
  l->targets = calloc(json_array_size(t) + 1, sizeof *l->targets);
  size_t i;
  json_t *v;
  json_array_foreach(t, i, v) {
    if (!json_is_string(v) || !*json_string_value(v)) {
      char k[64];
      snprintf(k, sizeof k, "targets[%zu]", i);
      return fail(c, "lora", k, "expected a module name");
    }
    l->targets[i] = strdup(json_string_value(v));
    l->nTargets = i + 1;
  }
  l->bias = strdup(bias ? bias : "none");
  l->baseModel = base ? strdup(base) : NULL;
  l->present = true;
  return true;
}

static bool parseIO(Ctx *c, json_t *root, const char *key, CubePlanIO **out, size_t *n) {
  json_t *arr = json_object_get(root, key);
  if (!json_is_array(arr)) return fail(c, "", key, "missing or not an array");
  *out = calloc(json_array_size(arr) + 1, sizeof **out);
  size_t i;
  json_t *o;
  json_array_foreach(arr, i, o) {
    char where[64];
    snprintf(where, sizeof where, "%s[%zu]", key, i);
    const char *name;
    int64_t vocab;
    if (!getObject(c, o, where) || !getStr(c, o, where, "name", true, &name) ||
        !getBufferName(c, o, where, "buffer", &(*out)[i].buffer) ||
        !getInt(c, o, where, "vocab_size", false, 0, 0, UINT32_MAX, &vocab))
      return false;
    for (size_t j = 0; j < i; ++j)
      if (!strcmp((*out)[j].name, name)) return fail(c, where, "name", "duplicate %s name '%s'", key, name);
    (*out)[i].name = strdup(name);
    (*out)[i].vocabSize = (uint32_t)vocab;
    *n = i + 1;
  }
  return true;
}

static bool parseDim3(Ctx *c, json_t *o, const char *where, const char *key, uint32_t *out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_array(v) || json_array_size(v) != 3) return fail(c, where, key, "expected [x, y, z]");
  for (size_t i = 0; i < 3; ++i) {
    json_t *d = json_array_get(v, i);
    if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > INT32_MAX) {
      char k[64];
      snprintf(k, sizeof k, "%s[%zu]", key, i);
      return fail(c, where, k, "expected a positive integer");
    }
    out[i] = (uint32_t)json_integer_value(d);
  }
  return true;
}

static bool parseArgs(Ctx *c, json_t *o, const char *where, CubePlanStep *s) {
  json_t *arr = json_object_get(o, "args");
  if (!json_is_array(arr)) return fail(c, where, "args", "missing or not an array");
  s->args = calloc(json_array_size(arr) + 1, sizeof *s->args);
  s->nArgs = json_array_size(arr);
  size_t i;
  json_t *a;
  json_array_foreach(arr, i, a) {
    char w[96];
    snprintf(w, sizeof w, "%s.args[%zu]", where, i);
    CubePlanArg *arg = &s->args[i];
    if (!getObject(c, a, w)) return false;
    if (json_object_get(a, "buffer")) {
      arg->kind = CUBE_ARG_BUFFER;
      if (!parseRef(c, a, w, &arg->ref) || !getInt(c, a, w, "bytes", false, -1, 0, INT64_MAX, &arg->bytes))
        return false;
      arg->hasDType = json_object_get(a, "dtype") != NULL;
      if (arg->hasDType && !getDType(c, a, w, "dtype", &arg->dtype)) return false;
      continue;
    }
    const char *type;
    json_t *v = json_object_get(a, "value");
    if (!getStr(c, a, w, "type", false, &type)) return false;
    if (!type || !v)
      return fail(c, w, NULL, "expected {\"buffer\": NAME} or {\"type\": \"i64\"|\"i32\"|\"f32\", \"value\": V}");
    if (!strcmp(type, "f32")) {
      if (!json_is_number(v)) return fail(c, w, "value", "expected a number");
      arg->kind = CUBE_ARG_F32;
      arg->f = json_number_value(v);
    } else if (!strcmp(type, "i64") || !strcmp(type, "i32")) {
      arg->kind = type[1] == '6' ? CUBE_ARG_I64 : CUBE_ARG_I32;
      if (!json_is_integer(v)) return fail(c, w, "value", "expected an integer");
      arg->i = json_integer_value(v);
      if (arg->kind == CUBE_ARG_I32 && (arg->i < INT32_MIN || arg->i > INT32_MAX))
        return fail(c, w, "value", "%lld does not fit an i32", (long long)arg->i);
    } else {
      return fail(c, w, "type", "unknown scalar type '%s' (expected i64, i32 or f32)", type);
    }
  }
  return true;
}

static bool parseStep(Ctx *c, json_t *o, const char *where, CubePlanStep *s) {
  const char *op, *str;
  if (!getObject(c, o, where) || !getStr(c, o, where, "op", true, &op)) return false;
  if (!getStr(c, o, where, "cube_op", false, &str)) return false;
  s->cubeOp = str ? strdup(str) : NULL;
  if (!getStr(c, o, where, "scope", false, &str)) return false;
  s->scope = str ? strdup(str) : NULL;
  if (!strcmp(op, "call") || !strcmp(op, "launch")) {
    s->op = op[0] == 'c' ? CUBE_STEP_CALL : CUBE_STEP_LAUNCH;
    if (!getStr(c, o, where, "kernel", true, &str)) return false;
    s->kernel = strdup(str);
    if (!parseArgs(c, o, where, s)) return false;
    if (s->op == CUBE_STEP_LAUNCH) {
      int64_t shared;
      if (!parseDim3(c, o, where, "grid", s->grid) || !parseDim3(c, o, where, "block", s->block) ||
          !getInt(c, o, where, "shared_bytes", false, 0, 0, INT32_MAX, &shared))
        return false;
      s->sharedBytes = (uint32_t)shared;
      if (!getStr(c, o, where, "kernels_file", false, &str)) return false;
      if (str && (!*str || str[0] == '.' || strchr(str, '/') || strlen(str) > 127))
        return fail(c, where, "kernels_file", "'%s' is not a file name in the artifact directory (no '/', not "
                    "starting with '.', at most 127 characters)", str);
      s->kernelsFile = str ? strdup(str) : NULL;
    }
    return true;
  }
  if (!strcmp(op, "gemm")) {
    char w[96];
    s->op = CUBE_STEP_GEMM;
    const char *names[3] = {"a", "b", "c"};
    CubePlanRef *refs[3] = {&s->a, &s->b, &s->c};
    for (int i = 0; i < 3; ++i) {
      snprintf(w, sizeof w, "%s.%s", where, names[i]);
      json_t *v = json_object_get(o, names[i]);
      if (!v) return fail(c, where, names[i], "missing (expected {\"buffer\": NAME})");
      if (!parseRef(c, v, w, refs[i])) return false;
    }
    json_t *bias = json_object_get(o, "bias");
    if (bias && !json_is_null(bias)) {
      snprintf(w, sizeof w, "%s.bias", where);
      if (!parseRef(c, bias, w, &s->bias)) return false;
      s->hasBias = true;
    }
    const int64_t big = (int64_t)1 << 31;
    return getInt(c, o, where, "m", true, 0, 1, big, &s->m) && getInt(c, o, where, "n", true, 0, 1, big, &s->n) &&
           getInt(c, o, where, "k", true, 0, 1, big, &s->k) &&
           getInt(c, o, where, "batch", false, 1, 1, big, &s->batch) &&
           getInt(c, o, where, "stride_a", false, 0, 0, (int64_t)1 << 40, &s->strideA) &&
           getInt(c, o, where, "stride_b", false, 0, 0, (int64_t)1 << 40, &s->strideB) &&
           getInt(c, o, where, "stride_c", false, 0, 0, (int64_t)1 << 40, &s->strideC) &&
           getBool(c, o, where, "trans_a", false, &s->transA) && getBool(c, o, where, "trans_b", false, &s->transB) &&
           getDType(c, o, where, "dtype", &s->dtype) && getNum(c, o, where, "alpha", 1.0, &s->alpha) &&
           getNum(c, o, where, "beta", 0.0, &s->beta);
  }
  if (!strcmp(op, "copy")) {
    char w[96];
    int64_t bytes;
    s->op = CUBE_STEP_COPY;
    json_t *src = json_object_get(o, "src"), *dst = json_object_get(o, "dst");
    if (!src) return fail(c, where, "src", "missing (expected {\"buffer\": NAME})");
    if (!dst) return fail(c, where, "dst", "missing (expected {\"buffer\": NAME})");
    snprintf(w, sizeof w, "%s.src", where);
    if (!parseRef(c, src, w, &s->src)) return false;
    snprintf(w, sizeof w, "%s.dst", where);
    if (!parseRef(c, dst, w, &s->dst)) return false;
    if (!getInt(c, o, where, "bytes", true, 0, 0, INT64_MAX, &bytes)) return false;
    s->bytes = (uint64_t)bytes;
    return true;
  }
  if (!strcmp(op, "all_reduce") || !strcmp(op, "wait")) {
    s->op = op[0] == 'a' ? CUBE_STEP_ALL_REDUCE : CUBE_STEP_WAIT;
    if (!getInt(c, o, where, "bucket", true, 0, 0, (int64_t)1 << 20, &s->bucket)) return false;
    if (s->op == CUBE_STEP_WAIT) return true;
    const char *red;
    if (!getStr(c, o, where, "reduction", true, &red)) return false;
    if (strcmp(red, "avg") && strcmp(red, "sum"))
      return fail(c, where, "reduction", "unknown reduction '%s' (expected avg or sum)", red);
    s->average = red[0] == 'a';
    json_t *arr = json_object_get(o, "buffers");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
      return fail(c, where, "buffers", "missing or not a non-empty array of {\"buffer\": NAME}");
    s->buffers = calloc(json_array_size(arr), sizeof *s->buffers);
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b) {
      char w[96];
      snprintf(w, sizeof w, "%s.buffers[%zu]", where, i);
      if (!getObject(c, b, w) || !getBufferName(c, b, w, "buffer", &s->buffers[i])) return false;
      s->nBuffers = i + 1;
    }
    return true;
  }
  return fail(c, where, "op", "unknown op '%s' (expected call, launch, gemm, copy, all_reduce or wait)", op);
}

static bool parseRoot(Ctx *c, json_t *root) {
  CubePlan *p = c->plan;
  const char *str;
  int64_t version, arena, align;
  if (!json_is_object(root)) return fail(c, "(top level)", NULL, "expected a JSON object");
  if (!getStr(c, root, "", "format", true, &str)) return false;
  if (strcmp(str, "cube-plan")) return fail(c, "", "format", "'%s' is not a cube plan (expected \"cube-plan\")", str);
  if (!getInt(c, root, "", "version", true, 0, 0, INT32_MAX, &version)) return false;
  if (version != CUBE_PLAN_VERSION)
    return fail(c, "", "version", "plan format version %lld is not supported (this runtime reads version %d)",
                (long long)version, CUBE_PLAN_VERSION);
  if (!getStr(c, root, "", "target", true, &str)) return false;
  if (strcmp(str, "cpu") && strcmp(str, "cuda")) return fail(c, "", "target", "unknown target '%s' (expected cpu or cuda)", str);
  snprintf(p->target, sizeof p->target, "%s", str);
  if (!getStr(c, root, "", "chip", false, &str)) return false;
  p->chip = str ? strdup(str) : NULL;
  if (!getStr(c, root, "", "kernels_file", false, &str)) return false;
  p->kernelsFile = str ? strdup(str) : NULL;
  if (!getInt(c, root, "", "arena_bytes", true, 0, 0, INT64_MAX, &arena) ||
      !getInt(c, root, "", "alignment", false, 1, 1, (int64_t)1 << 30, &align))
    return false;
  p->arenaBytes = (uint64_t)arena;
  p->alignment = (uint64_t)align;
  if (!getStr(c, root, "", "program", false, &str)) return false;
  if (!str || !strcmp(str, "forward"))
    p->program = CUBE_PROGRAM_FORWARD;
  else if (!strcmp(str, "train_step"))
    p->program = CUBE_PROGRAM_TRAIN_STEP;
  else
    return fail(c, "", "program", "unknown program '%s' (expected forward or train_step)", str);
  if (!parseBuffers(c, root) || !parseParams(c, root) || !parseStates(c, root) || !parseLora(c, root) || !parseIO(c, root, "inputs", &p->inputs, &p->nInputs) ||
      !parseIO(c, root, "outputs", &p->outputs, &p->nOutputs))
    return false;
  json_t *steps = json_object_get(root, "steps");
  if (!json_is_array(steps)) return fail(c, "", "steps", "missing or not an array");
  p->steps = calloc(json_array_size(steps) + 1, sizeof *p->steps);
  size_t i;
  json_t *o;
  json_array_foreach(steps, i, o) {
    char where[64];
    snprintf(where, sizeof where, "steps[%zu]", i);
    p->nSteps = i + 1;
    if (!parseStep(c, o, where, &p->steps[i])) return false;
    p->nBuckets += p->steps[i].op == CUBE_STEP_ALL_REDUCE;
  }
  return true;
}

bool cubePlanParse(const char *text, size_t len, const char *path, const char *dir, CubePlan *out, char *err,
                   size_t errSize) {
  memset(out, 0, sizeof *out);
  Ctx c = {path, err, errSize, out};
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    snprintf(err, errSize, "%s: not valid JSON (truncated or corrupted?): %s at line %d, column %d", path, jerr.text,
             jerr.line, jerr.column);
    return false;
  }
  bool ok = parseRoot(&c, root);
  json_decref(root);
  out->path = strdup(path);
  out->dir = strdup(dir ? dir : ".");
  if (ok) ok = cubePlanCheck(out, err, errSize);
  if (!ok) cubePlanFree(out);
  return ok;
}

bool cubePlanLoad(const char *artifactDir, CubePlan *out, char *err, size_t errSize) {
  memset(out, 0, sizeof *out);
  char path[4096], dir[4096];
  struct stat st;
  if (stat(artifactDir, &st) == 0 && S_ISREG(st.st_mode)) { /* the plan file itself */
    snprintf(path, sizeof path, "%s", artifactDir);
    snprintf(dir, sizeof dir, "%s", artifactDir);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
  } else {
    snprintf(path, sizeof path, "%s/plan.json", artifactDir);
    snprintf(dir, sizeof dir, "%s", artifactDir);
  }
  FILE *f = fopen(path, "rb");
  if (!f) return snprintf(err, errSize, "%s: cannot open: %s", path, strerror(errno)), false;
  char *text = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 65536 > cap) {
      cap = cap ? cap * 2 : 65536 * 2;
      char *t = realloc(text, cap);
      if (!t) break;
      text = t;
    }
    size_t got = fread(text + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  bool readErr = ferror(f) || !text;
  fclose(f);
  if (readErr) {
    free(text);
    return snprintf(err, errSize, "%s: cannot read", path), false;
  }
  bool ok = cubePlanParse(text, len, path, dir, out, err, errSize);
  free(text);
  return ok;
}

void cubePlanFree(CubePlan *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nBuffers; ++i) free(p->buffers[i].name);
  for (size_t i = 0; i < p->nParams; ++i) {
    free(p->params[i].name);
    free(p->params[i].initText);
  }
  for (size_t i = 0; i < p->nInputs; ++i) free(p->inputs[i].name);
  for (size_t i = 0; i < p->nOutputs; ++i) free(p->outputs[i].name);
  for (size_t i = 0; i < p->nSteps; ++i) {
    free(p->steps[i].kernel);
    free(p->steps[i].kernelsFile);
    free(p->steps[i].args);
    free(p->steps[i].cubeOp);
    free(p->steps[i].scope);
    free(p->steps[i].buffers);
  }
  for (size_t i = 0; i < p->nStates; ++i) {
    free(p->states[i].name);
    free(p->states[i].initText);
  }
  free(p->states);
  for (size_t i = 0; i < p->lora.nTargets; ++i) free(p->lora.targets[i]);
  free(p->lora.targets);
  free(p->lora.bias);
  free(p->lora.baseModel);
  free(p->buffers);
  free(p->params);
  free(p->inputs);
  free(p->outputs);
  free(p->steps);
  free(p->path);
  free(p->dir);
  free(p->chip);
  free(p->kernelsFile);
  memset(p, 0, sizeof *p);
}
