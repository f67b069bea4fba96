/* Loading token data files (format in cube/TokenData.h and docs/data-format.md). */
#include "cube/TokenData.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void cubeTokenDataFree(CubeTokenData *d) {
  free(d->ids);
  memset(d, 0, sizeof *d);
}

bool cubeTokenDataLoad(const char *path, uint32_t modelVocab, CubeTokenData *out, char *err, size_t errSize) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return snprintf(err, errSize, "%s: cannot open: %s", path, strerror(errno)), false;
  unsigned char hdr[24];
  size_t got = fread(hdr, 1, sizeof hdr, f);
  if (got != sizeof hdr || memcmp(hdr, "CUBETOK\0", 8) != 0) {
    fclose(f);
    return snprintf(err, errSize, "%s: not a cube token file (expected the 24-byte header starting with "
                    "\"CUBETOK\"; write one with `python3 -m cube data`)", path), false;
  }
  uint32_t version = (uint32_t)le(hdr + 8, 4);
  out->vocabSize = (uint32_t)le(hdr + 12, 4);
  out->count = le(hdr + 16, 8);
  if (version != 1) {
    fclose(f);
    return snprintf(err, errSize, "%s: token file version %u, expected 1", path, version), false;
  }
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return snprintf(err, errSize, "%s: cannot read", path), false;
  }
  long size = ftell(f);
  if (size < 0 || out->count > ((uint64_t)1 << 40) || (uint64_t)size != 24 + 4 * out->count) {
    fclose(f);
    return snprintf(err, errSize, "%s: header says %llu ids (%llu bytes) but the file has %ld bytes: truncated or "
                    "corrupted", path, (unsigned long long)out->count,
                    (unsigned long long)(24 + 4 * out->count), size), false;
  }
  out->ids = malloc(out->count ? out->count * 4 : 4);
  fseek(f, 24, SEEK_SET);
  unsigned char *raw = (unsigned char *)out->ids;
  got = fread(raw, 4, out->count, f);
  fclose(f);
  if (got != out->count) {
    cubeTokenDataFree(out);
    return snprintf(err, errSize, "%s: short read", path), false;
  }
  for (uint64_t i = 0; i < out->count; ++i) out->ids[i] = (int32_t)(uint32_t)le(raw + 4 * i, 4);
  uint32_t limit = out->vocabSize;
  for (uint64_t i = 0; i < out->count; ++i) {
    if (out->ids[i] < 0 || (uint32_t)out->ids[i] >= limit || (modelVocab && (uint32_t)out->ids[i] >= modelVocab)) {
      bool model = modelVocab && (uint32_t)out->ids[i] < limit;
      snprintf(err, errSize, "%s: id %d at position %llu is outside [0, %u) (%s vocab_size)", path, out->ids[i],
               (unsigned long long)i, model ? modelVocab : limit, model ? "the model's" : "the file's");
      cubeTokenDataFree(out);
      return false;
    }
  }
  return true;
}
