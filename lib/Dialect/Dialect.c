/* Loading the cube dialect (embedded IRDL) and creating the context every cube tool works in. */
#include "cube/Dialect.h"

#include <stdio.h>

#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/Dialect/IRDL.h"
#include "mlir-c/RegisterEverything.h"

#ifndef CUBE_VERSION
#define CUBE_VERSION "0.0.0"
#endif

const char *cubeVersion(void) { return CUBE_VERSION; }

static void printToStderr(MlirStringRef s, void *u) {
  (void)u;
  fwrite(s.data, 1, s.length, stderr);
}

MlirLogicalResult cubeLoadDialect(MlirContext ctx) {
  /* The dialect is loaded once per context; the IRDL module must outlive nothing (ops are registered
   * in the context), so it is destroyed right after loading. */
  if (mlirContextIsRegisteredOperation(ctx, mlirStringRefCreateFromCString("cube.param")))
    return mlirLogicalResultSuccess();
  MlirModule irdl = mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(cube_irdl_text));
  if (mlirModuleIsNull(irdl)) {
    fprintf(stderr, "cube: internal error: the embedded IRDL dialect does not parse\n");
    return mlirLogicalResultFailure();
  }
  MlirLogicalResult r = mlirLoadIRDLDialects(irdl);
  if (mlirLogicalResultIsFailure(r)) {
    fprintf(stderr, "cube: internal error: the embedded IRDL dialect does not load:\n");
    mlirOperationPrint(mlirModuleGetOperation(irdl), printToStderr, NULL);
  }
  mlirModuleDestroy(irdl);
  return r;
}

MlirContext cubeContextCreate(void) {
  static int passesRegistered = 0;
  if (!passesRegistered) {
    mlirRegisterAllPasses();
    passesRegistered = 1;
  }
  MlirDialectRegistry reg = mlirDialectRegistryCreate();
  mlirRegisterAllDialects(reg); /* dialects + extensions, including the NVVM target */
  MlirContext ctx = mlirContextCreateWithRegistry(reg, /*threadingEnabled=*/false);
  mlirDialectRegistryDestroy(reg);
  mlirRegisterAllLLVMTranslations(ctx);
  mlirContextLoadAllAvailableDialects(ctx);
  if (mlirLogicalResultIsFailure(cubeLoadDialect(ctx))) {
    mlirContextDestroy(ctx);
    return (MlirContext){NULL};
  }
  return ctx;
}
