"""Sphinx extension: pages generated from the library at build time, so they cannot drift.

On ``config-inited`` it writes ``docs/api.md`` (the API reference, an autosummary
table per public module's ``__all__``) and, under ``docs/_generated/`` (included by the pages):

* ``model_<name>.md``: the tables of every registered model (:func:`sbidic.get_model`):
  conductances with seed and Monte Carlo ranges, constants, threshold voltage, target
  box, compensation rules, simulation protocol, Brian2 equations;
* ``card_<model>[_<regime>].md``: every shipped estimator's model card
  (``sbidic/weights/**/model_card.json``) as tables;
* ``npe_cards.md``: the model cards of the shipped NPE baselines
  (``sbidic/weights/<model>/npe/<conditioner>/``), or a line saying none is shipped;

and copies ``tutorials/*.py`` to ``docs/tutorials/`` (only when changed, so the
notebook cache stays valid), where myst-nb executes them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import sbidic
from sbidic.simulate import PROTOCOLS, default_integration

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"
WEIGHTS = Path(sbidic.__file__).parent / "weights"

__all__ = [
    "api_markdown", "estimator_card_markdown", "model_markdown", "npe_cards_markdown", "setup",
]  # fmt: skip


def _unit(name: str) -> str:
    return "mV" if name.startswith("E_") else "ms" if name.startswith("tau_") else ""


def _range(lo_hi) -> str:
    return f"{lo_hi[0]:g}, {lo_hi[1]:g}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def model_markdown(name: str) -> str:
    """Markdown tables describing model ``name`` from its class attributes."""
    model = sbidic.get_model(name)
    seed = model.seed
    protocol = PROTOCOLS.get(model.name)
    method, dt = default_integration(model)
    out = [
        f"{model.description}. Class `{type(model).__module__}.{type(model).__name__}`.\n\n",
        _table(
            ["quantity", "value"],
            [
                ["threshold voltage V_th (DICs, targets, compensation)", f"{model.V_th:g} mV"],
                ["state variables", ", ".join(f"`{s}`" for s in model.state_variables)],
                *[[f"target box {k}", f"[{_range(v)}]"] for k, v in model.target_box.items()],
                [
                    "published protocol (duration, discarded transient)",
                    f"{protocol[0]:g} ms, {protocol[1]:g} ms" if protocol else "none",
                ],
                ["default integration", f"{method}, dt = {dt:g} ms"],
            ],
        ),
        "\n**Conductances** (mS/cm², columns in this order):\n\n",
    ]
    rows = []
    for c in model.conductances:
        if c in seed.drawn:
            role = f"drawn U[{_range(seed.drawn[c])}], scaled by g_leak"
        elif c in seed.compensated:
            role = "compensated"
        elif c == "leak":
            role = f"gamma with the mean and variance of U[{_range(seed.leak_range)}]"
        else:
            role = "fixed"
        mc = model.monte_carlo_ranges.get(c)
        plausible = (model.conductance_ranges or {}).get(c)
        rows.append([f"`g_{c}`", role, f"[{_range(plausible)}]" if plausible else "",
                     f"[{_range(mc)}]" if mc else ""])  # fmt: skip
    out.append(_table(["conductance", "seed population", "plausible range",
                       "Monte Carlo range (NPE prior)"], rows))  # fmt: skip
    if model.ranges_source:
        out.append(f"\nPlausible ranges: {model.ranges_source}.\n")
    out.append("\n**Constants** (reversal potentials and calcium dynamics):\n\n")
    out.append(
        _table(
            ["constant", "value", "unit"],
            [[f"`{k}`", f"{v:g}", _unit(k)] for k, v in model.constants.items()],
        )
    )
    out.append("\n**Compensation** (Brandoit et al. 2025):\n\n")
    out.append(
        _table(
            ["step", "rule"],
            [
                [
                    "seed cells",
                    f"compensate {', '.join(f'`g_{c}`' for c in seed.compensated)} to "
                    f"(g_f, g_s, g_u) = ({', '.join(f'{t:g}' for t in seed.target)})",
                ],
                [
                    "target (g_s, g_u)",
                    "one pair per target, chosen by `compensation_choice` among "
                    + ", ".join(f"(`g_{a}`, `g_{b}`)" for a, b in model.compensation_sets),
                ],
            ],
        )
    )
    out.append("\n**Brian2 equations** (units attached; `Cm` = 1 uF/cm²):\n\n")
    out.append("```text\n" + model.equations.strip("\n") + "\n```\n")
    return "".join(out)


def _metrics_rows(by_class: list[dict]) -> list[list]:
    keys = ["MAE g_s (mean)", "MAE g_u (mean)"]
    keys += [f"coverage {p}% {dic}" for dic in ("g_s", "g_u") for p in (50, 80, 95)]
    return [
        [m["class"], m["n"], *(f"{m.get(k, float('nan')):.2f}" for k in keys)] for m in by_class
    ]


_METRIC_HEADER = ["class", "n", "MAE g_s", "MAE g_u", "cov. 50/80/95 % g_s", "", "",
                  "cov. 50/80/95 % g_u", "", ""]  # fmt: skip


def _calibration_markdown(metrics: dict) -> str:
    """Per-class SBC (KS p, mean rank +- its standard error clustered by target) and,
    where the benchmark repeated the draw of cells, how often the KS tests failed."""
    out = []
    calibration = metrics.get("calibration_by_class")
    if calibration:
        def rank(m, dic):
            se = m.get(f"SE mean rank {dic}")
            return f"{m[f'mean rank {dic}']:.3f}" + ("" if se is None else f" +- {se:.3f}")

        out.append("\n" + _table(
            ["class", "n", "SBC rank KS p g_s", "SBC rank KS p g_u", "mean rank g_s",
             "mean rank g_u", "TARP ATC"],
            [[m["class"], m["n"], f"{m['SBC rank KS p g_s']:.2g}",
              f"{m['SBC rank KS p g_u']:.2g}", rank(m, "g_s"), rank(m, "g_u"),
              f"{m['TARP ATC']:.4f}"] for m in calibration],
        ))  # fmt: skip
    redraws = metrics.get("sbc_redraws")
    if redraws:
        out.append(
            f"\nShare of {redraws['draws']} draws of {redraws['cells_per_target']} cell(s) per "
            "target whose KS test has p <= 0.01, next to exactly uniform ranks of the same "
            "sizes (independent, and linked within targets as the network's ranks are):\n\n"
        )
        out.append(_table(
            ["test", "recordings per draw", "draws failing", "uniform, independent",
             "uniform, linked", "within-target correlation"],
            [[t["class"], f"{t['n per draw']:.0f}", f"{t['draws failing']:.3f}",
              f"{t['uniform ranks failing']:.3f}",
              _optional(t.get("linked uniform ranks failing"), ".3f"),
              _optional(t.get("within-target correlation"), ".2f")]
             for t in redraws["tests"]],
        ))  # fmt: skip
    return "".join(out)


def _optional(value, fmt: str) -> str:
    """``value`` formatted, or a dash where it is missing or NaN."""
    return "-" if value is None or value != value else format(value, fmt)


def estimator_card_markdown(card: dict) -> str:
    """Markdown of a shipped estimator's ``model_card.json``."""
    data = card.get("data", {})
    out = [
        _table(
            ["field", "value"],
            [
                ["model", f"`{card['model']}`"],
                ["parameters", f"{card['n_parameters']:,}"],
                [
                    "training data",
                    f"`{data.get('dataset_dir')}` ({data.get('n_cells', 0):,} cells, "
                    f"sha256 `{str(data.get('content_sha256', ''))[:12]}`...)",
                ],  # fmt: skip
                ["seed", card.get("seed")],
                [
                    "CPU time, all stages",
                    f"{card.get('wall_time_s_total', card['wall_time_s']) / 60:.0f} min",
                ],
                ["torch", card.get("torch_version")],
                ["firing atlas", f"`{card.get('firing_atlas', 'none')}`"],
            ],
        ),
    ]
    recipe = card.get("recipe") or [{"command": card.get("command")}]
    out.append("\n**Recipe** (run in this order):\n\n```bash\n")
    out.append("\n".join(step["command"] for step in recipe) + "\n```\n")
    if card.get("recipe_note"):
        out.append(f"\n{card['recipe_note']}\n")
    tests = {"clean test trains": card.get("test_metrics")}
    tests.update(card.get("perturbed_test_metrics") or {})
    for label, metrics in tests.items():
        if not metrics:
            continue
        out.append(f"\n**Held-out test split, {label}** (`{metrics['command']}`):\n\n")
        out.append(_table(_METRIC_HEADER, _metrics_rows(metrics["by_class"])))
    for label, metrics in (card.get("held_out_metrics") or {}).items():
        out.append(f"\n**Calibration, {label}** (`{metrics['command']}`):\n\n")
        out.append(_table(_METRIC_HEADER, _metrics_rows(metrics["by_class"])))
        out.append(_calibration_markdown(metrics))
    if card.get("transfer_vs_scratch"):
        out.append(
            f"\nTransfer from STG vs from scratch: {card['transfer_vs_scratch']['selected']}.\n"
        )
    return "".join(out)


def npe_cards_markdown(cards: dict[str, dict]) -> str:
    """Markdown of the shipped NPE baselines' ``model_card.json`` (``train_npe``), keyed
    by their directory under ``sbidic/weights``."""
    if not cards:
        return "No NPE weights are shipped in this build (see *Equal-budget weights* below).\n"
    out = []
    for where, card in cards.items():
        recipe, data = card.get("recipe", {}), card.get("data", {})
        training, flow = card.get("training", {}), recipe.get("flow") or {}
        silent = data.get("silent_fraction")
        rows = [
            ["model, conditioner", f"`{card.get('model')}`, `{card.get('conditioner')}`"],
            ["flow", f"{flow.get('model')}, {flow.get('num_transforms')} transforms, "
                     f"{flow.get('hidden_features')} hidden features"],
            ["training data", f"`{data.get('path')}`: {data.get('simulations', 0):,} "
                              f"simulations, {100 * (silent or 0):.1f} % silent"],
            ["cells used", f"{data.get('cells_used', 0):,} (left out: "
                           f"{data.get('left_out_silent', 0):,} silent, "
                           f"{data.get('left_out_below_floor', 0):,} below the floor)"],
            ["training", f"{training.get('epochs')} epochs, stopped by "
                         f"{training.get('stop_reason')}, best validation loss "
                         f"{training.get('best_validation_loss', float('nan')):.3f}"],
            ["CPU time", f"{training.get('cpu_time_s', 0):,.0f} s "
                         f"({training.get('torch_threads')} torch thread(s))"],
            ["batch size, learning rate, patience, seed",
             f"{recipe.get('batch_size')}, {recipe.get('learning_rate')}, "
             f"{recipe.get('patience')}, {recipe.get('seed')}"],
            ["torch", card.get("torch_version")],
        ]  # fmt: skip
        out.append(f"\n**`sbidic/weights/{where}`**\n\n" + _table(["field", "value"], rows))
    return "".join(out)


#: Public modules of the API reference, in data-path order, with one line of why.
API_MODULES = {
    "sbidic": "The public interface: everything most users need.",
    "sbidic.models": "Conductance-based models behind one interface.",
    "sbidic.dics": "Sensitivity matrix, Dynamic Input Conductances and threshold voltage.",
    "sbidic.population": "Compensation and the degenerate population sampler.",
    "sbidic.spikes": "Spike trains: container, detection, labels, features, files.",
    "sbidic.simulate": "Brian2 simulation of whole populations; band-limited noise.",
    "sbidic.datasets": "Resumable, chunked training datasets.",
    "sbidic.inference": "Spike-train encoder, DIC posterior, training, verified populations.",
    "sbidic.fidelity": "Scores of simulated cells against their recordings; firing atlas.",
    "sbidic.files": "Output paths checked before any work, all-or-nothing writes.",
    "sbidic.plotting": "Figures of simulated populations.",
}


def api_markdown() -> str:
    """The API reference page: one autosummary table per public module's ``__all__``."""
    import importlib

    out = [
        "# API reference\n\n",
        "Generated from the docstrings of every name in each public module's `__all__` "
        "(`sbidic/__init__.py` first). Units: V in mV, t in ms, conductances in mS/cm².\n",
    ]
    top = set(sbidic.__all__)
    for module, why in API_MODULES.items():
        names = importlib.import_module(module).__all__
        shared = sorted(top.intersection(names), key=str.lower) if module != "sbidic" else []
        names = [name for name in names if name not in shared]
        if shared:
            why += (
                " Also here, documented under `sbidic`: "
                + ", ".join(f"{{obj}}`~sbidic.{name}`" for name in shared)
                + "."
            )
        out.append(
            f"\n## `{module}`\n\n{why}\n\n```{{eval-rst}}\n"
            f".. automodule:: {module}\n   :no-members:\n\n"
        )
        out.append(".. autosummary::\n   :toctree: generated\n\n")
        out.append("".join(f"   {name}\n" for name in sorted(names, key=str.lower)) + "```\n")
    return "".join(out)


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(app=None, config=None) -> None:
    """Write the generated includes and copy the tutorials (see the module docstring)."""
    GENERATED.mkdir(exist_ok=True)
    for name in sbidic.available_models():
        _write(GENERATED / f"model_{name}.md", model_markdown(name))
    npe_cards = {}
    for path in sorted(WEIGHTS.glob("**/model_card.json")):
        where = path.parent.relative_to(WEIGHTS)
        card = json.loads(path.read_text())
        if card.get("estimator") == "npe":  # the NPE baselines: their own card format
            npe_cards[where.as_posix()] = card
            continue
        _write(GENERATED / f"card_{'_'.join(where.parts)}.md", estimator_card_markdown(card))
    _write(GENERATED / "npe_cards.md", npe_cards_markdown(npe_cards))
    _write(DOCS / "api.md", api_markdown())
    target = DOCS / "tutorials"
    target.mkdir(exist_ok=True)
    sources = sorted((ROOT / "tutorials").glob("[0-9]*.py"))
    for stale in set(target.glob("*.py")) - {target / src.name for src in sources}:
        stale.unlink()  # a renamed or removed tutorial
    for src in sources:
        dst = target / src.name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)


def _lookup(name: str):
    """The object a dotted name refers to, or None."""
    import importlib

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def resolve_references(app, env, node, contnode):
    """Resolve what the reference documents under another name; leave unlinked what
    exists in sbidic but has no page; let everything else fail (a broken reference).

    ``sbidic.sub.X`` and bare ``X`` of the names of ``sbidic.__all__`` are documented
    once, under ``sbidic``; a bare name is looked up from the referring module and
    class outwards, and a found object is resolved by its canonical dotted name.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    domain = env.get_domain("py")

    def resolve(name):
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], name, node, contnode
        )

    parts = target.split(".")
    for i, part in enumerate(parts):
        if part in sbidic.__all__:
            alias = "sbidic." + ".".join(parts[i:])
            if alias != node["reftarget"] and (found := resolve(alias)) is not None:
                return found
    module = node.get("py:module") or ""
    scopes = [module + "." + node["py:class"]] if node.get("py:class") else []
    # the docstring's own module (an object documented under sbidic.X lives elsewhere)
    where = (node.source or "").rpartition("docstring of ")[2]
    for path in (where, module):
        scopes += [".".join(path.split(".")[:k]) for k in range(path.count(".") + 1, 0, -1)]
    for scope in [*scopes, ""]:
        name = f"{scope}.{target}" if scope else target
        if not name.startswith("sbidic") or (obj := _lookup(name)) is None:
            continue
        canonical = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
        return resolve(canonical) or contnode
    return None


def data_docstring(app, what, name, obj, options, lines):
    """Module constants re-exported by a package: their ``#:`` comment from the module
    that defines them, instead of the docstring of their type (``dict``)."""
    import sys

    from sphinx.pycode import ModuleAnalyzer

    if (
        what != "data"
        or not lines
        or "\n".join(lines).strip() != (type(obj).__doc__ or "").strip()
    ):
        return
    attr = name.rsplit(".", 1)[-1]
    for modname, module in list(sys.modules.items()):
        if modname.startswith("sbidic.") and getattr(module, attr, None) is obj:
            doc = ModuleAnalyzer.for_module(modname).find_attr_docs().get(("", attr))
            if doc:
                lines[:] = list(doc)
                return
    lines[:] = []


def setup(app):
    app.connect("missing-reference", resolve_references)
    app.connect("autodoc-process-docstring", data_docstring)
    # before Sphinx lists the source files and autosummary writes its stub pages
    app.connect("config-inited", generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
