"""Reading the seed's Python graph files back into component chains."""

from __future__ import annotations

import pytest

from constructs_lib._render import graph as _graph
from constructs_lib.model.serve_config import Component
from constructs_lib.tools.helm.graph_file import GraphFileError, parse

SEED_SINGLE = """\
from components.frontend import Frontend
from components.kv_router import Router
from components.prefill_worker import PrefillWorker
from components.processor import Processor
from components.worker import VllmWorker
Frontend.link(Processor).link(Router).link(VllmWorker).link(PrefillWorker)
"""


def test_the_seeds_graph_reads_as_its_chain() -> None:
    graph = parse(SEED_SINGLE)
    assert graph.chain == [Component.FRONTEND, Component.PROCESSOR, Component.ROUTER,
                           Component.VLLM_WORKER, Component.PREFILL_WORKER]
    assert graph.unused_imports == []


def test_a_generated_graph_reads_back_as_the_same_chain() -> None:
    chain = [Component.FRONTEND, Component.PROCESSOR, Component.VLLM_WORKER]
    assert parse(_graph.render(chain)).chain == chain


def test_comments_blank_lines_and_spacing_are_accepted() -> None:
    text = """
# decode only
from components.frontend import Frontend   # the HTTP server

from components.worker import VllmWorker
Frontend . link( VllmWorker )
"""
    assert parse(text).chain == [Component.FRONTEND, Component.VLLM_WORKER]


def test_imports_that_are_not_linked_are_reported_and_left_out() -> None:
    text = SEED_SINGLE.replace(".link(PrefillWorker)", "")
    graph = parse(text)
    assert Component.PREFILL_WORKER not in graph.chain
    assert graph.unused_imports == ["PrefillWorker"]


@pytest.mark.parametrize("text, message", [
    (SEED_SINGLE + "print('hi')\n",
     "line 7: \"print('hi')\" cannot be converted; a graph file may hold only "
     "`from components.<module> import <Component>` lines and one "
     "`Frontend.link(<Component>)...` chain"),
    ("import os\n" + SEED_SINGLE, "line 1: 'import os' cannot be converted; a graph file may "
     "hold only `from components.<module> import <Component>` lines and one "
     "`Frontend.link(<Component>)...` chain"),
    ("from components.frontend import Frontend\n",
     "has no chain; a graph file may hold only `from components.<module> import <Component>` "
     "lines and one `Frontend.link(<Component>)...` chain"),
    (SEED_SINGLE + "Frontend.link(Processor)\n", "has 2 chains (lines 6, 7); a graph file may "
     "hold only `from components.<module> import <Component>` lines and one "
     "`Frontend.link(<Component>)...` chain"),
    ("from components.processor import Processor\nfrom components.worker import VllmWorker\n"
     "Processor.link(VllmWorker)\n",
     "the chain starts at Processor, but the seed serves graphs.<file>:Frontend, so it must "
     "start at Frontend"),
    ("from components.frontend import Frontend\nfrom components.planner import Planner\n"
     "Frontend.link(Planner)\n",
     "links Planner, which is not one of the image's components (Frontend, Processor, Router, "
     "VllmWorker, PrefillWorker)"),
    ("from components.frontend import Frontend\nFrontend.link(Processor)\n",
     "links Processor but never imports it (from components.processor import Processor)"),
    ("from components.frontend import Frontend\nfrom components.router import Router\n"
     "Frontend.link(Router)\n",
     "imports Router from components.router, but the image's Router is in components.kv_router"),
    ("from components.frontend import Frontend\nfrom components.worker import VllmWorker\n"
     "Frontend.link(VllmWorker).link(VllmWorker)\n", "links VllmWorker twice"),
])
def test_other_shapes_are_refused(text: str, message: str) -> None:
    with pytest.raises(GraphFileError) as err:
        parse(text)
    assert str(err.value) == message
