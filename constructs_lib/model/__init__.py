"""The typed model: what an environment file may say, validated before any construct exists."""

from .environment import (
    DependencySettings,
    Environment,
    EtcdSettings,
    FrontendSettings,
    Generation,
    Image,
    JetStreamSettings,
    MetricsSettings,
    Mode,
    ModelVolume,
    NatsSettings,
    PrefillSettings,
    RdmaSettings,
    ResourceList,
    Resources,
    ServiceMonitorSettings,
    ServiceSettings,
    V1Settings,
)
from .hardening import (
    DependencyHardening,
    DependencyWaitSettings,
    DisruptionBudgetSettings,
    NetworkPolicySettings,
    PlacementSettings,
    ProbeSettings,
    ResourceDefaults,
    SecuritySettings,
    SharedMemorySettings,
    Toleration,
    UpdateStrategy,
)
from .serve_config import Component, EngineSection, FrontendSection, KvTransferConfig, ServeConfig

__all__ = [
    "Component", "DependencySettings", "EngineSection", "Environment", "EtcdSettings",
    "FrontendSection", "FrontendSettings", "Generation", "Image", "JetStreamSettings",
    "KvTransferConfig", "MetricsSettings", "Mode", "ModelVolume", "NatsSettings",
    "PrefillSettings", "RdmaSettings", "ResourceList", "Resources", "ServeConfig",
    "ServiceMonitorSettings", "ServiceSettings", "V1Settings",
    # production hardening
    "DependencyHardening", "DependencyWaitSettings", "DisruptionBudgetSettings",
    "NetworkPolicySettings", "PlacementSettings", "ProbeSettings", "ResourceDefaults",
    "SecuritySettings", "SharedMemorySettings", "Toleration", "UpdateStrategy",
]
