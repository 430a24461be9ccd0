"""The dashboard's signed-in rig (tests/dashboard/conftest.py), for the dashboard fuzz."""

from tests.dashboard.conftest import rig, signed_in

__all__ = ["rig", "signed_in"]
