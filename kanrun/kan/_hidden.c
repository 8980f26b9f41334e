/* Compiled loops for fastpath_numpy (the layers after the first of small plain KANs),
 * called through ctypes; the NumPy operations remain the fallback where this extension
 * was not built. It is a Python extension module only so that it installs and is found
 * like one: it defines no Python functions. */
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define REAL double
#define EXP exp
#define NAME(x) x##_d
#include "_hidden_impl.h"
#undef REAL
#undef EXP
#undef NAME

#define REAL float
#define EXP expf
#define NAME(x) x##_f
#include "_hidden_impl.h"
#undef REAL
#undef EXP
#undef NAME

int kanrun_hidden_abi(void) { return 1; }

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hidden", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__hidden(void) { return PyModule_Create(&module); }
