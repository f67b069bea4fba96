// A registered kernel (docs/kernel-registry.md): cube.rmsnorm of tiny-llama's [2, 16, 64] f32 activations
// (32 rows of 64) with its [64] weight, eps 1e-6, as HF's LlamaRMSNorm computes it. The signature is the
// op's inputs, then its result, as flat memrefs. One block of 32 threads, one row per thread: deliberately
// not the built-in block-per-row kernel, so that a test can tell which one ran (plan.json's launch shape).
func.func @rmsnorm_2x16x64(%x: memref<2048xf32>, %w: memref<64xf32>, %out: memref<2048xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %c0 = arith.constant 0 : index
    %c1i = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %zero = arith.constant 0.0 : f32
    %h = arith.constant 64.0 : f32
    %eps = arith.constant 9.99999997e-07 : f32
    %base = arith.muli %tx, %c64 : index
    %sum = scf.for %j = %c0 to %c64 step %c1i iter_args(%acc = %zero) -> (f32) {
      %i = arith.addi %base, %j : index
      %v = memref.load %x[%i] : memref<2048xf32>
      %sq = arith.mulf %v, %v : f32
      %next = arith.addf %acc, %sq : f32
      scf.yield %next : f32
    }
    %mean = arith.divf %sum, %h : f32
    %var = arith.addf %mean, %eps : f32
    %r = math.rsqrt %var : f32
    scf.for %j = %c0 to %c64 step %c1i {
      %i = arith.addi %base, %j : index
      %v = memref.load %x[%i] : memref<2048xf32>
      %n = arith.mulf %v, %r : f32
      %wj = memref.load %w[%j] : memref<64xf32>
      %y = arith.mulf %wj, %n : f32
      memref.store %y, %out[%i] : memref<2048xf32>
    }
    gpu.terminator
  }
  return
}
