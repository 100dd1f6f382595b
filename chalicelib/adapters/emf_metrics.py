"""Business counters as CloudWatch embedded-metric-format lines (Powertools), no API call."""

from __future__ import annotations


class EmfMetrics:
    """Metrics: each count is one EMF line on stdout; CloudWatch Logs turns it into a metric."""

    def __init__(self, namespace: str, service: str) -> None:
        self._namespace = namespace
        self._service = service

    def count(self, name: str, value: int = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(
            name=name, unit=MetricUnit.Count, value=value, namespace=self._namespace
        ) as metric:
            metric.add_dimension(name="service", value=self._service)
