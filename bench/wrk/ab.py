#!/usr/bin/env python3
"""Gateway A/B with wrk (issue 15): start one gateway binary on its own topic
and Redis prefix against the local infrastructure (scripts/env.sh), run wrk
phases, print one JSON line per phase: req/s, events/s, latency and CPU per
component (gateway, Redis, Kafka broker from /proc; wrk from its rusage).
No projector runs. KEY is an ingest key of a tenant with a lifted rate limit
(pulsectl bootstrap, then pulsectl tenants set --rate-limit-per-sec ...).
Usage, under the shared bench lock:
  flock /tmp/pulsestream-bench.lock bench/wrk/ab.py KEY BIN LABEL PHASE...
  PHASE = single:CONNECTIONS:SECONDS | batch:EVENTS:CONNECTIONS:SECONDS
        | lg:EVENTS:CONNECTIONS:SECONDS[:signed][:rate=N]  (bin/loadgen http instead
          of wrk; signed: every request signed with SECRET, RFC 9421 with a nonce;
          rate: open loop at N events/s instead of back to back)
  GWFLAGS="-kafka-linger=5ms" adds gateway flags; GWENV="GOGC=400 ..." its environment.
  lg phases: LOADGEN (default bin/loadgen), TENANT (KEY's tenant), SECRET (its
  signing secret; the gateway then needs GWFLAGS="-signing-secret-key ...").
"""
import os, sys, subprocess, time, json, socket, urllib.request, re
HERE = os.path.dirname(os.path.abspath(__file__))
LOCAL = os.path.realpath(os.environ.get("PULSESTREAM_LOCAL", os.path.join(HERE, "..", "..", ".local")))
CLK = os.sysconf("SC_CLK_TCK")

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK

def pidfile(p):
    return int(open(os.path.join(LOCAL, p)).read().split()[0])

def freeport():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def main():
    key, binary, label = sys.argv[1:4]
    phases = sys.argv[4:]
    env = os.environ
    port = freeport()
    run = f"ab{int(time.time())}{label}"
    topic = "gwab." + label
    args = [binary, "-gateway-addr", f"127.0.0.1:{port}", "-kafka-brokers", env["PULSESTREAM_KAFKA_BROKERS"], "-kafka-topic", topic,
            "-kafka-dlq-topic", topic + ".dlq", "-kafka-partitions", "6", "-redis-addr", env["PULSESTREAM_REDIS_ADDR"],
            "-redis-key-prefix", "gwab:" + label + ":", "-marker-ttl", "10m", "-postgres-url", env["PULSESTREAM_POSTGRES_URL"], "-log-level", "warn"]
    args += env.get("GWFLAGS", "").split()
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"gateway-ab-{label}.log"), "w")
    gwenv = {"PATH": env["PATH"], "HOME": env.get("HOME", "/root")}
    gwenv.update(kv.split("=", 1) for kv in env.get("GWENV", "").split())
    gw = subprocess.Popen(args, stdout=log, stderr=log, env=gwenv)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if urllib.request.urlopen(url + "/readyz", timeout=1).status == 200: break
        except Exception: time.sleep(0.2)
    procs = {"gateway": gw.pid, "redis": pidfile("redis/redis.pid"), "kafka": pidfile("kafka/kafka.pid")}
    out = []
    try:
        for ph in phases:
            parts = ph.split(":")
            if parts[0] == "lg":
                out.append(loadgen(url, key, procs, label, ph, parts))
                continue
            if parts[0] == "single":
                batch, conn, secs = 1, int(parts[1]), int(parts[2])
            else:
                batch, conn, secs = int(parts[1]), int(parts[2]), int(parts[3])
            wenv = dict(env, KEY=key, RUN=f"{run}-{ph}", BATCH=str(batch))
            before = {k: cpu(p) for k, p in procs.items()}
            t0 = time.time()
            w = subprocess.Popen(["wrk", "-t2", f"-c{conn}", f"-d{secs}s", "--latency", "-s", os.path.join(HERE, "events.lua"), url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=wenv)
            o = w.stdout.read().decode()
            _, status, ru = os.wait4(w.pid, 0)
            wall = time.time() - t0
            after = {k: cpu(p) for k, p in procs.items()}
            m = re.search(r"RESULT (.*)", o)
            res = dict(kv.split("=") for kv in m.group(1).split()) if m else {"raw": o}
            rps = float(res.get("rps", 0))
            reqs = rps * secs
            events = reqs * batch
            c = {k: after[k] - before[k] for k in procs}
            c["wrk"] = ru.ru_utime + ru.ru_stime
            per = {k: round(v / events * 1e6, 2) if events else None for k, v in c.items()}
            row = {"label": label, "phase": ph, **res, "cpu_s_per_million_events": per,
                   "gateway_us_per_request": round(c["gateway"] / reqs * 1e6, 1) if reqs else None, "load": os.getloadavg()[0]}
            print(json.dumps(row), flush=True)
            if not m: print(o)
        hwm = [l.split()[1] for l in open(f"/proc/{gw.pid}/status") if l.startswith("VmHWM:")]
        print(json.dumps({"label": label, "gateway_peak_rss_mib": round(int(hwm[0]) / 1024, 1)}), flush=True)
    finally:
        gw.terminate(); gw.wait(30)

def loadgen(url, key, procs, label, ph, parts):
    """One bin/loadgen http phase: same CPU accounting as the wrk phases."""
    env = os.environ
    batch, conn, secs = int(parts[1]), int(parts[2]), int(parts[3])
    tenant = env["TENANT"]
    args = [env.get("LOADGEN", os.path.join(HERE, "..", "..", "bin", "loadgen")), "http", "-url", url, "-tenants", f"{tenant}={key}",
            "-batch", str(batch), "-concurrency", str(conn), "-duration", f"{secs}s", "-max-events", "100000000",
            "-id-prefix", f"ab{time.time_ns()}{label}"]
    for opt in parts[4:]:
        if opt == "signed":
            args += ["-signing-secrets", f"{tenant}={env['SECRET']}"]
        elif opt.startswith("rate="):
            args += ["-rate", opt[5:]]
        else:
            sys.exit(f"phase {ph}: unknown option {opt}")
    before = {k: cpu(p) for k, p in procs.items()}
    w = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    o = w.stdout.read().decode()
    _, status, ru = os.wait4(w.pid, 0)
    after = {k: cpu(p) for k, p in procs.items()}
    res = json.loads(o[o.index("{"):])
    reqs, events = res["requests"], res["events"]
    c = {k: after[k] - before[k] for k in procs}
    c["loadgen"] = ru.ru_utime + ru.ru_stime
    row = {"label": label, "phase": ph, "rps": round(res["requests_per_sec"]), "events_per_sec": round(res["events_per_sec"]),
           "p50_ms": res["latency"].get("p50_ms"), "p99_ms": res["latency"].get("p99_ms"),
           "accepted": res["accepted"], "rejected": res["rejected"], "failed": res["failed"], "status": res["status"],
           "us_per_request": {k: round(v / reqs * 1e6, 1) for k, v in c.items()},
           "cpu_s_per_million_events": {k: round(v / events * 1e6, 2) for k, v in c.items()}, "load": os.getloadavg()[0]}
    print(json.dumps(row), flush=True)
    return row
main()
