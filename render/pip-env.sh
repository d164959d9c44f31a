# Sourced by `make image` / `make stack` (POSIX sh): export the pip settings this machine uses (its
# environment first, then pip's configuration) for builds to pass on by name (`--build-arg PIP_CERT`),
# so a build reaches the same index through the same certificates. Only what a container can use:
# an index on the network (a file:// index on this disk is not inside the build); unset otherwise.
_pip_config() { python3 -m pip config get "global.$1" 2>/dev/null || true; }
_network_urls() {
  _urls=
  for _url in $1; do
    case "$_url" in http://* | https://*) _urls="${_urls:+$_urls }$_url" ;; esac
  done
  printf '%s' "$_urls"
}
PIP_INDEX_URL=$(_network_urls "${PIP_INDEX_URL:-$(_pip_config index-url)}")
PIP_EXTRA_INDEX_URL=$(_network_urls "${PIP_EXTRA_INDEX_URL:-$(_pip_config extra-index-url)}")
PIP_TRUSTED_HOST=${PIP_TRUSTED_HOST:-$(_pip_config trusted-host)}
PIP_CERT=${PIP_CERT:-$(_pip_config cert)}
for _name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT; do
  if [ -n "$(eval "printf '%s' \"\$$_name\"")" ]; then export "$_name"; else unset "$_name"; fi
done
unset _name _url _urls
