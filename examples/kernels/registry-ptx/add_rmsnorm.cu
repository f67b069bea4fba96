// A user's fused kernel, written in CUDA C and registered as PTX (docs/kernel-registry.md): the residual add
// and the RMSNorm after it, `r = x + h; y = w * (r * rsqrt(mean(r^2) + eps))`, for tiny-llama's [2, 16, 64]
// f32 activations (32 rows of 64), eps 1e-6 as HF's LlamaRMSNorm. One warp per row: each lane keeps its two
// elements of r in registers, so r is read once instead of twice (once by the add's consumer, once by the
// norm) and the pair is one launch instead of two.
//
// The signature is fixed by the pattern ["cube.add", "cube.rmsnorm"]: the operands the chain does not compute
// (the add's x and h, the norm's weight w), then every op's result (r, then y), as flat arrays.
// Regenerate the PTX beside it with:
//   nvcc -ptx -arch=compute_80 -O3 add_rmsnorm.cu -o add_rmsnorm.ptx
#define H 64
#define EPS 1e-6f

extern "C" __global__ void add_rmsnorm_f32_h64(const float *__restrict__ x, const float *__restrict__ h,
                                               const float *__restrict__ w, float *__restrict__ r,
                                               float *__restrict__ y) {
  const int row = blockIdx.x, lane = threadIdx.x;
  float v[H / 32], ss = 0.f;
  for (int i = 0; i < H / 32; ++i) {
    const int c = row * H + lane + 32 * i;
    v[i] = x[c] + h[c];
    r[c] = v[i];
    ss += v[i] * v[i];
  }
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  const float inv = rsqrtf(ss / H + EPS);
  for (int i = 0; i < H / 32; ++i) {
    const int c = lane + 32 * i;
    y[row * H + c] = w[c] * (v[i] * inv);
  }
}
