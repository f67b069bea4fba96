/* Whole-file reads shared by the compiler and the runtime (lib/Support/ReadFile.c). */
#ifndef CUBE_READFILE_H
#define CUBE_READFILE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The whole file, malloc'ed and NUL-terminated; NULL with "PATH: cannot open WHAT: REASON" or "PATH: cannot
 * read WHAT" in err. */
char *cubeReadTextFile(const char *path, const char *what, char *err, size_t errSize);

#ifdef __cplusplus
}
#endif
#endif
