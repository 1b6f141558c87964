"""Time the Gradio app on this machine and write docs/benchmarks/app.md.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/app.py [--checkpoint DIR] [--compare-checkpoint DIR] [--data DIR]
                                                        [--users 8] [--duration 120] [--runs 20]

In-process (the callbacks the app runs, on an AppContext):
- prediction + explanation of a dataset sample: the explorer's sample view (cached split predictions + GAP figure) and
  a fresh forward pass (Predictor.what_if on the sample: text encoding + model, original and modified); target < 100 ms
- UMAP: numba compilation (first call in a fresh process), a cold fit of the test split (no disk cache), and the
  cached view (a new context reading the disk cache, both maps drawn); target < 2 s cached
- upload to prediction of a 10-s clip made here (espeak-ng speech + a face), without ASR (typed transcript; target
  < 3 s) and with ASR
Subprocess (`python app.py` on a free port):
- time to first page (process start → HTTP 200 on /) and to the end of the background warm-up
- ``--users`` concurrent gradio_client users for ``--duration`` s (default 120 s, the brief's 2 minutes), each
  looping over sample view, what-if, table filter, typed-text prediction and the UMAP view: errors, median and p95
  latency per call.
``--space-only``: the Representation-space tab alone (fits of UMAP / PCA / t-SNE, switching projection or colour on
cached maps, neighbours of one sample, word search, export); writes docs/benchmarks/space.md.
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
from machine import cpu_name  # noqa: E402

from fdcmdie.app.serving import free_port, start_app, wait_http  # noqa: E402
from fdcmdie.checkpoint import DEFAULT_PAIR  # noqa: E402

SAMPLE_TARGET_S, MAP_TARGET_S, UPLOAD_TARGET_S = 0.100, 2.0, 3.0
TEXTS = ["i loved every minute of this film", "what a waste of two hours", "it was okay i guess",
         "the acting was great but the story was weak", "honestly one of the worst movies this year"]


def median_time(fn, runs: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times), result


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ------------------------------------------------------------------------------------------- in-process


def in_process(args, rows: list, notes: list) -> None:
    from fdcmdie.app import AppContext, AppOptions
    from fdcmdie.app import explorer, space, upload
    from fdcmdie.explain import projections

    cache = Path(tempfile.mkdtemp(prefix="bench-app-"))
    opts = AppOptions(checkpoint=args.checkpoint, compare_checkpoint=args.compare_checkpoint, data=args.data,
                      cache_dir=str(cache), asr=True, warm_up=False)
    t = time.perf_counter()
    ctx = AppContext(opts)
    keys = ctx.model_keys()
    rows.append(("load both checkpoints (text encoder included)", time.perf_counter() - t, None, ""))
    p = ctx.predictor("main")
    notes.append(f"Checkpoints: `{args.checkpoint}` ({p.name}: d = {p.cfg.model.d}, k = {p.cfg.model.k}, "
                 f"{'+'.join(p.modalities)}) and `{args.compare_checkpoint}`.")
    t = time.perf_counter()
    n = len(p.predict_split("test", data_root=args.data).ids)
    rows.append((f"test-split predictions, first time ({n} samples; data, cached text states, model)",
                 time.perf_counter() - t, None, "background warm-up at app start"))
    t = time.perf_counter()
    view = ctx.split_view("main", "test")
    rows.append(("test-split ablations, first time (text only; voice + face only)", time.perf_counter() - t, None,
                 "background warm-up at app start"))
    for k in keys[1:]:
        ctx.split_view(k, "test")
    ids = view.preds.ids
    rng = random.Random(0)
    pick = lambda: ids[rng.randrange(len(ids))]
    explorer.sample_view(ctx, "main", "test", ids[0])
    med, worst, _ = median_time(lambda: explorer.sample_view(ctx, "main", "test", pick()), args.runs)
    rows.append(("dataset sample: prediction + explanation from the cached split (sample view + GAP figure)", med,
                 SAMPLE_TARGET_S, f"max {worst * 1000:.0f} ms"))

    def fresh():
        r = ctx.split_view("main", "test").row_of[pick()]
        text, audio, vision = ctx.raw_inputs("main", "test", r)
        return p.what_if(text, audio, vision, drop={p.modalities[-1]})

    fresh()
    med, worst, _ = median_time(fresh, args.runs)
    rows.append(("dataset sample: fresh forward pass, original + modified (Predictor.what_if)", med, SAMPLE_TARGET_S,
                 f"max {worst * 1000:.0f} ms"))
    med, worst, _ = median_time(lambda: explorer.what_if_view(ctx, "main", "test", pick(), [{"v": "visual", "a": "acoustic", "t": "text"}[p.modalities[-1]]], None),
                                args.runs)
    rows.append(("what-if view (forward pass + markdown + figure)", med, None, f"max {worst * 1000:.0f} ms"))
    med, _, _ = median_time(lambda: p.predict([rng.choice(TEXTS)]), args.runs)
    rows.append(("typed sentence → prediction (Predictor.predict, text encoder + model)", med, SAMPLE_TARGET_S, ""))

    # UMAP
    t = time.perf_counter()
    projections.warm_up_umap()
    rows.append(("UMAP: numba compilation, first call in this process (background warm-up at app start)",
                 time.perf_counter() - t, None, f"NUMBA_CACHE_DIR={os.environ['NUMBA_CACHE_DIR']}"))
    t = time.perf_counter()
    proj = ctx.projection("main", "test")
    rows.append((f"UMAP view cold: fit of the test split, no disk cache ({len(proj.embedding)} points)",
                 time.perf_counter() - t, None, f"fit {proj.seconds:.1f} s"))
    for k in keys[1:]:
        ctx.projection(k, "test")

    def cached_view():
        fresh_ctx = AppContext(opts, predictors={k: ctx.predictor(k) for k in keys})
        for k in keys:  # the split predictions are in memory in a running app; share them
            fresh_ctx._memo[("split", k, "test")] = ctx.split_view(k, "test")
        for k in keys:
            fresh_ctx.projection(k, "test")
        return space.projection_view(fresh_ctx, "test", "feature", {"split": "test", "id": ids[3]}, None)

    med, worst, out = median_time(cached_view, max(3, args.runs // 4))
    rows.append(("UMAP view cached: both maps read from the disk cache and drawn", med, MAP_TARGET_S,
                 f"max {worst:.2f} s; figures {sum(len(f.to_json()) for f in out[:2]) / 1e6:.1f} MB of JSON"))
    med, _, _ = median_time(lambda: space.projection_view(ctx, "test", "label", {"split": "test", "id": pick()},
                                                          None), max(3, args.runs // 4))
    rows.append(("UMAP view in a running app (maps in memory, both drawn)", med, MAP_TARGET_S, ""))
    e = p.predict([TEXTS[0]])[0]
    med, _, _ = median_time(lambda: proj.transform(e.features["decoupled"]), args.runs)
    rows.append(("UMAP transform of one new input (upload placed on the map)", med, None, ""))

    # uploads
    import media_fixtures as mf
    clip = mf.make_clip(cache / "ten-seconds.mp4", 10.0, text="I went to see the new film last night and honestly I "
                        "loved it. The story was moving, the actors were great, and the music was beautiful.")
    typed = "i went to see the new film last night and honestly i loved it"
    upload.analyse(ctx, str(clip), None, typed, False)  # warm: librosa yin compile, FaceMesh load
    med, worst, r = median_time(lambda: upload.analyse(ctx, str(clip), None, typed, False), 3)
    rows.append(("upload → prediction, 10-s clip 320×240, typed transcript (no ASR), both checkpoints", med,
                 UPLOAD_TARGET_S, f"max {worst:.2f} s"))
    upload.analyse(ctx, str(clip), None, "", True)
    med, worst, r = median_time(lambda: upload.analyse(ctx, str(clip), None, "", True), 3)
    rows.append(("upload → prediction, same clip, transcript by speech-to-text (whisper tiny.en)", med, None,
                 f"max {worst:.2f} s"))


# ------------------------------------------------------------------------------- representation space


SWITCH_TARGET_S, PCA_TARGET_S, NEIGHBOUR_TARGET_S = 0.300, 0.100, 0.050


def space_benchmark(args) -> int:
    """``--space-only``: the Representation-space tab's speed targets, in-process; writes docs/benchmarks/space.md."""
    from fdcmdie.app import AppContext, AppOptions, space
    from fdcmdie.explain import projections
    from fdcmdie.explain.geometry import space_report

    load0 = os.getloadavg()[0]
    cache = Path(tempfile.mkdtemp(prefix="bench-space-"))
    ctx = AppContext(AppOptions(checkpoint=args.checkpoint, compare_checkpoint=args.compare_checkpoint,
                                data=args.data, cache_dir=str(cache), asr=False, warm_up=False))
    keys = ctx.model_keys()
    for k in keys:
        ctx.split_view(k, "test")
    view = ctx.split_view("main", "test")
    ids, dec = view.preds.ids, view.preds.features["decoupled"]
    rng = random.Random(0)
    pick = lambda: {"model": "main", "split": "test", "id": ids[rng.randrange(len(ids))]}
    rows: list = []
    projections.warm_up_umap()
    fits = {}
    for method in ("umap", "pca", "tsne"):  # what the background warm-up does at app start
        t = time.perf_counter()
        for k in keys:
            fits[method, k] = ctx.projection(k, "test", method)
        rows.append((f"{projections.METHODS[method]} fit of the test split, both checkpoints "
                     f"({len(fits[method, 'main'].embedding)} points each; background at app start)",
                     time.perf_counter() - t, None, "background"))
    projections.fit_projection(dec, method="pca")
    med, worst, proj = median_time(lambda: projections.fit_projection(dec, method="pca"), args.runs)
    rows.append((f"PCA fit of the test split ({len(proj.embedding)} points, all {len(ids)} samples)", med,
                 PCA_TARGET_S, f"max {worst * 1000:.0f} ms"))
    t = time.perf_counter()
    for k in keys:
        ctx.geometry(k, "test")
        ctx.sample_space(k, "test")
    rows.append(("CL-effect numbers + neighbour index, both checkpoints (background at app start)",
                 time.perf_counter() - t, None, "background"))
    med, _, _ = median_time(lambda: space_report(dec), 3)
    rows.append(("  of which space_report of one checkpoint (cosines, alignment, uniformity, 5-fold logistic "
                 "regression)", med, None, "median of 3"))
    methods = ["umap", "pca", "tsne"]
    space.projection_view(ctx, "test", "feature", pick(), None, "pca")
    cycle = itertools.cycle(methods)
    med, worst, _ = median_time(lambda: space.projection_view(ctx, "test", "feature", pick(), None, next(cycle)),
                                args.runs)
    rows.append(("switch projection on cached maps (both maps drawn, a selected sample's constellation)", med,
                 SWITCH_TARGET_S, f"max {worst * 1000:.0f} ms"))
    colours = list(projections.COLOR_BY)
    cycle = itertools.cycle(colours)
    med, worst, _ = median_time(lambda: space.projection_view(ctx, "test", next(cycle), pick(), None, "umap"),
                                args.runs)
    rows.append((f"switch colour on cached maps ({', '.join(colours)} in turn)", med, SWITCH_TARGET_S,
                 f"max {worst * 1000:.0f} ms"))
    med, worst, _ = median_time(lambda: space.projection_view(ctx, "test", "feature", None, None, "umap",
                                                              rng.choice(["movie", "good", "bad", "i"])), args.runs)
    rows.append(("word search: both maps with the matching samples ringed", med, SWITCH_TARGET_S,
                 f"max {worst * 1000:.0f} ms"))
    med, worst, _ = median_time(lambda: space.neighbour_view(ctx, pick()), args.runs)
    rows.append(("neighbours of one sample: shared and private tables + sample card", med, NEIGHBOUR_TARGET_S,
                 f"max {worst * 1000:.1f} ms"))
    nn = ctx.sample_space("main", "test")
    med, _, _ = median_time(lambda: nn.neighbours(rng.randrange(len(ids)), 8, "shared"), args.runs * 5)
    rows.append(("  of which the k = 8 search itself (SampleSpace.neighbours)", med, NEIGHBOUR_TARGET_S, ""))
    med, _, _ = median_time(lambda: space.effect_view(ctx, "test"), args.runs)
    rows.append(("CL-effect histograms + numbers table (from the cached numbers)", med, None, ""))
    out_dir = Path(tempfile.mkdtemp(prefix="bench-space-export-"))
    med, _, _ = median_time(lambda: space.export_maps(ctx, "test", "pca", "feature", pick(), out_dir), 3)
    rows.append(("export both maps: PNG + SVG (matplotlib) + CSV", med, None, "median of 3"))
    e = ctx.predictor("main").predict(["i loved every minute of this film"])[0]
    for method in methods:
        med, _, _ = median_time(lambda: fits[method, "main"].transform(e.features["decoupled"]), args.runs)
        rows.append((f"place a new input on the {projections.METHODS[method]} map", med, None,
                     fits[method, "main"].placement))
    load1 = os.getloadavg()[0]
    p = ctx.predictor("main")
    lines = ["# Representation-space benchmark", "",
             "Made by `benchmarks/app.py --space-only` (rerun it to refresh this file):",
             f"`HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/app.py --space-only --runs {args.runs}`.", "",
             f"- Machine: {os.cpu_count()}-core CPU ({cpu_name()}), no GPU, shared with other developers; Linux "
             f"{platform.release()}, Python {platform.python_version()}; 1-min load average {load0:.1f} at the "
             f"start, {load1:.1f} at the end.",
             f"- Checkpoints: `{args.checkpoint}` ({p.name}, {'+'.join(p.modalities)}) and "
             f"`{args.compare_checkpoint}`; MOSI test split, {len(ids)} samples; maps with the app's defaults "
             f"(≤ {ctx.options.umap_max_samples} samples, UMAP {ctx.options.umap_epochs} epochs).",
             *[f"- {n}" for n in args.note],
             f"- Medians of {args.runs} runs after one warm-up call unless stated; samples drawn at random.", "",
             "| what | median | target | note |", "|---|---:|---|---|"]
    for name, sec, target, note in rows:
        met = "" if target is None else f"< {target * 1000:.0f} ms" + (" ✓" if sec < target else " ✗")
        val = f"{sec * 1000:.1f} ms" if sec < 0.01 else f"{sec * 1000:.0f} ms" if sec < 1 else f"{sec:.2f} s"
        lines.append(f"| {name} | {val} | {met} | {note} |")
    lines += ["", "The \"background\" rows never run in a request: the app's warm-up fits every map of the test "
              "split and the numbers at start (other splits: in the background on first view).", ""]
    text = "\n".join(lines)
    out = Path(args.out if args.out != str(ROOT / "docs" / "benchmarks" / "app.md") else
               ROOT / "docs" / "benchmarks" / "space.md")
    out.write_text(text)
    print(text)
    return 0


# -------------------------------------------------------------------------------------------- subprocess


def serve(args, tmp: Path):
    port = free_port()
    log = tmp / "app.log"
    t0 = time.perf_counter()
    proc = start_app(["--checkpoint", args.checkpoint, "--compare-checkpoint", args.compare_checkpoint, "--data", args.data,
                      "--port", str(port), "--cache-dir", str(tmp / "cache"), *args.app_args.split()], log)
    url = f"http://127.0.0.1:{port}/"
    wait_http(url, proc, log, timeout=600, poll=0.2)
    first_page = time.perf_counter() - t0
    return proc, url, log, first_page, t0


def wait_warm(log: Path, t0: float, timeout: float = 900) -> float | None:
    while time.perf_counter() - t0 < timeout:
        m = re.search(r"warm-up finished in ([0-9.]+) s", log.read_text())
        if m:
            return time.perf_counter() - t0
        time.sleep(1)
    return None


def users(url: str, n_users: int, duration: float, ids: list[str], switches: list[str]) -> dict:
    from gradio_client import Client

    lat: dict[str, list[float]] = {}
    errors: dict[str, list[str]] = {}
    lock = threading.Lock()
    stop = time.perf_counter() + duration

    def call(client, name, *a):
        t = time.perf_counter()
        try:
            client.predict(*a, api_name=name)
            ok, err = True, None
        except Exception as e:  # any failure counts as an error of that call
            ok, err = False, f"{type(e).__name__}: {str(e)[:120]}"
        with lock:
            (lat.setdefault(name, []) if ok else errors.setdefault(name, [])).append(
                time.perf_counter() - t if ok else err)

    def user(seed: int):
        rng = random.Random(seed)
        client = Client(url, verbose=False)
        while time.perf_counter() < stop:
            sid = rng.choice(ids)
            call(client, "/show_sample", "main", "test", sid)
            call(client, "/run_what_if", "main", "test", sid, [rng.choice(switches)], "")  # the main model's modalities
            call(client, "/refresh_table", "main", "test", rng.choice([-3, 0, 1]), 3, "any", rng.random() < 0.3,
                 False, sid)
            call(client, "/run_upload", None, None, rng.choice(TEXTS), False)
            if rng.random() < 0.35:
                call(client, "/draw_maps", "test", rng.choice(["feature", "type", "label"]))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(n_users)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {"lat": lat, "errors": errors, "wall": time.perf_counter() - t}


# ------------------------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=DEFAULT_PAIR[0])
    ap.add_argument("--compare-checkpoint", default=DEFAULT_PAIR[1])
    ap.add_argument("--data", default=str(ROOT / "data"))
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of the concurrent-users test")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "app.md"))
    ap.add_argument("--skip-in-process", action="store_true")
    ap.add_argument("--note", action="append", default=[], help="a line added to the notes of the report")
    ap.add_argument("--app-args", default="", help="extra arguments for app.py, e.g. '--concurrency 4 --threads 1'")
    ap.add_argument("--space-only", action="store_true",
                    help="only the Representation-space cases (writes docs/benchmarks/space.md)")
    args = ap.parse_args()
    if args.space_only:
        return space_benchmark(args)
    for path in (args.checkpoint, args.compare_checkpoint):
        if not (Path(path) / "config.json").is_file() and not (Path(path) / "checkpoint" / "config.json").is_file():
            print(f"error: no checkpoint at {path} (pass --checkpoint / --compare-checkpoint)", file=sys.stderr)
            return 2
    rows: list = []
    notes: list = []
    load0 = os.getloadavg()[0]
    if not args.skip_in_process:
        in_process(args, rows, notes)
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-serve-"))
    proc, url, log, first_page, t0 = serve(args, tmp)
    try:
        ready = wait_warm(log, t0)
        from fdcmdie.inference import Predictor
        main_model = Predictor.load(args.checkpoint)
        ids = main_model.predict_split("test", data_root=args.data).ids
        names = {"t": "text", "v": "visual", "a": "acoustic"}
        load = users(url, args.users, args.duration, ids, [names[m] for m in main_model.modalities])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    load1 = os.getloadavg()[0]

    lines = ["# App benchmark", "",
             "Made by `benchmarks/app.py` (rerun it to refresh this file):",
             f"`HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/app.py --users {args.users} --duration {args.duration:g}`.",
             "",
             f"- Machine: {os.cpu_count()}-core CPU ({cpu_name()}), no GPU, shared with other developers and a "
             f"training job; Linux {platform.release()}, Python {platform.python_version()}; 1-min load average "
             f"{load0:.1f} at the start, {load1:.1f} at the end.",
             *[f"- {n}" for n in notes + args.note],
             f"- Medians of {args.runs} runs after one warm-up call unless stated; samples drawn at random from the "
             "test split.", "",
             "| what | median | target | note |", "|---|---:|---|---|"]
    for name, sec, target, note in rows:
        met = "" if target is None else (f"< {target * 1000:.0f} ms" if target < 1 else f"< {target:g} s") + \
            (" ✓" if sec < target else " ✗")
        val = f"{sec * 1000:.0f} ms" if sec < 1 else f"{sec:.2f} s"
        lines.append(f"| {name} | {val} | {met} | {note} |")
    lines += ["", "## Serving", "",
              f"- Time to first page (`python app.py` start → HTTP 200 on /): **{first_page:.1f} s**; the page works "
              "at once, the background warm-up (checkpoints, test-split predictions, UMAP compile and maps, clip "
              f"extractor) finished after {ready:.0f} s." if ready else
              f"- Time to first page: **{first_page:.1f} s**; warm-up did not finish within 15 min.",
              f"- {args.users} concurrent gradio_client users for {args.duration:g} s (each loops: sample view, "
              "what-if, table filter, typed-text prediction, and a UMAP view on about a third of the loops), against "
              f"the queue (app arguments: `{args.app_args or 'defaults'}`; clip extraction one at a time). "
              f"Wall {load['wall']:.0f} s.", "",
              "| call | calls | errors | median | p95 |", "|---|---:|---:|---:|---:|"]
    total, errs = 0, 0
    for name in sorted(set(load["lat"]) | set(load["errors"])):
        ok, bad = load["lat"].get(name, []), load["errors"].get(name, [])
        total += len(ok) + len(bad)
        errs += len(bad)
        lines.append(f"| `{name}` | {len(ok) + len(bad)} | {len(bad)} | {statistics.median(ok):.2f} s | "
                     f"{pct(ok, 95):.2f} s |" if ok else f"| `{name}` | {len(bad)} | {len(bad)} | – | – |")
    every = [x for v in load["lat"].values() for x in v]
    lines += [f"| all | {total} | {errs} | {statistics.median(every):.2f} s | {pct(every, 95):.2f} s |" if every else
              f"| all | {total} | {errs} | – | – |", ""]
    if errs:
        first = {k: v[0] for k, v in load["errors"].items()}
        lines += ["First error of each call: " + "; ".join(f"`{k}`: {v}" for k, v in first.items()), ""]
    lines += ["Latency under load is queueing: with 8 users on 2 cores each request waits for the ones ahead of it; "
              "a single user sees the in-process times above plus about 10–30 ms of HTTP/websocket overhead.", ""]
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
