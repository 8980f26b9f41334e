"""The bottom layer: what both the model library (kanrun.kan) and the datasets (kanrun.data)
need. It imports nothing else of kanrun.

    parse.py   the safe whitelist formula parser: text -> sympy expression
    atomic.py  atomic file writes (a temporary file renamed into place)
    metrics.py the RMSE (NumPy arrays or torch tensors)
    evaluate.py  a sympy expression -> a torch function, node by node (no code generation)
    suggest.py the "did you mean" hint for unknown names
    dtypes.py  the table of floating dtypes by name
"""
