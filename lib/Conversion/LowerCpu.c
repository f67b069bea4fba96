/* target=cpu: bufferized kernels -> loops -> LLVM dialect (bare-pointer C ABI: every memref argument is one
 * pointer, `void k3_rmsnorm(void *, void *, ...)`) -> LLVM IR (mlirTranslateModuleToLLVMIR) -> an object file
 * for the host CPU (LLVM C API, optimised with the default O2 pipeline, position independent) ->
 * kernels.so linked by the system C compiler (`cc -shared ... -lm`: the math functions come from libm). The
 * object is compiled for the CPU that compiles it (like -march=native). */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cube/Conversion.h"
#include "cube/Ops.h"
#include "llvm-c/Core.h"
#include "llvm-c/Error.h"
#include "llvm-c/Target.h"
#include "llvm-c/TargetMachine.h"
#include "llvm-c/Transforms/PassBuilder.h"
#include "mlir-c/Diagnostics.h"
#include "mlir-c/Target/LLVMIR.h"

extern char **environ;

static const char *kCpuPipeline =
    "func.func(convert-linalg-to-loops),expand-strided-metadata,lower-affine,convert-scf-to-cf,"
    "finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,"
    "convert-func-to-llvm{use-bare-ptr-memref-call-conv=1},convert-cf-to-llvm,reconcile-unrealized-casts";

static bool error(MlirOperation at, const char *fmt, const char *a, const char *b) {
  char msg[10240];
  snprintf(msg, sizeof msg, fmt, a, b);
  mlirEmitError(mlirOperationGetLocation(at), msg);
  return false;
}

/* Compiles the LLVM module to an object file at `objPath`. */
static bool emitObject(LLVMModuleRef mod, MlirOperation at, const char *objPath) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  char *triple = LLVMGetDefaultTargetTriple(), *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
  char *msg = NULL;
  LLVMTargetRef target;
  bool ok = false;
  if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
    error(at, "cube-emit: no LLVM target for the host (%s): %s", triple, msg ? msg : "");
  } else {
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelDefault,
                                                      LLVMRelocPIC, LLVMCodeModelDefault);
    LLVMSetTarget(mod, triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, dl);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    LLVMErrorRef e = LLVMRunPasses(mod, "default<O2>", tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    if (e) {
      char *em = LLVMGetErrorMessage(e);
      error(at, "cube-emit: LLVM optimisation of the kernels failed: %s%s", em, "");
      LLVMDisposeErrorMessage(em);
    } else if (LLVMTargetMachineEmitToFile(tm, mod, objPath, LLVMObjectFile, &msg)) {
      error(at, "cube-emit: cannot write the kernels' object file: %s%s", msg ? msg : "", "");
    } else {
      ok = true;
    }
    LLVMDisposeTargetData(dl);
    LLVMDisposeTargetMachine(tm);
  }
  if (msg) LLVMDisposeMessage(msg);
  LLVMDisposeMessage(triple);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  return ok;
}

/* Runs `cc -shared -o soPath objPath -lm`; the compiler's own messages go to stderr. */
static bool linkShared(MlirOperation at, const char *objPath, const char *soPath, const char *shown) {
  const char *cc = getenv("CC");
  if (!cc || !*cc || strchr(cc, ' ')) cc = "cc";
  char *argv[] = {(char *)cc, "-shared", "-o", (char *)soPath, (char *)objPath, "-lm", NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, cc, NULL, NULL, argv, environ);
  if (rc != 0) return error(at, "cube-emit: cannot run the C compiler '%s' to link kernels.so: %s", cc, strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return error(at, "cube-emit: '%s -shared' failed to link %s (see its messages above)", cc, shown);
  return true;
}

static void printTo(MlirStringRef s, void *u) { cubeBufAppendN(u, s.data, s.length); }

bool cubeLowerKernelsCpu(MlirModule kernels, MlirOperation diagAt, const char *dir, const char *name, CubeBuf *dump) {
  MlirOperation kop = mlirModuleGetOperation(kernels);
  if (!cubeRunPipeline(kop, kCpuPipeline, diagAt, "CPU lowering")) return false;
  if (dump) mlirOperationPrint(kop, printTo, dump);
  LLVMContextRef lctx = LLVMContextCreate();
  LLVMModuleRef mod = mlirTranslateModuleToLLVMIR(kop, lctx);
  if (!mod) {
    LLVMContextDispose(lctx);
    return error(diagAt, "cube-emit: the kernels do not translate to LLVM IR%s%s", "", "");
  }
  char obj[4096], so[4096], final[4096];
  snprintf(obj, sizeof obj, "%s/.kernels.o.tmp.%d", dir, (int)getpid());
  snprintf(so, sizeof so, "%s/.%s.tmp.%d", dir, name, (int)getpid());
  snprintf(final, sizeof final, "%s/%s", dir, name);
  bool ok = emitObject(mod, diagAt, obj) && linkShared(diagAt, obj, so, final);
  LLVMDisposeModule(mod);
  LLVMContextDispose(lctx);
  remove(obj);
  if (ok && rename(so, final) != 0) ok = error(diagAt, "cube-emit: cannot write '%s': %s", final, strerror(errno));
  if (!ok) remove(so);
  return ok;
}
