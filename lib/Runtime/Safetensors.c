/* safetensors reading and writing (see cube/Safetensors.h). The header is parsed with jansson, then every
 * entry is checked against the file: dtype known, shape non-negative, data_offsets inside the data section
 * and exactly numel * element-size bytes long. */
#include "cube/Safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
  const char *name;
  size_t size;
} kDTypes[CUBE_DT_COUNT] = {
    [CUBE_DT_F32] = {"F32", 4}, [CUBE_DT_F16] = {"F16", 2}, [CUBE_DT_BF16] = {"BF16", 2},
    [CUBE_DT_F64] = {"F64", 8}, [CUBE_DT_I64] = {"I64", 8}, [CUBE_DT_I32] = {"I32", 4},
    [CUBE_DT_I16] = {"I16", 2}, [CUBE_DT_I8] = {"I8", 1},   [CUBE_DT_U8] = {"U8", 1},
    [CUBE_DT_BOOL] = {"BOOL", 1},
};

const char *cubeDTypeName(CubeDType t) { return t < CUBE_DT_COUNT ? kDTypes[t].name : "?"; }
size_t cubeDTypeSize(CubeDType t) { return t < CUBE_DT_COUNT ? kDTypes[t].size : 0; }

bool cubeDTypeParse(const char *name, CubeDType *out) {
  for (int i = 0; i < CUBE_DT_COUNT; ++i)
    if (!strcmp(kDTypes[i].name, name)) {
      *out = (CubeDType)i;
      return true;
    }
  return false;
}

void cubeSafetensorsClose(CubeSafetensors *st) {
  if (!st) return;
  for (size_t i = 0; i < st->count; ++i) free(st->tensors[i].name);
  free(st->tensors);
  free(st->bytes);
  free(st->path);
  free(st->metadataJson);
  memset(st, 0, sizeof *st);
}

const CubeTensorInfo *cubeSafetensorsFind(const CubeSafetensors *st, const char *name) {
  for (size_t i = 0; i < st->count; ++i)
    if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
  return NULL;
}

#define FAIL(...)                                                                                  \
  do {                                                                                             \
    snprintf(err, errSize, __VA_ARGS__);                                                           \
    goto fail;                                                                                     \
  } while (0)

/* Checks one header entry and fills *t. */
static bool parseEntry(const char *path, const char *key, json_t *v, uint64_t dataSize, CubeTensorInfo *t,
                       char *err, size_t errSize) {
  json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
         *offs = json_object_get(v, "data_offsets");
  if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs) ||
      json_array_size(offs) != 2) {
    snprintf(err, errSize, "%s: tensor '%s': expected {\"dtype\": str, \"shape\": [..], \"data_offsets\": [begin, end]}",
             path, key);
    return false;
  }
  if (!cubeDTypeParse(json_string_value(dt), &t->dtype)) {
    snprintf(err, errSize, "%s: tensor '%s': unknown dtype '%s'", path, key, json_string_value(dt));
    return false;
  }
  if (json_array_size(shape) > CUBE_MAX_RANK) {
    snprintf(err, errSize, "%s: tensor '%s': rank %zu is more than %d", path, key, json_array_size(shape),
             CUBE_MAX_RANK);
    return false;
  }
  t->rank = (int)json_array_size(shape);
  uint64_t numel = 1;
  for (int i = 0; i < t->rank; ++i) {
    json_t *d = json_array_get(shape, (size_t)i);
    if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > (1LL << 40)) {
      snprintf(err, errSize, "%s: tensor '%s': shape entry %d is not a non-negative integer", path, key, i);
      return false;
    }
    t->shape[i] = json_integer_value(d);
    numel *= (uint64_t)t->shape[i];
    if (numel > (1ULL << 48)) {
      snprintf(err, errSize, "%s: tensor '%s': shape is too large", path, key);
      return false;
    }
  }
  json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
  if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
      json_integer_value(e) < json_integer_value(b)) {
    snprintf(err, errSize, "%s: tensor '%s': data_offsets must be two integers 0 <= begin <= end", path, key);
    return false;
  }
  t->begin = (uint64_t)json_integer_value(b);
  t->end = (uint64_t)json_integer_value(e);
  if (t->end > dataSize) {
    snprintf(err, errSize, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%llu bytes): "
             "the file is truncated or corrupted", path, key, (unsigned long long)t->begin,
             (unsigned long long)t->end, (unsigned long long)dataSize);
    return false;
  }
  if (t->end - t->begin != numel * cubeDTypeSize(t->dtype)) {
    snprintf(err, errSize, "%s: tensor '%s': %llu bytes of data but shape and dtype %s need %llu", path, key,
             (unsigned long long)(t->end - t->begin), cubeDTypeName(t->dtype),
             (unsigned long long)(numel * cubeDTypeSize(t->dtype)));
    return false;
  }
  return true;
}

bool cubeSafetensorsOpen(const char *path, CubeSafetensors *out, char *err, size_t errSize) {
  memset(out, 0, sizeof *out);
  json_t *root = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) FAIL("%s: cannot open: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    FAIL("%s: cannot read (not a regular file?)", path);
  }
  long size = ftell(f);
  rewind(f);
  if (size < 0) {
    fclose(f);
    FAIL("%s: cannot read (not a regular file?)", path);
  }
  out->size = (size_t)size;
  out->bytes = malloc(out->size ? out->size : 1);
  if (!out->bytes) {
    fclose(f);
    FAIL("%s: out of memory reading %zu bytes", path, out->size);
  }
  size_t got = fread(out->bytes, 1, out->size, f);
  fclose(f);
  if (got != out->size) FAIL("%s: short read", path);
  if (out->size < 8) FAIL("%s: %zu bytes is too short for a safetensors file (8-byte header length missing)", path, out->size);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | out->bytes[i];
  if (hlen > out->size - 8)
    FAIL("%s: header length %llu is larger than the file (%zu bytes): truncated or not a safetensors file",
         path, (unsigned long long)hlen, out->size);
  json_error_t jerr;
  root = json_loadb((const char *)out->bytes + 8, (size_t)hlen, 0, &jerr);
  if (!root) FAIL("%s: header is not valid JSON (%s, at header byte %d)", path, jerr.text, jerr.position);
  if (!json_is_object(root)) FAIL("%s: header must be a JSON object", path);
  out->dataStart = 8 + (size_t)hlen;
  uint64_t dataSize = out->size - out->dataStart;
  size_t n = json_object_size(root);
  out->tensors = calloc(n ? n : 1, sizeof *out->tensors);
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (!strcmp(key, "__metadata__")) {
      if (!json_is_object(v)) FAIL("%s: __metadata__ must be an object of strings", path);
      out->metadataJson = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
      continue;
    }
    CubeTensorInfo *t = &out->tensors[out->count];
    if (!parseEntry(path, key, v, dataSize, t, err, errSize)) goto fail;
    t->name = strdup(key);
    out->count++;
  }
  json_decref(root);
  out->path = strdup(path);
  return true;
fail:
  json_decref(root);
  cubeSafetensorsClose(out);
  return false;
}

bool cubeSafetensorsWrite(const char *path, const CubeTensorView *tensors, size_t n,
                          const char *const *metadata, char *err, size_t errSize) {
  json_t *hdr = json_object();
  char *text = NULL;
  FILE *f = NULL;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  uint64_t off = 0;
  if (metadata && metadata[0]) {
    json_t *m = json_object();
    for (size_t i = 0; metadata[i] && metadata[i + 1]; i += 2) json_object_set_new(m, metadata[i], json_string(metadata[i + 1]));
    json_object_set_new(hdr, "__metadata__", m);
  }
  for (size_t i = 0; i < n; ++i) {
    const CubeTensorView *t = &tensors[i];
    if (t->rank < 0 || t->rank > CUBE_MAX_RANK || t->dtype >= CUBE_DT_COUNT)
      FAIL("%s: tensor '%s': bad rank or dtype", path, t->name);
    if (json_object_get(hdr, t->name)) FAIL("%s: tensor '%s' given twice", path, t->name);
    uint64_t bytes = cubeDTypeSize(t->dtype);
    json_t *shape = json_array();
    for (int d = 0; d < t->rank; ++d) {
      bytes *= (uint64_t)t->shape[d];
      json_array_append_new(shape, json_integer(t->shape[d]));
    }
    json_t *e = json_object();
    json_object_set_new(e, "dtype", json_string(cubeDTypeName(t->dtype)));
    json_object_set_new(e, "shape", shape);
    json_t *o = json_array();
    json_array_append_new(o, json_integer((json_int_t)off));
    json_array_append_new(o, json_integer((json_int_t)(off + bytes)));
    json_object_set_new(e, "data_offsets", o);
    json_object_set_new(hdr, t->name, e);
    off += bytes;
  }
  text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!text) FAIL("%s: out of memory", path);
  size_t hlen = strlen(text);
  size_t padded = (hlen + 7) / 8 * 8; /* the data section starts 8-byte aligned, padded with spaces */
  f = fopen(tmp, "wb");
  if (!f) FAIL("%s: cannot write: %s", tmp, strerror(errno));
  unsigned char lenBytes[8];
  for (int i = 0; i < 8; ++i) lenBytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  bool ok = fwrite(lenBytes, 1, 8, f) == 8 && fwrite(text, 1, hlen, f) == hlen;
  for (size_t i = hlen; ok && i < padded; ++i) ok = fputc(' ', f) != EOF;
  for (size_t i = 0; ok && i < n; ++i) {
    uint64_t bytes = cubeDTypeSize(tensors[i].dtype);
    for (int d = 0; d < tensors[i].rank; ++d) bytes *= (uint64_t)tensors[i].shape[d];
    ok = bytes == 0 || fwrite(tensors[i].data, 1, bytes, f) == bytes;
  }
  ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
  if (fclose(f) != 0) ok = false;
  f = NULL;
  if (!ok) FAIL("%s: write failed: %s", tmp, strerror(errno));
  if (rename(tmp, path) != 0) FAIL("%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
  free(text);
  json_decref(hdr);
  return true;
fail:
  if (f) fclose(f);
  remove(tmp);
  free(text);
  json_decref(hdr);
  return false;
}
