/* Building a pass manager from a textual pipeline that mixes cube passes and upstream ones.
 *
 * MLIR's pipeline parser only knows passes registered in C++, so this file walks the pipeline's nesting
 * itself: `anchor(elements)` nests a pass manager (mlirOpPassManagerGetNestedUnder), a cube pass becomes
 * an external pass with its options checked here, and any other element is handed, with its `{options}`,
 * to mlirOpPassManagerAddPipeline. Some upstream options make LLVM abort the process instead of reporting
 * an error (an NVPTX chip without the PTX version it needs); those are validated before MLIR sees them. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "Driver.h"
#include "cube/Passes.h"

typedef struct {
  const char *text; /* whole pipeline, for messages */
  const char *p, *end;
  MlirContext ctx;
  bool verifyEach; /* add cube-verify after every element of the top-level list */
  char err[1024];
} Parser;

static bool fail(Parser *ps, const char *at, const char *fmt, const char *a, int alen) {
  char msg[768];
  snprintf(msg, sizeof msg, fmt, alen, a);
  snprintf(ps->err, sizeof ps->err, "%s (at offset %d of the pipeline)", msg, (int)(at - ps->text));
  return false;
}

static void skipSpace(Parser *ps) {
  while (ps->p < ps->end && isspace((unsigned char)*ps->p)) ps->p++;
}

/* ---- GPU option validation --------------------------------------------------------------------- */

typedef struct {
  const char *chip;
  int minPtx; /* PTX ISA version * 10 */
} ChipInfo;

/* NVPTX processors LLVM 22 knows, and the PTX ISA each needs (LLVM's NVPTX.td). */
static const ChipInfo kChips[] = {
    {"sm_50", 40},  {"sm_52", 40},  {"sm_53", 42},   {"sm_60", 50},   {"sm_61", 50},
    {"sm_62", 50},  {"sm_70", 60},  {"sm_72", 61},   {"sm_75", 63},   {"sm_80", 70},
    {"sm_86", 71},  {"sm_87", 74},  {"sm_89", 78},   {"sm_90", 78},   {"sm_90a", 80},
    {"sm_100", 86}, {"sm_100a", 86}, {"sm_101", 86}, {"sm_101a", 86}, {"sm_120", 87},
    {"sm_120a", 87},
};
static const int kPtx[] = {32, 40, 41, 42, 43, 50, 60, 61, 62, 63, 64, 65, 70, 71, 72,
                           73, 74, 75, 76, 77, 78, 80, 81, 82, 83, 84, 85, 86, 87};

/* Finds `key=value` in an options text; returns its value (not NUL-terminated) or NULL. */
static const char *findOption(const char *opts, size_t len, const char *key, size_t *vlen) {
  size_t klen = strlen(key);
  for (size_t i = 0; i + klen < len; ++i) {
    if ((i == 0 || isspace((unsigned char)opts[i - 1])) && !memcmp(opts + i, key, klen) &&
        opts[i + klen] == '=') {
      size_t j = i + klen + 1;
      char quote = (opts[j] == '"' || opts[j] == '\'') ? opts[j] : 0;
      if (quote) j++;
      size_t k = j;
      while (k < len && (quote ? opts[k] != quote : !isspace((unsigned char)opts[k]))) k++;
      *vlen = k - j;
      return opts + j;
    }
  }
  return NULL;
}

static bool validateGpuOptions(Parser *ps, const char *name, size_t nameLen, const char *opts,
                               size_t optsLen) {
  const char *chipKey, *featKey;
  if (nameLen == strlen("gpu-lower-to-nvvm-pipeline") && !memcmp(name, "gpu-lower-to-nvvm-pipeline", nameLen)) {
    chipKey = "cubin-chip";
    featKey = "cubin-features";
  } else if (nameLen == strlen("nvvm-attach-target") && !memcmp(name, "nvvm-attach-target", nameLen)) {
    chipKey = "chip";
    featKey = "features";
  } else {
    return true;
  }
  /* MLIR's defaults: chip sm_50, features +ptx60. */
  size_t clen = 0, flen = 0;
  const char *chip = findOption(opts, optsLen, chipKey, &clen);
  const char *feat = findOption(opts, optsLen, featKey, &flen);
  if (!chip) chip = "sm_50", clen = 5;
  if (!feat) feat = "+ptx60", flen = 6;
  const ChipInfo *ci = NULL;
  for (size_t i = 0; i < sizeof kChips / sizeof kChips[0]; ++i)
    if (strlen(kChips[i].chip) == clen && !memcmp(kChips[i].chip, chip, clen)) ci = &kChips[i];
  if (!ci) {
    char known[512] = "";
    for (size_t i = 0; i < sizeof kChips / sizeof kChips[0]; ++i)
      strcat(strcat(known, i ? " " : ""), kChips[i].chip);
    snprintf(ps->err, sizeof ps->err, "%.*s: unknown %s '%.*s' (known: %s)", (int)nameLen, name,
             chipKey, (int)clen, chip, known);
    return false;
  }
  int ptx = 0;
  const char *p = feat, *fend = feat + flen;
  while (p < fend) {
    const char *c = memchr(p, ',', (size_t)(fend - p));
    size_t n = c ? (size_t)(c - p) : (size_t)(fend - p);
    int v = 0;
    bool ok = n >= 6 && n <= 7 && !memcmp(p, "+ptx", 4);
    for (size_t k = 4; ok && k < n; ++k) ok = isdigit((unsigned char)p[k]), v = v * 10 + (p[k] - '0');
    bool known = false;
    for (size_t k = 0; ok && k < sizeof kPtx / sizeof kPtx[0]; ++k) known |= kPtx[k] == v;
    if (!ok || !known) {
      snprintf(ps->err, sizeof ps->err,
               "%.*s: %s entry '%.*s' is not a PTX version LLVM 22 supports (expected +ptxNN from "
               "+ptx32 to +ptx87, e.g. +ptx80)", (int)nameLen, name, featKey, (int)n, p);
      return false;
    }
    if (v > ptx) ptx = v;
    p = c ? c + 1 : fend;
  }
  if (ptx < ci->minPtx) {
    snprintf(ps->err, sizeof ps->err,
             "%.*s: %s=%s needs PTX ISA %d.%d or newer, but %s gives %d.%d (add %s=+ptx%d)",
             (int)nameLen, name, chipKey, ci->chip, ci->minPtx / 10, ci->minPtx % 10, featKey,
             ptx / 10, ptx % 10, featKey, ci->minPtx);
    return false;
  }
  return true;
}

/* ---- the pipeline grammar ---------------------------------------------------------------------- */

static void collectErr(MlirStringRef s, void *u) {
  char *buf = u;
  size_t cur = strlen(buf);
  size_t n = s.length < 1023 - cur ? s.length : 1023 - cur;
  memcpy(buf + cur, s.data, n);
  buf[cur + n] = 0;
}

static bool parseList(Parser *ps, MlirOpPassManager opm, const char *anchor, size_t anchorLen, char close);

/* Reads a `{...}` block (balanced, quotes respected); on return ps->p is after the `}`. */
static bool readBraces(Parser *ps, const char **opts, size_t *len) {
  const char *start = ps->p;
  int depth = 0;
  char quote = 0;
  for (; ps->p < ps->end; ps->p++) {
    char c = *ps->p;
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') quote = c;
    else if (c == '{') depth++;
    else if (c == '}' && --depth == 0) {
      *opts = start + 1;
      *len = (size_t)(ps->p - start - 1);
      ps->p++;
      return true;
    }
  }
  return fail(ps, start, "unbalanced '{' in pass options%.*s", "", 0);
}

static bool parseElement(Parser *ps, MlirOpPassManager opm, const char *anchor, size_t anchorLen) {
  skipSpace(ps);
  const char *name = ps->p;
  while (ps->p < ps->end && !strchr("{}(),", *ps->p) && !isspace((unsigned char)*ps->p)) ps->p++;
  size_t nameLen = (size_t)(ps->p - name);
  if (nameLen == 0) return fail(ps, name, "expected a pass or op name%.*s", "", 0);
  skipSpace(ps);
  const char *opts = "";
  size_t optsLen = 0;
  if (ps->p < ps->end && *ps->p == '{' && !readBraces(ps, &opts, &optsLen)) return false;
  skipSpace(ps);
  if (ps->p < ps->end && *ps->p == '(') {
    /* A nested pipeline anchored on op `name`. */
    if (optsLen) return fail(ps, name, "'%.*s(...)' is an op anchor and takes no options", name, (int)nameLen);
    char opName[256];
    if (nameLen >= sizeof opName) return fail(ps, name, "op name too long: '%.*s'", name, (int)nameLen);
    memcpy(opName, name, nameLen);
    opName[nameLen] = 0;
    if (strcmp(opName, "any") && !mlirContextIsRegisteredOperation(ps->ctx, mlirStringRefCreate(name, nameLen)))
      return fail(ps, name, "'%.*s' is not a registered operation to nest a pipeline under", name, (int)nameLen);
    ps->p++;
    MlirOpPassManager nested = mlirOpPassManagerGetNestedUnder(opm, mlirStringRefCreate(name, nameLen));
    if (!parseList(ps, nested, name, nameLen, ')')) return false;
    ps->p++; /* ')' */
    return true;
  }
  const CubePassInfo *info = cubePassLookup(name, nameLen);
  if (info) {
    if (strlen(info->anchor) != anchorLen || memcmp(info->anchor, anchor, anchorLen))
      return fail(ps, name, "pass '%.*s' runs on a different op than the pipeline it is nested in "
                  "(see --list-passes for the op each cube pass runs on)", name, (int)nameLen);
    CubeOptionValue *vals = NULL;
    char err[512];
    if (!cubePassOptionsParse(info, opts, optsLen, &vals, err, sizeof err))
      return snprintf(ps->err, sizeof ps->err, "%s", err), false;
    mlirOpPassManagerAddOwnedPass(opm, cubePassCreate(info, vals));
    return true;
  }
  if (!validateGpuOptions(ps, name, nameLen, opts, optsLen)) return false;
  size_t textLen = (size_t)(ps->p - name);
  char *text = malloc(textLen + 1);
  memcpy(text, name, textLen);
  text[textLen] = 0;
  char mlirErr[1024] = "";
  MlirLogicalResult r = mlirOpPassManagerAddPipeline(opm, mlirStringRefCreate(text, textLen), collectErr, mlirErr);
  free(text);
  if (mlirLogicalResultIsFailure(r)) {
    /* MLIR's message repeats the element and a caret; keep its first line. */
    char *nl = strchr(mlirErr, '\n');
    if (nl) *nl = 0;
    const char *msg = strstr(mlirErr, "error: ");
    msg = msg ? msg + 7 : mlirErr;
    snprintf(ps->err, sizeof ps->err, "in pass '%.*s': %s", (int)nameLen, name,
             *msg ? msg : "MLIR rejected it");
    return false;
  }
  return true;
}

static bool parseList(Parser *ps, MlirOpPassManager opm, const char *anchor, size_t anchorLen, char close) {
  skipSpace(ps);
  if (ps->p < ps->end && *ps->p == close) return true; /* empty list */
  for (;;) {
    if (!parseElement(ps, opm, anchor, anchorLen)) return false;
    if (ps->verifyEach && !strcmp(anchor, "builtin.module") && anchorLen == strlen("builtin.module")) {
      const CubePassInfo *verify = cubePassLookup("cube-verify", strlen("cube-verify"));
      CubeOptionValue *vals = NULL;
      char err[64];
      if (verify && cubePassOptionsParse(verify, "", 0, &vals, err, sizeof err))
        mlirOpPassManagerAddOwnedPass(opm, cubePassCreate(verify, vals));
    }
    skipSpace(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (close == 0 ? ps->p >= ps->end : (ps->p < ps->end && *ps->p == close)) return true;
    if (ps->p >= ps->end) return fail(ps, ps->p, "expected '%.*s' at the end of the pipeline", &close, 1);
    return fail(ps, ps->p, "unexpected '%.*s'; expected ',' between pipeline elements", ps->p, 1);
  }
}

bool cubeOptAddPipeline(MlirContext ctx, MlirPassManager pm, const char *pipeline, bool verifyEach) {
  Parser ps = {.text = pipeline, .p = pipeline, .end = pipeline + strlen(pipeline), .ctx = ctx,
               .verifyEach = verifyEach};
  MlirOpPassManager top = mlirPassManagerGetAsOpPassManager(pm);
  skipSpace(&ps);
  /* `builtin.module(...)` is the anchor of the top-level pass manager; a bare list means the same. */
  static const char kTop[] = "builtin.module";
  size_t topLen = strlen(kTop);
  bool ok;
  if ((size_t)(ps.end - ps.p) > topLen && !memcmp(ps.p, kTop, topLen) &&
      (ps.p[topLen] == '(' || isspace((unsigned char)ps.p[topLen]))) {
    ps.p += topLen;
    skipSpace(&ps);
    if (ps.p >= ps.end || *ps.p != '(') {
      ok = fail(&ps, ps.p, "expected '(' after builtin.module%.*s", "", 0);
    } else {
      ps.p++;
      ok = parseList(&ps, top, kTop, topLen, ')');
      if (ok) {
        ps.p++;
        skipSpace(&ps);
        if (ps.p < ps.end) ok = fail(&ps, ps.p, "unexpected text after the pipeline: '%.*s'", ps.p, (int)(ps.end - ps.p));
      }
    }
  } else {
    ok = parseList(&ps, top, kTop, topLen, 0);
  }
  if (!ok) cubeOptError("invalid pass pipeline '%s': %s", pipeline, ps.err);
  return ok;
}
