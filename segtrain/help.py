"""``segtrain <command> --help``: the command's config groups and options, described.

Hydra's own ``--help`` lists every group in the tree (the schema store included) and
dumps the composed config without a word on what a key means. This help is built from
what the command really composes: only the groups in its defaults list, each with its
options (the chosen one marked), then every option as ``key=value`` (the composed
value, so ``model=enet --help`` shows ENet's) with the one-line description written
as the field's docstring in :mod:`segtrain.config` and, where the schema has a list of
choices, those choices. Docstrings are read with :mod:`ast`, not imported, so nothing
beyond the config module is loaded.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import shutil
import textwrap
import typing
from collections.abc import Iterator, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from segtrain.config import RULE, Rule

#: groups that are Hydra's own but matter to a segtrain user (sweeps, SageMaker)
HYDRA_GROUPS = ("hydra/launcher", "hydra/sweeper")
KEY_COLUMN = 38


@functools.cache
def field_docs(schema: type) -> dict[str, str]:
    """``{field: docstring}`` of a dataclass, its bases' fields included (a base's
    docstring stands unless the subclass documents the field again)."""
    docs: dict[str, str] = {}
    for klass in reversed(schema.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):  # no source (frozen app): no descriptions
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, nxt in zip(body, [*body[1:], None], strict=True):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def options(cfg: DictConfig, path: str = "") -> Iterator[tuple[str, str, str]]:
    """``(key, shown value, description)`` for every leaf of ``cfg`` that a schema types,
    in schema order; sub-configs are walked, ``task`` (the command itself) is left out."""
    schema = OmegaConf.get_type(cfg)
    if schema is None or not dataclasses.is_dataclass(schema):
        return
    docs = field_docs(schema)
    hints = _type_hints(schema)
    for spec in dataclasses.fields(schema):
        key = f"{path}.{spec.name}" if path else spec.name
        if key == "task" or spec.name not in cfg:
            continue
        node = cfg._get_node(spec.name)
        if isinstance(node, DictConfig) and dataclasses.is_dataclass(
            OmegaConf.get_type(node) or hints.get(spec.name)
        ):
            yield from options(node, key)
            continue
        yield key, _shown(node), _describe(docs.get(spec.name, ""), spec.metadata.get(RULE))


def _type_hints(schema: type) -> dict[str, typing.Any]:
    try:
        return typing.get_type_hints(schema)
    except Exception:  # a forward reference that cannot resolve: fall back to the node
        return {}


def _shown(node: typing.Any) -> str:
    if isinstance(node, ListConfig | DictConfig):
        if node._is_missing():
            return "???"
        value = OmegaConf.to_container(node, resolve=False)
        return str(value).replace(" ", "").replace("'", "")
    raw = node._value()
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return str(raw).lower()
    return str(raw)


def _describe(doc: str, rule: Rule | None) -> str:
    if rule is not None and rule.choices and not all(c in doc for c in rule.choices):
        choices = "{" + "|".join(rule.choices) + "}"
        return f"{doc} {choices}" if doc else choices
    return doc


def group_lines(choices: dict[str, str | None], group_options: dict[str, list[str]]) -> list[str]:
    """``  model: deeplabv3 (default), enet`` for each group the command composes."""
    lines = []
    width = max((len(g) for g in group_options), default=0) + 1
    for group, found in group_options.items():
        chosen = choices.get(group)
        shown = [f"{o} (default)" if o == chosen else o for o in found]
        text = _wrap(", ".join(shown) or "(none)", max(_columns() - width - 3, 30))
        lines.append(f"  {group + ':':<{width}} {text[0]}")
        lines += [" " * (width + 3) + t for t in text[1:]]
    return lines


def option_lines(cfg: DictConfig, width: int | None = None) -> list[str]:
    """The options section: ``key=value`` then its description, wrapped to the terminal."""
    width = width or _columns()
    lines: list[str] = []
    section = None
    for key, value, doc in options(cfg):
        top = key.split(".", 1)[0] if "." in key else ""
        if top != section:
            section = top
            lines.append("")
            lines.append(f" {top}.*" if top else " (top level)")
        head = f"  {key}={value}"
        if not doc:
            lines.append(head)
            continue
        if len(head) >= KEY_COLUMN:
            lines.append(head)
            head = ""
        wrapped = _wrap(doc, max(width - KEY_COLUMN, 30))
        lines.append(f"{head:<{KEY_COLUMN}}{wrapped[0]}")
        lines += [" " * KEY_COLUMN + w for w in wrapped[1:]]
    return lines


def _columns() -> int:
    return min(shutil.get_terminal_size((100, 24)).columns, 120)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def command_help(prog: str, summary: str, config_name: str, overrides: Sequence[str] = ()) -> str:
    """The whole ``--help`` text of one command (composes its config once)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.object_type import ObjectType

    from segtrain._configs import config_dir
    from segtrain.config import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
            loader = GlobalHydra.instance().config_loader()
            choices = dict(cfg.hydra.runtime.choices)
            groups = [g for g in choices if not g.startswith("hydra/")]
            groups = sorted(groups) + [g for g in HYDRA_GROUPS if g in choices]
            found = {
                g: loader.get_group_options(g, results_filter=ObjectType.CONFIG) for g in groups
            }
    finally:
        GlobalHydra.instance().clear()
    with open_dict(cfg):
        del cfg["hydra"]
    lines = [
        f"{prog}: {summary}",
        "",
        f"usage: {prog} [group=option ...] [key=value ...] [-m] [--cfg job] [--hydra-help]",
        "",
        "Config groups (group=option):",
        *group_lines(choices, found),
        "",
        "Options (key=value; the value shown is this command's default):",
        *option_lines(cfg),
        "",
        "Also: --cfg job prints the composed config; -m with a,b or a sweep=... runs a sweep;",
        "verbose=true shows the libraries' start-up lines; --hydra-help lists Hydra's flags;",
        f'`eval "$({prog} --shell-completion install=bash)"` enables tab completion.',
    ]
    return "\n".join(lines)
