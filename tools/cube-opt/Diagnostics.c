/* cube-opt's diagnostic printer: `file:line:col: error: message`, then the source line and a caret, then
 * the diagnostic's notes, like mlir-opt and clang. One handler for the whole run; it counts errors so the
 * driver can exit 1 even when an upstream API returned success after reporting one. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "Driver.h"
#include "cube/Ops.h"
#include "mlir-c/Diagnostics.h"

static const char *gFileName = "-";
static const char *gText = NULL;
static size_t gLen = 0;
static int gErrors = 0;
/* While capturing, diagnostics go to a memory stream instead of stderr (see cubeOptBeginCapture). */
static FILE *gSink = NULL;
static char *gCaptured = NULL;
static size_t gCapturedLen = 0;
static char gFirstMessage[512];
static int gCapturedErrors = 0;

static FILE *sink(void) { return gSink ? gSink : stderr; }

void cubeOptBeginCapture(void) {
  gCaptured = NULL;
  gCapturedLen = 0;
  gFirstMessage[0] = 0;
  gCapturedErrors = 0;
  gSink = open_memstream(&gCaptured, &gCapturedLen);
}

void cubeOptEndCapture(bool replay) {
  if (!gSink) return;
  fclose(gSink);
  gSink = NULL;
  if (replay) {
    fwrite(gCaptured, 1, gCapturedLen, stderr);
    gErrors += gCapturedErrors;
  }
  free(gCaptured);
  gCaptured = NULL;
}

const char *cubeOptCapturedFirstMessage(void) { return gFirstMessage; }
int cubeOptCapturedErrors(void) { return gCapturedErrors; }

int cubeOptErrorCount(void) { return gErrors; }
void cubeOptResetErrors(void) { gErrors = 0; }

void cubeOptError(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "cube-opt: error: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  gErrors++;
}

static void printStr(MlirStringRef s, void *u) { fwrite(s.data, 1, s.length, (FILE *)u); }

static void appendFirst(MlirStringRef s, void *u) {
  (void)u;
  size_t cur = strlen(gFirstMessage), room = sizeof gFirstMessage - 1 - cur;
  size_t n = s.length < room ? s.length : room;
  memcpy(gFirstMessage + cur, s.data, n);
  gFirstMessage[cur + n] = 0;
}

/* Prints source line `line` (1-based) of the input and a caret under column `col`. */
static void printExcerpt(unsigned line, unsigned col) {
  if (!gText || line == 0) return;
  const char *p = gText, *end = gText + gLen;
  for (unsigned l = 1; l < line && p < end; ++l) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return;
    p = nl + 1;
  }
  if (p >= end) return;
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
  if (n > 300) n = 300;
  fprintf(sink(), "%.*s\n", (int)n, p);
  if (col >= 1 && col <= n + 1) {
    for (unsigned c = 1; c < col; ++c) fputc(p[c - 1] == '\t' ? '\t' : ' ', sink());
    fputs("^\n", sink());
  }
}

static void printOne(MlirDiagnostic d, bool isNote) {
  static const char *const sev[] = {"error", "warning", "note", "remark"};
  MlirDiagnosticSeverity s = mlirDiagnosticGetSeverity(d);
  MlirLocation loc = mlirDiagnosticGetLocation(d);
  MlirStringRef file;
  unsigned line = 0, col = 0;
  bool ours = false;
  if (cubeLocationFileLineCol(loc, &file, &line, &col)) {
    fprintf(sink(), "%.*s:%u:%u: ", (int)file.length, file.data, line, col);
    ours = file.length == strlen(gFileName) && memcmp(file.data, gFileName, file.length) == 0;
  } else {
    fprintf(sink(), "%s: ", gFileName);
  }
  fprintf(sink(), "%s: ", sev[s <= MlirDiagnosticRemark ? s : 0]);
  mlirDiagnosticPrint(d, printStr, sink());
  fputc('\n', sink());
  if (ours && !isNote) printExcerpt(line, col);
  if (s == MlirDiagnosticError) {
    if (gSink) {
      if (gCapturedErrors++ == 0 && !isNote) mlirDiagnosticPrint(d, appendFirst, NULL);
    } else {
      gErrors++;
    }
  }
  for (intptr_t i = 0; i < mlirDiagnosticGetNumNotes(d); ++i) printOne(mlirDiagnosticGetNote(d, i), true);
}

static MlirLogicalResult handler(MlirDiagnostic d, void *u) {
  (void)u;
  printOne(d, false);
  return mlirLogicalResultSuccess();
}

void cubeOptInstallDiagnostics(MlirContext ctx, const char *fileName, const char *text, size_t len) {
  static bool installed = false;
  gFileName = fileName;
  gText = text;
  gLen = len;
  if (!installed) {
    mlirContextAttachDiagnosticHandler(ctx, handler, NULL, NULL);
    installed = true;
  }
}
