/* Cutting token data into the plan's input batches. input_ids is a [B, S] integer buffer; batch b takes the
 * tokens [b*B*S, (b+1)*B*S) of the file, row-major, and writes them to input_ids and to labels (as HF with
 * labels=input_ids: the model shifts internally), converted from the file's int32 to the buffers' dtype.
 * Only whole batches are used; data shorter than one batch is an error. */
#include "cube/Runtime.h"

#include <stdlib.h>
#include <string.h>

bool cubeIdsConvert(const int32_t *ids, size_t n, CubeDType dtype, void *dst) {
  switch (dtype) {
  case CUBE_DT_I64: for (size_t i = 0; i < n; ++i) ((int64_t *)dst)[i] = ids[i]; return true;
  case CUBE_DT_I32: memcpy(dst, ids, n * sizeof(int32_t)); return true;
  default: return false;
  }
}

static bool checkIdBuffer(const CubePlan *plan, const CubePlanIO *io, char *err, size_t errSize) {
  const CubePlanBuffer *b = &plan->buffers[io->buffer];
  if (b->dtype != CUBE_DT_I64 && b->dtype != CUBE_DT_I32) {
    snprintf(err, errSize, "%s: input '%s' is %s; token ids go into i64 or i32 buffers", plan->path, io->name,
             cubePlanDTypeName(b->dtype));
    return false;
  }
  return true;
}

bool cubeBatchLayout(const CubePlan *plan, CubeBatchLayout *out, char *err, size_t errSize) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < plan->nInputs; ++i)
    if (strcmp(plan->inputs[i].name, "input_ids") && strcmp(plan->inputs[i].name, "labels") &&
        !(plan->program == CUBE_PROGRAM_TRAIN_STEP &&
          (!strcmp(plan->inputs[i].name, "lr") || !strcmp(plan->inputs[i].name, "step")))) {
      snprintf(err, errSize, "%s: inputs[%zu]: cube-run fills the inputs input_ids and labels, not '%s'", plan->path,
               i, plan->inputs[i].name);
      return false;
    }
  out->ids = cubePlanFindInput(plan, "input_ids");
  out->labels = cubePlanFindInput(plan, "labels");
  if (!out->ids) {
    snprintf(err, errSize, "%s: inputs: the plan has no input named input_ids", plan->path);
    return false;
  }
  const CubePlanBuffer *ids = &plan->buffers[out->ids->buffer];
  if (!checkIdBuffer(plan, out->ids, err, errSize) || (out->labels && !checkIdBuffer(plan, out->labels, err, errSize)))
    return false;
  if (ids->rank == 2) {
    out->batchSize = ids->shape[0];
    out->seqLen = ids->shape[1];
  } else if (ids->rank == 1) {
    out->batchSize = 1;
    out->seqLen = ids->shape[0];
  } else {
    snprintf(err, errSize, "%s: input_ids has rank %d; expected [batch, seq]", plan->path, ids->rank);
    return false;
  }
  out->tokensPerBatch = (uint64_t)out->batchSize * (uint64_t)out->seqLen;
  if (out->tokensPerBatch == 0) {
    snprintf(err, errSize, "%s: input_ids holds no tokens", plan->path);
    return false;
  }
  if (out->labels && cubeShapeNumel(plan->buffers[out->labels->buffer].shape, plan->buffers[out->labels->buffer].rank) !=
                         out->tokensPerBatch) {
    snprintf(err, errSize, "%s: labels does not have the %llu elements of input_ids", plan->path,
             (unsigned long long)out->tokensPerBatch);
    return false;
  }
  const CubePlanParam *emb = cubePlanFindParam(plan, "model.embed_tokens.weight");
  if (emb && emb->rank >= 1 && emb->shape[0] > 0 && emb->shape[0] <= UINT32_MAX)
    out->vocab = (uint32_t)emb->shape[0];
  else if (out->ids->vocabSize)
    out->vocab = out->ids->vocabSize;
  else if (out->labels)
    out->vocab = out->labels->vocabSize;
  return true;
}

bool cubeBatchCount(const CubeBatchLayout *l, const CubeTokenData *d, const char *dataPath, uint64_t *count,
                    char *err, size_t errSize) {
  *count = d->count / l->tokensPerBatch;
  if (*count == 0) {
    snprintf(err, errSize, "%s: %llu tokens is less than one batch of %lldx%lld = %llu tokens", dataPath,
             (unsigned long long)d->count, (long long)l->batchSize, (long long)l->seqLen,
             (unsigned long long)l->tokensPerBatch);
    return false;
  }
  return true;
}

bool cubeBatchFill(const CubePlan *plan, const CubeBatchLayout *l, CubeBackend *be, const CubeTokenData *d,
                   uint64_t b, char *err, size_t errSize) {
  if (b >= d->count / l->tokensPerBatch) {
    snprintf(err, errSize, "batch %llu is past the end of the data", (unsigned long long)b);
    return false;
  }
  const int32_t *window = d->ids + b * l->tokensPerBatch;
  const CubePlanIO *ios[2] = {l->ids, l->labels};
  bool ok = true;
  for (int i = 0; i < 2 && ok; ++i) {
    if (!ios[i]) continue;
    const CubePlanBuffer *buf = &plan->buffers[ios[i]->buffer];
    void *bytes = malloc(buf->bytes + 1);
    ok = bytes && cubeIdsConvert(window, (size_t)l->tokensPerBatch, buf->dtype, bytes) &&
         cubeBackendWrite(be, buf->offset, bytes, buf->bytes, err, errSize);
    free(bytes);
  }
  return ok;
}
