"""Integration tests of deployment files (knative/, dapr/, render/, .github/workflows)."""
