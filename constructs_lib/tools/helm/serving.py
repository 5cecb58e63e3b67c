"""`configs`, `prefillConfigs` and `graphs`: what `dynamo serve` runs, read from the values.

The configs are YAML held in strings; the seed's lowercase `router:` section, which no
component reads, is converted to `Router` with a warning. Graph files are read back into their
chain of components (see graph_file).
"""

from __future__ import annotations

from ...errors import show
from ...model import yaml_input
from .graph_file import GraphFileError
from .graph_file import parse as parse_graph
from .merge import CHART_DEFAULTS, Path
from .reader import Reader


def serve_config(r: Reader, field: str, path: Path) -> None:
    text = r.get(path, "")
    if not isinstance(text, str):
        r.problem(path, f"expected the text of a configs.yaml (a string, e.g. written "
                        f"with `|`), got {show(text)}")
        return
    if not text.strip():
        runs = "the prefill Deployment" if path == ("prefillConfigs",) else "the Deployment"
        r.problem(path, f"is empty, but {runs} runs `dynamo serve -f` with it; it must "
                        "hold the Dynamo configs.yaml")
        return
    try:
        config = yaml_input.parse(text, context=False)
    except yaml_input.YamlError as err:
        for problem in err.problems:
            message = problem.message.removeprefix("invalid YAML: ")
            inside = f"{problem.field}: " if problem.field else ""
            r.problem(path, f"is not valid YAML: {inside}{message} (it holds Dynamo's "
                            "configs.yaml)")
        return
    if not isinstance(config, dict):
        r.problem(path, f"expected a configs.yaml mapping of component sections such as "
                        f"Frontend: and VllmWorker:, got {show(config)}")
        return
    if "router" in config:
        if "Router" in config:
            r.problem((*path, "router"), "is given as well as Router; Dynamo reads only "
                                         "Router. Merge the two sections")
            return
        r.warn((*path, "router"), (
            "converted to Router: components read their section by class name, so no "
            "component read the seed's lowercase section; the Router now uses its settings"))
        config = {("Router" if key == "router" else key): value
                  for key, value in config.items()}
    r.put(field, path, config)


def graph(r: Reader, mode: str) -> None:
    graphs = r.mapping(("graphs",))
    file = "single.py" if mode == "single" else "frontend.py"
    path: Path = ("graphs", file)
    for other in sorted(set(graphs) - {file}):
        if r.values.origin(("graphs", other)) != CHART_DEFAULTS:
            r.warn(("graphs", other), f"is not run in {mode} mode (it runs graphs/{file}); "
                                      "dropped")
    if file not in graphs:
        r.problem(("graphs",), (
            f"has no {file!r}, which the {mode} Deployment runs (`dynamo serve "
            f"graphs.{file[:-3]}:Frontend`); it has: {', '.join(sorted(graphs)) or 'nothing'}"))
        return
    text = graphs[file]
    if not isinstance(text, str):
        r.problem(path, f"expected the text of a Python graph file, got {show(text)}")
        return
    try:
        graph = parse_graph(text)
    except GraphFileError as err:
        r.problem(path, str(err))
        return
    for name in graph.unused_imports:
        r.warn(path, f"imports {name} but never links it; the generated file leaves the "
                     "import out")
    r.put("frontend.graph", path, [c.value for c in graph.chain])
