# syntax=docker/dockerfile:1
# models-server on one NVIDIA GPU, serving configs/gpu-24gb.yaml on port 8005.
#
#   docker build -t models-server .
#   docker run --rm --gpus all -v /srv/models:/models models-server \
#       models-server download --config /app/configs/gpu-24gb.yaml
#   docker run -d --gpus all -p 8005:8005 -v /srv/models:/models -v /path/to/JARVIS/hugginggpt/server/public:/public \
#       --name models-server models-server
#
# torch's PyPI wheels bring their own CUDA and cuDNN libraries, so a plain Python base image is
# enough (a CUDA base image would ship a second copy of them): the host needs only the NVIDIA
# driver and the NVIDIA Container Toolkit that `--gpus all` uses.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HF_HOME=/models/.huggingface

# tesseract reads the words of documents for document question answering.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The dependencies first, in their own layer: a change to the code does not reinstall torch.
COPY setup.cfg pyproject.toml README.md ./
RUN python -c "import configparser; c = configparser.ConfigParser(); c.read('setup.cfg'); \
print(c['options']['install_requires'])" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && pip install --no-deps "espnet==202511" \
 && rm /tmp/requirements.txt

COPY models_server ./models_server
COPY configs ./configs
RUN pip install --no-deps .

# Not root: the server fetches URLs and runs models for network clients. Bind-mounted folders must
# be writable by uid 1000 (or run with --user "$(id -u):$(id -g)").
RUN useradd --create-home --uid 1000 models \
 && mkdir -p /models /public \
 && chown models:models /models /public
USER models
VOLUME ["/models", "/public"]

EXPOSE 8005
# Liveness, not readiness: /healthz answers as soon as the port is open, while the models still
# load in the background. /readyz (503 until the preloaded models are up) would mark the container
# unhealthy during a long first load, and Swarm or an autoheal would restart it mid-load, forever.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8005/healthz', timeout=4)"]

CMD ["models-server", "serve", "--config", "/app/configs/gpu-24gb.yaml", "--host", "0.0.0.0"]
