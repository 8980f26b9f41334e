/* A small plain KAN's whole loss-and-gradient evaluation in one call (kan_evaluate_d /
 * _f, for compiled_eval.Plan), for one float type: included twice by _hidden.c after
 * _hidden_impl.h (whose layer loops it calls), with REAL, EXP, FMA and NAME(x) defined. */

/* sum_b u_b v_b in double, in 8 partial sums (vectorizable without reassociation: every
 * CPU version adds in the same order) */
KANRUN_CLONES
static double NAME(dot)(const REAL *u, const REAL *v, int B)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int b = 0;
    for (; b + 8 <= B; b += 8)
        for (int j = 0; j < 8; j++)
            acc[j] = fma((double)u[b + j], (double)v[b + j], acc[j]);
    double t = 0;
    for (; b < B; b++)
        t = fma((double)u[b], (double)v[b], t);
    for (int j = 0; j < 8; j++)
        t += acc[j];
    return t;
}

/* y (out, B) = w0 (out, R) f (R, B), each sum taken over r in order (as y = 0, then
 * y += w0[., r] f[r] for r = 0, 1, ...), in register tiles of 4 outputs x 32 points so that
 * every row of f is loaded once per 4 outputs. */
KANRUN_CLONES
static void NAME(first_product)(int out, int R, int B, const REAL *restrict w0,
                                const REAL *restrict f, REAL *restrict y)
{
    enum { TB = 32, OB = 4 };
    for (int b0 = 0; b0 < B; b0 += TB) {
        const int nb = B - b0 < TB ? B - b0 : TB;
        int o0 = 0;
        if (nb == TB)
            for (; o0 + OB <= out; o0 += OB) {
                REAL acc[OB][TB];
                for (int q = 0; q < OB; q++)
                    for (int j = 0; j < TB; j++)
                        acc[q][j] = 0;
                for (int r = 0; r < R; r++) {
                    const REAL *fr = f + (long)r * B + b0;
                    for (int q = 0; q < OB; q++) {
                        const REAL wv = w0[(long)(o0 + q) * R + r];
                        for (int j = 0; j < TB; j++)
                            acc[q][j] = FMA(wv, fr[j], acc[q][j]);
                    }
                }
                for (int q = 0; q < OB; q++)
                    for (int j = 0; j < TB; j++)
                        y[(long)(o0 + q) * B + b0 + j] = acc[q][j];
            }
        for (; o0 < out; o0++) { /* the outputs left over, and the last partial tile */
            REAL *yo = y + (long)o0 * B + b0;
            for (int j = 0; j < nb; j++)
                yo[j] = 0;
            for (int r = 0; r < R; r++) {
                const REAL wv = w0[(long)o0 * R + r];
                const REAL *fr = f + (long)r * B + b0;
                for (int j = 0; j < nb; j++)
                    yo[j] = FMA(wv, fr[j], yo[j]);
            }
        }
    }
}

/* dot(u, v_q) for four rows v_q = v + q * B at once (each summed exactly as NAME(dot)
 * sums: 8 partial sums, the tail, then the partial sums), so u is loaded once for four. */
KANRUN_CLONES
static void NAME(dot4)(const REAL *restrict u, const REAL *restrict v, int B, double *out)
{
    double acc[4][8];
    for (int q = 0; q < 4; q++)
        for (int j = 0; j < 8; j++)
            acc[q][j] = 0;
    int b = 0;
    for (; b + 8 <= B; b += 8)
        for (int q = 0; q < 4; q++)
            for (int j = 0; j < 8; j++)
                acc[q][j] = fma((double)u[b + j], (double)v[(long)q * B + b + j], acc[q][j]);
    for (int q = 0; q < 4; q++) {
        double t = 0;
        for (int c = b; c < B; c++)
            t = fma((double)u[c], (double)v[(long)q * B + c], t);
        for (int j = 0; j < 8; j++)
            t += acc[q][j];
        out[q] = t;
    }
}

/* The parameter gradients of member a of a layer from its spline-weight gradient gwsp
 * (in, out, nb) and base-weight gradient gwb (in, out), both double. */
static void NAME(param_grads)(const kan_layer *L, int a, const double *gwsp, const double *gwb)
{
    const int in = L->in, out = L->out, nb = L->nb;
    const long e0 = (long)a * in * out;
    const REAL *coef = (const REAL *)L->coef + e0 * nb, *mask = (const REAL *)L->mask + e0;
    const REAL *spm = (const REAL *)L->spmask + e0;
    for (int e = 0; e < in * out; e++) {
        const double *g = gwsp + (long)e * nb;
        if (L->d_coef) {
            double *d = L->d_coef + a * L->dstride + (long)e * nb;
            for (int j = 0; j < nb; j++)
                d[j] = g[j] * (double)spm[e];
        }
        if (L->d_sp) {
            double t = 0;
            for (int j = 0; j < nb; j++)
                t += g[j] * (double)coef[(long)e * nb + j];
            L->d_sp[a * L->dstride + e] = t * (double)mask[e];
        }
        if (L->d_sb)
            L->d_sb[a * L->dstride + e] = gwb[e] * (double)mask[e];
    }
}

/* sp * mask and sb * mask of every edge of a layer. */
static void NAME(edge_scales)(kan_layer *L, int m)
{
    const long n = (long)m * L->in * L->out;
    const REAL *sp = L->sp, *sb = L->sb, *mask = L->mask;
    REAL *spm = L->spmask, *wb = L->wbase;
    for (long e = 0; e < n; e++) {
        spm[e] = sp[e] * mask[e];
        wb[e] = sb[e] * mask[e];
    }
}

/* Loss, penalty and gradients of m plain models of n_layers layers (fastpath_numpy's
 * BatchedCore.evaluate in one call). Layer 0 is one product of its weights with the fixed
 * features first (m, in0 * (nb0 + 1), B); every later layer runs hidden_forward/backward
 * on its per-interval polynomials. target (m, out, B). Writes mse (m,); with lamb (m,)
 * non-NULL also reg (m,) (cov (m, in0, f, f) and sx0 (m, in0) describe the first layer's
 * features, f = nb0 + 1). total (m,) = mse + lamb reg. With grad == 0 only the forward
 * pass and mse (the test loss). y (m, out, B): the models' outputs. */
void NAME(kan_evaluate)(int m, int n_layers, int B, kan_layer *layers, const REAL *first,
                        const REAL *target, const double *lamb, double l1, double ent,
                        const double *cov, const double *sx0, int grad, double *mse,
                        double *reg, double *total, REAL *y)
{
    kan_layer *L0 = &layers[0];
    const int in0 = L0->in, out0 = L0->out, nb0 = L0->nb, R = in0 * (nb0 + 1);
    const int penalized = grad && lamb != NULL;
    for (int l = 0; l < n_layers; l++)
        NAME(edge_scales)(&layers[l], m);
    /* forward: layer 0 */
    REAL *y0 = n_layers > 1 ? (REAL *)layers[1].x : y;
    for (int a = 0; a < m; a++) {
        REAL *w0 = L0->w0;
        const long e0 = (long)a * in0 * out0;
        const REAL *coef = (const REAL *)L0->coef + e0 * nb0;
        const REAL *spm = (const REAL *)L0->spmask + e0, *wb = (const REAL *)L0->wbase + e0;
        for (int i = 0; i < in0; i++)
            for (int o = 0; o < out0; o++) {
                const long e = (long)i * out0 + o;
                for (int j = 0; j < nb0; j++)
                    w0[(long)o * R + i * nb0 + j] = coef[e * nb0 + j] * spm[e];
                w0[(long)o * R + in0 * nb0 + i] = wb[e];
            }
        NAME(first_product)(out0, R, B, w0, first + (long)a * R * B, y0 + (long)a * out0 * B);
    }
    /* forward: the later layers */
    for (int l = 1; l < n_layers; l++) {
        kan_layer *L = &layers[l];
        const int in = L->in, out = L->out, nb = L->nb, w = L->w, k = w - 1;
        const int n_cols = L->nk + 1;
        const long n_all = (long)m * in * n_cols;
        const REAL *coef = L->coef, *spm = L->spmask, *poly = L->poly;
        REAL *stack = L->stack;
        for (long row = 0; row < (long)m * in; row++)
            for (int s = 0; s < n_cols; s++) {
                const REAL *P = poly + (row * n_cols + s) * w * w; /* P[p * w + r] */
                for (int o = 0; o < out; o++) {
                    const long e = row * out + o;
                    for (int p = 0; p < w; p++) {
                        REAL v = 0;
                        for (int r = 0; r < w; r++) {
                            const int j = s + r - k - 1;
                            if (j >= 0 && j < nb)
                                v += P[p * w + r] * (coef[e * nb + j] * spm[e]);
                        }
                        stack[(1 + (long)p * out + o) * n_all + row * n_cols + s] = v;
                    }
                }
            }
        REAL *yl = l + 1 < n_layers ? (REAL *)layers[l + 1].x : y;
        NAME(hidden_forward)(m, in, out, B, w, L->nk, L->x, L->knots, stack, L->wbase, yl,
                             L->cols, L->sigs, penalized ? L->edges : NULL);
    }
    /* loss */
    kan_layer *last = &layers[n_layers - 1];
    const int out = last->out;
    const long count = (long)out * B;
    const REAL scale = (REAL)(2.0 / (double)count);
    for (int a = 0; a < m; a++) {
        REAL *ya = y + (long)a * count;
        const REAL *ta = target + (long)a * count;
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, t = 0;
        long q = 0;
        for (; q + 8 <= count; q += 8)
            for (int j = 0; j < 8; j++) {
                const REAL r = ya[q + j] - ta[q + j];
                acc[j] += (double)r * (double)r;
            }
        for (; q < count; q++) {
            const REAL r = ya[q] - ta[q];
            t += (double)r * (double)r;
        }
        for (int j = 0; j < 8; j++)
            t += acc[j];
        mse[a] = t / (double)count;
        total[a] = mse[a];
        if (grad) {
            REAL *g = (REAL *)last->gout + (long)a * count;
            for (q = 0; q < count; q++)
                g[q] = (ya[q] - ta[q]) * scale;
        }
    }
    if (!grad)
        return;
    /* penalty */
    if (penalized) {
        const int f = nb0 + 1;
        for (int a = 0; a < m; a++) {
            const long e0 = (long)a * in0 * out0;
            const REAL *coef = (const REAL *)L0->coef + e0 * nb0;
            const REAL *spm = (const REAL *)L0->spmask + e0, *wb = (const REAL *)L0->wbase + e0;
            for (long e = 0; e < (long)in0 * out0; e++) {
                double *wt = L0->weights + (e0 + e) * f;
                for (int j = 0; j < nb0; j++)
                    wt[j] = (double)(coef[e * nb0 + j] * spm[e]);
                wt[nb0] = (double)wb[e];
            }
        }
        first_penalty(m, in0, out0, f, cov, L0->weights, sx0, lamb, l1, ent, reg, L0->gw,
                      L0->pwork);
        for (int l = 1; l < n_layers; l++) {
            kan_layer *L = &layers[l];
            const long io = (long)L->in * L->out;
            NAME(hidden_penalty)(m, L->in, L->out, B, L->x, L->edges, lamb, l1, ent, reg,
                                 L->pc, L->pmean, L->pwx, L->pxmean, L->pwork,
                                 L->pwork + io, L->pwork + 2 * io);
        }
        for (int a = 0; a < m; a++)
            total[a] = mse[a] + lamb[a] * reg[a];
    }
    /* backward: the later layers */
    for (int l = n_layers - 1; l >= 1; l--) {
        kan_layer *L = &layers[l];
        const int in = L->in, out = L->out, nb = L->nb, w = L->w, n_cols = L->nk + 1;
        NAME(hidden_backward)(m, in, out, B, w, L->nk, L->x, L->cols, L->sigs, L->stack,
                              L->wbase, L->gout, penalized ? L->edges : NULL, L->pc,
                              L->pmean, L->pwx, L->pxmean, L->moments, L->g_wb,
                              layers[l - 1].gout);
        const long cw = (long)n_cols * w, mw = (long)w * out;
        for (int a = 0; a < m; a++) {
            for (int i = 0; i < in; i++) {
                const long row = (long)a * in + i;
                const double *G = L->gather + row * nb * cw;
                const double *M = L->moments + row * n_cols * mw; /* M[c * out + o] */
                for (int o = 0; o < out; o++)
                    for (int j = 0; j < nb; j++) {
                        double t = 0;
                        for (long c = 0; c < cw; c++)
                            t += G[j * cw + c] * M[c * out + o];
                        L->gwsp[((row * out) + o) * nb + j] = t;
                    }
                for (int o = 0; o < out; o++)
                    L->gw[row * out + o] = (double)((const REAL *)L->g_wb)[row * out + o];
            }
            NAME(param_grads)(L, a, L->gwsp + (long)a * in * out * nb,
                              L->gw + (long)a * in * out);
        }
    }
    /* backward: layer 0 */
    for (int a = 0; a < m; a++) {
        const REAL *fa = first + (long)a * R * B;
        const REAL *ga = (const REAL *)L0->gout + (long)a * out0 * B;
        double *gwsp = L0->gwsp + (long)a * in0 * out0 * nb0;
        double *gwb = L0->gwsp + (long)m * in0 * out0 * nb0; /* scratch after the members */
        for (int o = 0; o < out0; o++) {
            const REAL *go = ga + (long)o * B;
            for (int r = 0; r < R; r += 4) { /* feature row r: basis (i, j) or silu i */
                double d[4];
                const int n = R - r < 4 ? R - r : 4;
                if (n == 4)
                    NAME(dot4)(go, fa + (long)r * B, B, d);
                else
                    for (int q = 0; q < n; q++)
                        d[q] = NAME(dot)(go, fa + (long)(r + q) * B, B);
                for (int q = 0; q < n; q++) {
                    const int row = r + q;
                    if (row < in0 * nb0) {
                        const int i = row / nb0, j = row % nb0;
                        gwsp[((long)i * out0 + o) * nb0 + j] = d[q];
                    } else {
                        gwb[(long)(row - in0 * nb0) * out0 + o] = d[q];
                    }
                }
            }
        }
        if (penalized) /* the penalty's gradient, weights laid out (in, out, nb + 1) */
            for (long e = 0; e < (long)in0 * out0; e++) {
                const double *pen = L0->gw + ((long)a * in0 * out0 + e) * (nb0 + 1);
                for (int j = 0; j < nb0; j++)
                    gwsp[e * nb0 + j] += pen[j];
                gwb[e] += pen[nb0];
            }
        NAME(param_grads)(L0, a, gwsp, gwb);
    }
}
