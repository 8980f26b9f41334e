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

void NAME(hidden_forward)(int m, int in, int out, int B, int w, int nk, const REAL *x,
                          const REAL *knots, const REAL *stack, const REAL *wbase, REAL *y,
                          int32_t *cols, REAL *sigs, REAL *edges)
{
    const int n_cols = nk + 1;
    const long n_all = (long)m * in * n_cols; /* row length of stack */
    const int k = w - 1;
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
            NAME(sigmoid_row)(xr, sr, B);
            if (nk <= 24)
                NAME(columns_row)(xr, kn, nk, (int32_t)col0, cr, B);
            else
                for (int b = 0; b < B; b++)
                    cr[b] = (int32_t)(col0 + NAME(column)(kn, nk, xr[b]));
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
                    if (edges)
                        edges[(row * out + o) * B + b] = edge;
                }
            }
        }
    }
}

void NAME(hidden_backward)(int m, int in, int out, int B, int w, int nk, const REAL *x,
                           const int32_t *cols, const REAL *sigs, const REAL *stack,
                           const REAL *wbase,
                           const REAL *g, const REAL *edges, const double *pc,
                           const double *pmean, const double *pwx, const double *pxmean,
                           double *moments, REAL *g_wb, REAL *gx)
{
    const int n_cols = nk + 1;
    const long n_all = (long)m * in * n_cols;
    const int k = w - 1;
    const long mw = (long)w * out; /* moments row length */
    for (long q = 0; q < n_all * mw; q++)
        moments[q] = 0;
    for (int a = 0; a < m; a++) {
        for (int i = 0; i < in; i++) {
            const long row = (long)a * in + i;
            const REAL *xr = x + row * B, *wb = wbase + row * out;
            const int32_t *cr = cols + row * B;
            const REAL *sr = sigs + row * B;
            const REAL *ga = g + (long)a * out * B;
            double acc_wb[64];
            double *awb = out <= 64 ? acc_wb : NULL;
            if (awb)
                for (int o = 0; o < out; o++)
                    awb[o] = 0;
            else
                for (int o = 0; o < out; o++)
                    g_wb[row * out + o] = 0;
            for (int b = 0; b < B; b++) {
                const REAL xv = xr[b];
                const long col = cr[b];
                const double v = (double)(xv - stack[col]);
                const REAL vr = xv - stack[col];
                const REAL sig = sr[b];
                const REAL base = xv * sig;
                const REAL dsilu = sig + base * ((REAL)1 - sig);
                double *mo = moments + col * mw;
                REAL gxv = 0;
                for (int o = 0; o < out; o++) {
                    REAL go = ga[(long)o * B + b];
                    if (edges) /* the penalty's gradient joins this edge's */
                        go += (REAL)(pc[row * out + o] *
                                     (edges[(row * out + o) * B + b] - pmean[row * out + o]));
                    double vp = go;
                    for (int p = 0; p < w; p++) {
                        mo[(long)p * out + o] += vp;
                        vp *= v;
                    }
                    if (awb)
                        awb[o] += (double)go * base;
                    else
                        g_wb[row * out + o] += go * base;
                    const REAL *e = stack + (1 + o) * n_all + col;
                    REAL der = 0, val = e[(long)k * out * n_all];
                    for (int p = k - 1; p >= 0; p--) {
                        der = der * vr + val;
                        val = val * vr + e[(long)p * out * n_all];
                    }
                    gxv += go * (wb[o] * dsilu + der);
                }
                gx[row * B + b] = edges ? gxv + (REAL)(pwx[row] * (xv - pxmean[row])) : gxv;
            }
            if (awb)
                for (int o = 0; o < out; o++)
                    g_wb[row * out + o] = (REAL)awb[o];
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
