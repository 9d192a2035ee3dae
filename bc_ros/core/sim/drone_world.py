"""Procedural forest trail for the drone sim: the trail, the trees, their meshes, the ground.

Everything random comes from the ``np.random.Generator`` passed to :func:`generate_world` and
:func:`ground_map`, so a seed fixes the whole world. Frames follow REP 103: world x forward along
the start of the trail, y left, z up; lengths in metres, angles in radians.

Trail. The centreline starts at the origin heading +x. Its heading is a sum of three sinusoids of
arc length s (wavelengths 14-45 m), scaled so that the curvature stays below ``MAX_CURVATURE``
(turn radius >= 7 m) and the heading within +-70 deg of +x, so x grows monotonically and the trail
never comes back near itself. It is 40-60 m long (the goal), 2.0-3.0 m wide, and drawn past both
ends (``PRE``, ``POST``) so the cameras never see where it stops.

Corridor. The flyable corridor is the trail plus ``CORRIDOR_MARGIN`` on each side; leaving it ends
the episode ("trail_exit"). In task ``bypass`` a tree stands on the centreline near mid-trail, and
around it both the drawn trail and the corridor widen by ``BYPASS_WIDEN`` on each side (a raised
cosine bump over +-``BYPASS_HALF_LENGTH``) so that passing it on either side is legal.

Trees. Trunks stand outside the corridor by at least the drone's radius plus ``TREE_CLEARANCE``,
so the only trunk a drone can hit while still in the corridor is the bypass tree (collision is a
2-D test of the drone's disc against trunk cylinders). Canopies that could overhang the corridor
start at ``HIGH_CANOPY`` m, above the autopilot's 2 m ceiling, so they never touch the flyable
volume. About 60-110 trees: a loose row along each edge and a sparser band up to 20 m out;
conifers or broadleaf trees, sizes and colours drawn per tree, mix and palette per seed.

Rendering. pybullet's TinyRenderer spends time per triangle and per screen pixel each triangle's
bounding box covers, so trees are low-poly (6-sided trunk prisms, 7-sided cones, 6-sided two-ring
blobs: 12-36 triangles) and merged into one mesh per colour and ``CHUNK`` of trail (chunks out of
the cameras' reach are hidden). The ground is not geometry at all: :class:`GroundMap` is a 10 cm
raster of grass, trail (ragged soft edges) and canopy shade that the sim warps into the image
background through the ground plane's homography (see drone.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile

import numpy as np

DS = 0.25                 # m, spacing of the centreline samples
PRE, POST = 8.0, 14.0     # m of trail drawn before the start and after the goal
MAX_CURVATURE = 0.14      # 1/m
MAX_HEADING = math.radians(70)
CORRIDOR_MARGIN = 0.5     # m beyond the trail edge that still counts as on the trail
DRONE_RADIUS = 0.25       # m, rotor tip to centre (see assets/quadrotor.urdf)
BYPASS_WIDEN = 1.5        # m added to each side of the trail and corridor at the bypass tree
BYPASS_HALF_LENGTH = 8.0  # m, half length of the widening bump
HIGH_CANOPY = 2.4         # m, lowest canopy base allowed above the corridor (ceiling is 2.0 m)
TREE_CLEARANCE = 0.35     # m between the corridor plus the drone's radius and any trunk: more
                          # than one control step at full speed, so leaving the corridor is
                          # always detected before a trunk beside the trail is touched
CHUNK = 8.0               # m of trail per group of tree bodies (hidden together)


def raised_cosine(x: np.ndarray | float, half_length: float):
    """1 at x = 0, falling smoothly (C1) to 0 at |x| = half_length, 0 beyond."""
    x = np.clip(np.abs(np.asarray(x, dtype=np.float64)) / half_length, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


@dataclasses.dataclass
class Trail:
    """A trail centreline sampled every ``DS`` m of arc length.

    Attributes:
        s: (N,) arc length of each sample, m; 0 at the start, ``length`` at the goal.
        xy: (N, 2) world position of each sample, m.
        heading: (N,) direction of travel, rad from +x (counter-clockwise).
        curvature: (N,) 1/m, positive turning left.
        length: m from start to goal.
        half_width: m, half the nominal trail width.
        widen_at: arc length of the bypass widening (None: no widening).
    """

    s: np.ndarray
    xy: np.ndarray
    heading: np.ndarray
    curvature: np.ndarray
    length: float
    half_width: float
    widen_at: float | None = None

    def widening(self, s) -> np.ndarray | float:
        """Extra half width (m) at arc length ``s``: the bypass bump, 0 elsewhere."""
        if self.widen_at is None:
            return np.zeros_like(np.asarray(s, dtype=np.float64))
        return BYPASS_WIDEN * raised_cosine(np.asarray(s) - self.widen_at, BYPASS_HALF_LENGTH)

    def drawn_half_width(self, s):
        return self.half_width + self.widening(s)

    def corridor_half_width(self, s):
        """Lateral distance from the centreline (m) beyond which the drone has left the trail."""
        return self.half_width + CORRIDOR_MARGIN + self.widening(s)

    def index(self, s: float) -> float:
        """Fractional sample index of arc length ``s``."""
        return (s - self.s[0]) / DS

    def pose_at(self, s: float) -> tuple[float, float, float]:
        """(x, y, heading) of the centreline at arc length ``s`` (linear interpolation)."""
        f = min(max(self.index(s), 0.0), len(self.s) - 1.000001)
        i = int(f)
        t = f - i
        x = self.xy[i, 0] + t * (self.xy[i + 1, 0] - self.xy[i, 0])
        y = self.xy[i, 1] + t * (self.xy[i + 1, 1] - self.xy[i, 1])
        h = self.heading[i] + t * (self.heading[i + 1] - self.heading[i])
        return float(x), float(y), float(h)

    def poses_at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised :meth:`pose_at`: x, y, heading arrays for an array of arc lengths."""
        return (np.interp(s, self.s, self.xy[:, 0]), np.interp(s, self.s, self.xy[:, 1]),
                np.interp(s, self.s, self.heading))

    def project(self, x: float, y: float, hint: float | None = None,
                window: float = 6.0) -> tuple[float, float]:
        """Arc length ``s`` (m) of the closest centreline point and the signed lateral offset
        (m, positive = left of the direction of travel) of point (x, y).

        With ``hint`` (the previous ``s``) only samples within ``window`` m of it are searched,
        which keeps the answer continuous along the trail.
        """
        lo, hi = 0, len(self.s)
        if hint is not None:
            c = int(round(self.index(hint)))
            w = int(window / DS)
            lo, hi = max(0, c - w), min(len(self.s), c + w + 1)
        d = self.xy[lo:hi] - (x, y)
        i = lo + int(np.argmin(np.einsum("ij,ij->i", d, d)))
        i = min(max(i, 0), len(self.s) - 2)
        # refine on the segment to the next sample (or the previous one)
        best = None
        for j in (i - 1, i):
            if j < 0:
                continue
            a, b = self.xy[j], self.xy[j + 1]
            ab = b - a
            t = min(max(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / (ab @ ab), 0.0), 1.0)
            px, py = a[0] + t * ab[0], a[1] + t * ab[1]
            dist2 = (x - px) ** 2 + (y - py) ** 2
            if best is None or dist2 < best[0]:
                lat = (ab[0] * (y - a[1]) - ab[1] * (x - a[0])) / math.sqrt(ab @ ab)
                best = (dist2, self.s[j] + t * DS, lat)
        return float(best[1]), float(best[2])

    def distance(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance (m) of each of (M, 2) points to the nearest centreline sample, and that
        sample's arc length. Vectorised; accurate to DS / 2."""
        d2 = ((pts[:, None, :] - self.xy[None, :, :]) ** 2).sum(-1)
        j = np.argmin(d2, axis=1)
        return np.sqrt(d2[np.arange(len(pts)), j]), self.s[j]


def generate_trail(rng: np.random.Generator) -> Trail:
    length = float(rng.uniform(40.0, 60.0))
    half_width = float(rng.uniform(1.0, 1.5))
    wavelengths = rng.uniform(14.0, 45.0, size=3)
    w = 2.0 * np.pi / wavelengths
    amp = rng.normal(0.0, 1.0, size=3)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=3)
    kappa = rng.uniform(0.06, MAX_CURVATURE)  # the curvature bound this trail reaches
    amp *= kappa / np.sum(np.abs(amp) * w)
    amp *= min(1.0, MAX_HEADING / (2.0 * np.sum(np.abs(amp))))
    s = np.arange(-PRE, length + POST + DS / 2, DS)
    arg = np.outer(s, w) + phase
    heading = (amp * (np.sin(arg) - np.sin(phase))).sum(1)
    curvature = (amp * w * np.cos(arg)).sum(1)
    # integrate from s = 0 outwards with the trapezoidal rule (exact enough at DS = 0.25 m)
    c, sn = np.cos(heading), np.sin(heading)
    step = np.stack([(c[1:] + c[:-1]) / 2, (sn[1:] + sn[:-1]) / 2], 1) * DS
    xy = np.concatenate([np.zeros((1, 2)), np.cumsum(step, 0)])
    xy -= xy[int(round(PRE / DS))]
    return Trail(s=s, xy=xy, heading=heading, curvature=curvature, length=length,
                 half_width=half_width)


@dataclasses.dataclass
class Forest:
    """A trail, its trees and its colours.

    Attributes:
        trail: the centreline, see :class:`Trail`.
        trees: (T, 7) float array, one row per tree: x, y (m, world), trunk radius (m), canopy
            base height (m), canopy radius (m), canopy top height (m), kind (0 conifer,
            1 broadleaf).
        tree_s: (T,) arc length (m) of the centreline point nearest to each tree.
        tree_colour: (T,) int, index into ``colours["canopy"]``.
        trunk_colour: (T,) int, index into ``colours["trunk"]``.
        obstacle: row of the bypass tree in ``trees`` (None in task ``trail``).
        colours: RGB in [0, 1]: "ground", "trail", "canopy" (list), "trunk" (list), "sky_top",
            "sky_horizon".
        light_direction: unit vector towards the sun, world frame.
    """

    trail: Trail
    trees: np.ndarray
    tree_s: np.ndarray
    tree_colour: np.ndarray
    trunk_colour: np.ndarray
    obstacle: int | None
    colours: dict
    light_direction: np.ndarray


def _colours(rng: np.random.Generator) -> dict:
    def jitter(rgb, amount):
        """Brightness varied by +-amount, hue a little (+-4 % per channel)."""
        k = rng.uniform(1 - amount, 1 + amount) * rng.uniform(0.96, 1.04, 3)
        return np.clip(np.asarray(rgb) / 255.0 * k, 0, 1)

    g, t = rng.uniform(size=2)
    ground = jitter((1 - g) * np.array([62, 104, 44]) + g * np.array([86, 104, 48]), 0.12)
    trail = jitter((1 - t) * np.array([168, 136, 96]) + t * np.array([140, 106, 72]), 0.1)
    canopy = [jitter(c, 0.12) for c in ([34, 72, 40], [52, 96, 44], [78, 122, 50], [96, 132, 58])]
    if rng.uniform() < 0.3:  # some seeds have a touch of autumn
        canopy[int(rng.integers(2, 4))] = jitter([150, 124, 52], 0.1)
    trunk = [jitter(c, 0.1) for c in ([84, 64, 46], [110, 92, 72], [70, 60, 54])]
    sky = jitter([196, 214, 232], 0.05)
    return {"ground": ground, "trail": trail, "canopy": canopy, "trunk": trunk,
            "sky_top": np.clip(sky * 0.85, 0, 1), "sky_horizon": np.clip(sky * 1.05, 0, 1)}


def generate_world(rng: np.random.Generator, bypass: bool) -> Forest:
    """A random trail with trees on both sides (and one on the trail when ``bypass``)."""
    trail = generate_trail(rng)
    s_lo, s_hi = trail.s[0], trail.s[-1]
    # candidates: a loose row along each edge (1.8-4 m apart) and a sparser band further out
    s_list, side_list, extra_list = [], [], []
    for side in (1.0, -1.0):
        gaps = rng.uniform(1.8, 4.0, int((s_hi - s_lo) / 1.8) + 1)
        s = s_lo + np.cumsum(gaps)
        s = s[s < s_hi]
        s_list += [s, rng.uniform(s_lo, s_hi, int((s_hi - s_lo) * rng.uniform(0.25, 0.45)))]
        extra_list += [rng.exponential(1.2, len(s_list[-2])),
                       rng.uniform(2.5, 16.0, len(s_list[-1]))]
        side_list += [np.full(len(s_list[-2]) + len(s_list[-1]), side)]
    s, side, extra = np.concatenate(s_list), np.concatenate(side_list), np.concatenate(extra_list)
    n = len(s)
    trunk_r = rng.uniform(0.1, 0.28, n)
    kind = (rng.uniform(size=n) < rng.uniform(0.2, 0.8)).astype(float)
    canopy_r = np.where(kind == 0, rng.uniform(0.9, 1.8, n), rng.uniform(1.2, 2.4, n))
    canopy_h = np.where(kind == 0, rng.uniform(3.5, 7.0, n), rng.uniform(2.0, 3.5, n))
    base = rng.uniform(0.4, 2.2, n)
    x, y, h = trail.poses_at(s)
    gap = side * (trail.corridor_half_width(s) + DRONE_RADIUS + trunk_r + TREE_CLEARANCE + extra)
    trees = np.stack([x - gap * np.sin(h), y + gap * np.cos(h), trunk_r, base, canopy_r, canopy_h,
                      kind], 1)
    obstacle = None
    if bypass:  # the tree on the trail goes first, so nothing displaces it
        s_obs = float(rng.uniform(0.42, 0.58) * trail.length)
        trail.widen_at = s_obs
        ox, oy, _ = trail.pose_at(s_obs)
        trees = np.concatenate([[[ox, oy, 0.22, rng.uniform(2.6, 3.2), rng.uniform(1.4, 2.0),
                                  rng.uniform(6.0, 9.0), 0.0]], trees])
        obstacle = 0

    # keep a tree only if its trunk clears the corridor (measured against the whole centreline,
    # which matters on the inside of bends) and it stands apart from the trees kept before it
    dist, s_near = trail.distance(trees[:, :2])
    ok = dist >= trail.corridor_half_width(s_near) + DRONE_RADIUS + trees[:, 2] + TREE_CLEARANCE
    if bypass:
        ok[0] = True
    d2 = ((trees[:, None, :2] - trees[None, :, :2]) ** 2).sum(-1)
    clash = d2 < (trees[:, None, 2] + trees[None, :, 2] + 0.9) ** 2
    blocked = ~ok
    kept = []
    for i in range(len(trees)):
        if not blocked[i]:
            kept.append(i)
            blocked |= clash[i]
    trees, dist, s_near = trees[kept], dist[kept], s_near[kept]
    # canopies that could reach over the corridor start above the ceiling
    overhang = dist - trees[:, 4] < trail.corridor_half_width(s_near) + DRONE_RADIUS + 0.2
    trees[overhang, 3] = np.maximum(trees[overhang, 3],
                                    HIGH_CANOPY + rng.uniform(0, 0.6, int(overhang.sum())))
    trees[:, 5] += trees[:, 3]  # canopy height -> canopy top
    colours = _colours(rng)
    tree_colour = rng.integers(0, len(colours["canopy"]), len(trees))
    tree_colour[trees[:, 6] == 0] %= 2  # conifers take the two darker greens
    trunk_colour = rng.integers(0, len(colours["trunk"]), len(trees))
    az, el = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.2)
    light = np.array([math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el)])
    return Forest(trail=trail, trees=trees, tree_s=s_near, tree_colour=tree_colour,
                  trunk_colour=trunk_colour, obstacle=obstacle, colours=colours,
                  light_direction=light)


# ---- low-poly tree meshes (flat shaded: every triangle has its own vertices and normal) ------
def _ring(t: np.ndarray, z: np.ndarray, r: np.ndarray, n: int, phase: float = 0.0) -> np.ndarray:
    """(T, n, 3) corners of a horizontal n-gon of radius r at height z around each tree."""
    a = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([t[:, 0:1] + r[:, None] * np.cos(a), t[:, 1:2] + r[:, None] * np.sin(a),
                     np.broadcast_to(z[:, None], (len(t), n))], -1)


def _band(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(T, 2n, 3, 3) outward-facing side triangles between two (T, n, 3) rings, lo below hi."""
    lo2, hi2 = np.roll(lo, -1, axis=1), np.roll(hi, -1, axis=1)
    return np.concatenate([np.stack([lo, lo2, hi2], 2), np.stack([lo, hi2, hi], 2)], 1)


def _fan(ring: np.ndarray, apex: np.ndarray, up: bool) -> np.ndarray:
    """(T, n, 3, 3) triangles from each ring edge to ``apex`` (T, 3), facing out (up: apex above
    the ring)."""
    r2 = np.roll(ring, -1, axis=1)
    ap = np.broadcast_to(apex[:, None, :], ring.shape)
    return np.stack([ring, r2, ap], 2) if up else np.stack([r2, ring, ap], 2)


def tree_triangles(trees: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangles (K, 3, 3) of all trees, counter-clockwise seen from outside, with the tree each
    belongs to (K,) and whether it is canopy (K,) rather than trunk.

    Trunk: a 6-sided prism from the ground to 0.4 m into the canopy, tapering to 70 %. Conifer: a
    7-sided cone with a closed base. Broadleaf: a 6-sided blob of two rings between two apexes.
    """
    tris, owner, canopy = [], [], []

    def add(rows, t, is_canopy):
        tris.append(t.reshape(-1, 3, 3))
        owner.append(np.repeat(rows, t.shape[1]))
        canopy.append(np.full(len(rows) * t.shape[1], is_canopy))

    rows = np.arange(len(trees))
    t = trees
    add(rows, _band(_ring(t, np.zeros(len(t)), t[:, 2], 6),
                    _ring(t, t[:, 3] + 0.4, 0.7 * t[:, 2], 6)), False)
    rows = np.flatnonzero(trees[:, 6] == 0)
    t = trees[rows]
    if len(t):
        base = _ring(t, t[:, 3], t[:, 4], 7)
        add(rows, np.concatenate([_fan(base, np.stack([t[:, 0], t[:, 1], t[:, 5]], 1), True),
                                  _fan(base, np.stack([t[:, 0], t[:, 1], t[:, 3]], 1), False)],
                                 1), True)
    rows = np.flatnonzero(trees[:, 6] == 1)
    t = trees[rows]
    if len(t):
        z0, z1 = t[:, 3], t[:, 5]
        r1 = _ring(t, z0 + 0.3 * (z1 - z0), t[:, 4], 6)
        r2 = _ring(t, z0 + 0.7 * (z1 - z0), 0.85 * t[:, 4], 6, 0.5)
        add(rows, np.concatenate([_fan(r1, np.stack([t[:, 0], t[:, 1], z0], 1), False),
                                  _band(r1, r2),
                                  _fan(r2, np.stack([t[:, 0], t[:, 1], z1], 1), True)], 1), True)
    return np.concatenate(tris), np.concatenate(owner), np.concatenate(canopy)


class MeshFiles:
    """Where :func:`mesh_body` writes its meshes: one Wavefront OBJ file per body of the
    current world, in a folder of its own that is removed with this object.

    pybullet 3.2.7 never frees a visual shape made from ``vertices=`` lists, not even on
    ``resetSimulation`` or ``disconnect`` (about 450 bytes a vertex: 3.5 MB per drone world,
    433 MB an hour in the soak, ``benchmarks/bench_soak.py``); a mesh loaded from a file is freed
    with the world, as long as pybullet's file cache is off (``enableFileCaching=0``, which
    :meth:`prepare` sets after every reset). The files are rewritten for each world, so a name
    never stands for two meshes while the cache could hold it. Values are written with 17
    significant digits, so pybullet reads back the same numbers it was given before.
    """

    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="bc_ros_meshes_")
        self._count = 0

    def prepare(self, p, client: int) -> None:
        """Call after each ``resetSimulation``: file names start over, the file cache is off."""
        p.setPhysicsEngineParameter(enableFileCaching=0, physicsClientId=client)
        self._count = 0

    def write(self, vertices: np.ndarray, normals: np.ndarray) -> str:
        """An OBJ file of triangles (3 consecutive vertices each) with per-vertex normals."""
        path = os.path.join(self._dir.name, f"mesh{self._count}.obj")
        self._count += 1
        n = len(vertices)
        ids = np.arange(1, n + 1).reshape(-1, 3)
        with open(path, "w") as f:
            f.write("".join("v %.17g %.17g %.17g\n" % tuple(r) for r in vertices.tolist()))
            f.write("".join("vn %.17g %.17g %.17g\n" % tuple(r) for r in normals.tolist()))
            f.write("".join("f %d//%d %d//%d %d//%d\n" % (a, a, b, b, c, c)
                            for a, b, c in ids.tolist()))
        return path

    def close(self) -> None:
        self._dir.cleanup()


def mesh_body(p, client: int, tris: np.ndarray, rgb, files: MeshFiles) -> int:
    """A static, collision-free pybullet body showing triangles (K, 3, 3) in one colour, loaded
    from an OBJ file written to ``files`` (see :class:`MeshFiles`: a mesh given as lists would
    stay in memory for the life of the process)."""
    nrm = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-12
    path = files.write(tris.reshape(-1, 3), np.repeat(nrm, 3, axis=0))
    shape = p.createVisualShape(p.GEOM_MESH, fileName=path, rgbaColor=[*rgb, 1.0],
                                specularColor=[0, 0, 0], physicsClientId=client)
    return p.createMultiBody(baseMass=0, baseVisualShapeIndex=shape, baseCollisionShapeIndex=-1,
                             physicsClientId=client)


def flat_ground(forest: Forest) -> list[tuple[np.ndarray, np.ndarray]]:
    """Triangles and colour of a plain ground square and the trail ribbon, for the GUI only
    (the camera images get the ground from :class:`GroundMap`)."""
    tr = forest.trail
    lo, hi = tr.xy.min(0) - 25.0, tr.xy.max(0) + 25.0
    corners = np.array([[lo[0], lo[1], 0], [hi[0], lo[1], 0], [hi[0], hi[1], 0], [lo[0], hi[1], 0]])
    square = np.stack([corners[[0, 1, 2]], corners[[0, 2, 3]]])
    i = np.arange(0, len(tr.s), 2)
    hw = tr.drawn_half_width(tr.s[i])
    nrm = np.stack([-np.sin(tr.heading[i]), np.cos(tr.heading[i]), np.zeros(len(i))], 1)
    mid = np.concatenate([tr.xy[i], np.full((len(i), 1), 0.02)], 1)
    left, right = mid + hw[:, None] * nrm, mid - hw[:, None] * nrm
    ribbon = np.concatenate([np.stack([right[:-1], right[1:], left[1:]], 1),
                             np.stack([right[:-1], left[1:], left[:-1]], 1)])
    return [(square, forest.colours["ground"]), (ribbon, forest.colours["trail"])]


@dataclasses.dataclass
class TreeChunk:
    """Trees within one stretch of trail, as a few pybullet bodies (one per colour) that are
    hidden together when no camera can see them. ``centre`` (m, world) and ``radius`` (m) bound
    the chunk's trunks and canopies in the horizontal plane."""

    bodies: list[int]
    colours: list[np.ndarray]
    centre: np.ndarray
    radius: float
    visible: bool = True


def build_trees(p, client: int, forest: Forest, files: MeshFiles) -> list[TreeChunk]:
    """Create the tree bodies, grouped by ``CHUNK`` m of trail, in order from the start."""
    trees = forest.trees
    tris, owner, canopy = tree_triangles(trees)
    chunk_of = np.floor((forest.tree_s - forest.trail.s[0]) / CHUNK).astype(int)
    n_trunk = len(forest.colours["trunk"])
    colour = np.where(canopy, n_trunk + forest.tree_colour[owner], forest.trunk_colour[owner])
    palette = list(forest.colours["trunk"]) + list(forest.colours["canopy"])
    key = chunk_of[owner] * len(palette) + colour
    order = np.argsort(key, kind="stable")
    keys, starts = np.unique(key[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    chunks: dict[int, TreeChunk] = {}
    for k, a, b in zip(keys, starts, ends):
        c, col = divmod(int(k), len(palette))
        if c not in chunks:
            t = trees[chunk_of == c]
            lo = (t[:, :2] - t[:, 4:5]).min(0)
            hi = (t[:, :2] + t[:, 4:5]).max(0)
            chunks[c] = TreeChunk([], [], (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2))
        chunks[c].bodies.append(mesh_body(p, client, tris[order[a:b]], palette[col], files))
        chunks[c].colours.append(palette[col])
    return [chunks[c] for c in sorted(chunks)]


class GroundMap:
    """The lit ground colour (uint8 RGB) as a raster in the world's x-y plane, trail painted in,
    with a mip pyramid.

    Texel (i, j) of level l covers x in x0 + [j, j + 1) res 2^l and y in y0 + [i, i + 1) res 2^l.
    A camera sees the ground plane through a homography, so :meth:`draw` warps the level whose
    texels best match the ground each pixel covers (cv2.warpPerspective, bilinear) into the
    image: fine texels near the camera, coarse ones far away, which keeps the far ground from
    shimmering. Outside the raster the edge texels continue.
    """

    LEVELS = (0, 2, 4)  # the pyramid levels drawn: 0.1, 0.4 and 1.6 m texels at res = 0.1 m

    def __init__(self, x0: float, y0: float, res: float, rgb: np.ndarray):
        import cv2

        self.x0, self.y0, self.res = x0, y0, res
        self.levels = {0: rgb}
        img = rgb
        for lv in range(1, max(self.LEVELS) + 1):
            img = cv2.resize(img, (max(1, img.shape[1] // 2), max(1, img.shape[0] // 2)),
                             interpolation=cv2.INTER_AREA)
            if lv in self.LEVELS:
                self.levels[lv] = img

    def texel_from_world(self, level: int) -> np.ndarray:
        """3x3 map from homogeneous world (x, y, 1) to texel coordinates of ``level`` (cv2's
        convention: texel centres at integer coordinates)."""
        k = 1.0 / (self.res * 2 ** level)
        return np.array([[k, 0, -self.x0 * k - 0.5], [0, k, -self.y0 * k - 0.5], [0, 0, 1]])

    def draw(self, out: np.ndarray, world_from_pixel: np.ndarray, level_masks: dict) -> None:
        """Paint the ground into ``out`` (H, W, 3 uint8) where ``level_masks[l]`` (uint8 H x W,
        non-zero = draw) is set; ``world_from_pixel`` maps homogeneous pixel (col, row, 1) to
        ground (x, y, 1)."""
        import cv2

        w = out.shape[1]
        for lv, mask in level_masks.items():
            _, r0, _, n = cv2.boundingRect(mask)  # warp only the band of rows needed
            if n == 0:
                continue
            hom = self.texel_from_world(lv) @ world_from_pixel
            hom[:, 2] += hom[:, 1] * r0  # start at row r0
            band = cv2.warpPerspective(self.levels[lv], hom, (w, n),
                                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_REPLICATE)
            cv2.copyTo(band, mask[r0:r0 + n], out[r0:r0 + n])  # in place: rows are contiguous


def ground_map(forest: Forest, rng: np.random.Generator, lighting: float = 1.0,
               res: float = 0.1, margin: float = 25.0) -> GroundMap:
    """Paint grass, the trail (with slightly ragged, soft edges) and canopy shade into a raster
    with ``res`` m texels reaching ``margin`` m beyond the trail; colours are multiplied by
    ``lighting`` (the sun's effect on a horizontal surface)."""
    import cv2

    tr = forest.trail
    lo = tr.xy.min(0) - margin
    hi = tr.xy.max(0) + margin
    # a multiple of 16 texels each way, so that every mip level halves exactly
    w, h = (16 * int(math.ceil((hi[i] - lo[i]) / res / 16)) for i in (0, 1))

    def noise(scale: float, amp: float) -> np.ndarray:
        """Smooth noise with features of about ``scale`` m and standard deviation ``amp``."""
        small = rng.normal(0.0, amp, (int(h * res / scale) + 2, int(w * res / scale) + 2))
        return cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)

    # trail polygon: left edge forwards, right edge backwards; each edge wanders by a few cm
    i = np.arange(0, len(tr.s), 2)
    ragged = [np.interp(tr.s[i], tr.s[i][::8], rng.normal(0.0, 0.06, len(i[::8])))
              for _ in range(2)]
    hw = tr.drawn_half_width(tr.s[i])
    nrm = np.stack([-np.sin(tr.heading[i]), np.cos(tr.heading[i])], 1)
    left = tr.xy[i] + (hw + ragged[0])[:, None] * nrm
    right = tr.xy[i] - (hw + ragged[1])[:, None] * nrm
    poly = np.round((np.concatenate([left, right[::-1]]) - lo) / res * 4).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, shift=2)
    mask = cv2.GaussianBlur(mask, (3, 3), 0.8).astype(np.float32) * np.float32(1 / 255)
    # soft shade under each canopy, shifted away from the sun
    shade = np.zeros((h, w), np.uint8)
    light = forest.light_direction
    for x, y, _, base, r, top, _ in forest.trees:
        zc = 0.5 * (base + top)
        cx, cy = x - light[0] / light[2] * zc, y - light[1] / light[2] * zc
        cv2.circle(shade, (int((cx - lo[0]) / res), int((cy - lo[1]) / res)), int(0.8 * r / res),
                   77, -1)  # 30 % darker
    light_map = (np.float32(255 * lighting / 255) * (255 - cv2.blur(shade, (9, 9)))
                 ).astype(np.float32)
    # colour = lit * (grass (1 + noise) (1 - mask) + dirt (1 + noise) mask), per channel
    grass = (1.0 + noise(6.0, 0.10) + noise(1.2, 0.06)) * (1.0 - mask) * light_map
    dirt = (1.0 + noise(3.0, 0.05) + noise(0.5, 0.05)) * mask * light_map
    g, d = forest.colours["ground"], forest.colours["trail"]
    rgb = cv2.merge([cv2.addWeighted(grass, float(g[c]), dirt, float(d[c]), 0.0, dtype=cv2.CV_8U)
                     for c in range(3)])
    return GroundMap(float(lo[0]), float(lo[1]), res, rgb)
