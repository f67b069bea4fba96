/* Loading the CUDA driver API at run time: dlopen("libcuda.so.1") and dlsym of each entry point under its
 * versioned ABI name (cuMemAlloc_v2, ...: cuda.h maps the plain names to these with macros), so that libcube
 * needs no CUDA library to link or to start. Also the error formatting every CUDA call goes through. */
#include "cube/CudaApi.h"

#ifdef CUBE_HAVE_CUDA_HEADERS
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

bool cubeCudaLoad(CubeCuda *cu, char *err, size_t errSize) {
  memset(cu, 0, sizeof *cu);
  cu->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!cu->lib) {
    const char *why = dlerror();
    snprintf(err, errSize, "no CUDA driver found (libcuda.so.1 could not be loaded: %s)", why ? why : "unknown error");
    return false;
  }
  struct {
    void *slot;
    const char *name;
  } syms[] = {
      {&cu->init, "cuInit"},
      {&cu->driverGetVersion, "cuDriverGetVersion"},
      {&cu->deviceGetCount, "cuDeviceGetCount"},
      {&cu->deviceGet, "cuDeviceGet"},
      {&cu->deviceGetName, "cuDeviceGetName"},
      {&cu->deviceGetAttribute, "cuDeviceGetAttribute"},
      {&cu->primaryCtxRetain, "cuDevicePrimaryCtxRetain"},
      {&cu->primaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
      {&cu->ctxSetCurrent, "cuCtxSetCurrent"},
      {&cu->ctxSynchronize, "cuCtxSynchronize"},
      {&cu->moduleLoadDataEx, "cuModuleLoadDataEx"},
      {&cu->moduleGetFunction, "cuModuleGetFunction"},
      {&cu->moduleUnload, "cuModuleUnload"},
      {&cu->funcSetAttribute, "cuFuncSetAttribute"},
      {&cu->memAlloc, "cuMemAlloc_v2"},
      {&cu->memFree, "cuMemFree_v2"},
      {&cu->memcpyHtoD, "cuMemcpyHtoD_v2"},
      {&cu->memcpyDtoH, "cuMemcpyDtoH_v2"},
      {&cu->memcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"},
      {&cu->memsetD8, "cuMemsetD8_v2"},
      {&cu->launchKernel, "cuLaunchKernel"},
      {&cu->streamCreate, "cuStreamCreate"},
      {&cu->streamDestroy, "cuStreamDestroy_v2"},
      {&cu->streamBeginCapture, "cuStreamBeginCapture_v2"},
      {&cu->streamEndCapture, "cuStreamEndCapture"},
      {&cu->graphInstantiate, "cuGraphInstantiateWithFlags"},
      {&cu->graphLaunch, "cuGraphLaunch"},
      {&cu->graphExecDestroy, "cuGraphExecDestroy"},
      {&cu->graphDestroy, "cuGraphDestroy"},
      {&cu->eventCreate, "cuEventCreate"},
      {&cu->eventRecord, "cuEventRecord"},
      {&cu->eventSynchronize, "cuEventSynchronize"},
      {&cu->eventElapsedTime, "cuEventElapsedTime"},
      {&cu->eventDestroy, "cuEventDestroy_v2"},
      {&cu->streamWaitEvent, "cuStreamWaitEvent"},
      {&cu->getErrorString, "cuGetErrorString"},
      {&cu->getErrorName, "cuGetErrorName"},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; ++i) {
    void *p = dlsym(cu->lib, syms[i].name);
    if (!p) {
      snprintf(err, errSize, "the CUDA driver (libcuda.so.1) has no %s: the driver is too old or broken", syms[i].name);
      cubeCudaUnload(cu);
      return false;
    }
    memcpy(syms[i].slot, &p, sizeof p); /* a function pointer from dlsym, as POSIX allows */
  }
  return true;
}

void cubeCudaUnload(CubeCuda *cu) {
  if (cu->lib) dlclose(cu->lib);
  memset(cu, 0, sizeof *cu);
}

bool cubeCudaCheck(const CubeCuda *cu, CUresult r, const char *what, char *err, size_t errSize) {
  if (r == CUDA_SUCCESS) return true;
  const char *name = NULL, *text = NULL;
  if (cu->getErrorName) cu->getErrorName(r, &name);
  if (cu->getErrorString) cu->getErrorString(r, &text);
  snprintf(err, errSize, "%s failed: %s (%s)", what, name ? name : "unknown CUDA error", text ? text : "no description");
  return false;
}
#else
typedef int CubeCudaDriverUnavailable; /* built without the CUDA headers: BackendCuda.c says so */
#endif
