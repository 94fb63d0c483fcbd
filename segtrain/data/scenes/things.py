"""Drawing the objects along the street: one small function per kind, one table.

Each drawer gets the image, the label, the object's projection (:class:`Billboard`:
metres -> pixels), its parameters and a distance shade, and fills polygons and
ellipses in both the image (anti-aliased colour) and the label (exact class).
Adding a kind of object means a ``_<kind>_params`` in :mod:`.world` and a drawer here.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from segtrain.data.scenes.camera import Billboard
from segtrain.data.scenes.world import CAR, NATURE, PED, POLE, SIGN, Thing, World

WHITE = np.array([0.95, 0.95, 0.95])
SIGN_RED = np.array([0.8, 0.05, 0.05])


def _poly(img, label, pts, rgb, cls):
    p = np.round(np.asarray(pts) * 4).astype(np.int32)  # sub-pixel precision (shift=2)
    cv2.fillPoly(img, [p], tuple(float(c) for c in rgb), lineType=cv2.LINE_AA, shift=2)
    cv2.fillPoly(label, [p], int(cls), lineType=cv2.LINE_8, shift=2)


def _ellipse(img, label, center, axes, rgb, cls):
    c = (round(center[0] * 4), round(center[1] * 4))
    a = (max(1, round(axes[0] * 4)), max(1, round(axes[1] * 4)))
    cv2.ellipse(img, c, a, 0, 0, 360, tuple(float(v) for v in rgb), -1, cv2.LINE_AA, 2)
    cv2.ellipse(label, c, a, 0, 0, 360, int(cls), -1, cv2.LINE_8, 2)


def _quad(P: Billboard, x0: float, x1: float, x2: float, x3: float, y0: float, y1: float):
    """Four corners: bottom (x0, y0) -> (x1, y0), top (x2, y1) -> (x3, y1)."""
    return [P(x0, y0), P(x1, y0), P(x2, y1), P(x3, y1)]


def draw_car(img, label, P: Billboard, p: dict, shade: float, th: Thing, t: int) -> None:
    """Body, cabin, windscreen, wheels, rear lights and bumper, seen from behind."""
    hw, ht, rgb = p["w"] / 2, p["h"], p["rgb"] * shade
    roof = 0.92 if p["van"] else 0.62
    _poly(img, label, _quad(P, -hw, hw, hw, -hw, 0.25, ht * 0.55), rgb, CAR)
    cabin = _quad(P, -hw * 0.95, hw * 0.95, hw * roof, -hw * roof, ht * 0.55, ht)
    _poly(img, label, cabin, rgb * 0.9, CAR)
    glass = _quad(P, -hw * 0.8, hw * 0.8, hw * roof * 0.85, -hw * roof * 0.85, ht * 0.6, ht * 0.93)
    _poly(img, label, glass, np.array([0.12, 0.14, 0.18]) * shade, CAR)
    for sx in (-1, 1):
        wheel = _quad(P, sx * hw * 0.95, sx * hw * 0.55, sx * hw * 0.55, sx * hw * 0.95, 0, 0.35)
        _poly(img, label, wheel, np.array([0.05, 0.05, 0.05]), CAR)
        light = [
            P(sx * hw * 0.92, ht * 0.4),
            P(sx * hw * 0.65, ht * 0.4),
            P(sx * hw * 0.65, ht * 0.48),
            P(sx * hw * 0.92, ht * 0.48),
        ]
        _poly(img, label, light, np.array([0.85, 0.1, 0.05]), CAR)
    bumper = _quad(P, -hw * 0.95, hw * 0.95, hw * 0.95, -hw * 0.95, 0.2, 0.32)
    _poly(img, label, bumper, rgb * 0.5, CAR)


def draw_ped(img, label, P: Billboard, p: dict, shade: float, th: Thing, t: int) -> None:
    """Legs (striding with the frame number), arms, torso and head."""
    H = p["h"]
    stride = p["stride"] * np.sin(t * 0.9 + th.z0)
    for sx in (-1, 1):
        foot = sx * (0.08 + stride * sx)
        leg = [P(sx * 0.02, H * 0.5), P(sx * 0.16, H * 0.5), P(foot + 0.07, 0), P(foot - 0.07, 0)]
        _poly(img, label, leg, p["pants"] * shade, PED)
        arm = [
            P(sx * 0.24, H * 0.8),
            P(sx * 0.34, H * 0.78),
            P(sx * 0.33, H * 0.46),
            P(sx * 0.23, H * 0.46),
        ]
        _poly(img, label, arm, p["shirt"] * 0.85 * shade, PED)
    torso = [P(-0.24, H * 0.48), P(0.24, H * 0.48), P(0.25, H * 0.82), P(-0.25, H * 0.82)]
    _poly(img, label, torso, p["shirt"] * shade, PED)
    s = P.s
    _ellipse(img, label, P(0, H * 0.9), (0.11 * s, 0.13 * s), p["skin"] * shade, PED)


def _prohibition_sign(img, label, P: Billboard, cy: float, r: float, shade: float) -> None:
    """Red ring, white face."""
    s = P.s
    _ellipse(img, label, P(0, cy), (r * s, r * s), SIGN_RED * shade, SIGN)
    _ellipse(img, label, P(0, cy), (r * 0.7 * s, r * 0.7 * s), WHITE * shade, SIGN)


def _mandatory_sign(img, label, P: Billboard, cy: float, r: float, shade: float) -> None:
    """Blue disc with a white arrow."""
    s = P.s
    _ellipse(img, label, P(0, cy), (r * s, r * s), np.array([0.05, 0.25, 0.75]) * shade, SIGN)
    _poly(
        img,
        label,
        _quad(P, -0.08, 0.08, 0.08, -0.08, cy - r * 0.6, cy + r * 0.6),
        WHITE * shade,
        SIGN,
    )


def _warning_sign(img, label, P: Billboard, cy: float, r: float, shade: float) -> None:
    """Red-bordered yellow triangle."""
    outer = [P(-r * 1.1, cy - r * 0.8), P(r * 1.1, cy - r * 0.8), P(0, cy + r * 1.1)]
    _poly(img, label, outer, SIGN_RED * shade, SIGN)
    inner = [P(-r * 0.7, cy - r * 0.55), P(r * 0.7, cy - r * 0.55), P(0, cy + r * 0.65)]
    _poly(img, label, inner, np.array([0.97, 0.9, 0.5]) * shade, SIGN)


#: ``params["sign"]`` of a pole -> its sign (-1: a bare pole)
SIGNS = (_prohibition_sign, _mandatory_sign, _warning_sign)


def draw_pole(img, label, P: Billboard, p: dict, shade: float, th: Thing, t: int) -> None:
    """A tapering pole with a highlight, and the sign it may carry."""
    hw, H = p["w"] / 2, p["h"]
    _poly(img, label, _quad(P, -hw, hw, hw * 0.8, -hw * 0.8, 0, H), p["rgb"] * shade, POLE)
    highlight = np.clip(p["rgb"] * 1.4, 0, 1) * shade
    _poly(img, label, _quad(P, -hw * 0.3, hw * 0.1, hw * 0.1, -hw * 0.3, 0, H), highlight, POLE)
    r = p["size"] / 2
    if 0 <= p["sign"] < len(SIGNS):
        SIGNS[p["sign"]](img, label, P, H + r * 0.9, r, shade)


def draw_tree(img, label, P: Billboard, p: dict, shade: float, th: Thing, t: int) -> None:
    """A trunk and a lumpy crown of overlapping blobs (seeded per tree)."""
    th_h, r, s = p["trunk_h"], p["r"], P.s
    trunk = _quad(P, -0.16, 0.16, 0.12, -0.12, 0, th_h + r * 0.5)
    _poly(img, label, trunk, np.array([0.32, 0.22, 0.12]) * shade, NATURE)
    trng = np.random.default_rng(p["seed"])
    for _ in range(5):
        ox, oy = trng.uniform(-0.5, 0.5) * r, trng.uniform(-0.3, 0.5) * r
        rr = r * trng.uniform(0.55, 0.8)
        colour = p["rgb"] * trng.uniform(0.8, 1.2) * shade
        _ellipse(img, label, P(ox, th_h + r + oy), (rr * s, rr * 0.9 * s), colour, NATURE)


Drawer = Callable[[np.ndarray, np.ndarray, Billboard, dict, float, Thing, int], None]
#: ``Thing.kind`` -> its drawer
DRAWERS: dict[str, Drawer] = {
    "car": draw_car,
    "ped": draw_ped,
    "pole": draw_pole,
    "tree": draw_tree,
}


def draw_thing(img, label, world: World, th: Thing, z: float, t: int) -> None:
    """Draw one object at depth ``z``, dimmed with distance like the haze on surfaces."""
    shade = 1.0 - np.clip((z - 30) / 150, 0, 0.5)
    DRAWERS[th.kind](img, label, Billboard(world, th.x, z), th.params, shade, th, t)
