/* Compiled loops for fastpath_numpy (the layers after the first of small plain KANs) and
 * the L-BFGS direction of lbfgs.py, called through ctypes; the NumPy operations remain the fallback where this extension
 * was not built. It is a Python extension module only so that it installs and is found
 * like one: it defines no Python functions. */
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

/* Knots t[0..n-1] with k + 1 more at the mean spacing beyond each end (as
 * spline.padded_knots): ext[a + k + 1] = t_a for a = -(k + 1) .. n + k. */
static void padded(const double *t, int n, int k, double *ext)
{
    const double h = (t[n - 1] - t[0]) / (n - 1);
    for (int a = -(k + 1); a < n + k + 1; a++)
        ext[a + k + 1] = a < 0 ? t[0] - h * (double)(-a)
                               : (a < n ? t[a] : t[n - 1] + h * (double)(a - n + 1));
}

/* The reciprocals of de Boor's denominators t_{i+r+1} - t_{i+1-j+r} (j = 1..k, r < j) of
 * every interval i = 0 .. n-2, k (k + 1) / 2 per interval, from the padded knots ext
 * (zero-width intervals hold zeros: no point lies in one). */
static void deboor_reciprocals(const double *ext, int n, int k, double *rec)
{
    const int per = k * (k + 1) / 2;
    const double *t = ext + k + 1;
    for (int i = 0; i < n - 1; i++) {
        double *ri = rec + (long)i * per;
        for (int j = 1, q = 0; j <= k; j++)
            for (int r = 0; r < j; r++, q++) {
                const double d = t[i + r + 1] - t[i + 1 - j + r];
                ri[q] = d > 0 ? 1.0 / d : 0.0;
            }
    }
}

/* The k + 1 B-splines of order k (k < 32) on knots t[0..n-1] that may be non-zero at xv,
 * by de Boor's triangular scheme (as spline.local_basis; ext the padded knots, rec the
 * reciprocals of deboor_reciprocals): writes them to N and returns the basis index of
 * N[0] (s - 1 - k, s the number of knots <= xv), or INT32_MIN for a point outside
 * [t_0, t_{n-1}) or NaN (all its values are zero). Values of indices outside
 * 0 .. n - k - 2 are computed too; the caller drops them (valid ones need no knots
 * beyond t). */
static int32_t local_bspline(const double *ext, int n, int k, const double *rec, double xv,
                             double *N)
{
    const double *t = ext + k + 1;
    if (!(xv >= t[0] && xv < t[n - 1]))
        return INT32_MIN;
    int lo = 0; /* s: the number of knots <= xv, by a count (no mispredicted branches) */
    if (n <= 32) {
        for (int q = 0; q < n; q++)
            lo += t[q] <= xv;
    } else {
        int hi = n;
        while (lo < hi) {
            const int mid = (lo + hi) >> 1;
            if (t[mid] <= xv)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    const int i = lo - 1; /* t_i <= xv < t_{i+1} */
    double left[32], right[32];
    for (int j = 1; j <= k; j++) {
        left[j] = xv - t[i + 1 - j];
        right[j] = t[i + j] - xv;
    }
    const double *ri = rec + (long)i * (k * (k + 1) / 2);
    N[0] = 1.0;
    for (int j = 1, q = 0; j <= k; j++) {
        double saved = 0.0;
        for (int r = 0; r < j; r++, q++) {
            const double temp = N[r] * ri[q];
            N[r] = saved + right[r + 1] * temp;
            saved = left[j - r] * temp;
        }
        N[j] = saved;
    }
    return i - k;
}

/* The normal equations of a spline refit (spline.refit_coef): for each input row, on the
 * points x (in, B), gram (in, nb_new, nb_new) = A^T A and cross (in, nb_new, nb_old) =
 * A^T O with A and O the dense bases of the new and old knots t_new (in, n_new), t_old
 * (in, n_old), nb = n - k - 1. */
void refit_moments(int in, int B, int k, const double *x, int n_old, const double *t_old,
                   int n_new, const double *t_new, double *gram, double *cross)
{
    const int nbo = n_old - k - 1, nbn = n_new - k - 1, w = k + 1;
    memset(gram, 0, sizeof(double) * (size_t)in * nbn * nbn);
    memset(cross, 0, sizeof(double) * (size_t)in * nbn * nbo);
    double vn[32], vo[32];
    const int per = k * (k + 1) / 2;
    const size_t n_rec = (size_t)(n_new + n_old) * per + 1, n_ext = n_new + n_old + 4 * k + 4;
    double *rec_n = malloc(sizeof(double) * (n_rec + n_ext));
    if (!rec_n) { /* out of memory: NaN normal equations, which the solve reports */
        for (long q = 0; q < (long)in * nbn * nbn; q++)
            gram[q] = NAN;
        return;
    }
    double *rec_o = rec_n + (long)n_new * per;
    double *ext_n = rec_n + n_rec, *ext_o = ext_n + n_new + 2 * k + 2;
    for (int i = 0; i < in; i++) {
        const double *xr = x + (long)i * B, *tn = t_new + (long)i * n_new,
                     *to = t_old + (long)i * n_old;
        double *G = gram + (long)i * nbn * nbn, *C = cross + (long)i * nbn * nbo;
        padded(tn, n_new, k, ext_n);
        padded(to, n_old, k, ext_o);
        deboor_reciprocals(ext_n, n_new, k, rec_n);
        deboor_reciprocals(ext_o, n_old, k, rec_o);
        for (int b = 0; b < B; b++) {
            const int32_t cn = local_bspline(ext_n, n_new, k, rec_n, xr[b], vn);
            if (cn == INT32_MIN)
                continue;
            const int32_t co = local_bspline(ext_o, n_old, k, rec_o, xr[b], vo);
            for (int r = 0; r < w; r++) {
                const int jn = cn + r;
                if (jn < 0 || jn >= nbn)
                    continue;
                for (int q = 0; q < w; q++) {
                    const int jq = cn + q;
                    if (jq >= 0 && jq < nbn)
                        G[(long)jn * nbn + jq] += vn[r] * vn[q];
                }
                if (co == INT32_MIN)
                    continue;
                for (int q = 0; q < w; q++) {
                    const int jo = co + q;
                    if (jo >= 0 && jo < nbo)
                        C[(long)jn * nbo + jo] += vn[r] * vo[q];
                }
            }
        }
    }
    free(rec_n);
}

/* The per-interval polynomial table of spline.basis_tables for knots t (in, n), order k:
 * table (2 + w^2, in * (n + 1)), w = k + 1, column i * (n + 1) + s for interval q = s - 1
 * holding [t_q, 1 / h_q, C[p][r] (row 2 + p * w + r)], the local B-spline r on q being
 * sum_p C[p][r] u^p, u = (x - t_q) / h_q; the columns s = 0 and s = n, zero-width
 * intervals and basis indices outside 0 .. n - k - 2 are zero. C comes from the splines'
 * values at the w nodes (j + 1/2) / w of each interval and inv_vander (w, w), the inverse
 * of the nodes' Vandermonde matrix V[j][p] = node_j^p. */
void basis_table(int in, int n, int k, const double *t_all, const double *inv_vander,
                 double *table)
{
    const int w = k + 1, per = k * (k + 1) / 2, nb = n - k - 1;
    const long cols = (long)in * (n + 1);
    memset(table, 0, sizeof(double) * (size_t)(2 + w * w) * cols);
    double *ext = malloc(sizeof(double) * ((size_t)(n + 2 * k + 2) + (size_t)n * per + 1));
    if (!ext) {
        for (long q = 0; q < (long)(2 + w * w) * cols; q++)
            table[q] = NAN;
        return;
    }
    double *rec = ext + n + 2 * k + 2;
    double vals[32][32], N[32];
    for (int i = 0; i < in; i++) {
        const double *t = t_all + (long)i * n;
        padded(t, n, k, ext);
        deboor_reciprocals(ext, n, k, rec);
        for (int q = 0; q < n - 1; q++) {
            const long col = (long)i * (n + 1) + q + 1;
            const double h = t[q + 1] - t[q];
            table[col] = t[q];
            if (!(h > 0))
                continue; /* zero-width: only its left knot */
            table[cols + col] = 1.0 / h;
            for (int j = 0; j < w; j++) {
                const double node = ((double)j + 0.5) / (double)w;
                const int32_t first = local_bspline(ext, n, k, rec, t[q] + h * node, N);
                for (int r = 0; r < w; r++) {
                    const int idx = first + r;
                    vals[r][j] = first != INT32_MIN && idx >= 0 && idx < nb ? N[r] : 0.0;
                }
            }
            for (int p = 0; p < w; p++)
                for (int r = 0; r < w; r++) {
                    double c = 0;
                    for (int j = 0; j < w; j++)
                        c += vals[r][j] * inv_vander[p * w + j];
                    table[(2 + (long)p * w + r) * cols + col] = c;
                }
        }
    }
    free(ext);
}

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
#undef REAL
#undef EXP
#undef FMA
#undef NAME

#define REAL float
#define EXP exp_f
#define FMA fmaf
#define NAME(x) x##_f
#include "_hidden_impl.h"
#undef REAL
#undef EXP
#undef FMA
#undef NAME

int kanrun_hidden_abi(void) { return 7; }

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hidden", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__hidden(void) { return PyModule_Create(&module); }
