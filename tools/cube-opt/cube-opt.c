/* cube-opt: the mlir-opt of cube. Parses MLIR (cube dialect and every upstream dialect), runs the C
 * verifier, runs a pass pipeline that mixes cube passes and upstream ones, and prints the result (or a
 * JSON summary, or the PTX of gpu.binary ops). Never aborts on bad input: every problem is an error with
 * file:line:col on stderr and exit status 1. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "Driver.h"
#include "cube/Dialect.h"
#include "cube/ModuleTree.h"
#include "cube/Ops.h"
#include "cube/GpuKernels.h"
#include "cube/Passes.h"
#include "cube/Summary.h"
#include "cube/Verify.h"
#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/Dialect/GPU.h"

typedef struct {
  const char *input;  /* NULL or "-" = stdin */
  const char *output; /* NULL or "-" = stdout */
  char *pipeline;     /* --pass-pipeline, or built from --<pass> flags */
  bool pipelineFlag, passFlags;
  bool split, printAfterAll, generic, debugInfo, summary, dumpPtx, moduleTree, verifyEach;
} Options;

static void usage(FILE *out) {
  fprintf(out,
          "usage: cube-opt [options] [input.mlir | -]\n"
          "\n"
          "Parses MLIR with the cube dialect, checks it with the cube verifier, runs a pass pipeline and\n"
          "prints the result. Reads stdin when no input (or '-') is given.\n"
          "\n"
          "options:\n"
          "  -o FILE                  write the output to FILE (written atomically) instead of stdout\n"
          "  --pass-pipeline=PIPE     run PIPE, e.g. 'builtin.module(cube-verify,canonicalize,func.func(cse))';\n"
          "                           cube passes and upstream MLIR passes mix freely, options in {k=v ...}\n"
          "  --PASS[=OPTIONS]         run one pass (cube or upstream), e.g. --cube-verify, --cse,\n"
          "                           --canonicalize='max-iterations=3'; repeatable, in order\n"
          "  --split-input-file       treat '// -----' lines as separators of independent inputs\n"
          "  --print-ir-after-all     print the IR to stderr after every pass\n"
          "  --cube-verify-each       run cube-verify after every top-level pass (debug mode)\n"
          "  --mlir-print-op-generic  print every op in generic form\n"
          "  --mlir-print-debuginfo   print locations\n"
          "  --cube-summary           print a JSON summary (params, param_elements, trainable_elements,\n"
          "                           ops, modules, checkpoints, functions) instead of the IR\n"
          "  --cube-dump-ptx          print the PTX text of every gpu.binary instead of the IR\n"
          "  --cube-print-module-tree print the module tree as PyTorch prints the model, instead of the IR\n"
          "  --cube-kernel-registry=DIR  use the GPU kernels registered in DIR/kernels.json for their cube ops\n"
          "                           (target=cuda; docs/kernel-registry.md)\n"
          "  --list-passes            list the cube passes with their options\n"
          "  --version                print the version\n"
          "  --help                   print this help\n");
}

/* Appends `elem` to the comma-separated pipeline text. */
static void appendElement(Options *o, const char *elem, size_t len) {
  size_t cur = o->pipeline ? strlen(o->pipeline) : 0;
  o->pipeline = realloc(o->pipeline, cur + len + 2);
  if (cur) o->pipeline[cur++] = ',';
  memcpy(o->pipeline + cur, elem, len);
  o->pipeline[cur + len] = 0;
}

/* Returns 0 to go on, 1 on a usage error, 2 when done (help, version, list). */
static int parseArgs(int argc, char **argv, Options *o) {
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "-o")) {
      if (++i >= argc) return cubeOptError("-o needs a file name"), 1;
      o->output = argv[i];
    } else if (!strncmp(a, "-o", 2) && a[2]) {
      o->output = a + 2;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 2;
    } else if (!strcmp(a, "--version")) {
      printf("cube-opt %s (cube dialect on MLIR 22)\n", cubeVersion());
      return 2;
    } else if (!strcmp(a, "--list-passes")) {
      cubePassPrintList(stdout);
      printf("\nEvery upstream MLIR pass (canonicalize, cse, one-shot-bufferize, gpu-lower-to-nvvm-pipeline, ...)\n"
             "is also available, by its mlir-opt name.\n");
      return 2;
    } else if (!strncmp(a, "--pass-pipeline", 15) && (a[15] == '=' || a[15] == 0)) {
      const char *v = a[15] == '=' ? a + 16 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v) return cubeOptError("--pass-pipeline needs a pipeline"), 1;
      if (o->pipelineFlag) return cubeOptError("--pass-pipeline given twice"), 1;
      o->pipelineFlag = true;
      free(o->pipeline);
      o->pipeline = strdup(v);
    } else if (!strcmp(a, "--split-input-file")) {
      o->split = true;
    } else if (!strcmp(a, "--print-ir-after-all") || !strcmp(a, "--mlir-print-ir-after-all")) {
      o->printAfterAll = true;
    } else if (!strcmp(a, "--mlir-print-op-generic")) {
      o->generic = true;
    } else if (!strcmp(a, "--mlir-print-debuginfo")) {
      o->debugInfo = true;
    } else if (!strcmp(a, "--cube-verify-each")) {
      o->verifyEach = true;
    } else if (!strcmp(a, "--cube-summary")) {
      o->summary = true;
    } else if (!strcmp(a, "--cube-dump-ptx")) {
      o->dumpPtx = true;
    } else if (!strcmp(a, "--cube-print-module-tree")) {
      o->moduleTree = true;
    } else if (!strncmp(a, "--cube-kernel-registry=", 23)) {
      const char *dir = a + 23;
      char manifest[4200];
      snprintf(manifest, sizeof manifest, "%s/kernels.json", dir);
      struct stat st;
      if (!*dir || stat(manifest, &st) != 0)
        return cubeOptError("--cube-kernel-registry: '%s' has no kernels.json (docs/kernel-registry.md)", dir), 1;
      cubeKernelRegistrySetDefault(dir);
    } else if (!strncmp(a, "--", 2) && a[2] && a[2] != '-' && a[2] != '=') {
      /* --PASS or --PASS=OPTIONS: one pipeline element. */
      const char *name = a + 2, *eq = strchr(name, '=');
      size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
      if (eq && !eq[1]) return cubeOptError("'%s' has an empty option list", a), 1;
      char *elem = malloc(nlen + (eq ? strlen(eq) + 2 : 0) + 1);
      memcpy(elem, name, nlen);
      size_t len = nlen;
      if (eq) len += (size_t)sprintf(elem + nlen, "{%s}", eq + 1);
      elem[len] = 0;
      appendElement(o, elem, len);
      free(elem);
      o->passFlags = true;
    } else if (a[0] == '-' && a[1]) {
      cubeOptError("unknown option '%s' (see --help)", a);
      return 1;
    } else {
      if (o->input) return cubeOptError("more than one input file: '%s' and '%s'", o->input, a), 1;
      o->input = a;
    }
  }
  if (o->pipelineFlag && o->passFlags)
    return cubeOptError("give either --pass-pipeline or single-pass flags such as --cse, not both"), 1;
  if (o->summary + o->dumpPtx + o->moduleTree > 1)
    return cubeOptError("--cube-summary, --cube-dump-ptx and --cube-print-module-tree exclude each other"), 1;
  return 0;
}

static char *readAll(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
  }
  if (ferror(f)) {
    free(buf);
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

/* ---- output ------------------------------------------------------------------------------------- */

static void writeOut(MlirStringRef s, void *u) { fwrite(s.data, 1, s.length, (FILE *)u); }

typedef struct {
  FILE *out;
  int count;
} PtxDump;

static void dumpPtxOf(MlirOperation op, void *u) {
  PtxDump *d = u;
  MlirAttribute objs = mlirOperationGetAttributeByName(op, CUBE_STR("objects"));
  if (mlirAttributeIsNull(objs) || !mlirAttributeIsAArray(objs)) return;
  for (intptr_t i = 0; i < mlirArrayAttrGetNumElements(objs); ++i) {
    MlirAttribute o = mlirArrayAttrGetElement(objs, i);
    if (!mlirAttributeIsAGPUObjectAttr(o)) continue;
    MlirStringRef ptx = mlirGPUObjectAttrGetObject(o);
    fwrite(ptx.data, 1, ptx.length, d->out);
    if (ptx.length && ptx.data[ptx.length - 1] != '\n') fputc('\n', d->out);
    d->count++;
  }
}

static bool emitResult(const Options *o, MlirOperation module, FILE *out) {
  if (o->summary) {
    char *json = cubeSummaryJson(module);
    if (!json) return cubeOptError("out of memory"), false;
    fprintf(out, "%s\n", json);
    free(json);
    return true;
  }
  if (o->moduleTree) {
    char *tree = cubeModuleTreeText(module);
    if (!tree) {
      cubeOptError("--cube-print-module-tree: the module has no cube.modules scope table with a root (\"\") entry");
      return false;
    }
    fputs(tree, out);
    free(tree);
    return true;
  }
  if (o->dumpPtx) {
    PtxDump d = {out, 0};
    cubeWalkOps(module, "gpu.binary", dumpPtxOf, &d);
    if (d.count == 0) {
      cubeOptError("--cube-dump-ptx: the output has no gpu.binary op (lower with gpu-lower-to-nvvm-pipeline "
                   "and cubin-format=isa first)");
      return false;
    }
    return true;
  }
  MlirOpPrintingFlags flags = mlirOpPrintingFlagsCreate();
  if (o->generic) mlirOpPrintingFlagsPrintGenericOpForm(flags);
  if (o->debugInfo) mlirOpPrintingFlagsEnableDebugInfo(flags, true, false);
  mlirOperationPrintWithFlags(module, flags, writeOut, out);
  mlirOpPrintingFlagsDestroy(flags);
  fputc('\n', out);
  return true;
}

/* ---- parsing ------------------------------------------------------------------------------------ */

/* Offset of the start of the line before the first token (skipping blanks and // comments), or 0 when
 * the first token is on line 1. */
static size_t wrapPoint(const char *text, size_t len) {
  size_t i = 0, lineStart = 0, prevLineStart = 0;
  while (i < len) {
    if (text[i] == '\n') {
      prevLineStart = lineStart;
      lineStart = ++i;
    } else if (text[i] == ' ' || text[i] == '\t' || text[i] == '\r') {
      ++i;
    } else if (text[i] == '/' && i + 1 < len && text[i + 1] == '/') {
      while (i < len && text[i] != '\n') ++i;
    } else {
      break;
    }
  }
  return lineStart == 0 ? 0 : (lineStart == prevLineStart ? 0 : prevLineStart);
}

/* Parses `text` as mlir-opt does: a single builtin.module as it is; several ops, one other op or nothing
 * inside an implicit module. The implicit `module {` goes at the start of the line before the first op
 * (a blank or comment line), so the line and column numbers of every diagnostic stay those of the file. */
static MlirOperation parseModule(MlirContext ctx, const char *fileName, const char *text, size_t len) {
  cubeOptBeginCapture();
  MlirOperation op = mlirOperationCreateParse(ctx, mlirStringRefCreate(text, len), CUBE_STR(fileName));
  if (!mlirOperationIsNull(op) && cubeOpNameIs(op, "builtin.module")) {
    cubeOptEndCapture(true);
    return op;
  }
  const char *first = cubeOptCapturedFirstMessage();
  bool several = cubeOptCapturedErrors() == 1 &&
                 !strncmp(first, "source must contain a single top-level operation", 48);
  bool none = several && strstr(first, "found: 0") != NULL;
  if (mlirOperationIsNull(op) && !several) {
    cubeOptEndCapture(true);
    return op;
  }
  if (!mlirOperationIsNull(op)) mlirOperationDestroy(op);
  cubeOptEndCapture(false);
  if (none)
    return mlirModuleGetOperation(mlirModuleCreateEmpty(mlirLocationFileLineColGet(ctx, CUBE_STR(fileName), 1, 1)));
  size_t at = wrapPoint(text, len);
  static const char kOpen[] = "module {", kClose[] = "\n}\n";
  char *buf = malloc(len + sizeof kOpen + sizeof kClose);
  memcpy(buf, text, at);
  memcpy(buf + at, kOpen, sizeof kOpen - 1);
  memcpy(buf + at + sizeof kOpen - 1, text + at, len - at);
  memcpy(buf + len + sizeof kOpen - 1, kClose, sizeof kClose);
  op = mlirOperationCreateParse(ctx, mlirStringRefCreate(buf, len + sizeof kOpen - 1 + sizeof kClose - 1),
                                CUBE_STR(fileName));
  free(buf);
  return op;
}

/* MLIR 22's parser segfaults on a dense array of `index` (`array<index: 1>`, `array<index>`), an upstream
 * bug. This scan (outside string literals and comments) reports it as an error before MLIR sees the text. */
static bool rejectKnownParserCrashes(const char *fileName, const char *text, size_t len) {
  unsigned line = 1, col = 1;
  for (size_t i = 0; i < len; ++i, ++col) {
    char c = text[i];
    if (c == '\n') {
      line++;
      col = 0;
    } else if (c == '"') { /* skip a string literal (with escapes) */
      for (++i, ++col; i < len && text[i] != '"' && text[i] != '\n'; ++i, ++col)
        if (text[i] == '\\' && i + 1 < len) ++i, ++col;
    } else if (c == '/' && i + 1 < len && text[i + 1] == '/') {
      while (i + 1 < len && text[i + 1] != '\n') ++i;
    } else if (c == 'a' && len - i >= 5 && !memcmp(text + i, "array", 5) &&
               (i == 0 || !(isalnum((unsigned char)text[i - 1]) || text[i - 1] == '_' || text[i - 1] == '.'))) {
      size_t j = i + 5;
      while (j < len && isspace((unsigned char)text[j])) ++j;
      if (j >= len || text[j] != '<') continue;
      ++j;
      while (j < len && isspace((unsigned char)text[j])) ++j;
      if (len - j >= 5 && !memcmp(text + j, "index", 5) &&
          (j + 5 == len || !(isalnum((unsigned char)text[j + 5]) || text[j + 5] == '_'))) {
        fprintf(stderr, "%s:%u:%u: error: dense arrays of 'index' are not supported (MLIR 22's parser crashes on "
                "them); use array<i64: ...>\n", fileName, line, col);
        return true;
      }
    }
  }
  return false;
}

/* ---- one input ---------------------------------------------------------------------------------- */

/* Parses, verifies, transforms and prints one input (a whole file or one split chunk). */
static bool processOne(MlirContext ctx, const Options *o, MlirPassManager pm, const char *fileName,
                       const char *text, size_t len, FILE *out) {
  int errorsBefore = cubeOptErrorCount();
  if (rejectKnownParserCrashes(fileName, text, len)) return false;
  MlirOperation op = parseModule(ctx, fileName, text, len);
  if (mlirOperationIsNull(op)) {
    if (cubeOptErrorCount() == errorsBefore) cubeOptError("%s: the input does not parse", fileName);
    return false;
  }
  bool ok = true;
  if (!cubeOpNameIs(op, "builtin.module")) {
    cubeOptError("%s: the top-level op must be a builtin.module (or a list of ops)", fileName);
    ok = false;
  }
  if (ok) ok = mlirLogicalResultIsSuccess(cubeVerifyModule(op));
  if (ok && !mlirPassManagerIsNull(pm)) {
    ok = mlirLogicalResultIsSuccess(mlirPassManagerRunOnOp(pm, op));
    if (!ok && cubeOptErrorCount() == errorsBefore) cubeOptError("%s: the pass pipeline failed", fileName);
  }
  if (ok && cubeOptErrorCount() > errorsBefore) ok = false;
  if (ok) ok = emitResult(o, op, out);
  mlirOperationDestroy(op);
  return ok;
}

/* Splits on lines that start with `// -----`. Each chunk keeps its line numbers: it is parsed with as
 * many leading newlines as lines came before it. */
static bool processSplit(MlirContext ctx, const Options *o, MlirPassManager pm, const char *fileName,
                         const char *text, size_t len, FILE *out) {
  bool allOk = true;
  const char *chunk = text, *end = text + len, *p = text;
  unsigned chunkLine = 1, line = 1;
  bool first = true;
  while (true) {
    const char *lineEnd = memchr(p, '\n', (size_t)(end - p));
    bool atEnd = p >= end;
    bool sep = !atEnd && (size_t)(end - p) >= 8 && !memcmp(p, "// -----", 8);
    if (sep || atEnd) {
      size_t clen = (size_t)(p - chunk);
      char *buf = malloc(chunkLine - 1 + clen + 1);
      memset(buf, '\n', chunkLine - 1);
      memcpy(buf + chunkLine - 1, chunk, clen);
      buf[chunkLine - 1 + clen] = 0;
      if (!first) fprintf(out, "// -----\n");
      first = false;
      cubeOptInstallDiagnostics(ctx, fileName, text, len);
      if (!processOne(ctx, o, pm, fileName, buf, chunkLine - 1 + clen, out)) allOk = false;
      free(buf);
      if (atEnd) break;
      chunk = lineEnd ? lineEnd + 1 : end;
      chunkLine = line + 1;
    }
    if (!lineEnd) {
      p = end;
    } else {
      p = lineEnd + 1;
      line++;
    }
  }
  return allOk;
}

int main(int argc, char **argv) {
  Options o = {0};
  int r = parseArgs(argc, argv, &o);
  if (r) return r == 2 ? 0 : 1;

  const char *fileName = (!o.input || !strcmp(o.input, "-")) ? "<stdin>" : o.input;
  FILE *in = strcmp(fileName, "<stdin>") ? fopen(o.input, "rb") : stdin;
  if (!in) return cubeOptError("cannot open '%s': %s", o.input, strerror(errno)), 1;
  size_t len = 0;
  char *text = readAll(in, &len);
  if (in != stdin) fclose(in);
  if (!text) return cubeOptError("cannot read '%s' (is it a directory?)", fileName), 1;
  if (memchr(text, 0, len)) {
    free(text);
    return cubeOptError("%s: the input contains NUL bytes; expected MLIR text", fileName), 1;
  }

  /* Output goes to a temporary file next to the target and is renamed into place on success, so a failed
   * run never leaves a half-written output. */
  char tmpPath[4096] = "";
  FILE *out = stdout;
  bool toFile = o.output && strcmp(o.output, "-");
  if (toFile) {
    snprintf(tmpPath, sizeof tmpPath, "%s.tmp.%d", o.output, (int)getpid());
    out = fopen(tmpPath, "wb");
    if (!out) return cubeOptError("cannot write '%s': %s", o.output, strerror(errno)), free(text), 1;
  }

  MlirContext ctx = cubeContextCreate();
  if (mlirContextIsNull(ctx)) return 1;
  cubeOptInstallDiagnostics(ctx, fileName, text, len);
  /* The pipeline is built (and checked) before any input is parsed, once for all split chunks. */
  MlirPassManager pm = {NULL};
  bool ok = true;
  if (o.pipeline) {
    pm = mlirPassManagerCreate(ctx);
    if (o.printAfterAll) {
      MlirOpPrintingFlags flags = mlirOpPrintingFlagsCreate();
      if (o.generic) mlirOpPrintingFlagsPrintGenericOpForm(flags);
      mlirPassManagerEnableIRPrinting(pm, false, true, true, false, false, flags, mlirStringRefCreate(NULL, 0));
      mlirOpPrintingFlagsDestroy(flags);
    }
    ok = cubeOptAddPipeline(ctx, pm, o.pipeline, o.verifyEach);
  }
  if (ok)
    ok = o.split ? processSplit(ctx, &o, pm, fileName, text, len, out)
                 : processOne(ctx, &o, pm, fileName, text, len, out);
  if (!mlirPassManagerIsNull(pm)) mlirPassManagerDestroy(pm);

  if (toFile) {
    bool closed = fclose(out) == 0;
    if (ok && closed && rename(tmpPath, o.output) != 0) {
      cubeOptError("cannot write '%s': %s", o.output, strerror(errno));
      ok = false;
    }
    if (!ok || !closed) remove(tmpPath);
  } else {
    fflush(stdout);
  }
  mlirContextDestroy(ctx);
  free(text);
  free(o.pipeline);
  return ok && cubeOptErrorCount() == 0 ? 0 : 1;
}
