# segstream worker / CLI image. Not built in CI: no Docker engine runs on the developers'
# machines (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package build needs; every dependency ships manylinux wheels, so no compiler.
COPY pyproject.toml README.md /tmp/segstream/
COPY src /tmp/segstream/src
RUN pip install /tmp/segstream && rm -rf /tmp/segstream

# Non-root. Faust writes its data dir (<app_id>-data) into the working directory.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin segstream
USER segstream
WORKDIR /home/segstream

# Inside a container the web server must listen beyond loopback to be reachable.
ENV SEGSTREAM_WEB_HOST=0.0.0.0
EXPOSE 6066

ENTRYPOINT ["segstream"]
CMD ["worker"]
