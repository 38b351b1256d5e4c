/* core/model/optim.h: AdamW with decay / no-decay groups, the linear warm-up-and-decay learning
 * rate schedule, and global gradient-norm clipping, over a BertModel's flat parameters. */
#ifndef QAPRUNE_OPTIM_H
#define QAPRUNE_OPTIM_H

#include "core/model/bert.h"

typedef struct {
    float beta1, beta2, eps; /* 0.9, 0.999, 1e-8 (PyTorch's defaults) */
    float weight_decay;      /* applied to tensors whose table entry says decay */
} AdamWOpts;

typedef struct AdamW AdamW;

/* Returns a new optimizer state (first and second moments) for m; free with adamw_free. */
int adamw_create(const BertModel *m, const AdamWOpts *opts, AdamW **out);
void adamw_free(AdamW *opt); /* accepts NULL */
/* One step at learning rate lr, as torch.optim.AdamW: p -= lr * wd * p (decay tensors only),
 * m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
void adamw_step(AdamW *opt, BertModel *m, float lr);

/* The Adam update of n values at step t >= 1 (the kernel of adamw_step, also used for
 * parameters outside a model, such as the l0 gates): p *= decay; m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
void optim_adam_update(float *p, const float *g, float *m, float *v, long n, float lr,
                       float b1, float b2, float eps, long t, float decay);

/* Scales the gradients so that their global L2 norm is at most max_norm (as
 * torch.nn.utils.clip_grad_norm_: factor max_norm / (norm + 1e-6) when below 1); returns the
 * norm before clipping (NaN or inf when a gradient is). */
double optim_clip_grad_norm(BertModel *m, double max_norm);

/* Hugging Face's linear schedule: multiplier step/warmup during warm-up, then falling
 * linearly to 0 at total: max(0, (total - step) / (total - warmup)). */
float optim_linear_schedule(long step, long warmup, long total);

#endif
