/* The memory planner of cube-emit (cube-plan-memory semantics, docs/codegen.md "Memory planning"): buffer
 * offsets in the one arena of a plan. Fixed buffers (inputs, outputs, params, grads, optimizer states) are
 * laid out one after another and never share a byte; activations and scratch (roots, not aliases) are placed
 * greedily, largest first, each at the lowest-waste gap between the already placed buffers whose live
 * intervals [first, last] (op indices) intersect its own (best fit); an alias gets its root's offset (the root's
 * interval covers the alias's uses). With reuse off every buffer gets bytes of its own. */
#include <stdint.h>
#include <stdlib.h>

#include "cube/Conversion.h"

static int64_t alignUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

static const CubeMemBuf *gBufs; /* for qsort: the array being sorted by index */

static int bySizeDesc(const void *a, const void *b) {
  const CubeMemBuf *x = &gBufs[*(const int *)a], *y = &gBufs[*(const int *)b];
  if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
  if (x->first != y->first) return x->first < y->first ? -1 : 1;
  return *(const int *)a - *(const int *)b;
}

static int byOffset(const void *a, const void *b) {
  const CubeMemBuf *x = &gBufs[*(const int *)a], *y = &gBufs[*(const int *)b];
  if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
  return *(const int *)a - *(const int *)b;
}

int64_t cubeMemPlan(CubeMemBuf *bufs, size_t n, bool reuse, int64_t align) {
  int64_t end = 0;
  for (size_t i = 0; i < n; ++i) {
    if (bufs[i].aliasOf >= 0 || (reuse && !bufs[i].fixed)) continue;
    bufs[i].offset = alignUp(end, align);
    end = bufs[i].offset + bufs[i].bytes;
  }
  int64_t base = alignUp(end, align), top = base;
  int *order = calloc(n + 1, sizeof *order), *placed = calloc(n + 1, sizeof *placed), *conf = calloc(n + 1, sizeof *conf);
  if (!order || !placed || !conf) {
    free(order);
    free(placed);
    free(conf);
    return -1;
  }
  size_t nOrder = 0, nPlaced = 0;
  for (size_t i = 0; reuse && i < n; ++i)
    if (bufs[i].aliasOf < 0 && !bufs[i].fixed) order[nOrder++] = (int)i;
  gBufs = bufs;
  qsort(order, nOrder, sizeof *order, bySizeDesc);
  for (size_t k = 0; k < nOrder; ++k) {
    CubeMemBuf *b = &bufs[order[k]];
    size_t nConf = 0;
    for (size_t j = 0; j < nPlaced; ++j) {
      const CubeMemBuf *o = &bufs[placed[j]];
      if (o->first <= b->last && b->first <= o->last && o->bytes > 0) conf[nConf++] = placed[j];
    }
    gBufs = bufs;
    qsort(conf, nConf, sizeof *conf, byOffset);
    /* Best fit: the smallest gap between conflicting buffers that holds b, else after the last one. */
    int64_t at = base, best = -1, bestWaste = 0;
    for (size_t j = 0; j <= nConf; ++j) {
      int64_t gapEnd = j < nConf ? bufs[conf[j]].offset : INT64_MAX;
      if (gapEnd - at >= b->bytes) {
        int64_t waste = j < nConf ? gapEnd - at - b->bytes : INT64_MAX;
        if (best < 0 || waste < bestWaste) best = at, bestWaste = waste;
      }
      if (j < nConf) {
        int64_t e = alignUp(bufs[conf[j]].offset + bufs[conf[j]].bytes, align);
        if (e > at) at = e;
      }
    }
    b->offset = best;
    if (b->offset + b->bytes > top) top = b->offset + b->bytes;
    placed[nPlaced++] = order[k];
  }
  for (size_t i = 0; i < n; ++i)
    if (bufs[i].aliasOf >= 0 && (size_t)bufs[i].aliasOf < n) bufs[i].offset = bufs[bufs[i].aliasOf].offset;
  free(order);
  free(placed);
  free(conf);
  return alignUp(reuse ? top : end, align);
}

int64_t cubeMemPeak(const CubeMemBuf *bufs, size_t n, const bool *mask) {
  int64_t maxLast = 0;
  for (size_t i = 0; i < n; ++i)
    if (mask[i] && bufs[i].last > maxLast) maxLast = bufs[i].last;
  int64_t *delta = calloc((size_t)maxLast + 2, sizeof *delta);
  if (!delta) return -1;
  for (size_t i = 0; i < n; ++i) {
    if (!mask[i] || bufs[i].first < 0) continue;
    delta[bufs[i].first] += bufs[i].bytes;
    delta[bufs[i].last + 1] -= bufs[i].bytes;
  }
  int64_t cur = 0, peak = 0;
  for (int64_t t = 0; t <= maxLast; ++t) {
    cur += delta[t];
    if (cur > peak) peak = cur;
  }
  free(delta);
  return peak;
}
