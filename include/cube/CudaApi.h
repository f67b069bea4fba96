/* The CUDA driver and cuBLASLt entry points the runtime uses, resolved at run time with dlopen/dlsym
 * (lib/Runtime/CudaDriver.c, Cublas.c), so that the runtime links no CUDA library and the same build runs on
 * machines without a GPU. cuda.h and cublasLt.h are included for types and constants only; CMake defines
 * CUBE_HAVE_CUDA_HEADERS (and adds their directory) for libcuberuntime when it finds both headers.
 * Internal to lib/Runtime. */
#ifndef CUBE_CUDAAPI_H
#define CUBE_CUDAAPI_H

#ifdef CUBE_HAVE_CUDA_HEADERS
#include <cuda.h>
#include <cublasLt.h>
#include <stdbool.h>
#include <stddef.h>

#include "cube/Plan.h"

typedef struct {
  void *lib;
  CUresult (*init)(unsigned);
  CUresult (*driverGetVersion)(int *);
  CUresult (*deviceGetCount)(int *);
  CUresult (*deviceGet)(CUdevice *, int);
  CUresult (*deviceGetName)(char *, int, CUdevice);
  CUresult (*deviceGetAttribute)(int *, CUdevice_attribute, CUdevice);
  CUresult (*primaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*primaryCtxRelease)(CUdevice);
  CUresult (*ctxSetCurrent)(CUcontext);
  CUresult (*ctxSynchronize)(void);
  CUresult (*moduleLoadDataEx)(CUmodule *, const void *, unsigned, CUjit_option *, void **);
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*moduleUnload)(CUmodule);
  CUresult (*funcSetAttribute)(CUfunction, CUfunction_attribute, int);
  CUresult (*memAlloc)(CUdeviceptr *, size_t);
  CUresult (*memFree)(CUdeviceptr);
  CUresult (*memcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*memcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*memcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*memsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                           void **, void **);
  CUresult (*streamCreate)(CUstream *, unsigned);
  CUresult (*streamDestroy)(CUstream);
  CUresult (*streamBeginCapture)(CUstream, CUstreamCaptureMode);
  CUresult (*streamEndCapture)(CUstream, CUgraph *);
  CUresult (*graphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
  CUresult (*graphLaunch)(CUgraphExec, CUstream);
  CUresult (*graphExecDestroy)(CUgraphExec);
  CUresult (*graphDestroy)(CUgraph);
  CUresult (*eventCreate)(CUevent *, unsigned);
  CUresult (*eventRecord)(CUevent, CUstream);
  CUresult (*eventSynchronize)(CUevent);
  CUresult (*eventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*eventDestroy)(CUevent);
  CUresult (*streamWaitEvent)(CUstream, CUevent, unsigned);
  CUresult (*getErrorString)(CUresult, const char **);
  CUresult (*getErrorName)(CUresult, const char **);
} CubeCuda;

/* dlopen's libcuda.so.1 and resolves every entry point; on failure: "no CUDA driver found (libcuda.so.1
 * could not be loaded: DLERROR)" or the missing symbol. */
bool cubeCudaLoad(CubeCuda *cu, char *err, size_t errSize);
void cubeCudaUnload(CubeCuda *cu);
/* True for CUDA_SUCCESS; otherwise "WHAT failed: CUDA_ERROR_NAME (description)" into err. */
bool cubeCudaCheck(const CubeCuda *cu, CUresult r, const char *what, char *err, size_t errSize);

/* NCCL (Nccl.c), loaded at run time like the driver: $CUBE_NCCL_LIBRARY, else libnccl.so.2 from the library
 * path. NCCL's headers are not a build dependency: the few types and constants below are its stable C ABI
 * (nccl.h 2.x: ncclUniqueId is 128 bytes, results are ints with 0 = ncclSuccess). */
typedef struct {
  char internal[128];
} CubeNcclId;
enum { CUBE_NCCL_FLOAT16 = 6, CUBE_NCCL_FLOAT32 = 7, CUBE_NCCL_BFLOAT16 = 9 };
enum { CUBE_NCCL_SUM = 0, CUBE_NCCL_AVG = 4 };
typedef struct {
  void *lib;
  int (*getVersion)(int *);
  int (*getUniqueId)(CubeNcclId *);
  int (*commInitRank)(void **, int, CubeNcclId, int);
  int (*commDestroy)(void *);
  int (*allReduce)(const void *, void *, size_t, int, int, void *, CUstream);
  int (*groupStart)(void);
  int (*groupEnd)(void);
  const char *(*getErrorString)(int);
} CubeNccl;
/* dlopen's NCCL and resolves its entry points; on failure a message saying where it looked. */
bool cubeNcclLoad(CubeNccl *nc, char *err, size_t errSize);
void cubeNcclUnload(CubeNccl *nc);
/* True for ncclSuccess; otherwise "WHAT failed: NCCL error N (text)" into err. */
bool cubeNcclCheck(const CubeNccl *nc, int r, const char *what, char *err, size_t errSize);

/* cuBLASLt (Cublas.c): one handle and workspace per backend, one prepared descriptor set per gemm step. */
typedef struct CubeCublas CubeCublas;
typedef struct CubeCublasGemm CubeCublasGemm;
bool cubeCublasOpen(const CubeCuda *cu, CubeCublas **out, char *err, size_t errSize);
void cubeCublasClose(CubeCublas *cb);
/* Builds the descriptors of plan->steps[i] (a gemm) for these device pointers and picks an algorithm. */
bool cubeCublasPrepare(CubeCublas *cb, const CubePlan *plan, size_t i, CUdeviceptr a, CUdeviceptr b, CUdeviceptr c,
                       CUdeviceptr bias, CubeCublasGemm **out, char *err, size_t errSize);
bool cubeCublasRun(CubeCublas *cb, CubeCublasGemm *g, CUstream stream, char *err, size_t errSize);
void cubeCublasGemmFree(CubeCublas *cb, CubeCublasGemm *g);

#endif
#endif
