#!/usr/bin/env python3
"""Independent reference for the bootstrap in src/AgentFlow.Experiments/Statistics (SplitMix64 + type-7 percentiles).

Prints the values BootstrapTests asserts; run it after changing the algorithm: python3 bootstrap_reference.py
"""
import math

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def index(self, n):
        return (self.next() * n) >> 64


def percentile(values, p):
    s = sorted(values)
    rank = (len(s) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (rank - lo) * (s[hi] - s[lo])


def mean(values):
    return sum(values) / len(values)


STATS = {"mean": mean, "p50": lambda v: percentile(v, 50), "p95": lambda v: percentile(v, 95)}


def finish(value, stats, confidence):
    tail = (1 - confidence) / 2 * 100
    return value, percentile(stats, tail), percentile(stats, 100 - tail)


def interval(values, kind, resamples, confidence, seed):
    f = STATS[kind]
    r = SplitMix64(seed)
    n = len(values)
    stats = [f([values[r.index(n)] for _ in range(n)]) for _ in range(resamples)]
    return finish(f(values), stats, confidence)


def paired(a, b, kind, resamples, confidence, seed):
    f = STATS[kind]
    r = SplitMix64(seed)
    n = len(a)
    stats = []
    for _ in range(resamples):
        picks = [r.index(n) for _ in range(n)]
        stats.append(f([b[i] for i in picks]) - f([a[i] for i in picks]))
    return finish(f(b) - f(a), stats, confidence)


if __name__ == "__main__":
    r = SplitMix64(1234567)
    print("splitmix64(1234567):", [r.next() for _ in range(3)])
    data = [12.0, 15.0, 9.0, 20.0, 11.0, 14.0, 30.0, 8.0, 13.0, 16.0]
    other = [14.0, 15.0, 12.0, 25.0, 10.0, 18.0, 33.0, 9.0, 15.0, 20.0]
    for kind in ("mean", "p50", "p95"):
        print(kind, "interval:", repr(interval(data, kind, 1000, 0.95, 42)))
    print("mean paired:", repr(paired(data, other, "mean", 1000, 0.95, 7)))
    print("p50 paired:", repr(paired(data, other, "p50", 1000, 0.95, 7)))
