"""Tolerances for comparing float32 results.

Two processes, or two code paths, computing the same float32 function agree only to the last
bits: a fresh process's predictions were seen 3.6e-6 away from the in-process ones on one machine
and identical on another. Comparisons of that kind use ``FLOAT32``: about 80 ulps relative, plus an
absolute floor for values near zero. It still fails on any real error (a wrong layer, a lost bias,
a missed weight moves outputs by 1e-3 or more).
"""

FLOAT32 = {"rtol": 1e-5, "atol": 1e-5}
