"""Coherence and baseline planner: the interferometric budget of seed 001 (Shimada, ALOS orbit separation).

Public API::

    predict_coherence(bperp_m, dt_days, sensor="sentinel1_iw", *, landcover="default", params=None)
    suggest_network(dates, bperp_m, sensor, *, min_coh=0.4, max_per_epoch=4, ...) -> [(date1, date2), ...]
    predicted_vs_observed(date1, date2, bperp, observed_mean_coh, sensor, ...) -> CoherenceComparison
    fit_temporal_model(dt_days, bperp_m, observed_coh, sensor) -> TemporalFit (params, r2)
    document_tables() -> Tables 2 and 3 of seed 001 recomputed from its Table 1

Numerics live in :mod:`kansho.planning.model`, presets and user sensors in
:mod:`kansho.planning.sensors`; see ``docs/planning.md`` for the equations.
"""

from __future__ import annotations

from kansho.planning.budget import (
    DOCUMENT_TABLE2,
    BaselineBudget,
    CoherenceComparison,
    TemporalFit,
    budget_for_sensor,
    coherence_terms,
    document_tables,
    fit_temporal_model,
    predict_coherence,
    predicted_vs_observed,
)
from kansho.planning.model import (
    baseline_for_coherence,
    critical_baseline,
    deformation_std,
    gamma_spatial,
    gamma_temporal,
    gamma_thermal,
    height_of_ambiguity,
    height_std,
    orbit_tube,
    phase_pdf,
    phase_std_cramer_rao,
    phase_std_exact,
)
from kansho.planning.network import (
    NetworkSuggestion,
    suggest_network,
    suggest_network_detail,
)
from kansho.planning.readers import PairTable, read_pair_table, read_stack_baselines
from kansho.planning.sensors import (
    SENSORS,
    Sensor,
    TemporalModel,
    get_sensor,
    load_sensors,
)

__all__ = [
    "DOCUMENT_TABLE2",
    "SENSORS",
    "BaselineBudget",
    "CoherenceComparison",
    "NetworkSuggestion",
    "PairTable",
    "Sensor",
    "TemporalFit",
    "TemporalModel",
    "baseline_for_coherence",
    "budget_for_sensor",
    "coherence_terms",
    "critical_baseline",
    "deformation_std",
    "document_tables",
    "fit_temporal_model",
    "gamma_spatial",
    "gamma_temporal",
    "gamma_thermal",
    "get_sensor",
    "height_of_ambiguity",
    "height_std",
    "load_sensors",
    "orbit_tube",
    "phase_pdf",
    "phase_std_cramer_rao",
    "phase_std_exact",
    "predict_coherence",
    "predicted_vs_observed",
    "read_pair_table",
    "read_stack_baselines",
    "suggest_network",
    "suggest_network_detail",
]
