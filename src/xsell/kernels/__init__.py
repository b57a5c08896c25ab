"""Compiled kernels (numba) for the paths where numpy's per-call overhead is the cost: one request,
one basket of a batch, one validation pass over a loaded file.

Every kernel is imported lazily (never by `import xsell`), compiled once and cached on disk
(`cache=True`), and takes only plain numpy arrays and scalars. A kernel never trusts an index it did
not check, unless the array it reads was validated when the model was built or loaded.
"""
