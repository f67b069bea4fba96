/* Pieces of the cube-opt driver shared between its files. */
#ifndef CUBE_OPT_DRIVER_H
#define CUBE_OPT_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"

/* ---- diagnostics (Diagnostics.c) ---- */

/* Installs the handler that prints `file:line:col: error: message`, the source line and a caret. The
 * source text of `fileName` (the whole input) is used for the excerpt; lines are 1-based in it. */
void cubeOptInstallDiagnostics(MlirContext ctx, const char *fileName, const char *text, size_t len);
/* Number of errors reported since the last reset. */
int cubeOptErrorCount(void);
void cubeOptResetErrors(void);
/* Prints `cube-opt: error: ...` for problems that have no IR location (bad flags, unreadable files). */
void cubeOptError(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Capturing: between Begin and End, diagnostics are kept instead of printed; End(true) prints them and
 * counts their errors, End(false) drops them. Used to retry a parse with an implicit module. */
void cubeOptBeginCapture(void);
void cubeOptEndCapture(bool replay);
const char *cubeOptCapturedFirstMessage(void);
int cubeOptCapturedErrors(void);

/* ---- pipelines (Pipeline.c) ---- */

/* Adds the passes of a textual pipeline (`builtin.module(cube-verify,canonicalize,func.func(cse))`, or
 * a bare list `cube-verify,cse` which is taken as nested under builtin.module) to `pm`. Cube passes become
 * external passes, the rest goes to MLIR's own pipeline parser. Options that would make LLVM abort (GPU
 * chip/features) are checked first. With verifyEach, cube-verify runs after every top-level element (the
 * "debug mode" of --cube-verify-each). On error prints a message and returns false. */
bool cubeOptAddPipeline(MlirContext ctx, MlirPassManager pm, const char *pipeline, bool verifyEach);

#endif
