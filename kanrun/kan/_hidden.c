/* kanrun's compiled loops, called through ctypes (kanrun/kan/hidden_c.py); NumPy and torch
 * remain the fallback where this extension was not built. It is a Python extension module
 * only so that it installs and is found like one: it defines no Python functions.
 *   this file          shared helpers, the penalties, the L-BFGS direction (lbfgs.py)
 *   _spline_loops.h    grid updates: refit normal equations, basis tables (spline.py)
 *   _hidden_impl.h     the layers after the first of small plain KANs (fastpath_numpy)
 *   _evaluate_impl.h   a whole model's loss and gradients in one call (fastpath_numpy)
 * The last two are included once per float type. */
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The loops that vectorize are compiled for AVX-512 and AVX2 as well, chosen at load time
 * (GCC's function multiversioning); with -ffp-contract=off every version does the same
 * IEEE operations, so the results are the same bits on every CPU. The first layer's
 * products use fused multiply-adds explicitly (fma / fmaf: exactly rounded everywhere,
 * libm's where the CPU has no FMA instruction). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define KANRUN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KANRUN_CLONES
#endif

/* exp for the sigmoid, written so that the compiler vectorizes its loop (libm's exp is a
 * call per point): x = n ln2 + r, |r| <= ln2 / 2, exp(r) by its Taylor polynomial (degree
 * 13 in double, 7 in float: below an ulp), 2^n from the exponent bits. Inputs beyond the
 * float range (|x| > 708 in double, 87 in float) give inf / 0 (the sigmoid needs nothing
 * finer there); NaN stays NaN. Compiled with -fno-trapping-math (setup.py), which lets the
 * compiler turn the selects into vector blends. */
static inline double exp_d(double x)
{
    const double big = 709.0, small = -708.0; /* 2^n stays normal */
    double z = x > big ? big : (x < small ? small : x); /* NaN passes through */
    const double shifter = 6755399441055744.0;          /* 1.5 * 2^52: rounds to integer */
    double t = z * 1.4426950408889634 + shifter;
    double n = t - shifter;
    double r = z - n * 0.6931471803691238;  /* ln2, high part */
    r = r - n * 1.9082149292705877e-10;     /* ln2, low part */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4338000000000000LL + 1023) << 52; /* 2^n */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double e = p * scale;
    e = x > big ? INFINITY : e;
    return x < small ? 0.0 : e;
}

static inline float exp_f(float x)
{
    const float big = 88.0f, small = -87.0f;
    float z = x > big ? big : (x < small ? small : x);
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    float t = z * 1.44269504f + shifter;
    float n = t - shifter;
    float r = z - n * 0.693145752f; /* ln2, high part */
    r = r - n * 1.42860677e-6f;      /* ln2, low part */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits - 0x4B400000 + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = p * scale;
    e = x > big ? INFINITY : e;
    return x < small ? 0.0f : e;
}

/* The L1 + entropy penalty of one member's edge scales s (in, out) (kanrun/kan/penalty.py
 * has the formulas): returns the penalty, writes d penalty / d s times lamb into ds.
 * work: at least 2 * (in + out) + in * out doubles. */
static double scale_penalty1(int in, int out, const double *s, double lamb, double l1,
                             double ent, double *ds, double *work)
{
    const double eps = 1e-4, ln2 = 0.6931471805599453;
    double *tot_in = work, *tot_out = work + out, *sum_in = work + out + in,
           *sum_out = work + 2 * out + in;
    double total = 0, h_in = 0, h_out = 0;
    for (int o = 0; o < out; o++)
        tot_in[o] = 1, sum_in[o] = 0;
    for (int i = 0; i < in; i++) {
        tot_out[i] = 1, sum_out[i] = 0;
        for (int o = 0; o < out; o++) {
            tot_in[o] += s[i * out + o];
            tot_out[i] += s[i * out + o];
            total += s[i * out + o];
        }
    }
    for (int i = 0; i < in; i++)
        for (int o = 0; o < out; o++) {
            const double v = s[i * out + o];
            const double p_in = v / tot_in[o], p_out = v / tot_out[i];
            const double log_in = log2(p_in + eps), log_out = log2(p_out + eps);
            h_in += p_in * log_in;
            h_out += p_out * log_out;
            const double a_in = -(log_in + p_in / ((p_in + eps) * ln2));
            const double a_out = -(log_out + p_out / ((p_out + eps) * ln2));
            sum_in[o] += a_in * p_in;
            sum_out[i] += a_out * p_out;
            ds[i * out + o] = a_in; /* kept until the sums are complete */
            work[2 * out + 2 * in + i * out + o] = a_out;
        }
    for (int i = 0; i < in; i++)
        for (int o = 0; o < out; o++) {
            const double a_in = ds[i * out + o], a_out = work[2 * out + 2 * in + i * out + o];
            ds[i * out + o] = lamb * (l1 + ent * ((a_in - sum_in[o]) / tot_in[o] / out +
                                                  (a_out - sum_out[i]) / tot_out[i] / in));
        }
    return l1 * total - ent * (h_in / out + h_out / in);
}

/* The penalty of the first layer, whose edges are linear in fixed features of the data:
 * phi_ij = w_ij . F_i, so std(phi_ij) = sqrt(w_ij^T C_i w_ij) with C_i the features'
 * covariance (m, in, f, f), weights w (m, in, out, f), sx the inputs' std (m, in).
 * Writes each member's penalty to reg and d lamb*penalty / d w to gw (m, in, out, f).
 * work: 3 * in * out + in * out * f + 2 * (in + out) + in * out doubles. */
void first_penalty(int m, int in, int out, int f, const double *cov, const double *w,
                   const double *sx, const double *lamb, double l1, double ent, double *reg,
                   double *gw, double *work)
{
    double *sc = work, *ds = work + in * out, *sd = work + 2 * in * out;
    double *cw = work + 3 * in * out, *rest = cw + (long)in * out * f;
    for (int a = 0; a < m; a++) {
        for (int i = 0; i < in; i++) {
            const double *C = cov + ((long)a * in + i) * f * f;
            for (int o = 0; o < out; o++) {
                const double *wv = w + (((long)a * in + i) * out + o) * f;
                double *c = cw + ((long)i * out + o) * f, var = 0;
                for (int p = 0; p < f; p++) {
                    double t = 0;
                    for (int q = 0; q < f; q++)
                        t += C[p * f + q] * wv[q];
                    c[p] = t;
                    var += t * wv[p];
                }
                sd[i * out + o] = sqrt(var > 0 ? var : 0.0);
                sc[i * out + o] = sd[i * out + o] / (sx[(long)a * in + i] + 0.1);
            }
        }
        reg[a] = scale_penalty1(in, out, sc, lamb[a], l1, ent, ds, rest);
        for (int i = 0; i < in; i++)
            for (int o = 0; o < out; o++) {
                const double std = sd[i * out + o];
                const double k = std > 0 ? ds[i * out + o] / std / (sx[(long)a * in + i] + 0.1)
                                         : 0.0;
                const double *c = cw + ((long)i * out + o) * f;
                double *g = gw + (((long)a * in + i) * out + o) * f;
                for (int p = 0; p < f; p++)
                    g[p] = c[p] * k;
            }
    }
}

/* The L-BFGS direction -H g by the two-loop recursion over the c pairs (s_i, y_i), rows of
 * S and Y (c, n), oldest first, rho_i = 1 / (y_i . s_i), H_0 = gamma I: writes d (n) and
 * uses c doubles of work. For kanrun/kan/lbfgs.py, where a [2,5,1] fit takes ~400 of
 * these and NumPy's calls cost more than the arithmetic. */
void lbfgs_direction(int c, int n, const double *S, const double *Y, const double *rho,
                     double gamma, const double *g, double *d, double *alpha)
{
    for (int j = 0; j < n; j++)
        d[j] = -g[j];
    for (int i = c - 1; i >= 0; i--) {
        const double *s = S + (long)i * n, *y = Y + (long)i * n;
        double t = 0;
        for (int j = 0; j < n; j++)
            t += s[j] * d[j];
        alpha[i] = t * rho[i];
        for (int j = 0; j < n; j++)
            d[j] -= alpha[i] * y[j];
    }
    for (int j = 0; j < n; j++)
        d[j] *= gamma;
    for (int i = 0; i < c; i++) {
        const double *s = S + (long)i * n, *y = Y + (long)i * n;
        double t = 0;
        for (int j = 0; j < n; j++)
            t += y[j] * d[j];
        const double beta = alpha[i] - t * rho[i];
        for (int j = 0; j < n; j++)
            d[j] += beta * s[j];
    }
}

#include "_spline_loops.h"

/* One layer of a whole-model evaluation (kan_evaluate_d / _f), laid out by
 * hidden_c.Plan. REAL arrays are of the models' float type; gradients (d_*) are double
 * with member stride dstride (elements), NULL where that parameter is not trained. */
typedef struct {
    int in, out, nb, w, nk; /* nb basis functions; w = k + 1; nk knots per row (l >= 1) */
    long dstride;
    const void *coef, *sb, *sp, *mask; /* (m, in, out, nb), (m, in, out) x 3 */
    double *d_coef, *d_sb, *d_sp;
    void *spmask, *wbase;              /* (m, in, out) work: sp * mask, sb * mask */
    double *gwsp;                      /* (m, in, out, nb) work: spline-weight gradient */
    /* the first layer: w0 (out, in * (nb + 1)) work, weights (m, in, out, nb + 1) and gw
     * (same) for the penalty; layers after the first: the rest */
    void *w0;
    double *weights, *gw;
    const void *knots, *poly;  /* (m, in, nk), (m, in, nk + 1, w, w) */
    const double *gather;      /* (m, in, nb, (nk + 1) * w) */
    void *stack;               /* (1 + w * out, m * in * (nk + 1)), row 0 the left knots */
    void *x;                   /* the layer's inputs (m, in, B) */
    int32_t *cols;
    void *sigs, *edges;        /* (m, in, B); (m, in, out, B) with a penalty */
    double *moments, *pc, *pmean, *pwx, *pxmean, *pwork;
    void *g_wb;                /* (m, in, out) */
    void *gout;                /* (m, out, B): gradient of the layer's outputs */
} kan_layer;

#define REAL double
#define EXP exp_d
#define FMA fma
#define NAME(x) x##_d
#include "_hidden_impl.h"
#include "_evaluate_impl.h"
#undef REAL
#undef EXP
#undef FMA
#undef NAME

#define REAL float
#define EXP exp_f
#define FMA fmaf
#define NAME(x) x##_f
#include "_hidden_impl.h"
#include "_evaluate_impl.h"
#undef REAL
#undef EXP
#undef FMA
#undef NAME

#include "_sparse_layer.h"

int kanrun_hidden_abi(void) { return 8; }

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hidden", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__hidden(void) { return PyModule_Create(&module); }
