/* Reading and writing safetensors files (HF's weight format): an 8-byte little-endian header length, a
 * JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the raw little-endian data. Parsed with jansson; every field is checked (a truncated or corrupted
 * file is an error naming the file, the tensor and what is wrong, never a crash). Files are written
 * atomically: to PATH.tmp.PID, flushed, fsync'ed, then renamed over PATH. */
#ifndef CUBE_SAFETENSORS_H
#define CUBE_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  CUBE_DT_F32,
  CUBE_DT_F16,
  CUBE_DT_BF16,
  CUBE_DT_F64,
  CUBE_DT_I64,
  CUBE_DT_I32,
  CUBE_DT_I16,
  CUBE_DT_I8,
  CUBE_DT_U8,
  CUBE_DT_BOOL,
  CUBE_DT_COUNT
} CubeDType;

#define CUBE_MAX_RANK 8

/* The safetensors dtype name ("F32", "BF16", ...) and element size of a dtype. */
const char *cubeDTypeName(CubeDType t);
size_t cubeDTypeSize(CubeDType t);
/* Parses a safetensors dtype name; false if unknown. */
bool cubeDTypeParse(const char *name, CubeDType *out);

typedef struct {
  char *name;
  CubeDType dtype;
  int rank;
  int64_t shape[CUBE_MAX_RANK];
  uint64_t begin, end; /* byte range within the data section */
} CubeTensorInfo;

typedef struct {
  char *path;
  uint8_t *bytes; /* the whole file */
  size_t size;
  size_t dataStart; /* 8 + header length */
  CubeTensorInfo *tensors;
  size_t count;
  char *metadataJson; /* "__metadata__" as JSON text, or NULL */
} CubeSafetensors;

/* Reads and checks `path`. On failure returns false, fills err, and leaves *out empty. */
bool cubeSafetensorsOpen(const char *path, CubeSafetensors *out, char *err, size_t errSize);
void cubeSafetensorsClose(CubeSafetensors *st);
const CubeTensorInfo *cubeSafetensorsFind(const CubeSafetensors *st, const char *name);
static inline const void *cubeSafetensorsData(const CubeSafetensors *st, const CubeTensorInfo *t) {
  return st->bytes + st->dataStart + t->begin;
}

/* One tensor to write. */
typedef struct {
  const char *name;
  CubeDType dtype;
  int rank;
  const int64_t *shape;
  const void *data; /* numel * element size bytes */
} CubeTensorView;

/* Writes the tensors (in the order given) and optional string metadata (pairs key, value; NULL-terminated
 * array, may be NULL) atomically to `path`. */
bool cubeSafetensorsWrite(const char *path, const CubeTensorView *tensors, size_t n,
                          const char *const *metadata, char *err, size_t errSize);

#ifdef __cplusplus
}
#endif
#endif
