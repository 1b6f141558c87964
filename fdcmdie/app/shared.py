"""What the tabs share on one page: the few states and components more than one tab reads or sets, handed to each
tab's ``build(ctx, shared)``.

A tab module owns its layout and its events; it reaches another tab only through this object: it opens a sample in
the explorer by setting ``model``, ``split`` and ``sample`` (and ``tabs`` to switch to it), reads the explorer's
``selected`` sample or the latest ``upload``. Components a later tab creates are not there yet while an earlier tab
builds: wiring that needs them goes in ``shared.after(fn)``, run once every tab is built.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import gradio as gr


@dataclass
class Shared:
    demo: gr.Blocks
    tabs: gr.Tabs
    selected: gr.State           # {"model", "split", "id", "row"} of the explorer's sample, or None
    upload: gr.State             # {model key: {"decoupled": …, "pred": …}, "label": …} of the latest upload, or None
    # the explorer's chooser (set by explorer.build): setting them opens a sample there
    model: gr.Dropdown | None = None
    split: gr.Dropdown | None = None
    sample: gr.Dropdown | None = None
    filters: list = field(default_factory=list)        # the explorer's [model, split, label from, to, polarity, …]
    table_outputs: list = field(default_factory=list)  # [table, sample, table status]: what a filter change refills
    view_link: gr.Textbox | None = None                # "link to this view" (links.build fills it)
    tab_ids: list[str] = field(default_factory=list)   # ids of the tabs built so far (deep links check against them)
    _after: list[Callable[[], None]] = field(default_factory=list)

    @property
    def open_sample(self) -> list:
        """Outputs that open a sample in the explorer: [tabs, model, split, sample]."""
        return [self.tabs, self.model, self.split, self.sample]

    def after(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` once every tab is built (for events that reach a tab built later)."""
        self._after.append(fn)

    def finish(self) -> None:
        for fn in self._after:
            fn()
        self._after.clear()
