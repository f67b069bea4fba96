// A registered pattern kernel in MLIR: SwiGLU's silu(gate) * up for tiny-llama's [2, 16, 128] f32 MLP
// activations, one thread per element. The signature is the chain's inputs (silu's gate, mul's up), then
// every op's result (silu's, then mul's), as flat memrefs.
func.func @swiglu_4096(%gate: memref<4096xf32>, %up: memref<4096xf32>, %s: memref<4096xf32>, %y: memref<4096xf32>) {
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c256 = arith.constant 256 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c16, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %c256i = arith.constant 256 : index
    %one = arith.constant 1.0 : f32
    %base = arith.muli %bx, %c256i : index
    %i = arith.addi %base, %tx : index
    %g = memref.load %gate[%i] : memref<4096xf32>
    %u = memref.load %up[%i] : memref<4096xf32>
    %ng = arith.negf %g : f32
    %e = math.exp %ng : f32
    %d = arith.addf %one, %e : f32
    %sv = arith.divf %g, %d : f32
    %yv = arith.mulf %sv, %u : f32
    memref.store %sv, %s[%i] : memref<4096xf32>
    memref.store %yv, %y[%i] : memref<4096xf32>
    gpu.terminator
  }
  return
}
