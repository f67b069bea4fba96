/* Whole-file reads (cube/ReadFile.h): the PTX the CUDA backend loads, the kernels of the registry. */
#include "cube/ReadFile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cubeReadTextFile(const char *path, const char *what, char *err, size_t errSize) {
  FILE *f = fopen(path, "rb");
  if (!f) return snprintf(err, errSize, "%s: cannot open %s: %s", path, what, strerror(errno)), NULL;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
  bool ok = text && fseek(f, 0, SEEK_SET) == 0 && fread(text, 1, (size_t)n, f) == (size_t)n;
  fclose(f);
  if (!ok) {
    free(text);
    return snprintf(err, errSize, "%s: cannot read %s", path, what), NULL;
  }
  text[n] = 0;
  return text;
}
