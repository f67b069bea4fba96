/* Unit test of lib/Runtime/Safetensors.c: round trip, a file written by HF's safetensors library
 * (argv[1], test/python/data/tiny-llama.safetensors), and every corruption the reader must reject. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "cube/Safetensors.h"

static void writeBytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(data, 1, n, f);
  fclose(f);
}

/* Writes an 8-byte length + header + `dataBytes` zero bytes. */
static void writeRaw(const char *path, const char *header, size_t dataBytes) {
  size_t h = strlen(header);
  unsigned char *buf = calloc(1, 8 + h + dataBytes + 1);
  for (int i = 0; i < 8; ++i) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(buf + 8, header, h);
  writeBytes(path, buf, 8 + h + dataBytes);
  free(buf);
}

static void expectReject(const char *path, const char *needle) {
  CubeSafetensors st;
  char err[512] = "";
  CHECK(!cubeSafetensorsOpen(path, &st, err, sizeof err));
  CHECK_STR_CONTAINS(err, needle);
  CHECK(st.tensors == NULL && st.bytes == NULL);
}

int main(int argc, char **argv) {
  char dir[] = "/tmp/cube-st-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char path[512], err[512];
  snprintf(path, sizeof path, "%s/a.safetensors", dir);

  /* Round trip. */
  float w[6] = {1, 2, 3, 4, 5, 6};
  int64_t ids[3] = {7, -8, 9};
  uint16_t half[2] = {0x3f80, 0xc000}; /* bf16 1.0, -2.0 */
  int64_t s1[2] = {2, 3}, s2[1] = {3}, s3[1] = {2};
  CubeTensorView views[3] = {{"model.w", CUBE_DT_F32, 2, s1, w},
                             {"ids", CUBE_DT_I64, 1, s2, ids},
                             {"h", CUBE_DT_BF16, 1, s3, half}};
  const char *meta[] = {"format", "pt", NULL};
  CHECK(cubeSafetensorsWrite(path, views, 3, meta, err, sizeof err));
  CubeSafetensors st;
  CHECK(cubeSafetensorsOpen(path, &st, err, sizeof err));
  CHECK(st.count == 3);
  const CubeTensorInfo *t = cubeSafetensorsFind(&st, "model.w");
  CHECK(t && t->dtype == CUBE_DT_F32 && t->rank == 2 && t->shape[0] == 2 && t->shape[1] == 3);
  CHECK(t && !memcmp(cubeSafetensorsData(&st, t), w, sizeof w));
  t = cubeSafetensorsFind(&st, "ids");
  CHECK(t && t->dtype == CUBE_DT_I64 && !memcmp(cubeSafetensorsData(&st, t), ids, sizeof ids));
  t = cubeSafetensorsFind(&st, "h");
  CHECK(t && t->dtype == CUBE_DT_BF16 && !memcmp(cubeSafetensorsData(&st, t), half, sizeof half));
  CHECK(st.metadataJson && strstr(st.metadataJson, "\"format\":\"pt\"") != NULL);
  CHECK(st.dataStart % 8 == 0);
  CHECK(cubeSafetensorsFind(&st, "nope") == NULL);
  cubeSafetensorsClose(&st);
  char tmpName[600];
  snprintf(tmpName, sizeof tmpName, "%s.tmp.%d", path, (int)getpid());
  CHECK(access(tmpName, F_OK) != 0); /* no temporary left behind */

  /* A file written by HF's safetensors (PyTorch side). */
  if (argc > 1) {
    CHECK(cubeSafetensorsOpen(argv[1], &st, err, sizeof err));
    t = cubeSafetensorsFind(&st, "model.embed_tokens.weight");
    CHECK(t && t->dtype == CUBE_DT_F32 && t->rank == 2 && t->shape[0] == 256 && t->shape[1] == 64);
    CHECK(cubeSafetensorsFind(&st, "model.layers.1.mlp.down_proj.weight") != NULL);
    cubeSafetensorsClose(&st);
  }

  /* Corruptions. */
  snprintf(path, sizeof path, "%s/bad.safetensors", dir);
  writeBytes(path, "abc", 3);
  expectReject(path, "too short for a safetensors file");
  writeRaw(path, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4);
  expectReject(path, "run past the end of the data");
  writeRaw(path, "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8);
  expectReject(path, "8 bytes of data but shape and dtype F32 need 12");
  writeRaw(path, "{\"a\": {\"dtype\": \"Q4\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8);
  expectReject(path, "unknown dtype 'Q4'");
  writeRaw(path, "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8);
  expectReject(path, "shape entry 0 is not a non-negative integer");
  writeRaw(path, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8);
  expectReject(path, "data_offsets must be two integers 0 <= begin <= end");
  writeRaw(path, "{\"a\": [1, 2]}", 0);
  expectReject(path, "tensor 'a': expected {\"dtype\"");
  writeRaw(path, "{\"a\": {\"dtype\": \"F32\"", 0);
  expectReject(path, "header is not valid JSON");
  writeRaw(path, "[1]", 0);
  expectReject(path, "header must be a JSON object");
  unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
  writeBytes(path, huge, 10);
  expectReject(path, "is larger than the file");
  /* Truncating the good file anywhere is rejected, never a crash. */
  snprintf(path, sizeof path, "%s/a.safetensors", dir);
  FILE *f = fopen(path, "rb");
  unsigned char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  char cut[512];
  snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
  int rejected = 0;
  for (size_t k = 0; k < n; ++k) {
    writeBytes(cut, buf, k);
    rejected += !cubeSafetensorsOpen(cut, &st, err, sizeof err);
  }
  CHECK(rejected == (int)n);
  expectReject("/nonexistent/x.safetensors", "cannot open");
  /* Writing into a missing directory fails cleanly. */
  CHECK(!cubeSafetensorsWrite("/nonexistent/dir/x.safetensors", views, 1, NULL, err, sizeof err));
  CHECK_STR_CONTAINS(err, "cannot write");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) return 1;
  return CHECK_REPORT();
}
