/* Unit test of lib/Runtime/TokenData.c: a good file, and each way a file can be wrong. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "cube/TokenData.h"

static void writeFile(const char *path, const char *magic, uint32_t version, uint32_t vocab, uint64_t count,
                      const int32_t *ids, size_t nIds) {
  FILE *f = fopen(path, "wb");
  unsigned char h[24];
  memcpy(h, magic, 8);
  for (int i = 0; i < 4; ++i) h[8 + i] = (unsigned char)(version >> (8 * i));
  for (int i = 0; i < 4; ++i) h[12 + i] = (unsigned char)(vocab >> (8 * i));
  for (int i = 0; i < 8; ++i) h[16 + i] = (unsigned char)(count >> (8 * i));
  fwrite(h, 1, 24, f);
  for (size_t i = 0; i < nIds; ++i) {
    unsigned char b[4];
    for (int k = 0; k < 4; ++k) b[k] = (unsigned char)((uint32_t)ids[i] >> (8 * k));
    fwrite(b, 1, 4, f);
  }
  fclose(f);
}

static void expectReject(const char *path, uint32_t modelVocab, const char *needle) {
  CubeTokenData d;
  char err[512] = "";
  CHECK(!cubeTokenDataLoad(path, modelVocab, &d, err, sizeof err));
  CHECK_STR_CONTAINS(err, needle);
  CHECK(d.ids == NULL);
}

int main(void) {
  char path[] = "/tmp/cube-tok-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  int32_t ids[5] = {1, 2, 255, 0, 7};
  writeFile(path, "CUBETOK\0", 1, 256, 5, ids, 5);
  CubeTokenData d;
  char err[512];
  CHECK(cubeTokenDataLoad(path, 256, &d, err, sizeof err));
  CHECK(d.count == 5 && d.vocabSize == 256 && d.ids[2] == 255 && d.ids[4] == 7);
  cubeTokenDataFree(&d);
  expectReject(path, 128, "id 255 at position 2 is outside [0, 128) (the model's vocab_size)");
  writeFile(path, "CUBETOK\0", 1, 200, 5, ids, 5);
  expectReject(path, 0, "id 255 at position 2 is outside [0, 200) (the file's vocab_size)");
  writeFile(path, "CUBETOK\0", 1, 256, 6, ids, 5);
  expectReject(path, 0, "header says 6 ids (48 bytes) but the file has 44 bytes");
  writeFile(path, "CUBETOK\0", 2, 256, 5, ids, 5);
  expectReject(path, 0, "token file version 2, expected 1");
  writeFile(path, "GPT2TOK\0", 1, 256, 5, ids, 5);
  expectReject(path, 0, "not a cube token file");
  int32_t neg[1] = {-3};
  writeFile(path, "CUBETOK\0", 1, 256, 1, neg, 1);
  expectReject(path, 0, "id -3 at position 0");
  writeFile(path, "CUBETOK\0", 1, 256, 0, ids, 0);
  CHECK(cubeTokenDataLoad(path, 0, &d, err, sizeof err) && d.count == 0);
  cubeTokenDataFree(&d);
  FILE *f = fopen(path, "wb");
  fwrite("CUBE", 1, 4, f);
  fclose(f);
  expectReject(path, 0, "not a cube token file");
  expectReject("/nonexistent/x.tok", 0, "cannot open");
  remove(path);
  return CHECK_REPORT();
}
