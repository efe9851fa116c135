# The tools image: what a gated environment's small CodeBuild projects run (recovery, review
# and confirm, record, verify), on Lambda compute where its limits allow
# (components/codebuild_runner.py). No Docker: none of them builds or runs a container, and
# Lambda compute runs no privileged build ("Run builds on AWS Lambda compute", Limitations).
#
# Base: the same Debian 13 "trixie" digest as build-image/Dockerfile (see there why Debian,
# and why the base is a `FROM` line of its own). CI passes a debootstrapped trixie as
# BASE_IMAGE (no Docker Hub there); nothing else differs.
#
# Single architecture: Lambda compute refuses a multi-architecture image ("Run builds on AWS
# Lambda compute": "Lambda does not support functions that use multi-architecture container
# images"). The program builds it for the one platform `build.architecture` names
# (components/build_image.py), as it builds the build image.
ARG BASE_IMAGE=debian-stable
FROM debian:trixie-slim@sha256:e27e3dbef3b2064bed82f2fef343c0d02a4b8d5675e5b2c511883442e001630d AS debian-stable

# hadolint ignore=DL3006
FROM ${BASE_IMAGE}

# Each package for what calls it:
# - awscli (CLI v2): every script's AWS calls (describe and delete the stack, describe the
#   change set, read the release record, tag images);
# - python3: /opt/ecs-delivery/changeset_report.py and release_gate.py (stdlib only);
# - python3-yaml: changeset_report.py reads a YAML template with it, to check that the service
#   takes its strategy and test hook from the parameters (without it the review says it could
#   not verify);
# - curl: Lambda compute needs curl or wget in a custom image ("Run builds on AWS Lambda
#   compute"), and the example application's `make smoke` (the verify action) calls it;
# - make, jq: what a verify command (`verify.command`, default `make smoke`) may call;
# - bash, coreutils (`timeout`): the buildspecs' `env.shell: bash`, verify-environment's bound;
# - ca-certificates: TLS to the AWS APIs and to the application.
# Versions are not pinned (.hadolint.yaml): the digest above fixes the Debian release.
# `apt-get clean`: the downloaded packages stay out of the layer on any base (debian:*-slim
# drops them by its own apt settings; a debootstrapped base does not).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        awscli \
        bash \
        ca-certificates \
        coreutils \
        curl \
        jq \
        make \
        python3 \
        python3-yaml \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && aws --version \
    && curl --version

COPY --chmod=0755 review-change-set recover-stack verify-environment record-release check-drift /usr/local/bin/
# The change-set review renderer and the release gate (stdlib, and python3-yaml above for the
# renderer): review-change-set and record-release run them with nothing installed at run time.
COPY changeset_report.py release_gate.py /opt/ecs-delivery/

# CodeBuild replaces the entrypoint; a plain shell is the honest default.
ENTRYPOINT []
CMD ["/bin/bash"]
