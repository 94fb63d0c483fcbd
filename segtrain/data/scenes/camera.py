"""The pinhole camera: where each pixel's ray goes and where a world point lands.

The camera sits at height ``hc`` above the ground, looking along +Z, focal length ``f``
pixels, principal point ``(cx, yh)`` (``yh`` is the horizon row). A pixel's ray has
slopes ``dx = (x + 0.5 - cx) / f`` and ``dy = (y + 0.5 - yh) / f``; it meets the ground
at depth ``hc / dy`` and a vertical plane ``X = Xp`` at depth ``Xp / dx``. Billboards
stand on the ground at depth ``z``: ``f / z`` pixels per metre, base row ``yh + f hc / z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segtrain.data.scenes.world import World


@dataclass
class Rays:
    """Per-pixel pixel coordinates and ray slopes of one frame (float32)."""

    xs: np.ndarray  # (1, w) column index
    ys: np.ndarray  # (h, 1) row index
    dx: np.ndarray  # (h, w) lateral slope, + is right
    dy: np.ndarray  # (h, w) vertical slope, + is down (below the horizon)


def pixel_rays(world: World) -> Rays:
    f32 = np.float32
    h, w = world.h, world.w
    xs = np.arange(w, dtype=f32)[None, :]
    ys = np.arange(h, dtype=f32)[:, None]
    dx = np.broadcast_to((xs + 0.5 - world.cx) / world.f, (h, w))
    dy = np.broadcast_to((ys + 0.5 - world.yh) / world.f, (h, w))
    return Rays(xs, ys, dx, dy)


def plane_hit(
    world: World, x_plane: float, dx: np.ndarray, dy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(depth, height above the ground) where rays meet the vertical plane ``X = x_plane``."""
    z = x_plane / dx
    return z, world.hc - dy * z


class Billboard:
    """Projection of an upright object standing on the ground at lateral ``x``, depth ``z``."""

    def __init__(self, world: World, x: float, z: float) -> None:
        self.s = world.f / z  # pixels per metre at this depth
        self.bx = world.cx + world.f * x / z
        self.by = world.yh + world.f * world.hc / z

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        """Metres (x right, y up, relative to the ground point) -> pixels."""
        return (self.bx + x * self.s, self.by - y * self.s)


def ground_hit(
    world: World, rays: Rays
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """(pixel indices below the horizon, depth, lateral X) where those rays meet the ground."""
    gi = np.nonzero(rays.dy > 1e-4)
    z = world.hc / rays.dy[gi]
    return gi, z, rays.dx[gi] * z
