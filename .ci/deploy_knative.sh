#!/usr/bin/env bash
# Deploy one released image to one namespace with a Knative overlay (used by .github/workflows/deploy.yml).
#
#   .ci/deploy_knative.sh render NAMESPACE OVERLAY IMAGE   print the manifests that would be applied
#   .ci/deploy_knative.sh apply  NAMESPACE OVERLAY IMAGE   apply them, wait, print url=<tasks URL>
#
# OVERLAY is a folder of knative/overlays (dapr | eventing); IMAGE must be by digest
# (registry/name@sha256:…), so what runs is exactly what release.yml scanned and signed.
# Secrets are never applied from the repo (knative/base/secrets.yaml holds templates): they are
# created in each namespace beforehand (the deployer needs no right to read them); without them the
# migration Job does not start and `apply` fails at its wait.
set -euo pipefail

usage() { echo "usage: $0 render|apply NAMESPACE OVERLAY IMAGE@sha256:DIGEST" >&2; exit 2; }
[[ $# -eq 4 ]] || usage
mode=$1 namespace=$2 overlay=$3 image=$4
[[ $mode == render || $mode == apply ]] || usage
[[ $namespace =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || { echo "not a namespace name: $namespace" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
[[ -f $root/knative/overlays/$overlay/kustomization.yaml ]] || { echo "no overlay knative/overlays/$overlay" >&2; exit 2; }
if [[ ! $image =~ ^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$ ]]; then
  echo "the image must be given by digest (registry/name@sha256:…), not: $image" >&2
  exit 2
fi

# A throw-away overlay beside the others (kustomize resolves resources relative to it).
work=$(mktemp -d "$root/knative/overlays/.deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $namespace
resources:
  - ../$overlay
images:
  - name: taskflow
    newName: ${image%@*}
    digest: ${image#*@}
patches:
  - target:
      kind: Secret
    patch: |-
      \$patch: delete
      apiVersion: v1
      kind: Secret
      metadata:
        name: each-secret
EOF
kubectl kustomize "$work" > "$work/manifests.yaml"

if [[ $mode == render ]]; then
  cat "$work/manifests.yaml"
  exit 0
fi

# kubectl's progress goes to stderr: stdout carries only the result line (a GitHub step output).
{
  # A Job's pod template cannot change: the previous release's migration Job goes first.
  kubectl delete job taskflow-migrate --namespace "$namespace" --ignore-not-found --wait=true
  kubectl apply --filename "$work/manifests.yaml"
  kubectl wait job/taskflow-migrate --namespace "$namespace" --for=condition=complete --timeout=300s
  kubectl wait ksvc --all --namespace "$namespace" --for=condition=Ready --timeout=300s
} >&2
echo "url=$(kubectl get ksvc taskflow-tasks --namespace "$namespace" --output 'jsonpath={.status.url}')"
