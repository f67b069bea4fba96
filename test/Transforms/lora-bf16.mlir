// cube-lora keeps the base weight's element type: bf16 weights get bf16 adapters and a bf16 sum.
// RUN: cube-opt %s --pass-pipeline='builtin.module(cube-lora{rank=2 alpha=4 targets=proj},cube-verify)' | FileCheck %s

// CHECK: name = "proj.weight", trainable = false} : () -> tensor<6x4xbf16>
// CHECK-NEXT: name = "proj.lora_A.weight", trainable = true} : () -> tensor<2x4xbf16>
// CHECK-NEXT: name = "proj.lora_B.weight", trainable = true} : () -> tensor<6x2xbf16>
// CHECK: "cube.linear"{{.*}} -> tensor<5x2xbf16>
// CHECK: "cube.linear"{{.*}} -> tensor<5x6xbf16>
// CHECK: "cube.scale"{{.*}}factor = 2.000000e+00 : f64} : (tensor<5x6xbf16>) -> tensor<5x6xbf16>
// CHECK: %[[SUM:[0-9]+]] = "cube.add"{{.*}} -> tensor<5x6xbf16>
// CHECK-NEXT: return %[[SUM]] : tensor<5x6xbf16>
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["proj", "Linear"]]} {
  func.func @forward(%x: tensor<5x4xbf16>) -> tensor<5x6xbf16> {
    %w = "cube.param"() {name = "proj.weight", init = "normal(std=0.02)", trainable = true, cube.scope = "proj"} : () -> tensor<6x4xbf16>
    %y = "cube.linear"(%x, %w) {cube.scope = "proj"} : (tensor<5x4xbf16>, tensor<6x4xbf16>) -> tensor<5x6xbf16>
    return %y : tensor<5x6xbf16>
  }
}
