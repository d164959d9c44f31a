# The stack's one address, in place of Knative's routes: nginx (Debian's nginx-light) sends /ws to the
# fanout function and everything else (the web page, /api, /openapi.json) to the tasks function.
ARG BASE=python:3.11.14-slim-bookworm
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends nginx-light && rm -rf /var/lib/apt/lists/*
COPY router.conf router.sh /etc/taskflow-router/
USER www-data
ENTRYPOINT ["sh", "/etc/taskflow-router/router.sh"]
