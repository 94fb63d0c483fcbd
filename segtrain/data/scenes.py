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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# (A2D2 class name, A2D2 colour): only the classes the generator draws, in index order
SYNTH_CLASSES: list[tuple[str, str]] = [
    ("Sky", "#87ceff"),
    ("RD normal street", "#ff00ff"),
    ("Solid line", "#ffc125"),
    ("Dashed line", "#8000ff"),
    ("Sidewalk", "#b496c8"),
    ("Buildings", "#f1e6ff"),
    ("Nature object", "#93fdc2"),
    ("Car 1", "#ff0000"),
    ("Pedestrian 1", "#cc99ff"),
    ("Poles", "#fff68f"),
    ("Traffic sign 1", "#00ffff"),
]
SKY, ROAD, SOLID, DASHED, SIDEWALK, BUILDING, NATURE, CAR, PED, POLE, SIGN = range(11)

_CAR_COLOURS = np.array(
    [
        [0.75, 0.08, 0.08],
        [0.1, 0.2, 0.6],
        [0.9, 0.9, 0.88],
        [0.08, 0.08, 0.09],
        [0.55, 0.56, 0.58],
        [0.15, 0.35, 0.2],
        [0.85, 0.6, 0.1],
        [0.35, 0.2, 0.15],
    ]
)
# warm facade tones: grey facades look like road or overcast sky and teach little
_FACADES = np.array(
    [
        [0.85, 0.74, 0.58],
        [0.75, 0.50, 0.40],
        [0.62, 0.32, 0.24],
        [0.90, 0.85, 0.72],
        [0.60, 0.42, 0.30],
        [0.80, 0.66, 0.48],
        [0.88, 0.78, 0.66],
        [0.70, 0.56, 0.50],
    ]
)


@dataclass
class Segments:
    """Facade pieces along one side of the street: sorted, non-overlapping Z intervals."""

    z0: np.ndarray
    z1: np.ndarray
    height: np.ndarray
    color: np.ndarray  # (n, 3)
    win_dz: np.ndarray
    floor_h: np.ndarray

    def lookup(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Segment index per Z and whether Z lies inside that segment."""
        i = np.clip(np.searchsorted(self.z0, z, side="right") - 1, 0, len(self.z0) - 1)
        inside = (z >= self.z0[i]) & (z < self.z1[i])
        return i, inside


@dataclass
class Thing:
    kind: str  # car | ped | pole | tree
    x: float  # lateral position (m), + is right
    z0: float  # world Z at frame 0
    vz: float  # metres per frame (world), cars move
    params: dict = field(default_factory=dict)


@dataclass
class World:
    h: int
    w: int
    f: float
    cx: float
    yh: float
    hc: float
    speed: float
    road_l: float
    road_r: float
    lane_w: float
    line_w: float
    dash_len: float
    dash_gap: float
    xl: float
    xr: float
    left: Segments
    right: Segments
    veg_l: np.ndarray  # tree-line height per metre of Z, behind the facades
    veg_r: np.ndarray
    things: list[Thing]
    road_rgb: np.ndarray
    walk_rgb: np.ndarray
    grass_rgb: np.ndarray
    veg_rgb: np.ndarray
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    clouds: float
    brightness: float
    tint: np.ndarray
    noise_sigma: float
    sun_tan: float  # shadow length / building height (0: overcast)
    seed: int


def _segments(rng: np.random.Generator, length: float, p_building: float) -> Segments:
    z0s, z1s, hs, cols, wins, floors = [], [], [], [], [], []
    z = -5.0
    while z < length:
        span = rng.uniform(8, 30)
        if rng.random() < p_building:
            z0s.append(z)
            z1s.append(z + span)
            hs.append(rng.uniform(6, 22))
            base = _FACADES[rng.integers(len(_FACADES))]
            cols.append(np.clip(base * rng.uniform(0.85, 1.15, 3), 0, 1))
            wins.append(rng.uniform(2.0, 3.5))
            floors.append(rng.uniform(2.8, 3.6))
        z += span + (rng.uniform(2, 12) if rng.random() < 0.5 else 0.0)
    if not z0s:  # keep arrays non-empty; a segment far behind the camera
        z0s, z1s, hs, cols, wins, floors = [-100.0], [-99.0], [1.0], [_FACADES[0]], [3.0], [3.0]
    return Segments(
        np.array(z0s),
        np.array(z1s),
        np.array(hs),
        np.array(cols),
        np.array(wins),
        np.array(floors),
    )


def make_world(seed: int, h: int, w: int, frames: int) -> World:
    """A street with randomised geometry, styles, lighting and traffic."""
    rng = np.random.default_rng(seed)
    f = w * rng.uniform(0.75, 0.9)
    speed = rng.uniform(0.8, 1.4)
    length = frames * speed + 160.0
    lane_w = rng.uniform(3.2, 3.8)
    road_l = -1.5 * lane_w - rng.uniform(0.0, 0.6)
    road_r = 0.5 * lane_w + rng.uniform(0.2, 0.7)
    xl = road_l - rng.uniform(2.5, 4.5)
    xr = road_r + rng.uniform(2.5, 4.5)
    # every sequence mixes facades and greenery, so each split sees every class
    p_build = rng.uniform(0.5, 0.85)
    zs = np.arange(int(length) + 200)
    veg = []
    for _ in range(2):
        base = rng.uniform(4, 10)
        bumps = cv2.resize(
            rng.standard_normal((1, len(zs) // 6 + 2)), (len(zs), 1), interpolation=cv2.INTER_CUBIC
        )[0]
        veg.append(np.clip(base + 2.5 * bumps, 1.5, None))

    things: list[Thing] = []
    z = rng.uniform(8, 20)
    while z < length:  # traffic ahead in our lane, about our speed
        things.append(
            Thing(
                "car", rng.uniform(-0.3, 0.3), z, speed * rng.uniform(0.85, 1.05), _car_params(rng)
            )
        )
        z += rng.uniform(18, 45)
    z = rng.uniform(10, 40)
    while z < length:  # oncoming traffic
        things.append(
            Thing(
                "car", -lane_w + rng.uniform(-0.3, 0.3), z, -rng.uniform(0.5, 1.5), _car_params(rng)
            )
        )
        z += rng.uniform(20, 60)
    for side, edge in ((-1, road_l), (1, road_r)):  # parked cars
        z = rng.uniform(5, 30)
        while z < length:
            if rng.random() < 0.5:
                things.append(Thing("car", edge - side * 1.1, z, 0.0, _car_params(rng)))
            z += rng.uniform(8, 25)
    for side, walk0, walk1 in ((-1, xl, road_l), (1, road_r, xr)):
        z = rng.uniform(3, 10)
        while z < length:  # pedestrians on the sidewalk
            things.append(
                Thing(
                    "ped",
                    rng.uniform(walk0 + 0.5, walk1 - 0.5),
                    z,
                    rng.uniform(-0.05, 0.05),
                    _ped_params(rng),
                )
            )
            z += rng.uniform(4, 14)
        z = rng.uniform(4, 20)
        pole_x = (road_l - 0.5) if side < 0 else (road_r + 0.5)
        while z < length:  # poles, some carrying signs
            things.append(Thing("pole", pole_x, z, 0.0, _pole_params(rng)))
            z += rng.uniform(8, 20)
        z = rng.uniform(5, 25)
        tree_x = (xl + 0.9) if side < 0 else (xr - 0.9)
        while z < length:  # street trees
            if rng.random() < 1.0 - 0.6 * p_build:
                things.append(Thing("tree", tree_x, z, 0.0, _tree_params(rng)))
            z += rng.uniform(8, 20)

    overcast = rng.random() < 0.2
    sky_top = np.array([0.25, 0.5, 0.9]) * rng.uniform(0.85, 1.1, 3)
    sky_hor = np.array([0.75, 0.85, 0.95]) * rng.uniform(0.9, 1.05, 3)
    if overcast:
        grey = rng.uniform(0.72, 0.85)
        sky_top = np.array([grey - 0.04, grey, grey + 0.08])
        sky_hor = sky_top + 0.08
    return World(
        h=h,
        w=w,
        f=f,
        cx=w / 2 + rng.uniform(-0.04, 0.04) * w,
        yh=h * rng.uniform(0.38, 0.47),
        hc=rng.uniform(1.4, 1.7),
        speed=speed,
        # lines and dashes wider/longer than real ones: still visible at 192x288
        road_l=road_l,
        road_r=road_r,
        lane_w=lane_w,
        line_w=rng.uniform(0.45, 0.55),
        dash_len=rng.uniform(4.0, 6.0),
        dash_gap=rng.uniform(3.0, 5.0),
        xl=xl,
        xr=xr,
        left=_segments(rng, length + 100, p_build),
        right=_segments(rng, length + 100, p_build),
        veg_l=veg[0],
        veg_r=veg[1],
        things=things,
        road_rgb=np.array([0.33, 0.33, 0.35]) * rng.uniform(0.8, 1.2),
        walk_rgb=[
            np.array([0.7, 0.66, 0.6]),
            np.array([0.62, 0.45, 0.40]),
            np.array([0.72, 0.72, 0.74]),
        ][rng.integers(3)]
        * rng.uniform(0.9, 1.1),
        grass_rgb=np.array([0.35, 0.55, 0.2]) * rng.uniform(0.8, 1.15, 3),
        veg_rgb=np.array([0.18, 0.38, 0.12]) * rng.uniform(0.8, 1.2, 3),
        sky_top=np.clip(sky_top, 0, 1),
        sky_horizon=np.clip(sky_hor, 0, 1),
        clouds=0.0 if overcast else rng.uniform(0.0, 0.5),
        brightness=rng.uniform(0.7, 1.15),
        tint=rng.uniform(0.92, 1.08, 3),
        noise_sigma=rng.uniform(0.01, 0.03),
        sun_tan=0.0 if overcast else rng.uniform(0.2, 0.8),
        seed=seed,
    )


def _car_params(rng: np.random.Generator) -> dict:
    van = rng.random() < 0.25
    return {
        "w": rng.uniform(1.7, 2.0),
        "h": rng.uniform(1.8, 2.2) if van else rng.uniform(1.35, 1.6),
        "van": van,
        "rgb": np.clip(
            _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))] * rng.uniform(0.85, 1.1), 0, 1
        ),
    }


def _ped_params(rng: np.random.Generator) -> dict:
    return {
        "h": rng.uniform(1.7, 1.95),
        "shirt": rng.uniform(0.05, 0.95, 3),
        "pants": rng.uniform(0.05, 0.5, 3),
        "skin": np.array([0.9, 0.72, 0.58]) * rng.uniform(0.45, 1.05),
        "stride": rng.uniform(0.0, 0.25),
    }


def _pole_params(rng: np.random.Generator) -> dict:
    sign = rng.random() < 0.7
    return {
        "h": rng.uniform(3.0, 3.8) if sign else rng.uniform(5, 8),
        # poles and signs are drawn bigger than real ones so they survive 192x288
        "w": rng.uniform(0.32, 0.42),
        "rgb": np.array([0.5, 0.52, 0.5]) * rng.uniform(0.75, 1.15),
        "sign": int(rng.integers(3)) if sign else -1,
        "size": rng.uniform(1.0, 1.3),
    }


def _tree_params(rng: np.random.Generator) -> dict:
    return {
        "trunk_h": rng.uniform(1.8, 3.0),
        "r": rng.uniform(1.3, 2.4),
        "rgb": np.array([0.15, 0.4, 0.1]) * rng.uniform(0.7, 1.3, 3),
        "seed": int(rng.integers(1 << 30)),
    }


def _noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth value noise, zero mean, ~unit amplitude (cubic upsampling of a coarse grid)."""
    g = rng.standard_normal((h // cell + 3, w // cell + 3)).astype(np.float32)
    return cv2.resize(g, (w + 2 * cell, h + 2 * cell), interpolation=cv2.INTER_CUBIC)[
        cell : cell + h, cell : cell + w
    ]


def _frac(v: np.ndarray) -> np.ndarray:
    return v - np.floor(v)


def render_frame(world: World, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t`` of the sequence: (uint8 RGB image, uint8 class-index label).

    Surfaces are shaded only on the pixels they own (boolean-indexed float32 vectors),
    which keeps a 192x288 frame around 10-20 ms.
    """
    W = world
    h, w = W.h, W.w
    rng = np.random.default_rng([W.seed, t])
    cam_z = t * W.speed
    f32 = np.float32
    xs = np.arange(w, dtype=f32)[None, :]
    ys = np.arange(h, dtype=f32)[:, None]
    dx = np.broadcast_to((xs + 0.5 - W.cx) / W.f, (h, w))
    dy = np.broadcast_to((ys + 0.5 - W.yh) / W.f, (h, w))
    label = np.full((h, w), SKY, np.uint8)
    depth = np.full((h, w), np.inf, f32)
    horizon = W.sky_horizon.astype(f32)

    # sky: gradient + clouds
    v = np.clip((W.yh - ys) / max(W.yh, 1), 0, 1)  # (h, 1)
    img = np.empty((h, w, 3), f32)
    img[:] = (horizon * (1 - v) + W.sky_top.astype(f32) * v)[:, None, :]
    if W.clouds > 0:
        c = np.clip(_noise(rng, h, w, 24) * 0.8 + _noise(rng, h, w, 8) * 0.3 - 0.2, 0, 1)
        img += (W.clouds * c)[..., None] * (0.95 - img)
    fine = _noise(rng, h, w, 2)
    mid = _noise(rng, h, w, 6)

    def hazed(rgb: np.ndarray, z: np.ndarray) -> np.ndarray:
        k = np.clip((z - 30) / 150, 0, 0.6)[:, None]
        return rgb * (1 - k) + horizon * k

    # ground plane: only rows below the horizon
    ground = dy > 1e-4
    gi = np.nonzero(ground)
    zg = W.hc / dy[gi]
    xg = dx[gi] * zg
    Zg = zg + cam_z
    cls = np.full(zg.shape, NATURE, np.uint8)
    cls[(xg >= W.xl) & (xg <= W.xr)] = SIDEWALK
    road = (xg >= W.road_l) & (xg <= W.road_r)
    cls[road] = ROAD
    half = W.line_w / 2
    solid = (np.abs(xg - (W.road_l + 0.35)) < half) | (np.abs(xg - (W.road_r - 0.35)) < half)
    cls[solid & road] = SOLID
    period = W.dash_len + W.dash_gap
    dashed = (np.abs(xg + 0.5 * W.lane_w) < half) & (_frac(Zg / period) < W.dash_len / period)
    cls[dashed & road] = DASHED
    label[gi] = cls
    depth[gi] = zg
    fg, mg = fine[gi], mid[gi]
    col = np.empty((zg.size, 3), f32)
    m = cls == NATURE
    col[m] = W.grass_rgb.astype(f32) * (1 + 0.25 * fg[m] + 0.15 * mg[m])[:, None]
    m = cls == SIDEWALK
    tiles = np.minimum(_frac(xg[m] / 0.6), _frac(Zg[m] / 0.6)) < 0.08
    col[m] = W.walk_rgb.astype(f32) * ((1 + 0.06 * fg[m]) * np.where(tiles, 0.78, 1.0))[:, None]
    curb = m & ((np.abs(xg - W.road_l) < 0.18) | (np.abs(xg - W.road_r) < 0.18))
    col[curb] = (0.8, 0.8, 0.78)
    m = cls == ROAD
    col[m] = W.road_rgb.astype(f32) * (1 + 0.18 * fg[m] + 0.1 * mg[m])[:, None]
    m = cls == SOLID
    col[m] = np.array([0.93, 0.88, 0.62], f32) * (1 - 0.08 * np.abs(fg[m]))[:, None]
    m = cls == DASHED
    col[m] = np.array([0.95, 0.95, 0.95], f32) * (1 - 0.08 * np.abs(fg[m]))[:, None]
    col = hazed(col, zg)
    if W.sun_tan > 0:  # shadows of the left facades (sun from the left, behind)
        i, inside = W.left.lookup(Zg)
        shadow = inside & (xg < W.xl + W.left.height[i] * W.sun_tan) & (xg > W.xl)
        col[shadow] *= 0.6
    img[gi] = col

    # facades (left x<0, right x>0) and tree lines 4 m behind them
    for side, xf, segs, veg in ((-1, W.xl, W.left, W.veg_l), (1, W.xr, W.right, W.veg_r)):
        half_img = dx * side > 1e-4
        hi = np.nonzero(half_img)
        dxs, dys = dx[hi], dy[hi]
        zf = xf / dxs
        yw = W.hc - dys * zf
        Zf = zf + cam_z
        i, inside = segs.lookup(Zf)
        hit = inside & (yw >= 0) & (yw <= segs.height[i]) & (zf < depth[hi])
        if hit.any():
            ih, zh, ywh, Zh = i[hit], zf[hit], yw[hit], Zf[hit]
            c = segs.color[ih].astype(f32) * (1 + 0.05 * fine[hi][hit])[:, None]
            u, q = _frac(Zh / segs.win_dz[ih]), _frac(ywh / segs.floor_h[ih])
            win = (u > 0.3) & (u < 0.75) & (q > 0.3) & (q < 0.75) & (ywh > 1.0)
            c[win] = np.array([0.2, 0.25, 0.32], f32) + 0.1 * fine[hi][hit][win, None]
            c[np.abs(ywh - segs.height[ih]) < 0.35] *= 0.7
            c *= 0.8 if side > 0 else 1.0  # the two sides face the sun differently
            sel = (hi[0][hit], hi[1][hit])
            label[sel] = BUILDING
            depth[sel] = zh
            img[sel] = hazed(c, zh)
        xv = xf + side * 4.0
        zv = xv / dxs
        yv = W.hc - dys * zv
        zi = np.clip(zv + cam_z, 0, len(veg) - 1).astype(np.int64)
        hitv = (yv >= -5) & (yv <= veg[zi]) & (zv < depth[hi])
        if hitv.any():
            zvh = zv[hitv]
            fv, mv = fine[hi][hitv], mid[hi][hitv]
            c = W.veg_rgb.astype(f32) * (1 + 0.45 * fv + 0.3 * mv)[:, None]
            sel = (hi[0][hitv], hi[1][hitv])
            label[sel] = NATURE
            depth[sel] = zvh
            img[sel] = hazed(c, zvh)

    # billboards, far to near
    items = []
    for th in W.things:
        z = th.z0 + th.vz * t - cam_z
        if 2.5 < z < 70:  # farther objects would be a few pixels of label noise
            items.append((z, th))
    items.sort(key=lambda p: -p[0])
    for z, th in items:
        _draw_thing(img, label, W, th, z, t)

    # lighting, sensor noise, slight optical blur (labels stay sharp)
    img *= (W.brightness * (1 + 0.04 * np.sin(t * 0.3 + W.seed)) * W.tint).astype(f32)
    vign = 1 - 0.125 * ((xs - w / 2) ** 2 / (w / 2) ** 2 + (ys - h / 2) ** 2 / (h / 2) ** 2)
    img *= vign[..., None]
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(W.noise_sigma)
    img = cv2.GaussianBlur(img, (3, 3), 0.6)
    out = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return out, label


def _poly(img, label, pts, rgb, cls):
    p = np.round(np.asarray(pts) * 4).astype(np.int32)  # sub-pixel precision (shift=2)
    cv2.fillPoly(img, [p], tuple(float(c) for c in rgb), lineType=cv2.LINE_AA, shift=2)
    cv2.fillPoly(label, [p], int(cls), lineType=cv2.LINE_8, shift=2)


def _ellipse(img, label, center, axes, rgb, cls):
    c = (round(center[0] * 4), round(center[1] * 4))
    a = (max(1, round(axes[0] * 4)), max(1, round(axes[1] * 4)))
    cv2.ellipse(img, c, a, 0, 0, 360, tuple(float(v) for v in rgb), -1, cv2.LINE_AA, 2)
    cv2.ellipse(label, c, a, 0, 0, 360, int(cls), -1, cv2.LINE_8, 2)


def _draw_thing(img, label, W: World, th: Thing, z: float, t: int) -> None:
    s = W.f / z  # pixels per metre at this depth
    bx = W.cx + W.f * th.x / z
    by = W.yh + W.f * W.hc / z

    def P(x, y):  # metres (x right, y up, relative to the ground point) -> pixels
        return (bx + x * s, by - y * s)

    shade = 1.0 - np.clip((z - 30) / 150, 0, 0.5)
    p = th.params
    if th.kind == "car":
        hw, ht, rgb = p["w"] / 2, p["h"], p["rgb"] * shade
        roof = 0.92 if p["van"] else 0.62
        _poly(
            img, label, [P(-hw, 0.25), P(hw, 0.25), P(hw, ht * 0.55), P(-hw, ht * 0.55)], rgb, CAR
        )
        _poly(
            img,
            label,
            [
                P(-hw * 0.95, ht * 0.55),
                P(hw * 0.95, ht * 0.55),
                P(hw * roof, ht),
                P(-hw * roof, ht),
            ],
            rgb * 0.9,
            CAR,
        )
        _poly(
            img,
            label,
            [
                P(-hw * 0.8, ht * 0.6),
                P(hw * 0.8, ht * 0.6),
                P(hw * roof * 0.85, ht * 0.93),
                P(-hw * roof * 0.85, ht * 0.93),
            ],
            np.array([0.12, 0.14, 0.18]) * shade,
            CAR,
        )
        for sx in (-1, 1):
            _poly(
                img,
                label,
                [
                    P(sx * hw * 0.95, 0),
                    P(sx * hw * 0.55, 0),
                    P(sx * hw * 0.55, 0.35),
                    P(sx * hw * 0.95, 0.35),
                ],
                np.array([0.05, 0.05, 0.05]),
                CAR,
            )
            _poly(
                img,
                label,
                [
                    P(sx * hw * 0.92, ht * 0.4),
                    P(sx * hw * 0.65, ht * 0.4),
                    P(sx * hw * 0.65, ht * 0.48),
                    P(sx * hw * 0.92, ht * 0.48),
                ],
                np.array([0.85, 0.1, 0.05]),
                CAR,
            )
        _poly(
            img,
            label,
            [P(-hw * 0.95, 0.2), P(hw * 0.95, 0.2), P(hw * 0.95, 0.32), P(-hw * 0.95, 0.32)],
            rgb * 0.5,
            CAR,
        )
    elif th.kind == "ped":
        H = p["h"]
        stride = p["stride"] * np.sin(t * 0.9 + th.z0)
        for sx in (-1, 1):
            foot = sx * (0.08 + stride * sx)
            _poly(
                img,
                label,
                [
                    P(sx * 0.02, H * 0.5),
                    P(sx * 0.16, H * 0.5),
                    P(foot + 0.07, 0),
                    P(foot - 0.07, 0),
                ],
                p["pants"] * shade,
                PED,
            )
            _poly(
                img,
                label,
                [
                    P(sx * 0.24, H * 0.8),
                    P(sx * 0.34, H * 0.78),
                    P(sx * 0.33, H * 0.46),
                    P(sx * 0.23, H * 0.46),
                ],
                p["shirt"] * 0.85 * shade,
                PED,
            )
        _poly(
            img,
            label,
            [P(-0.24, H * 0.48), P(0.24, H * 0.48), P(0.25, H * 0.82), P(-0.25, H * 0.82)],
            p["shirt"] * shade,
            PED,
        )
        _ellipse(img, label, P(0, H * 0.9), (0.11 * s, 0.13 * s), p["skin"] * shade, PED)
    elif th.kind == "pole":
        hw, H = p["w"] / 2, p["h"]
        _poly(
            img,
            label,
            [P(-hw, 0), P(hw, 0), P(hw * 0.8, H), P(-hw * 0.8, H)],
            p["rgb"] * shade,
            POLE,
        )
        _poly(
            img,
            label,
            [P(-hw * 0.3, 0), P(hw * 0.1, 0), P(hw * 0.1, H), P(-hw * 0.3, H)],
            np.clip(p["rgb"] * 1.4, 0, 1) * shade,
            POLE,
        )
        r = p["size"] / 2
        cy = H + r * 0.9
        kind = p["sign"]
        if kind == 0:  # prohibition: red ring, white face
            _ellipse(
                img, label, P(0, cy), (r * s, r * s), np.array([0.8, 0.05, 0.05]) * shade, SIGN
            )
            _ellipse(
                img,
                label,
                P(0, cy),
                (r * 0.7 * s, r * 0.7 * s),
                np.array([0.95, 0.95, 0.95]) * shade,
                SIGN,
            )
        elif kind == 1:  # mandatory: blue disc with white arrow
            _ellipse(
                img, label, P(0, cy), (r * s, r * s), np.array([0.05, 0.25, 0.75]) * shade, SIGN
            )
            _poly(
                img,
                label,
                [
                    P(-0.08, cy - r * 0.6),
                    P(0.08, cy - r * 0.6),
                    P(0.08, cy + r * 0.6),
                    P(-0.08, cy + r * 0.6),
                ],
                np.array([0.95, 0.95, 0.95]) * shade,
                SIGN,
            )
        elif kind == 2:  # warning: red-bordered triangle
            _poly(
                img,
                label,
                [P(-r * 1.1, cy - r * 0.8), P(r * 1.1, cy - r * 0.8), P(0, cy + r * 1.1)],
                np.array([0.8, 0.05, 0.05]) * shade,
                SIGN,
            )
            _poly(
                img,
                label,
                [P(-r * 0.7, cy - r * 0.55), P(r * 0.7, cy - r * 0.55), P(0, cy + r * 0.65)],
                np.array([0.97, 0.9, 0.5]) * shade,
                SIGN,
            )
    elif th.kind == "tree":
        th_h, r = p["trunk_h"], p["r"]
        _poly(
            img,
            label,
            [P(-0.16, 0), P(0.16, 0), P(0.12, th_h + r * 0.5), P(-0.12, th_h + r * 0.5)],
            np.array([0.32, 0.22, 0.12]) * shade,
            NATURE,
        )
        trng = np.random.default_rng(p["seed"])
        for _ in range(5):  # a lumpy crown of overlapping blobs
            ox, oy = trng.uniform(-0.5, 0.5) * r, trng.uniform(-0.3, 0.5) * r
            rr = r * trng.uniform(0.55, 0.8)
            _ellipse(
                img,
                label,
                P(ox, th_h + r + oy),
                (rr * s, rr * 0.9 * s),
                p["rgb"] * trng.uniform(0.8, 1.2) * shade,
                NATURE,
            )
