// cube-cse: a pure cube op equal to an earlier one (name, operands, result types, attributes other than
// the discardable cube.*) reads the earlier one's result. By default only an earlier cube.recomputed op is
// reused (the backward's duplicate of a recomputed layer's attention); recomputed-only=false reuses any.
// RUN: cube-opt %s --cube-cse | FileCheck %s
// RUN: cube-opt %s --cube-cse='recomputed-only=false' | FileCheck %s --check-prefix=ALL

// CHECK-LABEL: func.func @f
// CHECK:      %[[R:.*]] = "cube.matmul"(%arg0, %arg1) {cube.recomputed, transpose_rhs = true}
// CHECK-NEXT: %[[S:.*]] = "cube.softmax"(%[[R]]) {cube.recomputed, dim = 2 : i64}
// The twins of the recomputed ops go, whatever their scope:
// CHECK-NEXT: %[[F:.*]] = "cube.matmul"(%arg0, %arg0)
// CHECK-NEXT: %[[G:.*]] = "cube.matmul"(%arg0, %arg0)
// Different attributes: kept.
// CHECK-NEXT: "cube.softmax"(%[[R]]) {dim = 1 : i64}
// CHECK-NEXT: return %[[S]], %[[S]], %[[F]], %[[G]]
// ALL: %[[F:.*]] = "cube.matmul"(%arg0, %arg0)
// ALL-NOT: "cube.matmul"(%arg0, %arg0)
// ALL: return %{{.*}}, %{{.*}}, %[[F]], %[[F]]
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["x", "LlamaAttention"]]} {
  func.func @f(%a: tensor<2x4x4xf32>, %b: tensor<2x4x4xf32>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>) {
    %0 = "cube.matmul"(%a, %b) {cube.recomputed, transpose_rhs = true} : (tensor<2x4x4xf32>, tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %1 = "cube.softmax"(%0) {cube.recomputed, dim = 2 : i64} : (tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %2 = "cube.matmul"(%a, %b) {cube.scope = "x", transpose_rhs = true} : (tensor<2x4x4xf32>, tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %3 = "cube.softmax"(%2) {dim = 2 : i64} : (tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %4 = "cube.matmul"(%a, %a) : (tensor<2x4x4xf32>, tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %5 = "cube.matmul"(%a, %a) : (tensor<2x4x4xf32>, tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %6 = "cube.softmax"(%0) {dim = 1 : i64} : (tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    return %1, %3, %4, %5, %6 : tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>
  }
}
