/* Kernels of the hand-made toy artifact (toy_plan.json) used by the runtime's end-to-end tests: built into
 * a kernels.so by the tests themselves (cc -shared -fPIC), with the kernel ABI of docs/plan-format.md
 * (bare pointers, static shapes compiled in). The model: B=2, S=4, V=8, D=4;
 *   h = embed[input_ids]; logits = h @ lm_head.weight^T + lm_head.bias (a gemm step); loss = the mean over
 *   the B*(S-1) positions of cross_entropy(logits[b, t], labels[b, t+1]) (as HF with labels=input_ids). */
#include <math.h>
#include <stdint.h>

enum { B = 2, S = 4, V = 8, D = 4 };

void toy_embed(const int64_t *ids, const float *table, float *h) {
  for (int r = 0; r < B * S; ++r)
    for (int d = 0; d < D; ++d) h[r * D + d] = table[ids[r] * D + d];
}

/* `next` is labels + 1 element (the step passes the labels buffer at offset 8 bytes). */
void toy_xent(const float *logits, const int64_t *next, float *rowLoss, float *loss) {
  float sum = 0.0f;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < S - 1; ++t) {
      int r = b * S + t;
      const float *x = logits + r * V;
      float m = x[0];
      for (int v = 1; v < V; ++v) m = x[v] > m ? x[v] : m;
      float e = 0.0f;
      for (int v = 0; v < V; ++v) e += expf(x[v] - m);
      rowLoss[r] = logf(e) + m - x[next[r]];
      sum += rowLoss[r];
    }
  *loss = sum / (float)(B * (S - 1));
}
