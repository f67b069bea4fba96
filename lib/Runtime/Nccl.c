/* Loading NCCL at run time (for the all_reduce steps of a data-parallel plan on CUDA): dlopen of
 * $CUBE_NCCL_LIBRARY or libnccl.so.2 and dlsym of the entry points the CUDA backend uses, so that cube-run
 * links no NCCL and single-GPU runs never need it. PyTorch's wheels bring NCCL in
 * site-packages/nvidia/nccl/lib; point CUBE_NCCL_LIBRARY (or LD_LIBRARY_PATH) there. */
#include "cube/CudaApi.h"

#ifdef CUBE_HAVE_CUDA_HEADERS
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cubeNcclLoad(CubeNccl *nc, char *err, size_t errSize) {
  memset(nc, 0, sizeof *nc);
  const char *env = getenv("CUBE_NCCL_LIBRARY");
  const char *path = env && *env ? env : "libnccl.so.2";
  nc->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!nc->lib) {
    const char *why = dlerror();
    snprintf(err, errSize, "NCCL is needed for the plan's all_reduce steps but %s could not be loaded (%s); set "
             "CUBE_NCCL_LIBRARY to libnccl.so.2 (e.g. PyTorch's site-packages/nvidia/nccl/lib/libnccl.so.2)", path,
             why ? why : "unknown error");
    return false;
  }
  struct {
    void *slot;
    const char *name;
  } syms[] = {
      {&nc->getVersion, "ncclGetVersion"},     {&nc->getUniqueId, "ncclGetUniqueId"},
      {&nc->commInitRank, "ncclCommInitRank"}, {&nc->commDestroy, "ncclCommDestroy"},
      {&nc->allReduce, "ncclAllReduce"},       {&nc->groupStart, "ncclGroupStart"},
      {&nc->groupEnd, "ncclGroupEnd"},         {&nc->getErrorString, "ncclGetErrorString"},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; ++i) {
    void *f = dlsym(nc->lib, syms[i].name);
    if (!f) {
      snprintf(err, errSize, "%s has no %s (NCCL 2.x is needed)", path, syms[i].name);
      dlclose(nc->lib);
      nc->lib = NULL;
      return false;
    }
    memcpy(syms[i].slot, &f, sizeof f);
  }
  return true;
}

void cubeNcclUnload(CubeNccl *nc) {
  if (nc->lib) dlclose(nc->lib);
  memset(nc, 0, sizeof *nc);
}

bool cubeNcclCheck(const CubeNccl *nc, int r, const char *what, char *err, size_t errSize) {
  if (r == 0) return true;
  const char *text = nc->getErrorString ? nc->getErrorString(r) : NULL;
  snprintf(err, errSize, "%s failed: NCCL error %d (%s)", what, r, text ? text : "no description");
  return false;
}
#endif
