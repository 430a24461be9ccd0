"""Routing: the kelurahan registry and the spatial index that says where a report belongs."""

from lapor.routing.demo import DEMO_REGISTRY, ensure_demo_registry
from lapor.routing.locate import (
    DEFAULT_GAP_M,
    DEFAULT_NEAR_M,
    DEFAULT_POINT_CUTOFF_M,
    OUTSIDE,
    How,
    KelurahanIndex,
    KelurahanRecord,
    KelurahanRef,
    Location,
)
from lapor.routing.registry import (
    DEMO_PREFIX,
    ImportResult,
    RegistryError,
    RemoveRefused,
    import_registry,
    is_demo,
    load_index,
    load_records,
    parse_registry,
    remove_kelurahan,
)

__all__ = [
    "DEFAULT_GAP_M",
    "DEFAULT_NEAR_M",
    "DEFAULT_POINT_CUTOFF_M",
    "DEMO_PREFIX",
    "DEMO_REGISTRY",
    "OUTSIDE",
    "How",
    "ImportResult",
    "KelurahanIndex",
    "KelurahanRecord",
    "KelurahanRef",
    "Location",
    "RegistryError",
    "RemoveRefused",
    "ensure_demo_registry",
    "import_registry",
    "is_demo",
    "load_index",
    "load_records",
    "parse_registry",
    "remove_kelurahan",
]
