/* B-spline loops of kanrun/kan/spline.py's grid updates (double only), included once by
 * _hidden.c: de Boor's scheme per point, the least-squares normal equations of a spline
 * refit and the per-interval polynomial tables. */

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
