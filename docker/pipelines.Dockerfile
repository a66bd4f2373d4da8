# syntax=docker/dockerfile:1.7
# polyspan pipeline worker: a custom Apache Beam SDK container with polyspan[pipelines] and every language
# segmenter preinstalled. One image for
#   Dataflow           --sdk_container_image=IMAGE --sdk_location=container
#   Flink / Spark      --environment_type=DOCKER --environment_config=IMAGE
#                      (or EXTERNAL: `docker run IMAGE --worker_pool` beside each task manager / executor)
# Build from the repository root:  docker build -f docker/pipelines.Dockerfile -t IMAGE .
#
# The base must carry the Beam version setup.py pins (tests/test_dockerfiles.py checks they agree): the SDK that
# builds the graph and the SDK that runs it must be the same release.

# ---- builder: wheels for polyspan and everything it needs that the Beam image lacks (eflomal, jieba and
# natto-py ship no wheels; the Beam image is python:3.11-bookworm, so its compilers build them here).
FROM apache/beam_python3.11_sdk:2.77.0 AS builder
WORKDIR /src
COPY setup.py constraints.txt README.md ./
COPY schemas/ schemas/
COPY alignment/ alignment/
COPY pipelines/ pipelines/
COPY trainer/ trainer/
# Everything already in the Beam image keeps its version (Beam's tested set): it constrains the resolution.
RUN pip list --format=freeze > /beam-image-constraints.txt \
    && pip wheel --no-cache-dir --wheel-dir /wheels \
        -c /beam-image-constraints.txt -c constraints.txt ".[pipelines]"

# ---- worker: the same Beam image, the wheels installed from a bind mount (they never become a layer), no
# compiler or build dependency added, a non-root user.
FROM apache/beam_python3.11_sdk:2.77.0
ARG WORKER_UID=1000
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/beam-image-constraints.txt,target=/tmp/beam-image-constraints.txt \
    pip install --no-cache-dir --no-index --find-links=/wheels \
        -c /tmp/beam-image-constraints.txt "polyspan[pipelines]==0.1.0" \
    && groupadd --gid "${WORKER_UID}" polyspan \
    && useradd --uid "${WORKER_UID}" --gid polyspan --create-home --shell /usr/sbin/nologin polyspan
# PyThaiNLP and jieba keep their data and caches under the home directory and /tmp: both writable by the user.
ENV HOME=/home/polyspan \
    PYTHAINLP_DATA_DIR=/home/polyspan/pythainlp-data \
    PYTHONDONTWRITEBYTECODE=1
USER ${WORKER_UID}:${WORKER_UID}
WORKDIR /home/polyspan
# Fail the build, not the first bundle on a worker, when a segmenter does not load: every language tokenises.
RUN python -c "from pipelines.tokenize import SUPPORTED_LANGUAGES, words; \
[words('polyspan 2024', lang) for lang in SUPPORTED_LANGUAGES]; import eflomal, mwparserfromhell"
# Beam's boot program starts the SDK harness: Dataflow and the portable runners call it with their flags.
ENTRYPOINT ["/opt/apache/beam/boot"]
