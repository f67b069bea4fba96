/* The cube pass registry.
 *
 * A cube pass is a C function that rewrites a module (or a func.func), plus a table entry that gives its
 * command-line name, a one-line description, the op it runs on and its options. Adding a pass is one C
 * file under lib/Transforms/ plus one line in lib/Transforms/Registry.c (docs/adding-a-pass.md).
 *
 * MLIR's textual pipeline parser cannot name passes defined outside C++, so cube-opt splits a pipeline
 * itself: cube passes become MLIR external passes (mlirCreateExternalPass), everything else is handed to
 * mlirOpPassManagerAddPipeline. Options use MLIR's syntax: `cube-lora{rank=8 targets=q_proj,v_proj}`. */
#ifndef CUBE_PASSES_H
#define CUBE_PASSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  CUBE_OPT_BOOL,   /* true|false|1|0 */
  CUBE_OPT_INT,    /* a decimal integer within [min, max] */
  CUBE_OPT_FLOAT,  /* a finite number within [min, max] */
  CUBE_OPT_STRING, /* any text */
  CUBE_OPT_LIST,   /* comma-separated non-empty names */
} CubeOptionKind;

/* One option of a pass: its key, kind, default (as text, parsed like a user value) and help. */
typedef struct {
  const char *name;
  CubeOptionKind kind;
  const char *defaultValue;
  const char *description;
  double min, max; /* for INT and FLOAT; min == max == 0 means unbounded */
} CubePassOption;

/* The parsed values of a pass's options, in the order of its option table. */
typedef struct {
  bool b;
  int64_t i;
  double f;
  char *s;      /* STRING and LIST: the raw text (owned) */
  char **items; /* LIST: the comma-separated items (owned), NULL-terminated */
  size_t nItems;
} CubeOptionValue;

typedef struct CubePassInfo CubePassInfo;

/* Runs the pass on `op` (an op of the pass's anchor kind). Reports problems as MLIR diagnostics at the
 * offending op (mlirEmitError) and returns failure; never prints and carries on. */
typedef MlirLogicalResult (*CubePassRunFn)(MlirOperation op, const CubeOptionValue *options);

struct CubePassInfo {
  const char *argument;    /* command-line name, e.g. "cube-verify" */
  const char *description; /* one line */
  const char *anchor;      /* op the pass runs on: "builtin.module" or "func.func" */
  const CubePassOption *options;
  size_t nOptions;
  CubePassRunFn run;
};

/* The registry: every cube pass, in the order --list-passes shows them. */
size_t cubePassCount(void);
const CubePassInfo *cubePassAt(size_t i);
const CubePassInfo *cubePassLookup(const char *argument, size_t len);

/* Parses an option string (the text between `{` and `}`, e.g. "rank=8 targets=q_proj,v_proj") against
 * the pass's options, filling defaults first. On error returns false and writes a message naming the pass,
 * the key and what was expected into err. On success *out is an array of info->nOptions values that the
 * caller frees with cubePassOptionsFree. */
bool cubePassOptionsParse(const CubePassInfo *info, const char *text, size_t len,
                          CubeOptionValue **out, char *err, size_t errSize);
void cubePassOptionsFree(const CubePassInfo *info, CubeOptionValue *values);

/* Creates the MLIR external pass for `info` with parsed options (ownership of `values` moves to the pass). */
MlirPass cubePassCreate(const CubePassInfo *info, CubeOptionValue *values);

/* Writes the --list-passes text for every cube pass. */
void cubePassPrintList(FILE *out);

#ifdef __cplusplus
}
#endif
#endif
