"""Monitoring and incidents: anomaly rules over the audit stream, automatic responses
(alert, step-up, freeze), alerts (in-app, webhooks, Prometheus), incidents with grading,
containment, affected customers and the notification clocks. See docs/monitoring.md."""

__all__ = ["detectors", "engine", "incidents", "metrics", "models", "rules", "schemas", "service"]
