/* Token data files (docs/data-format.md): the training/eval input of cube-run.
 *   offset 0   8 bytes  magic "CUBETOK" followed by a zero byte
 *   offset 8   u32 LE   version (1)
 *   offset 12  u32 LE   vocab_size of the tokenizer that wrote the ids
 *   offset 16  u64 LE   count: number of ids
 *   offset 24  count x i32 LE ids, each in [0, vocab_size)
 * `python3 -m cube data` writes them (byte-level tokenizer for text, or a list of ids). */
#ifndef CUBE_TOKENDATA_H
#define CUBE_TOKENDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t vocabSize;
  uint64_t count;
  int32_t *ids;
} CubeTokenData;

/* Reads and checks `path`; ids must also be below `modelVocab` (0 = no model check). On failure returns
 * false with a message naming the file, the offending position and what was expected. */
bool cubeTokenDataLoad(const char *path, uint32_t modelVocab, CubeTokenData *out, char *err, size_t errSize);
void cubeTokenDataFree(CubeTokenData *d);

#ifdef __cplusplus
}
#endif
#endif
