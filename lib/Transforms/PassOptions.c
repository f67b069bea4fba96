/* Pass options in MLIR's `{key=value key2=a,b}` syntax, checked against each pass's option table, and the
 * glue that turns a CubePassInfo into an MLIR external pass. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Passes.h"

static char *dupRange(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (!r) return NULL;
  memcpy(r, s, n);
  r[n] = 0;
  return r;
}

/* Appends text to err at *n without overrunning errSize. */
static void appendText(char *err, size_t errSize, size_t *n, const char *text) {
  if (*n >= errSize) return;
  int w = snprintf(err + *n, errSize - *n, "%s", text);
  *n += w > 0 ? (size_t)w : 0;
}

static void freeValue(CubeOptionValue *v) {
  free(v->s);
  if (v->items)
    for (size_t i = 0; i < v->nItems; ++i) free(v->items[i]);
  free(v->items);
  memset(v, 0, sizeof *v);
}

static bool describeRange(const CubePassOption *o, char *buf, size_t n) {
  if (o->min == 0 && o->max == 0) return false;
  snprintf(buf, n, " in [%g, %g]", o->min, o->max);
  return true;
}

/* Parses one value of option `o` into v. */
static bool parseValue(const CubePassInfo *info, const CubePassOption *o, const char *text, size_t len,
                       CubeOptionValue *v, char *err, size_t errSize) {
  freeValue(v);
  char *s = dupRange(text, len);
  if (!s) return snprintf(err, errSize, "out of memory"), false;
  char range[64] = "";
  bool bounded = describeRange(o, range, sizeof range);
  switch (o->kind) {
  case CUBE_OPT_BOOL:
    if (!strcmp(s, "true") || !strcmp(s, "1"))
      v->b = true;
    else if (!strcmp(s, "false") || !strcmp(s, "0"))
      v->b = false;
    else {
      snprintf(err, errSize, "pass '%s' option '%s' has value '%s', expected true or false",
               info->argument, o->name, s);
      free(s);
      return false;
    }
    break;
  case CUBE_OPT_INT: {
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || (bounded && (x < o->min || x > o->max))) {
      snprintf(err, errSize, "pass '%s' option '%s' has value '%s', expected an integer%s",
               info->argument, o->name, s, range);
      free(s);
      return false;
    }
    v->i = x;
    break;
  }
  case CUBE_OPT_FLOAT: {
    char *end = NULL;
    double x = strtod(s, &end);
    if (!*s || *end || !isfinite(x) || (bounded && (x < o->min || x > o->max))) {
      snprintf(err, errSize, "pass '%s' option '%s' has value '%s', expected a number%s",
               info->argument, o->name, s, range);
      free(s);
      return false;
    }
    v->f = x;
    break;
  }
  case CUBE_OPT_STRING:
    break;
  case CUBE_OPT_LIST: {
    size_t cap = 1;
    for (const char *p = s; *p; ++p) cap += *p == ',';
    v->items = calloc(cap + 1, sizeof(char *));
    if (!v->items) return free(s), snprintf(err, errSize, "out of memory"), false;
    const char *p = s;
    for (;;) {
      const char *c = strchr(p, ',');
      size_t n = c ? (size_t)(c - p) : strlen(p);
      if (n == 0) {
        snprintf(err, errSize, "pass '%s' option '%s' has value '%s', expected a comma-separated list "
                 "of non-empty names", info->argument, o->name, s);
        v->s = s;
        freeValue(v);
        return false;
      }
      v->items[v->nItems++] = dupRange(p, n);
      if (!c) break;
      p = c + 1;
    }
    break;
  }
  }
  v->s = s;
  return true;
}

void cubePassOptionsFree(const CubePassInfo *info, CubeOptionValue *values) {
  if (!values) return;
  for (size_t i = 0; i < info->nOptions; ++i) freeValue(&values[i]);
  free(values);
}

bool cubePassOptionsParse(const CubePassInfo *info, const char *text, size_t len,
                          CubeOptionValue **out, char *err, size_t errSize) {
  *out = NULL;
  CubeOptionValue *vals = calloc(info->nOptions ? info->nOptions : 1, sizeof *vals);
  if (!vals) return snprintf(err, errSize, "out of memory"), false;
  for (size_t i = 0; i < info->nOptions; ++i) {
    const CubePassOption *o = &info->options[i];
    const char *d = o->defaultValue ? o->defaultValue : "";
    if (!(o->kind == CUBE_OPT_LIST && !*d) && !parseValue(info, o, d, strlen(d), &vals[i], err, errSize)) {
      cubePassOptionsFree(info, vals);
      return false;
    }
  }
  const char *p = text, *end = text + len;
  while (p < end) {
    while (p < end && isspace((unsigned char)*p)) ++p;
    if (p >= end) break;
    const char *k = p;
    while (p < end && *p != '=' && !isspace((unsigned char)*p)) ++p;
    size_t klen = (size_t)(p - k);
    const CubePassOption *o = NULL;
    size_t idx = 0;
    for (size_t i = 0; i < info->nOptions; ++i)
      if (strlen(info->options[i].name) == klen && !memcmp(info->options[i].name, k, klen)) {
        o = &info->options[i];
        idx = i;
      }
    if (!o) {
      size_t n = (size_t)snprintf(err, errSize, "pass '%s' has no option '%.*s'", info->argument,
                                  (int)klen, k);
      appendText(err, errSize, &n, info->nOptions ? " (options:" : " (it takes none)");
      for (size_t i = 0; i < info->nOptions; ++i) {
        appendText(err, errSize, &n, " ");
        appendText(err, errSize, &n, info->options[i].name);
      }
      if (info->nOptions) appendText(err, errSize, &n, ")");
      cubePassOptionsFree(info, vals);
      return false;
    }
    const char *v = p, *vend = p;
    if (p < end && *p == '=') {
      v = ++p;
      /* A value runs to the next space; quotes or braces group text that contains spaces. */
      char quote = (*p == '"' || *p == '\'') ? *p : 0;
      if (quote) {
        v = ++p;
        while (p < end && *p != quote) ++p;
        vend = p;
        if (p < end) ++p;
      } else {
        int depth = 0;
        while (p < end && (depth > 0 || !isspace((unsigned char)*p))) {
          if (*p == '{') ++depth;
          if (*p == '}') --depth;
          ++p;
        }
        vend = p;
      }
    } else if (o->kind == CUBE_OPT_BOOL) {
      v = "true"; /* a bare flag means true, as in MLIR */
      vend = v + 4;
    } else {
      snprintf(err, errSize, "pass '%s' option '%s' needs a value ('%s=...')", info->argument, o->name,
               o->name);
      cubePassOptionsFree(info, vals);
      return false;
    }
    if (!parseValue(info, o, v, (size_t)(vend - v), &vals[idx], err, errSize)) {
      cubePassOptionsFree(info, vals);
      return false;
    }
  }
  *out = vals;
  return true;
}

/* ---- the external pass ------------------------------------------------------------------------- */

typedef struct {
  const CubePassInfo *info;
  CubeOptionValue *values;
} PassState;

static CubeOptionValue *copyValues(const CubePassInfo *info, const CubeOptionValue *src) {
  CubeOptionValue *dst = calloc(info->nOptions ? info->nOptions : 1, sizeof *dst);
  for (size_t i = 0; dst && i < info->nOptions; ++i) {
    dst[i] = src[i];
    dst[i].s = src[i].s ? dupRange(src[i].s, strlen(src[i].s)) : NULL;
    dst[i].items = NULL;
    if (src[i].items) {
      dst[i].items = calloc(src[i].nItems + 1, sizeof(char *));
      for (size_t k = 0; dst[i].items && k < src[i].nItems; ++k)
        dst[i].items[k] = dupRange(src[i].items[k], strlen(src[i].items[k]));
    }
  }
  return dst;
}

static void passConstruct(void *u) { (void)u; }
static void passDestruct(void *u) {
  PassState *st = u;
  cubePassOptionsFree(st->info, st->values);
  free(st);
}
static MlirLogicalResult passInitialize(MlirContext ctx, void *u) {
  (void)ctx;
  (void)u;
  return mlirLogicalResultSuccess();
}
static void *passClone(void *u) {
  PassState *st = u, *c = malloc(sizeof *c);
  if (!c) return NULL;
  c->info = st->info;
  c->values = copyValues(st->info, st->values);
  return c;
}
static void passRun(MlirOperation op, MlirExternalPass pass, void *u) {
  PassState *st = u;
  if (mlirLogicalResultIsFailure(st->info->run(op, st->values))) mlirExternalPassSignalFailure(pass);
}

MlirPass cubePassCreate(const CubePassInfo *info, CubeOptionValue *values) {
  static MlirTypeIDAllocator alloc = {NULL};
  if (!alloc.ptr) alloc = mlirTypeIDAllocatorCreate();
  PassState *st = malloc(sizeof *st);
  st->info = info;
  st->values = values;
  MlirExternalPassCallbacks cbs = {passConstruct, passDestruct, passInitialize, passClone, passRun};
  return mlirCreateExternalPass(mlirTypeIDAllocatorAllocateTypeID(alloc),
                                mlirStringRefCreateFromCString(info->argument),
                                mlirStringRefCreateFromCString(info->argument),
                                mlirStringRefCreateFromCString(info->description),
                                mlirStringRefCreateFromCString(info->anchor), 0, NULL, cbs, st);
}

void cubePassPrintList(FILE *out) {
  static const char *const kindName[] = {"bool", "int", "float", "string", "list"};
  fprintf(out, "cube passes:\n");
  for (size_t i = 0; i < cubePassCount(); ++i) {
    const CubePassInfo *p = cubePassAt(i);
    fprintf(out, "  %-24s %s (on %s)\n", p->argument, p->description, p->anchor);
    for (size_t k = 0; k < p->nOptions; ++k) {
      const CubePassOption *o = &p->options[k];
      char range[64] = "";
      describeRange(o, range, sizeof range);
      fprintf(out, "      %-20s %s%s, default '%s': %s\n", o->name, kindName[o->kind], range,
              o->defaultValue ? o->defaultValue : "", o->description);
    }
  }
}
