// Plan naming and outputs of a function that is not the model signature: arguments are arg<i>, results
// result<i>; a result computed by a kernel is the output buffer itself, a returned argument, parameter or
// alias is copied into an output buffer of its own (a `copy` step), and a value returned twice is copied.
// RUN: rm -rf %t && cube-opt %s --pass-pipeline='builtin.module(cube-prepare-forward,cube-group-kernels{target=cpu},cube-lower-to-linalg,cube-emit{out=%t})' -o /dev/null
// RUN: FileCheck %s < %t/plan.json

// CHECK:      "inputs": [
// CHECK-NEXT:   {"name": "arg0", "buffer": "arg0"}
// CHECK-NEXT: ],
// CHECK-NEXT: "outputs": [
// CHECK-NEXT:   {"name": "result0", "buffer": "result0"},
// CHECK-NEXT:   {"name": "result1", "buffer": "result1"},
// CHECK-NEXT:   {"name": "result2", "buffer": "result2"},
// CHECK-NEXT:   {"name": "result3", "buffer": "result3"},
// CHECK-NEXT:   {"name": "result4", "buffer": "result4"}
// CHECK-NEXT: ],
// CHECK:      {"name": "arg0", "kind": "input", "dtype": "f32", "shape": [2, 3], "bytes": 24, "offset": 0},
// CHECK-NEXT: {"name": "p0", "kind": "param", "dtype": "f16", "shape": [3], "bytes": 6, "offset": 256},
// CHECK-NEXT: {"name": "result1", "kind": "output", "dtype": "f32", "shape": [2, 3], "bytes": 24, "offset": 512},
// CHECK-NEXT: {"name": "t0", "kind": "activation", "dtype": "f32", "shape": [6], "bytes": 24, "offset": 512, "alias_of": "result1"},
// CHECK-NEXT: {"name": "result0", "kind": "output", "dtype": "f32", "shape": [2, 3], "bytes": 24, "offset": 768},
// CHECK-NEXT: {"name": "result2", "kind": "output", "dtype": "f16", "shape": [3], "bytes": 6, "offset": 1024},
// CHECK-NEXT: {"name": "result3", "kind": "output", "dtype": "f32", "shape": [6], "bytes": 24, "offset": 1280},
// CHECK-NEXT: {"name": "result4", "kind": "output", "dtype": "f32", "shape": [2, 3], "bytes": 24, "offset": 1536}
// CHECK:      "steps": [
// CHECK-NEXT:   {"op": "call", "kernel": "k0_neg", "args": [{"buffer": "arg0"}, {"buffer": "result1"}], "cube_op": "cube.neg", "scope": ""},
// CHECK-NEXT:   {"op": "call", "kernel": "k1_exp", "args": [{"buffer": "arg0"}, {"buffer": "result0"}], "cube_op": "cube.exp", "scope": ""},
// CHECK-NEXT:   {"op": "copy", "src": {"buffer": "p0"}, "dst": {"buffer": "result2"}, "bytes": 6},
// CHECK-NEXT:   {"op": "copy", "src": {"buffer": "t0"}, "dst": {"buffer": "result3"}, "bytes": 24},
// CHECK-NEXT:   {"op": "copy", "src": {"buffer": "arg0"}, "dst": {"buffer": "result4"}, "bytes": 24}
// CHECK-NEXT: ]
func.func @forward(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf16>, tensor<6xf32>, tensor<2x3xf32>) {
  %p = "cube.param"() {name = "w", init = "zeros", trainable = false} : () -> tensor<3xf16>
  %n = "cube.neg"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = "cube.reshape"(%n) : (tensor<2x3xf32>) -> tensor<6xf32>
  %e = "cube.exp"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %e, %n, %p, %r, %x : tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf16>, tensor<6xf32>, tensor<2x3xf32>
}
