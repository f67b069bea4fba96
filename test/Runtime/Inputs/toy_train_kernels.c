/* Kernels of the hand-made training artifact (toy_train_plan.json, "program": "train_step") used by the
 * runtime's training tests; built into kernels.so by the tests (cc -shared -fPIC), kernel ABI of
 * docs/plan-format.md. The model: B=2, S=4, V=8, D=4, LoRA rank R=2 on lm_head with alpha 4 (scaling 2):
 *   h = embed[input_ids]                                   (model.embed_tokens.weight, trainable)
 *   logits = h W^T + 2 * (h A^T) B^T                      (W = lm_head.weight frozen; A, B the LoRA params)
 *   loss = mean over the B*(S-1) positions of cross_entropy(logits[b, t], labels[b, t+1])
 * then the hand-written gradients of loss w.r.t. embed, A and B (W gets none: frozen), their global L2 norm
 * (the output grad_norm), and PyTorch's AdamW (lr and step are inputs; betas 0.9/0.999, eps 1e-8, weight
 * decay 0.01) updating every trainable parameter and its exp_avg/exp_avg_sq in place. */
#include <math.h>
#include <stdint.h>

enum { B = 2, S = 4, V = 8, D = 4, R = 2, N = B * S };
static const float kScale = 2.0f; /* alpha / r */

void tt_forward(const int64_t *ids, const float *embed, const float *w, const float *a, const float *bm, float *h,
                float *hA, float *logits) {
  for (int i = 0; i < N; ++i) {
    for (int d = 0; d < D; ++d) h[i * D + d] = embed[ids[i] * D + d];
    for (int r = 0; r < R; ++r) {
      float s = 0;
      for (int d = 0; d < D; ++d) s += h[i * D + d] * a[r * D + d];
      hA[i * R + r] = s;
    }
    for (int v = 0; v < V; ++v) {
      float s = 0, l = 0;
      for (int d = 0; d < D; ++d) s += h[i * D + d] * w[v * D + d];
      for (int r = 0; r < R; ++r) l += hA[i * R + r] * bm[v * R + r];
      logits[i * V + v] = s + kScale * l;
    }
  }
}

/* loss and dloss/dlogits (softmax - onehot) / count on the shifted positions, 0 on the last of each row. */
void tt_xent(const float *logits, const int64_t *labels, float *loss, float *dlogits) {
  const int count = B * (S - 1);
  float sum = 0;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < S; ++t) {
      int i = b * S + t;
      float *g = dlogits + i * V;
      if (t == S - 1) {
        for (int v = 0; v < V; ++v) g[v] = 0;
        continue;
      }
      const float *x = logits + i * V;
      int64_t y = labels[i + 1];
      float m = x[0], e = 0;
      for (int v = 1; v < V; ++v) m = x[v] > m ? x[v] : m;
      for (int v = 0; v < V; ++v) e += expf(x[v] - m);
      sum += logf(e) + m - x[y];
      for (int v = 0; v < V; ++v) g[v] = (expf(x[v] - m) / e - (v == y)) / (float)count;
    }
  *loss = sum / (float)count;
}

void tt_backward(const int64_t *ids, const float *h, const float *hA, const float *dl, const float *w, const float *a,
                 const float *bm, float *gEmbed, float *gA, float *gB) {
  for (int i = 0; i < V * D; ++i) gEmbed[i] = 0;
  for (int i = 0; i < R * D; ++i) gA[i] = 0;
  for (int i = 0; i < V * R; ++i) gB[i] = 0;
  for (int i = 0; i < N; ++i) {
    float dlB[R]; /* dlogits[i] @ B */
    for (int r = 0; r < R; ++r) {
      float s = 0;
      for (int v = 0; v < V; ++v) s += dl[i * V + v] * bm[v * R + r];
      dlB[r] = s;
    }
    for (int v = 0; v < V; ++v)
      for (int r = 0; r < R; ++r) gB[v * R + r] += kScale * dl[i * V + v] * hA[i * R + r];
    for (int r = 0; r < R; ++r)
      for (int d = 0; d < D; ++d) gA[r * D + d] += kScale * dlB[r] * h[i * D + d];
    for (int d = 0; d < D; ++d) {
      float s = 0;
      for (int v = 0; v < V; ++v) s += dl[i * V + v] * w[v * D + d];
      for (int r = 0; r < R; ++r) s += kScale * dlB[r] * a[r * D + d];
      gEmbed[ids[i] * D + d] += s; /* scatter-add */
    }
  }
}

void tt_grad_norm(const float *gEmbed, const float *gA, const float *gB, float *norm) {
  double s = 0;
  for (int i = 0; i < V * D; ++i) s += (double)gEmbed[i] * gEmbed[i];
  for (int i = 0; i < R * D; ++i) s += (double)gA[i] * gA[i];
  for (int i = 0; i < V * R; ++i) s += (double)gB[i] * gB[i];
  *norm = (float)sqrt(s);
}

/* torch.optim.AdamW (maximize=False, amsgrad=False), single-tensor path. */
static void adamw(int n, float *p, const float *g, float *m, float *v, const float *lrp, const int64_t *stepp) {
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f, lr = *lrp;
  const float step = (float)*stepp;
  float bc1 = 1.0f - powf(b1, step), bc2 = 1.0f - powf(b2, step);
  float stepSize = lr / bc1, bc2Sqrt = sqrtf(bc2);
  for (int i = 0; i < n; ++i) {
    p[i] *= 1.0f - lr * wd;
    m[i] = m[i] + (g[i] - m[i]) * (1.0f - b1); /* lerp, as torch */
    v[i] = v[i] * b2 + (1.0f - b2) * g[i] * g[i];
    float denom = sqrtf(v[i]) / bc2Sqrt + eps;
    p[i] += -stepSize * (m[i] / denom);
  }
}

void tt_adamw_embed(float *p, const float *g, float *m, float *v, const float *lr, const int64_t *step) {
  adamw(V * D, p, g, m, v, lr, step);
}
void tt_adamw_loraA(float *p, const float *g, float *m, float *v, const float *lr, const int64_t *step) {
  adamw(R * D, p, g, m, v, lr, step);
}
void tt_adamw_loraB(float *p, const float *g, float *m, float *v, const float *lr, const int64_t *step) {
  adamw(V * R, p, g, m, v, lr, step);
}
