// Registered for cube.rmsnorm, but for rows of 32: tiny-llama's rmsnorm needs (2048, 64, 2048).
func.func @rms(%x: memref<1024xf32>, %w: memref<32xf32>, %out: memref<1024xf32>) {
  return
}
