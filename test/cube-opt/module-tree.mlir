// --cube-print-module-tree prints the scope table as PyTorch prints the model. Runs of identical
// ModuleList children collapse ("(0-1): 2 x ..."); a different child breaks the run.
// RUN: cube-opt %s --cube-print-module-tree | FileCheck %s --match-full-lines --strict-whitespace
// RUN: printf 'module {}\n' | not cube-opt --cube-print-module-tree 2>&1 | FileCheck %s --check-prefix=NOTABLE

//      CHECK:LlamaForCausalLM(
// CHECK-NEXT:  (layers): ModuleList(
// CHECK-NEXT:    (0-1): 2 x LlamaDecoderLayer(
// CHECK-NEXT:      (proj): Linear(in_features=8, out_features=4, bias=False)
// CHECK-NEXT:      (norm): LlamaRMSNorm((4,), eps=1e-05)
// CHECK-NEXT:    )
// CHECK-NEXT:    (2): LlamaDecoderLayer(
// CHECK-NEXT:      (proj): Linear(in_features=8, out_features=4, bias=True)
// CHECK-NEXT:      (norm): LlamaRMSNorm((4,), eps=0.001)
// CHECK-NEXT:    )
// CHECK-NEXT:    (3): LlamaDecoderLayer(
// CHECK-NEXT:      (proj): Linear(in_features=8, out_features=4, bias=False)
// CHECK-NEXT:      (norm): LlamaRMSNorm((4,), eps=1e-05)
// CHECK-NEXT:    )
// CHECK-NEXT:  )
// CHECK-NEXT:  (emb): Embedding(16, 8)
// CHECK-NEXT:  (act): SiLU()
// CHECK-NEXT:  (drop): Dropout(p=0.1, inplace=False)
// CHECK-NEXT:)

// NOTABLE: cube-opt: error: --cube-print-module-tree: the module has no cube.modules scope table with a root ("") entry
module attributes {cube.modules = [["", "LlamaForCausalLM"], ["layers", "ModuleList"],
    ["layers.0", "LlamaDecoderLayer"], ["layers.0.proj", "Linear"], ["layers.0.norm", "LlamaRMSNorm"],
    ["layers.1", "LlamaDecoderLayer"], ["layers.1.proj", "Linear"], ["layers.1.norm", "LlamaRMSNorm"],
    ["layers.2", "LlamaDecoderLayer"], ["layers.2.proj", "Linear"], ["layers.2.norm", "LlamaRMSNorm"],
    ["layers.3", "LlamaDecoderLayer"], ["layers.3.proj", "Linear"], ["layers.3.norm", "LlamaRMSNorm"],
    ["emb", "Embedding"], ["act", "SiLU"], ["drop", "Dropout"]]} {
  func.func @f(%x: tensor<2x8xf32>, %ids: tensor<2xi64>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
    %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<4x8xf32>
    %b = "cube.param"() {name = "b", init = "zeros", trainable = true} : () -> tensor<4xf32>
    %n = "cube.param"() {name = "n", init = "ones", trainable = true} : () -> tensor<4xf32>
    %e = "cube.param"() {name = "e", init = "zeros", trainable = true} : () -> tensor<16x8xf32>
    %y0 = "cube.linear"(%x, %w) {cube.scope = "layers.0.proj"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    %z0 = "cube.rmsnorm"(%y0, %n) {eps = 1.0e-05 : f64, cube.scope = "layers.0.norm"} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %y1 = "cube.linear"(%x, %w) {cube.scope = "layers.1.proj"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    %z1 = "cube.rmsnorm"(%y1, %n) {eps = 1.0e-05 : f64, cube.scope = "layers.1.norm"} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %y2 = "cube.linear"(%x, %w, %b) {cube.scope = "layers.2.proj"} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %z2 = "cube.rmsnorm"(%y2, %n) {eps = 1.0e-03 : f64, cube.scope = "layers.2.norm"} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %y3 = "cube.linear"(%x, %w) {cube.scope = "layers.3.proj"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    %z3 = "cube.rmsnorm"(%y3, %n) {eps = 1.0e-05 : f64, cube.scope = "layers.3.norm"} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %v = "cube.embedding"(%ids, %e) {cube.scope = "emb"} : (tensor<2xi64>, tensor<16x8xf32>) -> tensor<2x8xf32>
    %d = "cube.dropout"(%x) {p = 0.1 : f64, seed = 0 : i64, cube.scope = "drop"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
    return %z0, %z1, %z2, %z3, %v, %d : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x8xf32>, tensor<2x8xf32>
  }
}
