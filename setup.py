"""The one compiled piece of kanrun (optional: without a C compiler kanrun installs without
it and uses its NumPy operations instead). Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("kanrun.kan._hidden", ["kanrun/kan/_hidden.c"],
                             depends=["kanrun/kan/_hidden_impl.h", "kanrun/kan/_evaluate_impl.h",
                                      "kanrun/kan/_spline_loops.h", "kanrun/kan/_sparse_layer.h"],
                             # -ffp-contract=off: no implicit fused multiply-adds, so that
                             # every CPU-specific version of a loop rounds alike (the
                             # explicit fma() calls are exactly rounded everywhere)
                             extra_compile_args=["-O3", "-fno-trapping-math",
                                                 "-ffp-contract=off", "-pthread"],
                             extra_link_args=["-pthread"], optional=True)])
