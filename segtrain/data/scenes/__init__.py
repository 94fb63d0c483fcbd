"""Procedural driving scenes: a pinhole camera driving down a street.

Why a little 3-D world instead of random shapes: a segmentation model should have to use
the cues it uses on real roads (perspective, texture, context, object shapes) for the
synthetic set to catch real bugs, yet the scenes must stay learnable from scratch in a
few CPU minutes. Ground, facades and tree lines are ray-cast per pixel with numpy (the
camera is at height ``hc``, looking along +Z; a pixel's ray hits the ground at depth
``hc / dy`` and a facade plane ``X = Xf`` at depth ``Xf / dx``); cars, pedestrians,
poles, signs and trees are drawn as depth-sorted billboards with cv2. Textures live in
world coordinates where it matters (paving tiles, windows, dashes) so they move with the
camera across a sequence.

Everything is seeded: ``render_frame(world, t)`` is a pure function of the world (itself
a pure function of its seed) and the frame number.

Where things are: :mod:`.world` (classes, the street and its traffic, drawn from a seed),
:mod:`.camera` (the pinhole maths), :mod:`.render` (one frame, surface by surface) and
:mod:`.things` (one drawer per kind of object).
"""

from __future__ import annotations

from segtrain.data.scenes.render import render_frame
from segtrain.data.scenes.world import SYNTH_CLASSES, World, make_world

__all__ = ["SYNTH_CLASSES", "World", "make_world", "render_frame"]
