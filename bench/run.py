"""``make bench``: valuegrad's speed and memory against micrograd, same run.

Measures, each in a fresh subprocess of this interpreter (so one
measurement's heap and garbage collector state never bleed into another):

* the micrograd demo step (see ``workloads.py``) for micrograd 0.1.0,
  valuegrad's engine, valuegrad's tape and the hand-written float floor, all
  from micrograd's initial weights, checking the first losses agree;
* a chain ``y = relu(y * 1.0000001 + 0.1)``: build and backward times, and
  the deepest chain micrograd can back-propagate;
* bytes per node of a 100,000-node graph (tracemalloc);
* what ``import autograd, nn`` adds to a bare interpreter start.

The cyclic garbage collector stays on everywhere, as users run: for
micrograd it is most of the cost. A run takes about a minute, prints a
table and writes ``bench/results.md``.

    python bench/run.py            # everything
    python bench/run.py --quick    # fewer repetitions, smaller chains
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

CHAIN_FACTOR = 1.0000001
CHAIN_SHIFT = 0.1
# One link y = relu(y * 1.0000001 + 0.1) makes five Values: two constants
# (the 1.0000001 and the 0.1, leaves as API.md says) and three operations.
VALUES_PER_LINK = 5


# -- workers: each runs in its own process and prints one JSON line -----------
def worker_demo(impl: str, steps: int, warmup: int, gc_on: bool) -> dict:
    import workloads

    weights = workloads.initial_weights()
    start = time.perf_counter()
    step = workloads.SETUPS[impl](weights)
    setup = time.perf_counter() - start
    if not gc_on:
        gc.disable()
    losses, times = [], []
    for k in range(warmup + steps):
        start = time.perf_counter()
        losses.append(step(k))
        if k >= warmup:
            times.append(time.perf_counter() - start)
    return {"setup": setup, "times": times, "losses": [repr(x) for x in losses]}


def _value_class(impl: str):
    if impl == "valuegrad":
        from autograd import Value
    else:
        from micrograd.engine import Value
    return Value


def _chain(impl: str, links: int):
    """y = relu(y * CHAIN_FACTOR + CHAIN_SHIFT), ``links`` times, from a leaf x = 0."""
    Value = _value_class(impl)
    x = Value(0.0)
    y = x
    for _ in range(links):
        y = (y * CHAIN_FACTOR + CHAIN_SHIFT).relu()
    return x, y




def worker_chain(impl: str, links: int) -> dict:
    _chain(impl, 1)  # imports, outside the timing
    start = time.perf_counter()
    x, y = _chain(impl, links)
    built = time.perf_counter()
    try:
        y.backward()
    except RecursionError:
        return {"build": built - start, "backward": None, "error": "RecursionError"}
    done = time.perf_counter()
    return {"build": built - start, "backward": done - built, "grad": x.grad}


def worker_max_depth(impl: str, hi: int) -> dict:
    """The longest chain (in links) whose backward works, by bisection."""

    def works(links: int) -> bool:
        x, y = _chain(impl, links)
        try:
            y.backward()
        except RecursionError:
            return False
        return True

    lo = 1
    if works(hi):
        return {"max_links": hi, "bounded": False}
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if works(mid):
            lo = mid
        else:
            hi = mid
    return {"max_links": lo, "bounded": True, "recursion_limit": sys.getrecursionlimit()}


def _count_values(root, parents) -> int:
    seen = {id(root)}
    stack = [root]
    while stack:
        for p in parents(stack.pop()):
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return len(seen)


def worker_memory(impl: str, links: int) -> dict:
    """tracemalloc's count of the bytes a chain graph holds, per Value."""
    import tracemalloc

    parents = (lambda v: v.parents) if impl == "valuegrad" else (lambda v: v._prev)
    _chain(impl, 10)  # import everything first, outside the measurement
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    x, y = _chain(impl, links)
    built = tracemalloc.get_traced_memory()[0] - before
    result = {"built": built}
    if impl == "valuegrad":  # micrograd's recursive backward cannot run this deep
        y.backward()
        result["after_backward"] = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    result["values"] = _count_values(y, parents)
    return result


WORKERS = {"demo": worker_demo, "chain": worker_chain, "max_depth": worker_max_depth,
           "memory": worker_memory}


def _worker_main(argv: list[str]) -> None:
    name, kwargs = argv[0], json.loads(argv[1])
    print(json.dumps(WORKERS[name](**kwargs)))


def run_worker(name: str, **kwargs) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", name, json.dumps(kwargs)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- import time ------------------------------------------------------------------
def import_overhead(repeats: int) -> dict:
    """Best-of wall time of ``python -c "import autograd, nn"`` minus ``-c pass``."""

    def best(code: str) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
            times.append(time.perf_counter() - start)
        return min(times)

    best("import autograd, nn")  # warm the file system cache and the .pyc files
    bare = best("pass")
    loaded = best("import autograd, nn")
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import autograd, nn"],
                         check=True, capture_output=True, text=True, cwd=ROOT).stderr
    own = {}
    for line in err.splitlines():
        # "import time: self [us] | cumulative | imported package"
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() in ("autograd", "nn"):
            own[parts[2].strip()] = int(parts[1]) / 1e6
    graphviz = "graphviz" in err
    return {"bare": bare, "loaded": loaded, "added": loaded - bare, "importtime": own,
            "graphviz_imported": graphviz}


# -- the report ---------------------------------------------------------------------
def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "fails"
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller chains")
    parser.add_argument("--out", default=str(HERE / "results.md"))
    args = parser.parse_args()
    quick = args.quick
    report: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        report.append(line)

    import micrograd  # noqa: F401  (fail early and clearly when the bench extra is missing)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    say("## Benchmark: valuegrad against micrograd 0.1.0, same run")
    say()
    say(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load:.2f} at the start; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        "Every measurement runs in a fresh process with the cycle collector on.")
    say()

    # -- demo step --------------------------------------------------------------
    plan = [  # (implementation, gc on, timed steps per round, warm-up steps)
        ("micrograd", True, 1 if quick else 3, 1),
        ("engine", True, 5 if quick else 20, 2),
        # The tape and the floor settle after a few steps (allocator, caches).
        ("tape", True, 10 if quick else 20, 10),
        ("floor", True, 20 if quick else 40, 10),
        ("micrograd", False, 1 if quick else 2, 1),
        ("engine", False, 5 if quick else 20, 2),
    ]
    # Rounds interleave the implementations, so that a busy moment on the
    # machine does not land on one of them only; steps are pooled.
    rounds = 2 if quick else 3
    demo: dict = {}
    for round_ in range(rounds):
        for impl, gc_on, steps, warmup in plan:
            print(f"demo step, round {round_ + 1}/{rounds}: {impl}{'' if gc_on else ' (gc off)'}",
                  file=sys.stderr, flush=True)
            r = run_worker("demo", impl=impl, steps=steps, warmup=warmup, gc_on=gc_on)
            if (impl, gc_on) in demo:
                demo[impl, gc_on]["times"] += r["times"]
            else:
                demo[impl, gc_on] = r
    first = {impl: float(r["losses"][0]) for (impl, gc_on), r in demo.items() if gc_on}
    ref = first["micrograd"]
    spread = max(abs(v - ref) / abs(ref) for v in first.values())
    if spread > 1e-12:
        raise SystemExit(f"first losses disagree (relative spread {spread:.1e}): {first}")
    median = {key: statistics.median(r["times"]) for key, r in demo.items()}
    micro = median["micrograd", True]
    floor = median["floor", True]
    labels = {
        ("micrograd", True): "micrograd 0.1.0",
        ("engine", True): "valuegrad engine (Value graph rebuilt each step)",
        ("tape", True): "valuegrad tape (graph built once, replayed)",
        ("floor", True): "hand-written floats, no graph (the floor)",
        ("micrograd", False): "micrograd 0.1.0, gc disabled (for reference)",
        ("engine", False): "valuegrad engine, gc disabled (for reference)",
    }
    say("### Demo step: MLP(2, [16, 16, 1]), 100 two-moons points, hinge + 1e-4 L2, "
        "forward + backward + SGD")
    say()
    say(f"First loss {ref!r}, the same in all four to {spread:.0e} relative.")
    say()
    say("| implementation | per step (median) | fastest step | steps timed "
        "| micrograd / this | this / floor |")
    say("| --- | ---: | ---: | ---: | ---: | ---: |")
    for key, r in demo.items():
        m = median[key]
        say(f"| {labels[key]} | {fmt_time(m)} | {fmt_time(min(r['times']))} | {len(r['times'])} "
            f"| {micro / m:.1f}x | {m / floor:.1f}x |")
    say()
    say(f"The tape took {fmt_time(demo['tape', True]['setup'])} to build (one walk of the graph "
        "and a compile of one line per node), paid once before the first replay.")
    say()

    # -- chains -------------------------------------------------------------------
    links_list = [200, 2_000, 20_000, 200_000] if not quick else [200, 2_000, 20_000]
    stress = None if quick else 1_000_000
    say("### Chain y = relu(y * 1.0000001 + 0.1)")
    say()
    say("A link makes 5 Values: 3 operations and 2 constant leaves, so a chain of n links "
        "is a graph of 5n + 1 nodes (every Value counted).")
    say()
    say("| links | nodes (Values) | valuegrad build | backward | total | micrograd build "
        "| backward |")
    say("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    chain_rows = []
    for links in links_list + ([stress] if stress else []):
        print(f"chain: {links} links ...", file=sys.stderr, flush=True)
        r = run_worker("chain", impl="valuegrad", links=links)
        chain_rows.append((links, r))
        if links <= 20_000:
            m = run_worker("chain", impl="micrograd", links=links)
            micro_cells = f"{fmt_time(m['build'])} | {m.get('error') or fmt_time(m['backward'])}"
        else:
            micro_cells = "not run | (RecursionError from 332 links)"
        say(f"| {links:,} | {VALUES_PER_LINK * links + 1:,} | {fmt_time(r['build'])} "
            f"| {fmt_time(r['backward'])} | {fmt_time(r['build'] + r['backward'])} "
            f"| {micro_cells} |")
    say()
    print("chain: micrograd's deepest ...", file=sys.stderr, flush=True)
    deepest = run_worker("max_depth", impl="micrograd", hi=2_000)
    say(f"micrograd's deepest chain that back-propagates is {deepest['max_links']:,} links "
        f"({VALUES_PER_LINK * deepest['max_links'] + 1:,} nodes): one more link raises "
        f"RecursionError (recursion limit {deepest.get('recursion_limit')}). valuegrad's deepest "
        f"tried, {max(n for n, _ in chain_rows):,} links, works: its walks use an explicit stack.")
    say()

    # -- memory ---------------------------------------------------------------------
    print("memory ...", file=sys.stderr, flush=True)
    mem_links = 20_000
    mem = {impl: run_worker("memory", impl=impl, links=mem_links) for impl in ("valuegrad", "micrograd")}
    say("### Memory: a 100,000-node graph (the chain, 20,000 links)")
    say()
    say("Bytes traced by tracemalloc while building it, divided by the number of Value objects "
        "in it (every node: operations, constant leaves and the input leaf). tracemalloc counts "
        "requested sizes, so the allocator's rounding to 16 bytes is not included.")
    say()
    say("| implementation | Values | bytes per node, built | after backward | micrograd / this |")
    say("| --- | ---: | ---: | ---: | ---: |")
    mb = mem["micrograd"]["built"] / mem["micrograd"]["values"]
    for impl in ("micrograd", "valuegrad"):
        r = mem[impl]
        per = r["built"] / r["values"]
        after = f"{r['after_backward'] / r['values']:.0f}" if "after_backward" in r else "(RecursionError)"
        say(f"| {impl} | {r['values']:,} | {per:.0f} | {after} | {mb / per:.1f}x |")
    say()

    # -- import -------------------------------------------------------------------------
    print("import time ...", file=sys.stderr, flush=True)
    imp = import_overhead(5 if quick else 15)
    say("### Import")
    say()
    own = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in imp["importtime"].items())
    say(f"`python -c \"import autograd, nn\"` {fmt_time(imp['loaded'])} against `python -c pass` "
        f"{fmt_time(imp['bare'])} (best of {5 if quick else 15}): **{fmt_time(imp['added'])} added**. "
        f"`-X importtime` cumulative: {own}; graphviz imported: {imp['graphviz_imported']}.")
    say()

    # -- targets ----------------------------------------------------------------------
    tape = median["tape", True]
    engine = median["engine", True]
    million = next((r for links, r in chain_rows if VALUES_PER_LINK * links + 1 >= 1_000_000), None)
    per_node = mem["valuegrad"]["built"] / mem["valuegrad"]["values"]
    after_node = mem["valuegrad"]["after_backward"] / mem["valuegrad"]["values"]
    rows = [
        ("engine demo step >= 20x faster than micrograd", f"{micro / engine:.1f}x",
         micro / engine >= 20),
        ("tape demo step within 3x of the floor", f"{tape / floor:.2f}x", tape / floor <= 3),
    ]
    if million:
        t = million["build"] + million["backward"]
        rows.append(("1,000,000-node chain builds and back-propagates < 5 s", fmt_time(t), t < 5))
    rows.append(("<= 200 bytes per node, 100,000-node graph",
                 f"{per_node:.0f} built, {after_node:.0f} after backward", after_node <= 200))
    rows.append(("`import autograd, nn` adds < 30 ms", fmt_time(imp["added"]), imp["added"] < 0.030))
    say("### Targets (issue 6)")
    say()
    say("| target | measured | met |")
    say("| --- | ---: | :---: |")
    for name, value, ok in rows:
        say(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
    say()

    out = Path(args.out)
    # Atomically: a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".results-", suffix=".md")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(report) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker_main(sys.argv[2:])
    else:
        main()
