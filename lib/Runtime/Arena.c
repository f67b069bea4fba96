/* The arena: every buffer of a plan lives at arena + offset in one allocation of arena_bytes, so the
 * runtime allocates once per run and the plan decides all placement (and any reuse) at compile time.
 * This file holds the host allocation (the CPU backend's arena) and the overflow-safe range check that
 * every access through the runtime is tested with. */
#include "cube/Runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cubeRangeInside(uint64_t offset, uint64_t bytes, uint64_t total) {
  return offset <= total && bytes <= total - offset;
}

void *cubeArenaAllocHost(uint64_t bytes, uint64_t alignment, char *err, size_t errSize) {
  uint64_t align = alignment > 64 ? alignment : 64;
  if (alignment & (alignment - 1)) {
    snprintf(err, errSize, "arena alignment %llu is not a power of two", (unsigned long long)alignment);
    return NULL;
  }
  uint64_t size = bytes ? bytes : 1;
  if (size > UINT64_MAX - align || size + align - 1 > (uint64_t)SIZE_MAX) {
    snprintf(err, errSize, "arena of %llu bytes is too large", (unsigned long long)bytes);
    return NULL;
  }
  size = (size + align - 1) / align * align; /* aligned_alloc wants a multiple of the alignment */
  void *p = aligned_alloc((size_t)align, (size_t)size);
  if (!p) {
    snprintf(err, errSize, "cannot allocate the arena: %llu bytes", (unsigned long long)bytes);
    return NULL;
  }
  memset(p, 0, (size_t)size);
  return p;
}
