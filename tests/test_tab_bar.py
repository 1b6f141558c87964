"""The page's tab bar (issue 32): every child of the app's gr.Tabs is a gr.Tab.

Gradio numbers a tab by its place among *all* children of its gr.Tabs, but lists the tab buttons by tab alone; a
component made inside gr.Tabs and outside any gr.Tab (lessons once made three gr.State inputs there) shifts the later
tabs' numbers, and the browser drew the model card's button a second time once the card was opened. The browser
check is tests/test_e2e_class.py (every tab opened, no second tab of any name).
"""
import gradio as gr

import app


def test_every_child_of_the_tab_bar_is_a_tab(ctx):
    demo = app.build_demo(ctx)
    bars = [b for b in demo.blocks.values() if isinstance(b, gr.Tabs)]
    assert bars
    for bar in bars:
        stray = [(type(c).__name__, getattr(c, "elem_id", None)) for c in bar.children if not isinstance(c, gr.Tab)]
        assert not stray, stray
    ids = [c.id for c in bars[0].children]
    assert len(ids) == len(set(ids)) == len(app.TABS)


def test_a_stray_component_in_the_tab_bar_is_found():
    """The check above finds the defect it is there for (a gr.State made beside the tabs)."""
    with gr.Blocks() as demo:
        with gr.Tabs() as bar:
            with gr.Tab("one", id="one"):
                gr.Markdown("1")
            gr.State(None)
            with gr.Tab("two", id="two"):
                gr.Markdown("2")
    assert [type(c).__name__ for c in bar.children] == ["Tab", "State", "Tab"]
    assert demo.config["layout"]   # the stray State is in the page's layout, among the tabs' children
    tabs_node = next(n for n in demo.config["layout"]["children"] if n["id"] == bar._id)
    assert len(tabs_node["children"]) == 3
