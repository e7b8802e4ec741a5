# The Debian base (debootstrap, see scripts/compose-engine.sh) with Python 3.11 and pip able to reach
# PyPI from this host: its CA certificates come in as the build context's ca/ folder.
FROM local/debian:bookworm
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && update-ca-certificates && rm -rf /var/lib/apt/lists/* && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
