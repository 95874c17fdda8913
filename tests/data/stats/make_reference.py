#!/usr/bin/env python3
"""Reference values for tests/unit/test_stats.c, computed independently of
the C code with Python's standard library only: exact rational arithmetic
(fractions) for Fisher's test, brute-force pair counting for AUROC, plain
sums for ECE and Brier. Run: python3 make_reference.py > reference.json"""
import json, math
from fractions import Fraction

def comb(n, k):
    return math.comb(n, k) if 0 <= k <= n else 0

def fisher_greater(a, b, c, d):
    r, col, n = a + b, a + c, a + b + c + d
    den = comb(n, r)
    if den == 0:
        return 1.0
    p = sum(Fraction(comb(col, x) * comb(n - col, r - x), den) for x in range(a, min(r, col) + 1))
    return float(min(p, 1))

def wilson(k, n, z=1.959963984540054):
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [max(0.0, c - h), min(1.0, c + h)]

def auroc(s, pos):
    P = [x for x, y in zip(s, pos) if y]
    N = [x for x, y in zip(s, pos) if not y]
    w = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in P for q in N)
    return w / (len(P) * len(N))

def calib(conf, cor, bins=10):
    n = len(conf)
    brier = sum((c - y) ** 2 for c, y in zip(conf, cor)) / n
    ece = 0.0
    for b in range(bins):
        idx = [i for i, c in enumerate(conf) if min(int(c * bins), bins - 1) == b]
        if idx:
            mc = sum(conf[i] for i in idx) / len(idx)
            ma = sum(cor[i] for i in idx) / len(idx)
            ece += len(idx) / n * abs(ma - mc)
    return ece, brier

conf = [0.95, 0.9, 0.85, 0.8, 0.72, 0.66, 0.6, 0.55, 0.41, 0.3, 0.22, 0.15, 0.9, 0.5, 0.5, 1.0]
cor = [1, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1]
ece, brier = calib(conf, cor)
out = {
    "fisher_greater": [
        {"table": t, "p": fisher_greater(*t)}
        for t in ([3, 1, 1, 3], [10, 2, 3, 15], [0, 5, 5, 0], [7, 3, 7, 3], [20, 5, 12, 13], [1, 0, 0, 1], [15, 2, 40, 43])
    ],
    "wilson95": [{"k": k, "n": n, "ci": wilson(k, n)} for k, n in ((8, 10), (0, 20), (20, 20), (17, 20), (362, 5083))],
    "auroc": {"score": conf, "positive": cor, "value": auroc(conf, cor)},
    "calibration": {"conf": conf, "correct": cor, "bins": 10, "ece": ece, "brier": brier},
}
print(json.dumps(out, indent=1))
