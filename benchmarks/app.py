"""Time the Gradio app on this machine and write docs/benchmarks/app.md.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/app.py [--checkpoint DIR] [--compare-checkpoint DIR] [--data DIR]
                                                        [--users 30] [--duration 120] [--think 3] [--starts 3]
                                                        [--runs 5] [--in-process] [--first-use both]

Subprocess (`python app.py` on a free loopback port, the default pair and data unless told otherwise):
- start-up, ``--starts`` rounds: a first start on an empty result cache (a new ``--cache-dir``), then a restart on
  what it wrote; seconds from the process start to the first HTTP 200 and to the log's "warm-up ready in X s
  (N results from the cache, M computed)"; goals < 60 s and < 10 s
- one user on the warm app (gradio_client, medians of ``--runs``): sample view, a map click, a colour change, word
  search, typed text, model switch; goals: map click < 1 s, colour change < 300 ms
- a class: ``--users`` gradio_client users for ``--duration`` s, each looping over typed text (/predict_text), a
  sample view, the maps, a map click and (10 %) an upload of the example mp4 or its audio track as a wav with
  speech-to-text, reading each answer ``--think`` s on average: calls, errors, median and p95 per action; goals
  0 errors, typed text p95 < 2 s, sample view p95 < 1 s
- first use (issue 32, benchmarks/first_use.py), ``--first-use both|ready|done|none``: on fresh starts on empty
  caches, each browse checkpoint in the explorer, the first UMAP and t-SNE maps, compare's first open and each
  lesson's first Show me, right after Ready and once the background warm-up is done; goal < 5 s each
``--in-process`` adds the callbacks timed on an AppContext in this process (sample view, what-if, UMAP, an upload of
a 10-s clip made with espeak-ng).
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
import first_use  # noqa: E402
from machine import cpu_name, describe, median_s  # noqa: E402

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
            fresh_ctx.cache.put(("split", k, "test"), ctx.split_view(k, "test"))
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
    from fdcmdie.render.maps import COLOR_BY

    colours = list(COLOR_BY)
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


READY = re.compile(r"warm-up ready in ([0-9.]+) s \((\d+) results from the cache, (\d+) computed\)")


def serve(args, tmp: Path, cache: Path, *, warm_extract: bool = True):
    """``python app.py`` on a free port with results cached in ``cache``; (process, url, log, seconds to the first
    HTTP 200, start time)."""
    port = free_port()
    log = tmp / f"app-{port}.log"
    t0 = time.perf_counter()
    proc = start_app(["--checkpoint", args.checkpoint, "--compare-checkpoint", args.compare_checkpoint,
                      *(["--data", args.data] if args.data else []), "--port", str(port), "--cache-dir", str(cache),
                      *([] if warm_extract else ["--no-extract-warmup"]), *args.app_args.split()], log)
    url = f"http://127.0.0.1:{port}/"
    wait_http(url, proc, log, timeout=600, poll=0.2)
    return proc, url, log, time.perf_counter() - t0, t0


def wait_ready(log: Path, t0: float, timeout: float = 1200) -> tuple[float, int, int, float] | None:
    """(seconds from the process start to the warm-up's "ready", results read from the cache, computed, the seconds
    the app itself logs: from the warm-up's start, imports and checkpoint loading not counted)."""
    while time.perf_counter() - t0 < timeout:
        m = READY.search(log.read_text())
        if m:
            return time.perf_counter() - t0, int(m.group(2)), int(m.group(3)), float(m.group(1))
        time.sleep(0.2)
    return None


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except Exception:
        proc.kill()


def start_times(args, tmp: Path) -> list[dict]:
    """``--starts`` rounds of: a first start on an empty result cache, then a restart on what it wrote. Seconds
    from ``python app.py`` to the warm-up's "ready" (the default lab: the pair's test-split predictions, maps in the
    projection the space opens on, Shapley values and words of the explorer's first samples)."""
    out = []
    for i in range(args.starts):
        cache = tmp / f"results-{i}"
        row = {"load": os.getloadavg()[0]}
        for phase in ("first", "restart"):
            proc, url, log, page, t0 = serve(args, tmp, cache, warm_extract=False)
            try:
                ready = wait_ready(log, t0)
            finally:
                stop(proc)
            row[phase] = ready
            row[phase + "_page"] = page
            print(f"start {i + 1}: {phase}: page {page:.1f} s, ready {ready}", flush=True)
        out.append(row)
    return out


# ------------------------------------------------------------------------------------------------ users


def sentences(rng: random.Random) -> str:
    """A typed review sentence, different each time (so no answer is a cached one)."""
    start = ["i thought the film was", "honestly the movie felt", "the story was", "the acting was", "this one is"]
    mid = ["really", "kind of", "absolutely", "not very", "quite", "a bit"]
    end = ["wonderful", "boring", "moving", "a waste of time", "fun to watch", "too long", "brilliant", "forgettable"]
    return f"{rng.choice(start)} {rng.choice(mid)} {rng.choice(end)} {rng.choice(['', 'and', 'but'])} " \
           f"{rng.choice(['the music', 'the ending', 'the cast'])} {rng.choice(mid)} {rng.choice(end)}".replace("  ", " ")


def media(tmp: Path) -> dict[str, Path]:
    """The repository's example mp4 (assets/) and its audio track as a 16 kHz mono wav."""
    import wave

    from fdcmdie.extract.media import SAMPLE_RATE as sr
    from fdcmdie.extract.media import open_media

    mp4 = ROOT / "assets" / "example-review.mp4"
    y = open_media(mp4).audio()   # 16 kHz mono float waveform
    wav = tmp / "example-review.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(sr)
        w.writeframes((np.clip(y, -1, 1) * 32767).astype(np.int16).tobytes())
    return {"mp4": mp4, "wav": wav}


def variant(path: Path, rng: random.Random) -> Path:
    """A copy of ``path`` with 32 random bytes appended: decoded the same (demuxers stop at the last box / the data
    chunk), another content hash, so the app extracts it instead of reading it from its cache. Written to the
    system's temporary folder (never beside ``path``: the example lives in the repository's assets/)."""
    import tempfile
    out = Path(tempfile.gettempdir()) / f"{path.stem}-{rng.getrandbits(48):012x}{path.suffix}"
    out.write_bytes(path.read_bytes() + rng.randbytes(32))
    return out


def process_info(pid: int) -> dict | None:
    """{"nice", "cpu_s"} of a process from /proc (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return {"nice": int(fields[16]), "cpu_s": (int(fields[11]) + int(fields[12])) / tick}


def worker_pids(app_pid: int) -> list[int]:
    """The app's child processes running multiprocessing's spawn entry (the clip extractor's worker), not its
    resource tracker."""
    import subprocess

    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(app_pid)], capture_output=True, text=True).stdout
    return [int(line.split(None, 1)[0]) for line in out.splitlines()
            if "spawn_main" in line and "resource_tracker" not in line]


CLIP_LINE = re.compile(r"clip \S+ \([0-9a-f]+…\): (extracted|from the cache) in ([0-9.]+) s")


def clip_lines(log: Path, since: int = 0) -> dict[str, list[float]]:
    """The app's "clip …: extracted | from the cache in X s" lines from offset ``since`` of its log."""
    out: dict[str, list[float]] = {"extracted": [], "from the cache": []}
    for m in CLIP_LINE.finditer(log.read_text()[since:]):
        out[m.group(1)].append(float(m.group(2)))
    return out


ACTIONS = ("typed text", "sample view", "maps", "map click", "upload")
WEIGHTS = (0.3, 0.3, 0.15, 0.15, 0.1)


def class_run(url: str, n_users: int, duration: float, ids: list[str], files: dict[str, Path],
              think: float = 3.0, uploaders: int = 0) -> dict:
    """``n_users`` gradio_client users for ``duration`` s, each looping over actions drawn with ``WEIGHTS``:
    typed text (/predict_text, a new sentence each time), a sample view (/show_sample), the maps (/draw_maps with
    another colouring), a map click (what a click runs: the sample opened, /show_sample, then both maps redrawn
    with its constellation, /draw_maps), and an upload (/run_upload: the example mp4 or its wav, speech-to-text on).
    Between actions a user reads the answer for ``think`` s on average (uniform over 0.5–1.5 × ``think``; 0: no
    pause, a stress test). Latency per action (a map click: both calls).

    ``uploaders`` > 0: the first ``uploaders`` users do nothing but upload, without a pause, each time a file never
    seen before (the example mp4 or wav with a few random bytes appended: the same decoding and features, another
    content hash, so the clip is extracted, not read from the cache); the others type and browse (the mix without
    uploads)."""
    from gradio_client import Client, handle_file

    lat: dict[str, list[float]] = {a: [] for a in ACTIONS}
    errors: dict[str, list[str]] = {a: [] for a in ACTIONS}
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration
    browse = [a for a in ACTIONS if a != "upload"]
    browse_weights = [w for a, w in zip(ACTIONS, WEIGHTS) if a != "upload"]

    def user(seed: int):
        rng = random.Random(seed)
        client = Client(url, verbose=False)
        uploader = seed < uploaders
        while time.perf_counter() < stop_at:
            action = "upload" if uploader else rng.choices(browse, browse_weights)[0] if uploaders else \
                rng.choices(ACTIONS, WEIGHTS)[0]
            sid = rng.choice(ids)
            t = time.perf_counter()
            try:
                if action == "typed text":
                    client.predict(sentences(rng), api_name="/predict_text")
                elif action == "sample view":
                    client.predict("main", "test", sid, api_name="/show_sample")
                elif action == "maps":
                    client.predict("test", rng.choice(["feature", "type", "label", "error"]), "pca", "",
                                   api_name="/draw_maps")
                elif action == "map click":
                    client.predict("main", "test", sid, api_name="/show_sample")
                    client.predict("test", "feature", "pca", "", api_name="/draw_maps")
                else:
                    kind = rng.choice(["mp4", "wav"])
                    path = variant(files[kind], rng) if uploader else files[kind]
                    video = handle_file(str(path)) if kind == "mp4" else None   # gr.Video takes FileData
                    audio = handle_file(str(path)) if kind == "wav" else None
                    client.predict(video, audio, "", True, api_name="/run_upload")
                ok, err = True, None
            except Exception as e:  # any failure counts as an error of that action
                ok, err = False, f"{type(e).__name__}: {str(e)[:160]}"
            with lock:
                if ok:
                    lat[action].append(time.perf_counter() - t)
                else:
                    errors[action].append(err)
            if not uploader:
                time.sleep(think * rng.uniform(0.5, 1.5))

    loads: list[float] = []   # 1-min load average every 5 s while the class runs
    done = threading.Event()

    def sample_load():
        while not done.wait(5.0):
            loads.append(os.getloadavg()[0])

    threads = [threading.Thread(target=user, args=(i,)) for i in range(n_users)]
    sampler = threading.Thread(target=sample_load, daemon=True)
    sampler.start()
    t = time.perf_counter()
    for th in threads:
        th.start()
        time.sleep(0.1)   # students open the page over a few seconds, not in one instant
    for th in threads:
        th.join()
    done.set()
    return {"lat": lat, "errors": errors, "wall": time.perf_counter() - t, "loads": loads}


def busy_neighbours(skip: set[int]) -> list[str]:
    """Other processes busy on the CPU (``ps``'s %CPU: averaged over each process's lifetime) and their nice value:
    what the app shares the cores with. A stopped process (state T, e.g. a training run paused with SIGSTOP for the
    benchmark) shares nothing and is left out."""
    import subprocess

    try:
        out = subprocess.run(["ps", "-eo", "pid=,stat=,ni=,pcpu=,args="], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.splitlines():
        pid, stat, ni, cpu, cmd = line.split(None, 4)
        if int(pid) in skip or float(cpu) < 20 or stat.startswith("T"):
            continue
        rows.append((float(cpu), f"`{' '.join(cmd.split()[:6])[:90]}` (nice {ni}, {float(cpu):.0f} % CPU)"))
    return [r for _, r in sorted(rows, reverse=True)]


def single_user(url: str, ids: list[str], runs: int) -> list[tuple[str, float, float | None]]:
    """One user's interactions over HTTP on a warm app (medians of ``runs``): (what, seconds, goal)."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    rng = random.Random(1)
    colours = itertools.cycle(["type", "label", "error", "video", "modality", "feature"])

    med = lambda fn: median_s(fn, runs)

    rows = [
        ("sample view (/show_sample)", med(lambda: client.predict("main", "test", rng.choice(ids),
                                                                   api_name="/show_sample")), 1.0),
        ("map click: the sample opened, then both maps with its constellation", med(lambda: (
            client.predict("main", "test", rng.choice(ids), api_name="/show_sample"),
            client.predict("test", "feature", "pca", "", api_name="/draw_maps"))), 1.0),
        ("colour change (both maps redrawn)", med(lambda: client.predict("test", next(colours), "pca", "",
                                                                          api_name="/draw_maps")), 0.3),
        ("word search (both maps, matches ringed)", med(lambda: client.predict(
            "test", "feature", "pca", rng.choice(["movie", "good", "bad", "boring"]), api_name="/draw_maps")), None),
        ("typed text (/predict_text)", med(lambda: client.predict(sentences(rng), api_name="/predict_text")), 2.0),
        ("model switch (table of the other checkpoint)", med(lambda: client.predict(
            rng.choice(["compare", "main"]), "test", -3, 3, "any", False, False, None, api_name="/refresh_table")),
         None),
    ]
    # the example clip (speech-to-text on): once extracted in the worker, then as the next student who clicks it
    example = handle_file(str(ROOT / "assets" / "example-review.mp4"))
    t = time.perf_counter()
    client.predict(example, None, "", True, api_name="/run_upload")
    rows.append(("the example clip, first upload (extracted in the worker, speech-to-text)", time.perf_counter() - t,
                 None))
    rows.append(("the same example clip again (extraction from the cache)", med(lambda: client.predict(
        example, None, "", True, api_name="/run_upload")), 1.0))
    return rows


# ------------------------------------------------------------------------------------------------- main


def fmt_s(x: float | None) -> str:
    return "–" if x is None else f"{x * 1000:.0f} ms" if x < 1 else f"{x:.1f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=DEFAULT_PAIR[0])
    ap.add_argument("--compare-checkpoint", default=DEFAULT_PAIR[1])
    ap.add_argument("--data", default=None, help="--data for the app (default: each checkpoint's own data)")
    ap.add_argument("--users", type=int, default=30)
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of the class simulation")
    ap.add_argument("--think", type=float, default=3.0, help="mean seconds a user reads an answer before the next")
    ap.add_argument("--starts", type=int, default=3, help="first start + restart rounds (the median is reported)")
    ap.add_argument("--runs", type=int, default=5, help="repeats of each single-user interaction")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "app.md"))
    ap.add_argument("--in-process", action="store_true", help="also the in-process timings (clip made with espeak)")
    ap.add_argument("--note", action="append", default=[], help="a line added to the notes of the report")
    ap.add_argument("--app-args", default="", help="extra arguments for app.py, e.g. '--threads 1'")
    ap.add_argument("--scenarios", default="mix,uploads",
                    help="class scenarios, in order: 'mix' (every user draws every action, uploads 10 %%) and "
                         "'uploads' (--uploaders users upload new clips without a pause, the rest type and browse)")
    ap.add_argument("--cache-dir", default=None,
                    help="result cache of the app the users talk to (default: the one the start-up rounds filled, "
                         "else a new one)")
    ap.add_argument("--uploaders", type=int, default=4, help="users who only upload in the 'uploads' scenario")
    ap.add_argument("--first-use", default="both", choices=["both", "ready", "done", "none"],
                    help="first-use rounds (fresh starts on empty caches): calls right after Ready, once the "
                         "background warm-up is done, both, or none")
    ap.add_argument("--wait-background", type=float, default=3600.0, metavar="S",
                    help="seconds the class app may take to finish its background warm-up (class warm-up included) "
                         "before the one-user and class timings start (default 3600)")
    ap.add_argument("--first-use-cache", default=None, metavar="DIR",
                    help="start the first-use rounds on this result cache instead of an empty one (a smoke run of the "
                         "code; its times are not first uses, and the report says so)")
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
    if args.in_process:
        in_process(args, rows, notes)
    tmp = Path(tempfile.mkdtemp(prefix="bench-app-serve-"))
    starts = start_times(args, tmp) if args.starts else []
    first_rounds = {}
    for when in {"both": ("ready", "done"), "none": ()}.get(args.first_use, (args.first_use,)):
        first_rounds[when] = first_use.run_round(lambda c: serve(args, tmp, c, warm_extract=False), stop, wait_ready,
                                                 tmp, when, args.app_args,
                                                 Path(args.first_use_cache) if args.first_use_cache else None)
        print(f"first use, {when}: " + "; ".join(f"{w} {s:.1f} s" for w, s, _ in first_rounds[when]["rows"]),
              flush=True)
    cache = Path(args.cache_dir) if args.cache_dir else tmp / "results-0" if starts else tmp / "results-class"
    proc, url, log, _, t0 = serve(args, tmp, cache)
    try:
        wait_ready(log, t0)
        while "warm-up finished" not in log.read_text() and time.perf_counter() - t0 < args.wait_background:
            time.sleep(1)   # the background extras (Shapley values, clip extractor, class warm-up) before the class
        from fdcmdie.inference import Predictor
        ids = Predictor.load(args.checkpoint).predict_split("test", data_root=args.data).ids
        files = media(tmp)
        load_single = os.getloadavg()[0]
        single = single_user(url, ids, args.runs)
        load_class = os.getloadavg()[0]
        neighbours = busy_neighbours({os.getpid(), proc.pid})
        classes = {}
        for scenario in [x for x in args.scenarios.split(",") if x] if args.users else []:
            mark, pids = len(log.read_text()), [proc.pid, *worker_pids(proc.pid)]
            before = {pid: process_info(pid) for pid in pids}
            run = class_run(url, args.users, args.duration, ids, files, args.think,
                            uploaders=args.uploaders if scenario == "uploads" else 0)
            after = {pid: process_info(pid) for pid in [proc.pid, *worker_pids(proc.pid)]}
            run["clips"] = clip_lines(log, mark)
            run["processes"] = {pid: (after[pid]["nice"], after[pid]["cpu_s"] - (before.get(pid) or {"cpu_s": 0})["cpu_s"])
                                for pid in after if after[pid]}
            classes[scenario] = run
            print(f"class {scenario}: done", flush=True)
    finally:
        stop(proc)
    load1 = os.getloadavg()[0]
    load = classes.get("mix") or next(iter(classes.values()), None)

    med = lambda xs: statistics.median(xs) if xs else None
    first = [r["first"][0] for r in starts if r["first"]]
    again = [r["restart"][0] for r in starts if r["restart"]]
    lines = ["# App benchmark", "",
             "Made by `benchmarks/app.py` (rerun it to refresh this file):",
             f"`HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/app.py --users {args.users} --duration {args.duration:g} "
             f"--think {args.think:g} --starts {args.starts} --runs {args.runs} --scenarios {args.scenarios} "
             f"--uploaders {args.uploaders} --first-use {args.first_use}"
             + (f" --first-use-cache {args.first_use_cache}" if args.first_use_cache else "") + "`.", "",
             f"- Machine: {describe()}; shared with other developers' jobs. 1-min load average "
             f"{load0:.1f} at the start, {load_single:.1f} before the single-user timings, {load_class:.1f} before the "
             f"class, {load1:.1f} at the end" + (f"; during the class (every 5 s) median "
             f"{statistics.median(load['loads']):.1f}, range {min(load['loads']):.1f}–{max(load['loads']):.1f}"
             if load and load["loads"] else "") + ".",
             *([f"- Busy beside the app when the class started: {'; '.join(neighbours)}."] if neighbours else []),
             f"- Checkpoints: `{args.checkpoint}` and `{args.compare_checkpoint}`; the app's defaults otherwise "
             f"(`{args.app_args or 'no extra arguments'}`).",
             *[f"- {n}" for n in notes + args.note], ""]
    top = len(lines)   # the goals' summary goes here, once every section is measured
    summary: list[tuple[str, str, bool | None]] = []   # (goal, measured, met)
    if starts:
        lines += ["## Start-up", "",
                  "Seconds from `python app.py` to the status line's **Ready** (what the first page, the explorer, "
                  "shows: the main checkpoint, its test-split predictions, the Shapley values and word attributions "
                  "of its first samples; the comparison checkpoint and the maps follow in the background) and to "
                  "the first HTTP 200 (*first page*). *First start*: an empty result cache "
                  "(`--cache-dir` in a new folder); *restart*: the same folder again. Goals: first start < 60 s, "
                  "restart < 10 s.", "",
                  "*ready*: from the process start (imports and checkpoint loading included) to the log line "
                  "\"warm-up ready\"; *(app)*: the seconds that line states, counted from the warm-up's start.", "",
                  "| round | load before | first start: ready | (app) | first page | restart: ready | (app) | first page "
                  "| results read/computed: first → restart |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for i, r in enumerate(starts, 1):
            f, g = r["first"], r["restart"]
            lines.append(f"| {i} | {r['load']:.1f} | {fmt_s(f and f[0])} | {fmt_s(f and f[3])} | "
                         f"{fmt_s(r['first_page'])} | {fmt_s(g and g[0])} | {fmt_s(g and g[3])} | "
                         f"{fmt_s(r['restart_page'])} | "
                         f"{f and f'{f[1]}/{f[2]}'} → {g and f'{g[1]}/{g[2]}'} |")
        first_app = [r["first"][3] for r in starts if r["first"]]
        again_app = [r["restart"][3] for r in starts if r["restart"]]
        lines += [f"| **median** | | **{fmt_s(med(first))}** {'✓' if med(first) and med(first) < 60 else '✗'} | "
                  f"{fmt_s(med(first_app))} | | **{fmt_s(med(again))}** "
                  f"{'✓' if med(again) and med(again) < 10 else '✗'} | {fmt_s(med(again_app))} | | |", ""]
        for goal, xs, limit in (("first start (empty result cache) ready < 60 s", first, 60.0),
                                ("restart ready < 10 s", again, 10.0)):
            m = med(xs)
            summary.append((goal, f"median {fmt_s(m)} from `python app.py` to ready ({len(xs)} of {len(starts)} "
                                  "rounds reached it)", None if m is None else m < limit))
    if first_rounds:
        section, goals = first_use.report(first_rounds, fmt_s)
        if args.first_use_cache:   # a smoke run: not first uses, so no goal is claimed
            section[2:2] = [f"**Not first uses**: started on the filled cache `{args.first_use_cache}` "
                            "(`--first-use-cache`, a smoke run of the code).", ""]
            goals = []
        lines += section
        summary += goals
    lines += ["## One user", "", f"Medians of {args.runs} calls over HTTP (gradio_client) on the warm app, after one "
              "warm-up call.", "", "| interaction | median | goal |", "|---|---:|---|"]
    for name, sec, goal in single:
        if name.startswith(("map click", "colour change", "the same example clip")):
            summary.append((f"one user: {name.split(':')[0].split(' (')[0]} < {fmt_s(goal)}",
                            f"median {fmt_s(sec)} of {args.runs}", sec < goal))
        lines.append(f"| {name} | {fmt_s(sec)} | "
                     f"{'' if goal is None else f'< {fmt_s(goal)} ' + ('✓' if sec < goal else '✗')} |")
    if rows:
        lines += ["", "## In-process", "", "| what | median | target | note |", "|---|---:|---|---|"]
        for name, sec, target, note in rows:
            met = "" if target is None else f"< {fmt_s(target)}" + (" ✓" if sec < target else " ✗")
            lines.append(f"| {name} | {fmt_s(sec)} | {met} | {note} |")
    for scenario, run in classes.items():
        uploading = scenario == "uploads"
        goals = {"typed text": 1.5} if uploading else {"typed text": 1.5, "sample view": 1.0}
        who = (f"the first {args.uploaders} upload without a pause, each time a clip never seen before (the example "
               "mp4 or its wav with 32 random bytes appended: the same decoding, another content hash, so it is "
               "extracted, not read from the cache); the others loop over the mix without uploads"
               if uploading else "each looping over actions drawn at random")
        title = f"{args.uploaders} users uploading" if uploading else "the mix"
        lines += ["", f"## A class, {title}: {args.users} users for "
                      f"{args.duration:g} s", "",
                  f"{args.users} gradio_client users on loopback, {who} "
                  f"({', '.join(f'{a} {w:.0%}' for a, w in zip(ACTIONS, WEIGHTS) if not uploading or a != 'upload')}); "
                  "a map click is the sample opened and both maps redrawn with its constellation; uploads are "
                  "`assets/example-review.mp4` or its audio track as a wav, with speech-to-text; between actions a "
                  f"user reads the answer for {args.think:g} s on average (0.5–1.5 ×). Wall {run['wall']:.0f} s"
                  + (f"; 1-min load average every 5 s: median {statistics.median(run['loads']):.1f}, range "
                     f"{min(run['loads']):.1f}–{max(run['loads']):.1f}" if run["loads"] else "")
                  + f". Goals: {', '.join(f'{a} p95 < {fmt_s(g)}' for a, g in goals.items())}"
                  + ("" if uploading else ", 0 errors") + ".", "",
                  "| action | calls | errors | median | p95 | goal |", "|---|---:|---:|---:|---:|---|"]
        total = errs = 0
        for a in ACTIONS:
            ok, bad = run["lat"][a], run["errors"][a]
            total += len(ok) + len(bad)
            errs += len(bad)
            goal = goals.get(a)
            p95 = pct(ok, 95) if ok else None
            mark = "" if goal is None or p95 is None else f"p95 < {fmt_s(goal)} " + ("✓" if p95 < goal else "✗")
            lines.append(f"| {a} | {len(ok) + len(bad)} | {len(bad)} | {fmt_s(med(ok))} | {fmt_s(p95)} | {mark} |")
        lines += [f"| all | {total} | {errs} {'✓' if not errs else '✗'} | | | 0 errors |", ""]
        clips = run["clips"]
        procs = run["processes"]
        server = procs.get(proc.pid)
        workers = [(pid, v) for pid, v in procs.items() if pid != proc.pid]
        lines.append(f"Uploads, from the app's log: {len(clips['extracted'])} extracted in the worker (median "
                     f"{fmt_s(med(clips['extracted']))}), {len(clips['from the cache'])} read from the result cache "
                     f"(median {fmt_s(med(clips['from the cache']))}). Processes, from /proc: the server"
                     + (f" at nice {server[0]} used {server[1]:.0f} CPU-s" if server else " (gone)")
                     + "".join(f"; the clip extractor's worker (pid {pid}) at nice {v[0]} used {v[1]:.0f} CPU-s"
                               for pid, v in workers) + f" in these {run['wall']:.0f} s.")
        missed = [a for a, goal in goals.items() if run["lat"][a] and pct(run["lat"][a], 95) >= goal]
        if missed and server and run["loads"]:   # why: the cores, measured (the server's CPU-seconds over the run's wall time)
            cores = os.cpu_count() or 1
            lines.append(f"Why {' and '.join(missed)} miss their goal here: the requests wait for the CPU. The server "
                         f"alone kept {server[1] / run['wall']:.1f} of the machine's {cores} cores busy on average, "
                         f"and the 1-min load average stayed at {statistics.median(run['loads']):.1f} (median): with "
                         f"{args.users} users each request queues behind the others' computations, where one user "
                         "alone gets the same answers well inside the goals (the one-user table).")
        label = f"with {args.uploaders} of {args.users} users uploading" if uploading else f"with {args.users} users"
        if not uploading:
            summary.insert(0, (f"0 errors with {args.users} users", f"{errs} errors in {total} actions", errs == 0))
        for a, goal in goals.items():
            ok = run["lat"][a]
            p95 = pct(ok, 95) if ok else None
            summary.insert(len([x for x in summary if "p95" in x[0] or x[0].startswith("0 errors")]),
                           (f"{a} p95 < {fmt_s(goal)} {label}", f"p95 {fmt_s(p95)} (median {fmt_s(med(ok))}, "
                            f"{len(ok)} calls)", None if p95 is None else p95 < goal))
        if errs:
            from collections import Counter
            lines += ["", "Errors, each message once with its count (the app's own message is in its log, "
                      f"`{log}`, while it lasts): " + "; ".join(
                          f"{a}: " + ", ".join(f"{n} × {m}" for m, n in Counter(v).most_common())
                          for a, v in run["errors"].items() if v), ""]
    if summary:
        lines[top:top] = ["## Goals of issues 30 and 32", "", "| goal | measured | |", "|---|---|---|",
                          *[f"| {g} | {m} | {'–' if ok is None else 'met ✓' if ok else 'not met ✗'} |"
                            for g, m, ok in summary], ""]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
