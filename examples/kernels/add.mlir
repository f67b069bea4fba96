// A bundled elementwise kernel in linalg on tensors, destination-passing style: out = a + b.
// `bash scripts/main.sh` lowers it to PTX with the pipeline in examples/kernels/README.md.
func.func @add(%a: tensor<4096xf32>, %b: tensor<4096xf32>, %out: tensor<4096xf32>) -> tensor<4096xf32> {
  %0 = linalg.add ins(%a, %b : tensor<4096xf32>, tensor<4096xf32>) outs(%out : tensor<4096xf32>) -> tensor<4096xf32>
  return %0 : tensor<4096xf32>
}
