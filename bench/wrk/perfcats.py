#!/usr/bin/env python3
"""Where a gateway's CPU goes (docs/benchmarks.md, issue 15): reads `perf script -F ip,sym`
of a `perf record -g` of the gateway on stdin and attributes each sample to the first category
whose pattern matches a frame of its stack; prints each category's share
(and, given the gateway's CPU µs per request as the argument, its µs per request).
Usage: perf script -F ip,sym -i perf.data | bench/wrk/perfcats.py [US_PER_REQUEST]"""
import sys, re, collections
# (category, pattern of a frame), in order: a sample counts for the first that matches.
PATH = [
 ("http: write the answer (finishRequest, incl. kernel TCP send)", r"net/http\.\(\*response\)\.finishRequest"),
 ("http: background read / its abort", r"backgroundRead|abortPendingRead|startBackgroundRead"),
 ("auth (key hash, cache)", r"tenancy\.\(\*CachedAuthenticator\)"),
 ("decode + validate", r"decode\.\(\*Validator\)\.Decode"),
 ("read body", r"ingest\.\(\*Handler\)\.readBody"),
 ("rate limit + lookup (request side, incl. wait)", r"ingest\.\(\*Service\)\.admit"),
 ("marker save (request side, incl. wait)", r"ingest\.\(\*Service\)\.saveMarkers"),
 ("produce (request side: records, ProduceAll, wait)", r"ingest\.\(\*Service\)\.produce"),
 ("answer (headers, JSON) before the write", r"ingest\.\(\*Handler\)\.respond|ingest\.setRateHeaders"),
 ("ingest handler, rest", r"ingest\.\(\*Handler\)\.ingest$|ingest\.\(\*Service\)\.Ingest"),
 ("gin + middleware (request id, metrics, recovery, gate), rest", r"gin\.\(\*Engine\)\.ServeHTTP"),
 ("http: read and parse the request", r"net/http\.\(\*conn\)\.readRequest|bufio\.\(\*Reader\)\.Peek"),
 ("http: conn loop, rest (deadlines, state)", r"net/http\.\(\*conn\)\.serve"),
 ("redis client goroutines + rate-limit batch sender", r"go-redis|ingest\.\(\*buckets\)\.send"),
 ("franz-go goroutines (produce requests, acks, lz4)", r"franz-go"),
 ("GC", r"gcBgMarkWorker|gcDrain|bgsweep|bgscavenge|gcAssist"),
 ("runtime: sysmon", r"runtime\.sysmon"),
 ("runtime: scheduler (park, findRunnable, netpoll)", r"runtime\.(mcall|park_m|schedule|findRunnable|goexit0|mstart)"),
]
cnt = collections.Counter(); total = 0
stack = []
def flush():
    global total
    if not stack: return
    total += 1
    frames = list(reversed(stack))  # outermost first
    for cat, rx in PATH:
        r = re.compile(rx)
        if any(r.search(f) for f in frames):
            cnt[cat] += 1; return
    cnt["other"] += 1
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        flush(); stack = []; continue
    if line[0] not in " \t":
        flush(); stack = []; continue
    parts = line.strip().split(None, 1)
    if len(parts) == 2:
        stack.append(re.sub(r"\+0x[0-9a-f]+.*$", "", parts[1]))
flush()
us = float(sys.argv[1]) if len(sys.argv) > 1 else 0
for cat, n in cnt.most_common():
    print(f"{100*n/total:5.1f}%  {us*n/total:6.1f} µs  {cat}")
print(f"samples {total}")
