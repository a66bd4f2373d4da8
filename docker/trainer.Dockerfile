# syntax=docker/dockerfile:1.7
# polyspan trainer: torch 2.13 with its CUDA 13.0 libraries (cuda-toolkit 13.0, cuDNN 9, NCCL 2.29 arrive as
# the PyPI wheel's own dependencies), polyspan[trainer] (no Beam, spaCy or aligner), a non-root user, and
# `torchrun` as the entry point:
#   docker run --gpus all IMAGE --standalone --nproc-per-node=gpu -m trainer.pretrain \
#       --config configs/pretrain_mpmr.yaml output_dir=/shared/runs/mpmr data.train=[gs://bucket/mrc/en]
# The host needs an NVIDIA driver for CUDA 13.0 (>= 580) and the NVIDIA container toolkit, which mounts the
# driver into the container (NVIDIA_* variables below). No CUDA base image is needed: the wheels carry the
# CUDA user-space libraries, so a CUDA base would only ship them twice.
# Build from the repository root:  docker build -f docker/trainer.Dockerfile -t IMAGE .

# ---- builder: a virtual environment with everything installed (pip, its caches and the sources stay here).
FROM python:3.11.13-slim-bookworm AS builder
WORKDIR /src
COPY setup.py constraints.txt README.md ./
COPY schemas/ schemas/
COPY alignment/ alignment/
COPY pipelines/ pipelines/
COPY trainer/ trainer/
# torch first, from PyPI's default (CUDA) index, then the extra under the same constraints (torch==2.13.0 and
# a pyarrow the schemas accept), as the Makefile does.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "torch==2.13.0" \
    && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt ".[trainer]"

# ---- trainer: the same Python, the environment copied in, nothing else.
FROM python:3.11.13-slim-bookworm
ARG TRAINER_UID=1000
RUN groupadd --gid "${TRAINER_UID}" polyspan \
    && useradd --uid "${TRAINER_UID}" --gid polyspan --create-home --shell /usr/sbin/nologin polyspan
COPY --from=builder /opt/venv /opt/venv
# The shipped configs, so `--config configs/pretrain_mpmr.yaml` works from the working directory.
COPY configs/ /home/polyspan/configs/
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/home/polyspan \
    PYTHONUNBUFFERED=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER ${TRAINER_UID}:${TRAINER_UID}
WORKDIR /home/polyspan
ENTRYPOINT ["torchrun"]
CMD ["--help"]
