/* One layer after the first of m small plain KANs, forward and backward, for one float
 * type. Included twice by _hidden.c with REAL = double / float and NAME(x) = x##_d / x##_f.
 * The layouts are those of fastpath_numpy._Hidden and BatchedCore (C order):
 *   x (m, in, B)        the layer's inputs
 *   knots (m, in, nk)   sorted knots of each edge row; column s = number of knots <= x
 *   stack (1 + w*out, m*in*(nk+1))  per column: left knot, then E[p*out + o]
 *   wbase (m, in, out)  base weights (scale_base * mask)
 *   cols (m, in, B)     global column of each point (written by forward, read by backward)
 *   sigs (m, in, B)     sigmoid of each input (likewise)
 */

KANRUN_CLONES
static void NAME(sigmoid_row)(const REAL *x, REAL *s, int B) /* vectorized */
{
    for (int b = 0; b < B; b++)
        s[b] = (REAL)1 / ((REAL)1 + EXP(-x[b]));
}

KANRUN_CLONES
static void NAME(columns_row)(const REAL *x, const REAL *kn, int nk, int32_t col0,
                              int32_t *cols, int B) /* vectorized: a count per knot */
{
    for (int b = 0; b < B; b++)
        cols[b] = col0;
    for (int q = 0; q < nk; q++) {
        const REAL t = kn[q];
        for (int b = 0; b < B; b++)
            cols[b] += (x[b] >= t);
    }
}

static inline int NAME(column)(const REAL *kn, int nk, REAL xv)
{
    int c = 0;
    if (nk <= 24) {
        for (int q = 0; q < nk; q++)
            c += (xv >= kn[q]);
        return c;
    }
    int lo = 0, hi = nk; /* first knot > xv, as searchsorted(side="right") */
    if (!(xv == xv))
        return nk; /* NaN: numpy's searchsorted puts it last */
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (kn[mid] <= xv)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The per-point work of one input row of a layer: the body is inlined into versions for
 * cubic splines (w = 4) with one output, with any outputs, and the general case, so that
 * the compiler unrolls the short loops over p and o (and vectorizes the forward one). */
static inline __attribute__((always_inline)) void
NAME(fwd_body)(int B, int w, int out, const REAL *restrict xr, const int32_t *restrict cr,
               const REAL *restrict sr, const REAL *restrict stack, long n_all,
               const REAL *restrict wb, REAL *restrict ya, REAL *restrict er)
{
    const int k = w - 1;
    for (int b = 0; b < B; b++) {
        const REAL xv = xr[b];
        const long col = cr[b];
        const REAL v = xv - stack[col];
        const REAL base = xv * sr[b];
        for (int o = 0; o < out; o++) {
            const REAL *e = stack + (1 + o) * n_all + col; /* E[p, o] at e[p*out*n_all] */
            REAL val = e[(long)k * out * n_all];
            for (int p = k - 1; p >= 0; p--)
                val = val * v + e[(long)p * out * n_all];
            const REAL edge = wb[o] * base + val;
            ya[(long)o * B + b] += edge;
            if (er)
                er[(long)o * B + b] = edge;
        }
    }
}

KANRUN_CLONES
static void NAME(fwd_w4o1)(int B, const REAL *xr, const int32_t *cr, const REAL *sr,
                           const REAL *stack, long n_all, const REAL *wb, REAL *ya, REAL *er)
{
    if (er)
        NAME(fwd_body)(B, 4, 1, xr, cr, sr, stack, n_all, wb, ya, er);
    else
        NAME(fwd_body)(B, 4, 1, xr, cr, sr, stack, n_all, wb, ya, NULL);
}

static void NAME(fwd_w4)(int B, int out, const REAL *xr, const int32_t *cr, const REAL *sr,
                         const REAL *stack, long n_all, const REAL *wb, REAL *ya, REAL *er)
{
    NAME(fwd_body)(B, 4, out, xr, cr, sr, stack, n_all, wb, ya, er);
}

static void NAME(fwd_any)(int B, int w, int out, const REAL *xr, const int32_t *cr,
                          const REAL *sr, const REAL *stack, long n_all, const REAL *wb,
                          REAL *ya, REAL *er)
{
    NAME(fwd_body)(B, w, out, xr, cr, sr, stack, n_all, wb, ya, er);
}

void NAME(hidden_forward)(int m, int in, int out, int B, int w, int nk, const REAL *x,
                          const REAL *knots, const REAL *stack, const REAL *wbase, REAL *y,
                          int32_t *cols, REAL *sigs, REAL *edges)
{
    const int n_cols = nk + 1;
    const long n_all = (long)m * in * n_cols; /* row length of stack */
    for (long q = 0; q < (long)m * out * B; q++)
        y[q] = 0;
    for (int a = 0; a < m; a++) {
        for (int i = 0; i < in; i++) {
            const long row = (long)a * in + i;
            const REAL *xr = x + row * B, *kn = knots + row * nk, *wb = wbase + row * out;
            const long col0 = row * n_cols;
            int32_t *cr = cols + row * B;
            REAL *sr = sigs + row * B;
            REAL *ya = y + (long)a * out * B;
            REAL *er = edges ? edges + row * out * B : NULL;
            NAME(sigmoid_row)(xr, sr, B);
            if (nk <= 24)
                NAME(columns_row)(xr, kn, nk, (int32_t)col0, cr, B);
            else
                for (int b = 0; b < B; b++)
                    cr[b] = (int32_t)(col0 + NAME(column)(kn, nk, xr[b]));
            if (w == 4 && out == 1)
                NAME(fwd_w4o1)(B, xr, cr, sr, stack, n_all, wb, ya, er);
            else if (w == 4)
                NAME(fwd_w4)(B, out, xr, cr, sr, stack, n_all, wb, ya, er);
            else
                NAME(fwd_any)(B, w, out, xr, cr, sr, stack, n_all, wb, ya, er);
        }
    }
}

/* The backward pass of one input row: moments, base-weight gradient (in four partial sums
 * per output, summed at the end, so no chain of dependent additions runs through all the
 * points) and the input gradient; inlined into versions as fwd_body. */
static inline __attribute__((always_inline)) void
NAME(bwd_body)(int B, int w, int out, const REAL *xr, const int32_t *cr, const REAL *sr,
               const REAL *stack, long n_all, const REAL *wb, const REAL *ga, const REAL *er,
               const double *pc, const double *pmean, double pwx, double pxmean,
               double *moments, double *awb, REAL *gr)
{
    const int k = w - 1;
    const long mw = (long)w * out; /* moments row length */
    for (int b = 0; b < B; b++) {
        const REAL xv = xr[b];
        const long col = cr[b];
        const double v = (double)(xv - stack[col]);
        const REAL vr = xv - stack[col];
        const REAL sig = sr[b];
        const REAL base = xv * sig;
        const REAL dsilu = sig + base * ((REAL)1 - sig);
        double *mo = moments + col * mw;
        double *acc = awb + (b & 3) * out;
        REAL gxv = 0;
        for (int o = 0; o < out; o++) {
            REAL go = ga[(long)o * B + b];
            if (er) /* the penalty's gradient joins this edge's */
                go += (REAL)(pc[o] * (er[(long)o * B + b] - pmean[o]));
            double vp = go;
            for (int p = 0; p < w; p++) {
                mo[(long)p * out + o] += vp;
                vp *= v;
            }
            acc[o] += (double)go * base;
            const REAL *e = stack + (1 + o) * n_all + col;
            REAL der = 0, val = e[(long)k * out * n_all];
            for (int p = k - 1; p >= 0; p--) {
                der = der * vr + val;
                val = val * vr + e[(long)p * out * n_all];
            }
            gxv += go * (wb[o] * dsilu + der);
        }
        gr[b] = er ? gxv + (REAL)(pwx * (xv - pxmean)) : gxv;
    }
}

#define KANRUN_BWD_ARGS                                                                    \
    const REAL *xr, const int32_t *cr, const REAL *sr, const REAL *stack, long n_all,      \
        const REAL *wb, const REAL *ga, const REAL *er, const double *pc,                  \
        const double *pmean, double pwx, double pxmean, double *moments, double *awb,      \
        REAL *gr
#define KANRUN_BWD_PASS xr, cr, sr, stack, n_all, wb, ga, er, pc, pmean, pwx, pxmean, \
                        moments, awb, gr

static void NAME(bwd_w4o1)(int B, KANRUN_BWD_ARGS)
{
    if (er)
        NAME(bwd_body)(B, 4, 1, KANRUN_BWD_PASS);
    else
        NAME(bwd_body)(B, 4, 1, xr, cr, sr, stack, n_all, wb, ga, NULL, pc, pmean, pwx, pxmean,
                       moments, awb, gr);
}

static void NAME(bwd_w4)(int B, int out, KANRUN_BWD_ARGS)
{
    NAME(bwd_body)(B, 4, out, KANRUN_BWD_PASS);
}

static void NAME(bwd_any)(int B, int w, int out, KANRUN_BWD_ARGS)
{
    NAME(bwd_body)(B, w, out, KANRUN_BWD_PASS);
}
#undef KANRUN_BWD_ARGS
#undef KANRUN_BWD_PASS

void NAME(hidden_backward)(int m, int in, int out, int B, int w, int nk, const REAL *x,
                           const int32_t *cols, const REAL *sigs, const REAL *stack,
                           const REAL *wbase,
                           const REAL *g, const REAL *edges, const double *pc,
                           const double *pmean, const double *pwx, const double *pxmean,
                           double *moments, REAL *g_wb, REAL *gx)
{
    const int n_cols = nk + 1;
    const long n_all = (long)m * in * n_cols;
    const long mw = (long)w * out; /* moments row length */
    for (long q = 0; q < n_all * mw; q++)
        moments[q] = 0;
    double acc_wb[4 * 64];
    for (int a = 0; a < m; a++) {
        for (int i = 0; i < in; i++) {
            const long row = (long)a * in + i;
            const REAL *xr = x + row * B, *wb = wbase + row * out;
            const int32_t *cr = cols + row * B;
            const REAL *sr = sigs + row * B;
            const REAL *ga = g + (long)a * out * B;
            const REAL *er = edges ? edges + row * out * B : NULL;
            const double *pcr = edges ? pc + row * out : NULL;
            const double *pmr = edges ? pmean + row * out : NULL;
            const double pwxr = edges ? pwx[row] : 0, pxr = edges ? pxmean[row] : 0;
            REAL *gr = gx + row * B;
            double *acc = out <= 64 ? acc_wb : malloc(sizeof(double) * 4 * (size_t)out);
            if (!acc) { /* out of memory (a layer of millions of outputs): NaN gradients */
                for (int o = 0; o < out; o++)
                    g_wb[row * out + o] = (REAL)NAN;
                continue;
            }
            for (int q = 0; q < 4 * out; q++)
                acc[q] = 0;
            if (w == 4 && out == 1)
                NAME(bwd_w4o1)(B, xr, cr, sr, stack, n_all, wb, ga, er, pcr, pmr, pwxr, pxr,
                               moments, acc, gr);
            else if (w == 4)
                NAME(bwd_w4)(B, out, xr, cr, sr, stack, n_all, wb, ga, er, pcr, pmr, pwxr, pxr,
                             moments, acc, gr);
            else
                NAME(bwd_any)(B, w, out, xr, cr, sr, stack, n_all, wb, ga, er, pcr, pmr, pwxr,
                              pxr, moments, acc, gr);
            for (int o = 0; o < out; o++) /* the four partial sums of each output */
                g_wb[row * out + o] = (REAL)((acc[o] + acc[out + o]) +
                                             (acc[2 * out + o] + acc[3 * out + o]));
            if (acc != acc_wb)
                free(acc);
        }
    }
}

/* Mean and unbiased std of v[0..B-1], in two passes (as penalty.spread). */
static void NAME(spread)(const REAL *v, int B, double *mean, double *std)
{
    double sum = 0, sq = 0;
    for (int b = 0; b < B; b++)
        sum += v[b];
    const double mv = sum / B;
    for (int b = 0; b < B; b++)
        sq += (v[b] - mv) * (v[b] - mv);
    *mean = mv;
    *std = sqrt(sq / (B - 1));
}

/* The penalty of a hidden layer from its inputs x and edge values (m, in, out, B): adds each
 * member's penalty to reg and writes what the backward pass needs for its gradient: per
 * edge the factor c (d lamb*penalty / d edge_b = c (edge_b - mean)) and the mean, per input
 * the factor wx (through std(x): wx (x_b - mean_x)) and the mean. work: see scale_penalty1. */
void NAME(hidden_penalty)(int m, int in, int out, int B, const REAL *x, const REAL *edges,
                          const double *lamb, double l1, double ent, double *reg, double *c,
                          double *emean, double *wx, double *xmean, double *s, double *ds,
                          double *work)
{
    for (int a = 0; a < m; a++) {
        for (int i = 0; i < in; i++) {
            const long row = (long)a * in + i;
            double sx; /* the input's std (kept in wx until the factors are known) */
            NAME(spread)(x + row * B, B, &xmean[row], &sx);
            wx[row] = sx;
            for (int o = 0; o < out; o++) { /* the edge's std, kept in c likewise */
                const long e = row * out + o;
                NAME(spread)(edges + e * B, B, &emean[e], &c[e]);
                s[i * out + o] = c[e] / (sx + 0.1);
            }
        }
        reg[a] += scale_penalty1(in, out, s, lamb[a], l1, ent, ds, work);
        for (int i = 0; i < in; i++) {
            const long row = (long)a * in + i;
            const double sx = wx[row], denom = sx + 0.1;
            double w = 0;
            for (int o = 0; o < out; o++) {
                const double std = c[row * out + o], g = ds[i * out + o];
                w += g * std;
                c[row * out + o] = std > 0 ? 1.0 / (std * (B - 1)) / denom * g : 0.0;
            }
            w = -w / (denom * denom);
            wx[row] = sx > 0 ? w / (sx * (B - 1)) : 0.0;
        }
    }
}
