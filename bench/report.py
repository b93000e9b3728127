"""Turns bench/run.sh's results into the table in docs/benchmark.md: absolute figures per proxy, and
socksbridge's ratio to the best error-free peer measured in the same run."""

import sys
from collections import defaultdict

results = defaultdict(dict)
for line in open(sys.argv[1]):
    who, key, value = line.rstrip("\n").split("\t")
    results[who][key] = value
cores, date, machine = int(sys.argv[2]), sys.argv[3], sys.argv[4]
PEERS = ["privoxy", "tinyproxy", "hpts"]


def num(who, key):
    try:
        return float(results[who].get(key, ""))
    except ValueError:
        return None


def best_peer(key, higher=True, clean_key=None):
    values = []
    for p in PEERS:
        v = num(p, key)
        if v is None or v <= 0:
            continue
        if clean_key and results[p].get(clean_key, "0") not in ("0", ""):
            continue  # only error-free runs count
        values.append(v)
    if not values:
        return None
    return max(values) if higher else min(values)


def ratio(ours, peer):
    if ours is None or peer in (None, 0):
        return "–"
    r = ours / peer
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def cell(who, key, unit=""):
    v = results[who].get(key, "–")
    return f"{v}{unit}" if v not in ("", "–", "n/a", "crashes") else v


print(f"\nBenchmark {date} on {machine}; origin nginx, upstream Dante SOCKS5, all on loopback.\n")
print("| workload | direct | socksbridge | Privoxy | tinyproxy | hpts | socksbridge ÷ best peer |")
print("|---|---|---|---|---|---|---|")
for w, label in [("W1", "W1 keep-alive GET 1 KiB, 64 conns (req/s)"), ("W2", "W2 keep-alive GET 100 KiB, 64 conns (MB/s)")]:
    key = "rps" if w == "W1" else "mbs"
    row = [label, cell("direct", f"{w}.{key}")]
    for who in ["socksbridge", "privoxy", "tinyproxy", "hpts"]:
        v = cell(who, f"{w}.{key}")
        errs = results[who].get(f"{w}.errors", "0")
        p99 = results[who].get(f"{w}.p99", "-")
        extra = f" (p99 {p99}" + (f", {errs} errors)" if errs not in ("0", "", "crashes") else ")") if p99 != "-" else ""
        row.append(f"{v}{extra}" if errs != "crashes" else "crashes")
    ours = num("socksbridge", f"{w}.{key}")
    clean = best_peer(f"{w}.{key}", clean_key=f"{w}.errors")
    if clean is not None:
        verdict = ratio(ours, clean)
    else:  # every peer had errors: compare with the best figure anyway, and say so
        verdict = ratio(ours, best_peer(f"{w}.{key}")) + " (every peer had errors)"
    row.append(f"{verdict}; {ratio(ours, num('direct', f'{w}.{key}'))} of direct")
    print("| " + " | ".join(row) + " |")
for key, label in [("W3.mbs", "W3 CONNECT 256 MiB (MB/s)"), ("W3tls.mbs", "W3 CONNECT 256 MiB over TLS (MB/s)")]:
    row = [label + f"; SOCKS5 client direct: {cell('socks5-direct', key)}", cell("direct", key) if key == "W3.mbs" else "–"]
    row += [cell(w, key) for w in ["socksbridge", "privoxy", "tinyproxy", "hpts"]]
    ours = num("socksbridge", key)
    row.append(f"{ratio(ours, best_peer(key))}; {ratio(ours, num('socks5-direct', key))} of SOCKS5 direct")
    print("| " + " | ".join(row) + " |")
row = ["W4 new tunnels/s (CONNECT + GET 1 KiB + close, 8 workers)", "–"]
for who in ["socksbridge", "privoxy", "tinyproxy", "hpts"]:
    failed = results[who].get("W4.failed", "0")
    row.append(cell(who, "W4.tps") + (f" ({failed} failed)" if failed not in ("0", "") else ""))
row.append(
    f"{ratio(num('socksbridge', 'W4.tps'), best_peer('W4.tps'))}; "
    f"{ratio(num('socksbridge', 'W4.tps'), num('socks5-direct', 'W4.tps'))} of a SOCKS5 client "
    f"direct to Dante ({cell('socks5-direct', 'W4.tps')}), the ceiling for any proxy"
)
print("| " + " | ".join(row) + " |")


def mib(who, key):
    v = num(who, key)
    return "–" if v is None else f"{v / 1024:.1f}"


row = ["W5 RSS idle → 1,000 idle tunnels → after close (MiB); per tunnel", "–"]
for who in ["socksbridge", "privoxy", "tinyproxy", "hpts"]:
    row.append(f"{mib(who, 'W5.rss_idle_kib')} → {mib(who, 'W5.rss_loaded_kib')} → {mib(who, 'W5.rss_after_kib')}; {cell(who, 'W5.per_tunnel_kib')} KiB")
row.append("–")
print("| " + " | ".join(row) + " |")
print(f"\nsocksbridge startup to the ready line: {cell('socksbridge', 'startup.ms')} ms (median of 20).")


def cpu(who, w):
    parts = [results[who].get(f"{w}.cpu_{k}_us") for k in ("proxy", "dante", "nginx", "machine")]
    if not any(parts):
        return "–"
    return " / ".join(p if p not in (None, "", "-") else "–" for p in parts)


print("\nCPU time per request (W1, W2) or per tunnel (W4) in µs, same run: the proxy / Dante / nginx /")
print("the whole machine (load generator and kernel included).\n")
print("| workload | direct | socksbridge | Privoxy | tinyproxy | hpts | SOCKS5 client direct |")
print("|---|---|---|---|---|---|---|")
for w in ("W1", "W2", "W4"):
    cells = [cpu(who, w) for who in ("direct", "socksbridge", "privoxy", "tinyproxy", "hpts", "socks5-direct")]
    print(f"| {w} | " + " | ".join(cells) + " |")

# What a proxy that cost nothing could reach with the machine saturated: everything
# else the request costs (client, origin, Dante, the kernel) stays. And the most a proxy
# may spend per request to reach half of direct.
for w in ("W1", "W2"):
    everything, ours = num("socksbridge", f"{w}.cpu_machine_us"), num("socksbridge", f"{w}.cpu_proxy_us")
    rps, direct = num("socksbridge", f"{w}.rps"), num("direct", f"{w}.rps")
    if everything and ours is not None and rps and direct:
        rest = everything - ours
        busy = rps * everything / (cores * 1e6)  # share of the cores in use during the run
        ceiling = cores * 1e6 / rest
        budget = cores * 1e6 / (0.5 * direct) - rest
        print(
            f"\n{w}: socksbridge costs {ours:.1f} of the {everything:.1f} µs of machine CPU per request "
            f"(cores {busy:.0%} busy). With the cores saturated, a proxy costing nothing would reach "
            f"{ceiling / direct:.2f}× of direct, and reaching 0.5× leaves a proxy {budget:.1f} µs per "
            f"request; we reach {rps / direct:.2f}×."
        )


# Runtime choice, contention and before/after, all from this run.
VARIANTS = [("socksbridge", "socksbridge (2 threads, the default)"), ("socksbridge-1t", "socksbridge, 1 thread")]
if "before" in results:
    VARIANTS.append(("before", "socksbridge before this change"))
print("\nW1 (req/s) and W4 (tunnels/s), idle and contended (one busy-loop process per core running")
print("alongside, as on a busy desktop); the ratio is the best socksbridge figure to the best peer.\n")
print("| workload | " + " | ".join(label for _, label in VARIANTS) + " | Privoxy | tinyproxy | hpts | ours ÷ best peer |")
print("|---|" + "---|" * (len(VARIANTS) + 4))
for key, label in [("W1.rps", "W1 idle"), ("W1c.rps", "W1 contended"), ("W4.tps", "W4 idle"), ("W4c.tps", "W4 contended")]:
    row = [label] + [cell(who, key) for who, _ in VARIANTS]
    row += [cell(who, key) if key in results[who] else "–" for who in PEERS]
    ours = max((num(who, key) or 0) for who, _ in VARIANTS[:2])
    row.append(ratio(ours, best_peer(key)))
    print("| " + " | ".join(row) + " |")
print("\n| idle-tunnel memory (KiB per tunnel, 2 s after the last handshake) | " + " | ".join(label for _, label in VARIANTS) + " |")
print("|---|" + "---|" * len(VARIANTS))
for key, label in [("W5.per_tunnel_kib", "1,000 opened one at a time"), ("W5burst.per_tunnel_kib", "1,000 opened 100 at a time")]:
    print("| " + " | ".join([label] + [cell(who, key) for who, _ in VARIANTS]) + " |")
