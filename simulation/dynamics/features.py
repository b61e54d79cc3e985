"""Graph construction and input features of the learned world model.

Nodes are entities (see :mod:`simulation.dynamics.entities`). Directed edges carry
messages sender -> receiver, only towards predicted entities:

* body/fixed body/humanoid link -> body, when their estimated gap is below the
  connectivity radius (rebuilt every frame, as in GNS);
* floor -> body, always (the floor is the plane z = 0 below the body);
* carrier body -> the light it carries.

Contact geometry enters through support functions: ``support(d)`` is how far a shape
reaches along the unit direction d from its centre, so the gap between two shapes along
the line joining their centres is ``|d| - support_a(d) - support_b(-d)`` (exact for
spheres, a lower bound otherwise), and a body's clearance above the floor is
``z - support(-z)`` (exact for every primitive).

Near contact the model needs millimetre resolution, which a gap normalised by dataset
statistics (spread over metres) does not give, so every edge also carries a basis of the
gap at millimetre-to-decimetre scales and the *contact patch* of both shapes: a soft
version of the support point (the keypoints of the shape that reach furthest towards the
other shape, weighted by how close they come), and the relative velocity of the two
shapes at their patches, which tells sliding and rolling apart and whether a contact is
closing.

Impacts happen within a frame, at a pose the current frame does not show, so the floor
edge also carries a *lookahead*: the body advanced one frame in free flight (gravity only,
the update of :func:`simulation.dynamics.integrate.advance`), its clearance there (how far it would
sink into the floor, in the gap basis), its contact patch towards the floor and that
patch's velocity. The network then sees where and how hard a body would hit, instead of
extrapolating it from the current pose."""

from __future__ import annotations

import dataclasses

import torch

from simulation.dynamics import rotations
from simulation.dynamics.entities import BODY, FLOOR, LIGHT, LINK, NUM_KINDS, EntityState, EntityTable
from simulation.dynamics.integrate import turned

NODE_FEATURES = 56
KIND_FEATURES = slice(0, NUM_KINDS)  # the node features' kind one-hot, all zero for padding
GAP_SCALES = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1)  # m: decay lengths of the gap basis
PENETRATION_SCALE = 0.01  # m
PATCH_WIDTH = 0.01  # m: keypoints this much short of the support distance weigh 1/e
LOOKAHEAD_FEATURES = 1 + len(GAP_SCALES) + 1 + 7
EDGE_FEATURES = 21 + len(GAP_SCALES) + 1 + 11 + LOOKAHEAD_FEATURES
GRAVITY = 9.81  # m/s^2, down: the lookahead's free fall (the model is trained under standard gravity)
EDGE_KINDS = 4  # solid -> body, floor -> body, humanoid link -> body, carrier -> light
_EPS = 1e-9


def support(geometry: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """Support distance (...) in metres of shapes ``geometry`` (..., 5) (see EntityTable)
    along unit directions ``local`` (..., 3) given in the shape's own frame."""
    box = (geometry[..., :3] * local.abs()).sum(-1)
    disc = geometry[..., 3] * torch.sqrt(local[..., 0] ** 2 + local[..., 1] ** 2 + _EPS)
    return box + disc + geometry[..., 4]


def contact_patch(geometry: torch.Tensor, rotation: torch.Tensor, direction: torch.Tensor):
    """The soft support point of shapes ``geometry`` (E, 5) with body-to-world rotations
    (E, 3, 3) towards unit world directions ``direction`` (E, 3).

    The keypoints are the box part's 8 corners, each moved by the disc's and the ball's
    support points along the direction (so a cylinder's are the two rim points of its caps
    that reach furthest). Each weighs ``exp(-(furthest reach - its reach) / PATCH_WIDTH)``. Returns the
    weighted mean keypoint (E, 3) as a world offset from the shape's centre in m, and the
    mean weight (E,) in (0, 1]: 1/8 for a box on a corner, 1/2 flat on a face.

    Computed in closed form: with ``a = half_extents * local_direction``, a corner's weight
    is a product over the three axes of 1 (the corner's sign matches a's) or
    ``exp(-2 |a_i| / PATCH_WIDTH)``, so the weighted mean corner is
    ``half_extents * tanh(a / PATCH_WIDTH)`` and the mean weight
    ``prod_i (1 + exp(-2 |a_i| / PATCH_WIDTH)) / 8``."""
    local = torch.einsum("eij,ei->ej", rotation, direction)
    planar = local[:, :2] / torch.sqrt(local[:, 0:1] ** 2 + local[:, 1:2] ** 2 + _EPS)
    disc = geometry[:, 3:4] * torch.cat([planar, torch.zeros_like(planar[:, :1])], dim=-1)
    a = geometry[:, :3] * local
    centre = geometry[:, :3] * torch.tanh(a / PATCH_WIDTH) + disc + geometry[:, 4:5] * local
    weight = (1.0 + torch.exp(-2.0 * a.abs() / PATCH_WIDTH)).prod(-1) / 8.0
    return torch.einsum("eij,ej->ei", rotation, centre), weight


def gap_basis(gap: torch.Tensor) -> torch.Tensor:
    """(E, len(GAP_SCALES) + 1): ``exp(-max(gap, 0) / scale)`` per scale and the
    penetration ``max(-gap, 0) / PENETRATION_SCALE``, for gaps (E,) in m."""
    scales = torch.tensor(GAP_SCALES, dtype=gap.dtype, device=gap.device)
    closeness = torch.exp(-gap.clamp_min(0.0).unsqueeze(-1) / scales)
    return torch.cat([closeness, (-gap).clamp_min(0.0).unsqueeze(-1) / PENETRATION_SCALE], dim=-1)


def floor_clearance(table: EntityTable, state: EntityState, rotation: torch.Tensor) -> torch.Tensor:
    """Height (S, N) in metres of each entity's lowest point above z = 0."""
    down = -rotation[..., 2, :]  # world -z in the entity's frame: minus the third row of R
    return state.position[..., 2] - support(table.geometry, down)


def floor_lookahead(table: EntityTable, state: EntityState, fps: float) -> torch.Tensor:
    """(S, N, LOOKAHEAD_FEATURES): each entity advanced one frame (1 / ``fps`` s) in free
    flight (``v' = v - g dt``, ``x' = x + v' dt``, ``q' = exp(w dt) q``): its floor
    clearance there (m; negative: it would sink in), the clearance's gap basis, its contact
    patch towards the floor (world offset from the centre, m, and mean weight; see
    :func:`contact_patch`) and the patch's velocity (m/s)."""
    velocity = state.velocity - torch.tensor([0.0, 0.0, GRAVITY / fps], dtype=state.velocity.dtype, device=state.velocity.device)
    rotation = rotations.to_matrix(turned(state.orientation, state.angular_velocity, fps))
    ahead = dataclasses.replace(state, position=state.position + velocity / fps)
    clearance = floor_clearance(table, ahead, rotation)
    S, N = clearance.shape
    down = torch.zeros(S * N, 3, dtype=clearance.dtype, device=clearance.device)
    down[:, 2] = -1.0
    patch, weight = contact_patch(table.geometry.reshape(S * N, -1), rotation.reshape(S * N, 3, 3), down)
    patch_velocity = velocity.reshape(S * N, 3) + torch.cross(state.angular_velocity.reshape(S * N, 3), patch, dim=-1)
    return torch.cat([clearance.reshape(S * N, 1), gap_basis(clearance.reshape(-1)), patch, weight.unsqueeze(-1),
                      patch_velocity], dim=-1).reshape(S, N, LOOKAHEAD_FEATURES)


def node_features(table: EntityTable, state: EntityState, rotation: torch.Tensor, clearance: torch.Tensor) -> torch.Tensor:
    """(S, N, NODE_FEATURES): kind one-hot (5), geometry (5), physics (3), light type (4),
    height z and floor clearance (2), rotation matrix (9), velocity, angular velocity and
    their previous values (12), has_velocity and has_previous (2), light direction,
    colour, log-intensity (7) and their changes over the last frame (7)."""
    kind = torch.nn.functional.one_hot(table.kind.clamp_min(0), NUM_KINDS).to(state.position.dtype)
    kind = kind * (table.kind >= 0).unsqueeze(-1)
    return torch.cat(
        [
            kind, table.geometry, table.physics, table.light_type,
            state.position[..., 2:3], clearance.unsqueeze(-1),
            rotation.flatten(-2),
            state.velocity, state.angular_velocity, state.previous_velocity, state.previous_angular_velocity,
            state.has_velocity.unsqueeze(-1), state.has_previous.unsqueeze(-1),
            state.direction, state.color, state.log_intensity.unsqueeze(-1),
            state.direction_change, state.color_change, state.log_intensity_change.unsqueeze(-1),
        ],
        dim=-1,
    )


def build_edges(table: EntityTable, state: EntityState, rotation: torch.Tensor, clearance: torch.Tensor, radius: float,
                fps: float):
    """Edges of S scenes and their features.

    Returns ``(scene, receiver, sender, features)``: three (E,) long tensors (entity
    indices within the scene) and features (E, EDGE_FEATURES): offset sender - receiver
    (3, m), distance (1), gap along the centre line (1; for floor edges the receiver's
    clearance), the offset in the receiver's frame (3) and the receiver's position in the
    sender's frame (3), relative velocity and angular velocity (6), edge kind (4), the gap
    basis (:func:`gap_basis`), the receiver's and the sender's contact patch towards each
    other (world offsets, 3 + 3, and mean weights, 1 + 1; see :func:`contact_patch`) and
    the sender's velocity minus the receiver's at their patches (3, m/s), and on floor
    edges the receiver's :func:`floor_lookahead` a frame of 1 / ``fps`` s ahead (zero on
    other edges)."""
    kind = table.kind
    S, N = kind.shape
    p = state.position
    # Candidate pairs first, by bounding spheres: a shape reaches at most ``bound`` from its
    # centre, so a pair farther apart than the radius plus both bounds (and a millimetre
    # for rounding) is not an edge. The exact gap is then computed for the candidates only.
    bound = table.geometry[..., :3].norm(dim=-1) + table.geometry[..., 3] + table.geometry[..., 4]
    near = (p.unsqueeze(1) - p.unsqueeze(2)).norm(dim=-1) - bound.unsqueeze(2) - bound.unsqueeze(1) < radius + 1e-3
    receiver_body = (kind == BODY).unsqueeze(2)
    solid = table.solid.unsqueeze(1)
    eye = torch.eye(N, dtype=torch.bool, device=kind.device).unsqueeze(0)
    floor = receiver_body & (kind == FLOOR).unsqueeze(1)
    carried = (kind == LIGHT).unsqueeze(2) & (table.carrier.unsqueeze(2) == torch.arange(N, device=kind.device).reshape(1, 1, N))
    scene, receiver, sender = torch.nonzero((receiver_body & solid & ~eye & near) | floor | carried, as_tuple=True)

    def at(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return x.reshape((S * N,) + x.shape[2:]).index_select(0, index)

    r, s = scene * N + receiver, scene * N + sender  # flat entity indices: gathers by index_select
    d = at(p, s) - at(p, r)  # sender - receiver
    dist = d.norm(dim=-1)
    unit = d / dist.clamp_min(1e-6).unsqueeze(-1)
    rot_r, rot_s = at(rotation, r), at(rotation, s)
    geometry_r, geometry_s = at(table.geometry, r), at(table.geometry, s)
    g = (dist - support(geometry_r, torch.einsum("eij,ei->ej", rot_r, unit))
         - support(geometry_s, -torch.einsum("eij,ei->ej", rot_s, unit)))
    kind_r, kind_s = at(kind, r), at(kind, s)
    is_floor = kind_s == FLOOR
    kept = (is_floor | (kind_r == LIGHT) | (g < radius)).nonzero().squeeze(1)
    scene, receiver, sender, r, s, d, dist, g, rot_r, rot_s, geometry_r, geometry_s, kind_r, kind_s, is_floor = (
        x.index_select(0, kept) for x in
        (scene, receiver, sender, r, s, d, dist, g, rot_r, rot_s, geometry_r, geometry_s, kind_r, kind_s, is_floor))
    z_r = at(p, r)[:, 2]
    d = torch.where(is_floor.unsqueeze(-1), torch.stack([torch.zeros_like(z_r), torch.zeros_like(z_r), -z_r], -1), d)
    dist = torch.where(is_floor, z_r.abs(), dist)
    g = torch.where(is_floor, at(clearance, r), torch.where(kind_r == LIGHT, dist, g))
    in_receiver = torch.einsum("eij,ei->ej", rot_r, d)
    in_sender = -torch.einsum("eij,ei->ej", rot_s, d)
    towards = d / dist.clamp_min(1e-6).unsqueeze(-1)  # receiver -> sender (down for the floor)
    E = len(r)
    patches, weights = contact_patch(torch.cat([geometry_r, geometry_s]), torch.cat([rot_r, rot_s]),
                                     torch.cat([towards, -towards]))
    patch_r, patch_s, weight_r, weight_s = patches[:E], patches[E:], weights[:E], weights[E:]
    v_r, v_s = at(state.velocity, r), at(state.velocity, s)
    w_r, w_s = at(state.angular_velocity, r), at(state.angular_velocity, s)
    slip = (v_s + torch.cross(w_s, patch_s, dim=-1)) - (v_r + torch.cross(w_r, patch_r, dim=-1))
    lookahead = at(floor_lookahead(table, state, fps), r) * is_floor.unsqueeze(-1)
    edge_kind = torch.where(is_floor, 1, torch.where(kind_s == LINK, 2, torch.where(kind_r == LIGHT, 3, 0)))
    features = torch.cat(
        [
            d, dist.unsqueeze(-1), g.unsqueeze(-1), in_receiver, in_sender, v_s - v_r, w_s - w_r,
            torch.nn.functional.one_hot(edge_kind, EDGE_KINDS).to(d.dtype),
            gap_basis(g), patch_r, patch_s, weight_r.unsqueeze(-1), weight_s.unsqueeze(-1), slip, lookahead,
        ],
        dim=-1,
    )
    return scene, receiver, sender, features


def graph_inputs(table: EntityTable, state: EntityState, radius: float, fps: float):
    """Node features (S, N, NODE_FEATURES) and edges (see :func:`build_edges`) of a frame,
    for a model stepping at ``fps``."""
    rotation = rotations.to_matrix(state.orientation)
    clearance = floor_clearance(table, state, rotation)
    return node_features(table, state, rotation, clearance), build_edges(table, state, rotation, clearance, radius, fps)
