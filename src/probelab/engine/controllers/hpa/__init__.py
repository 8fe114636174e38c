"""The HorizontalPodAutoscaler controller without a metrics source: `plan` and `controller`."""
