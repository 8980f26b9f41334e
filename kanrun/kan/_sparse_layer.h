/* The sparse layer of large float32 layers on equally spaced knots (kanrun/kan/sparse.py).
 *
 * A point x of input i lies in one knot interval, where only k + 1 of the layer's n_basis
 * B-splines are non-zero: the dense basis (in * n_basis, batch) the GEMM path multiplies is
 * mostly zeros (n_basis = G + k, so 1 - (k + 1) / (G + k) of its entries). Here every
 * (point, input) adds its k + 1 basis values times k + 1 consecutive rows of the layer's
 * weights, plus silu(x) times the base row: (k + 2) / (n_basis + 1) of the GEMM's multiply-
 * adds. On equally spaced knots the k + 1 values are the cardinal polynomials of the
 * position u in the interval (coefficients C[p][r] from spline.cardinal_fractions), so
 * nothing is searched or stored: the backward recomputes them from x.
 *
 * Layout: xt (in, batch) feature-major as the layers hold it; the weights
 * w (in, nb + 1, op): input i's nb spline rows coef * scale_sp * mask then its base row
 * scale_base * mask, each op >= out floats (zero-padded to whole vectors); the forward
 * writes yt (out, batch); the backward takes gyt (out, batch) and writes the parameter
 * gradients and, when asked, d loss / d x (in, batch).
 *
 * Each input's points are sorted by their window (the first of their k + 1 rows, a counting
 * sort); per window its k + 1 weight rows (or gradient rows) stay in registers while the
 * window's points go by, so the loops run at the FMA units' pace instead of their loads'.
 * Outputs go in chunks of up to 4 AVX-512 vectors; the forward takes the points in groups
 * whose outputs stay in the L1 cache.
 *
 * Threads: the forward splits the points, the backward the inputs (so that no two threads
 * add into the same gradient row). Built for x86-64 with GCC; used where the CPU has
 * AVX-512F (sparse_available_f) and 2 <= k <= 5 (kanrun/kan/sparse.py checks); elsewhere
 * the GEMM paths serve every layer. */
#include <pthread.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define SP_AVX512 1
#endif

#ifdef SP_AVX512

#define SP_MAX_W 8    /* k + 1 at most */
#define SP_THREADS 64 /* at most */

typedef struct {
    int in, out, op, batch, k, nb;
    const float *xt, *t0, *inv_h, *poly; /* poly (k + 1, k + 1): [p][r] */
    const float *coef, *sb, *sp, *mask;  /* (in, out, nb), (in, out) x 3 */
    float *w;                            /* (in, nb + 1, op) */
    float *yt;                           /* forward: (out, batch) */
    float *g;                            /* backward: gyt as (batch, op) */
    const float *gyt;                    /* (out, batch) */
    float *g_coef, *g_sb, *g_sp, *gx;    /* gradients; gx (in, batch) or NULL */
    int lo, hi;                          /* this thread's share */
    int failed;                          /* a work array could not be allocated */
} sp_job;

/* One input's basis tables for cnt points, and its points sorted by window. */
typedef struct {
    int32_t *ws;    /* first weight row of the k + 1 (window start), 0 .. nb - 1 - k */
    float *v, *dv;  /* (k + 1) rows of cnt: the basis values in window order; slopes */
    float *sl, *ds; /* silu(x) and its slope */
    float *u;       /* cnt work */
    int *order, *start, *next; /* points by window; each window's first in order */
} sp_tables;

static void sp_tables_free(sp_tables *t)
{
    free(t->ws);
    free(t->order);
}

static int sp_tables_alloc(sp_tables *t, int k, int cnt, int windows, int slopes)
{
    const size_t n = (size_t)cnt, w = (size_t)k + 1;
    float *mem = malloc(sizeof(float) * (n * (slopes ? 2 * w + 4 : w + 3)));
    int *idx = malloc(sizeof(int) * (n + 16 + 2 * (size_t)windows + 2)); /* 16: sp_sort */
    if (mem == NULL || idx == NULL) {
        free(mem);
        free(idx);
        return 0;
    }
    t->ws = (int32_t *)mem;
    t->v = mem + n;
    t->sl = t->v + n * w;
    t->u = t->sl + n;
    t->dv = slopes ? t->u + n : NULL;
    t->ds = slopes ? t->dv + n * w : NULL;
    t->order = idx;
    t->start = idx + n + 16;
    t->next = t->start + windows + 1;
    return 1;
}

/* The tables of input i for the points n0 .. n0 + cnt - 1. */
KANRUN_CLONES
static void sp_table(const sp_job *J, const sp_tables *t, int i, int n0, int cnt)
{
    const int k = J->k, w = k + 1, nb = J->nb, last = nb - 1 - k;
    const float *x = J->xt + (size_t)i * J->batch + n0;
    const float t0 = J->t0[i], ih = J->inv_h[i], top = (float)(nb + k);
    int32_t *ws = t->ws;
    float *u = t->u, *sl = t->sl;
    int edge = 0; /* points whose window needs shifting (below) */
    for (int n = 0; n < cnt; n++) {
        float z = (x[n] - t0) * ih;
        z = z > -1.0f ? z : -1.0f; /* NaN too: outside the knots */
        z = z < top ? z : top;
        const float f = floorf(z);
        const int32_t s0 = (int32_t)f - k;
        ws[n] = s0;
        u[n] = z - f;
        edge += (s0 < 0) | (s0 > last);
    }
    for (int r = 0; r < w; r++) {
        float *vr = t->v + (size_t)r * cnt;
        const float ck = J->poly[k * w + r];
        for (int n = 0; n < cnt; n++)
            vr[n] = ck;
        for (int p = k - 1; p >= 0; p--) {
            const float c = J->poly[p * w + r];
            for (int n = 0; n < cnt; n++)
                vr[n] = vr[n] * u[n] + c;
        }
        if (t->dv != NULL) { /* d/dx = (d/du) / h */
            float *dr = t->dv + (size_t)r * cnt;
            const float dk = (float)k * J->poly[k * w + r];
            for (int n = 0; n < cnt; n++)
                dr[n] = dk;
            for (int p = k - 1; p >= 1; p--) {
                const float c = (float)p * J->poly[p * w + r];
                for (int n = 0; n < cnt; n++)
                    dr[n] = dr[n] * u[n] + c;
            }
            for (int n = 0; n < cnt; n++)
                dr[n] *= ih;
        }
    }
    for (int n = 0; n < cnt; n++) {
        const float sg = 1.0f / (1.0f + exp_f(-x[n]));
        sl[n] = x[n] * sg;
        u[n] = sg;
    }
    if (t->ds != NULL) {
        float *ds = t->ds;
        for (int n = 0; n < cnt; n++)
            ds[n] = u[n] * (1.0f + x[n] * (1.0f - u[n]));
    }
    /* the first and last k intervals hold fewer than k + 1 of the layer's B-splines, and a
     * point outside the knots none: shift the values into a window of real rows */
    for (int n = 0; edge > 0 && n < cnt; n++) {
        const int s0 = ws[n];
        if (s0 >= 0 && s0 <= last)
            continue;
        const int s = s0 + k, inside = s >= 0 && s < nb + k;
        const int start = s0 < 0 ? 0 : last, d = s0 - start; /* row s0 + r = start + r + d */
        for (int pass = 0; pass < 2; pass++) {
            float *arr = pass ? t->dv : t->v;
            if (arr == NULL)
                continue;
            arr += n;
            float old[SP_MAX_W];
            for (int r = 0; r < w; r++)
                old[r] = arr[(size_t)r * cnt];
            for (int q = 0; q < w; q++) {
                const int r = q - d;
                arr[(size_t)q * cnt] = inside && r >= 0 && r < w ? old[r] : 0.0f;
            }
        }
        ws[n] = start;
    }
}

/* ---- forward: yt = sum over inputs of the k + 1 weight rows times the basis values plus
 * the base row times silu(x), for this thread's points ---- */

/* The table's points sorted by window start (ascending points within a window):
 * t->order and t->start (windows + 1 entries). Few windows (the usual grids): one pass
 * of compares per window, the matching points compressed into place 16 at a time;
 * many: a counting sort. */
__attribute__((target("avx512f"))) static void sp_sort(const sp_tables *t, int windows,
                                                        int cnt)
{
    int *start = t->start;
    if (windows <= 24) {
        const __m512i step = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2,
                                              1, 0);
        int pos = 0;
        for (int b = 0; b < windows; b++) {
            start[b] = pos;
            const __m512i key = _mm512_set1_epi32(b);
            int n = 0;
            for (; n + 16 <= cnt; n += 16) {
                const __mmask16 hit = _mm512_cmpeq_epi32_mask(
                    _mm512_loadu_si512((const void *)(t->ws + n)), key);
                const __m512i ids = _mm512_add_epi32(_mm512_set1_epi32(n), step);
                _mm512_storeu_si512((void *)(t->order + pos),
                                    _mm512_maskz_compress_epi32(hit, ids));
                pos += __builtin_popcount((unsigned)hit);
            }
            for (; n < cnt; n++)
                if (t->ws[n] == b)
                    t->order[pos++] = n;
        }
        start[windows] = pos;
        return;
    }
    memset(start, 0, sizeof(int) * (windows + 1));
    for (int n = 0; n < cnt; n++)
        start[t->ws[n] + 1]++;
    for (int b = 0; b < windows; b++)
        start[b + 1] += start[b];
    memcpy(t->next, start, sizeof(int) * windows);
    for (int n = 0; n < cnt; n++)
        t->order[t->next[t->ws[n]]++] = n;
}

/* ---- the three loops, for W = k + 1 basis rows and NV output vectors (16 floats) held in
 * registers: per window, its W weight rows (or gradient rows) stay in registers while the
 * window's points go by ---- */

/* the W weight rows of window b of one input (wi: its first row at this output chunk) */
static inline __attribute__((always_inline, target("avx512f"))) void
sp_window_rows(const int W, const int NV, const float *wi, int b, int op, __m512 rows[8][4])
{
#pragma GCC unroll 8
    for (int r = 0; r < W; r++)
#pragma GCC unroll 4
        for (int q = 0; q < NV; q++)
            rows[r][q] = _mm512_loadu_ps(wi + (size_t)(b + r) * op + 16 * q);
}

/* forward: y[n] += sum_r v[r][n] w[ws + r] + silu[n] w[base], the points of one input */
static inline __attribute__((always_inline, target("avx512f"))) void
sp_forward_rows(const int W, const int NV, const sp_job *J, const sp_tables *t, int i,
                int cnt, int oc, float *y)
{
    const int nb = J->nb, op = J->op, windows = nb - J->k;
    const float *wi = J->w + (size_t)i * (nb + 1) * op + oc;
    __m512 base[4], rows[8][4];
#pragma GCC unroll 4
    for (int q = 0; q < NV; q++)
        base[q] = _mm512_loadu_ps(wi + (size_t)nb * op + 16 * q);
    for (int b = 0; b < windows; b++) {
        const int e0 = t->start[b], e1 = t->start[b + 1];
        if (e0 == e1)
            continue;
        sp_window_rows(W, NV, wi, b, op, rows);
        for (int e = e0; e < e1; e++) {
            const int n = t->order[e];
            float *yr = y + (size_t)n * op + oc;
            __m512 acc[4];
            const __m512 c = _mm512_set1_ps(t->sl[n]);
#pragma GCC unroll 4
            for (int q = 0; q < NV; q++)
                acc[q] = _mm512_fmadd_ps(c, base[q], _mm512_loadu_ps(yr + 16 * q));
#pragma GCC unroll 8
            for (int r = 0; r < W; r++) {
                const __m512 v = _mm512_set1_ps(t->v[(size_t)r * cnt + n]);
#pragma GCC unroll 4
                for (int q = 0; q < NV; q++)
                    acc[q] = _mm512_fmadd_ps(v, rows[r][q], acc[q]);
            }
#pragma GCC unroll 4
            for (int q = 0; q < NV; q++)
                _mm512_storeu_ps(yr + 16 * q, acc[q]);
        }
    }
}

/* backward: the gradient rows gw (nb + 1, op) of one input gather its points' values
 * times their output gradients g[n] */
static inline __attribute__((always_inline, target("avx512f"))) void
sp_grad_rows(const int W, const int NV, const sp_job *J, const sp_tables *t, int cnt, int oc,
             float *gw)
{
    const int nb = J->nb, op = J->op, windows = nb - J->k;
    __m512 base[4], rows[8][4];
#pragma GCC unroll 4
    for (int q = 0; q < NV; q++)
        base[q] = _mm512_setzero_ps();
    for (int b = 0; b < windows; b++) {
        const int e0 = t->start[b], e1 = t->start[b + 1];
        if (e0 == e1)
            continue;
#pragma GCC unroll 8
        for (int r = 0; r < W; r++)
#pragma GCC unroll 4
            for (int q = 0; q < NV; q++)
                rows[r][q] = _mm512_setzero_ps();
        for (int e = e0; e < e1; e++) {
            const int n = t->order[e];
            const float *gr = J->g + (size_t)n * op + oc;
            __m512 g[4];
#pragma GCC unroll 4
            for (int q = 0; q < NV; q++)
                g[q] = _mm512_loadu_ps(gr + 16 * q);
            const __m512 c = _mm512_set1_ps(t->sl[n]);
#pragma GCC unroll 4
            for (int q = 0; q < NV; q++)
                base[q] = _mm512_fmadd_ps(c, g[q], base[q]);
#pragma GCC unroll 8
            for (int r = 0; r < W; r++) {
                const __m512 v = _mm512_set1_ps(t->v[(size_t)r * cnt + n]);
#pragma GCC unroll 4
                for (int q = 0; q < NV; q++)
                    rows[r][q] = _mm512_fmadd_ps(v, g[q], rows[r][q]);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < W; r++)
#pragma GCC unroll 4
            for (int q = 0; q < NV; q++) {
                float *at = gw + (size_t)(b + r) * op + oc + 16 * q;
                _mm512_storeu_ps(at, _mm512_add_ps(_mm512_loadu_ps(at), rows[r][q]));
            }
    }
#pragma GCC unroll 4
    for (int q = 0; q < NV; q++)
        _mm512_storeu_ps(gw + (size_t)nb * op + oc + 16 * q, base[q]);
}

/* backward: d loss / d x of one input's points, from the slopes and the weight rows */
static inline __attribute__((always_inline, target("avx512f"))) void
sp_grad_x(const int W, const int NV, const sp_job *J, const sp_tables *t, int i, int cnt,
          int oc, float *gx)
{
    const int nb = J->nb, op = J->op, windows = nb - J->k;
    const float *wi = J->w + (size_t)i * (nb + 1) * op + oc;
    __m512 base[4], rows[8][4];
#pragma GCC unroll 4
    for (int q = 0; q < NV; q++)
        base[q] = _mm512_loadu_ps(wi + (size_t)nb * op + 16 * q);
    for (int b = 0; b < windows; b++) {
        const int e0 = t->start[b], e1 = t->start[b + 1];
        if (e0 == e1)
            continue;
        sp_window_rows(W, NV, wi, b, op, rows);
        for (int e = e0; e < e1; e++) {
            const int n = t->order[e];
            const float *gr = J->g + (size_t)n * op + oc;
            __m512 a[4];
            const __m512 c = _mm512_set1_ps(t->ds[n]);
#pragma GCC unroll 4
            for (int q = 0; q < NV; q++)
                a[q] = _mm512_mul_ps(c, base[q]);
#pragma GCC unroll 8
            for (int r = 0; r < W; r++) {
                const __m512 d = _mm512_set1_ps(t->dv[(size_t)r * cnt + n]);
#pragma GCC unroll 4
                for (int q = 0; q < NV; q++)
                    a[q] = _mm512_fmadd_ps(d, rows[r][q], a[q]);
            }
            __m512 sum = _mm512_mul_ps(a[0], _mm512_loadu_ps(gr));
#pragma GCC unroll 4
            for (int q = 1; q < NV; q++)
                sum = _mm512_fmadd_ps(a[q], _mm512_loadu_ps(gr + 16 * q), sum);
            gx[n] += _mm512_reduce_add_ps(sum);
        }
    }
}

/* Which loop: 0 forward, 1 gradient rows, 2 input gradient. The output columns go in
 * chunks of at most 4 vectors (3 from W = 6 on, so that the W + 2 vectors of a chunk's
 * rows, outputs and a broadcast stay within the 32 registers). */
#define SP_LOOP(W_, NV_)                                                                \
    do {                                                                                \
        if (which == 0)                                                                 \
            sp_forward_rows(W_, NV_, J, t, i, cnt, oc, out);                            \
        else if (which == 1)                                                            \
            sp_grad_rows(W_, NV_, J, t, cnt, oc, out);                                  \
        else                                                                            \
            sp_grad_x(W_, NV_, J, t, i, cnt, oc, out);                                  \
    } while (0)
#define SP_CHUNKS(W_)                                                                   \
    do {                                                                                \
        for (int oc = 0; oc < J->op; oc += 16 * most) {                                 \
            const int nv = (J->op - oc) / 16 < most ? (J->op - oc) / 16 : most;         \
            if (nv == 4)                                                                \
                SP_LOOP(W_, 4);                                                         \
            else if (nv == 3)                                                           \
                SP_LOOP(W_, 3);                                                         \
            else if (nv == 2)                                                           \
                SP_LOOP(W_, 2);                                                         \
            else                                                                        \
                SP_LOOP(W_, 1);                                                         \
        }                                                                               \
    } while (0)

__attribute__((target("avx512f"))) static void
sp_loops(int which, const sp_job *J, const sp_tables *t, int i, int cnt, float *out)
{
    const int w = J->k + 1, most = w >= 6 ? 3 : 4;
    switch (w) {
    case 3: SP_CHUNKS(3); break;
    case 4: SP_CHUNKS(4); break;
    case 5: SP_CHUNKS(5); break;
    default: SP_CHUNKS(6); break;
    }
}
#undef SP_LOOP
#undef SP_CHUNKS

static void *sp_forward_job(void *arg)
{
    sp_job *J = arg;
    const int op = J->op, windows = J->nb - J->k;
    if (J->hi <= J->lo)
        return NULL;
    /* points go in groups whose outputs (group x op floats) stay in the L1 cache */
    int group = 8192 / op;
    group = group < 16 ? 16 : (group > 256 ? 256 : group);
    const int most = J->hi - J->lo < group ? J->hi - J->lo : group;
    sp_tables t;
    float *y = malloc((size_t)most * op * sizeof(float));
    if (y == NULL || !sp_tables_alloc(&t, J->k, most, windows, 0)) {
        free(y);
        J->failed = 1;
        return NULL;
    }
    for (int n0 = J->lo; n0 < J->hi; n0 += group) {
        const int cnt = n0 + group < J->hi ? group : J->hi - n0;
        memset(y, 0, (size_t)cnt * op * sizeof(float));
        for (int i = 0; i < J->in; i++) {
            sp_table(J, &t, i, n0, cnt);
            sp_sort(&t, windows, cnt);
            sp_loops(0, J, &t, i, cnt, y);
        }
        for (int o = 0; o < J->out; o++) /* to the feature-major result */
            for (int n = 0; n < cnt; n++)
                J->yt[(size_t)o * J->batch + n0 + n] = y[(size_t)n * op + o];
    }
    sp_tables_free(&t);
    free(y);
    return NULL;
}

/* The parameter gradients of input i from its weight-row gradients gw (nb + 1, op). */
static void sp_param_grads(const sp_job *J, int i, const float *gw)
{
    const int out = J->out, nb = J->nb, op = J->op;
    for (int o = 0; o < out; o++) {
        const size_t e = (size_t)i * out + o;
        const float m = J->mask[e], spm = J->sp[e] * m;
        float tot = 0.0f;
        for (int j = 0; j < nb; j++) {
            const float gj = gw[(size_t)j * op + o];
            J->g_coef[e * nb + j] = gj * spm;
            tot += gj * J->coef[e * nb + j];
        }
        J->g_sp[e] = tot * m;
        J->g_sb[e] = gw[(size_t)nb * op + o] * m;
    }
}

static void *sp_backward_job(void *arg)
{
    sp_job *J = arg;
    if (J->hi <= J->lo)
        return NULL;
    const int op = J->op, nb = J->nb, windows = nb - J->k, cnt = J->batch;
    sp_tables t;
    float *gw = malloc((size_t)(nb + 1) * op * sizeof(float));
    if (gw == NULL || !sp_tables_alloc(&t, J->k, cnt, windows, J->gx != NULL)) {
        free(gw);
        J->failed = 1;
        return NULL;
    }
    for (int i = J->lo; i < J->hi; i++) {
        memset(gw, 0, (size_t)(nb + 1) * op * sizeof(float));
        sp_table(J, &t, i, 0, cnt);
        sp_sort(&t, windows, cnt);
        sp_loops(1, J, &t, i, cnt, gw);
        sp_param_grads(J, i, gw);
        if (J->gx != NULL)
            sp_loops(2, J, &t, i, cnt, J->gx + (size_t)i * cnt);
    }
    sp_tables_free(&t);
    free(gw);
    return NULL;
}

/* gyt (out, batch) as g (batch, op), points lo .. hi - 1 */
static void *sp_transpose_job(void *arg)
{
    sp_job *J = arg;
    for (int n0 = J->lo; n0 < J->hi; n0 += 16) {
        const int n1 = n0 + 16 < J->hi ? n0 + 16 : J->hi;
        for (int o = 0; o < J->out; o++)
            for (int n = n0; n < n1; n++)
                J->g[(size_t)n * J->op + o] = J->gyt[(size_t)o * J->batch + n];
    }
    return NULL;
}

/* the weights of inputs lo .. hi - 1 (see the layout above) */
KANRUN_CLONES
static void sp_weights_rows(const sp_job *J)
{
    const int out = J->out, nb = J->nb, op = J->op;
    for (int i = J->lo; i < J->hi; i++) {
        float *wi = J->w + (size_t)i * (nb + 1) * op;
        const float *ci = J->coef + (size_t)i * out * nb, *sp = J->sp + (size_t)i * out,
                    *m = J->mask + (size_t)i * out, *sb = J->sb + (size_t)i * out;
        for (int j = 0; j < nb; j++)
            for (int o = 0; o < out; o++)
                wi[(size_t)j * op + o] = ci[(size_t)o * nb + j] * (sp[o] * m[o]);
        for (int o = 0; o < out; o++)
            wi[(size_t)nb * op + o] = sb[o] * m[o];
        for (int j = 0; j <= nb; j++) /* the pad columns */
            for (int o = out; o < op; o++)
                wi[(size_t)j * op + o] = 0.0f;
    }
}

static void *sp_weights_job(void *arg)
{
    sp_weights_rows(arg);
    return NULL;
}

/* Runs fn on `threads` shares of lo .. hi (threads - 1 new ones, the caller's the first);
 * returns 0 where a share failed. */
static int sp_parallel(const sp_job *base, int threads, int lo, int hi, void *(*fn)(void *))
{
    sp_job jobs[SP_THREADS];
    pthread_t ids[SP_THREADS];
    int started[SP_THREADS] = {0};
    threads = threads < 1 ? 1 : (threads > SP_THREADS ? SP_THREADS : threads);
    if (threads > hi - lo)
        threads = hi - lo > 0 ? hi - lo : 1;
    for (int t = 0; t < threads; t++) {
        jobs[t] = *base;
        jobs[t].lo = lo + (int)((long)(hi - lo) * t / threads);
        jobs[t].hi = lo + (int)((long)(hi - lo) * (t + 1) / threads);
        jobs[t].failed = 0;
    }
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&ids[t], NULL, fn, &jobs[t]) == 0;
    fn(&jobs[0]);
    int ok = !jobs[0].failed;
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            fn(&jobs[t]); /* no thread to be had: this one does its share */
        ok = ok && !jobs[t].failed;
    }
    return ok;
}

/* w from the parameters, pad columns zero */
void sparse_weights_f(int in, int out, int nb, int op, const float *coef, const float *sb,
                      const float *sp, const float *mask, float *w, int threads)
{
    sp_job J = {.in = in, .out = out, .op = op, .nb = nb, .coef = coef, .sb = sb, .sp = sp,
                .mask = mask, .w = w};
    sp_parallel(&J, threads, 0, in, sp_weights_job);
}

/* yt (out, batch) of the layer; returns 0 where memory ran out */
int sparse_forward_f(int in, int out, int op, int batch, int k, int nb, const float *xt,
                     const float *t0, const float *inv_h, const float *poly, const float *w,
                     float *yt, int threads)
{
    sp_job J = {.in = in, .out = out, .op = op, .batch = batch, .k = k, .nb = nb,
                .xt = xt, .t0 = t0, .inv_h = inv_h,
                .poly = poly, .w = (float *)w, .yt = yt};
    return sp_parallel(&J, threads, 0, batch, sp_forward_job);
}

/* The gradients of coef, scale_base and scale_sp, and of x when gx is not NULL (then w
 * is the forward's weights); returns 0 where memory ran out. */
int sparse_backward_f(int in, int out, int op, int batch, int k, int nb, const float *xt,
                      const float *t0, const float *inv_h, const float *poly, const float *w,
                      const float *coef, const float *sp, const float *mask, const float *gyt,
                      float *g_coef, float *g_sb, float *g_sp, float *gx, int threads)
{
    float *g = calloc((size_t)batch * op, sizeof(float));
    if (g == NULL)
        return 0;
    sp_job J = {.in = in, .out = out, .op = op, .batch = batch, .k = k, .nb = nb,
                .xt = xt, .t0 = t0, .inv_h = inv_h,
                .poly = poly, .w = (float *)w, .coef = coef, .sp = sp, .mask = mask,
                .g = g, .gyt = gyt, .g_coef = g_coef, .g_sb = g_sb, .g_sp = g_sp, .gx = gx};
    sp_parallel(&J, threads, 0, batch, sp_transpose_job);
    if (gx != NULL)
        memset(gx, 0, sizeof(float) * (size_t)in * batch);
    const int ok = sp_parallel(&J, threads, 0, in, sp_backward_job);
    free(g);
    return ok;
}

/* whether the sparse layer is built in and this CPU has AVX-512 */
int sparse_available_f(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

#else /* not an x86-64 GCC build: no sparse layer (kanrun uses the GEMM paths) */

int sparse_available_f(void) { return 0; }
void sparse_weights_f(int in, int out, int nb, int op, const float *coef, const float *sb,
                      const float *sp, const float *mask, float *w, int threads) {}
int sparse_forward_f(int in, int out, int op, int batch, int k, int nb, const float *xt,
                     const float *t0, const float *inv_h, const float *poly, const float *w,
                     float *yt, int threads) { return 0; }
int sparse_backward_f(int in, int out, int op, int batch, int k, int nb, const float *xt,
                      const float *t0, const float *inv_h, const float *poly, const float *w,
                      const float *coef, const float *sp, const float *mask, const float *gyt,
                      float *g_coef, float *g_sb, float *g_sp, float *gx, int threads)
{
    return 0;
}
#endif
