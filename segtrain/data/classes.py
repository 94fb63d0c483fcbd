"""Class maps: what each class index means, which colour draws it, which index is ignored.

One object answers every "which class is this?" question for both engines, the
metrics, the plots and the label encoder. Datasets describe their classes in different
files (A2D2 ``class_list.json``, CamVid Kaggle ``class_dict.csv``, SegNet index lists);
the loaders here turn each into a :class:`ClassMap`. Merges (``Car 1..4 -> Car``) keep
every source colour pointing at the merged index through ``extra_colors``, so the same
colour label files can be read at any granularity.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from segtrain.errors import ConfigError, DataError

RGB = tuple[int, int, int]

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")

#: A colour guaranteed never to be used by a class (drawn for the ignore index).
IGNORE_COLOR: RGB = (0, 0, 0)


def hex_to_rgb(text: str) -> RGB:
    """``"#ff00ff"`` -> ``(255, 0, 255)``."""
    m = _HEX.match(text.strip())
    if not m:
        raise ValueError(f"not a #rrggbb colour: {text!r}")
    v = int(m.group(1), 16)
    return (v >> 16) & 255, (v >> 8) & 255, v & 255


def rgb_to_hex(rgb: Sequence[int]) -> str:
    r, g, b = (int(c) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True)
class ClassMap:
    """Ordered class names with one display colour each.

    ``extra_colors`` maps further label colours to a class index (merged source
    classes) or to ``ignore_index`` (void colours such as CamVid's ``Void``).
    """

    names: list[str]
    colors: list[RGB]
    ignore_index: int = 255
    extra_colors: dict[RGB, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.names) != len(self.colors):
            raise ValueError(f"{len(self.names)} class names but {len(self.colors)} colours")
        if not self.names:
            raise ValueError("a class map needs at least one class")
        if 0 <= self.ignore_index < len(self.names):
            raise ValueError(
                f"ignore_index={self.ignore_index} collides with class "
                f"{self.names[self.ignore_index]!r}; use a value >= {len(self.names)}"
            )
        object.__setattr__(self, "colors", [tuple(int(c) for c in rgb) for rgb in self.colors])
        object.__setattr__(self, "names", list(self.names))
        object.__setattr__(
            self,
            "extra_colors",
            {tuple(int(c) for c in k): int(v) for k, v in dict(self.extra_colors).items()},
        )

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no class named {name!r}; classes: {self.names}") from None

    def color_table(self) -> dict[RGB, int]:
        """Every label colour this map understands -> class index (or ignore_index)."""
        table: dict[RGB, int] = dict(self.extra_colors)
        for i, rgb in enumerate(self.colors):
            table[rgb] = i  # display colours win over extras
        return table

    def palette(self) -> list[RGB]:
        """Colour per index 0..255 for drawing index masks (ignore -> black)."""
        pal = [IGNORE_COLOR] * 256
        for i, rgb in enumerate(self.colors):
            pal[i] = rgb
        return pal

    def fingerprint(self) -> str:
        """Short stable hash: changes whenever the encoding of a label would change."""
        payload = json.dumps(
            [self.names, self.colors, self.ignore_index, sorted(self.extra_colors.items())]
        )
        return hashlib.sha1(payload.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return {
            "names": self.names,
            "colors": [list(c) for c in self.colors],
            "ignore_index": self.ignore_index,
            "extra_colors": [[list(k), v] for k, v in sorted(self.extra_colors.items())],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ClassMap:
        return cls(
            names=list(d["names"]),
            colors=[tuple(c) for c in d["colors"]],
            ignore_index=int(d.get("ignore_index", 255)),
            extra_colors={tuple(k): int(v) for k, v in d.get("extra_colors", [])},
        )

    # ------------------------------------------------------------------ loaders
    @classmethod
    def from_a2d2_json(cls, path: str | Path, ignore_index: int = 255) -> ClassMap:
        """A2D2 ``class_list.json``: ``{"#rrggbb": "name", ...}`` in class order."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise DataError(f"class list not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable JSON class list ({exc})") from None
        if not isinstance(raw, dict) or not raw:
            raise DataError(f"{path}: expected a JSON object {{'#rrggbb': 'class name'}}")
        names, colors = [], []
        for key, name in raw.items():
            try:
                colors.append(hex_to_rgb(key))
            except ValueError:
                raise DataError(f"{path}: key {key!r} is not a #rrggbb colour") from None
            names.append(str(name))
        return cls(names=names, colors=colors, ignore_index=ignore_index)

    @classmethod
    def from_kaggle_csv(
        cls, path: str | Path, ignore_index: int = 255, void_names: Sequence[str] = ("Void",)
    ) -> ClassMap:
        """CamVid Kaggle ``class_dict.csv`` (``name,r,g,b``); ``Void`` becomes ignore.

        The real file has fields with leading spaces and no trailing newline.
        """
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise DataError(f"class_dict.csv not found: {path}") from None
        rows = list(csv.reader(text.splitlines(), skipinitialspace=True))
        rows = [[c.strip() for c in r] for r in rows if any(c.strip() for c in r)]
        if not rows:
            raise DataError(f"{path}: empty class_dict.csv")
        if [c.lower() for c in rows[0]] == ["name", "r", "g", "b"]:
            rows = rows[1:]
        names, colors, extra = [], [], {}
        void = {v.lower() for v in void_names}
        for n, row in enumerate(rows, start=2):
            if len(row) != 4:
                raise DataError(f"{path}:{n}: expected 'name,r,g,b', got {row}")
            try:
                rgb = tuple(int(v) for v in row[1:])
            except ValueError:
                raise DataError(f"{path}:{n}: r,g,b must be integers, got {row[1:]}") from None
            if not all(0 <= v <= 255 for v in rgb):
                raise DataError(f"{path}:{n}: colour {rgb} outside 0..255")
            if row[0].lower() in void:
                extra[rgb] = ignore_index
            else:
                names.append(row[0])
                colors.append(rgb)
        return cls(names=names, colors=colors, ignore_index=ignore_index, extra_colors=extra)

    @classmethod
    def from_index_list(
        cls, names: Sequence[str], colors: Sequence[RGB] | None = None, ignore_index: int = 255
    ) -> ClassMap:
        """Index-labelled datasets (SegNet CamVid): class i is ``names[i]``."""
        if colors is None:
            colors = default_palette(len(names))
        return cls(names=list(names), colors=list(colors), ignore_index=ignore_index)

    @classmethod
    def from_file(cls, path: str | Path, ignore_index: int = 255) -> ClassMap:
        """Any supported class list file, chosen by suffix (.json A2D2 style, .csv Kaggle,
        .txt one name per line)."""
        path = Path(path)
        if path.suffix == ".json":
            return cls.from_a2d2_json(path, ignore_index)
        if path.suffix == ".csv":
            return cls.from_kaggle_csv(path, ignore_index)
        if path.suffix == ".txt":
            try:
                lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
            except FileNotFoundError:
                raise DataError(f"class list not found: {path}") from None
            return cls.from_index_list(lines, ignore_index=ignore_index)
        raise DataError(f"{path}: class list must be .json (A2D2), .csv (Kaggle) or .txt")

    # ------------------------------------------------------------------ merges
    def merge(self, groups: Mapping[str, Sequence[str]], keep_rest: bool = True) -> ClassMap:
        """New map where each ``groups`` key collects the listed source classes.

        A source entry ending in ``*`` is a prefix (``"Car *"`` matches ``Car 1..4``).
        The key ``"__ignore__"`` sends its sources to the ignore index. With
        ``keep_rest`` the classes not mentioned keep their own index (in their original
        order, interleaved where their first member appeared); otherwise they are ignored.
        """

        def matches(pattern: str) -> list[int]:
            if pattern.endswith("*"):
                pre = pattern[:-1]
                hit = [i for i, n in enumerate(self.names) if n.startswith(pre)]
            else:
                hit = [i for i, n in enumerate(self.names) if n == pattern]
            if not hit:
                raise ConfigError(f"class merge: {pattern!r} matches no class in {self.names}")
            return hit

        owner: dict[int, str] = {}
        for target, sources in groups.items():
            for pattern in sources:
                for i in matches(pattern):
                    if i in owner:
                        raise ConfigError(
                            f"class merge: {self.names[i]!r} is in both {owner[i]!r} and {target!r}"
                        )
                    owner[i] = target
        # order of new classes: the spec's order when it lists every class, else by the
        # first source index (so a2d2_38 keeps A2D2's own order)
        order: list[str] = []
        if not keep_rest:
            order = [t for t in groups if t != "__ignore__"]
        else:
            for i, name in enumerate(self.names):
                tgt = owner.get(i, name)
                if tgt != "__ignore__" and tgt not in order:
                    order.append(tgt)
        new_index = {n: k for k, n in enumerate(order)}

        def new_of(i: int) -> int:
            tgt = owner.get(i, self.names[i] if keep_rest else "__ignore__")
            return new_index.get(tgt, self.ignore_index)

        colors: list[RGB | None] = [None] * len(order)
        extra: dict[RGB, int] = {}
        for i, rgb in enumerate(self.colors):
            idx = new_of(i)
            if idx != self.ignore_index and colors[idx] is None:
                colors[idx] = rgb
            else:
                extra[rgb] = idx
        for rgb, idx in self.extra_colors.items():
            extra.setdefault(rgb, self.ignore_index if idx == self.ignore_index else new_of(idx))
        return ClassMap(order, colors, self.ignore_index, extra)  # type: ignore[arg-type]


def default_palette(n: int) -> list[RGB]:
    """Distinct colours for index datasets without their own (Pascal VOC bit trick)."""
    out = []
    for i in range(n):
        r = g = b = 0
        c = i + 1
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return out


# --------------------------------------------------------------------- presets
#: A2D2's 55 colours -> its 38 documented categories (instances 1..4 merged).
A2D2_38: dict[str, list[str]] = {
    "Car": ["Car *"],
    "Bicycle": ["Bicycle *"],
    "Pedestrian": ["Pedestrian *"],
    "Truck": ["Truck *"],
    "Small vehicles": ["Small vehicles *"],
    "Traffic signal": ["Traffic signal *"],
    "Traffic sign": ["Traffic sign *"],
    "Utility vehicle": ["Utility vehicle *"],
}

#: A coarse driving preset (16 classes) for small models and short runs.
A2D2_DRIVING: dict[str, list[str]] = {
    "Road": [
        "RD normal street",
        "Drivable cobblestone",
        "Slow drive area",
        "Parking area",
        "RD restricted area",
        "Speed bumper",
        "Zebra crossing",
    ],
    "Lane marking": ["Solid line", "Dashed line", "Painted driv. instr."],
    "Sidewalk": ["Sidewalk", "Curbstone", "Non-drivable street"],
    "Building": ["Buildings"],
    "Vegetation": ["Nature object"],
    "Sky": ["Sky"],
    "Car": ["Car *", "Utility vehicle *"],
    "Truck": ["Truck *", "Tractor"],
    "Two-wheeler": ["Bicycle *", "Small vehicles *"],
    "Pedestrian": ["Pedestrian *"],
    "Pole": ["Poles", "Signal corpus"],
    "Traffic sign": ["Traffic sign *", "Electronic traffic"],
    "Traffic light": ["Traffic signal *"],
    "Barrier": ["Sidebars", "Road blocks", "Grid structure", "Traffic guide obj."],
    "Obstacle": ["Obstacles / trash", "Animals", "Irrelevant signs"],
    "Ego car": ["Ego car"],
    "__ignore__": ["Blurred area", "Rain dirt"],
}

MERGE_PRESETS: dict[str, tuple[dict[str, list[str]], bool]] = {
    "a2d2_38": (A2D2_38, True),
    "a2d2_driving": (A2D2_DRIVING, False),
}


def apply_merges(cmap: ClassMap, spec: str | None) -> ClassMap:
    """Apply ``dataset.class_merges``: a preset name, a JSON/YAML file path, or null.

    A file holds ``{"target": ["source", "prefix *", ...], "__ignore__": [...]}`` and an
    optional ``"__keep_rest__": false``.
    """
    if not spec:
        return cmap
    if spec in MERGE_PRESETS:
        groups, keep_rest = MERGE_PRESETS[spec]
        return cmap.merge(groups, keep_rest=keep_rest)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"dataset.class_merges={spec!r} is neither a preset {sorted(MERGE_PRESETS)} "
            "nor an existing JSON/YAML file"
        )
    if path.suffix in (".yaml", ".yml"):
        from omegaconf import OmegaConf

        raw = OmegaConf.to_container(OmegaConf.load(path))
    else:
        raw = json.loads(path.read_text())
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: class merges must map target -> list of source classes")
    keep_rest = bool(raw.pop("__keep_rest__", True))
    return cmap.merge({str(k): [str(s) for s in v] for k, v in raw.items()}, keep_rest)
