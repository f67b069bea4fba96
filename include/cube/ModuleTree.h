/* The module tree of a cube module, printed the way PyTorch prints an nn.Module (`print(model)`), from the
 * scope table and the ops that carry each scope: what `cube-opt --cube-print-module-tree` shows and what the
 * seed's trace_log.txt holds. Identical consecutive children of a ModuleList collapse as in PyTorch
 * (`(0-11): 12 x LlamaDecoderLayer(`). */
#ifndef CUBE_MODULETREE_H
#define CUBE_MODULETREE_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the tree as malloc'ed text ending in a newline (free with free()); NULL when the module has no
 * scope table or memory runs out. */
char *cubeModuleTreeText(MlirOperation module);

#ifdef __cplusplus
}
#endif
#endif
