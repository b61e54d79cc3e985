"""The scene description: typed schema, YAML/Hydra loading, distributions, validation.

This is the bottom layer of worldgen: simulation, control and renderer import it; it
imports none of them."""

from worldgen.scene.errors import SceneError
from worldgen.scene.loading import RunConfig, bundled_scenes, compose_config, load_scene, scene_from_dict, scene_to_yaml
from worldgen.scene.schema import (
    CameraSpec,
    ConstraintSpec,
    HumanoidSpec,
    LightSpec,
    Material,
    ObjectSpec,
    Physics,
    Scene,
)

__all__ = [
    "CameraSpec", "ConstraintSpec", "HumanoidSpec", "LightSpec", "Material", "ObjectSpec", "Physics",
    "RunConfig", "Scene", "SceneError", "bundled_scenes", "compose_config", "load_scene",
    "scene_from_dict", "scene_to_yaml",
]
