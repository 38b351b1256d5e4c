/* core/model/loss.h: the QA training objectives over start/end logits.
 *
 * start, end: [B,T] logits; start_pos, end_pos: [B] gold token indices in [0, T).
 * Each function returns the loss and OVERWRITES dstart, dend [B,T] with its gradient
 * (these are the seeds of backward, not accumulations). */
#ifndef QAPRUNE_LOSS_H
#define QAPRUNE_LOSS_H

#include <stdint.h>

/* Hugging Face's QA loss: (CE(start, start_pos) + CE(end, end_pos)) / 2, CE averaged over
 * the batch. */
float loss_span(float *dstart, float *dend, const float *start, const float *end,
                const int32_t *start_pos, const int32_t *end_pos, int B, int T);

/* Knowledge distillation (Hinton et al. 2015, as McCarley et al. use it): with temperature
 * temp, soft = -mean_b sum_t softmax(teacher/temp)_t log softmax(student/temp)_t, averaged
 * over start and end, scaled by temp^2 so its gradients keep their size; mixed with the gold
 * loss: alpha * temp^2 * soft + (1 - alpha) * loss_span. teacher_start/end: [B,T]. */
float loss_distill(float *dstart, float *dend, const float *start, const float *end,
                   const float *teacher_start, const float *teacher_end,
                   const int32_t *start_pos, const int32_t *end_pos, int B, int T, float temp,
                   float alpha);

/* The answer-type loss (BERT-joint's answer_type_loss, Natural Questions): CE(type, gold)
 * averaged over the batch; with teacher_type not NULL mixed with the soft loss exactly as
 * loss_distill: alpha * temp^2 * soft + (1 - alpha) * CE. type, teacher_type: [B,NT];
 * gold [B] in [0, NT). Overwrites dtype [B,NT] with the gradient. */
float loss_type(float *dtype, const float *type, const float *teacher_type, const int32_t *gold,
                int B, int NT, float temp, float alpha);

#endif
