"""The ``report:`` section of the experiment plan (``configs/experiments.yaml``): which sections docs/RESULTS.md has
and in which order, the rows of its headline, the comparisons each section states, the goals, the section titles
and the rows replaced by later choices. Adding a comparison is one YAML line.

``$default`` and ``$default-nocl`` stand for the experiments of the app's default pair (``DEFAULT_PAIR`` in
``fdcmdie/checkpoint.py``), so the report follows the default when it changes. A plan without a ``report:`` section
(a test's, a fork's) is reported with the committed plan's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from ..checkpoint import DEFAULT_PAIR

COMMITTED_PLAN = Path(__file__).resolve().parents[2] / "configs" / "experiments.yaml"
DEFAULT, DEFAULT_NOCL = (Path(p).name for p in DEFAULT_PAIR)   # the app's default pair's experiment rows
TOKENS = {"$default": DEFAULT, "$default-nocl": DEFAULT_NOCL}
# every section the report can build (fdcmdie/report/__init__.py SECTIONS builds them)
SECTION_IDS = ("differences", "headline", "standard", "honest-tav", "crossatt2", "paper-gpu", "diagnostic", "ablation",
               "sweep-kcl", "sweep-layers", "mosei", "e5", "ladder", "ladder-e5", "clips", "analyses", "robustness",
               "attributions", "history", "commands")
GOAL_KEYS = ("acc2_non0", "mae", "corr")


def resolve(name: str) -> str:
    """An experiment name with ``$default`` / ``$default-nocl`` replaced by the default pair's rows."""
    return TOKENS.get(name, name)


@dataclass
class History:
    """Rows replaced by a later choice: shown in the history section, left out of their group's table."""
    rows: list[str]       # experiment names
    why: str              # what replaced them and why, one paragraph


@dataclass
class ReportPlan:
    sections: list[str]                                           # section ids (SECTION_IDS), in report order
    titles: dict[str, str] = field(default_factory=dict)          # section id -> its heading
    twin: str | None = None                                       # the default's recipe on text alone (a plan row)
    peers: list[str] = field(default_factory=list)                # the headline's rows after the default pair and twin
    paper: list[str] = field(default_factory=list)                # the paper's rows closing the headline table
    steps: list[tuple[str, str]] = field(default_factory=list)    # (row, what changed): the headline's "where the points go"
    goals: dict[str, dict] = field(default_factory=dict)          # name -> {issue, acc2_non0, mae, corr}
    comparisons: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)   # section id -> (row, ref, what)
    history: list[History] = field(default_factory=list)

    @property
    def history_rows(self) -> set[str]:
        return {name for h in self.history for name in h.rows}

    def title(self, section: str) -> str:
        if section not in self.titles:
            raise ValueError(f"report.titles has no title for section {section!r}")
        return self.titles[section]


def parse(raw: dict, source: str) -> ReportPlan:
    """A ``ReportPlan`` from the plan's ``report:`` mapping; every malformed entry is refused with where it is."""
    unknown = [s for s in raw.get("sections", []) if s not in SECTION_IDS]
    if unknown or not raw.get("sections"):
        raise ValueError(f"{source}: report.sections must list section ids from {', '.join(SECTION_IDS)}"
                         + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    comparisons = {}
    for section, lines in (raw.get("comparisons") or {}).items():
        if section not in SECTION_IDS:
            raise ValueError(f"{source}: report.comparisons.{section}: no such section")
        for i, line in enumerate(lines):
            if not (isinstance(line, list) and len(line) == 3 and all(isinstance(x, str) for x in line)):
                raise ValueError(f"{source}: report.comparisons.{section}[{i}] must be [row, reference, what], "
                                 f"got {line!r}")
        comparisons[section] = [(resolve(a), resolve(b), what) for a, b, what in lines]
    goals = raw.get("goals") or {}
    for name, goal in goals.items():
        if missing := [k for k in ("issue", *GOAL_KEYS) if k not in goal]:
            raise ValueError(f"{source}: report.goals.{name} lacks {', '.join(missing)}")
    head = raw.get("headline") or {}
    steps = head.get("steps") or []
    if any(not (isinstance(s, list) and len(s) == 2) for s in steps):
        raise ValueError(f"{source}: report.headline.steps must be [row, what changed] pairs")
    history = []
    for i, h in enumerate(raw.get("history") or []):
        if not (isinstance(h, dict) and h.get("rows") and h.get("why")):
            raise ValueError(f"{source}: report.history[{i}] needs rows and why")
        history.append(History(rows=[resolve(r) for r in h["rows"]], why=h["why"]))
    return ReportPlan(sections=list(raw["sections"]), titles=dict(raw.get("titles") or {}), twin=head.get("twin"),
                      peers=[resolve(p) for p in head.get("peers") or []], paper=list(head.get("paper") or []),
                      steps=[(resolve(a), b) for a, b in steps], goals=goals, comparisons=comparisons, history=history)


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> ReportPlan:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    if "report" not in raw:
        if Path(path).resolve() == COMMITTED_PLAN:
            raise ValueError(f"{path}: no report: section")
        return committed_report()
    return parse(raw["report"], path)


def load_report(plan_path: str | Path) -> ReportPlan:
    """The report section of the plan at ``plan_path`` (the committed plan's when it has none)."""
    return _load(str(plan_path), Path(plan_path).stat().st_mtime)


def committed_report() -> ReportPlan:
    """The report section of ``configs/experiments.yaml``: the defaults of the report's helpers."""
    return load_report(COMMITTED_PLAN)
