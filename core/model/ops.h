/* core/model/ops.h: the layer kernels of the engine, each forward beside its backward.
 *
 * Shape letters (defined once, used in every comment below):
 *   B batch, T tokens per sequence, N = B*T rows, C hidden, NH heads of a layer,
 *   HS head size, A = NH*HS attention width, F FFN width of a layer, V vocabulary,
 *   P positions, TV token types.
 * All tensors are row-major fp32. Linear weights are stored as Hugging Face / PyTorch do,
 * [out, in], so a linear layer is out = in . W^T + b.
 * Forward kernels overwrite their outputs. Backward kernels ACCUMULATE (+=) into every
 * gradient they produce (weights and inputs alike); the caller zeroes once per step.
 * Kernels assert their preconditions; they never fail at run time. */
#ifndef QAPRUNE_OPS_H
#define QAPRUNE_OPS_H

#include <stdint.h>

#include "core/model/gemm.h"

/* Dropout by a stateless hash (core/util/rng.h): element i of site `site` is kept iff
 * hash(seed, site, i) >= p * 2^64, and kept elements are scaled by 1/(1-p). The same
 * (seed, site) regenerates the same mask in backward, so no mask is stored. */
typedef struct {
    float p;       /* drop probability; 0 = identity */
    uint64_t seed; /* per step */
} Dropout;

/* x[n] = dropout(x[n]) in place (forward) or dx[n] = dropout(dx[n]) (backward: same mask). */
void dropout_apply(float *x, long n, const Dropout *d, uint64_t site);

/* out[N,C] = wte[ids] + wpe[pos] + wtt[types] (C is the embedding width E).
 * ids, types, pos: [N] (N = B*T; pos the position ids, see bert_position_ids); wte [V,C],
 * wpe [P,C], wtt [TV,C]. wtt NULL: no token type embeddings (DistilBERT); types is then
 * not read. */
void embed_forward(float *out, const int32_t *ids, const int32_t *types, const int32_t *pos,
                   const float *wte, const float *wpe, const float *wtt, int N, int C);
/* dwte, dwpe, dwtt += the rows of dout [N,C] each row came from; dwpe or dwtt NULL: not
 * wanted (fixed positions, no token types). */
void embed_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                    const int32_t *ids, const int32_t *types, const int32_t *pos, int N, int C);

/* out[N,C] = (in - mean) * rstd * w + b per row; mean[N], rstd[N] saved for backward
 * (either may be NULL in inference). in may alias out. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                       const float *b, int N, int C, float eps);
/* The same, the output also rounded to bf16 into outh [N,C] (the next GEMM's input) unless
 * outh is NULL (then it is layernorm_forward). */
void layernorm_forward_bf16(float *out, bf16 *outh, float *mean, float *rstd, const float *in,
                            const float *w, const float *b, int N, int C, float eps);
/* din[N,C] += d(in); dw[C], db[C] += ... (both may be NULL: not needed); from dout [N,C],
 * the saved in, mean, rstd. */
void layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *mean, const float *rstd, const float *w, int N, int C);

/* out[N,O] = in[N,K] . w[O,K]^T + b[O] (b may be NULL). Any of N, K, O may be 0. */
void matmul_forward(float *out, const float *in, const float *w, const float *b, int N, int K,
                    int O);
/* out[N,O] = res[N,O] + in[N,K] . w[O,K]^T + b[O]: the residual add folded into the GEMM
 * (out is filled with res + b, then accumulated into), one pass over out fewer than
 * matmul_forward and an add. out must not alias res or in. */
void matmul_residual_forward(float *out, const float *in, const float *w, const float *b,
                             const float *res, int N, int K, int O);
/* The two above with bf16 weights w [O,K] and the input in bf16 (inh [N,K], rounded by the
 * caller: gemm_to_bf16, or the kernel that made it; see core/model/gemm.h); the products
 * are accumulated in fp32, out, b and res are fp32. */
void matmul_forward_bf16_in(float *out, const bf16 *inh, const bf16 *w, const float *b, int N,
                            int K, int O);
void matmul_residual_forward_bf16_in(float *out, const bf16 *inh, const bf16 *w,
                                     const float *b, const float *res, int N, int K, int O);
/* din[N,K] += dout . w;  dw[O,K] += dout^T . in;  db[O] += column sums of dout.
 * Any of din, dw, db may be NULL (not needed). */
void matmul_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int N, int K, int O);
/* The same with bf16 weights and the forward's input in bf16 (inh [N,K], as the forward
 * took it): dout rounded to bf16 for the two products, accumulated in fp32 into dw and
 * into din (din_add 1) or written over din (din_add 0: no zeroing first); db in fp32
 * (training in bf16, fp32 master weights). */
void matmul_backward_bf16(float *din, int din_add, float *dw, float *db, const float *dout,
                          const bf16 *inh, const bf16 *w, int N, int K, int O);

/* Multi-head self-attention core, per batch b and head h (Q, K, V are column blocks of qkv):
 *   S = Q K^T / sqrt(HS) over the keys with mask[b,key] = 1 (masked keys get probability 0),
 *   probs = softmax(S) [B,NH,T,T] (saved), ctx[:, h*HS:(h+1)*HS] = dropout(probs) V.
 * qkv [N,3A] (Q at columns 0..A-1, K at A.., V at 2A..), mask [B,T], ctx [N,A]; probs NULL:
 * not kept (inference). scratch: attention_scratch_size(T, NH, HS, ops_threads()) floats.
 * Without dropout on a CPU with AVX-512 this runs fused (S, softmax and P V a block of query
 * rows at a time, in cache; see attention.c); otherwise as attention_forward_gemm. */
void attention_forward(float *ctx, float *probs, const float *qkv, const int32_t *mask,
                       int B, int T, int NH, int HS, const Dropout *d, uint64_t site,
                       float *scratch);
/* The same as two GEMMs per head around a softmax over the whole [T,T] scores (the slow twin
 * of the fused path, and the path with dropout). scratch: [2*T*T] floats. */
void attention_forward_gemm(float *ctx, float *probs, const float *qkv, const int32_t *mask,
                            int B, int T, int NH, int HS, const Dropout *d, uint64_t site,
                            float *scratch);
/* Floats of scratch attention_forward needs for T tokens and NH heads of HS with `threads`
 * threads (also enough for attention_backward's [2*T*T]). */
long attention_scratch_size(int T, int NH, int HS, int threads);
/* What the bf16 attention of training keeps for its backward, per sequence b: Q, K, V as
 * bf16 dense blocks ([B, 3 NH, T, HS]: the Q heads, the K heads, the V heads), the
 * probabilities before and after dropout in bf16 ([B, NH, T, T] each). */
typedef struct {
    bf16 *qkv, *probs, *dropped;
} AttnKeep;
/* The same in bf16: Q, K, V and the (dropped-out) probabilities rounded to bf16 for the two
 * products, accumulated in fp32; the softmax, probs (before dropout) and ctx in fp32; the
 * dropout mask is attention_forward_gemm's. keep: NULL, or where the backward's operands
 * go (training). scratch: [NH*T*HS] floats (attention_scratch_size gives enough). */
void attention_forward_bf16(float *ctx, float *probs, const float *qkv, const int32_t *mask,
                            int B, int T, int NH, int HS, const Dropout *d, uint64_t site,
                            float *scratch, const AttnKeep *keep);
/* dqkv[N,3A] = the gradient of attention_forward_bf16 from dctx [N,A] (written, not added),
 * from what that
 * forward kept (the masks are in its probabilities), the products in bf16 with fp32
 * accumulation. scratch: attention_backward_bf16_scratch_size(T, NH, HS) floats. */
void attention_backward_bf16(float *dqkv, const float *dctx, const AttnKeep *keep, int B,
                             int T, int NH, int HS, const Dropout *d, float *scratch);
long attention_backward_bf16_scratch_size(int T, int NH, int HS);
/* dqkv[N,3A] += gradient of the above from dctx [N,A]; scratch: [2*T*T] floats. */
void attention_backward(float *dqkv, const float *dctx, const float *probs, const float *qkv,
                        const int32_t *mask, int B, int T, int NH, int HS, const Dropout *d,
                        uint64_t site, float *scratch);

/* Head gates: out[N,A] = in[N,A] with head h's HS columns scaled by gate[h] ([NH]). */
void headgate_forward(float *out, const float *in, const float *gate, int N, int NH, int HS);
/* din += dout * gate[h];  dgate[h] += sum over rows and the head's columns of dout * in. */
void headgate_backward(float *din, float *dgate, const float *dout, const float *in,
                       const float *gate, int N, int NH, int HS);

/* FFN activation and neuron gates: out[N,F] = gelu(in) * gate[f] (gate NULL = all ones),
 * gelu(x) = x * Phi(x) with the exact (erf) normal CDF, as Hugging Face's "gelu". */
void gelu_gate_forward(float *out, const float *in, const float *gate, int N, int F);
/* The FFN input layer's bias folded into its activation: h[N,F] += b[F] (h then holds the
 * pre-activation gelu_gate_backward needs), out = gelu(h) * gate. out may be h (inference:
 * the pre-activation is then not kept). */
void bias_gelu_gate_forward(float *out, float *h, const float *b, const float *gate, int N,
                            int F);
/* The same with the output in bf16 only (outh [N,F]; h still gets its bias in fp32), and
 * gelu'(h) [N,F] in bf16 into gradh, for gelu_gate_backward_saved (bf16 training: one pass
 * shares the normal CDF both need). */
void bias_gelu_gate_forward_bf16(bf16 *outh, bf16 *gradh, float *h, const float *b,
                                 const float *gate, int N, int F);
/* din[N,F] += dout * gate * gelu'(in);  dgate[F] += sum over rows of dout * gelu(in)
 * (dgate may be NULL). */
void gelu_gate_backward(float *din, float *dgate, const float *dout, const float *in,
                        const float *gate, int N, int F);
/* din = dout * gate * gelu'(in) (written, not added) from the gelu' that
 * bias_gelu_gate_forward_bf16 saved; no gate gradient (that needs gelu(in): use
 * gelu_gate_backward). */
void gelu_gate_backward_saved(float *din, const float *dout, const bf16 *gradh,
                              const float *gate, int N, int F);

/* Vectorisable scalar math used by the kernels (exposed so tests compare them with libm). */
float ops_expf(float x);        /* e^x, ~2 ulp; 0 below -87.3, +inf above 88.7 */
/* Phi(x) = 0.5 erfc(-x / sqrt 2): relative error < 2e-6 for x > -5 (1.7e-6 measured); in the far negative tail
 * the float rounding of the exponent's argument gives up to ~2e-5 relative (absolute < 1e-11). */
float ops_normcdf(float x);
float ops_gelu(float x);        /* x * ops_normcdf(x) */
float ops_gelu_grad(float x);   /* Phi(x) + x * phi(x) */

/* Uses n threads for BLAS and for the kernels' own parallel loops (n >= 1). */
void ops_set_threads(int n);
int ops_threads(void);

#endif
