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
    ImportResult,
    RegistryError,
    import_registry,
    load_index,
    load_records,
    parse_registry,
)

__all__ = [
    "DEFAULT_GAP_M",
    "DEFAULT_NEAR_M",
    "DEFAULT_POINT_CUTOFF_M",
    "DEMO_REGISTRY",
    "OUTSIDE",
    "How",
    "ImportResult",
    "KelurahanIndex",
    "KelurahanRecord",
    "KelurahanRef",
    "Location",
    "RegistryError",
    "ensure_demo_registry",
    "import_registry",
    "load_index",
    "load_records",
    "parse_registry",
]
