/* User-registered GPU kernels (docs/kernel-registry.md): `cube-opt --cube-kernel-registry=DIR` (or
 * cube-group-kernels{registry=DIR}) reads DIR/kernels.json,
 *
 *   {"kernels": [{"op": "cube.rmsnorm", "file": "rmsnorm.mlir", "function": "rmsnorm_rows"},
 *                {"pattern": ["cube.add", "cube.rmsnorm"], "ptx": "add_rmsnorm.ptx", "entry": "add_rmsnorm",
 *                 "signature": ["memref<2048xf32>", ...], "grid": [32, 1, 1], "block": [32, 1, 1]}, ...]}
 *
 * and on target=cuda every op of that name (or every chain of ops matching the pattern) becomes the
 * registered kernel. A kernel is either an MLIR func.func on flat memrefs holding gpu.launch ops (`file` and
 * `function`; its signature is read from the function) or a PTX `.entry` (`ptx` and `entry`) with the
 * signature and launch shape given in the manifest. Its arguments are the op's or pattern's inputs, then its
 * outputs, each `memref<N x elt>` (cubeKernelRegistryMatch/MatchPattern say exactly which values).
 *
 * The manifest and its files are read once per pass run (cubeKernelRegistryLoad). cube-group-kernels checks
 * the signature against each op or chain and marks the kernel function (cubeKernelRegistryMark); cube-emit
 * copies an MLIR kernel in (cubeKernelRegistryText) or launches a PTX one from its own module
 * (cubeKernelRegistryPtxLaunch). Errors name the manifest entry or the file and what was expected; a kernel
 * whose signature fits no op of its name is an error, not a silent fallback. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/GpuKernels.h"
#include "cube/Ops.h"
#include "cube/ReadFile.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/BuiltinTypes.h"
#include "mlir-c/Diagnostics.h"

static char gDefaultDir[4096];

void cubeKernelRegistrySetDefault(const char *dir) { snprintf(gDefaultDir, sizeof gDefaultDir, "%s", dir ? dir : ""); }
const char *cubeKernelRegistryDefault(void) { return gDefaultDir; }

static MlirOperation findFunc(MlirModule m, const char *name) {
  MlirBlock b = mlirModuleGetBody(m);
  for (MlirOperation f = mlirBlockGetFirstOperation(b); !mlirOperationIsNull(f); f = mlirOperationGetNextInBlock(f)) {
    MlirStringRef n;
    if (cubeOpNameIs(f, "func.func") && cubeGetStrAttr(f, "sym_name", &n) && cubeRefEq(n, name)) return f;
  }
  return (MlirOperation){NULL};
}

/* The registered module holding `function`, parsed in ctx; a null module with the reason in err. */
static MlirModule parseKernelFile(MlirContext ctx, const char *path, const char *function, MlirOperation *fn, char *err,
                                  size_t errSize) {
  char *text = cubeReadTextFile(path, "the registered kernel file", err, errSize);
  if (!text) return (MlirModule){NULL};
  MlirModule m = mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(text));
  free(text);
  if (mlirModuleIsNull(m)) {
    snprintf(err, errSize, "%s: does not parse as MLIR (see the error above)", path);
    return m;
  }
  *fn = findFunc(m, function);
  if (mlirOperationIsNull(*fn)) {
    snprintf(err, errSize, "%s: has no func.func @%s", path, function);
    mlirModuleDestroy(m);
    return (MlirModule){NULL};
  }
  return m;
}

/* "memref<Nxelt>" of a tensor type, flat. */
static void flatType(MlirType t, CubeBuf *out) {
  char e[8] = "?";
  kgEltName(mlirShapedTypeGetElementType(t), e, sizeof e);
  cubeBufPrintf(out, "memref<%" PRId64 "x%s>", kgNumElements(t), e);
}

static void printType(MlirStringRef s, void *u) { cubeBufAppendN(u, s.data, s.length); }

#define MAX_PATTERN 8

struct CubeKernelEntry {
  const char *manifest;
  size_t index;
  char *ops[MAX_PATTERN]; /* the op, or the pattern's ops in chain order */
  int nOps;
  bool ptx;               /* a PTX .entry; else an MLIR func.func */
  char *path, *function;  /* the file (relative to the artifact's reader: joined with DIR) and func/entry name */
  char *signature;        /* the argument types, "memref<..>, ..." */
  bool hasResults;        /* MLIR: the function returns something (not allowed) */
  int64_t launch[7];      /* PTX: grid x y z, block x y z, shared bytes */
};

struct CubeKernelRegistry {
  char manifest[4200];
  CubeKernelEntry *e;
  size_t n;
};

void cubeKernelRegistryFree(CubeKernelRegistry *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; ++i) {
    for (int j = 0; j < r->e[i].nOps; ++j) free(r->e[i].ops[j]);
    free(r->e[i].path);
    free(r->e[i].function);
    free(r->e[i].signature);
  }
  free(r->e);
  free(r);
}

/* "op" or "pattern" of entry k: one to MAX_PATTERN names of cube ops this context knows. */
static bool readOps(MlirContext ctx, json_t *k, CubeKernelEntry *e, char *err, size_t errSize) {
  json_t *op = json_object_get(k, "op"), *pat = json_object_get(k, "pattern");
  if (!!op == !!pat)
    return snprintf(err, errSize, "needs either \"op\" (e.g. \"cube.rmsnorm\") or \"pattern\" (e.g. [\"cube.add\", "
                    "\"cube.rmsnorm\"]), not %s", op ? "both" : "neither"), false;
  size_t n = op ? 1 : json_is_array(pat) ? json_array_size(pat) : 0;
  if (n < 1 || n > MAX_PATTERN)
    return snprintf(err, errSize, "\"pattern\" must be an array of 1 to %d op names", MAX_PATTERN), false;
  for (size_t j = 0; j < n; ++j) {
    const char *name = json_string_value(op ? op : json_array_get(pat, j));
    if (!name)
      return snprintf(err, errSize, "%s must be %s op name (e.g. \"cube.rmsnorm\")", op ? "\"op\"" : "\"pattern\"",
                      op ? "an" : "an array of"), false;
    if (strncmp(name, "cube.", 5) || !mlirContextIsRegisteredOperation(ctx, mlirStringRefCreateFromCString(name)))
      return snprintf(err, errSize, "'%s' is not an op of the cube dialect (docs/dialect.md)", name), false;
    e->ops[e->nOps++] = strdup(name);
  }
  return true;
}

/* A JSON array of 3 integers in [1, max] into v. */
static bool readDims(json_t *k, const char *key, int64_t max, int64_t *v, char *err, size_t errSize) {
  json_t *a = json_object_get(k, key);
  bool ok = json_is_array(a) && json_array_size(a) == 3;
  for (size_t d = 0; ok && d < 3; ++d) {
    json_t *x = json_array_get(a, d);
    ok = json_is_integer(x) && json_integer_value(x) >= 1 && json_integer_value(x) <= max;
    if (ok) v[d] = json_integer_value(x);
  }
  if (!ok) snprintf(err, errSize, "\"%s\" must be [x, y, z], integers in [1, %" PRId64 "]", key, max);
  return ok;
}

/* The number of parameters of `.entry name(` in PTX text, or -1 when there is no such entry. A PTX
 * parameter list is `.param .TYPE NAME` entries between the parentheses; counting `.param` is enough. */
static int ptxEntryParams(const char *ptx, const char *name) {
  size_t len = strlen(name);
  for (const char *p = strstr(ptx, ".entry"); p; p = strstr(p + 6, ".entry")) {
    const char *q = p + 6;
    while (*q == ' ' || *q == '\t') ++q;
    if (strncmp(q, name, len)) continue;
    q += len;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') ++q;
    if (*q != '(') continue;
    const char *end = strchr(q, ')');
    if (!end) return -1;
    int n = 0;
    for (const char *s = strstr(q, ".param"); s && s < end; s = strstr(s + 6, ".param")) ++n;
    return n;
  }
  return -1;
}

/* A PTX entry: the file holds `.entry`, the signature lists static memref types (one per .param), and the
 * launch shape is given. */
static bool readPtx(MlirContext ctx, const char *dir, json_t *k, CubeKernelEntry *e, char *err, size_t errSize) {
  const char *f = json_string_value(json_object_get(k, "ptx")), *entry = json_string_value(json_object_get(k, "entry"));
  json_t *sig = json_object_get(k, "signature"), *shared = json_object_get(k, "shared_bytes");
  if (!f || !entry || !json_is_array(sig))
    return snprintf(err, errSize, "a PTX kernel needs \"ptx\" (the file), \"entry\" (its .entry name), \"signature\" "
                    "(an array of memref types, e.g. [\"memref<2048xf32>\"]), \"grid\" and \"block\""), false;
  if (!readDims(k, "grid", INT32_MAX, e->launch, err, errSize) || !readDims(k, "block", 1024, e->launch + 3, err, errSize))
    return false;
  if (e->launch[3] * e->launch[4] * e->launch[5] > 1024)
    return snprintf(err, errSize, "\"block\" has %" PRId64 " threads (at most 1024)",
                    e->launch[3] * e->launch[4] * e->launch[5]), false;
  if (shared && (!json_is_integer(shared) || json_integer_value(shared) < 0 || json_integer_value(shared) > 227 * 1024))
    return snprintf(err, errSize, "\"shared_bytes\" must be an integer in [0, %d]", 227 * 1024), false;
  e->launch[6] = shared ? json_integer_value(shared) : 0;
  CubeBuf s = {0};
  bool ok = true;
  for (size_t j = 0; ok && j < json_array_size(sig); ++j) {
    const char *t = json_string_value(json_array_get(sig, j));
    MlirType ty = t ? mlirTypeParseGet(ctx, mlirStringRefCreateFromCString(t)) : (MlirType){NULL};
    ok = !mlirTypeIsNull(ty) && mlirTypeIsAMemRef(ty) && mlirShapedTypeHasStaticShape(ty);
    if (!ok) {
      snprintf(err, errSize, "\"signature\"[%zu]: '%s' is not a static memref type (e.g. \"memref<2048xf32>\")", j,
               t ? t : "(not a string)");
      break;
    }
    cubeBufAppend(&s, j ? ", " : "");
    mlirTypePrint(ty, printType, &s);
  }
  char path[8400];
  snprintf(path, sizeof path, "%s/%s", dir, f);
  char *text = ok ? cubeReadTextFile(path, "the registered PTX file", err, errSize) : NULL;
  ok = text != NULL;
  int params = ok ? ptxEntryParams(text, entry) : 0;
  if (ok && params < 0) {
    snprintf(err, errSize, "%.1500s: has no `.entry %.200s(`", path, entry);
    ok = false;
  } else if (ok && (size_t)params != json_array_size(sig)) {
    snprintf(err, errSize, "%.1500s: .entry %.200s has %d parameters, but \"signature\" lists %zu", path, entry, params,
             json_array_size(sig));
    ok = false;
  }
  free(text);
  if (ok) {
    e->ptx = true;
    e->path = strdup(path);
    e->function = strdup(entry);
    e->signature = strdup(cubeBufStr(&s));
  }
  cubeBufFree(&s);
  return ok;
}

/* An MLIR kernel: `function` in `file`, its argument types the signature. */
static bool readMlir(MlirContext ctx, const char *dir, json_t *k, CubeKernelEntry *e, char *err, size_t errSize) {
  const char *f = json_string_value(json_object_get(k, "file")), *fn = json_string_value(json_object_get(k, "function"));
  if (!f || !fn)
    return snprintf(err, errSize, "needs the strings \"file\" and \"function\" (an MLIR kernel) or \"ptx\" and "
                    "\"entry\" (a PTX kernel)"), false;
  char path[8400];
  snprintf(path, sizeof path, "%s/%s", dir, f);
  MlirOperation func;
  MlirModule m = parseKernelFile(ctx, path, fn, &func, err, errSize);
  if (mlirModuleIsNull(m)) return false;
  MlirType ft = mlirTypeAttrGetValue(mlirOperationGetAttributeByName(func, mlirStringRefCreateFromCString("function_type")));
  CubeBuf sig = {0};
  for (intptr_t j = 0; j < mlirFunctionTypeGetNumInputs(ft); ++j) {
    cubeBufAppend(&sig, j ? ", " : "");
    mlirTypePrint(mlirFunctionTypeGetInput(ft, j), printType, &sig);
  }
  e->path = strdup(path);
  e->function = strdup(fn);
  e->signature = strdup(cubeBufStr(&sig));
  e->hasResults = mlirFunctionTypeGetNumResults(ft) != 0;
  cubeBufFree(&sig);
  mlirModuleDestroy(m);
  return true;
}

static const char *const kKeys[] = {"op", "pattern", "file", "function", "ptx", "entry", "signature", "grid", "block",
                                    "shared_bytes", "comment"};

bool cubeKernelRegistryLoad(MlirContext ctx, const char *dir, CubeKernelRegistry **out, char *err, size_t errSize) {
  *out = NULL;
  if (!dir || !*dir) return true;
  CubeKernelRegistry *r = calloc(1, sizeof *r);
  if (!r) return snprintf(err, errSize, "out of memory"), false;
  snprintf(r->manifest, sizeof r->manifest, "%s/kernels.json", dir);
  json_error_t je;
  json_t *root = json_load_file(r->manifest, 0, &je);
  if (!root) {
    snprintf(err, errSize, "%s: %s (line %d)", r->manifest, je.text, je.line);
    cubeKernelRegistryFree(r);
    return false;
  }
  json_t *ks = json_object_get(root, "kernels");
  bool ok = true;
  if (!json_is_array(ks)) {
    snprintf(err, errSize, "%s: expected {\"kernels\": [{\"op\", \"file\", \"function\"}, ...]}", r->manifest);
    ok = false;
  }
  size_t nk = ok ? json_array_size(ks) : 0;
  r->e = calloc(nk ? nk : 1, sizeof *r->e);
  char why[3000];
  for (size_t i = 0; ok && r->e && i < nk; ++i) {
    json_t *k = json_array_get(ks, i);
    CubeKernelEntry *e = &r->e[r->n++];
    e->manifest = r->manifest;
    e->index = i;
    const char *key;
    json_t *v;
    if (!json_is_object(k)) {
      snprintf(why, sizeof why, "must be an object");
      ok = false;
    }
    if (ok) json_object_foreach(k, key, v) {
      bool known = false;
      for (size_t j = 0; j < sizeof kKeys / sizeof *kKeys; ++j) known |= !strcmp(key, kKeys[j]);
      if (!known) {
        snprintf(why, sizeof why, "unknown key \"%s\" (known: op, pattern, file, function, ptx, entry, signature, "
                 "grid, block, shared_bytes, comment)", key);
        ok = false;
        break;
      }
    }
    ok = ok && readOps(ctx, k, e, why, sizeof why);
    ok = ok && (json_object_get(k, "ptx") ? readPtx(ctx, dir, k, e, why, sizeof why) : readMlir(ctx, dir, k, e, why, sizeof why));
    if (!ok) snprintf(err, errSize, "%s: kernels[%zu]: %s", r->manifest, i, why);
  }
  if (ok && !r->e) {
    snprintf(err, errSize, "out of memory");
    ok = false;
  }
  json_decref(root);
  if (!ok) {
    cubeKernelRegistryFree(r);
    return false;
  }
  *out = r;
  return true;
}

/* The flat argument types of a kernel over values in[] then out[]. */
static void wantedSignature(const MlirValue *in, int nIn, const MlirValue *out, int nOut, CubeBuf *want) {
  for (int j = 0; j < nIn + nOut; ++j) {
    cubeBufAppend(want, j ? ", " : "");
    flatType(mlirValueGetType(j < nIn ? in[j] : out[j - nIn]), want);
  }
}

static bool fits(const CubeKernelEntry *e, const char *want) { return !e->hasResults && !strcmp(want, e->signature); }

static void misfit(const CubeKernelEntry *e, const char *what, const char *want, const char *rule, char *err, size_t errSize) {
  snprintf(err, errSize, "%s: kernels[%zu]: %s%s in %s takes (%s)%s, but this %s needs (%s): %s", e->manifest, e->index,
           e->ptx ? ".entry " : "@", e->function, e->path, e->signature, e->hasResults ? " with results" : "", what,
           want, rule);
}

bool cubeKernelRegistryMatch(const CubeKernelRegistry *r, MlirOperation op, const CubeKernelEntry **found, char *err,
                             size_t errSize) {
  *found = NULL;
  if (!r) return true;
  MlirStringRef opName = mlirIdentifierStr(mlirOperationGetName(op));
  MlirValue in[16], out[4];
  int nIn = (int)mlirOperationGetNumOperands(op), nOut = (int)mlirOperationGetNumResults(op);
  if (nIn > 16 || nOut > 4) return true;
  for (int j = 0; j < nIn; ++j) in[j] = mlirOperationGetOperand(op, j);
  for (int j = 0; j < nOut; ++j) out[j] = mlirOperationGetResult(op, j);
  CubeBuf want = {0};
  wantedSignature(in, nIn, out, nOut, &want);
  const CubeKernelEntry *first = NULL;
  for (size_t i = 0; i < r->n && !*found; ++i) {
    const CubeKernelEntry *e = &r->e[i];
    if (e->nOps != 1 || !cubeRefEq(opName, e->ops[0])) continue;
    if (!first) first = e;
    if (fits(e, cubeBufStr(&want))) *found = e;
  }
  if (first && !*found) {
    char what[128];
    snprintf(what, sizeof what, "%.*s", (int)opName.length, opName.data);
    misfit(first, what, cubeBufStr(&want), "its inputs, then its results, as flat memrefs, no results", err, errSize);
  }
  cubeBufFree(&want);
  return !first || *found;
}

/* The user of v named `name` in v's block that comes first, or null. */
static MlirOperation firstUserNamed(MlirValue v, const char *name) {
  MlirOperation best = {NULL};
  for (MlirOpOperand u = mlirValueGetFirstUse(v); !mlirOpOperandIsNull(u); u = mlirOpOperandGetNextUse(u)) {
    MlirOperation o = mlirOpOperandGetOwner(u);
    if (!cubeOpNameIs(o, name) || !mlirBlockEqual(mlirOperationGetBlock(o), mlirOperationGetBlock(mlirOpResultGetOwner(v))))
      continue;
    if (mlirOperationIsNull(best) || mlirOperationIsBeforeInBlock(o, best)) best = o;
  }
  return best;
}

static int indexOfOp(const MlirOperation *ops, int n, MlirOperation op) {
  for (int i = 0; i < n; ++i)
    if (mlirOperationEqual(ops[i], op)) return i;
  return -1;
}

/* The chain of `e` starting at `first` (each op reading the previous op's only result, the first such
 * user in block order), with every use of an inner result outside the chain after the chain's last op (so
 * that one kernel in the last op's place computes it). False when the ops do not form that chain. */
static bool chainAt(const CubeKernelEntry *e, MlirOperation first, MlirOperation *chain) {
  if (!cubeOpNameIs(first, e->ops[0])) return false;
  chain[0] = first;
  for (int i = 1; i < e->nOps; ++i) {
    if (mlirOperationGetNumResults(chain[i - 1]) != 1) return false;
    chain[i] = firstUserNamed(mlirOperationGetResult(chain[i - 1], 0), e->ops[i]);
    if (mlirOperationIsNull(chain[i]) || indexOfOp(chain, i, chain[i]) >= 0) return false;
  }
  MlirOperation last = chain[e->nOps - 1];
  for (int i = 0; i + 1 < e->nOps; ++i)
    for (MlirOpOperand u = mlirValueGetFirstUse(mlirOperationGetResult(chain[i], 0)); !mlirOpOperandIsNull(u);
         u = mlirOpOperandGetNextUse(u)) {
      MlirOperation o = mlirOpOperandGetOwner(u);
      if (indexOfOp(chain, e->nOps, o) < 0 &&
          (!mlirBlockEqual(mlirOperationGetBlock(o), mlirOperationGetBlock(last)) || mlirOperationIsBeforeInBlock(o, last)))
        return false;
    }
  return true;
}

bool cubeKernelRegistryPatternIO(const MlirOperation *chain, int n, MlirValue *in, int *nIn, MlirValue *out, int *nOut) {
  *nIn = *nOut = 0;
  for (int i = 0; i < n; ++i) {
    for (intptr_t j = 0; j < mlirOperationGetNumOperands(chain[i]); ++j) {
      MlirValue v = mlirOperationGetOperand(chain[i], j);
      if (mlirValueIsAOpResult(v) && indexOfOp(chain, i, mlirOpResultGetOwner(v)) >= 0) continue;
      if (*nIn == CUBE_REGISTRY_MAX_IN) return false;
      in[(*nIn)++] = v;
    }
    for (intptr_t j = 0; j < mlirOperationGetNumResults(chain[i]); ++j) {
      if (*nOut == CUBE_REGISTRY_MAX_OUT) return false;
      out[(*nOut)++] = mlirOperationGetResult(chain[i], j);
    }
  }
  return true;
}

bool cubeKernelRegistryMatchPattern(const CubeKernelRegistry *r, MlirOperation first, MlirOperation *chain, int *nChain,
                                    const CubeKernelEntry **found, char *err, size_t errSize) {
  *found = NULL;
  *nChain = 0;
  const CubeKernelEntry *misfitEntry = NULL;
  CubeBuf want = {0}, misfitWant = {0};
  for (size_t i = 0; r && i < r->n && !*found; ++i) {
    const CubeKernelEntry *e = &r->e[i];
    MlirOperation c[MAX_PATTERN];
    MlirValue in[CUBE_REGISTRY_MAX_IN], out[CUBE_REGISTRY_MAX_OUT];
    int nIn, nOut;
    if (e->nOps < 2 || !chainAt(e, first, c) || !cubeKernelRegistryPatternIO(c, e->nOps, in, &nIn, out, &nOut)) continue;
    want.len = 0;
    wantedSignature(in, nIn, out, nOut, &want);
    if (fits(e, cubeBufStr(&want))) {
      *found = e;
      *nChain = e->nOps;
      memcpy(chain, c, sizeof *c * (size_t)e->nOps);
    } else if (!misfitEntry) {
      misfitEntry = e;
      cubeBufAppend(&misfitWant, cubeBufStr(&want));
    }
  }
  if (misfitEntry && !*found) {
    CubeBuf what = {0};
    for (int j = 0; j < misfitEntry->nOps; ++j) cubeBufPrintf(&what, "%s%s", j ? " -> " : "", misfitEntry->ops[j]);
    cubeBufAppend(&what, " chain");
    misfit(misfitEntry, cubeBufStr(&what), cubeBufStr(&misfitWant),
           "the operands of its ops that the chain does not compute (op, then operand order), then every op's "
           "results, as flat memrefs, no results", err, errSize);
    cubeBufFree(&what);
  }
  cubeBufFree(&want);
  cubeBufFree(&misfitWant);
  return !misfitEntry || *found;
}

bool cubeKernelRegistryTakes(const CubeKernelRegistry *r, MlirOperation op) {
  const CubeKernelEntry *e;
  char err[2048];
  return r && (!cubeKernelRegistryMatch(r, op, &e, err, sizeof err) || e);
}

void cubeKernelRegistryMark(const CubeKernelEntry *e, MlirOperation kernelFn) {
  MlirContext ctx = mlirOperationGetContext(kernelFn);
  mlirOperationSetAttributeByName(kernelFn, mlirStringRefCreateFromCString(CUBE_ATTR_KERNEL_GPU), mlirUnitAttrGet(ctx));
  cubeSetStrAttr(kernelFn, e->ptx ? CUBE_ATTR_KERNEL_PTX : CUBE_ATTR_KERNEL_FILE, e->path);
  cubeSetStrAttr(kernelFn, e->ptx ? CUBE_ATTR_KERNEL_ENTRY : CUBE_ATTR_KERNEL_FUNCTION, e->function);
  if (e->ptx)
    mlirOperationSetAttributeByName(kernelFn, mlirStringRefCreateFromCString(CUBE_ATTR_KERNEL_LAUNCH),
                                    mlirDenseI64ArrayGet(ctx, 7, e->launch));
}

bool cubeKernelRegistryIsPtx(MlirOperation kernelFn) { return cubeHasAttr(kernelFn, CUBE_ATTR_KERNEL_PTX); }

bool cubeKernelRegistryPtxLaunch(MlirOperation kernelFn, char **ptxPath, char **entry, int64_t launch[7], int *nArgs,
                                 char *err, size_t errSize) {
  MlirStringRef p, en;
  MlirAttribute l = mlirOperationGetAttributeByName(kernelFn, mlirStringRefCreateFromCString(CUBE_ATTR_KERNEL_LAUNCH));
  MlirAttribute ft = mlirOperationGetAttributeByName(kernelFn, mlirStringRefCreateFromCString("function_type"));
  if (!cubeGetStrAttr(kernelFn, CUBE_ATTR_KERNEL_PTX, &p) || !cubeGetStrAttr(kernelFn, CUBE_ATTR_KERNEL_ENTRY, &en) ||
      mlirAttributeIsNull(l) || !mlirAttributeIsADenseI64Array(l) || mlirDenseArrayGetNumElements(l) != 7 ||
      mlirAttributeIsNull(ft) || !mlirAttributeIsAType(ft))
    return snprintf(err, errSize, "a registered PTX kernel without cube.kernel_ptx/cube.kernel_entry/cube.kernel_launch"), false;
  for (int i = 0; i < 7; ++i) launch[i] = mlirDenseI64ArrayGetElement(l, i);
  *nArgs = (int)mlirFunctionTypeGetNumInputs(mlirTypeAttrGetValue(ft));
  *ptxPath = cubeStrDupRef(p);
  *entry = cubeStrDupRef(en);
  return true;
}

bool cubeKernelRegistryText(MlirOperation kernelFn, const char *name, MlirOperation *out, char *err, size_t errSize) {
  MlirStringRef file, function;
  if (!cubeGetStrAttr(kernelFn, CUBE_ATTR_KERNEL_FILE, &file) || !cubeGetStrAttr(kernelFn, CUBE_ATTR_KERNEL_FUNCTION, &function))
    return snprintf(err, errSize, "a registered kernel without cube.kernel_file/cube.kernel_function"), false;
  char *path = cubeStrDupRef(file), *fn = cubeStrDupRef(function);
  MlirOperation func;
  MlirModule m = parseKernelFile(mlirOperationGetContext(kernelFn), path, fn, &func, err, errSize);
  bool ok = !mlirModuleIsNull(m);
  if (ok) {
    *out = mlirOperationClone(func);
    cubeSetStrAttr(*out, "sym_name", name);
    mlirOperationRemoveAttributeByName(*out, mlirStringRefCreateFromCString("sym_visibility"));
    mlirModuleDestroy(m);
  }
  free(path);
  free(fn);
  return ok;
}
