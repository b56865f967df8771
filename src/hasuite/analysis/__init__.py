"""Pure analysis: timelines in, measurements and verdicts out.

No I/O, no clock reads, no sleeps: every instant is passed in. Only the standard library and
``hasuite.model`` are imported (an import-linter contract in pyproject.toml enforces it).
"""

from hasuite.analysis.alerts import measure_alert_fire, measure_alert_resolve, measure_false_alarms
from hasuite.analysis.beat import count_slots, measure_beat_resume, measure_beat_slots
from hasuite.analysis.ledger import (
    confirm_deadline,
    count_by_source,
    measure_duplicates,
    measure_lost,
    measure_unconfirmed,
)
from hasuite.analysis.measurements import MEASUREMENTS, PHASES, UNITS
from hasuite.analysis.outages import (
    DEFAULT_RESOLUTION_S,
    build_outages,
    measure_failed_requests,
    measure_max_success_gap,
    measure_outage,
    measure_time_to_first_success,
)
from hasuite.analysis.phases import (
    DEFAULT_SETTLE_S,
    build_phases,
    measure_phase_errors,
    unhealthy_baseline,
)
from hasuite.analysis.roles import (
    blind_errors,
    measure_failovers,
    measure_instance_ready,
    measure_time_to_new_role,
)
from hasuite.analysis.verdict import (
    aggregate_status,
    error_result,
    evaluate_check,
    index_measurements,
    interrupted_result,
    judge,
    judge_all,
)

__all__ = [
    "DEFAULT_RESOLUTION_S",
    "DEFAULT_SETTLE_S",
    "MEASUREMENTS",
    "PHASES",
    "UNITS",
    "aggregate_status",
    "blind_errors",
    "build_outages",
    "build_phases",
    "confirm_deadline",
    "count_by_source",
    "count_slots",
    "error_result",
    "evaluate_check",
    "index_measurements",
    "interrupted_result",
    "judge",
    "judge_all",
    "measure_alert_fire",
    "measure_alert_resolve",
    "measure_beat_resume",
    "measure_beat_slots",
    "measure_duplicates",
    "measure_failed_requests",
    "measure_failovers",
    "measure_false_alarms",
    "measure_instance_ready",
    "measure_lost",
    "measure_max_success_gap",
    "measure_outage",
    "measure_phase_errors",
    "measure_time_to_first_success",
    "measure_time_to_new_role",
    "measure_unconfirmed",
    "unhealthy_baseline",
]
