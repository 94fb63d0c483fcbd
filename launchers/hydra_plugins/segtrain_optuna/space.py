"""Hydra sweep overrides -> Optuna distributions (pure; no Optuna import until needed).

``interval(a, b)`` is a continuous range (``tag(log, ...)`` for a log scale,
``tag(int, ...)`` for integers), ``range(a, b, step=s)`` a stepped one (end excluded, as in
Python), ``choice(...)`` or ``a,b,c`` a categorical one. Any other override is fixed for
every trial.

Hydra's plugin scan executes this module before it is in ``sys.modules``, so no
``from __future__ import annotations`` (dataclasses could not resolve the annotations).
"""

import math
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep

from segtrain.errors import ConfigError


@dataclass(frozen=True)
class Dimension:
    """One searched parameter, independent of Optuna's classes (easy to test, to print)."""

    key: str
    kind: str  # "float" | "int" | "categorical"
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def distribution(self) -> Any:
        import optuna.distributions as d

        if self.kind == "categorical":
            return d.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return d.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        return d.FloatDistribution(
            float(self.low),
            float(self.high),
            log=self.log,
            step=None if self.step is None else float(self.step),
        )


def _dimension(override: Override) -> Dimension:
    key = override.get_key_element()
    sweep = override.value()
    tags = set(getattr(sweep, "tags", set()) or set())
    log = "log" in tags
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        if low is None or high is None or low >= high:
            raise ConfigError(f"{key}: interval({low}, {high}) needs low < high")
        if log and low <= 0:
            raise ConfigError(f"{key}: a log-scale interval needs low > 0, got {low}")
        if "int" in tags:  # Hydra parses interval bounds as floats
            if low != int(low) or high != int(high):
                raise ConfigError(f"{key}: tag(int, interval({low}, {high})) needs integer bounds")
            return Dimension(key, "int", int(low), int(high), log=log)
        return Dimension(key, "float", float(low), float(high), log=log)
    if isinstance(sweep, RangeSweep):
        start, stop, step = sweep.start, sweep.stop, sweep.step
        if start is None or stop is None or step is None or step <= 0 or stop <= start:
            raise ConfigError(f"{key}: range({start}, {stop}, step={step}) must be increasing")
        if sweep.shuffle:
            raise ConfigError(f"{key}: shuffle() has no meaning for a searched range")
        ints = all(isinstance(v, int) for v in (start, stop, step))
        # Python's range excludes stop; Optuna's high is inclusive
        last = start + step * (math.ceil((stop - start) / step - 1e-9) - 1)
        if ints:
            return Dimension(key, "int", int(start), int(last), step=int(step), log=log)
        return Dimension(key, "float", float(start), float(last), step=float(step), log=log)
    if isinstance(sweep, ChoiceSweep):
        if sweep.shuffle:
            raise ConfigError(f"{key}: shuffle() has no meaning for a searched choice")
        values = tuple(sweep.list)
        if not values:
            raise ConfigError(f"{key}: choice() needs at least one value")
        for value in values:
            if not isinstance(value, (str, int, float, bool)) and value is not None:
                raise ConfigError(
                    f"{key}: choice value {value!r} is a {type(value).__name__}; Optuna "
                    "choices must be strings, numbers, booleans or null"
                )
        return Dimension(key, "categorical", choices=values)
    raise ConfigError(f"{key}: unsupported sweep {override.input_line!r}")


def search_space(
    arguments: list[str], params: dict[str, str] | None = None
) -> tuple[list[Dimension], list[str]]:
    """(searched dimensions, fixed overrides) from config ``params`` and the command line.

    A key given on the command line replaces the same key from ``params``.
    """
    merged: dict[str, str] = {str(k): str(v) for k, v in (params or {}).items()}
    fixed: list[str] = []
    parser = OverridesParser.create()
    for text in arguments:
        try:
            (override,) = parser.parse_overrides([text])
        except Exception as err:
            raise ConfigError(f"cannot parse sweep override {text!r}: {err}") from None
        if override.is_sweep_override():
            merged[override.get_key_element()] = text.split("=", 1)[1]
        else:
            merged.pop(override.get_key_element(), None)
            fixed.append(text)
    dims: list[Dimension] = []
    for key, value in merged.items():
        try:
            (override,) = parser.parse_overrides([f"{key}={value}"])
        except Exception as err:
            raise ConfigError(f"hydra.sweeper.params.{key}={value!r}: {err}") from None
        if override.is_sweep_override():
            dims.append(_dimension(override))
        else:
            fixed.append(f"{key}={value}")
    if not dims:
        raise ConfigError(
            "the Optuna sweep has nothing to search: give hydra.sweeper.params or a sweep "
            "override such as 'model.lr=tag(log, interval(1e-4, 1e-2))'"
        )
    return dims, fixed


def as_override(key: str, value: Any) -> str:
    """``key=value`` that Hydra parses back to the same value."""
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if value is None:
        return f"{key}=null"
    if isinstance(value, float):
        return f"{key}={value!r}"
    return f"{key}={value}"
