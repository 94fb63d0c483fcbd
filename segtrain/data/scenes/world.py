"""The street a synthetic sequence drives down: classes, geometry, styles and traffic.

Everything here is drawn once per sequence from one seed (:func:`make_world`); rendering
a frame (:mod:`.render`) only reads it, so frame ``t`` of a world is always the same.
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
