"""The paper's recipe (whole text encoder fine-tuned, Table 2 epochs and batch sizes, 5 seeds) on the lent GPU.

The GPU machine has torch/transformers/accelerate but cannot install or download, and receives at most 64 MiB with
the working tree. Three steps:

  here:   python scripts/gpu_paper_recipe.py pack                # writes .devcarry/ (pruned fp16 MiniLM + MOSI files)
                                                                 # and sets checkpoints/ aside in .devaside/
  there:  device run, carry [".devcarry"], command:
          PYTHONUNBUFFERED=1 python3 scripts/gpu_paper_recipe.py run --out $OUT
  here:   python scripts/gpu_paper_recipe.py collect <files_at>/paper-runs.tar.gz   # → runs/<name>-s<seed>/log.jsonl
          python -m fdcmdie report                                                # (collect puts checkpoints/ back)

The shipped checkpoints (checkpoints/, larger than the 64 MiB alone) are not needed there: ``pack`` moves the folder
to .devaside/ (ignored by git, not carried) so that it does not travel, and ``collect`` moves it back;
``restore`` does only that, for a session that stopped in between.

``run`` trains every seed of the plan's ``paper-gpu`` group (configs/experiments.yaml) as concurrent processes on
the one GPU (the model is small; one process cannot fill an H200), each with the plan's exact command plus
overrides that only point at the carried encoder and data. After each finished run the log archive under ``--out``
is rewritten, so a call stopped at its time limit still returns the runs that finished.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fdcmdie.experiments import finished, load_plan, parse_log, read_log  # noqa: E402

LIMIT = 64 * 2 ** 20            # what travels to the device machine: working tree + carried folders
ARCHIVE = "paper-runs.tar.gz"
SHIPPED = "checkpoints"         # the shipped checkpoints: the run needs none of them, pack sets them aside
ASIDE = ".devaside"             # where they wait meanwhile (ignored by git, never carried)


def tree_bytes() -> int:
    """Bytes of the files git would send once ``SHIPPED`` is set aside: tracked plus untracked-not-ignored."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode()
    return sum((ROOT / p).stat().st_size for p in out.split("\0")
               if p and not p.startswith(SHIPPED + "/") and (ROOT / p).is_file())


def set_aside(shipped: Path, aside: Path) -> None:
    """Move the shipped-checkpoint folder into ``aside`` (so the device call does not send it)."""
    parked = aside / shipped.name
    if parked.exists() and shipped.exists():
        raise SystemExit(f"both {shipped} and {parked} exist: run `restore` first (nothing moved)")
    if shipped.exists():
        aside.mkdir(parents=True, exist_ok=True)
        shipped.rename(parked)
        print(f"moved  {shipped} → {parked} (collect or restore puts it back)")


def put_back(shipped: Path, aside: Path) -> None:
    """Undo ``set_aside``; a no-op when nothing is parked."""
    parked = aside / shipped.name
    if not parked.exists():
        return
    if shipped.exists():
        raise SystemExit(f"both {shipped} and {parked} exist: compare them and remove one (nothing moved)")
    parked.rename(shipped)
    print(f"moved  {parked} → {shipped}")


def pack(args) -> int:
    import pandas as pd

    from fdcmdie.portable import folder_bytes, pack_encoder
    bundle = ROOT / args.bundle
    data = bundle / "data" / "mosi"
    data.mkdir(parents=True, exist_ok=True)
    from fdcmdie.data.location import data_file
    src = Path(args.data_root) / "mosi"
    for name in ("labels.csv", "utterance_features.npz"):
        found = data_file(src / name)        # labels.csv.gz in the shipped data/
        (data / found.name).write_bytes(found.read_bytes())
    texts = pd.read_csv(data_file(src / "labels.csv"))["text"].fillna(".").astype(str).tolist()
    pack_encoder(args.encoder, texts, bundle / "encoder", max_len=args.max_len)
    size, tree = folder_bytes(bundle), tree_bytes()
    print(f"{bundle}: {size / 2**20:.1f} MiB; working tree without {SHIPPED}/ {tree / 2**20:.1f} MiB; "
          f"together {(size + tree) / 2**20:.1f} of {LIMIT / 2**20:.0f} MiB")
    if size + tree > LIMIT:
        print("too large for the device machine: ship fewer files in the tree or pack fewer texts", file=sys.stderr)
        return 1
    set_aside(Path(args.shipped), Path(args.aside))
    return 0


def write_archive(runs: Path, out: Path) -> None:
    tmp = out / (ARCHIVE + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for f in sorted(runs.glob("*/log.jsonl")) + sorted(runs.glob("*/stdout.txt")):
            tar.add(f, arcname=f"{f.parent.name}/{f.name}")
    tmp.replace(out / ARCHIVE)


def run(args) -> int:
    import torch

    from fdcmdie.portable import unpack_encoder
    bundle = ROOT / args.bundle
    if not (bundle / "encoder").is_dir():
        print(f"{bundle}/encoder missing: run `pack` first and carry {args.bundle}", file=sys.stderr)
        return 2
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    work = Path(tempfile.mkdtemp(prefix="fdcmdie-gpu-"))
    encoder = unpack_encoder(bundle / "encoder", work / "encoder")
    runs, out = work / "runs", Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _, plan = load_plan(ROOT / args.plan)
    seeds = {int(s) for s in args.seeds.split(",")} if args.seeds else None
    jobs = []
    for exp in plan:
        if exp.group != args.group:
            continue
        for seed in exp.seeds:
            if seeds and seed not in seeds:
                continue
            cmd = exp.command(seed, str(runs))[1:]  # drop "python": run with this interpreter
            cmd += ["--set", f"model.text_encoder={encoder}", "--set", f"data.root={bundle / 'data'}",
                    "--set", f"train.cache_dir={work / 'cache'}", "--device", device, "--no-progress"]
            cmd += [x for s in args.set for x in ("--set", s)]
            jobs.append((exp.run_name(seed), [sys.executable, *cmd]))
    if not jobs:
        print(f"no runs in group {args.group!r}", file=sys.stderr)
        return 2
    print(f"{len(jobs)} runs on {device}, {args.jobs} at a time; logs → {out / ARCHIVE}", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}

    def one(name: str, cmd: list[str]) -> tuple[str, int, float]:
        (runs / name).mkdir(parents=True, exist_ok=True)
        t = time.time()
        with open(runs / name / "stdout.txt", "w") as log:
            rc = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        return name, rc, time.time() - t

    failed = 0
    with ThreadPoolExecutor(args.jobs) as pool:
        for fut in as_completed([pool.submit(one, n, c) for n, c in jobs]):
            name, rc, secs = fut.result()
            fin = finished(read_log(runs / name / "log.jsonl"))
            if rc or fin is None:
                failed += 1
                tail = (runs / name / "stdout.txt").read_text().splitlines()[-5:]
                print(f"FAILED {name} (rc {rc}, {secs:.0f} s):", *tail, sep="\n  ", flush=True)
            else:
                t = fin["test"]
                print(f"done   {name} in {secs:.0f} s: best epoch {fin['best_epoch']}, test Acc-2 "
                      f"{t['acc2_has0']:.2f}/{t['acc2_non0']:.2f}, MAE {t['mae']:.3f}, Corr {t['corr']:.3f}", flush=True)
            write_archive(runs, out)
    return 1 if failed else 0


def collect(args) -> int:
    runs = ROOT / args.runs_dir
    with tarfile.open(args.archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith("/log.jsonl")]
        for m in members:
            name = Path(m.name).parent.name
            records = parse_log(tar.extractfile(m).read().decode())
            dest = runs / name / "log.jsonl"
            if finished(records) is None:
                print(f"skip   {name}: unfinished on the device")
                continue
            if finished(read_log(dest)) is not None and not args.force:
                print(f"keep   {dest} (finished already; --force replaces it)")
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text("".join(json.dumps(r) + "\n" for r in records))
            print(f"wrote  {dest}")
    put_back(Path(args.shipped), Path(args.aside))
    return 0


def restore(args) -> int:
    put_back(Path(args.shipped), Path(args.aside))
    return 0


def aside_args(a: argparse.ArgumentParser) -> None:
    a.add_argument("--shipped", default=str(ROOT / SHIPPED), help="the shipped-checkpoint folder")
    a.add_argument("--aside", default=str(ROOT / ASIDE), help="where pack parks it")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack", help="here: write the carry folder (pruned fp16 encoder + MOSI files)")
    a.add_argument("--bundle", default=".devcarry")
    a.add_argument("--data-root", default=os.environ.get("FDCMDIE_DATA", str(ROOT / "data")))
    a.add_argument("--encoder", default="minilm")
    a.add_argument("--max-len", type=int, default=64)
    aside_args(a)
    a.set_defaults(fn=pack)
    a = sub.add_parser("run", help="there: train the plan's paper-gpu runs concurrently, archive their logs")
    a.add_argument("--bundle", default=".devcarry")
    a.add_argument("--out", required=True, help="folder for the log archive ($OUT on the device machine)")
    a.add_argument("--plan", default="configs/experiments.yaml")
    a.add_argument("--group", default="paper-gpu")
    a.add_argument("--seeds", default=None, help="comma-separated seeds (default: the plan's)")
    a.add_argument("--jobs", type=int, default=10, help="concurrent training processes")
    a.add_argument("--device", default=None, help="default: cuda when present")
    a.add_argument("--set", action="append", default=[], help="extra config override for every run (smoke tests)")
    a.set_defaults(fn=run)
    a = sub.add_parser("collect", help="here: unpack the archive's finished logs into runs/")
    a.add_argument("archive")
    a.add_argument("--runs-dir", default="runs")
    a.add_argument("--force", action="store_true")
    aside_args(a)
    a.set_defaults(fn=collect)
    a = sub.add_parser("restore", help=f"here: put {SHIPPED}/ back from {ASIDE}/ (what collect does at its end)")
    aside_args(a)
    a.set_defaults(fn=restore)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
