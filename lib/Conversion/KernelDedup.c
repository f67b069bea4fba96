/* One kernel function per distinct kernel (cube-group-kernels): the eight decoder layers of a Llama produce
 * the same rope, rmsnorm, softmax, ... kernels eight times (and recompute twice more), identical but for the
 * cube.scope of the op inside. cube-group-kernels asks here before adding a kernel function; when an
 * identical one exists, its call reuses that one, so the kernels file holds each kernel once: less code to
 * generate at compile time and to JIT-compile when cube-run starts. Identical means: the same printed
 * function (types, attributes, body) once its name and the discardable attributes that only say where an
 * op came from (cube.scope, cube.recomputed, cube.fuse_group) are left out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cube/Conversion.h"
#include "cube/Rewrite.h"
#include "mlir-c/BuiltinAttributes.h"

typedef struct {
  uint64_t hash;
  char *key, *name;
} Entry;

struct CubeKernelDedup {
  Entry *v;
  size_t n, cap;
};

static const char *const kProvenance[] = {"cube.scope", "cube.recomputed", "cube.fuse_group"};

static MlirWalkResult stripProvenance(MlirOperation op, void *u) {
  (void)u;
  for (size_t i = 0; i < sizeof kProvenance / sizeof kProvenance[0]; ++i)
    mlirOperationRemoveAttributeByName(op, mlirStringRefCreateFromCString(kProvenance[i]));
  return MlirWalkResultAdvance;
}

static void toBuf(MlirStringRef s, void *u) { cubeBufAppendN((CubeBuf *)u, s.data, s.length); }

/* The function's text without its name and the provenance attributes of its ops. */
static char *keyOf(MlirOperation fn) {
  MlirOperation c = mlirOperationClone(fn);
  MlirContext ctx = mlirOperationGetContext(fn);
  mlirOperationSetAttributeByName(c, mlirStringRefCreateFromCString("sym_name"),
                                  mlirStringAttrGet(ctx, mlirStringRefCreateFromCString("k")));
  mlirOperationWalk(c, stripProvenance, NULL, MlirWalkPreOrder);
  CubeBuf b = {0};
  mlirOperationPrint(c, toBuf, &b);
  mlirOperationDestroy(c);
  if (b.oom) {
    cubeBufFree(&b);
    return NULL;
  }
  return b.s;
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; ++s) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

const char *cubeKernelDedupFind(CubeKernelDedup **d, MlirOperation fn, const char *name) {
  if (!*d && !(*d = calloc(1, sizeof **d))) return NULL;
  char *key = keyOf(fn);
  if (!key) return NULL; /* out of memory: no sharing, the kernel stays on its own */
  uint64_t h = fnv1a(key);
  for (size_t i = 0; i < (*d)->n; ++i)
    if ((*d)->v[i].hash == h && !strcmp((*d)->v[i].key, key)) {
      free(key);
      return (*d)->v[i].name;
    }
  char *nm = strdup(name);
  if (!nm || !cubeGrow((void **)&(*d)->v, &(*d)->cap, (*d)->n + 1, sizeof *(*d)->v)) {
    free(nm);
    free(key);
    return NULL;
  }
  (*d)->v[(*d)->n++] = (Entry){h, key, nm};
  return NULL;
}

void cubeKernelDedupFree(CubeKernelDedup *d) {
  if (!d) return;
  for (size_t i = 0; i < d->n; ++i) {
    free(d->v[i].key);
    free(d->v[i].name);
  }
  free(d->v);
  free(d);
}
