"""Unit tests of shared/observability and knative/observability."""
