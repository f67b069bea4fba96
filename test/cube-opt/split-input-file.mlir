// Each chunk is independent; errors keep the line numbers of this file; exit status 1 if any chunk fails,
// and every chunk is still processed.
// RUN: not cube-opt %s --split-input-file > %t.out 2> %t.err
// RUN: FileCheck %s --check-prefix=OUT < %t.out
// RUN: FileCheck %s --check-prefix=ERR < %t.err

// OUT: func.func @first
// OUT: // -----
// OUT: func.func @third
func.func @first() {
  return
}

// -----

func.func @second() {
  // ERR: split-input-file.mlir:[[@LINE+1]]:3: error: Dialect `this' not found for custom op 'this.is.not.an.op'
  this.is.not.an.op
}

// -----

func.func @third() {
  return
}

// -----

// ERR: split-input-file.mlir:[[@LINE+1]]:28: error: expected attribute name
func.func @fourth(%a: f32 {
