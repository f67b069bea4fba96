/* User-registered GPU kernels (docs/kernel-registry.md): `cube-opt --cube-kernel-registry=DIR` (or
 * cube-group-kernels{registry=DIR}) reads DIR/kernels.json,
 *
 *   {"kernels": [{"op": "cube.rmsnorm", "file": "rmsnorm.mlir", "function": "rmsnorm_rows"}, ...]}
 *
 * and every op of that name becomes the registered kernel on target=cuda (the manifest and every entry's
 * file are read once per cube-group-kernels run, cubeKernelRegistryLoad): `function` in `file` (relative to
 * DIR) is a func.func on flat memrefs, one per kernel argument in the kernel function's order (the op's
 * inputs, then its results: `memref<N x elt>`, no scratch), holding gpu.launch ops, the form of the
 * project's own kernels (lib/Conversion/Gpu*.c; `cube-emit{dump=true}` shows them). cube-group-kernels
 * checks the signature against each op and marks the kernel function (cube.kernel_gpu, cube.kernel_file,
 * cube.kernel_function); cube-emit copies the function in under the kernel's name. Errors name the manifest
 * entry or the file, and what was expected; a registered kernel whose signature does not fit an op is an
 * error, not a silent fallback. */
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

typedef struct {
  char *op, *path, *function;
  char *signature; /* the function's argument types, "memref<..>, ..." */
  bool hasResults;
} Entry;

struct CubeKernelRegistry {
  char manifest[4200];
  Entry *e;
  size_t n;
};

void cubeKernelRegistryFree(CubeKernelRegistry *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; ++i) {
    free(r->e[i].op);
    free(r->e[i].path);
    free(r->e[i].function);
    free(r->e[i].signature);
  }
  free(r->e);
  free(r);
}

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
  for (size_t i = 0; ok && i < nk; ++i) {
    json_t *k = json_array_get(ks, i);
    const char *o = json_string_value(json_object_get(k, "op")), *f = json_string_value(json_object_get(k, "file")),
               *fn = json_string_value(json_object_get(k, "function"));
    if (!o || !f || !fn) {
      snprintf(err, errSize, "%s: kernels[%zu]: needs the strings \"op\" (e.g. \"cube.rmsnorm\"), \"file\" and "
               "\"function\"", r->manifest, i);
      ok = false;
      break;
    }
    char path[8400], why[1024];
    snprintf(path, sizeof path, "%s/%s", dir, f);
    MlirOperation func;
    MlirModule m = parseKernelFile(ctx, path, fn, &func, why, sizeof why);
    if (mlirModuleIsNull(m)) {
      snprintf(err, errSize, "%s: kernels[%zu]: %s", r->manifest, i, why);
      ok = false;
      break;
    }
    MlirType ft = mlirTypeAttrGetValue(mlirOperationGetAttributeByName(func, mlirStringRefCreateFromCString("function_type")));
    CubeBuf sig = {0};
    for (intptr_t j = 0; j < mlirFunctionTypeGetNumInputs(ft); ++j) {
      cubeBufAppend(&sig, j ? ", " : "");
      mlirTypePrint(mlirFunctionTypeGetInput(ft, j), printType, &sig);
    }
    Entry *e = &r->e[r->n++];
    e->op = strdup(o);
    e->path = strdup(path);
    e->function = strdup(fn);
    e->signature = strdup(cubeBufStr(&sig));
    e->hasResults = mlirFunctionTypeGetNumResults(ft) != 0;
    cubeBufFree(&sig);
    mlirModuleDestroy(m);
  }
  json_decref(root);
  if (!ok) {
    cubeKernelRegistryFree(r);
    return false;
  }
  *out = r;
  return true;
}

bool cubeKernelRegistryMatch(const CubeKernelRegistry *r, MlirOperation op, const char **file, const char **function,
                             bool *found, char *err, size_t errSize) {
  *found = false;
  if (!r) return true;
  MlirStringRef opName = mlirIdentifierStr(mlirOperationGetName(op));
  for (size_t i = 0; i < r->n; ++i) {
    const Entry *e = &r->e[i];
    if (!cubeRefEq(opName, e->op)) continue;
    /* expected: inputs then results, flat */
    CubeBuf want = {0};
    intptr_t n = 0;
    for (intptr_t j = 0; j < mlirOperationGetNumOperands(op); ++j, ++n) {
      cubeBufAppend(&want, n ? ", " : "");
      flatType(mlirValueGetType(mlirOperationGetOperand(op, j)), &want);
    }
    for (intptr_t j = 0; j < mlirOperationGetNumResults(op); ++j, ++n) {
      cubeBufAppend(&want, n ? ", " : "");
      flatType(mlirValueGetType(mlirOperationGetResult(op, j)), &want);
    }
    bool fits = !e->hasResults && !strcmp(cubeBufStr(&want), e->signature);
    if (!fits)
      snprintf(err, errSize, "%s: kernels[%zu]: @%s in %s takes (%s)%s, but this %.*s needs (%s): its inputs, then its "
               "results, as flat memrefs, no results", r->manifest, i, e->function, e->path, e->signature,
               e->hasResults ? " with results" : "", (int)opName.length, opName.data, cubeBufStr(&want));
    *file = e->path;
    *function = e->function;
    *found = fits;
    cubeBufFree(&want);
    return fits;
  }
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
